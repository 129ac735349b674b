// `npm run bench` (node --expose-gc --import tsx bench/run.ts [--packets N] [--only a,b] [--no-bjs]):
// runs the whole suite and prints ONE JSON object {results, env} on stdout; progress on stderr.

import { parseArgs } from 'node:util';
import { runSuite } from './suite.ts';

const { values } = parseArgs({
  options: {
    packets: { type: 'string' },
    only: { type: 'string' },
    'no-bjs': { type: 'boolean' },
    reps: { type: 'string' },
    // Accepted for symmetry with `palisade bench --json`: this script always prints JSON.
    json: { type: 'boolean' },
  },
});
const packets = values.packets === undefined ? undefined : Number(values.packets);
if (packets !== undefined && !(Number.isInteger(packets) && packets >= 1000 && packets <= 1e9)) {
  process.stderr.write(`bench: --packets must be a whole number in 1000..1000000000, got "${values.packets}"\n`);
  process.exit(2);
}
const reps = values.reps === undefined ? undefined : Number(values.reps);
const report = await runSuite({
  packets,
  reps,
  only: values.only ? values.only.split(',') : undefined,
  benchmarkjs: !values['no-bjs'],
  log: (l) => process.stderr.write(`bench: ${l}\n`),
});
process.stdout.write(JSON.stringify(report) + '\n');
