// Chains (tier-tables.ts, table-arena.ts judgeChain4): until converge() builds an Admin or
// Baseline table an update needed, its users walk the per-policy tables of their list in
// priority order. A per-policy table must tell a Pass (ends the tier) from no match (the next
// policy answers); the combined table folds both into TIER_NEXT. Each row is one pair of Admin
// policies (and a Baseline one) over web's egress to api:80, judged on the chain, then converged.

import t from 'tap';
import type { ClusterAction, ClusterPolicy, Pod } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';

const EMPTY = { matchLabels: {}, matchExpressions: [] };
const sel = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });

function pod(ns: string, name: string, ip: string): Pod {
  return { namespace: ns, name, labels: { app: name }, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips: [ip], ports: [] };
}

/** A policy selecting namespace a with one egress rule to namespace b on `port` (none: no rule matches port 80). */
function cnp(name: string, tier: 'Admin' | 'Baseline', priority: number, action: ClusterAction | undefined, port = 80): ClusterPolicy {
  return {
    kind: 'ClusterNetworkPolicy', name, tier, priority,
    subject: { namespaces: sel({ team: 'a' }) },
    ingress: [],
    egress: [{ name: 'r0', action: action ?? 'Deny', peers: [{ namespaces: sel({ team: 'b' }) }], protocols: [{ protocol: 'TCP', port: action === undefined ? 81 : port }] }],
  };
}

type Row = [what: string, first: ClusterAction | undefined, second: ClusterAction | undefined, baseline: ClusterAction | undefined, allowed: boolean, decidedBy: string | undefined];
const rows: Row[] = [
  ['Pass ends the Admin tier: the later Deny is not reached', 'Pass', 'Deny', undefined, true, undefined],
  ['no match: the next policy decides', undefined, 'Deny', undefined, false, 'second'],
  ['Pass goes on to Baseline', 'Pass', 'Deny', 'Deny', false, 'base'],
  ['Pass of the second policy goes on to Baseline', undefined, 'Pass', 'Accept', true, 'base'],
  ['first Accept wins', 'Accept', 'Deny', 'Deny', true, 'first'],
  ['first Deny wins', 'Deny', 'Accept', undefined, false, 'first'],
  ['no Admin match, Baseline Pass: the default', undefined, undefined, 'Pass', true, undefined],
  ['no match anywhere: the default', undefined, undefined, undefined, true, undefined],
];

type Actions = [first: ClusterAction | undefined, second: ClusterAction | undefined, baseline?: ClusterAction | undefined];

/**
 * web (namespace a) and api (b), the policies first with other rules, then (a rule change, so
 * chains: chainAbove 0) with `actions`; a Baseline policy only when `actions` has a third.
 */
function chained(actions: Actions): { state: ClusterState; e: CompiledEngine } {
  const names = ['first', 'second', 'base'].slice(0, actions.length);
  const policy = (i: number, action: ClusterAction | undefined, port?: number) =>
    cnp(names[i]!, i < 2 ? 'Admin' : 'Baseline', i === 1 ? 20 : 10, action, port);
  const state = new ClusterState();
  state.batch(() => {
    for (const ns of ['a', 'b']) state.upsertNamespace({ name: ns, labels: { team: ns } });
    state.upsertPod(pod('a', 'web', '10.0.1.1'));
    state.upsertPod(pod('b', 'api', '10.0.2.1'));
    for (let i = 0; i < names.length; i++) state.upsert('ClusterNetworkPolicy', policy(i, 'Deny', 9));
  });
  const e = new CompiledEngine(state, { chainAbove: 0 });
  state.onChange((ch) => e.update(ch));
  state.batch(() => {
    for (let i = 0; i < names.length; i++) state.upsert('ClusterNetworkPolicy', policy(i, actions[i]));
  });
  return { state, e };
}

for (const [what, first, second, baseline, allowed, decidedBy] of rows) {
  t.test(what, async (t) => {
    const { state, e } = chained([first, second, baseline]);
    const conn = { src: '10.0.1.1', dst: '10.0.2.1', protocol: 'TCP' as const, port: 80 };
    const check = (phase: string) => {
      const d = e.decide(conn);
      t.equal(d.allowed, allowed, `${phase}: allowed`);
      t.equal(d.egress.rule?.policy, decidedBy, `${phase}: deciding policy`);
      t.same(d, evaluate(state, conn), `${phase}: as the evaluator`);
    };
    t.ok(e.stats().tierChains >= 1, 'the update made chains');
    check('chain');
    let rounds = 0;
    while (e.pendingChains > 0 && rounds++ < 10) e.converge(1);
    t.equal(e.stats().tierChains, 0, 'converged');
    check('converged');
  });
}

// A compaction keeps per-policy tables placed even when no chain walks them any more
// (tier-links.ts compact): parking them there made the next relabel's chains extend and place
// each one inside its update. Answers stay the evaluator's through the compaction and a relabel
// after it.
t.test('a compaction keeps the per-policy tables placed', async (t) => {
  const { state, e } = chained([undefined, 'Deny']);
  const conn = { src: '10.0.1.1', dst: '10.0.2.1', protocol: 'TCP' as const, port: 80 };
  const exact = (phase: string) => t.same(e.decide(conn), evaluate(state, conn), `${phase}: as the evaluator`);
  t.ok(e.stats().tierChains >= 1, 'the rule change made a chain');
  const placed = e.stats().chainLinksPlaced;
  t.ok(placed >= 2, `the chain's per-policy tables are placed (${placed})`);
  while (e.pendingWork > 0) e.converge();
  t.equal(e.stats().tierChains, 0, 'converged: no chain walks them');
  t.equal(e.stats().chainLinksPlaced, placed, 'still placed after converging');
  // The compaction converge() runs when the arena is wasteful (compiler.ts compactTables).
  (e as unknown as { compactTables(): void }).compactTables();
  t.equal(e.stats().chainLinksPlaced, placed, 'still placed after a compaction');
  exact('compacted');
  state.upsertPod({ ...pod('b', 'api', '10.0.2.1'), labels: { app: 'api', v: '2' } });
  exact('relabelled after the compaction');
  while (e.pendingWork > 0) e.converge();
  exact('relabelled and converged');
});
