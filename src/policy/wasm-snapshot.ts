// One published snapshot (snapshot.ts) judged by WebAssembly: the same answers, about a third less
// CPU a judgement.
//
// Why: the JavaScript judge pays, on every word it reads, for the typed array behind it (a map
// check, a bounds check, a detached-buffer check) and for pages (page table -> page object ->
// its data -> word). On the large cluster the same steps over flat linear memory take 78-80
// against 109-111 CPU ns a judgement (`npm run -s bench -- --no-bjs`: classify-large's
// engine_judge_only_cpu_ns against js_judge_only_cpu_ns; docs/speed-history.md, "The whole judge
// in WebAssembly"). The module (wasm/snapshot-judge.ts, compiled by
// scripts/build-wasm.ts into wasm-judge-module.ts) follows snapshot.ts and table-arena.ts step by
// step; test/policy/wasm-snapshot.test.ts checks it against them.
//
// A WasmSnapshot is a COPY: the snapshot's arena, address maps, slot records and node addresses
// laid end to end in the module's memory, written when it is built and not again while it judges
// (a published snapshot never changes its answers, so neither may its copy): a later copy takes
// the memory over only after retiring it, and from then on its JavaScript snapshot answers for
// it (the constructor's `reuse`). Building costs a copy
// of those arrays (the large cluster: about 4 MB with its cluster policies 8; a millisecond or
// two), so the agent builds it in idle time for the snapshot in force (agent.ts, after
// idle-converge.ts's steps) and the updates themselves publish the JavaScript snapshot: a copy
// per update would add to every update's latency what an idle moment does for free.
//
// Everything but the judge (pod names, rule refs, policies) is the snapshot's own.

import type { RuleRef } from './decision.ts';
import { SIDE, type RuleSnapshot } from './engine-api.ts';
import type { Direction } from './spec-facts.ts';
import { TIERS_DECIDE, TIER_NEXT, TIER_PASS } from './tiers.ts';
import { HEADER_WORDS, NO_CHILD, NO_TRIE, NO_VALUE, PASS_CELL } from './table-arena.ts';
import { MAP_EMPTY } from './address-map.ts';
import { PAGE_WORDS } from './word-pages.ts';
import { Snapshot, type FlatParts } from './snapshot.ts';
import { WASM_JUDGE_BASE64 } from './wasm-judge-module.ts';

interface JudgeExports {
  setup(map4: number, mask4: number, map6: number, mask6: number, slots: number, addr4: number, addr4Start: number, addr6: number, addr6Start: number, out: number): void;
  judge4(src: number, dst: number, proto: number, port: number, stop: number): number;
  judge6(s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, proto: number, port: number, stop: number): number;
}

/** The module's constants and the JavaScript's: a mismatch refuses the module (module()). */
const MIRRORED: ReadonlyArray<[string, number]> = [
  ['TIER_NEXT', TIER_NEXT], ['TIER_PASS', TIER_PASS], ['TIERS_DECIDE', TIERS_DECIDE], ['PASS_CELL', PASS_CELL],
  ['NOT_ISOLATED', SIDE.NOT_ISOLATED], ['NO_RULE', SIDE.NO_RULE], ['NODE', SIDE.NODE], ['SELF', SIDE.SELF],
  ['NOT_JUDGED', SIDE.NOT_JUDGED], ['SKIPPED', SIDE.SKIPPED], ['EMPTY', MAP_EMPTY], ['NO_TRIE', NO_TRIE], ['NO_VALUE', NO_VALUE], ['NO_CHILD', NO_CHILD], ['HEADER_WORDS', HEADER_WORDS],
];

/**
 * Words a copy may hold: the module addresses bytes with 32-bit arithmetic on word offsets
 * (offset << 2), so 2^29 words would wrap; a quarter of that is far past any cluster here (the
 * scale bench's copy is 9-13 M words).
 */
export const MAX_WORDS = 1 << 27;

let compiled: WebAssembly.Module | undefined;

function module(): WebAssembly.Module {
  if (compiled) return compiled;
  const m = new WebAssembly.Module(Buffer.from(WASM_JUDGE_BASE64, 'base64'));
  const probe = new WebAssembly.Instance(m, { env: { memory: new WebAssembly.Memory({ initial: 1 }), abort: abortJudge } });
  for (const [name, value] of MIRRORED) {
    const g = probe.exports[name] as WebAssembly.Global | undefined;
    if (!g || g.value !== value) throw new Error(`wasm-snapshot: the module's ${name} is ${g?.value}, the engine's ${value} (rebuild it: node --import tsx scripts/build-wasm.ts)`);
  }
  compiled = m;
  return m;
}

/** The module's abort import (AssemblyScript calls it on a failed assertion; it is built with none). */
function abortJudge(): never {
  throw new Error('wasm-snapshot: the judge module aborted');
}

/** Lays `pages` end to end at word `at` of `mem`, `words` words in all. */
function copyPages(mem: Int32Array, at: number, pages: readonly Int32Array[], words: number): void {
  for (let i = 0, o = 0; o < words; i++, o += PAGE_WORDS) {
    const p = pages[i]!;
    mem.set(p.length > words - o ? p.subarray(0, words - o) : p, at + o);
  }
}

export class WasmSnapshot implements RuleSnapshot {
  readonly generation: number;
  egressCode: number = SIDE.NOT_JUDGED;
  ingressCode: number = SIDE.NOT_JUDGED;
  srcSlot = -1;
  dstSlot = -1;
  /** Bytes of the module's memory (stats, tests). */
  readonly bytes: number;

  private readonly snap: Snapshot;
  /** The module's last answer: egress code, ingress code, source slot, destination slot. */
  private readonly out: Int32Array;
  private readonly j4: JudgeExports['judge4'];
  private readonly j6: JudgeExports['judge6'];
  /** The memory and the module instance over it, handed on to a later copy by retire(). */
  private readonly memory: WebAssembly.Memory;
  private readonly exports: JudgeExports;
  /** retire() was called: the JavaScript snapshot judges, and the memory is another copy's. */
  private retired = false;

  /**
   * A copy of `snap`'s judge (throws a RangeError when it would take more than `maxWords`, at most
   * MAX_WORDS: tests pass less). With `reuse`, a copy nothing judges with any more: it is retired
   * and its memory and instance are written over (grown when too small), instead of new ones. Each new memory is tens of MB at the scale
   * limits, counted by V8 as external memory: one per copy made V8 start its incremental marking
   * every copy or two, whose steps then ran inside the next updates (a remote pod relabel at the
   * scale limits: p50 5.5-6.2 ms with a new memory per copy, 1.8-2.1 without copies).
   */
  constructor(snap: Snapshot, reuse?: WasmSnapshot, maxWords: number = MAX_WORDS) {
    this.snap = snap;
    this.generation = snap.generation;
    const p: FlatParts = snap.flatParts();
    const map4Words = (p.map4.mask + 1) * 2, map6Words = (p.map6.mask + 1) * 8, slotWords = p.slots * 8;
    let at = p.arena.length;
    const map4 = at; at += map4Words;
    const map6 = at; at += map6Words;
    const slots = at; at += slotWords;
    const addr4 = at; at += p.addr4.length;
    const addr4Start = at; at += p.addr4Start.length;
    const addr6 = at; at += p.addr6.length;
    const addr6Start = at; at += p.addr6Start.length;
    const out = at; at += 4;
    if (at > Math.min(maxWords, MAX_WORDS)) throw new RangeError(`wasm-snapshot: the copy would take ${at} words, more than the ${Math.min(maxWords, MAX_WORDS)} it may`);
    const pages = Math.ceil((at * 4) / 65536) || 1;
    const given = reuse?.retire();
    const memory = given?.memory ?? new WebAssembly.Memory({ initial: pages });
    const have = memory.buffer.byteLength / 65536;
    if (have < pages) memory.grow(pages - have);
    const mem = new Int32Array(memory.buffer);
    mem.set(p.arena, 0);
    copyPages(mem, map4, p.map4.pages, map4Words);
    copyPages(mem, map6, p.map6.pages, map6Words);
    copyPages(mem, slots, p.slotPages, slotWords);
    mem.set(p.addr4, addr4); mem.set(p.addr4Start, addr4Start);
    mem.set(p.addr6, addr6); mem.set(p.addr6Start, addr6Start);
    const x = given?.exports ?? new WebAssembly.Instance(module(), { env: { memory, abort: abortJudge } }).exports as unknown as JudgeExports;
    x.setup(map4, p.map4.mask, map6, p.map6.mask, slots, addr4, addr4Start, addr6, addr6Start, out);
    this.out = mem.subarray(out, out + 4);
    this.j4 = x.judge4;
    this.j6 = x.judge6;
    this.memory = memory;
    this.exports = x;
    this.bytes = memory.buffer.byteLength;
  }

  /**
   * Hands this copy's memory and instance to a new copy (the constructor's `reuse`); from now on
   * the JavaScript snapshot judges for this one, with the same answers, so a caller still holding
   * it is never given another generation's. Once only.
   */
  private retire(): { memory: WebAssembly.Memory; exports: JudgeExports } | undefined {
    if (this.retired) return undefined;
    this.retired = true;
    return { memory: this.memory, exports: this.exports };
  }

  /** Has a later copy taken this one's memory (retire)? */
  get isRetired(): boolean {
    return this.retired;
  }

  judge4(src: number, dst: number, proto: number, port: number, stopAtDenial?: boolean): boolean {
    if (this.retired) return this.fromSource(this.snap.judge4(src, dst, proto, port, stopAtDenial));
    // int32 arguments (as snapshot.ts): a uint32 above 2^31 would be boxed on the way in.
    const ok = this.j4(src | 0, dst | 0, proto, port, stopAtDenial === true ? 1 : 0);
    const o = this.out;
    this.egressCode = o[0]!; this.ingressCode = o[1]!; this.srcSlot = o[2]!; this.dstSlot = o[3]!;
    return ok !== 0;
  }

  judge6(
    s0: number, s1: number, s2: number, s3: number,
    d0: number, d1: number, d2: number, d3: number,
    proto: number, port: number, stopAtDenial?: boolean,
  ): boolean {
    if (this.retired) return this.fromSource(this.snap.judge6(s0, s1, s2, s3, d0, d1, d2, d3, proto, port, stopAtDenial));
    const ok = this.j6(s0 | 0, s1 | 0, s2 | 0, s3 | 0, d0 | 0, d1 | 0, d2 | 0, d3 | 0, proto, port, stopAtDenial === true ? 1 : 0);
    const o = this.out;
    this.egressCode = o[0]!; this.ingressCode = o[1]!; this.srcSlot = o[2]!; this.dstSlot = o[3]!;
    return ok !== 0;
  }

  /** A retired copy's answer: the JavaScript snapshot's, with its codes and slots. */
  private fromSource(ok: boolean): boolean {
    const s = this.snap;
    this.egressCode = s.egressCode; this.ingressCode = s.ingressCode; this.srcSlot = s.srcSlot; this.dstSlot = s.dstSlot;
    return ok;
  }

  /** The JavaScript snapshot this copies. */
  get source(): Snapshot {
    return this.snap;
  }

  podSlot4(addr: number): number { return this.snap.podSlot4(addr); }
  podSlot6(a: number, b: number, c: number, d: number): number { return this.snap.podSlot6(a, b, c, d); }
  isLocal(slot: number): boolean { return this.snap.isLocal(slot); }
  judgesSide(slot: number, direction: Direction): boolean { return this.snap.judgesSide(slot, direction); }
  identityOf(slot: number): number { return this.snap.identityOf(slot); }
  podName(slot: number): string { return this.snap.podName(slot); }
  ruleRef(ruleId: number): RuleRef { return this.snap.ruleRef(ruleId); }
  isolatingPolicies(slot: number, direction: Direction): readonly string[] { return this.snap.isolatingPolicies(slot, direction); }
}

/**
 * The WebAssembly copy of a published snapshot, or undefined for a snapshot that is not the
 * compiled engine's own (a test double) or too large for the module (MAX_WORDS). `reuse`: an
 * earlier copy nothing judges with any more, whose memory and instance the new copy takes (see
 * the constructor); it keeps answering through its JavaScript snapshot.
 */
export function wasmCopyOf(snap: RuleSnapshot, reuse?: WasmSnapshot): WasmSnapshot | undefined {
  if (snap instanceof WasmSnapshot) return snap;
  if (!(snap instanceof Snapshot)) return undefined;
  try {
    return new WasmSnapshot(snap, reuse);
  } catch (e) {
    if (e instanceof RangeError) return undefined;
    throw e;
  }
}
