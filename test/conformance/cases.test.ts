// The case loader: the files of both formats (NetworkPolicy and ClusterNetworkPolicy) parse, a
// case's manifests (manifestsForStep) load into exactly the state that buildClusterForCase +
// applyStep build, probes resolve per family (host-network pods and node:<name> to their node's
// addresses), and a malformed file is refused naming the file and the field.

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyStep, buildClusterForCase, endpointAddress, endpointNode, manifestsForStep, objectsForStep, parseCase, probesForGroup,
} from '../support/conformance-cases.ts';
import type { ClusterView } from '../../src/cluster/state.ts';
import { loadManifests } from '../../src/sources/manifests.ts';
import { sampleCase } from './sample-cases.ts';
import { allCases, cnpCases, everyCase } from './case-set.ts';

const sorted = <T>(m: ReadonlyMap<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
const snapshot = (v: ClusterView) => ({
  namespaces: sorted(v.namespaces), pods: sorted(v.pods), nodes: sorted(v.nodes), policies: sorted(v.policies), clusterPolicies: sorted(v.clusterPolicies),
});

const cases = everyCase();

t.test('both case sets load', async (t) => {
  t.ok(allCases().length > 0, `${allCases().length} NetworkPolicy cases`);
  t.ok(cnpCases().length > 0, `${cnpCases().length} ClusterNetworkPolicy cases`);
  t.ok(cnpCases().every((c) => c.multiNode && c.nodes.length > 0), 'every CNP case lists its nodes');
  t.ok(allCases().every((c) => !c.multiNode && c.nodes.length === 1 && c.nodes[0]!.ip === c.nodeIP), 'NetworkPolicy cases keep their single node');
});

t.test('manifestsForStep round-trips through the manifests loader', async (t) => {
  for (const c of cases) {
    const state = buildClusterForCase(c);
    let rejectedSoFar = false;
    for (const [i, step] of c.steps.entries()) {
      if (applyStep(state, step).length > 0) rejectedSoFar = true;
      if (rejectedSoFar) {
        // A rejected update keeps the previous good object in a live state; a fresh load has
        // no previous object. Only clean histories are comparable.
        t.comment(`${c.name} step ${i}: has rejected objects, round-trip not compared`);
        continue;
      }
      const dir = mkdtempSync(join(tmpdir(), 'palisade-case-'));
      writeFileSync(join(dir, 'all.yaml'), manifestsForStep(c, i));
      const loaded = loadManifests([dir]);
      t.same(loaded.errors, [], `${c.name} step ${i}: no errors`);
      t.same(snapshot(loaded.state), snapshot(state), `${c.file.split('/').pop()} step ${i}: same cluster`);
    }
  }
});

t.test('the case model', async (t) => {
  const [c910, c001, c901, c900] = ['910-', '001-', '901-', '900-'].map(sampleCase);
  if (!c910 || !c001 || !c901 || !c900) { t.comment('sample cases not available'); return; }
  t.equal(c910.nodeIPv6, 'fd00:10::1');
  t.equal(endpointAddress(c910, 'node', 'IPv6'), 'fd00:10::1');
  t.equal(endpointAddress(c910, 'x/b', 'IPv6'), 'fd00:10:244::12');
  const v6 = c910.steps[0]!.probes.find((g) => g.family === 'IPv6')!;
  const probes = probesForGroup(c910, v6);
  t.equal(probes.length, 81);
  t.ok(probes.every((p) => p.family === 'IPv6' && p.src.includes(':') && p.dst.includes(':')), 'IPv6 group uses IPv6 addresses');
  t.throws(() => endpointAddress(c001, 'x/a', 'IPv6'), /x\/a has no IPv6 address/, 'no IPv6 address: an error');

  const pairs = c901.steps[0]!.probes[0]!.pairs;
  t.same(pairs.map((p) => p.kind), ['reply', 'reply', 'connect']);
  t.equal(c900.steps[0]!.probes[0]!.pairs[0]!.kind, 'connect', 'kind defaults to connect');
  t.equal(probesForGroup(c900, c900.steps[0]!.probes[0]!).filter((p) => p.origin === 'pair')[0]!.src, '10.0.0.1');
});

t.test('externals, relabelPods and format errors', async (t) => {
  const text = `
name: synthetic
namespaces: [{name: x, labels: {ns: x}}]
pods:
  - {namespace: x, name: a, labels: {pod: a}, ip: 10.244.1.1, ipv6: 'fd00::11', containerPorts: [{name: http, containerPort: 80, protocol: TCP}]}
  - {namespace: x, name: b, labels: {pod: b}, ip: 10.244.1.2, containerPorts: []}
nodeIP: 10.0.0.1
externals: [{name: web, ip: 192.0.2.1, ipv6: '2001:db8::1'}]
steps:
  - relabelPods: [{namespace: x, name: b, labels: {pod: b, role: client}}]
    probes:
      - port: 80
        pairs: [{from: 'ext:web', to: x/a, expect: allow}]
`;
  const c = parseCase(text, 'synthetic.yaml');
  t.equal(c.externals[0]!.ipv6, '2001:db8::1');
  const state = buildClusterForCase(c);
  t.same(state.namespaces.get('x')!.labels, { ns: 'x', 'kubernetes.io/metadata.name': 'x' }, 'namespace name label added like the API server does');
  applyStep(state, c.steps[0]!);
  t.same(state.pods.get('x/b')!.labels, { pod: 'b', role: 'client' });
  t.equal(probesForGroup(c, c.steps[0]!.probes[0]!)[0]!.src, '192.0.2.1');
  t.match(manifestsForStep(c, 0), /role: "client"/);

  t.throws(() => parseCase(text.replace('ip: 10.244.1.2', 'ip: 10.244.1.300'), 'bad.yaml'), /bad\.yaml: pods\[1\]\.ip: invalid IP address/);
  t.throws(() => parseCase(text.replace("expect: allow", 'expect: maybe'), 'bad.yaml'), /bad\.yaml: steps\[0\]\.probes\[0\]\.pairs\[0\]\.expect: must be allow or deny/);
  t.throws(() => parseCase('name: [', 'bad.yaml'), /bad\.yaml: bad YAML/);
});

t.test('the ClusterNetworkPolicy format: nodes, host-network pods, deletes by kind', async (t) => {
  const text = `
name: synthetic-cnp
nodes:
  - {name: n1, labels: {zone: a}, ip: 172.18.0.3, ipv6: 'fc00::3'}
  - {name: n2, labels: {zone: b}, ip: 172.18.0.4}
namespaces: [{name: x, labels: {ns: x}}]
pods:
  - {namespace: x, name: a, labels: {pod: a}, node: n1, ip: 10.244.1.10, ipv6: 'fd00::10', containerPorts: [{name: web, containerPort: 80, protocol: TCP}], serves: [TCP/80, UDP/53]}
  - {namespace: x, name: h, labels: {pod: h}, node: n1, hostNetwork: true, containerPorts: [], serves: [TCP/34345]}
  - {namespace: x, name: b, labels: {pod: b}, node: n2, hostNetwork: true, ip: 172.18.0.4, containerPorts: []}
steps:
  - subtest: setup
    apply:
      - {apiVersion: policy.networking.k8s.io/v1alpha2, kind: ClusterNetworkPolicy, metadata: {name: cnp}, spec: {tier: Admin, priority: 1, subject: {namespaces: {}}, ingress: []}}
      - {apiVersion: policy.networking.k8s.io/v1alpha1, kind: AdminNetworkPolicy, metadata: {name: anp}, spec: {priority: 1, subject: {namespaces: {}}, ingress: []}}
    probes: []
  - subtest: probe
    part: 2
    mutation: delete both
    delete: [{kind: ClusterNetworkPolicy, name: cnp}, {kind: AdminNetworkPolicy, name: anp}]
    relabelPods: [{namespace: x, name: a, labels: {pod: a, role: x}}]
    probes:
      - {port: 34345, protocol: TCP, pairs: [{from: x/a, to: x/h, expect: deny, go: 'PokeServer(...)'}]}
      - {port: 80, protocol: TCP, family: IPv6, pairs: [{from: x/h, to: x/a, expect: allow, note: n}, {from: 'node:n1', to: x/a, expect: allow}]}
`;
  const c = parseCase(text, 'cnp.yaml');
  t.ok(c.multiNode);
  t.equal(c.nodeIP, undefined, 'no single nodeIP');
  t.same(c.nodes.map((n) => n.name), ['n1', 'n2']);
  const [a, h, b] = c.pods;
  t.same([a!.node, a!.hostNetwork, h!.node, h!.hostNetwork], ['n1', false, 'n1', true]);
  t.equal(h!.ip, '172.18.0.3', 'a hostNetwork pod without ip gets its node address');
  t.equal(h!.ipv6, 'fc00::3', 'and its node IPv6 address');
  t.equal(b!.ipv6, undefined, 'no IPv6 on a node without one');
  t.same(a!.serves, [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 53 }]);
  t.same([c.steps[1]!.subtest, c.steps[1]!.part, c.steps[1]!.mutation], ['probe', 2, 'delete both']);
  t.same(c.steps[1]!.delete.map((d) => [d.kind, d.key]), [['ClusterNetworkPolicy', 'cnp'], ['AdminNetworkPolicy', 'AdminNetworkPolicy:anp']], 'keys as the state keys them');
  t.equal(c.steps[1]!.probes[0]!.pairs[0]!.go, 'PokeServer(...)');

  t.equal(endpointAddress(c, 'x/h', 'IPv4'), '172.18.0.3', 'hostNetwork pod = node address');
  t.equal(endpointAddress(c, 'x/h', 'IPv6'), 'fc00::3');
  t.equal(endpointAddress(c, 'node:n2', 'IPv4'), '172.18.0.4');
  t.throws(() => endpointAddress(c, 'node', 'IPv4'), /ambiguous with 2 nodes/);
  t.same(['x/a', 'x/b', 'node:n2', '192.0.2.1'].map((e) => endpointNode(c, e)), ['n1', 'n2', 'n2', undefined]);
  const v6 = probesForGroup(c, c.steps[1]!.probes[1]!);
  t.same(v6.map((p) => [p.src, p.dst]), [['fc00::3', 'fd00::10'], ['fc00::3', 'fd00::10']]);

  const state = buildClusterForCase(c);
  t.same(state.pods.get('x/h')!.ips, ['172.18.0.3', 'fc00::3']);
  t.equal(state.pods.get('x/h')!.hostNetwork, true);
  t.equal(state.pods.get('x/b')!.nodeName, 'n2');
  t.same(state.nodes.get('n1')!.addresses, ['172.18.0.3', 'fc00::3']);
  // The delete must hit the state's keys, whether or not the decoder keeps these kinds yet.
  state.upsert('ClusterNetworkPolicy', { kind: 'ClusterNetworkPolicy', name: 'cnp', tier: 'Admin', priority: 1, subject: { namespaces: { matchLabels: {}, matchExpressions: [] } }, ingress: [], egress: [] });
  state.upsert('AdminNetworkPolicy', { kind: 'AdminNetworkPolicy', name: 'anp', tier: 'Admin', priority: 1, subject: { namespaces: { matchLabels: {}, matchExpressions: [] } }, ingress: [], egress: [] });
  t.equal(state.clusterPolicies.size, 2);
  t.same(applyStep(state, c.steps[1]!), []);
  t.equal(state.clusterPolicies.size, 0, 'deleted by kind and name');
  t.same(state.pods.get('x/a')!.labels, { pod: 'a', role: 'x' });

  const kinds = (i: number) => objectsForStep(c, i).map((o) => `${String(o.kind)} ${String((o.metadata as { name: string }).name)}`);
  t.same(kinds(0), ['Namespace x', 'Node n1', 'Node n2', 'Pod a', 'Pod h', 'Pod b', 'ClusterNetworkPolicy cnp', 'AdminNetworkPolicy anp']);
  t.same(kinds(1), ['Namespace x', 'Node n1', 'Node n2', 'Pod a', 'Pod h', 'Pod b'], 'deletes remove the cluster-scoped objects');
  const m = manifestsForStep(c, 1);
  t.match(m, /hostNetwork: true/);
  t.match(m, /zone: "a"/, 'node labels in the manifests');
  t.match(m, /role: "x"/);

  // Malformed files: one line naming the file and the field.
  const bad: [string, string, RegExp][] = [
    ['ip: 172.18.0.4, containerPorts: []}', 'ip: 172.18.0.9, containerPorts: []}', /cnp\.yaml: pods\[2\]\.ip: a hostNetwork pod has its node's address 172\.18\.0\.4, got 172\.18\.0\.9/],
    ['node: n2,', 'node: n3,', /cnp\.yaml: pods\[2\]\.node: unknown node n3/],
    ['node: n2,', '', /cnp\.yaml: pods\[2\]\.node: required with 2 nodes/],
    ['{kind: AdminNetworkPolicy, name: anp}', '{kind: Gateway, name: anp}', /cnp\.yaml: steps\[1\]\.delete\[1\]\.kind: unknown kind Gateway/],
    ['{kind: AdminNetworkPolicy, name: anp}', '{kind: AdminNetworkPolicy, namespace: x, name: anp}', /steps\[1\]\.delete\[1\]\.namespace: AdminNetworkPolicy is cluster-scoped/],
    ['{kind: ClusterNetworkPolicy, name: cnp}', '{kind: NetworkPolicy, name: cnp}', /steps\[1\]\.delete\[0\]\.namespace: must be a non-empty string/],
    ['    mutation: delete both', '    mutaton: delete both', /cnp\.yaml: steps\[1\]\.mutaton: unknown field/],
    ['kind: AdminNetworkPolicy, metadata', 'kind: AdminPolicy, metadata', /cnp\.yaml: steps\[0\]\.apply\[1\]\.kind: unknown kind AdminPolicy/],
    ['{port: 34345, protocol: TCP', '{port: 34346, protocol: TCP', /cnp\.yaml: steps\[1\]\.probes\[0\]\.pairs\[0\]\.to: x\/h does not serve TCP\/34346/],
    ["{from: 'node:n1', to: x/a", "{from: 'node:n2', to: x/a", /cnp\.yaml: steps\[1\]\.probes\[1\]\.pairs\[1\]\.from: node:n2 has no IPv6 address/],
    ["{from: 'node:n1', to: x/a", "{from: node, to: x/a", /steps\[1\]\.probes\[1\]\.pairs\[1\]\.from: "node" is ambiguous/],
    ["{from: 'node:n1', to: x/a", "{from: x/zz, to: x/a", /steps\[1\]\.probes\[1\]\.pairs\[1\]\.from: unknown pod x\/zz/],
    ['serves: [TCP/80, UDP/53]', 'serves: [TCP80]', /cnp\.yaml: pods\[0\]\.serves\[0\]: must be PROTOCOL\/port/],
    ['hostNetwork: true, containerPorts', 'hostNetwork: yes please, containerPorts', /cnp\.yaml: pods\[1\]\.hostNetwork: must be true or false/],
    ['nodes:\n', 'nodeIP: 10.0.0.1\nnodes:\n', /cnp\.yaml: nodeIP: give either nodes or nodeIP/],
    ['  - {name: n2, labels: {zone: b}', '  - {name: n1, labels: {zone: b}', /cnp\.yaml: nodes\[1\]\.name: duplicate node n1/],
    ['{name: n1, labels: {zone: a}, ip: 172.18.0.3,', '{name: n1, labels: {zone: a}, ip: 172.18.0.3, role: x,', /cnp\.yaml: nodes\[0\]\.role: unknown field/],
  ];
  for (const [from, to, re] of bad) {
    t.ok(text.includes(from), `fixture has ${JSON.stringify(from)}`);
    t.throws(() => parseCase(text.replace(from, to), 'cnp.yaml'), re, re.source);
  }
});
