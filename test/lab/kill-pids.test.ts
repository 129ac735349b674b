// killPids (src/lab/wiring.ts), which `lab down` and a pod's removal stop processes with: a
// process that ignores SIGTERM is killed after the grace time, and killPids returns only once
// it is gone, so whoever checks right after (lab down's callers, its test) finds no process.

import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { killPids } from '../../src/lab/wiring.ts';

t.test('SIGTERM, then SIGKILL after the grace time; returns once every process is gone', async (t) => {
  // One that exits on SIGTERM, one that ignores it (the trap is set before the shell prints).
  const polite = spawn('sleep', ['30'], { stdio: 'ignore' });
  const stubborn = spawn('sh', ['-c', 'trap "" TERM; echo ready; while :; do sleep 1; done'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => { polite.kill('SIGKILL'); stubborn.kill('SIGKILL'); });
  await new Promise((r) => stubborn.stdout!.once('data', r));
  const pids = [polite.pid!, stubborn.pid!];
  const t0 = Date.now();
  await killPids(pids, 300);
  t.ok(Date.now() - t0 >= 300, 'the one ignoring SIGTERM was given the grace time');
  t.same(pids.filter((p) => existsSync(`/proc/${p}`)), [], 'both gone when killPids returns');
  t.equal(stubborn.signalCode ?? (await new Promise((r) => stubborn.once('exit', (_c, sig) => r(sig)))), 'SIGKILL', 'the stubborn one by SIGKILL');
});
