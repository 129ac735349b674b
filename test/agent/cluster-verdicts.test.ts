// The readers of side codes name cluster policy decisions by tier, policy and rule: the verdict
// log says "admin/<policy>/<rule name or index>" (and "baseline/..."), carries the deciding rules
// in `rules`, and per-policy metrics count a cluster policy's denials under its id.

import t from 'tap';
import { ClusterState } from '../../src/cluster/state.ts';
import type { ClusterPolicy, Pod } from '../../src/cluster/model.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { describeConnection } from '../../src/agent/verdict-log.ts';
import { PolicyCounters } from '../../src/agent/metrics.ts';
import { parseIP } from '../../src/net/address.ts';

const ALL = { matchLabels: {}, matchExpressions: [] };
const sel = (l: Record<string, string>) => ({ matchLabels: l, matchExpressions: [] });

function pod(name: string, ip: string): Pod {
  return { namespace: 'x', name, labels: { pod: name }, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips: [ip], ports: [] };
}

const guard: ClusterPolicy = {
  kind: 'ClusterNetworkPolicy', name: 'guard', tier: 'Admin', priority: 5,
  subject: { pods: { namespaceSelector: ALL, podSelector: sel({ pod: 'b' }) } },
  ingress: [
    { name: 'block-a', action: 'Deny', peers: [{ pods: { namespaceSelector: ALL, podSelector: sel({ pod: 'a' }) } }], protocols: [{ protocol: 'TCP', port: 80 }] },
    { name: '', action: 'Pass', peers: [{ namespaces: ALL }], protocols: [] },
  ],
  egress: [],
};
const floor: ClusterPolicy = {
  kind: 'ClusterNetworkPolicy', name: 'floor', tier: 'Baseline', priority: 0,
  subject: { namespaces: ALL },
  ingress: [{ name: '', action: 'Deny', peers: [{ namespaces: ALL }], protocols: [] }],
  egress: [],
};

function engine(): CompiledEngine {
  const st = new ClusterState();
  st.batch(() => {
    st.upsertNamespace({ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } });
    st.upsertPod(pod('a', '10.0.0.1'));
    st.upsertPod(pod('b', '10.0.0.2'));
    st.upsert('ClusterNetworkPolicy', guard);
    st.upsert('ClusterNetworkPolicy', floor);
  });
  return new CompiledEngine(st);
}

function judge(e: CompiledEngine, port: number) {
  const snap = e.snapshot();
  snap.judge4(parseIP('10.0.0.1')!.words[0]!, parseIP('10.0.0.2')!.words[0]!, 6, port);
  return {
    snap,
    c: { src: '10.0.0.1', dst: '10.0.0.2', proto: 6, port, egressCode: snap.egressCode, ingressCode: snap.ingressCode, srcSlot: snap.srcSlot, dstSlot: snap.dstSlot },
  };
}

t.test('verdict log names the tier, the policy and the rule', async (t) => {
  const e = engine();
  const { snap, c } = judge(e, 80);
  const line = describeConnection(snap, c, new Date(0));
  t.equal(line.verdict, 'deny');
  t.equal(line.reason, 'ingress of x/b: denied by admin/guard/block-a');
  t.same(line.rules, { ingress: 'admin/guard/block-a' });
  // Port 81: the Admin rule 1 passes (unnamed: named by its index), the Baseline denies.
  const { snap: s2, c: c2 } = judge(e, 81);
  const l2 = describeConnection(s2, c2, new Date(0));
  t.equal(l2.reason, 'ingress of x/b: denied by baseline/floor/ingress[0]');
  t.same(l2.rules, { ingress: 'baseline/floor/ingress[0]' });
});

t.test('metrics count a cluster policy rule\'s hits and denials under the policy id', async (t) => {
  const e = engine();
  const { snap, c } = judge(e, 80);
  const pc = new PolicyCounters();
  const hits = pc.bind(snap, e.stats().ruleIds);
  hits[c.ingressCode]! += 1;
  pc.countDeniedSide(snap, c.ingressCode, c.dstSlot, 'ingress');
  t.same(pc.read().get('guard'), { allow: 0, deny: 2, audit: 0 });
});
