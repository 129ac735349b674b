// The shared spec facts (spec-facts.ts, cluster/namespace-labels.ts, cluster/pod-phase.ts).
// Both engines read them, so the differential test (compiled vs evaluator) cannot see a wrong
// fact: these checks compare each engine with the answer the spec gives instead.

import t from 'tap';
import type { NetworkPolicy, Pod } from '../../src/cluster/model.ts';
import { implicitNamespaceLabels, namespaceLabels, namespaceNames } from '../../src/cluster/namespace-labels.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { parseIP } from '../../src/net/address.ts';
import { CompiledEngine, decideOn } from '../../src/policy/compiler.ts';
import type { Connection } from '../../src/policy/decision.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import {
  addressClaimWins, comparePolicies, definesNamedPort, ipBlockContains, parseIPBlock, podIsSelectable,
  policyAppliesToPod, policyIsolatesPod, resolveNamedPort,
} from '../../src/policy/spec-facts.ts';

const EMPTY = { matchLabels: {}, matchExpressions: [] };
const sel = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });

function pod(ns: string, name: string, ip: string, labels: Record<string, string>, extra: Partial<Pod> = {}): Pod {
  return { namespace: ns, name, labels, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips: ip ? [ip] : [], ports: [], ...extra };
}

function policy(ns: string, name: string, p: Partial<NetworkPolicy> = {}): NetworkPolicy {
  return { namespace: ns, name, podSelector: EMPTY, policyTypes: { ingress: true, egress: false }, ingress: [], egress: [], ...p };
}

t.test('a namespace without its Namespace object has only its automatic label, in both engines', async (t) => {
  const s = new ClusterState();
  s.batch(() => {
    s.upsertNamespace({ name: 'app', labels: implicitNamespaceLabels('app') });
    s.upsertNode({ name: 'n1', addresses: ['192.168.0.1'] });
    s.upsertPod(pod('app', 'web', '10.0.0.1', { app: 'web' }));
    // No Namespace object for "batch".
    s.upsertPod(pod('batch', 'job', '10.0.1.1', { app: 'job' }));
    s.upsertPolicy(policy('app', 'by-name', {
      podSelector: sel({ app: 'web' }),
      ingress: [{ peers: [{ namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'batch' }) }], ports: [{ protocol: 'TCP', port: 80 }] }],
    }));
    s.upsertPolicy(policy('app', 'by-team', {
      podSelector: sel({ app: 'web' }),
      ingress: [{ peers: [{ namespaceSelector: sel({ team: 'batch' }) }], ports: [{ protocol: 'TCP', port: 81 }] }],
    }));
  });
  const e = new CompiledEngine(s);
  s.onChange((changes) => e.update(changes));
  const conn = (port: number): Connection => ({ src: '10.0.1.1', dst: '10.0.0.1', protocol: 'TCP', port });
  const both = (c: Connection) => [evaluate(s, c).allowed, decideOn(e.snapshot(), c).allowed];
  t.same(both(conn(80)), [true, true], 'kubernetes.io/metadata.name=batch selects it');
  t.same(both(conn(81)), [false, false], 'team=batch does not: no other label can be assumed');
  // The object arrives with more labels: they count from then on.
  s.upsertNamespace({ name: 'batch', labels: { ...implicitNamespaceLabels('batch'), team: 'batch' } });
  t.same(both(conn(81)), [true, true], 'team=batch once the Namespace object says so');
});

t.test('namespace labels and names of a view', async (t) => {
  const s = new ClusterState();
  s.upsertNamespace({ name: 'b', labels: { 'kubernetes.io/metadata.name': 'b', team: 'x' } });
  s.upsertPod(pod('c', 'p1', '10.0.0.1', {}));
  s.upsertPod(pod('b', 'p2', '10.0.0.2', {}));
  s.upsertPod(pod('a', 'p3', '10.0.0.3', {}));
  t.same(namespaceLabels(s, 'b'), { 'kubernetes.io/metadata.name': 'b', team: 'x' });
  t.same(namespaceLabels(s, 'c'), { 'kubernetes.io/metadata.name': 'c' });
  t.same(namespaceNames(s), ['b', 'c', 'a'], 'objects first, then namespaces known from pods, once each');
});

t.test('which pods policy sees', async (t) => {
  t.equal(podIsSelectable(pod('a', 'p', '10.0.0.1', {})), true);
  t.equal(podIsSelectable(pod('a', 'p', '10.0.0.1', {}, { hostNetwork: true })), false, 'host network');
  for (const phase of ['Succeeded', 'Failed']) t.equal(podIsSelectable(pod('a', 'p', '10.0.0.1', {}, { phase })), false, phase);
  t.equal(podIsSelectable(pod('a', 'p', '10.0.0.1', {}, { phase: 'Pending' })), true, 'Pending with an IP');
  t.equal(podIsSelectable(pod('a', 'p', '', {})), false, 'no IP: owns no address');
  t.equal(policyAppliesToPod(pod('a', 'p', '', {})), true, 'no IP yet: still selected by a podSelector');
  t.equal(policyAppliesToPod(pod('a', 'p', '10.0.0.1', {}, { hostNetwork: true })), false);
});

t.test('address claims: Running first, then the smaller key', async (t) => {
  const run = pod('a', 'z', '10.0.0.1', {}), pend = pod('a', 'b', '10.0.0.1', {}, { phase: 'Pending' });
  t.equal(addressClaimWins(run, 'a/z', pend, 'a/b'), true);
  t.equal(addressClaimWins(pend, 'a/b', run, 'a/z'), false);
  const other = pod('a', 'y', '10.0.0.1', {});
  t.equal(addressClaimWins(other, 'a/y', run, 'a/z'), true);
  t.equal(addressClaimWins(run, 'a/z', other, 'a/y'), false);
});

t.test('policy selection and order', async (t) => {
  const p = pod('a', 'web', '10.0.0.1', { app: 'web' });
  const ing = policy('a', 'x', { podSelector: sel({ app: 'web' }) });
  t.equal(policyIsolatesPod(ing, p, 'ingress'), true);
  t.equal(policyIsolatesPod(ing, p, 'egress'), false, 'Egress not in policyTypes');
  t.equal(policyIsolatesPod(policy('b', 'x'), p, 'ingress'), false, 'another namespace');
  t.equal(policyIsolatesPod(policy('a', 'y', { podSelector: sel({ app: 'db' }) }), p, 'ingress'), false);
  const sorted = [policy('b', 'a'), policy('a', 'b'), policy('a', 'a')].sort(comparePolicies).map((x) => `${x.namespace}/${x.name}`);
  t.same(sorted, ['a/a', 'a/b', 'b/a']);
});

t.test('ipBlock: cidr minus excepts, per family; a broken except breaks the block', async (t) => {
  const b = parseIPBlock({ cidr: '10.0.0.0/8', except: ['10.1.0.0/16', 'fd00::/8'] })!;
  t.same(b.except.length, 1, 'the other family\'s except is left out');
  t.equal(ipBlockContains(b, parseIP('10.2.0.1')!), true);
  t.equal(ipBlockContains(b, parseIP('10.1.0.1')!), false, 'in the except');
  t.equal(ipBlockContains(b, parseIP('11.0.0.1')!), false, 'outside');
  t.equal(ipBlockContains(b, parseIP('fd00::1')!), false, 'other family');
  t.equal(parseIPBlock({ cidr: '10.0.0.0/8', except: ['10.1.0.0/99'] }), undefined);
});

t.test('named ports resolve by name and protocol', async (t) => {
  const ports = [
    { name: 'http', containerPort: 8080, protocol: 'TCP' as const },
    { name: 'http', containerPort: 80, protocol: 'TCP' as const },
    { name: 'dns', containerPort: 53, protocol: 'UDP' as const },
  ];
  t.same(resolveNamedPort(ports, 'http', 'TCP'), [80, 8080]);
  t.same(resolveNamedPort(ports, 'dns', 'TCP'), [], 'the protocol must match too');
  t.equal(definesNamedPort(ports, 'dns', 'UDP'), true);
  t.equal(definesNamedPort(ports, 'dns', 'TCP'), false);
});
