// The benchmark suite behind `palisade bench` and `npm run bench`. Every per-packet benchmark
// reads prebuilt packets from ONE Buffer (offset/length arrays, as an NFQUEUE batch or a ring
// would hand them over) and reports:
//   pps / ns_per_packet   a plain hrtime loop over `packets` packets after warm-up
//   heap_delta_bytes      heap growth across that loop (no GC forced in between)
//   gcs                   garbage collections during the loop (0 when nothing is allocated)
//   bjs_pps / bjs_rme     the same loop sampled by benchmark.js (batches of BATCH packets)
//   pps_cpu / cpu_ns_per_packet   the same loop divided by this process's CPU time
// Figures depend on what else the machine runs; env.loadavg is recorded with them.

import os from 'node:os';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PerformanceObserver } from 'node:perf_hooks';
import Benchmark from 'benchmark';
import { Classifier, ACCEPT } from '../src/dataplane/classifier.ts';
import { Conntrack } from '../src/dataplane/conntrack.ts';
import { PacketInfo } from '../src/dataplane/packet-info.ts';
import { parsePacket } from '../src/dataplane/packet-parser.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { finishSweeping } from '../src/agent/idle-gc.ts';
import { ClusterState } from '../src/cluster/state.ts';
import type { LabelSelector, NetworkPolicy, Pod, PolicyRule } from '../src/cluster/model.ts';
import type { RuleSnapshot } from '../src/policy/engine-api.ts';
import { WasmSnapshot, wasmCopyOf } from '../src/policy/wasm-snapshot.ts';
import { LARGE, buildLargeCluster, largePod, largePolicy, podIPv4, podIPv6 } from './large-cluster.ts';
import { clusterLarge } from './cluster-large.ts';
import { scaleBench } from './scale.ts';
import { PROTO, TCPF, packet, replyPacket, pack, words } from '../support/packets.ts';
import { prng } from './prng.ts';

export const BENCH_NAMES = ['parse-only', 'classify-small', 'classify-large', 'conntrack-hit', 'compile-large', 'cluster-large', 'scale'] as const;
export type BenchName = (typeof BENCH_NAMES)[number];

/** Single-core targets from the project brief. */
const TARGET_PPS: Partial<Record<BenchName, number>> = {
  'parse-only': 25e6,
  'classify-large': 10e6,
  'conntrack-hit': 15e6,
};

export interface BenchResult {
  readonly name: string;
  readonly pps?: number;
  readonly ns_per_packet?: number;
  readonly heap_delta_bytes?: number;
  readonly [extra: string]: unknown;
}
export interface BenchReport {
  readonly results: BenchResult[];
  readonly env: Record<string, unknown>;
}
export interface SuiteOptions {
  /** Packets per measured loop (default 10,000,000). */
  readonly packets?: number;
  /** Run only these benchmarks. */
  readonly only?: readonly string[];
  /** Also sample with benchmark.js (default true). */
  readonly benchmarkjs?: boolean;
  /** Measured incremental recompiles per kind in compile-large (default 200, after 10 unmeasured warm-up rounds). */
  readonly reps?: number;
  /** Measured recompiles per kind of change in cluster-large (default 10, after 2 warm-up rounds). */
  readonly clusterReps?: number;
  /** Progress lines (stderr). */
  readonly log?: (line: string) => void;
}

export interface Stream {
  readonly buf: Buffer;
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  readonly n: number;
}

const BATCH = 65_536;
/**
 * gc() when node runs with --expose-gc; otherwise obtained at run time (the flag only takes
 * effect for contexts created afterwards), so `palisade bench` gets a clean heap baseline too.
 */
const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc ?? (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();

// ---- packet loops (one per kind so each call site stays monomorphic) -------------------------

function classifyLoop(cls: Classifier, s: Stream, count: number, now: number): number {
  const buf = s.buf, offs = s.offs, lens = s.lens, n = s.n;
  let acc = 0;
  let k = 0;
  for (let i = 0; i < count; i++) {
    acc = (acc + cls.classify(buf, offs[k]!, lens[k]!, now)) & 0xfffffff;
    if (++k === n) k = 0;
  }
  return acc;
}

function parseLoop(info: PacketInfo, s: Stream, count: number): number {
  const buf = s.buf, offs = s.offs, lens = s.lens, n = s.n;
  let acc = 0;
  let k = 0;
  for (let i = 0; i < count; i++) {
    // Keep acc a small integer: an accumulator that outgrows int31 turns into a boxed double
    // in unoptimized code, which would be the harness allocating, not the parser.
    if (parsePacket(buf, offs[k]!, lens[k]!, info)) acc = (acc + info.dstPort) & 0xfffffff;
    if (++k === n) k = 0;
  }
  return acc;
}

let sink = 0;

function measure(name: BenchName, loop: (count: number) => number, packets: number, useBjs: boolean, extra: Record<string, unknown>): BenchResult {
  // Warm-up: several calls so the loop function itself (not only its OSR entry) is optimized
  // before anything is timed.
  for (let w = 0; w < 8; w++) sink = (sink + loop(Math.min(250_000, packets))) & 0xfffffff;
  // The collection's sweeping, left to V8's helper threads, is finished before the clock starts:
  // run during the loop, its CPU would count as the loop's (cluster-large.ts says more).
  gc?.();
  finishSweeping();
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  const heap0 = v8.getHeapStatistics().used_heap_size;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  sink = (sink + loop(packets)) & 0xfffffff;
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  // CPU time of this process (user + system): on a shared machine, time spent descheduled
  // does not count, so this is closer to what one dedicated core would do.
  const cpuNs = (cpu.user + cpu.system) * 1000;
  const heap1 = v8.getHeapStatistics().used_heap_size;
  // GC entries are delivered asynchronously; takeRecords() collects the pending ones now.
  gcs += obs.takeRecords().length;
  obs.disconnect();
  const pps = packets / (ns / 1e9);
  const r: Record<string, unknown> = {
    name,
    pps: Math.round(pps),
    ns_per_packet: +(ns / packets).toFixed(2),
    pps_cpu: Math.round(packets / (cpuNs / 1e9)),
    cpu_ns_per_packet: +(cpuNs / packets).toFixed(2),
    heap_delta_bytes: heap1 - heap0,
    packets,
    gcs,
    gc_exposed: gc !== undefined,
  };
  const target = TARGET_PPS[name];
  if (target !== undefined) {
    r.target_pps = target;
    r.meets_target = pps >= target;
    r.meets_target_cpu = packets / (cpuNs / 1e9) >= target;
  }
  if (useBjs) {
    Benchmark.support.decompilation = false;
    const b = new Benchmark(name, { fn: () => { sink = (sink + loop(BATCH)) & 0xfffffff; }, maxTime: 1, minSamples: 5 }).run({ async: false });
    if (!b.error) {
      r.bjs_pps = Math.round(b.hz * BATCH);
      r.bjs_rme_percent = +b.stats.rme.toFixed(2);
      r.bjs_samples = b.stats.sample.length;
    }
  }
  return { ...r, ...extra } as BenchResult;
}

// ---- the 9-pod e2e model ------------------------------------------------------------------------

const sel = (matchLabels: Record<string, string> = {}, matchExpressions: LabelSelector['matchExpressions'] = []): LabelSelector => ({ matchLabels, matchExpressions });

/** Namespaces x, y, z with pods a, b, c at 10.244.N.P (the upstream e2e model) and a mix of policies. */
export function buildSmallCluster(): ClusterState {
  const state = new ClusterState();
  const nss = ['x', 'y', 'z'];
  const pol = (namespace: string, name: string, podSelector: LabelSelector, ingress: PolicyRule[] | null, egress: PolicyRule[] | null): NetworkPolicy => ({
    namespace, name, podSelector,
    policyTypes: { ingress: ingress !== null, egress: egress !== null },
    ingress: ingress ?? [], egress: egress ?? [],
  });
  state.batch(() => {
    state.upsertNode({ name: 'node-1', addresses: ['10.0.0.1'] });
    nss.forEach((ns, n) => {
      state.upsertNamespace({ name: ns, labels: { ns, 'kubernetes.io/metadata.name': ns } });
      ['a', 'b', 'c'].forEach((p, k) => {
        const pod: Pod = {
          namespace: ns, name: p, labels: { pod: p }, nodeName: 'node-1', hostNetwork: false, phase: 'Running',
          ips: [`10.244.${n + 1}.${k + 1}`],
          ports: [80, 81].flatMap((port) => (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol }))),
        };
        state.upsertPod(pod);
      });
    });
    // x: default deny ingress, then x/a open to namespace y on the named port serve-80-tcp.
    state.upsertPolicy(pol('x', 'deny-all', sel(), [], null));
    state.upsertPolicy(pol('x', 'allow-y-to-a', sel({ pod: 'a' }), [{ peers: [{ namespaceSelector: sel({ ns: 'y' }) }], ports: [{ protocol: 'TCP', port: 'serve-80-tcp' }] }], null));
    // y/b: ingress from pod b of any namespace, ports 80-81 TCP and UDP 80.
    state.upsertPolicy(pol('y', 'b-from-bs', sel({ pod: 'b' }), [{ peers: [{ namespaceSelector: sel(), podSelector: sel({ pod: 'b' }) }], ports: [{ protocol: 'TCP', port: 80, endPort: 81 }, { protocol: 'UDP', port: 80 }] }], null));
    // z/c: egress only to x, and to 10.244.0.0/16 except y's /24 on SCTP.
    state.upsertPolicy(pol('z', 'c-egress', sel({ pod: 'c' }), null, [
      { peers: [{ namespaceSelector: sel({ ns: 'x' }) }], ports: [] },
      { peers: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] } }], ports: [{ protocol: 'SCTP', port: 80 }] },
    ]));
    // z: matchExpressions ingress for a and b.
    state.upsertPolicy(pol('z', 'ab-from-not-c', sel({}, [{ key: 'pod', operator: 'In', values: ['a', 'b'] }]), [
      { peers: [{ podSelector: sel({}, [{ key: 'pod', operator: 'NotIn', values: ['c'] }]), namespaceSelector: sel() }], ports: [] },
    ], null));
  });
  return state;
}

function smallStream(): Stream {
  const ips: string[] = [];
  for (let n = 1; n <= 3; n++) for (let p = 1; p <= 3; p++) ips.push(`10.244.${n}.${p}`);
  const pkts: Buffer[] = [];
  let sp = 32768;
  for (const src of [...ips, '10.0.0.1']) {
    for (const dst of ips) {
      for (const [proto, port] of [[PROTO.TCP, 80], [PROTO.TCP, 81], [PROTO.UDP, 80], [PROTO.UDP, 81], [PROTO.SCTP, 80], [PROTO.ICMP, 0]] as const) {
        pkts.push(packet(src, dst, proto, sp++, port));
      }
    }
  }
  const p = pack(pkts);
  return { ...p, n: pkts.length };
}

// ---- the large cluster's traffic -------------------------------------------------------------

export interface Tuple {
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport: number;
  readonly dport: number;
}

export function largeTuples(count: number, seed: number): Tuple[] {
  const r = prng(seed);
  const out: Tuple[] = [];
  const PORTS = [80, 443, 444, 8080, 8081, 8085, 8090, 9090, 53, 3868, 3869, 5432, 6379];
  for (let i = 0; i < count; i++) {
    const a = r() % LARGE.pods;
    const b = r() % LARGE.pods;
    // Half the pods are dual-stack (even index); use IPv6 for a third of the pairs that can.
    const six = a % 2 === 0 && b % 2 === 0 && r() % 3 === 0;
    let src = six ? podIPv6(a) : podIPv4(a);
    let dst = six ? podIPv6(b) : podIPv4(b);
    // Some traffic from outside the cluster (ipBlock peers) and from nodes.
    const x = r() % 20;
    if (x === 0) src = six ? `2001:db8::${(r() & 0xffff).toString(16)}` : `203.0.113.${r() & 255}`;
    else if (x === 1) src = six ? `fd00:ffff::${(1 + (r() % LARGE.nodes)).toString(16)}` : `192.168.0.${1 + (r() % LARGE.nodes)}`;
    const pr = r() % 10;
    const proto = pr < 7 ? PROTO.TCP : pr < 9 ? PROTO.UDP : PROTO.SCTP;
    const dport = r() % 8 === 0 ? 1024 + (r() % 60000) : PORTS[r() % PORTS.length]!;
    out.push({ src, dst, proto, sport: 32768 + (r() % 28000), dport });
  }
  return out;
}

/**
 * Connections the large cluster's policies allow: frontend "server" pods (not isolated for
 * egress) to app-7 pods (np-7 opens their ingress to everyone), TCP and UDP, v4 and v6.
 */
function establishedTuples(count: number, seed: number): Tuple[] {
  const r = prng(seed);
  const out: Tuple[] = [];
  while (out.length < count) {
    const a = 3 * (r() % Math.floor(LARGE.pods / 3));
    if (a % 5 === 0) continue;
    const b = 40 * (r() % Math.floor(LARGE.pods / 40)) + 7;
    const six = a % 2 === 0 && b % 2 === 0 && r() % 3 === 0;
    out.push({
      src: six ? podIPv6(a) : podIPv4(a), dst: six ? podIPv6(b) : podIPv4(b),
      proto: r() % 4 === 0 ? PROTO.UDP : PROTO.TCP, sport: 32768 + (r() % 28000), dport: 8080,
    });
  }
  return out;
}

function streamOf(pkts: Buffer[]): Stream {
  const p = pack(pkts);
  return { ...p, n: pkts.length };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return +sorted[i]!.toFixed(3);
}

function environment(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    kernel: os.release(),
    platform: `${os.platform()}-${os.arch()}`,
    loadavg: os.loadavg().map((x) => +x.toFixed(2)),
    total_mem_bytes: os.totalmem(),
    gc_exposed: gc !== undefined,
    timestamp: new Date().toISOString(),
  };
}

// ---- the suite --------------------------------------------------------------------------------

export async function runSuite(opts: SuiteOptions = {}): Promise<BenchReport> {
  const packets = opts.packets ?? 10_000_000;
  const useBjs = opts.benchmarkjs ?? true;
  const reps = opts.reps ?? 200;
  const log = opts.log ?? (() => {});
  // cluster-large and scale run only when named: they build clusters of 10,000 and 150,000 pods
  // (15-30 s each, and about 1 GB of memory for scale; the README's Speed section).
  const want = (n: BenchName) => (!opts.only || opts.only.length === 0 ? n !== 'cluster-large' && n !== 'scale' : opts.only.includes(n));
  for (const o of opts.only ?? []) {
    if (!(BENCH_NAMES as readonly string[]).includes(o)) throw new Error(`unknown benchmark "${o}" (known: ${BENCH_NAMES.join(', ')})`);
  }
  const env: Record<string, unknown> = { ...environment(), packets_per_run: packets };
  const results: BenchResult[] = [];

  // First, while the heap holds nothing else of ours, so its RSS growth is the compile's own.
  if (want('compile-large')) {
    log('compile-large...');
    results.push(compileLarge(reps));
  }

  let large: { state: ClusterState; engine: CompiledEngine; tuples: Tuple[]; stream: Stream } | undefined;
  const needLarge = want('parse-only') || want('classify-large') || want('conntrack-hit') || want('cluster-large');
  if (needLarge) {
    log('building the large cluster and its traffic...');
    const state = buildLargeCluster();
    const engine = new CompiledEngine(state);
    const tuples = largeTuples(100_000, 0x5eed);
    const stream = streamOf(tuples.map((t) => packet(t.src, t.dst, t.proto, t.sport, t.dport)));
    large = { state, engine, tuples, stream };
  }

  if (want('parse-only') && large) {
    log('parse-only...');
    const info = new PacketInfo();
    const s = large.stream;
    results.push(measure('parse-only', (c) => parseLoop(info, s, c), packets, useBjs, { distinct_packets: s.n, bytes: s.buf.length }));
  }

  if (want('classify-small')) {
    log('classify-small...');
    const state = buildSmallCluster();
    const engine = new CompiledEngine(state);
    const s = smallStream();
    const cls = new Classifier(agentJudge(engine.snapshot()));
    const accepted = countAccepted(cls, s);
    results.push(measure('classify-small', (c) => classifyLoop(cls, s, c, 0), packets, useBjs, {
      distinct_packets: s.n, accepted_fraction: +(accepted / s.n).toFixed(3), pods: 9, policies: state.policies.size, conntrack: false,
    }));
  }

  if (want('classify-large') && large) {
    log('classify-large...');
    const s = large.stream;
    // No conntrack: every packet is a NEW connection judged by the snapshot (the NFQUEUE path),
    // as the agent judges once idle: with the WebAssembly copy (src/agent/wasm-copy.ts).
    const jsSnap = large.engine.snapshot();
    const snap = agentJudge(jsSnap);
    const cls = new Classifier(snap);
    const accepted = countAccepted(cls, s);
    const v6 = large.tuples.filter((t) => t.src.includes(':')).length;
    const judge = judgeOnly(snap, large.tuples, packets, 'engine_judge_only');
    // The JavaScript snapshot on the same packets (what judges between an update and its copy,
    // and with --no-wasm-judge), through the same Classifier code, so both are in one run.
    const jsCls = new Classifier(jsSnap);
    const js = { ...jsReference(jsCls, s, packets), ...judgeOnly(jsSnap, large.tuples, packets, 'js_judge_only') };
    results.push(measure('classify-large', (c) => classifyLoop(cls, s, c, 0), packets, useBjs, {
      judge: snap instanceof WasmSnapshot ? 'wasm' : 'js',
      ...judge, ...js,
      distinct_packets: s.n, accepted_fraction: +(accepted / s.n).toFixed(3), ipv6_fraction: +(v6 / s.n).toFixed(3),
      pods: large.state.pods.size, policies: large.state.policies.size, conntrack: false,
    }));
  }

  if (want('conntrack-hit') && large) {
    log('conntrack-hit: opening flows...');
    const { cls, ct, flows, stream: s } = openFlows(agentJudge(large.engine.snapshot()), 50_000);
    const accepted = countAccepted(cls, s, 1000);
    cls.resetCounters();
    const r = measure('conntrack-hit', (c) => classifyLoop(cls, s, c, 1000), packets, useBjs, {
      distinct_packets: s.n, flows: flows.length, table_entries: ct.entries, accepted_fraction: +(accepted / s.n).toFixed(3),
    });
    results.push({ ...r, rule_lookups_during_run: cls.reasonCounts[1]! + cls.reasonCounts[2]! });
  }

  if (want('cluster-large') && large) {
    // Last: it builds two more large clusters, which would otherwise sit in the heap of the others.
    const stream = large.stream;
    large = undefined;
    gc?.();
    results.push({ ...(await clusterLarge({ stream, packets, reps: opts.clusterReps ?? 10, gc, log })) } as BenchResult);
  }

  if (want('scale')) {
    large = undefined;
    gc?.();
    results.push({ ...(await scaleBench({ reps: opts.clusterReps ?? 10, gc, log })) } as BenchResult);
  }

  env.loadavg_end = os.loadavg().map((x) => +x.toFixed(2));
  return { results, env };
}

/**
 * conntrack-hit's setup: up to `max` flows the large cluster allows, opened (handshake: SYN,
 * SYN+ACK / request, answer) in a fresh table so every flow is established and assured, and the
 * stream of their next packets, both directions of each flow back to back, flows in the order
 * they were opened (so in the order of their records; `shuffle` mixes the packets, see
 * bench/conntrack-breakdown.ts). Time 1000.
 */
export function openFlows(snap: RuleSnapshot, max: number, shuffle = false): { cls: Classifier; ct: Conntrack; flows: Tuple[]; stream: Stream } {
  const flows = allowedFlows(snap, establishedTuples(Math.max(60_000, Math.ceil(max * 1.2)), 0xf10e), max);
  const ct = new Conntrack({ capacity: 1 << 18, seed: 7 });
  const cls = new Classifier(snap, { conntrack: ct });
  const open: Buffer[] = [];
  const hits: Buffer[] = [];
  for (const t of flows) {
    open.push(packet(t.src, t.dst, t.proto, t.sport, t.dport, TCPF.SYN), replyPacket(t.src, t.dst, t.proto, t.sport, t.dport, TCPF.SYN | TCPF.ACK));
    hits.push(packet(t.src, t.dst, t.proto, t.sport, t.dport, TCPF.ACK | TCPF.PSH), replyPacket(t.src, t.dst, t.proto, t.sport, t.dport, TCPF.ACK));
  }
  const os1 = streamOf(open);
  for (let k = 0; k < os1.n; k++) cls.classify(os1.buf, os1.offs[k]!, os1.lens[k]!, 1000);
  if (shuffle) {
    const r = prng(42);
    for (let i = hits.length - 1; i > 0; i--) {
      const j = r() % (i + 1);
      const t = hits[i]!; hits[i] = hits[j]!; hits[j] = t;
    }
  }
  return { cls, ct, flows, stream: streamOf(hits) };
}

/**
 * Tuples as judgeLoop reads them: per tuple 8 int32 address words in `w` (source, then
 * destination; IPv4 uses the first of each 4) and 3 numbers in `meta` (family 4 or 6, protocol,
 * destination port), so the loop times the judge and not the parsing.
 */
export interface JudgeInput {
  readonly w: Int32Array;
  readonly meta: Int32Array;
  readonly n: number;
}

export function judgeInput(tuples: readonly Tuple[]): JudgeInput {
  const n = tuples.length;
  const w = new Int32Array(n * 8);
  const meta = new Int32Array(n * 3);
  tuples.forEach((t, i) => {
    const sw = words(t.src), dw = words(t.dst);
    for (let k = 0; k < sw.length; k++) { w[i * 8 + k] = sw[k]! | 0; w[i * 8 + 4 + k] = dw[k]! | 0; }
    meta[i * 3] = sw.length === 1 ? 4 : 6;
    meta[i * 3 + 1] = t.proto;
    meta[i * 3 + 2] = t.dport;
  });
  return { w, meta, n };
}

/**
 * `count` judgements (judge4/judge6) over the input's tuples in turn; returns how many were
 * allowed (masked), for the caller to sink. `stopAtDenial`: as the classifier judges new
 * connections (engine-api.ts); false judges both sides always. Exported for scripts/tier-judge-cpu.ts.
 */
export function judgeLoop(snap: Pick<RuleSnapshot, 'judge4' | 'judge6'>, input: JudgeInput, count: number, stopAtDenial = true): number {
  const { w, meta, n } = input;
  let acc = 0;
  let k = 0;
  for (let i = 0; i < count; i++) {
    const o = k * 8, m = k * 3;
    const ok = meta[m] === 4
      ? snap.judge4(w[o]!, w[o + 4]!, meta[m + 1]!, meta[m + 2]!, stopAtDenial)
      : snap.judge6(w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!, w[o + 4]!, w[o + 5]!, w[o + 6]!, w[o + 7]!, meta[m + 1]!, meta[m + 2]!, stopAtDenial);
    if (ok) acc++;
    if (++k === n) k = 0;
  }
  return acc & 0xfffffff;
}

/**
 * The engine alone on the same tuples (judge4/judge6 on pre-parsed int32 words, no parsing and
 * no classifier), to tell the classifier's share of classify-large from the engine's.
 */
function judgeOnly(snap: RuleSnapshot, tuples: readonly Tuple[], packets: number, key: string): Record<string, number> {
  const input = judgeInput(tuples);
  const loop = (count: number): number => judgeLoop(snap, input, count);
  for (let i = 0; i < 8; i++) sink = (sink + loop(100_000)) & 0xfffffff;
  const count = Math.min(packets, 3_000_000);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  sink = (sink + loop(count)) & 0xfffffff;
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return {
    [`${key}_pps`]: Math.round(count / (ns / 1e9)),
    [`${key}_ns`]: +(ns / count).toFixed(2),
    [`${key}_cpu_ns`]: +(((cpu.user + cpu.system) * 1000) / count).toFixed(2),
  };
}

/** The judge the agent classifies with once idle: the snapshot's WebAssembly copy (src/agent/wasm-copy.ts). */
export function agentJudge(snap: RuleSnapshot): RuleSnapshot {
  return wasmCopyOf(snap) ?? snap;
}

/** classifyLoop through `cls` (3 M packets at most, after a warm-up): js_cpu_ns_per_packet and js_pps_cpu. */
function jsReference(cls: Classifier, s: Stream, packets: number): Record<string, number> {
  for (let w = 0; w < 8; w++) sink = (sink + classifyLoop(cls, s, Math.min(250_000, packets), 0)) & 0xfffffff;
  gc?.();
  finishSweeping();
  const count = Math.min(packets, 3_000_000);
  const cpu0 = process.cpuUsage();
  sink = (sink + classifyLoop(cls, s, count, 0)) & 0xfffffff;
  const cpu = process.cpuUsage(cpu0);
  const cpuNs = ((cpu.user + cpu.system) * 1000) / count;
  return { js_cpu_ns_per_packet: +cpuNs.toFixed(2), js_pps_cpu: Math.round(1e9 / cpuNs) };
}

function countAccepted(cls: Classifier, s: Stream, now = 0): number {
  let a = 0;
  for (let k = 0; k < s.n; k++) if (cls.classify(s.buf, s.offs[k]!, s.lens[k]!, now) === ACCEPT) a++;
  return a;
}

/** Tuples the snapshot allows, deduplicated, at most `max`. */
function allowedFlows(snap: RuleSnapshot, tuples: readonly Tuple[], max: number): Tuple[] {
  const cls = new Classifier(snap);
  const seen = new Set<string>();
  const out: Tuple[] = [];
  for (const t of tuples) {
    if (out.length >= max) break;
    const key = `${t.src}|${t.dst}|${t.proto}|${t.sport}|${t.dport}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const p = packet(t.src, t.dst, t.proto, t.sport, t.dport);
    if (cls.classify(p, 0, p.length, 0) === ACCEPT) out.push(t);
  }
  return out;
}

function compileLarge(reps: number): BenchResult {
  gc?.();
  const rssBase = process.memoryUsage().rss;
  const state = buildLargeCluster();
  gc?.();
  const rss0 = process.memoryUsage().rss;
  const heap0 = v8.getHeapStatistics().used_heap_size;
  const t0 = process.hrtime.bigint();
  const engine = new CompiledEngine(state);
  const compileMs = Number(process.hrtime.bigint() - t0) / 1e6;
  gc?.();
  const mem = process.memoryUsage();
  const heap1 = v8.getHeapStatistics().used_heap_size;

  let last = 0;
  state.onChange((changes) => {
    const s = process.hrtime.bigint();
    engine.update(changes);
    last = Number(process.hrtime.bigint() - s) / 1e6;
  });
  const relabel: number[] = [];
  const add: number[] = [];
  const policy: number[] = [];
  const r = prng(99);
  // The first rounds run the update paths cold (the JIT has not compiled them yet, as in an
  // agent's first minutes): reported as cold_ms, then WARMUP rounds are left out of the
  // percentiles, which describe the steady state of a long-running agent.
  const WARMUP = 10;
  const cold: Record<string, number> = {};
  for (let k = 0; k < reps + WARMUP; k++) {
    // One pod relabel (it moves between selector matches), one pod add, one policy update.
    const i = r() % LARGE.pods;
    const before = state.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
    state.upsertPod({ ...before, labels: { ...before.labels, tier: before.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } });
    const tRelabel = last;
    state.upsertPod(largePod(LARGE.pods + k));
    const tAdd = last;
    state.upsertPolicy(largePolicy(r() % LARGE.namespaces, r() % LARGE.policiesPerNamespace, 1 + (k % 3)));
    const tPolicy = last;
    if (k === 0) Object.assign(cold, { pod_relabel: tRelabel, pod_add: tAdd, policy_update: tPolicy });
    if (k < WARMUP) continue;
    relabel.push(tRelabel);
    add.push(tAdd);
    policy.push(tPolicy);
  }
  const q = (a: number[]) => {
    const s = [...a].sort((x, y) => x - y);
    return { p50_ms: percentile(s, 0.5), p99_ms: percentile(s, 0.99), max_ms: percentile(s, 1) };
  };
  const withCold = (kind: string, a: number[]) => ({ ...q(a), cold_ms: +cold[kind]!.toFixed(3) });
  return {
    name: 'compile-large',
    compile_ms: +compileMs.toFixed(1),
    rss_bytes: mem.rss,
    /** The decoded cluster state (model objects) alone. */
    state_rss_delta_bytes: rss0 - rssBase,
    /** What the compiled engine adds on top of the state. */
    rss_delta_bytes: mem.rss - rss0,
    heap_delta_bytes: heap1 - heap0,
    pods: LARGE.pods,
    policies: LARGE.namespaces * LARGE.policiesPerNamespace,
    ip_blocks: LARGE.namespaces * 2,
    reps,
    warmup_reps: WARMUP,
    pod_relabel: withCold('pod_relabel', relabel),
    pod_add: withCold('pod_add', add),
    policy_update: withCold('policy_update', policy),
  };
}

export function keepAlive(): number {
  return sink;
}
