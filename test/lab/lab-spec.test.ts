// What the lab builds for a cluster (no root needed): which pods get a namespace and why the
// others do not, the ports each endpoint serves, the node's addresses, outside hosts, and the
// names every lab object carries.

import t from 'tap';
import { meetsExpectation, type LabVerdict } from '../../src/lab/probe.ts';
import type { Pod } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { hostIfName, labNameProblem, labNetnsPrefix, nodeNetnsName, podNetnsName, underlayNetnsName, underlayPortName } from '../../src/lab/netns.ts';
import { labSpecFromCluster } from '../../src/lab/topology.ts';

function pod(ns: string, name: string, ips: string[], extra: Partial<Pod> = {}): Pod {
  return { namespace: ns, name, labels: {}, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips, ports: [{ containerPort: 80, protocol: 'TCP' }], ...extra };
}

function cluster(pods: Pod[], nodes: { name: string; addresses: string[]; podCIDRs?: string[] }[] = [{ name: 'n1', addresses: ['10.0.0.1', 'fd00:10::1'] }]): ClusterState {
  const s = new ClusterState();
  s.batch(() => {
    for (const n of nodes) s.upsertNode(n);
    for (const p of pods) s.upsertPod(p);
  });
  return s;
}

t.test('which pods get a namespace', async (t) => {
  const rows: { pod: Pod; lab: boolean; note?: RegExp }[] = [
    { pod: pod('x', 'a', ['10.244.1.1', 'fd00:10:244::11']), lab: true },
    { pod: pod('x', 'pending', ['10.244.1.5'], { phase: 'Pending' }), lab: true },
    { pod: pod('x', 'noip', []), lab: false, note: /pod x\/noip has no IP/ },
    { pod: pod('x', 'host', ['10.0.0.1'], { hostNetwork: true, ports: [{ containerPort: 10250, protocol: 'TCP' }] }), lab: false, note: /x\/host uses the host network/ },
    { pod: pod('x', 'done', ['10.244.1.9'], { phase: 'Succeeded' }), lab: false, note: /x\/done is Succeeded/ },
    { pod: pod('x', 'failed', ['10.244.1.1'], { phase: 'Failed' }), lab: false, note: /x\/failed is Failed/ },
    // Same address as x/a, and sorts after it: the first live owner keeps it.
    { pod: pod('x', 'b-dup', ['10.244.1.1']), lab: false, note: /x\/b-dup: address 10\.244\.1\.1 already belongs to x\/a/ },
    { pod: pod('x', 'elsewhere', ['10.244.1.7'], { nodeName: 'n2' }), lab: true, note: /x\/elsewhere is scheduled on n2; the lab runs every pod on n1/ },
  ];
  const { spec, notes } = labSpecFromCluster(cluster(rows.map((r) => r.pod)));
  for (const r of rows) {
    const key = `${r.pod.namespace}/${r.pod.name}`;
    t.equal(spec.pods.some((p) => `${p.namespace}/${p.name}` === key), r.lab, `${key}: ${r.lab ? 'namespace' : 'no namespace'}`);
    if (r.note) t.ok(notes.some((n) => r.note!.test(n)), `${key}: note ${r.note}`);
  }
  t.same(spec.node, { name: 'n1', ips: ['10.0.0.1', 'fd00:10::1'] });
  t.same(spec.nodePorts.tcp, [80, 10250], 'the node serves pod ports and the host-network pod\'s');
});

t.test('served ports: container ports by protocol, plus extras, sorted and unique', async (t) => {
  const p = pod('x', 'a', ['10.244.1.1'], {
    ports: [
      { containerPort: 81, protocol: 'TCP' }, { containerPort: 80, protocol: 'TCP' }, { containerPort: 80, protocol: 'TCP' },
      { containerPort: 53, protocol: 'UDP' }, { containerPort: 7, protocol: 'SCTP' },
    ],
  });
  const { spec } = labSpecFromCluster(cluster([p]), { extraPorts: { tcp: [80, 9000], udp: [], sctp: [81] } });
  t.same(spec.pods[0]!.ports, { tcp: [80, 81, 9000], udp: [53], sctp: [7, 81] });
});

t.test('nodes and outside hosts', async (t) => {
  const two = cluster([pod('x', 'a', ['10.244.1.1'])], [{ name: 'n1', addresses: ['10.0.0.1'] }, { name: 'n2', addresses: ['10.0.0.2'] }]);
  t.same(labSpecFromCluster(two).spec.nodes?.map((n) => n.name), ['n1', 'n2'], 'several Nodes: the lab plays every one (was: refused without --node)');
  t.same(labSpecFromCluster(two, { node: 'n2' }).spec.node, { name: 'n2', ips: ['10.0.0.2'] });
  t.throws(() => labSpecFromCluster(two, { node: 'n3' }), /no Node "n3"/);
  const none = labSpecFromCluster(cluster([pod('x', 'a', ['10.244.1.1'])], []));
  t.same(none.spec.node, { ips: [] });
  t.ok(none.notes.some((n) => /no Node object/.test(n)));
  const c = cluster([pod('x', 'a', ['10.244.1.1'])]);
  t.same(labSpecFromCluster(c, { externals: [{ name: 'inet', ips: ['192.0.2.1', '2001:DB8::1'] }] }).spec.externals, [{ name: 'inet', ips: ['192.0.2.1', '2001:db8::1'] }], 'addresses canonical');
  t.throws(() => labSpecFromCluster(c, { externals: [{ name: 'e', ips: ['10.244.1.1'] }] }), /outside host e: address 10\.244\.1\.1 belongs to pod x\/a/);
  t.throws(() => labSpecFromCluster(c, { externals: [{ name: 'e', ips: ['10.0.0.1'] }] }), /is the node's/);
  t.throws(() => labSpecFromCluster(c, { externals: [{ name: 'e', ips: ['nope'] }] }), /"nope" is not an IP address/);
});

t.test('several Nodes: every one is a lab node, pods on their own, host-network pods played by theirs', async (t) => {
  const nodes = [
    { name: 'w2', addresses: ['172.18.0.4'] },
    { name: 'w1', addresses: ['172.18.0.3', 'fc00::3', '172.18.9.9'], podCIDRs: ['10.244.1.0/24'] },
  ];
  const served = new Map([['x/a', { tcp: [8080], udp: [], sctp: [9003] }], ['h/h1', { tcp: [34348], udp: [], sctp: [34351] }]]);
  const { spec, notes } = labSpecFromCluster(cluster([
    pod('x', 'a', ['10.244.1.10'], { nodeName: 'w1' }),
    pod('x', 'b', ['10.244.2.10'], { nodeName: 'w2' }),
    pod('x', 'lost', ['10.244.3.10'], { nodeName: 'gone' }),
    pod('x', 'steal', ['172.18.0.4'], { nodeName: 'w1' }),
    pod('h', 'h1', ['172.18.0.3'], { nodeName: 'w1', hostNetwork: true, ports: [{ containerPort: 34345, protocol: 'TCP' }, { containerPort: 34347, protocol: 'UDP' }] }),
    pod('h', 'h2', ['172.18.0.4'], { nodeName: 'w2', hostNetwork: true, ports: [{ containerPort: 34346, protocol: 'TCP' }] }),
    pod('h', 'nowhere', ['172.18.0.9'], { nodeName: 'gone', hostNetwork: true }),
  ], nodes), { servedPorts: served, extraPorts: { tcp: [], udp: [53], sctp: [] } });
  t.same(spec.nodes!.map((n) => [n.name, n.ips, n.podCIDRs]), [['w1', ['172.18.0.3', 'fc00::3'], ['10.244.1.0/24']], ['w2', ['172.18.0.4'], []]], 'sorted by name, first address of each family, pod CIDRs');
  t.same(spec.node, { name: 'w1', ips: ['172.18.0.3', 'fc00::3'] }, 'node: the first one');
  t.same(spec.pods.map((p) => [`${p.namespace}/${p.name}`, p.node]), [['x/a', 'w1'], ['x/b', 'w2'], ['x/lost', 'w1']], 'pods on their spec.nodeName');
  t.ok(notes.some((n) => /x\/lost is scheduled on gone, which is no Node of the manifests: the lab runs it on w1, whose agent does not judge it/.test(n)));
  t.ok(notes.some((n) => /x\/steal: its address is the node's/.test(n)), "an address of another node is a node's too");
  t.ok(notes.some((n) => /Node w1: only the first address of each family/.test(n)));
  t.same(spec.pods[0]!.ports, { tcp: [80, 8080], udp: [53], sctp: [9003] }, 'container ports + extra + the pod\'s served ports');
  t.same(spec.hostPods, [
    { namespace: 'h', name: 'h1', node: 'w1', ports: { tcp: [34345, 34348], udp: [34347], sctp: [34351] } },
    { namespace: 'h', name: 'h2', node: 'w2', ports: { tcp: [34346], udp: [], sctp: [] } },
  ], 'host-network pods on their node, with container and served ports');
  t.ok(notes.some((n) => /h\/h1 uses the host network: node w1 plays it/.test(n)));
  t.ok(notes.some((n) => /h\/nowhere uses the host network of gone, which is no Node of the manifests: left out/.test(n)));
  t.same(spec.nodes!.map((n) => n.ports.tcp), [[80, 8080, 34345, 34348], [80, 8080, 34346]], 'a node serves every pod port and its own host-network pods\' ports');
  t.same(spec.nodePorts, spec.nodes![0]!.ports);
  t.throws(() => labSpecFromCluster(cluster([], nodes), { externals: [{ name: 'e', ips: ['172.18.0.4'] }] }), /outside host e: address 172\.18\.0\.4 is the node's \(w2\)/);
  const one = labSpecFromCluster(cluster([pod('x', 'a', ['10.244.1.10'], { nodeName: 'w2' })], nodes), { node: 'w1' }).spec;
  t.same([one.nodes!.length, one.pods[0]!.node], [1, undefined], '--node: a single-node lab running every pod');
});

t.test('names', async (t) => {
  for (const [name, ok] of [['demo', true], ['lc-nfqueue', true], ['a', true], ['Bad', false], ['a.b', false], ['-a', false], ['a-', false], ['x'.repeat(25), false]] as const) {
    t.equal(labNameProblem(name) === undefined, ok, `lab name ${JSON.stringify(name)}`);
  }
  t.equal(nodeNetnsName('demo'), 'plab.demo.node');
  t.equal(nodeNetnsName('demo', 'kind-worker'), 'plab.demo.node.kind-worker', 'a node of a multi-node lab');
  t.ok(nodeNetnsName('demo', 'n'.repeat(253)).length <= 200, 'long node names are hashed');
  t.equal(underlayNetnsName('demo'), 'plab.demo.underlay');
  t.match(underlayPortName('kind-worker'), /^un[0-9a-f]{10}$/, 'fits IFNAMSIZ');
  t.equal(podNetnsName('demo', 'x', 'a'), 'plab.demo.pod.x_a');
  t.equal(podNetnsName('demo', 'x', 'a.b'), 'plab.demo.pod.x_a.b');
  t.not(podNetnsName('demo', 'x-y', 'z'), podNetnsName('demo', 'x', 'y-z'), "'_' keeps namespace and name apart");
  t.ok(podNetnsName('demo', 'x', 'p'.repeat(253)).length <= 200, 'long names are hashed');
  t.notOk(nodeNetnsName('a-b').startsWith(labNetnsPrefix('a')), "lab a's prefix never matches lab a-b");
  t.match(hostIfName('pod', 'x/a'), /^pv[0-9a-f]{10}$/, 'fits IFNAMSIZ');
  t.not(hostIfName('pod', 'x/a'), hostIfName('pod', 'x/b'));
});

t.test('a lab verdict meets an expectation about policy only when it says something about policy', async (t) => {
  const table: [LabVerdict, 'allow' | 'deny', boolean][] = [
    ['allow', 'allow', true], ['allow', 'deny', false],
    ['deny', 'deny', true], ['deny', 'allow', false],
    // Refused: the packets flowed both ways, so policy let it through; nobody listens.
    ['refused', 'allow', true], ['refused', 'deny', false],
    // An error (reset after the handshake, no route, a wrong answerer) is the lab's fault.
    ['error', 'allow', false], ['error', 'deny', false],
  ];
  for (const [v, expect, want] of table) t.equal(meetsExpectation(v, expect), want, `${v} vs expect ${expect}`);
});
