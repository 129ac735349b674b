// Where a connection's CPU goes in bench/e2e.ts's many-tuples phase, per mode, kernel symbol by
// kernel symbol: what the ratio of two modes cannot say. Runs the bench (one round, one share of
// first connections) under `perf record -a` with the boot-time clock, notes when each mode's
// loaded tuples run starts and ends (its load generator's process, seen in /proc), and counts the
// samples of each window per symbol (`perf report --time`), divided by the connections the bench
// reports for that run: samples a connection, which times the sampling period is CPU time.
//
//   node --import tsx bench/e2e/tuple-profile.ts [--modes iptables,nfqueue] [--seconds 6] [--share 0] [--top 12] [--symbols a,b]
//
// Root, with perf. Prints JSON: per mode the connections, busy samples a connection (idle left
// out) and, per symbol, microseconds of CPU a connection (samples x period / connections); then
// the symbols where the modes differ most, and any --symbols asked for. The windows leave out
// the first 0.8 s of each run (the namespace's exec and the threads' start) and its last 0.3 s.
// One run on a shared VM: compare modes within it, and repeat it to see the spread.

import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { modes: { type: 'string' }, seconds: { type: 'string' }, share: { type: 'string' }, top: { type: 'string' }, symbols: { type: 'string' } } });
const modes = (values.modes ?? 'iptables,nfqueue').split(',').filter((m) => m !== '');
const seconds = Number(values.seconds ?? 6);
const share = Number(values.share ?? 0);
const top = Number(values.top ?? 12);
if (!Number.isFinite(seconds) || seconds < 2 || seconds > 60) throw new Error(`--seconds must be 2..60, got ${values.seconds}`);
if (!Number.isInteger(share) || share < 0 || share > 100) throw new Error(`--share must be 0..100, got ${values.share}`);
if (!Number.isInteger(top) || top < 1 || top > 1000) throw new Error(`--top must be 1..1000, got ${values.top}`);
if (process.getuid?.() !== 0) throw new Error('tuple-profile: run as root (bench:e2e makes namespaces, perf samples the whole machine)');
try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  throw new Error('tuple-profile: perf not found (Debian: apt-get install linux-perf); scripts/bootstrap.sh leaves it out, as it is for profiling only');
}
const FREQ = 1999;
const IDLE = new Set(['pv_native_safe_halt', 'default_idle', 'intel_idle', 'acpi_idle_do_entry', 'native_safe_halt']);

const dir = mkdtempSync(join(tmpdir(), 'tuple-profile-'));
const data = join(dir, 'perf.data');
const uptime = (): number => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

/** The loaded tuples runs (the bench's `loadgen tuples ... THREADS SECONDS ...` with threads > 1): pid -> [first seen, last seen]. */
const windows = new Map<number, [number, number]>();
function scan(): void {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let cmd: string[];
    try {
      cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = cmd.findIndex((a) => a.endsWith('loadgen'));
    if (i < 0 || cmd[i + 1] !== 'tuples' || Number(cmd[i + 7]) <= 1) continue;
    const pid = Number(e), now = uptime();
    const w = windows.get(pid);
    if (w) w[1] = now;
    else windows.set(pid, [now, now]);
  }
}

const perf = spawn('perf', ['record', '-a', '-k', 'boottime', '-F', String(FREQ), '-o', data, '--', 'sleep', '3600'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 1000));
const timer = setInterval(scan, 50);
const bench = spawn('npm', ['run', '-s', 'bench:e2e', '--', '--modes', modes.join(','), '--rounds', '1', '--seconds', String(seconds), '--latency-seconds', '0.3', '--tuple-shares', String(share)], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
bench.stdout.on('data', (d: Buffer) => (out += d.toString()));
const code = await new Promise<number>((r) => bench.on('exit', (c) => r(c ?? 1)));
clearInterval(timer);
perf.kill('SIGINT');
await new Promise((r) => perf.on('exit', r));
if (code !== 0) throw new Error(`bench:e2e exited ${code}`);

const result = JSON.parse(out) as { samples: { mode: string; tuples: Record<string, { connectionsPerSecond: number }> }[] };
// Windows in the order the bench ran its modes (one round: the modes in the order given).
const runs = [...windows.values()].sort((a, b) => a[0] - b[0]);
if (runs.length !== modes.length) throw new Error(`saw ${runs.length} loaded tuples runs for ${modes.length} modes`);

/** Samples per symbol between two boot-time instants. */
function report(from: number, to: number): Map<string, number> {
  const text = execFileSync('perf', ['report', '-i', data, '--time', `${from.toFixed(3)},${to.toFixed(3)}`, '--no-children', '--sort', 'sym', '--stdio', '-n', '-g', 'none'], { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const r = /^\s*[\d.]+%\s+(\d+)\s+\[.\]\s+(.+?)\s*$/.exec(line);
    if (r) m.set(r[2]!, (m.get(r[2]!) ?? 0) + Number(r[1]));
  }
  return m;
}

const usPerSample = 1e6 / FREQ;
const perMode = modes.map((mode, k) => {
  const [start, end] = runs[k]!;
  const from = start + 0.8, to = end - 0.3;
  const sample = result.samples.find((s) => s.mode === mode)!;
  const conns = sample.tuples[String(share)]!.connectionsPerSecond * (to - from);
  const syms = report(from, to);
  const busy = [...syms].filter(([s]) => !IDLE.has(s)).reduce((a, [, n]) => a + n, 0);
  return { mode, conns, syms, busyUs: (busy * usPerSample) / conns };
});
const us = (m: (typeof perMode)[number], s: string) => Math.round((((m.syms.get(s) ?? 0) * usPerSample) / m.conns) * 1000) / 1000;
const all = new Set(perMode.flatMap((m) => [...m.syms.keys()].filter((s) => !IDLE.has(s))));
const spread = [...all].map((s) => ({ s, d: Math.max(...perMode.map((m) => us(m, s))) - Math.min(...perMode.map((m) => us(m, s))) })).sort((a, b) => b.d - a.d);
const asked = (values.symbols ?? '').split(',').filter((s) => s !== '');
const table = (list: string[]) => Object.fromEntries(list.map((s) => [s, Object.fromEntries(perMode.map((m) => [m.mode, us(m, s)]))]));
console.log(JSON.stringify({
  share, seconds, sampleHz: FREQ,
  modes: perMode.map((m) => ({ mode: m.mode, connections: Math.round(m.conns), busyCpuUsPerConnection: Math.round(m.busyUs * 100) / 100 })),
  mostDifferentUsPerConnection: table(spread.slice(0, top).map((x) => x.s)),
  ...(asked.length > 0 ? { askedUsPerConnection: table(asked) } : {}),
}, null, 1));
rmSync(dir, { recursive: true, force: true });
