// Long differential run of the compiled engine against the plain evaluator (see
// support/differential.ts): node --import tsx scripts/differential.ts --probes 2000000 --seed N
// Prints one JSON line; exits 1 on any mismatch (each printed with its cluster seed).

import { parseArgs } from 'node:util';
import { describeMismatch, runDifferential } from '../support/differential.ts';

function intArg(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${name}: expected a non-negative integer, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    probes: { type: 'string' },
    seed: { type: 'string' },
    'max-mismatches': { type: 'string' },
  },
});
const probes = intArg(values.probes, 'probes', 1_000_000);
const seed = intArg(values.seed, 'seed', (Date.now() ^ (process.pid << 16)) >>> 0) >>> 0;
const maxMismatches = intArg(values['max-mismatches'], 'max-mismatches', 10);

const started = process.hrtime.bigint();
const res = runDifferential({ seed, probes, maxMismatches });
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
for (const m of res.mismatches) process.stderr.write(describeMismatch(m) + '\n\n');
process.stdout.write(JSON.stringify({
  seed, probes: res.probes, clusters: res.clusters, mutationBatches: res.mutations,
  mismatches: res.mismatches.length, seconds: Math.round(seconds * 10) / 10,
}) + '\n');
process.exit(res.mismatches.length ? 1 : 0);
