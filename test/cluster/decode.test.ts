// decodeObject: API-server defaulting and every validation rule, each with the field path the
// error must name. Table-driven: one row per rule.

import t from 'tap';
import { applyDecoded, decodeObject, deleteByKind } from '../../src/cluster/decode.ts';
import type { Decoded } from '../../src/cluster/decode.ts';
import { ClusterState } from '../../src/cluster/state.ts';

const np = (spec: unknown, meta: Record<string, unknown> = { name: 'p', namespace: 'x' }) =>
  ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta, spec });

function errorsOf(d: Decoded): { field: string; message: string; object: string }[] {
  return d.kind === 'invalid' ? d.errors.map((e) => ({ field: e.field, message: e.message, object: e.object })) : [];
}

// [name, raw object, field expected in an error, message fragment]
const invalid: [string, unknown, string, RegExp][] = [
  ['bad cidr', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] }), 'spec.ingress[0].from[0].ipBlock.cidr', /invalid CIDR/],
  ['cidr without prefix', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1' } }] }] }), 'spec.ingress[0].from[0].ipBlock.cidr', /invalid CIDR/],
  ['IPv4-mapped cidr', np({ ingress: [{ from: [{ ipBlock: { cidr: '::ffff:10.0.0.0/8' } }] }] }), 'spec.ingress[0].from[0].ipBlock.cidr', /invalid CIDR/],
  ['IPv4-mapped except', np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['::ffff:10.1.0.0/16'] } }] }] }), 'spec.egress[0].to[0].ipBlock.except[0]', /invalid CIDR/],
  ['cidr missing', np({ egress: [{ to: [{ ipBlock: { except: ['10.0.0.0/8'] } }] }] }), 'spec.egress[0].to[0].ipBlock.cidr', /required/],
  ['except outside cidr', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }] }), 'spec.ingress[0].from[0].ipBlock.except[0]', /strict subset/],
  ['except equal to cidr', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] } }] }] }), 'spec.ingress[0].from[0].ipBlock.except[0]', /strict subset/],
  ['except wider than cidr', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/8'] } }] }] }), 'spec.ingress[0].from[0].ipBlock.except[0]', /strict subset/],
  ['except other family', np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['fd00::/64'] } }] }] }), 'spec.egress[0].to[0].ipBlock.except[0]', /family/],
  ['except not a cidr', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/8', 'nope'] } }] }] }), 'spec.ingress[0].from[0].ipBlock.except[1]', /invalid CIDR/],
  ['port 0', np({ ingress: [{ ports: [{ port: 0 }] }] }), 'spec.ingress[0].ports[0].port', /between 1 and 65535/],
  ['port 65536', np({ egress: [{ ports: [{ protocol: 'UDP', port: 65536 }] }] }), 'spec.egress[0].ports[0].port', /between 1 and 65535/],
  ['port not integer', np({ ingress: [{ ports: [{ port: 80.5 }] }] }), 'spec.ingress[0].ports[0].port', /integer/],
  ['named port with underscore', np({ ingress: [{ ports: [{ port: 'my_port' }] }] }), 'spec.ingress[0].ports[0].port', /alpha-numeric/],
  ['named port too long', np({ ingress: [{ ports: [{ port: 'abcdefghijklmnop' }] }] }), 'spec.ingress[0].ports[0].port', /15 characters/],
  ['named port digits only', np({ ingress: [{ ports: [{ port: '80' }] }] }), 'spec.ingress[0].ports[0].port', /at least one letter/],
  ['named port double hyphen', np({ ingress: [{ ports: [{ port: 'a--b' }] }] }), 'spec.ingress[0].ports[0].port', /consecutive hyphens/],
  ['named port leading hyphen', np({ ingress: [{ ports: [{ port: '-web' }] }] }), 'spec.ingress[0].ports[0].port', /begin or end/],
  ['named port uppercase', np({ ingress: [{ ports: [{ port: 'Web' }] }] }), 'spec.ingress[0].ports[0].port', /alpha-numeric/],
  ['endPort < port', np({ ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }), 'spec.ingress[0].ports[0].endPort', /greater than or equal/],
  ['endPort out of range', np({ ingress: [{ ports: [{ port: 90, endPort: 70000 }] }] }), 'spec.ingress[0].ports[0].endPort', /between 1 and 65535/],
  ['endPort with named port', np({ egress: [{ ports: [{ port: 'web', endPort: 90 }] }] }), 'spec.egress[0].ports[0].endPort', /non-numeric/],
  ['endPort without port', np({ egress: [{ ports: [{ endPort: 90 }] }] }), 'spec.egress[0].ports[0].endPort', /not specified/],
  ['unknown protocol', np({ ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }), 'spec.ingress[0].ports[0].protocol', /supported values/],
  ['lower-case protocol', np({ ingress: [{ ports: [{ protocol: 'tcp', port: 1 }] }] }), 'spec.ingress[0].ports[0].protocol', /supported values/],
  ['unknown operator', np({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] } }), 'spec.podSelector.matchExpressions[0].operator', /not a valid selector operator/],
  ['In without values', np({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }), 'spec.podSelector.matchExpressions[0].values', /must be specified/],
  ['NotIn without values', np({ ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'NotIn' }] } }] }] }), 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values', /must be specified/],
  ['Exists with values', np({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['b'] }] } }), 'spec.podSelector.matchExpressions[0].values', /may not be specified/],
  ['DoesNotExist with values', np({ egress: [{ to: [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'DoesNotExist', values: ['b'] }] } }] }] }), 'spec.egress[0].to[0].podSelector.matchExpressions[0].values', /may not be specified/],
  ['expression key missing', np({ podSelector: { matchExpressions: [{ operator: 'Exists' }] } }), 'spec.podSelector.matchExpressions[0].key', /required/],
  ['invalid label key', np({ podSelector: { matchLabels: { 'bad key': 'v' } } }), 'spec.podSelector.matchLabels[bad key]', /invalid label key/],
  ['invalid label key prefix', np({ podSelector: { matchLabels: { 'Bad_Prefix/app': 'v' } } }), 'spec.podSelector.matchLabels[Bad_Prefix/app]', /prefix/],
  ['invalid label value', np({ podSelector: { matchLabels: { app: 'has space' } } }), 'spec.podSelector.matchLabels[app]', /invalid label value/],
  ['label value too long', np({ podSelector: { matchLabels: { app: 'a'.repeat(64) } } }), 'spec.podSelector.matchLabels[app]', /63 characters/],
  ['label value not a string', np({ podSelector: { matchLabels: { app: true } } }), 'spec.podSelector.matchLabels[app]', /must be a string/],
  ['invalid expression value', np({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: ['ok', '-bad'] }] } }), 'spec.podSelector.matchExpressions[0].values[1]', /invalid label value/],
  ['invalid expression key', np({ podSelector: { matchExpressions: [{ key: 'a/b/c', operator: 'Exists' }] } }), 'spec.podSelector.matchExpressions[0].key', /invalid label key/],
  ['ipBlock plus podSelector', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }), 'spec.ingress[0].from[0]', /both ipBlock and another peer/],
  ['ipBlock plus namespaceSelector', np({ egress: [{ to: [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' }, namespaceSelector: {} }] }] }), 'spec.egress[0].to[0]', /both ipBlock/],
  ['empty peer', np({ ingress: [{ from: [{ podSelector: {} }, {}] }] }), 'spec.ingress[0].from[1]', /must specify a peer/],
  ['null peer', np({ egress: [{ to: [null] }] }), 'spec.egress[0].to[0]', /must specify a peer/],
  ['bad policyType', np({ policyTypes: ['Ingress', 'Egres'] }), 'spec.policyTypes[1]', /supported values/],
  ['too many policyTypes', np({ policyTypes: ['Ingress', 'Egress', 'Ingress'] }), 'spec.policyTypes', /more than two/],
  ['missing name', np({}, { namespace: 'x' }), 'metadata.name', /required/],
  ['missing namespace', np({}, { name: 'p' }), 'metadata.namespace', /required/],
  ['bad name', np({}, { name: 'Bad_Name', namespace: 'x' }), 'metadata.name', /invalid name/],
  ['unknown spec field', np({ podSelector: {}, ingres: [] }), 'spec.ingres', /unknown field/],
  ['unknown rule field (to in an ingress rule)', np({ ingress: [{ to: [{ podSelector: {} }] }] }), 'spec.ingress[0].to', /unknown field/],
  ['unknown peer field', np({ ingress: [{ from: [{ podSelectr: {} }] }] }), 'spec.ingress[0].from[0].podSelectr', /unknown field/],
  ['ingress not a list', np({ ingress: { from: [] } }), 'spec.ingress', /must be a list/],
  ['null rule', np({ ingress: [null] }), 'spec.ingress[0]', /must be an object/],
  ['wrong apiVersion', { ...np({}), apiVersion: 'extensions/v1beta1' }, 'apiVersion', /unsupported apiVersion/],
  ['pod bad IP', { kind: 'Pod', metadata: { name: 'a', namespace: 'x' }, status: { podIP: '10.0.0.300' } }, 'status.podIP', /invalid IP/],
  ['pod bad port', { kind: 'Pod', metadata: { name: 'a', namespace: 'x' }, spec: { containers: [{ ports: [{ containerPort: 0 }] }] } }, 'spec.containers[0].ports[0].containerPort', /between 1 and 65535/],
  ['policy port number written as a string', np({ ingress: [{ ports: [{ port: '80' }] }] }), 'spec.ingress[0].ports[0].port', /invalid port name "80": .*is written without quotes \(port: 80\)/],
  ['pod bad port name', { kind: 'Pod', metadata: { name: 'a', namespace: 'x' }, spec: { containers: [{ ports: [{ name: 'HTTP', containerPort: 80 }] }] } }, 'spec.containers[0].ports[0].name', /invalid port name/],
  ['pod bad label', { kind: 'Pod', metadata: { name: 'a', namespace: 'x', labels: { a: 'b c' } } }, 'metadata.labels[a]', /invalid label value/],
  ['node address not a string', { kind: 'Node', metadata: { name: 'n' }, status: { addresses: [{ type: 'InternalIP', address: 7 }] } }, 'status.addresses[0].address', /must be a string/],
  ['node bad podCIDRs entry', { kind: 'Node', metadata: { name: 'n' }, spec: { podCIDRs: ['10.244.0.0/24', '10.244.1.0/33'] } }, 'spec.podCIDRs[1]', /invalid CIDR/],
  ['node podCIDRs not a list', { kind: 'Node', metadata: { name: 'n' }, spec: { podCIDRs: '10.244.0.0/24' } }, 'spec.podCIDRs', /must be a list/],
  ['node podCIDR without prefix', { kind: 'Node', metadata: { name: 'n' }, spec: { podCIDR: '10.244.0.0' } }, 'spec.podCIDR', /invalid CIDR/],
  ['namespace bad name', { kind: 'Namespace', metadata: { name: 'Has_Upper' } }, 'metadata.name', /invalid name "Has_Upper": not an RFC 1123 label/],
  ['no kind', { metadata: { name: 'a' } }, 'kind', /required/],
  ['not an object', 'hello', '(root)', /must be a Kubernetes object/],
];

t.test('validation: each rule names its field', async (t) => {
  for (const [name, raw, field, msg] of invalid) {
    const d = decodeObject(raw, 'f.yaml:1');
    t.equal(d.kind, 'invalid', `${name}: rejected`);
    const errs = errorsOf(d);
    const hit = errs.find((e) => e.field === field);
    t.ok(hit, `${name}: an error on ${field} (got ${JSON.stringify(errs)})`);
    if (hit) t.match(hit.message, msg, `${name}: message`);
  }
});

t.test('errors name the object and the source, all errors are collected', async (t) => {
  const d = decodeObject(np({ ingress: [{ ports: [{ port: 0 }, { protocol: 'XTP' }], from: [{}] }] }, { name: 'foo', namespace: 'x' }), 'p.yaml:3');
  t.equal(d.kind, 'invalid');
  if (d.kind !== 'invalid') return;
  t.equal(d.objectKind, 'NetworkPolicy');
  t.equal(d.key, 'x/foo');
  t.same(d.errors.map((e) => e.field).sort(), ['spec.ingress[0].from[0]', 'spec.ingress[0].ports[0].port', 'spec.ingress[0].ports[1].protocol']);
  for (const e of d.errors) {
    t.equal(e.object, 'NetworkPolicy x/foo');
    t.equal(e.source, 'p.yaml:3');
  }
});

t.test('errors found in metadata name the object too', async (t) => {
  // [name, raw object, field, object the error must name]
  const cases: [string, unknown, string, string][] = [
    ['NetworkPolicy label key', np({}, { name: 'p', namespace: 'x', labels: { 'bad key': 'v' } }), 'metadata.labels[bad key]', 'NetworkPolicy x/p'],
    ['NetworkPolicy missing name', np({}, { namespace: 'x' }), 'metadata.name', 'NetworkPolicy x/<no name>'],
    ['NetworkPolicy missing namespace', np({}, { name: 'p' }), 'metadata.namespace', 'NetworkPolicy <no namespace>/p'],
    ['Pod label value', { kind: 'Pod', metadata: { name: 'a', namespace: 'x', labels: { app: 5 } } }, 'metadata.labels[app]', 'Pod x/a'],
    ['Pod name not a string', { kind: 'Pod', metadata: { name: 7, namespace: 'x' } }, 'metadata.name', 'Pod x/<no name>'],
    ['Namespace label value', { kind: 'Namespace', metadata: { name: 'shop', labels: { x: [1] } } }, 'metadata.labels[x]', 'Namespace shop'],
    ['Namespace labels not a mapping', { kind: 'Namespace', metadata: { name: 'shop', labels: 'a=b' } }, 'metadata.labels', 'Namespace shop'],
    ['Node label value', { kind: 'Node', metadata: { name: 'n1', labels: { a: null } } }, 'metadata.labels[a]', 'Node n1'],
  ];
  for (const [name, raw, field, object] of cases) {
    const errs = errorsOf(decodeObject(raw));
    const hit = errs.find((e) => e.field === field);
    t.ok(hit, `${name}: an error on ${field} (got ${JSON.stringify(errs)})`);
    t.equal(hit?.object, object, `${name}: names ${object}`);
  }
});

t.test('valid edge values are accepted', async (t) => {
  const ok: [string, unknown][] = [
    ['port 1 and 65535', np({ ingress: [{ ports: [{ port: 1 }, { port: 65535 }] }] })],
    ['endPort == port', np({ ingress: [{ ports: [{ port: 80, endPort: 80 }] }] })],
    ['named port 15 chars', np({ ingress: [{ ports: [{ port: 'abcdefghijklmno' }] }] })],
    ['except strictly inside', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4/32'] } }] }] })],
    ['IPv6 except', np({ ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/48', except: ['fd00:0:0:1::/64'] } }] }] })],
    ['host bits in cidr', np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/8' } }] }] })],
    ['podSelector + namespaceSelector', np({ ingress: [{ from: [{ podSelector: {}, namespaceSelector: {} }] }] })],
    ['prefixed label key', np({ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'web', 'kubernetes.io/metadata.name': 'x' } } })],
    ['empty label value', np({ podSelector: { matchLabels: { tier: '' } } })],
    ['no podSelector at all', np({})],
    ['no spec at all', { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'x' } }],
  ];
  for (const [name, raw] of ok) {
    const d = decodeObject(raw);
    t.equal(d.kind, 'NetworkPolicy', `${name}: ${JSON.stringify(errorsOf(d))}`);
  }
});

t.test('policyTypes defaulting', async (t) => {
  const types = (spec: unknown) => {
    const d = decodeObject(np(spec));
    return d.kind === 'NetworkPolicy' ? d.value.policyTypes : undefined;
  };
  t.same(types({}), { ingress: true, egress: false }, 'nothing: Ingress');
  t.same(types({ ingress: [{}] }), { ingress: true, egress: false }, 'ingress only: Ingress');
  t.same(types({ egress: [{}] }), { ingress: true, egress: true }, 'egress rules: Ingress + Egress');
  t.same(types({ egress: [] }), { ingress: true, egress: false }, 'egress: [] is empty, the defaulter adds Egress only for len(egress) != 0');
  t.same(types({ policyTypes: [], egress: [{}] }), { ingress: true, egress: true }, 'policyTypes: [] is defaulted too');
  t.same(types({ policyTypes: ['Egress'] }), { ingress: false, egress: true }, 'explicit Egress only');
  t.same(types({ policyTypes: ['Egress'], ingress: [{}] }), { ingress: false, egress: true }, 'explicit types win over present sections');
});

t.test('decoded shapes', async (t) => {
  const d = decodeObject(np({
    podSelector: { matchLabels: { app: 'web' } },
    ingress: [{}, { from: [{ ipBlock: { cidr: '10.0.0.7/8', except: ['10.1.0.9/16'] } }], ports: [{ port: 80 }, { port: 'web', protocol: 'UDP' }, { protocol: 'SCTP' }] }],
  }));
  t.equal(d.kind, 'NetworkPolicy');
  if (d.kind !== 'NetworkPolicy') return;
  t.same(d.value.ingress[0], { peers: [], ports: [] }, '{} rule: every peer, every port');
  t.same(d.value.ingress[1]!.peers[0], { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }, 'CIDRs canonical');
  t.same(d.value.ingress[1]!.ports, [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 'web' }, { protocol: 'SCTP' }], 'protocol defaulted to TCP');

  const pod = decodeObject({
    kind: 'Pod', metadata: { name: 'a', namespace: 'x', labels: { app: 'web' } },
    spec: { nodeName: 'n1', containers: [{ ports: [{ name: 'web', containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }] }, { ports: [{ name: 'metrics', containerPort: 9090 }] }], initContainers: [{ ports: [{ name: 'init', containerPort: 1 }] }] },
    status: { phase: 'Running', podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }, { ip: 'FD00:0:0::5' }] },
  });
  t.equal(pod.kind, 'Pod');
  if (pod.kind === 'Pod') {
    t.same(pod.value.ips, ['10.0.0.5', 'fd00::5'], 'podIPs canonical, no duplicates');
    t.same(pod.value.ports, [{ name: 'web', containerPort: 80, protocol: 'TCP' }, { containerPort: 53, protocol: 'UDP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }], 'ports of every container, not init containers');
    t.equal(pod.value.nodeName, 'n1');
    t.equal(pod.value.hostNetwork, false);
  }
  const podIPOnly = decodeObject({ kind: 'Pod', metadata: { name: 'b', namespace: 'x' }, status: { podIP: '10.0.0.6' } });
  t.same(podIPOnly.kind === 'Pod' && podIPOnly.value.ips, ['10.0.0.6'], 'podIP alone');

  const ns = decodeObject({ kind: 'Namespace', metadata: { name: 'x', labels: { team: 'a' } } });
  t.same(ns.kind === 'Namespace' && ns.value.labels, { team: 'a', 'kubernetes.io/metadata.name': 'x' }, 'namespace name label added');

  const node = decodeObject({ kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '10.0.0.1' }, { type: 'ExternalIP', address: '2001:DB8::1' }] } });
  t.same(node.kind === 'Node' && node.value.addresses, ['10.0.0.1', '2001:db8::1'], 'InternalIP and ExternalIP only');
  t.equal(node.kind === 'Node' && node.value.podCIDRs, undefined, 'no spec: no podCIDRs');

  // The API server does not check that a Node's addresses are IPs (only that none is repeated),
  // so a Node holding a hostname or an empty string under InternalIP/ExternalIP is a valid Node:
  // the entry cannot be any packet's address and is passed over with a warning naming it, and
  // the Node's real addresses still count (a `nodes` peer must keep matching them).
  const oddAddresses: [string, unknown[], string[], string[]][] = [
    ['hostname as InternalIP', [{ type: 'InternalIP', address: 'ip-10-0-0-2.ec2.internal' }, { type: 'InternalIP', address: '10.0.0.2' }], ['10.0.0.2'], ['status.addresses[0].address']],
    ['empty ExternalIP', [{ type: 'InternalIP', address: '10.0.0.3' }, { type: 'ExternalIP', address: '' }], ['10.0.0.3'], ['status.addresses[1].address']],
    ['IP with a prefix length', [{ type: 'ExternalIP', address: '203.0.113.7/32' }, { type: 'InternalIP', address: 'fd00::3' }], ['fd00::3'], ['status.addresses[0].address']],
    ['only odd ones', [{ type: 'InternalIP', address: 'node-4' }, { type: 'ExternalIP', address: 'node-4.example.com' }], [], ['status.addresses[0].address', 'status.addresses[1].address']],
  ];
  for (const [name, addresses, want, warned] of oddAddresses) {
    const d = decodeObject({ kind: 'Node', metadata: { name: 'n3' }, status: { addresses } }, 'kube-apiserver');
    t.equal(d.kind, 'Node', `${name}: a valid Node (got ${JSON.stringify(d)})`);
    if (d.kind !== 'Node') continue;
    t.same(d.value.addresses, want, `${name}: its IP addresses`);
    t.same((d.warnings ?? []).map((w) => w.field), warned, `${name}: a warning per odd entry`);
    for (const w of d.warnings ?? []) t.match(w, { object: 'Node n3', source: 'kube-apiserver', message: /not an IP address/ }, `${name}: names the object and says why`);
  }

  const podCIDRCases: [string, unknown, string[] | undefined][] = [
    ['podCIDRs dual-stack, canonical text', { podCIDRs: ['10.244.1.7/24', 'FD00:10:244:1::/64'] }, ['10.244.1.0/24', 'fd00:10:244:1::/64']],
    ['podCIDR alone (older field)', { podCIDR: '10.244.2.0/24' }, ['10.244.2.0/24']],
    ['podCIDRs wins over podCIDR', { podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.3.0/24'] }, ['10.244.3.0/24']],
    ['duplicates collapse', { podCIDRs: ['10.244.4.0/24', '10.244.4.1/24'] }, ['10.244.4.0/24']],
    ['empty list', { podCIDRs: [] }, undefined],
  ];
  for (const [name, spec, want] of podCIDRCases) {
    const d = decodeObject({ kind: 'Node', metadata: { name: 'n2' }, spec });
    t.equal(d.kind, 'Node', name);
    t.same(d.kind === 'Node' ? d.value.podCIDRs : 'not a node', want, name);
  }

  const dep = decodeObject({ kind: 'Deployment', metadata: { name: 'web', namespace: 'x' } });
  t.same(dep, { kind: 'ignored', note: 'ignored Deployment x/web (only Namespace, Pod, Node, NetworkPolicy, ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy are read)' });
});

t.test('applyDecoded and deleteByKind', async (t) => {
  const s = new ClusterState();
  applyDecoded(s, decodeObject(np({ ingress: [{}] })));
  t.ok(s.policies.has('x/p'));
  applyDecoded(s, decodeObject(np({ ingress: [{ ports: [{ port: 0 }] }] })));
  t.ok(s.policies.has('x/p'), 'a rejected update keeps the previous good version');
  t.ok(s.rejected.has('NetworkPolicy x/p'), 'and records the rejection');
  applyDecoded(s, decodeObject({ kind: 'ConfigMap', metadata: { name: 'c' } }));
  t.equal(s.policies.size + s.pods.size + s.namespaces.size + s.nodes.size, 1, 'ignored kinds change nothing');
  deleteByKind(s, 'NetworkPolicy', 'x/p');
  t.notOk(s.policies.has('x/p'));
});
