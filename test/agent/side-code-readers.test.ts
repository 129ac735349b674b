// The readers of side codes (verdict log, audit, per-policy metrics) take the outcome from the
// code itself: a side denied BY A RULE (the codes ClusterNetworkPolicy's Deny rules will give)
// is a denial, named after that rule and counted against its policy, while an isolated pod's
// implicit deny is still counted against every policy isolating it.

import t from 'tap';
import { ClusterState } from '../../src/cluster/state.ts';
import type { NetworkPolicy, Pod } from '../../src/cluster/model.ts';
import { ENFORCE_ALL, auditAllowsCodes } from '../../src/agent/audit.ts';
import { PolicyCounters } from '../../src/agent/metrics.ts';
import { describeConnection, type JudgedConnection } from '../../src/agent/verdict-log.ts';
import { ACTION, SIDE, ruleCode, ruleCodeCount } from '../../src/policy/engine-api.ts';
import { EvalSnapshot } from './eval-snapshot.ts';

const EMPTY = { matchLabels: {}, matchExpressions: [] };

function pod(name: string, ip: string): Pod {
  return { namespace: 'x', name, labels: { pod: name }, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips: [ip], ports: [] };
}

function policy(name: string, ingress: NetworkPolicy['ingress']): NetworkPolicy {
  return { namespace: 'x', name, podSelector: EMPTY, policyTypes: { ingress: true, egress: false }, ingress, egress: [] };
}

// x/a and x/b, both isolated for ingress by x/p (one rule: from x/a) and x/q (no rules).
// Rule ids as an engine numbers them: x/p ingress[0] is rule 0.
function snapshot(): EvalSnapshot {
  const st = new ClusterState();
  st.batch(() => {
    st.upsertNamespace({ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } });
    st.upsertPod(pod('a', '10.0.0.1'));
    st.upsertPod(pod('b', '10.0.0.2'));
    st.upsertPolicy(policy('p', [{ peers: [{ podSelector: { matchLabels: { pod: 'a' }, matchExpressions: [] } }], ports: [] }]));
    st.upsertPolicy(policy('q', []));
  });
  return new EvalSnapshot(st);
}

const A = 0, B = 1;
const conn = (egressCode: number, ingressCode: number): JudgedConnection => ({
  src: '10.0.0.1', dst: '10.0.0.2', proto: 6, port: 80, egressCode, ingressCode, srcSlot: A, dstSlot: B,
});

t.test('verdict log: a rule that denies is a denial, named after the rule', async (t) => {
  const snap = snapshot();
  const at = new Date(0);
  const denied = describeConnection(snap, conn(SIDE.NOT_ISOLATED, ruleCode(0, ACTION.DENY)), at);
  t.equal(denied.verdict, 'deny');
  t.equal(denied.direction, 'ingress');
  t.equal(denied.reason, 'ingress of x/b: denied by x/p ingress[0]');
  const allowed = describeConnection(snap, conn(SIDE.NOT_ISOLATED, ruleCode(0, ACTION.ACCEPT)), at);
  t.equal(allowed.verdict, 'allow');
  t.equal(allowed.reason, 'egress of x/a: allowed: not isolated; ingress of x/b: allowed by x/p ingress[0]');
  const implicit = describeConnection(snap, conn(SIDE.NOT_ISOLATED, SIDE.NO_RULE), at);
  t.equal(implicit.reason, 'ingress of x/b: denied: isolated by x/p, x/q, no rule allows');
});

t.test('audit: a side a rule denied is a denied side', async (t) => {
  const snap = snapshot();
  const all = { global: true, namespaces: new Set<string>() };
  t.equal(auditAllowsCodes(all, snap, SIDE.NOT_ISOLATED, ruleCode(0, ACTION.DENY), A, B), true, 'global audit waves it through');
  t.equal(auditAllowsCodes(all, snap, SIDE.NOT_ISOLATED, ruleCode(0, ACTION.ACCEPT), A, B), false, 'nothing denied: nothing to audit');
  t.equal(auditAllowsCodes({ global: false, namespaces: new Set(['x']) }, snap, ruleCode(0, ACTION.DENY), SIDE.NOT_ISOLATED, A, B), true, 'egress denied, source namespace in audit');
  t.equal(auditAllowsCodes(ENFORCE_ALL, snap, ruleCode(0, ACTION.DENY), SIDE.NOT_ISOLATED, A, B), false);
});

t.test('metrics: hits fold by the action in the code; denials by rule or by isolation', async (t) => {
  const snap = snapshot();
  const pc = new PolicyCounters();
  const hits = pc.bind(snap, 1);
  t.equal(hits.length, ruleCodeCount(1), 'one entry per rule code: rule 0 accept and deny, of either tier kind');
  hits[ruleCode(0, ACTION.ACCEPT)]! += 3;
  hits[ruleCode(0, ACTION.DENY)]! += 2;
  t.same(pc.read().get('x/p'), { allow: 3, deny: 2, audit: 0 }, 'unfolded hits');
  pc.countDeniedSide(snap, ruleCode(0, ACTION.DENY), B, 'ingress');
  pc.countDeniedSide(snap, ruleCode(0, ACTION.DENY), B, 'ingress', true);
  t.same(pc.read().get('x/p'), { allow: 3, deny: 3, audit: 1 }, 'a rule denial counts against the rule\'s policy only');
  t.equal(pc.read().get('x/q'), undefined);
  pc.countDeniedSide(snap, SIDE.NO_RULE, B, 'ingress');
  t.same(pc.read().get('x/q'), { allow: 0, deny: 1, audit: 0 }, 'an implicit deny counts against every isolating policy');
  t.same(pc.read().get('x/p'), { allow: 3, deny: 4, audit: 1 });
  pc.countDeniedSide(snap, SIDE.NO_RULE, -1, 'ingress');
  t.same(pc.read().get('x/q'), { allow: 0, deny: 1, audit: 0 }, 'no pod, nobody to count against');
  // Binding the next snapshot folds the hits: the totals survive.
  pc.bind(snap, 1);
  t.same(pc.read().get('x/p'), { allow: 3, deny: 4, audit: 1 }, 'folded totals survive a recompile');
});
