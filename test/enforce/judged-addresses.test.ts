// judgedAddresses (src/enforce/judged-sets.ts): which local pod addresses go into the judged
// sets, read from the compiled engine's snapshot. Every tier counts: a NetworkPolicy isolating a
// pod, an Admin or Baseline cluster policy with rules for the direction selecting it. A pod of
// another node is never in the sets; an address the engine does not know is queued both ways.
// The lab side (real kernel, real agent) is judged-sets.test.ts.

import t from 'tap';
import { ClusterState } from '../../src/cluster/state.ts';
import type { ClusterPolicy, NetworkPolicy, Pod } from '../../src/cluster/model.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { judgedAddresses, parseSetSave } from '../../src/enforce/judged-sets.ts';

const ALL = { matchLabels: {}, matchExpressions: [] };
const sel = (l: Record<string, string>) => ({ matchLabels: l, matchExpressions: [] });

function pod(name: string, ips: string[], node = 'n1'): Pod {
  return { namespace: 'x', name, labels: { pod: name }, nodeName: node, hostNetwork: false, phase: 'Running', ips, ports: [] };
}

const adminIngress: ClusterPolicy = {
  kind: 'ClusterNetworkPolicy', name: 'guard', tier: 'Admin', priority: 5,
  subject: { pods: { namespaceSelector: ALL, podSelector: sel({ pod: 'b' }) } },
  ingress: [{ name: 'block', action: 'Deny', peers: [{ namespaces: ALL }], protocols: [{ protocol: 'TCP', port: 80 }] }],
  egress: [],
};
const baselineEgress: ClusterPolicy = {
  kind: 'ClusterNetworkPolicy', name: 'floor', tier: 'Baseline', priority: 0,
  subject: { pods: { namespaceSelector: ALL, podSelector: sel({ pod: 'c' }) } },
  ingress: [],
  egress: [{ name: '', action: 'Deny', peers: [{ namespaces: ALL }], protocols: [] }],
};
const npIngress: NetworkPolicy = {
  namespace: 'x', name: 'd-deny', podSelector: sel({ pod: 'd' }), policyTypes: { ingress: true, egress: false }, ingress: [], egress: [],
};

function state(): ClusterState {
  const st = new ClusterState();
  st.batch(() => {
    st.upsertNamespace({ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } });
    st.upsertPod(pod('a', ['10.0.0.1', 'fd00::1']));
    st.upsertPod(pod('b', ['10.0.0.2']));
    st.upsertPod(pod('c', ['10.0.0.3']));
    st.upsertPod(pod('d', ['10.0.0.4']));
    st.upsertPod(pod('r', ['10.0.9.9'], 'n2'));
    st.upsert('ClusterNetworkPolicy', adminIngress);
    st.upsert('ClusterNetworkPolicy', baselineEgress);
    st.upsert('NetworkPolicy', npIngress);
  });
  return st;
}

const sorted = (s: ReadonlySet<string>) => [...s].sort();

t.test('every tier that has a word on a side puts the pod in that side\'s set', async (t) => {
  const e = new CompiledEngine(state(), { localNode: 'n1' });
  const j = judgedAddresses(e.snapshot(), ['10.0.0.1', 'fd00::1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.77']);
  t.same(sorted(j.ingress), ['10.0.0.2', '10.0.0.4', '10.0.0.77'], 'b (Admin ingress rules), d (NetworkPolicy), and the unknown address');
  t.same(sorted(j.egress), ['10.0.0.3', '10.0.0.77'], 'c (Baseline egress rules), and the unknown address');
  t.same(sorted(j.known), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', 'fd00::1'], 'every local pod the engine knows; a (no policy) only here');
});

t.test('a pod of another node is judged there, not here', async (t) => {
  const e = new CompiledEngine(state(), { localNode: 'n1' });
  const j = judgedAddresses(e.snapshot(), ['10.0.9.9']);
  // The agent only passes local pods; an address the snapshot places on another node's pod is
  // queued both ways rather than trusted.
  t.same([sorted(j.ingress), sorted(j.egress), sorted(j.known)], [['10.0.9.9'], ['10.0.9.9'], []]);
});

t.test('a snapshot that cannot tell (no judgesSide) judges everything', async (t) => {
  const e = new CompiledEngine(state(), { localNode: 'n1' });
  const snap = e.snapshot();
  const blind = Object.create(snap) as typeof snap;
  Object.defineProperty(blind, 'judgesSide', { value: undefined });
  const j = judgedAddresses(blind, ['10.0.0.1']);
  t.same([sorted(j.ingress), sorted(j.egress)], [['10.0.0.1'], ['10.0.0.1']]);
});

t.test('parseSetSave reads one set\'s entries from `ipset save`', async (t) => {
  const text = 'create PALISADE-EGRESS6 hash:ip family inet6 hashsize 1024 maxelem 65536\nadd PALISADE-EGRESS6 fd00:0::1\nadd PALISADE-INGRESS6 fd00::2\n';
  t.same(sorted(parseSetSave(text, 'PALISADE-EGRESS6')), ['fd00::1']);
});
