// The plain evaluator, feature by feature. Each table row: policies (raw, decoded like any
// manifest) + connections with the expected verdict and, where it matters, the side reasons.

import t from 'tap';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import type { Protocol } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import type { SideReason } from '../../src/policy/decision.ts';
import { evaluate, explain, podForIP } from '../../src/policy/evaluator.ts';

type Raw = Record<string, unknown>;

const pod = (ns: string, name: string, labels: Record<string, string>, ips: string[], node: string, ports: Raw[] = [], extra: { hostNetwork?: boolean; phase?: string } = {}): Raw => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { namespace: ns, name, labels },
  spec: { nodeName: node, hostNetwork: extra.hostNetwork ?? false, containers: [{ name: 'c', ports }] },
  status: { phase: extra.phase ?? 'Running', podIPs: ips.map((ip) => ({ ip })) },
});

// The fixture cluster (node n1 = 10.0.0.1 / fd00::a:1, node n2 = 10.0.0.2).
const BASE: Raw[] = [
  { kind: 'Namespace', metadata: { name: 'x', labels: { ns: 'x', env: 'prod' } } },
  { kind: 'Namespace', metadata: { name: 'y', labels: { ns: 'y', env: 'dev' } } },
  { kind: 'Namespace', metadata: { name: 'z', labels: { ns: 'z' } } },
  { kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'InternalIP', address: 'fd00::a:1' }] } },
  { kind: 'Node', metadata: { name: 'n2' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] } },
  pod('x', 'a', { app: 'a', tier: 'web' }, ['10.1.0.1', 'fd00::1:1'], 'n1', [
    { name: 'web', containerPort: 80 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'sig', containerPort: 9000, protocol: 'SCTP' }]),
  pod('x', 'b', { app: 'b' }, ['10.1.0.2'], 'n1', [{ name: 'web', containerPort: 8080 }]),
  pod('y', 'a', { app: 'a' }, ['10.2.0.1', 'fd00::2:1'], 'n2', [{ name: 'web', containerPort: 80 }]),
  pod('y', 'c', { app: 'c', tier: 'web' }, ['10.2.0.3'], 'n2'),
  pod('z', 'h', { app: 'a' }, ['10.0.0.1'], 'n1', [], { hostNetwork: true }),
  pod('z', 'done', { app: 'a' }, ['10.3.0.9'], 'n2', [], { phase: 'Succeeded' }),
  pod('z', 'failed', { app: 'a' }, ['10.3.0.8'], 'n2', [], { phase: 'Failed' }),
  pod('z', 'noip', { app: 'a' }, [], 'n2', [], { phase: 'Pending' }),
  pod('z', 'pend', { app: 'pend' }, ['10.3.0.7'], 'n2', [], { phase: 'Pending' }),
  pod('z', 'dual', { app: 'dual' }, ['10.3.0.2', 'fd00::3:2'], 'n2'),
];

/** Endpoint names: "ns/pod" (IPv4), "ns/pod@6" (IPv6), or a literal IP. */
const ADDR: Record<string, string> = {
  'x/a': '10.1.0.1', 'x/a@6': 'fd00::1:1', 'x/b': '10.1.0.2', 'y/a': '10.2.0.1', 'y/a@6': 'fd00::2:1',
  'y/c': '10.2.0.3', 'z/dual': '10.3.0.2', 'z/dual@6': 'fd00::3:2', 'z/done': '10.3.0.9', 'z/failed': '10.3.0.8',
  'z/pend': '10.3.0.7', n1: '10.0.0.1', 'n1@6': 'fd00::a:1', n2: '10.0.0.2', ext: '192.0.2.10', 'ext@6': '2001:db8::10',
};

function world(policies: Raw[]): ClusterState {
  const s = new ClusterState();
  for (const raw of [...BASE, ...policies]) {
    const d = decodeObject(raw);
    if (d.kind === 'invalid') throw new Error(JSON.stringify(d.errors));
    applyDecoded(s, d);
  }
  return s;
}

const np = (ns: string, name: string, spec: Raw): Raw => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name }, spec });

/** [from, to, port, protocol, allowed, egress reason?, ingress reason?] */
type Check = [string, string, number, Protocol, boolean, SideReason?, SideReason?];
interface Row { name: string; policies: Raw[]; checks: Check[]; localNode?: string }

const denyAllX = np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
const onXA = (spec: Raw, name = 'p') => np('x', name, { podSelector: { matchLabels: { app: 'a' } }, ...spec });

const rows: Row[] = [
  {
    name: 'no policies: everything allowed, sides not isolated',
    policies: [],
    checks: [['x/a', 'y/a', 80, 'TCP', true, 'not-isolated', 'not-isolated'], ['ext', 'x/a', 80, 'TCP', true, 'not-a-pod', 'not-isolated']],
  },
  {
    name: 'policyTypes omitted with egress rules: Ingress AND Egress',
    policies: [onXA({ egress: [{ to: [{ podSelector: { matchLabels: { app: 'b' } } }] }] })],
    checks: [['x/a', 'x/b', 80, 'TCP', true, 'rule'], ['x/a', 'y/a', 80, 'TCP', false, 'no-rule'], ['y/a', 'x/a', 80, 'TCP', false, 'not-isolated', 'no-rule']],
  },
  {
    name: 'policyTypes omitted with egress: [] is Ingress only',
    policies: [onXA({ egress: [] })],
    checks: [['x/a', 'y/a', 80, 'TCP', true, 'not-isolated'], ['x/b', 'x/a', 80, 'TCP', false, 'not-isolated', 'no-rule']],
  },
  {
    name: 'explicit policyTypes [Egress] does not isolate ingress',
    policies: [onXA({ policyTypes: ['Egress'] })],
    checks: [['y/a', 'x/a', 80, 'TCP', true, 'not-isolated', 'not-isolated'], ['x/a', 'y/a', 80, 'TCP', false, 'no-rule']],
  },
  {
    name: 'a policy only isolates pods of its own namespace',
    policies: [np('y', 'deny', { podSelector: { matchLabels: { app: 'a' } } })],
    checks: [['x/b', 'x/a', 80, 'TCP', true, undefined, 'not-isolated'], ['x/b', 'y/a', 80, 'TCP', false, undefined, 'no-rule']],
  },
  {
    name: 'namespaceSelector AND podSelector in one peer',
    policies: [onXA({ ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { app: 'c' } } }] }] })],
    checks: [['y/c', 'x/a', 80, 'TCP', true], ['y/a', 'x/a', 80, 'TCP', false], ['x/b', 'x/a', 80, 'TCP', false]],
  },
  {
    name: 'two peers are OR; podSelector alone = policy namespace; namespaceSelector alone = every pod there',
    policies: [onXA({ ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { app: 'b' } } }] }] })],
    checks: [['y/a', 'x/a', 80, 'TCP', true], ['y/c', 'x/a', 80, 'TCP', true], ['x/b', 'x/a', 80, 'TCP', true], ['z/dual', 'x/a', 80, 'TCP', false]],
  },
  {
    name: 'podSelector alone does not reach other namespaces',
    policies: [onXA({ ingress: [{ from: [{ podSelector: { matchLabels: { app: 'c' } } }] }] })],
    checks: [['y/c', 'x/a', 80, 'TCP', false]],
  },
  {
    name: 'matchExpressions In / NotIn / Exists / DoesNotExist',
    policies: [
      onXA({ ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'qa'] }] }, podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } }] }] }, 'p1'),
      onXA({ ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod', 'dev'] }] } }] }] }, 'p2'),
      onXA({ ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] } }] }] }, 'p3'),
    ],
    checks: [
      ['y/c', 'x/a', 80, 'TCP', true, undefined, 'rule'], // env In (dev,qa) and tier exists
      ['y/a', 'x/a', 80, 'TCP', false], // no tier label
      ['z/dual', 'x/a', 80, 'TCP', true], // z has no env label: NotIn matches an absent key
      ['x/b', 'x/a', 80, 'TCP', true], // in x, no tier label
    ],
  },
  {
    name: 'namespaceSelector on the kubernetes.io/metadata.name label the API server adds',
    policies: [onXA({ ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] }] })],
    checks: [['z/dual', 'x/a', 80, 'TCP', true], ['y/a', 'x/a', 80, 'TCP', false]],
  },
  {
    name: 'empty selectors: podSelector {} = all pods of the namespace; namespaceSelector {} = all pods; never outside hosts',
    policies: [
      np('x', 'same-ns', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ podSelector: {} }] }] }),
      onXA({ ingress: [{ from: [{ namespaceSelector: {} }] }] }),
    ],
    checks: [
      ['x/a', 'x/b', 80, 'TCP', true], ['y/a', 'x/b', 80, 'TCP', false],
      ['y/a', 'x/a', 80, 'TCP', true], ['z/dual', 'x/a', 80, 'TCP', true], ['ext', 'x/a', 80, 'TCP', false], ['n2', 'x/a', 80, 'TCP', false],
    ],
  },
  {
    name: 'ipBlock with except (IPv4), matching pod IPs and outside hosts',
    policies: [onXA({ ingress: [{ from: [{ ipBlock: { cidr: '10.2.0.0/16', except: ['10.2.0.3/32'] } }, { ipBlock: { cidr: '192.0.2.0/24' } }] }] })],
    checks: [['y/a', 'x/a', 80, 'TCP', true], ['y/c', 'x/a', 80, 'TCP', false], ['ext', 'x/a', 80, 'TCP', true], ['z/dual', 'x/a', 80, 'TCP', false]],
  },
  {
    name: 'ipBlock is per family (IPv6 block, IPv6 except)',
    policies: [onXA({ ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/16', except: ['fd00::2:0/112'] } }] }] })],
    checks: [
      ['z/dual@6', 'x/a@6', 80, 'TCP', true], ['z/dual', 'x/a', 80, 'TCP', false], // same pod, IPv4: a v6 block never matches
      ['y/a@6', 'x/a@6', 80, 'TCP', false], // inside the except
      ['ext@6', 'x/a@6', 80, 'TCP', false],
    ],
  },
  {
    name: 'egress ipBlock matches destination pod IPs',
    policies: [onXA({ policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.2.0.0/24' } }] }] })],
    checks: [['x/a', 'y/a', 80, 'TCP', true, 'rule'], ['x/a', 'x/b', 80, 'TCP', false, 'no-rule'], ['x/a@6', 'y/a@6', 80, 'TCP', false]],
  },
  {
    name: 'named port on ingress resolves on the destination (selected) pod',
    policies: [np('x', 'web', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })],
    checks: [['y/a', 'x/a', 80, 'TCP', true], ['y/a', 'x/a', 8080, 'TCP', false], ['y/a', 'x/b', 8080, 'TCP', true], ['y/a', 'x/b', 80, 'TCP', false]],
  },
  {
    name: 'named port on egress resolves on the destination (peer) pod',
    policies: [np('x', 'web-out', { podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'web' }] }] })],
    checks: [
      ['x/b', 'y/a', 80, 'TCP', true, 'rule'], // y/a's web = 80
      ['x/b', 'x/a', 8080, 'TCP', false, 'no-rule'], // x/a's web = 80, not x/b's 8080
      ['x/b', 'x/a', 80, 'TCP', true],
      ['x/b', 'ext', 80, 'TCP', false, 'no-rule'], // not a pod: a name resolves to nothing
      ['x/b', 'y/c', 80, 'TCP', false], // y/c has no port named web
    ],
  },
  {
    name: 'named port: the protocol must match too',
    policies: [
      onXA({ ingress: [{ ports: [{ port: 'dns' }] }] }, 'tcp-dns'),
      np('x', 'udp-dns', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ ports: [{ port: 'dns', protocol: 'UDP' }] }], policyTypes: ['Ingress'] }),
    ],
    checks: [['y/a', 'x/a', 53, 'UDP', true, undefined, 'rule'], ['y/a', 'x/a', 53, 'TCP', false]],
  },
  {
    name: 'endPort range is inclusive',
    policies: [onXA({ ingress: [{ ports: [{ port: 80, endPort: 82 }] }] })],
    checks: [['y/a', 'x/a', 79, 'TCP', false], ['y/a', 'x/a', 80, 'TCP', true], ['y/a', 'x/a', 82, 'TCP', true], ['y/a', 'x/a', 83, 'TCP', false], ['y/a', 'x/a', 81, 'UDP', false]],
  },
  {
    name: 'SCTP ports (numeric and named)',
    policies: [onXA({ ingress: [{ ports: [{ protocol: 'SCTP', port: 9000 }] }, { ports: [{ protocol: 'SCTP', port: 'sig' }] }] })],
    checks: [['y/a', 'x/a', 9000, 'SCTP', true], ['y/a', 'x/a', 9000, 'TCP', false], ['y/a', 'x/a', 9001, 'SCTP', false]],
  },
  {
    name: 'port without number = every port of that protocol',
    policies: [onXA({ ingress: [{ ports: [{ protocol: 'UDP' }] }] })],
    checks: [['y/a', 'x/a', 1, 'UDP', true], ['y/a', 'x/a', 65535, 'UDP', true], ['y/a', 'x/a', 80, 'TCP', false]],
  },
  {
    name: 'empty ports = all ports; missing from = all peers (outside hosts too)',
    policies: [onXA({ ingress: [{ from: [{ podSelector: {} }] }, { ports: [{ port: 443 }] }] })],
    checks: [['x/b', 'x/a', 1234, 'UDP', true], ['ext', 'x/a', 443, 'TCP', true], ['ext', 'x/a', 444, 'TCP', false], ['y/a', 'x/a', 443, 'TCP', true]],
  },
  {
    name: 'ingress [{}] allows all; ingress [] allows nothing; the union wins',
    policies: [
      np('x', 'open-a', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{}] }),
      np('x', 'close-a', { podSelector: { matchLabels: { app: 'a' } }, ingress: [] }),
      np('x', 'close-b', { podSelector: { matchLabels: { app: 'b' } }, ingress: [] }),
    ],
    checks: [['ext', 'x/a', 80, 'TCP', true, 'not-a-pod', 'rule'], ['y/a', 'x/b', 80, 'TCP', false, 'not-isolated', 'no-rule']],
  },
  {
    name: 'node exemption in both directions, only for the pod\'s own node',
    policies: [denyAllX],
    checks: [
      ['n1', 'x/a', 80, 'TCP', true, 'not-a-pod', 'node'],
      ['x/a', 'n1', 80, 'TCP', true, 'node', 'not-a-pod'],
      ['n1@6', 'x/a@6', 80, 'TCP', true, 'not-a-pod', 'node'],
      ['n2', 'x/a', 80, 'TCP', false, 'not-a-pod', 'no-rule'],
      ['x/a', 'n2', 80, 'TCP', false, 'no-rule'],
      ['x/a', 'y/a', 80, 'TCP', false, 'no-rule', 'not-isolated'],
    ],
  },
  {
    name: 'a pod talking to itself is allowed under deny-all',
    policies: [denyAllX],
    checks: [['x/a', 'x/a', 80, 'TCP', true, 'self', 'self'], ['x/a@6', 'x/a@6', 443, 'UDP', true, 'self', 'self']],
  },
  {
    name: 'host-network pods are never selected (their address is the node\'s)',
    policies: [np('y', 'from-app-a', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'a' } } }] }] })],
    checks: [['n1', 'y/a', 80, 'TCP', false, 'not-a-pod', 'no-rule'], ['x/a', 'y/a', 80, 'TCP', true]],
  },
  {
    name: 'Succeeded and Failed pods match nothing and are not judged',
    policies: [
      np('y', 'from-app-a', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'a' } } }] }] }),
      np('z', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    ],
    checks: [
      ['z/done', 'y/a', 80, 'TCP', false, 'not-a-pod', 'no-rule'],
      ['z/failed', 'y/a', 80, 'TCP', false, 'not-a-pod', 'no-rule'],
      ['y/a', 'z/done', 80, 'TCP', true, 'not-isolated', 'not-a-pod'],
    ],
  },
  {
    name: 'a Pending pod with an address is a pod like any other',
    policies: [np('z', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] })],
    checks: [['y/a', 'z/pend', 80, 'TCP', false, 'not-isolated', 'no-rule']],
  },
  {
    name: 'dual-stack pods match selectors on every IP',
    policies: [onXA({ ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } }, podSelector: { matchLabels: { app: 'dual' } } }] }] })],
    checks: [['z/dual', 'x/a', 80, 'TCP', true], ['z/dual@6', 'x/a@6', 80, 'TCP', true], ['y/a@6', 'x/a@6', 80, 'TCP', false]],
  },
  {
    name: 'both sides must allow: egress allowed + ingress denied = denied',
    policies: [
      onXA({ policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] }),
      np('y', 'closed', { podSelector: {} }),
    ],
    checks: [['x/a', 'y/a', 80, 'TCP', false, 'rule', 'no-rule'], ['x/a', 'x/b', 80, 'TCP', true, 'rule', 'not-isolated']],
  },
  {
    name: 'localNode: only pods on that node are judged',
    localNode: 'n1',
    policies: [np('y', 'closed', { podSelector: {} }), denyAllX],
    checks: [['x/b', 'y/a', 80, 'TCP', false, 'no-rule', 'not-a-pod'], ['z/dual', 'y/a', 80, 'TCP', true, 'not-a-pod', 'not-a-pod']],
  },
];

for (const row of rows) {
  t.test(row.name, async (t) => {
    const s = world(row.policies);
    for (const [from, to, port, protocol, allowed, eg, ing] of row.checks) {
      const src = ADDR[from] ?? from, dst = ADDR[to] ?? to;
      const d = evaluate(s, { src, dst, port, protocol }, row.localNode ? { localNode: row.localNode } : {});
      const what = `${from} -> ${to} ${protocol}/${port}`;
      t.equal(d.allowed, allowed, `${what}: ${allowed ? 'allowed' : 'denied'} (egress ${d.egress.reason}, ingress ${d.ingress.reason})`);
      if (eg) t.equal(d.egress.reason, eg, `${what}: egress reason`);
      if (ing) t.equal(d.ingress.reason, ing, `${what}: ingress reason`);
      t.equal(d.allowed, d.egress.allowed && d.ingress.allowed, `${what}: verdict = egress AND ingress`);
      const x = explain(s, { src, dst, port, protocol }, row.localNode ? { localNode: row.localNode } : {});
      t.same(x.decision, d, `${what}: explain carries the same decision`);
    }
  });
}

t.test('decision detail: sorted policies, first allowing rule by policy key then rule order', async (t) => {
  const s = world([
    onXA({ ingress: [{ from: [{ podSelector: { matchLabels: { app: 'nope' } } }] }, { ports: [{ port: 80 }] }] }, 'zz'),
    onXA({ ingress: [{ ports: [{ port: 81 }] }, { from: [{ namespaceSelector: {} }] }] }, 'mm'),
    onXA({ ingress: [] }, 'aa'),
  ]);
  const d = evaluate(s, { src: ADDR['y/a']!, dst: ADDR['x/a']!, port: 80, protocol: 'TCP' });
  t.same(d.ingress.policies, ['x/aa', 'x/mm', 'x/zz']);
  t.same(d.ingress.rule, { policy: 'x/mm', direction: 'ingress', index: 1 });
  t.equal(d.srcPod, 'y/a');
  t.equal(d.dstPod, 'x/a');
  t.same(d.egress, { allowed: true, reason: 'not-isolated', isolated: false, policies: [] });
});

t.test('IP -> pod: deterministic tie-break, Running first, then key order', async (t) => {
  const s = world([]);
  const add = (raw: Raw) => applyDecoded(s, decodeObject(raw));
  add(pod('z', 'old', { app: 'x' }, ['10.9.0.1'], 'n1', [], { phase: 'Pending' }));
  add(pod('z', 'new', { app: 'x' }, ['10.9.0.1'], 'n1'));
  t.equal(podForIP(s, '10.9.0.1')?.name, 'new', 'the Running pod wins');
  add(pod('a', 'first', { app: 'x' }, ['10.9.0.1'], 'n1'));
  t.equal(podForIP(s, '10.9.0.1')?.name, 'first', 'then the smallest namespace/name');
  t.equal(podForIP(s, '10.0.0.1'), undefined, 'a host-network pod owns no address');
});

t.test('explain: the first clause that did not match', async (t) => {
  const s = world([
    onXA({ ingress: [
      { from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }, { podSelector: { matchLabels: { app: 'zzz' } } }, { ipBlock: { cidr: '10.2.0.0/16', except: ['10.2.0.0/24'] } }, { ipBlock: { cidr: 'fd00::/8' } }] },
      { ports: [{ port: 'dns' }, { port: 81, endPort: 90 }, { protocol: 'SCTP' }] }, // x/a's dns is UDP only
      { from: [{ podSelector: {} }] },
      { from: [{ podSelector: { matchLabels: { app: 'zzz' } }, namespaceSelector: {} }] },
    ] }),
  ]);
  const x = explain(s, { src: ADDR['y/a']!, dst: ADDR['x/a']!, port: 80, protocol: 'TCP' });
  t.equal(x.decision.allowed, false);
  t.equal(x.ingress.pod, 'x/a');
  t.equal(x.src.pod, 'y/a');
  const rules = x.ingress.policies[0]!.rules;
  t.equal(rules[0]!.failedClause, 'peers');
  t.same(rules[0]!.peers.map((p) => p.mismatch?.kind), ['namespace-labels', 'other-namespace', 'ipblock-except', 'ipblock-family']);
  t.equal(rules[1]!.failedClause, 'ports');
  t.same(rules[1]!.ports.map((p) => p.mismatch?.kind), ['named-port-missing', 'port', 'protocol']);
  t.equal(rules[2]!.failedClause, 'peers');
  t.same(rules[2]!.peers.map((p) => p.mismatch?.kind), ['other-namespace']);
  t.same(rules[3]!.peers.map((p) => p.mismatch?.kind), ['pod-labels']);

  const ext = explain(s, { src: ADDR.ext!, dst: ADDR['x/a']!, port: 80, protocol: 'TCP' });
  t.same(ext.ingress.policies[0]!.rules[0]!.peers.map((p) => p.mismatch?.kind), ['not-a-pod', 'not-a-pod', 'ipblock-outside', 'ipblock-family']);
  t.same(ext.src, { ip: '192.0.2.10', nodes: [], skippedPods: [] });

  const node = explain(s, { src: '10.0.0.1', dst: ADDR['x/a']!, port: 80, protocol: 'TCP' });
  t.same(node.src, { ip: '10.0.0.1', nodes: ['n1'], skippedPods: [{ pod: 'z/h', reason: 'host-network' }] });
  t.equal(node.decision.ingress.reason, 'node');
});
