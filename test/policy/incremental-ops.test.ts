// One compiled engine through long random operation sequences (support/engine-ops.ts): pods added,
// deleted, relabelled, readdressed (to another pod's or a node's address too), moved on and off
// the host network, between phases and nodes, given other ports; namespaces and nodes added,
// relabelled, readdressed and deleted; NetworkPolicies and cluster policies added, edited a rule
// or a field at a time (podSelector, policyTypes, priority, action, subject, tier) and deleted;
// changes undone or repeated within their batch; converge() steps of random size in between.
// Every few operations the JavaScript snapshot, its WebAssembly copy, the plain evaluator and a
// fresh compile must give the same Decision (deciding rule, tier and action included) on a
// sample of connections, many of them on the addresses just changed, and the snapshot and copy
// of the check point before must still answer as they did.
//
// The seed is printed; rerun with PALISADE_SEED=<n> npx tap test/policy/incremental-ops.test.ts.
// A mismatch prints the shrunk list of steps that still shows it, and its objects.

import t from 'tap';
import type { ClusterPolicy } from '../../src/cluster/model.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { describeOpsMismatch, runOps, type OpsOptions } from '../../support/engine-ops.ts';

const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`incremental-ops seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

// Runs of one engine each: every pod local, or only one node's (the agent's case); one with a
// few hundred pods more, so slot records and address maps span several pages.
const runs: OpsOptions[] = [
  { seed, ops: 700, tuples: 40 },
  { seed: (seed + 1) >>> 0, ops: 700, tuples: 40, localNode: 'node-1' },
  { seed: (seed + 2) >>> 0, ops: 700, tuples: 40 },
  { seed: (seed + 3) >>> 0, ops: 700, tuples: 40, localNode: 'node-2' },
  { seed: (seed + 4) >>> 0, ops: 250, tuples: 40, extraPods: 300 },
];

const where = (o: OpsOptions) => `seed ${o.seed}${o.localNode ? ` (localNode ${o.localNode})` : ''}${o.extraPods ? ` (${o.extraPods} extra pods)` : ''}`;

t.test('one engine through random operation sequences = evaluator, WebAssembly copy and fresh compile', async (t) => {
  let ops = 0, tuples = 0, checks = 0, converges = 0, copies = 0;
  for (const run of runs) {
    const res = runOps(run);
    ops += res.ops; tuples += res.tuples; checks += res.checks; converges += res.converges; copies += res.wasmCopies;
    for (const m of res.mismatches) {
      // The description is several lines (the shrunk steps, the objects): comments keep them.
      t.comment(describeOpsMismatch(m, run.localNode));
      t.fail(`${where(run)}: ${m.against} mismatch (reproduce with PALISADE_SEED=${seed})`);
    }
    t.equal(res.mismatches.length, 0, `${where(run)}: no mismatches`);
  }
  t.comment(`${ops} operations, ${checks} check points, ${tuples} connections judged 4 ways, ${converges} converge steps, ${copies} WebAssembly copies`);
  t.ok(ops >= 3000 && tuples >= 30000, 'budget used');
  t.ok(converges > 0 && copies > 0, 'converge steps and WebAssembly copies ran');
});

// The run must be able to fail: with Pass read as Deny in the oracle's cluster policies (the
// engine keeps the real ones), a run reports a mismatch and shrinks it to a few steps.
t.test('a broken oracle makes a run fail, with a short replayable description', async (t) => {
  const passAsDeny = (p: ClusterPolicy): ClusterPolicy => ({
    ...p,
    ingress: p.ingress.map((r) => (r.action === 'Pass' ? { ...r, action: 'Deny' } : r)),
    egress: p.egress.map((r) => (r.action === 'Pass' ? { ...r, action: 'Deny' } : r)),
  });
  const oracle: typeof evaluate = (view, conn, opts) =>
    evaluate({ ...view, namespaces: view.namespaces, pods: view.pods, nodes: view.nodes, policies: view.policies, clusterPolicies: new Map([...view.clusterPolicies].map(([k, p]) => [k, passAsDeny(p)])) }, conn, opts);
  const res = runOps({ seed: 5, ops: 500, tuples: 40, oracle });
  const m = res.mismatches[0];
  t.ok(m, 'a mismatch');
  if (!m) return;
  t.equal(m.against, 'evaluator');
  t.ok(m.minimal.length <= m.steps.length && m.minimal.length <= 6, `shrunk from ${m.steps.length} to ${m.minimal.length} steps`);
  t.match(describeOpsMismatch(m), /seed 5: evaluator disagrees on .* -> .*\n  expected .*\n  got .*\n  minimal steps/);
});
