// The scale bench's initial list alone (bench/scale.ts: KubeSource over the real list protocol,
// pages of 500, against the fake API server in its own process), repeated `rounds` times with a
// fresh KubeSource and ClusterState each, in wall and CPU time of this process. For profiling
// (`node --cpu-prof --import tsx scripts/scale-list-cpu.ts ...`) and comparing trees.
// With `events` > 0, the last round then takes that many watch events (the scale bench's bursts
// of relabelled pods, 250 each) as fast as the source absorbs them, without an engine: the
// source's own share of an event (watch stream, decode, compare, state).
//   node --expose-gc --import tsx scripts/scale-list-cpu.ts [pods=30000] [rounds=3] [events=0]

import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ClusterState } from '../src/cluster/state.ts';
import { KubeSource } from '../src/sources/kube-source.ts';
import { rawObject, rawPod } from '../support/raw-objects.ts';
import { LOCAL_NODE, isLocalPod, scaleObjects, scalePod, scaleSpecFor } from '../bench/scale-cluster.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const pods = Number(process.argv[2] ?? 30_000);
const rounds = Number(process.argv[3] ?? 3);
const events = Number(process.argv[4] ?? 0);
const spec = scaleSpecFor(pods);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };

const dir = mkdtempSync(join(tmpdir(), 'palisade-list-'));
const file = join(dir, 'cluster.jsonl');
const out = createWriteStream(file);
let objects = 0;
for (const o of scaleObjects(spec)) {
  objects++;
  if (!out.write(JSON.stringify(rawObject(o)) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
}
await new Promise<void>((r) => out.end(() => r()));
const proc = spawn(process.execPath, [...(process.env.SERVER_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.SERVER_PROF] : []), '--import', 'tsx', join(ROOT, 'support', 'fake-apiserver-main.ts'), '--crds', '--load', file], { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT });
const replies = new Map<number, () => void>();
const url = await new Promise<string>((resolve, reject) => {
  proc.once('exit', (code) => reject(new Error(`fake API server exited (${code})`)));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { ready?: boolean; url?: string; id?: number };
    if (m.ready) resolve(m.url!);
    if (m.id !== undefined) replies.get(m.id)?.();
  });
});
let nextId = 1;
const command = (cmd: Record<string, unknown>) => new Promise<void>((resolve) => {
  const id = nextId++;
  replies.set(id, resolve);
  proc.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
});
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(kubeconfig,
  `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ${url}\n    insecure-skip-tls-verify: true\n` +
  `users:\n- name: bench\n  user: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: bench\ncurrent-context: fake\n`);
try {
  for (let k = 0; k < rounds; k++) {
    gc();
    const rss0 = process.memoryUsage().rss;
    const c0 = cpu();
    const t0 = performance.now();
    const state = new ClusterState();
    const source = new KubeSource({ kubeconfig, nodeName: LOCAL_NODE, log: () => {} });
    await source.start(state);
    const wall = performance.now() - t0;
    // The monotonic clock of --cpu-prof's timestamps (µs): the list's window in a profile.
    if (process.env.LIST_MARK) console.log(`list window us: ${Number(process.hrtime.bigint() / 1000n) - Math.round(wall * 1000)} ${Number(process.hrtime.bigint() / 1000n)}`);
    const used = cpu() - c0;
    const rssPeak = process.memoryUsage().rss;
    if (events > 0 && k === rounds - 1) {
      // Bursts are made and sent ahead (their cost is the API server's); then timed until the
      // last one is in the state.
      const perBurst = 250;
      const bursts: unknown[][] = [];
      let last = '';
      for (let b = 0; b * perBurst < events; b++) {
        const objs = [];
        for (let x = 0; x < perBurst; x++) {
          let i = ((b * perBurst + x) * 7) % spec.pods;
          if (isLocalPod(i, spec)) i = (i + 1) % spec.pods;
          const p = scalePod(i, spec);
          last = `${p.namespace}/${p.name}`;
          objs.push(rawPod({ ...p, labels: { ...p.labels, burst: `b${b % 2}` } }));
        }
        bursts.push(objs);
      }
      const lastValue = `b${(bursts.length - 1) % 2}`;
      const w0 = performance.now();
      const wc0 = cpu();
      for (const objs of bursts) void command({ op: 'applyMany', objects: objs });
      while (state.pods.get(last)?.labels.burst !== lastValue) await new Promise((r) => setTimeout(r, 2));
      const ww = performance.now() - w0;
      const wc = cpu() - wc0;
      console.log(`${bursts.length * perBurst} watch events: ${ww.toFixed(0)} ms wall, ${wc.toFixed(0)} ms CPU (${((bursts.length * perBurst) / (wc / 1000)).toFixed(0)} events per CPU-second)`);
    }
    await source.stop();
    gc();
    const heap = process.memoryUsage().heapUsed;
    console.log(`${objects} objects: list ${wall.toFixed(0)} ms wall, ${used.toFixed(0)} ms CPU; rss +${((rssPeak - rss0) / 1e6).toFixed(0)} MB, heap after GC ${(heap / 1e6).toFixed(0)} MB (pods ${state.pods.size})`);
  }
} finally {
  // A clean exit (stdin closed) lets a profiled server write its profile.
  const exited = new Promise((r) => proc.once('exit', r));
  proc.stdin!.end();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
