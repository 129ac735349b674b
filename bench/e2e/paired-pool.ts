// The per-round ratios of one metric between two modes, pooled over several bench:e2e reports
// (their JSON on stdout, saved to files): what no single run resolves (a bulk transfer's rounds
// spread +-20 % on a shared VM), many paired rounds narrow. Prints JSON: the rounds, the median
// ratio and its 95 % interval by a seeded bootstrap of the median (5,000 resamples), and the
// geometric mean.
//   node --import tsx bench/e2e/paired-pool.ts [--metric bulkGbps] [--modes nfqueue,nfqueue-noguard] report.json...
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { prng } from '../prng.ts';
import { median } from './summary.ts';

const { values, positionals } = parseArgs({ options: { metric: { type: 'string' }, modes: { type: 'string' } }, allowPositionals: true });
const metric = values.metric ?? 'bulkGbps';
const [mode, ref] = (values.modes ?? 'nfqueue,nfqueue-noguard').split(',') as [string, string];
if (positionals.length === 0 || !ref) {
  process.stderr.write('usage: paired-pool.ts [--metric M] [--modes MODE,REF] report.json...\n');
  process.exit(2);
}

type Sample = { mode: string; round: number } & Record<string, unknown>;
const ratios: number[] = [];
for (const file of positionals) {
  const samples = (JSON.parse(readFileSync(file, 'utf8')) as { samples?: Sample[] }).samples ?? [];
  for (const s of samples.filter((x) => x.mode === mode)) {
    const o = samples.find((x) => x.mode === ref && x.round === s.round);
    const a = Number(s[metric]), b = Number(o?.[metric]);
    if (o && Number.isFinite(a) && b > 0) ratios.push(a / b);
  }
}
if (ratios.length === 0) {
  process.stderr.write(`no rounds with both ${mode} and ${ref} measuring ${metric}\n`);
  process.exit(1);
}
const r = prng(0x5eed);
const meds: number[] = [];
for (let k = 0; k < 5000; k++) meds.push(median(Array.from({ length: ratios.length }, () => ratios[r() % ratios.length]!)));
meds.sort((x, y) => x - y);
const r3 = (x: number) => Math.round(x * 1000) / 1000;
process.stdout.write(JSON.stringify({
  metric, mode, ref, reports: positionals.length, rounds: ratios.length,
  medianRatio: r3(median(ratios)),
  medianRatio95: [r3(meds[Math.floor(0.025 * meds.length)]!), r3(meds[Math.floor(0.975 * meds.length)]!)],
  geometricMean: r3(Math.exp(ratios.reduce((s, x) => s + Math.log(x), 0) / ratios.length)),
  range: [r3(Math.min(...ratios)), r3(Math.max(...ratios))],
}, null, 2) + '\n');
