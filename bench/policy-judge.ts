// Per-connection cost of the compiled engine: runs support/judge-alloc-probe.ts (needs
// --expose-gc, so in a child process) for 10M judge4/judge6 calls on a random dual-stack
// cluster and prints its JSON line (ns per judge, heap growth, GCs during the loop) plus the
// load average, since ns/judge is wall clock.
//   node --import tsx bench/policy-judge.ts [calls]

import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const calls = process.argv[2] ?? '10000000';
const probe = fileURLToPath(new URL('../support/judge-alloc-probe.ts', import.meta.url));
const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', probe, calls, '7'], { encoding: 'utf8' });
if (res.status !== 0) {
  process.stderr.write(res.stderr);
  process.exit(1);
}
const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
process.stdout.write(JSON.stringify({ bench: 'policy-judge', ...out, loadAverage: loadavg()[0] }) + '\n');
