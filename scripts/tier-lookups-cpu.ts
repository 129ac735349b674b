// Where the cluster policies' extra classification time goes, table lookup by table lookup: on
// the large cluster without and with its cluster policies (bench/large-cluster-policies.ts),
// judges the bench's IPv4 tuples once, records every table lookup the tier walk makes (side,
// tier, and the arguments of judgeImage4), then replays those lookups alone (no address maps,
// slot records or tier walk) in interleaved rounds: all of a variant's lookups in packet order,
// and each (side, tier) kind on its own. Prints per kind the lookups per packet and the CPU ns per
// lookup (median and minimum over the rounds: on these shared VMs the minimum is the steadier),
// so lookups per packet x ns per lookup says what each tier table costs a packet, and the IPv4
// trie nodes a lookup of each kind walks. The recorded lookups are both sides' (as explain and
// verify judge); a line per variant also gives the lookups a packet when the judge stops at the
// egress side's denial, as the classifier's new connections do.
//   node --expose-gc --import tsx scripts/tier-lookups-cpu.ts [rounds, default 7] [lookups a round, default 400000] [--wasm=FILE]
//
// --wasm=FILE also replays the same lookups through a WebAssembly build of the table lookup
// (docs/experiments/wasm-judge.wat, an experiment: assemble it with `npx -y -p wabt@1.0.39
// wat2wasm docs/experiments/wasm-judge.wat -o FILE`) over a copy of the arena in its memory,
// two ways: a call from JavaScript per lookup (wasm-calls) and the whole loop inside the module
// (wasm-loop). Each answer is checked against judgeImage4 first (node class lookups, which the
// experiment leaves out, are counted apart).
//
// It reads the snapshot's slot records and arena through their private fields (a development
// probe, not an API): a change of Snapshot's layout must be mirrored here.

import { finishSweeping } from '../src/agent/idle-gc.ts';
import { readFileSync } from 'node:fs';
import { judgeInput, largeTuples } from '../bench/suite.ts';
import { buildLargeCluster, LARGE } from '../bench/large-cluster.ts';
import { largeClusterPolicies } from '../bench/large-cluster-policies.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { SLOT_SHIFT, S_EGRESS, S_IDENTITY, S_INGRESS } from '../src/policy/snapshot.ts';
import { PAGE_MASK, PAGE_SHIFT } from '../src/policy/word-pages.ts';
import { H_TRIE4, NO_CHILD, NO_TRIE, judgeImage4, portBlock } from '../src/policy/table-arena.ts';
import { TIER_COUNT, TIER_NEXT, TIERS } from '../src/policy/tiers.ts';
import { SIDE, sideAllows } from '../src/policy/engine-api.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const wasmFile = process.argv.find((a) => a.startsWith('--wasm='))?.slice('--wasm='.length);
const rounds = Number(args[0] ?? 7);
const per = Number(args[1] ?? 400_000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };

/** What the probe reads of a Snapshot (private fields, see the header). */
interface SnapshotInside {
  readonly slotPages: readonly Int32Array[];
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  readonly halves: Uint16Array;
  readonly srcSlot: number;
  readonly dstSlot: number;
  readonly egressCode: number;
  judge4(src: number, dst: number, proto: number, port: number): boolean;
}

/** The lookups of one kind: 5 words each (table offset, peer address, peer identity, port block, port). */
interface Trace {
  readonly name: string; readonly snap: SnapshotInside; readonly lookups: Int32Array; readonly n: number; readonly perPacket: number;
  /** IPv4 trie nodes a lookup of this kind visits (the address trie's walk, table-arena.ts judgeImage4). */
  readonly trieNodes: number;
}

/** Trie nodes judgeImage4's walk visits for `addr` in the image at `base` (the same steps, counted). */
function trieNodes4(a: Int32Array, base: number, addr: number): number {
  const to = a[base + H_TRIE4]!;
  if (to === NO_TRIE) return 0;
  const t = base + to;
  let n = t, nodes = 0;
  for (;;) {
    nodes++;
    const m = a[n + 1]!;
    if (((addr ^ a[n]!) & m) !== 0) break;
    const l = Math.clz32(~m);
    if (l === 32) break;
    const c = ((addr >>> (31 - l)) & 1) === 0 ? a[n + 3]! : a[n + 4]!;
    if (c === NO_CHILD) break;
    n = t + c;
  }
  return nodes;
}

const tuples = largeTuples(100_000, 0x5eed);
const input = judgeInput(tuples);
const traces: Trace[] = [];
for (const cnp of [false, true]) {
  const snap = new CompiledEngine(buildLargeCluster(LARGE, cnp ? largeClusterPolicies() : [])).snapshot() as unknown as SnapshotInside;
  const word = (slot: number, k: number) => {
    const w = (slot << SLOT_SHIFT) + k;
    return snap.slotPages[w >>> PAGE_SHIFT]![w & PAGE_MASK]!;
  };
  const kinds = new Map<string, number[]>([['all', []]]);
  const nodes = new Map<string, number>();
  // Lookups when the judge stops at the egress side's denial, as the classifier's does
  // (engine-api.ts stopAtDenial): the ingress side's only where the egress side allows.
  let stopped = 0;
  let packets = 0;
  for (let k = 0; k < input.n; k++) {
    if (input.meta[k * 3] !== 4) continue;
    packets++;
    const src = input.w[k * 8]!, dst = input.w[k * 8 + 4]!, proto = input.meta[k * 3 + 1]!, port = input.meta[k * 3 + 2]!;
    snap.judge4(src, dst, proto, port);
    const s = snap.srcSlot, d = snap.dstSlot, pb = portBlock(proto);
    const sides = [
      { side: 'egress', slot: s, at: S_EGRESS, addr: dst, peer: d < 0 ? 0 : word(d, S_IDENTITY) },
      { side: 'ingress', slot: d, at: S_INGRESS, addr: src, peer: s < 0 ? 0 : word(s, S_IDENTITY) },
    ];
    for (const { side, slot, at, addr, peer } of sides) {
      // Only what the tier walk reaches: judged sides, table words, until a tier decides (chains,
      // which a full compile leaves none of, and self traffic are left out).
      if (slot < 0 || s === d || word(slot, at) === SIDE.NOT_JUDGED) continue;
      for (let t = 0; t < TIER_COUNT; t++) {
        const w = word(slot, at + t);
        if (w < 0) continue;
        const row = [w, addr, peer, pb, port];
        kinds.get('all')!.push(...row);
        const kind = `${side} ${TIERS[t]}`;
        if (!kinds.has(kind)) kinds.set(kind, []);
        kinds.get(kind)!.push(...row);
        const walked = trieNodes4(snap.words, w, addr);
        nodes.set(kind, (nodes.get(kind) ?? 0) + walked);
        nodes.set('all', (nodes.get('all') ?? 0) + walked);
        if (side === 'egress' || sideAllows(snap.egressCode)) stopped++;
        if (judgeImage4(snap.words, snap.bytes, snap.halves, w, addr, peer, pb, port) !== TIER_NEXT) break;
      }
    }
  }
  for (const [kind, rows] of kinds) {
    const n = rows.length / 5;
    traces.push({ name: `${cnp ? 'with' : 'without'}: ${kind}`, snap, lookups: Int32Array.from(rows), n, perPacket: n / packets, trieNodes: n ? nodes.get(kind)! / n : 0 });
  }
  console.log(`${cnp ? 'with' : 'without'}: ${(stopped / packets).toFixed(3)} lookups a packet when the judge stops at the egress side's denial (the classifier's new connections), ${(kinds.get('all')!.length / 5 / packets).toFixed(3)} judging both sides`);
}

function replay(t: Trace, count: number): number {
  const a = t.snap.words, a8 = t.snap.bytes, a16 = t.snap.halves, l = t.lookups, n = t.n;
  let acc = 0, k = 0;
  for (let i = 0; i < count; i++) {
    const o = k * 5;
    acc = (acc + judgeImage4(a, a8, a16, l[o]!, l[o + 1]!, l[o + 2]!, l[o + 3]!, l[o + 4]!)) | 0;
    if (++k === n) k = 0;
  }
  return acc;
}

/** The experiment's exports (docs/experiments/wasm-judge.wat). */
interface WasmJudge {
  judge4(base: number, addr: number, identity: number, block: number, port: number): number;
  /** Replays `count` lookups of the n at word offset `at` of its memory, in a loop. */
  replay(at: number, n: number, count: number): number;
}
/** The answer the experiment gives where a node class would be needed (it has no node maps). */
const WASM_NODE_CLASS = -999999;

/** One instance per snapshot: its memory holds the arena's words, then each trace's lookups. */
function wasmReplays(file: string): Array<[string, (t: Trace, count: number) => number]> {
  const mod = new WebAssembly.Module(readFileSync(file));
  const of = new Map<SnapshotInside, { judge: WasmJudge; at: Map<Trace, number> }>();
  for (const snap of new Set(traces.map((t) => t.snap))) {
    const mine = traces.filter((t) => t.snap === snap);
    const words = snap.words.length + mine.reduce((n, t) => n + t.lookups.length, 0);
    const memory = new WebAssembly.Memory({ initial: Math.ceil((words * 4) / 65536) + 1 });
    const view = new Int32Array(memory.buffer);
    view.set(snap.words, 0);
    const at = new Map<Trace, number>();
    let next = snap.words.length;
    for (const t of mine) { view.set(t.lookups, next); at.set(t, next); next += t.lookups.length; }
    const judge = new WebAssembly.Instance(mod, { env: { mem: memory } }).exports as unknown as WasmJudge;
    let differ = 0, nodeClass = 0;
    for (const t of mine) {
      const l = t.lookups;
      for (let o = 0; o < t.n * 5; o += 5) {
        const w = judge.judge4(l[o]!, l[o + 1]!, l[o + 2]!, l[o + 3]!, l[o + 4]!);
        if (w === WASM_NODE_CLASS) nodeClass++;
        else if (w !== judgeImage4(snap.words, snap.bytes, snap.halves, l[o]!, l[o + 1]!, l[o + 2]!, l[o + 3]!, l[o + 4]!)) differ++;
      }
    }
    console.log(`wasm check: ${differ} answers differ from judgeImage4, ${nodeClass} lookups need a node class`);
    if (differ > 0) process.exit(1);
    of.set(snap, { judge, at });
  }
  const calls = (t: Trace, count: number): number => {
    const j = of.get(t.snap)!.judge, l = t.lookups, n = t.n;
    let acc = 0, k = 0;
    for (let i = 0; i < count; i++) {
      const o = k * 5;
      acc = (acc + j.judge4(l[o]!, l[o + 1]!, l[o + 2]!, l[o + 3]!, l[o + 4]!)) | 0;
      if (++k === n) k = 0;
    }
    return acc;
  };
  const loop = (t: Trace, count: number): number => { const w = of.get(t.snap)!; return w.judge.replay(w.at.get(t)!, t.n, count); };
  return [['wasm-calls', calls], ['wasm-loop', loop]];
}

const variants: Array<[string, (t: Trace, count: number) => number]> = [['js', replay], ...(wasmFile ? wasmReplays(wasmFile) : [])];
const times = new Map<string, number[]>();
let sink = 0;
for (const t of traces) for (const [, f] of variants) sink += f(t, 100_000);
for (let r = 0; r < rounds; r++) {
  for (const t of r % 2 === 0 ? traces : [...traces].reverse()) {
    for (const [name, f] of r % 2 === 0 ? variants : [...variants].reverse()) {
      gc();
      finishSweeping(); // untimed: the collection's sweep would run in the round (bench/cluster-large.ts)
      const c = cpu();
      sink += f(t, per);
      const key = `${t.name}\0${name}`;
      if (!times.has(key)) times.set(key, []);
      times.get(key)!.push(((cpu() - c) * 1e6) / per);
    }
  }
}
const median = (a: readonly number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
for (const t of traces) {
  for (const [name] of variants) {
    const ns = times.get(`${t.name}\0${name}`)!;
    const med = median(ns), min = Math.min(...ns);
    const label = variants.length > 1 ? `${t.name} [${name}]` : t.name;
    console.log(`${label.padEnd(variants.length > 1 ? 44 : 30)} ${t.perPacket.toFixed(3)} lookups a packet, ${t.trieNodes.toFixed(2)} trie nodes a lookup, ${med.toFixed(1)} ns a lookup (min ${min.toFixed(1)}): ${(t.perPacket * med).toFixed(1)} ns a packet (min ${(t.perPacket * min).toFixed(1)})`);
  }
}
console.log(`sink ${sink & 1}`);
