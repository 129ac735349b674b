// A reader that stops early (`palisade verify ... | head -1`) closes the pipe under the command.
// Node ignores SIGPIPE, so the next write fails with EPIPE, which crashed every command with an
// "Unhandled 'error' event" stack trace. The command now stops printing and finishes as it
// would have (its exit status is the one of the whole run), with nothing on stderr about it.

import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'palisade.js');

/** Runs the command, closes its stdout after the first chunk; its exit status and stderr. */
function firstChunkOnly(args: string[]): Promise<{ status: number | null; stderr: string; got: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '', got = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.stdout.once('data', (d: Buffer) => { got = d.toString(); p.stdout.destroy(); });
    p.on('close', (status) => done({ status, stderr, got }));
  });
}

t.test('a closed stdout ends the printing, not the command', async (t) => {
  const cases: string[][] = [
    // A line a write: every write after the first meets the closed pipe (this row failed
    // before the fix).
    ['verify', '--manifests', 'examples/demo', '--probes', 'examples/demo-probes.yaml'],
    // One write each: nothing meets the closed pipe; they show the handler changes nothing else.
    ['connlist', '--manifests', 'examples/demo', '--why'],
    ['lint', '--manifests', 'examples/lint-mistakes.yaml'],
  ];
  for (const args of cases) {
    const whole = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    const r = await firstChunkOnly(args);
    t.ok(r.got.length > 0, `${args[0]}: printed before the pipe closed`);
    t.notMatch(r.stderr, /EPIPE|Unhandled|^\s+at /m, `${args[0]}: no stack trace`);
    t.equal(r.stderr, whole.stderr, `${args[0]}: stderr as in a whole run`);
    t.equal(r.status, whole.status, `${args[0]}: exit status ${whole.status}, as in a whole run`);
  }
});

t.test('logs --follow stops once its reader has gone (at its next line, as tail -f does)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-closed-'));
  const f = join(dir, 'verdicts.log');
  const line = (n: number) => JSON.stringify({
    time: `2026-11-22T03:00:0${n}.000Z`, verdict: 'deny', direction: 'ingress',
    src: { ip: '10.244.3.1', pod: 'z/a' }, dst: { ip: '10.244.1.2', pod: 'x/b', port: 80 }, protocol: 'TCP', reason: 'ingress of x/b: denied: isolated by x/deny-ingress, no rule allows', generation: 3,
  });
  writeFileSync(f, line(1) + '\n');
  const p = spawn(process.execPath, [BIN, 'logs', '--file', f, '--follow', '--interval', '20'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<number | null>((done) => p.on('close', done));
  await new Promise<void>((got) => p.stdout.once('data', () => { p.stdout.destroy(); got(); }));
  // The next lines meet the closed pipe.
  const appender = setInterval(() => appendFileSync(f, line(2) + '\n'), 50);
  const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
  const status = await closed;
  clearInterval(appender);
  clearTimeout(timer);
  t.equal(status, 0, 'exited by itself, status 0 (not killed)');
  t.equal(stderr, '', 'nothing on stderr');
});
