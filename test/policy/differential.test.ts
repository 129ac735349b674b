// Randomized differential test: the compiled engine must give exactly the evaluator's Decision
// (verdict, each side's allowed/reason/isolated/policies, the first allowing rule, pod names)
// on random clusters, and keep doing so through random mutation sequences applied incrementally
// (also compared with a fresh compile after every batch, and checking that a published snapshot
// never changes its answers).
//
// The seed is printed; rerun one with PALISADE_SEED=<n> npx tap test/policy/differential.test.ts.
// Millions of probes: node --import tsx scripts/differential.ts --probes 2000000 --seed <n>.

import t from 'tap';
import { describeMismatch, runDifferential } from '../support/differential.ts';

const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`differential seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

t.test('compiled engine = evaluator on random clusters and mutation sequences', async (t) => {
  const res = runDifferential({ seed, probes: 30000 });
  t.comment(`${res.probes} probes over ${res.clusters} clusters and ${res.mutations} mutation batches`);
  t.ok(res.probes >= 30000, 'probe budget used');
  t.ok(res.mutations > 0, 'mutation sequences ran');
  for (const m of res.mismatches) t.fail(`seed ${seed}: ${describeMismatch(m)}`);
  t.equal(res.mismatches.length, 0, 'no mismatches');
});

// A fixed seed too, so a regression found once keeps being checked whatever the clock says.
t.test('fixed seed 1', async (t) => {
  const res = runDifferential({ seed: 1, probes: 5000 });
  for (const m of res.mismatches) t.fail(describeMismatch(m));
  t.equal(res.mismatches.length, 0, 'no mismatches');
});
