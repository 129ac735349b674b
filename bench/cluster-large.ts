// `cluster-large`: the large cluster (10,000 pods, 1,000 NetworkPolicies) with and without the
// 100 cluster policies of large-cluster-policies.ts, measured within one run (this machine's
// speed varies 20-40 % from run to run, so only figures of one run compare):
//   classify      the classify-large loop (same packets) on both snapshots, in interleaved
//                 rounds (with/without, then without/with, ...); the ratio is the median of the
//                 per-round ratios of CPU time per packet; for both judges, the agent's default
//                 (the snapshots' WebAssembly copies) and the JavaScript snapshots
//   compile       full compile of each cluster (wall and CPU time)
//   incremental   recompile latency of single changes on the cluster with cluster policies:
//                 the rounds of update-round.ts (pod add, pod relabel, namespace relabel,
//                 NetworkPolicy update, and cluster policy priority change, rule edit, delete
//                 and add; p50/p99/max over `reps` of each kind after WARMUP unmeasured rounds);
//                 an update reaching many Admin or Baseline tables publishes chains in their
//                 place (tier-tables.ts): its latency is the time to enforce, and `converge` the
//                 wall time of the converge() steps that then build the tables and the collection
//                 after them, with V8's sweeping after a full one (the agent runs them in idle
//                 time; here right after the update, untimed in the latency), then a turn of
//                 the event loop as the agent has between updates (updateRoundAsync);
//                 per-update trace with PALISADE_BENCH_TRACE=1 (update-trace.ts)

import v8 from 'node:v8';
import { Classifier, ACCEPT } from '../src/dataplane/classifier.ts';
import { WasmSnapshot, wasmCopyOf } from '../src/policy/wasm-snapshot.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { finishSweeping } from '../src/agent/idle-gc.ts';
import { runIdleSteps } from './idle-steps.ts';
import { LARGE, buildLargeCluster } from './large-cluster.ts';
import { LARGE_CLUSTER_POLICIES, isGuardrail, largeClusterPolicies } from './large-cluster-policies.ts';
import { UPDATE_KINDS, updateRoundAsync, type UpdateKind } from './update-round.ts';
import { prng } from './prng.ts';
import { UpdateTrace } from './update-trace.ts';

export interface PacketStream {
  readonly buf: Buffer;
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  readonly n: number;
}

export interface ClusterLargeOptions {
  /** The classify-large traffic. */
  readonly stream: PacketStream;
  /** Packets per variant over all rounds. */
  readonly packets: number;
  /** Measured changes per kind. */
  readonly reps: number;
  /** Interleaved classification rounds (default 6). */
  readonly rounds?: number;
  readonly gc?: () => void;
  readonly log?: (line: string) => void;
}


let sink = 0;

/** `count` classifications over the stream's packets in turn (no conntrack); exported for scripts/tier-judge-cpu.ts. */
export function classifyLoop(cls: Pick<Classifier, 'classify'>, s: PacketStream, count: number): number {
  const buf = s.buf, offs = s.offs, lens = s.lens, n = s.n;
  let acc = 0;
  let k = 0;
  for (let i = 0; i < count; i++) {
    acc = (acc + cls.classify(buf, offs[k]!, lens[k]!, 0)) & 0xfffffff;
    if (++k === n) k = 0;
  }
  return acc;
}

const median = (a: readonly number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function percentiles(a: readonly number[]): { p50_ms: number; p99_ms: number; max_ms: number } {
  const s = [...a].sort((x, y) => x - y);
  const at = (q: number) => +s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!.toFixed(3);
  return { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1) };
}

function timed<T>(fn: () => T): { value: T; wallMs: number; cpuMs: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = fn();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { value, wallMs, cpuMs: (c.user + c.system) / 1000 };
}

export async function clusterLarge(o: ClusterLargeOptions): Promise<Record<string, unknown>> {
  const log = o.log ?? (() => {});
  const rounds = o.rounds ?? 6;
  const cnps = largeClusterPolicies();

  // ---- full compile, without then with (the state build is not timed) ------------------------
  log('cluster-large: full compiles...');
  o.gc?.();
  const without = buildLargeCluster();
  const cw = timed(() => new CompiledEngine(without));
  o.gc?.();
  const withState = buildLargeCluster(LARGE, cnps);
  const heap0 = v8.getHeapStatistics().used_heap_size;
  const cc = timed(() => new CompiledEngine(withState));
  o.gc?.();
  const heap1 = v8.getHeapStatistics().used_heap_size;
  const engineWithout = cw.value, engineWith = cc.value;
  const statsWith = engineWith.stats(), statsWithout = engineWithout.stats();

  // ---- classification, interleaved rounds ------------------------------------------------------
  log('cluster-large: classify with and without cluster policies...');
  const s = o.stream;
  // Both judges the agent has: the WebAssembly copy it judges with once idle (the default,
  // src/agent/wasm-copy.ts) and the JavaScript snapshot (between an update and its copy, and
  // with --no-wasm-judge); each with and without the cluster policies, all in the same rounds.
  const jsWithout = engineWithout.snapshot(), jsWith = engineWith.snapshot();
  const variants = [
    { cnp: false, judge: 'wasm', cls: new Classifier(wasmCopyOf(jsWithout) ?? jsWithout) },
    { cnp: true, judge: 'wasm', cls: new Classifier(wasmCopyOf(jsWith) ?? jsWith) },
    { cnp: false, judge: 'js', cls: new Classifier(jsWithout) },
    { cnp: true, judge: 'js', cls: new Classifier(jsWith) },
  ].map((v) => ({ ...v, ns: [] as number[], cpu: [] as number[] }));
  const accepted = (cls: Classifier) => {
    let a = 0;
    for (let k = 0; k < s.n; k++) if (cls.classify(s.buf, s.offs[k]!, s.lens[k]!, 0) === ACCEPT) a++;
    return +(a / s.n).toFixed(3);
  };
  const acceptedWith = accepted(variants[1]!.cls), acceptedWithout = accepted(variants[0]!.cls);
  for (let w = 0; w < 8; w++) for (const v of variants) sink = (sink + classifyLoop(v.cls, s, 250_000)) & 0xfffffff;
  const per = Math.max(100_000, Math.ceil(o.packets / rounds));
  const ratios: number[] = [], ratiosJs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      // A full collection leaves its sweeping to V8's helper threads, which would run during the
      // round: their CPU counted in the round's (process-wide) time, and the sweep competed for
      // the caches. finishSweeping ends it first, untimed.
      o.gc?.();
      finishSweeping();
      const t = timed(() => classifyLoop(v.cls, s, per));
      sink = (sink + t.value) & 0xfffffff;
      v.ns.push((t.wallMs * 1e6) / per);
      v.cpu.push((t.cpuMs * 1e6) / per);
    }
    // Throughput with / without: below 1 when the cluster policies slow classification down.
    const last = (i: number) => variants[i]!.cpu[r]!;
    ratios.push(last(0) / last(1));
    ratiosJs.push(last(2) / last(3));
  }
  const [wasmWithout, wasmWith, jsClsWithout, jsClsWith] = variants as [typeof variants[0], typeof variants[0], typeof variants[0], typeof variants[0]];

  // ---- incremental recompiles ------------------------------------------------------------------
  log('cluster-large: incremental recompiles...');
  let last = 0, lastConverge = 0;
  const trace = UpdateTrace.fromEnv();
  withState.onChange((changes) => {
    trace?.begin();
    const t0 = process.hrtime.bigint();
    engineWith.update(changes);
    const t1 = process.hrtime.bigint();
    last = Number(t1 - t0) / 1e6;
    trace?.end('update', last);
    trace?.begin();
    // The agent's idle-time steps (idle-steps.ts).
    const t2 = process.hrtime.bigint();
    runIdleSteps(engineWith);
    lastConverge = Number(process.hrtime.bigint() - t2) / 1e6;
    trace?.end('idle', lastConverge);
  });
  const kinds = UPDATE_KINDS;
  const times: Record<UpdateKind, number[]> = Object.fromEntries(kinds.map((k) => [k, []])) as never;
  const converges: Record<UpdateKind, number[]> = Object.fromEntries(kinds.map((k) => [k, []])) as never;
  const cold: Record<string, number> = {};
  const guardrailMs: number[] = [];
  const r = prng(0xc0ffee);
  const WARMUP = 2;
  for (let k = 0; k < o.reps + WARMUP; k++) {
    await updateRoundAsync(withState, r, k, {
      before: (kind) => {
        if (trace) trace.label = `rep${k} ${kind}`;
      },
      after: (kind, cnp) => {
        if (cnp !== undefined && isGuardrail(cnp)) guardrailMs.push(last);
        if (k === 0) cold[kind] = +last.toFixed(3);
        if (k < WARMUP) return;
        times[kind].push(last);
        converges[kind].push(lastConverge);
      },
    });
  }
  const incremental: Record<string, unknown> = {};
  for (const kind of kinds) incremental[kind] = { ...percentiles(times[kind]), cold_ms: cold[kind], converge: percentiles(converges[kind]) };

  return {
    name: 'cluster-large',
    pods: LARGE.pods,
    policies: LARGE.namespaces * LARGE.policiesPerNamespace,
    cluster_policies: LARGE_CLUSTER_POLICIES.admin + LARGE_CLUSTER_POLICIES.baseline,
    cluster_policies_admin: LARGE_CLUSTER_POLICIES.admin,
    cluster_policies_baseline: LARGE_CLUSTER_POLICIES.baseline,
    cluster_rules: cnps.reduce((n, p) => n + p.ingress.length + p.egress.length, 0),
    compile_ms: +cc.wallMs.toFixed(1),
    compile_cpu_ms: +cc.cpuMs.toFixed(1),
    compile_ms_without: +cw.wallMs.toFixed(1),
    compile_cpu_ms_without: +cw.cpuMs.toFixed(1),
    heap_delta_bytes: heap1 - heap0,
    tables: statsWith.tables,
    table_bytes: statsWith.tableBytes,
    tables_without: statsWithout.tables,
    table_bytes_without: statsWithout.tableBytes,
    classify_rounds: rounds,
    classify_packets_per_round: per,
    /** The agent's default judge (the WebAssembly copy): */
    classify_judge: wasmWith.cls.snapshot instanceof WasmSnapshot ? 'wasm' : 'js',
    classify_ns_per_packet: +median(wasmWith.ns).toFixed(2),
    classify_ns_per_packet_without: +median(wasmWithout.ns).toFixed(2),
    classify_cpu_ns_per_packet: +median(wasmWith.cpu).toFixed(2),
    classify_cpu_ns_per_packet_without: +median(wasmWithout.cpu).toFixed(2),
    /** Median over rounds of (CPU ns/packet without) / (with): 0.9 = 10 % slower with cluster policies. */
    classify_throughput_ratio: +median(ratios).toFixed(3),
    classify_throughput_ratios: ratios.map((x) => +x.toFixed(3)),
    /** The same with the JavaScript snapshot judging (--no-wasm-judge, and between an update and its copy). */
    classify_js_cpu_ns_per_packet: +median(jsClsWith.cpu).toFixed(2),
    classify_js_cpu_ns_per_packet_without: +median(jsClsWithout.cpu).toFixed(2),
    classify_js_throughput_ratio: +median(ratiosJs).toFixed(3),
    accepted_fraction: acceptedWith,
    accepted_fraction_without: acceptedWithout,
    reps: o.reps,
    warmup_reps: WARMUP,
    incremental,
    /** Every cluster policy change (of any kind) that hit one of the 4 policies selecting every pod. */
    guardrail_changes: guardrailMs.length,
    guardrail_change_max_ms: guardrailMs.length ? +Math.max(...guardrailMs).toFixed(3) : null,
  };
}

export function keepAliveClusterLarge(): number {
  return sink;
}
