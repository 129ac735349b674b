// `scale`: one node's agent in a cluster at Kubernetes' published limits (scale-cluster.ts:
// 150,000 pods on 5,000 nodes, 110 local pods, 10,000 NetworkPolicies, 200 cluster policies),
// fed by the fake API server (support/fake-apiserver-main.ts) in its own process over the real
// list/watch protocol, as the agent is fed in a cluster. Measured:
//   initial       list every kind through KubeSource (pages of 500, JSON decode, validation) and
//                 compile the first generation: wall and CPU ms, this process only
//   full compile  a second CompiledEngine over the same state (CPU ms)
//   rss           resident set size after the first generation (after a GC when exposed), and the
//                 process's peak over the whole run (rss_peak_bytes: above the agent's, as the full
//                 compile holds a second engine beside the first)
//   incremental   engine.update latency (wall; incremental_cpu: CPU) of single changes, applied to the state directly:
//                 a remote pod's relabel, a local pod's add, a NetworkPolicy update, and cluster
//                 policy changes: a priority change (cnp_update), a rule edit, a delete and the
//                 deleted policy's re-add (large-cluster-policies.ts: ClusterPolicyChanges; p50/p99/max
//                 over `reps` after 2 warm-up rounds)
//   watch         events/s absorbed end to end (API server -> watch -> decode -> state ->
//                 engine) at a sustained offered rate, with the lag of each burst (sent ->
//                 visible in the state and compiled)
// Everything is in one run: the VMs vary 20-40 % between runs.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ClusterState } from '../src/cluster/state.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { runIdleSteps } from './idle-steps.ts';
import { finishSweeping } from '../src/agent/idle-gc.ts';
import { wasmCopyOf } from '../src/policy/wasm-snapshot.ts';
import { KubeSource } from '../src/sources/kube-source.ts';
import { decodedClusterPolicy, rawObject, rawPod } from '../support/raw-objects.ts';
import { CNP_CHANGE_KEYS, LOCAL_NODE, SCALE, SCALE_UPDATE_KINDS, isLocalPod, scaleObjects, scalePod, scalePolicy, type ScaleSpec } from './scale-cluster.ts';
import { ClusterPolicyChanges } from './large-cluster-policies.ts';
import { prng } from './prng.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface ScaleOptions {
  readonly spec?: ScaleSpec;
  /** Measured changes per kind (default 10, after 2 warm-up rounds). */
  readonly reps?: number;
  /** Offered watch event rate per second and how long (default 2,500/s for 4 s). */
  readonly watchRate?: number;
  readonly watchSeconds?: number;
  readonly gc?: () => void;
  readonly log?: (line: string) => void;
}

function percentiles(a: readonly number[]): { p50_ms: number; p99_ms: number; max_ms: number } {
  const s = [...a].sort((x, y) => x - y);
  const at = (q: number) => +s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!.toFixed(3);
  return { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1) };
}

const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fake API server as a child process, loaded with `file`, driven over stdin/stdout. */
class ApiServerProcess {
  private next = 1;
  private readonly waiting = new Map<number, (r: { ok: boolean; result?: unknown; error?: string }) => void>();
  private constructor(private readonly proc: ChildProcess, readonly url: string) {}

  static async start(file: string): Promise<ApiServerProcess> {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'support', 'fake-apiserver-main.ts'), '--crds', '--load', file], { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT });
    const lines = createInterface({ input: proc.stdout! });
    let self: ApiServerProcess | undefined;
    return new Promise((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`fake API server exited (${code}) before it was ready`)));
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as { ready?: boolean; url?: string; id?: number; ok: boolean; result?: unknown; error?: string };
        if (msg.ready) {
          self = new ApiServerProcess(proc, msg.url!);
          resolve(self);
          return;
        }
        const w = msg.id === undefined ? undefined : self?.waiting.get(msg.id);
        if (w) {
          self!.waiting.delete(msg.id!);
          w(msg);
        }
      });
    });
  }

  command(cmd: Record<string, unknown>): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => (r.ok ? resolve(r.result) : reject(new Error(r.error))));
      this.proc.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

async function writeCluster(file: string, spec: ScaleSpec): Promise<number> {
  const out = createWriteStream(file);
  let n = 0;
  for (const o of scaleObjects(spec)) {
    n++;
    if (!out.write(JSON.stringify(rawObject(o)) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
  return n;
}

export async function scaleBench(o: ScaleOptions = {}): Promise<Record<string, unknown>> {
  const spec = o.spec ?? SCALE;
  const log = o.log ?? (() => {});
  const reps = o.reps ?? 10;
  const dir = mkdtempSync(join(tmpdir(), 'palisade-scale-'));
  let server: ApiServerProcess | undefined;
  let source: KubeSource | undefined;
  try {
    log(`scale: writing ${spec.pods} pods, ${spec.nodes} nodes, ${spec.namespaces * spec.policiesPerNamespace} policies...`);
    const objects = await writeCluster(join(dir, 'cluster.jsonl'), spec);
    log('scale: starting the fake API server...');
    server = await ApiServerProcess.start(join(dir, 'cluster.jsonl'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ${server.url}\n    insecure-skip-tls-verify: true\n` +
      `users:\n- name: bench\n  user: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: bench\ncurrent-context: fake\n`);

    // ---- initial list and compile, as the agent starts -----------------------------------------
    log('scale: initial list and compile...');
    // A full collection leaves its sweeping to V8's helper threads: without finishSweeping it ran
    // inside the timed span after it, its CPU counted in the process's (as cluster-large found,
    // docs/speed-history.md), and the RSS read after it was taken mid-sweep.
    const collect = (): void => { o.gc?.(); finishSweeping(); };
    collect();
    const rss0 = process.memoryUsage().rss;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const state = new ClusterState();
    source = new KubeSource({ kubeconfig, nodeName: LOCAL_NODE, log: () => {} });
    await source.start(state);
    const tListed = performance.now();
    const cListed = process.cpuUsage(c0);
    const engine = new CompiledEngine(state, { localNode: LOCAL_NODE });
    const tCompiled = performance.now();
    const cCompiled = process.cpuUsage(c0);
    const stats = engine.stats();
    // The WebAssembly copy of the snapshot the agent makes in idle time after its start
    // (src/agent/wasm-copy.ts): its time and size; it stays referenced (and in the RSS below), as
    // the agent holds one.
    const copy0 = performance.now();
    const copy = wasmCopyOf(engine.snapshot());
    const copyMs = performance.now() - copy0;
    let updateMs = 0, updateCpuMs = 0, convergeMs = 0;
    state.onChange((changes) => {
      const u0 = performance.now();
      const uc0 = process.cpuUsage();
      engine.update(changes);
      updateCpuMs = cpuMs(process.cpuUsage(uc0));
      updateMs = performance.now() - u0;
      // Tier tables an update left as chains are built in the agent's idle time right after it
      // (idle-steps.ts); here at once, timed apart (`converge`), as cluster-large does.
      const v0 = performance.now();
      runIdleSteps(engine);
      convergeMs = performance.now() - v0;
    });
    collect();
    const rss = process.memoryUsage().rss;
    const heap = process.memoryUsage().heapUsed;

    // ---- a full compile over the same state ------------------------------------------------------
    log('scale: full compile...');
    const f0 = process.cpuUsage();
    const fw0 = performance.now();
    new CompiledEngine(state, { localNode: LOCAL_NODE });
    const fullWall = performance.now() - fw0;
    const fullCpu = cpuMs(process.cpuUsage(f0));
    collect();

    // ---- incremental changes, applied to the state (the engine's share of an event) -----------
    log('scale: incremental changes...');
    const r = prng(0x5ca1e);
    const kinds = SCALE_UPDATE_KINDS;
    const times = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<(typeof kinds)[number], number[]>;
    const cpuTimes = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<(typeof kinds)[number], number[]>;
    const converges = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<(typeof kinds)[number], number[]>;
    const nCnp = spec.clusterPolicies.admin + spec.clusterPolicies.baseline;
    const cnpChanges = new ClusterPolicyChanges(r, spec.clusterPolicies);
    // The agent returns to the event loop after each event (and between converge steps); V8's
    // tasks run there, finalization callbacks among them, which free retired arena buffers for
    // reuse (arena-buffers.ts). Untimed.
    const turn = () => new Promise<void>((res) => setImmediate(res));
    for (let k = 0; k < reps + 2; k++) {
      const got: Record<string, number> = {};
      const gotCpu: Record<string, number> = {};
      const gotConverge: Record<string, number> = {};
      let i = r() % spec.pods;
      while (isLocalPod(i, spec)) i = r() % spec.pods;
      const pod = state.pods.get(`ns-${i % spec.namespaces}/pod-${i}`)!;
      state.upsertPod({ ...pod, labels: { ...pod.labels, version: `v${(Number(pod.labels.version!.slice(1)) + 1) % 4}` } });
      got.remote_pod_relabel = updateMs;
      gotCpu.remote_pod_relabel = updateCpuMs;
      gotConverge.remote_pod_relabel = convergeMs;
      await turn();
      const local = scalePod(spec.pods + k, spec);
      state.upsertPod({ ...local, nodeName: LOCAL_NODE });
      got.local_pod_add = updateMs;
      gotCpu.local_pod_add = updateCpuMs;
      gotConverge.local_pod_add = convergeMs;
      await turn();
      state.upsertPolicy(scalePolicy(r() % spec.namespaces, r() % spec.policiesPerNamespace, 1 + (k % 3)));
      got.policy_update = updateMs;
      gotCpu.policy_update = updateCpuMs;
      gotConverge.policy_update = convergeMs;
      await turn();
      // Cluster policy changes (a priority change, a rule edit, a delete and its re-add), as the
      // agent receives them: decoded from the API's JSON, like the list that loaded the state.
      for (const ch of cnpChanges.round(k)) {
        if (ch.kind === 'delete') state.delete('ClusterNetworkPolicy', ch.id);
        else state.upsert('ClusterNetworkPolicy', decodedClusterPolicy(ch.policy));
        got[CNP_CHANGE_KEYS[ch.kind]] = updateMs;
        gotCpu[CNP_CHANGE_KEYS[ch.kind]] = updateCpuMs;
        gotConverge[CNP_CHANGE_KEYS[ch.kind]] = convergeMs;
        await turn();
      }
      if (k >= 2) for (const kind of kinds) {
        times[kind].push(got[kind]!);
        cpuTimes[kind].push(gotCpu[kind]!);
        converges[kind].push(gotConverge[kind]!);
      }
    }
    // Wall and CPU (this process, the update alone): on a loaded machine wall time includes waits for a core.
    const incremental: Record<string, unknown> = {};
    for (const kind of kinds) incremental[kind] = { ...percentiles(times[kind]), converge: percentiles(converges[kind]) };
    const incrementalCpu: Record<string, unknown> = {};
    for (const kind of kinds) incrementalCpu[kind] = percentiles(cpuTimes[kind]);

    // ---- watch events at a sustained rate, end to end ---------------------------------------------
    const rate = o.watchRate ?? 2_500;
    const seconds = o.watchSeconds ?? 4;
    log(`scale: ${rate} watch events/s for ${seconds} s...`);
    const burstsPerSecond = 10;
    const perBurst = Math.ceil(rate / burstsPerSecond);
    const lags: number[] = [];
    const pending: { key: string; value: string; sentAt: number }[] = [];
    let sent = 0;
    const w0 = performance.now();
    const wc0 = process.cpuUsage();
    const poll = setInterval(() => {
      while (pending.length && state.pods.get(pending[0]!.key)?.labels.burst === pending[0]!.value) lags.push(performance.now() - pending.shift()!.sentAt);
    }, 2);
    for (let b = 0; b < seconds * burstsPerSecond; b++) {
      const due = w0 + (b * 1000) / burstsPerSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const objs = [];
      let last = '';
      for (let x = 0; x < perBurst; x++) {
        let i = (b * perBurst + x) * 7 % spec.pods;
        if (isLocalPod(i, spec)) i = (i + 1) % spec.pods;
        const p = scalePod(i, spec);
        last = `${p.namespace}/${p.name}`;
        // Two label values only: the events add identities once, as a rollout would, not per event.
        objs.push(rawPod({ ...p, labels: { ...p.labels, burst: `b${b % 2}` } }));
      }
      pending.push({ key: last, value: `b${b % 2}`, sentAt: performance.now() });
      void server.command({ op: 'applyMany', objects: objs });
      sent += objs.length;
    }
    while (pending.length && performance.now() - w0 < 120_000) await sleep(5);
    clearInterval(poll);
    const watchWall = performance.now() - w0;
    const watchCpu = cpuMs(process.cpuUsage(wc0));

    return {
      name: 'scale',
      pods: spec.pods,
      nodes: spec.nodes,
      local_pods: spec.localPods,
      namespaces: spec.namespaces,
      policies: spec.namespaces * spec.policiesPerNamespace,
      cluster_policies: nCnp,
      objects,
      initial_list_ms: +(tListed - t0).toFixed(0),
      initial_list_cpu_ms: +cpuMs(cListed).toFixed(0),
      initial_ms: +(tCompiled - t0).toFixed(0),
      initial_cpu_ms: +cpuMs(cCompiled).toFixed(0),
      full_compile_ms: +fullWall.toFixed(0),
      full_compile_cpu_ms: +fullCpu.toFixed(0),
      wasm_copy_ms: +copyMs.toFixed(1),
      wasm_copy_bytes: copy?.bytes ?? 0,
      rss_bytes: rss,
      rss_delta_bytes: rss - rss0,
      rss_peak_bytes: process.resourceUsage().maxRSS * 1024,
      heap_used_bytes: heap,
      tables: stats.tables,
      table_bytes: stats.tableBytes,
      reps,
      incremental,
      incremental_cpu: incrementalCpu,
      watch_offered_per_s: rate,
      watch_events: sent,
      watch_bursts_unabsorbed: pending.length,
      watch_absorbed_per_s: +((sent / watchWall) * 1000).toFixed(0),
      watch_cpu_ms: +watchCpu.toFixed(0),
      watch_burst_lag: lags.length ? percentiles(lags) : null,
    };
  } finally {
    await source?.stop();
    server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
