// killPids (src/lab/wiring.ts), which `lab down` and a pod's removal stop processes with: a
// process that ignores SIGTERM is killed after the grace time, and killPids returns only once
// it has stopped, so whoever checks right after (lab down's callers, its test) finds none
// running. And processAlive (src/lab/netns.ts), what "running" means there: a zombie is not.

import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { killPids } from '../../src/lab/wiring.ts';
import { processAlive } from '../../src/lab/netns.ts';

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
  t.same(pids.filter(processAlive), [], 'both stopped when killPids returns');
  t.equal(stubborn.signalCode ?? (await new Promise((r) => stubborn.once('exit', (_c, sig) => r(sig)))), 'SIGKILL', 'the stubborn one by SIGKILL');
});

t.test('a zombie is not running, though /proc still lists it', async (t) => {
  // `sleep 1` is the shell's child; the shell then becomes `sleep 30`, which never reaps it. The
  // child outlives the exec by about a second: one that ended first was reaped by the shell
  // itself before it exec'd (a CI run on a loaded VM, with `sleep 0`), leaving no zombie.
  const parent = spawn('sh', ['-c', 'sleep 1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => { parent.kill('SIGKILL'); });
  const zombie = Number(await new Promise<string>((r) => parent.stdout!.once('data', (d: Buffer) => r(d.toString()))));
  for (let i = 0; i < 500 && existsSync(`/proc/${zombie}/stat`) && !/\) Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 10));
  t.match(readFileSync(`/proc/${zombie}/stat`, 'utf8'), /\) Z /, 'a zombie in /proc');
  t.notOk(processAlive(zombie), 'not running');
  t.ok(processAlive(parent.pid!), 'its parent runs');
  t.notOk(processAlive(2 ** 22 + 1), 'no such process');
});
