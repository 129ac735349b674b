// What one write of the agent's status file costs its loop with the name store full: the dns
// section built as DnsWiring.status() builds it (dnsStatusSection) and written by StatusFile,
// at 8,192 and 65,536 live records learned in random order. The first write, then writes after
// 8 s of churn each (the wait between writes of a file this size): records learned over the last
// 290 s with TTL 300, 2 % learned again, 3 % new ones (evicting the oldest over the cap), the
// expired ones (about 2.7 %) dropped. Each scenario runs twice, the same way:
// - cpu_ms (the whole process, user + system: I/O and GC threads too) and loop_busy_ms (the time
//   the loop was not idle), with nothing else on the loop;
// - longest_task_ms / longest_task_cpu_ms: with a ticker on the loop (setImmediate, once a turn),
//   the longest time between two of its turns on the clock (whatever a busy host's other
//   processes took included) and in the process's CPU (GC threads included): the longest the
//   loop was held at once, give or take the ticker's own turn. The ticker spins the loop, so it
//   is not in the first run.
// Prints JSON.
//   node --import tsx scripts/dns-status-cpu.ts [records...] (default 8192 65536)

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DnsLearner } from '../src/agent/dns-learner.ts';
import { dnsStatusSection } from '../src/agent/dns-status.ts';
import { StatusFile } from '../src/agent/status-file.ts';
import { ClusterState } from '../src/cluster/state.ts';
import { onTheLoop } from '../support/loop-ticker.ts';

const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [8192, 65536];
const WRITES = 4;
const dir = mkdtempSync(join(tmpdir(), 'palisade-status-cpu-'));

const r1 = (x: number): number => Math.round(x * 10) / 10;

/** Runs `f`: the CPU and loop busy time it took. */
async function cost(f: () => Promise<void>) {
  const cpu0 = process.cpuUsage(), elu0 = performance.eventLoopUtilization();
  await f();
  const cpu = process.cpuUsage(cpu0), elu = performance.eventLoopUtilization(elu0);
  return { cpu_ms: r1((cpu.user + cpu.system) / 1000), loop_busy_ms: r1(elu.active) };
}

/** Runs `f` with a ticker once a turn of the loop: the longest time between two turns (clock, CPU). */
async function held(f: () => Promise<void>) {
  const m = await onTheLoop(f);
  return { longest_task_ms: r1(m.longest), longest_task_cpu_ms: r1(m.longestCpu) };
}

/** The scenario's writes, each measured by `measure`. */
async function scenario<M>(n: number, measure: (f: () => Promise<void>) => Promise<M>) {
  let now = Date.UTC(2026, 0, 1);
  const learner = new DnsLearner(new ClusterState(), () => true, { total: n, perPod: n }, () => now);
  // A fixed pseudo-random order (the store lists by pod, address, name: learning order is not that).
  let seed = 1;
  const rand = (k: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % k);
  const learn = (i: number, at: number): void => {
    learner.store.learn(`10.244.${(i >> 9) & 255}.${((i & 511) % 250) + 2}`, `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, [`svc${i % 5000}.example.com`], '10.96.0.10', 300, at);
  };
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) { const j = rand(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  order.forEach((i, k) => learn(i, now - Math.floor((k / n) * 290_000)));
  const file = join(dir, `status-${n}.json`);
  const sf = new StatusFile(file, () => {});
  const writes = [];
  let next = n;
  for (let w = 0; w < WRITES; w++) {
    if (w > 0) {
      now += 8000;
      for (let k = 0; k < n / 50; k++) learn(rand(next), now - rand(8000));
      for (let k = 0; k < (n * 3) / 100; k++) learn(next++, now - rand(8000));
      learner.store.expire(now);
    }
    await new Promise((r) => setTimeout(r, 20));
    const m = await measure(() => sf.write(() => ({ dns: dnsStatusSection(learner, {}, now) }), { force: true }));
    writes.push({ write: w === 0 ? 'first' : `after churn ${w}`, records: learner.store.size, bytes: statSync(file).size, ...m });
  }
  learner.close();
  return writes;
}

const out = [];
for (const n of sizes) {
  const a = await scenario(n, cost), b = await scenario(n, held);
  out.push({ records: n, writes: a.map((w, i) => ({ ...w, ...b[i] })) });
}
rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
