// How long starting a command stops the event loop: `count` runs of `true`, one after the other,
// started with child_process.spawn on this thread (what the agent did before) and through the
// command thread (src/enforce/command-thread.ts, what runCommand does now), in alternating
// rounds. Reports per way the time the starting call itself held the thread (spawn() returns
// only once the child has exec'd; run() only posts a message) and the event loop's delay
// (perf_hooks.monitorEventLoopDelay, sampled every millisecond): what a queued packet waits.
// `--heap MB` first fills that much of the heap, as an agent with a large cluster has: fork
// copies the page tables of everything mapped.
//   node --import tsx scripts/spawn-stall.ts [count, default 40] [--heap MB]

import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CommandThread } from '../src/enforce/command-thread.ts';

const args = process.argv.slice(2);
const heapAt = args.indexOf('--heap');
const heapMb = heapAt >= 0 ? Number(args[heapAt + 1]) : 0;
const count = Number(args.find((a, i) => !a.startsWith('--') && i !== heapAt + 1) ?? 40);
const ballast: Float64Array[] = [];
for (let i = 0; i < heapMb; i++) ballast.push(new Float64Array(1 << 17).fill(i));

const thread = new CommandThread();
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function direct(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const c = spawn('true', [], { stdio: ['pipe', 'pipe', 'pipe'] });
  const held = ms(t0);
  await new Promise((r) => c.on('close', r));
  return held;
}

async function threaded(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const p = thread.run(['true'], '', 10_000);
  const held = ms(t0);
  await p;
  return held;
}

const ways = { spawn: direct, thread: threaded } as const;
const held: Record<string, number[]> = { spawn: [], thread: [] };
const delay: Record<string, { p99: number; max: number }[]> = { spawn: [], thread: [] };
await threaded(); // the worker's start is not a command's cost
for (let round = 0; round < 4; round++) {
  for (const name of (round % 2 === 0 ? ['spawn', 'thread'] : ['thread', 'spawn']) as (keyof typeof ways)[]) {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    for (let i = 0; i < count / 4; i++) held[name]!.push(await ways[name]());
    h.disable();
    delay[name]!.push({ p99: h.percentile(99) / 1e6, max: h.max / 1e6 });
  }
}
await thread.close();
const pct = (a: number[], q: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(q * s.length))]!; };
const r2 = (x: number) => Math.round(x * 100) / 100;
console.log(JSON.stringify({
  count, heapMb, rssMb: Math.round(process.memoryUsage().rss / 1e6), ballast: ballast.length,
  ...Object.fromEntries(Object.keys(ways).map((n) => [n, {
    heldMsP50: r2(pct(held[n]!, 0.5)), heldMsMax: r2(Math.max(...held[n]!)),
    loopDelayMsP99: r2(Math.max(...delay[n]!.map((d) => d.p99))), loopDelayMsMax: r2(Math.max(...delay[n]!.map((d) => d.max))),
  }])),
}));
