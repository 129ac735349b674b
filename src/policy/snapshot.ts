// One published generation of the compiled engine (RuleSnapshot, see engine-api.ts): the
// per-packet hot path. Built by CompiledEngine.publish (compiler.ts), never changed after.
//
// Shape (all flat typed arrays on the per-packet path, so judging a connection between two
// random pods of a large cluster touches a few cache lines and no objects; see table-arena.ts
// for why that matters):
// - two exact address maps (IPv4 and IPv6 addresses of selectable pods, see address-map.ts)
//   giving a pod slot;
// - per slot, one record (SLOT words): the pod's identity (see identity.ts), its node, and per
//   direction one word per tier (see tiers.ts): the offset of the tier's table image in the
//   arena, or TIER_NEXT when the tier has no word on the side; the records sit in pages shared
//   copy-on-write with the snapshots before (word-pages.ts, slot-records.ts);
// - node addresses per node index (for the node exemption);
// - the table arena: the images of every table in use (see table-layout.ts);
// - the rule refs behind rule ids.

import type { RuleRef } from './decision.ts';
import type { AddressMap4, AddressMap6 } from './address-map.ts';
import type { PagedView } from './paged-list.ts';
import type { PublishedRecords } from './slot-records.ts';
import { PAGE_MASK, PAGE_SHIFT, PAGE_WORDS } from './word-pages.ts';
import { SIDE, sideAllows, type RuleSnapshot } from './engine-api.ts';
import type { Direction } from './spec-facts.ts';
import { OUTSIDE_IDENTITY } from './identity.ts';
import { judgeChain4, judgeChain6, judgeImage4, judgeImage6, portBlock, type TableArena } from './table-arena.ts';
import { TIERS_DECIDE, TIER_COUNT, TIER_DEFAULT, TIER_NEXT, nodeExemptionApplies, sideExemption } from './tiers.ts';
import { checkMirrors } from '../net/mirrored-constants.ts';

// Per-slot record in Snapshot.slotPages (SLOT words a slot, one cache line holds two slots), so
// the per-packet path reads one place per pod instead of one array per attribute.
//
// The record's layout and the constants the hot path compares with are a const enum, which the
// compiler writes as numbers: the optimized code would otherwise load each module-level (or
// imported) const from its module cell and check it on every use (as in table-arena.ts). The
// constants of other modules are mirrored here and checked against them when the module loads.
const enum R {
  SLOT = 8,
  /** log2(SLOT), for the hot path's offsets. */
  SLOT_SHIFT = 3,
  S_IDENTITY = 0,
  /** Node index (see CompiledEngine.nodeIdx), or -1. */
  S_NODE = 1,
  /**
   * Egress / ingress side: TIER_COUNT words, one per tier in TIERS order (tiers.ts): >= 0, the
   * offset of the tier's table image in the snapshot's arena; below TIER_NEXT, a chain (Admin,
   * Baseline: chainWord in table-arena.ts); TIER_NEXT, the tier has no word on
   * the side. A pod another node judges has SIDE.NOT_JUDGED in every word.
   */
  S_EGRESS = 2,
  S_INGRESS = 5,
  // Mirrors (checked below).
  TIER_COUNT = 3,
  TIER_NEXT = -(1 << 29),
  TIERS_DECIDE = -(1 << 30),
  TIER_DEFAULT = -1,
  PAGE_SHIFT = 11,
  PAGE_MASK = 2047,
  NOT_JUDGED = -5,
  NODE = -3,
  SKIPPED = -6,
  OUTSIDE_IDENTITY = 0,
}
export const SLOT = R.SLOT;
export const SLOT_SHIFT = R.SLOT_SHIFT;
export const S_IDENTITY = R.S_IDENTITY;
export const S_NODE = R.S_NODE;
export const S_EGRESS = R.S_EGRESS;
export const S_INGRESS = R.S_INGRESS;

checkMirrors('snapshot.ts', [
  [R.S_INGRESS, S_EGRESS + TIER_COUNT, 'S_INGRESS'], [R.TIER_COUNT, TIER_COUNT, 'TIER_COUNT'], [R.TIER_NEXT, TIER_NEXT, 'TIER_NEXT'],
  [R.TIERS_DECIDE, TIERS_DECIDE, 'TIERS_DECIDE'], [R.TIER_DEFAULT, TIER_DEFAULT, 'TIER_DEFAULT'], [R.PAGE_SHIFT, PAGE_SHIFT, 'PAGE_SHIFT'],
  [R.PAGE_MASK, PAGE_MASK, 'PAGE_MASK'], [R.NOT_JUDGED, SIDE.NOT_JUDGED, 'SIDE.NOT_JUDGED'], [R.NODE, SIDE.NODE, 'SIDE.NODE'],
  [R.SKIPPED, SIDE.SKIPPED, 'SIDE.SKIPPED'], [R.OUTSIDE_IDENTITY, OUTSIDE_IDENTITY, 'OUTSIDE_IDENTITY'],
]);

export const NO_POLICIES: readonly string[] = Object.freeze([]);

/** What the hot path reads for slot -1 (no pod): never read, but keeps its page variable one type. */
const NO_PAGE = new Int32Array(PAGE_WORDS);

export interface SnapshotParts {
  readonly generation: number;
  readonly pods4: AddressMap4;
  readonly pods6: AddressMap6;
  /** SLOT words per slot: identity, node, egress tier words, ingress tier words. */
  readonly slotInfo: PublishedRecords;
  /** Node addresses: node n owns addr4[addr4Start[n] .. addr4Start[n+1]) (v6: 4 words each). */
  readonly addr4: Int32Array;
  readonly addr4Start: Int32Array;
  readonly addr6: Int32Array;
  readonly addr6Start: Int32Array;
  /** Images of every table a slot uses (see table-arena.ts). */
  readonly arena: TableArena;
  /** Per slot (off the hot path; published copies of paged lists, see paged-list.ts). */
  readonly names: PagedView<string>;
  readonly egressPolicies: PagedView<readonly string[]>;
  readonly ingressPolicies: PagedView<readonly string[]>;
  readonly ruleRefs: readonly RuleRef[];
}

/** What src/policy/wasm-snapshot.ts copies into its module's memory (Snapshot.flatParts). */
export interface FlatParts {
  readonly arena: Int32Array;
  readonly map4: { readonly pages: readonly Int32Array[]; readonly mask: number };
  readonly map6: { readonly pages: readonly Int32Array[]; readonly mask: number };
  readonly slotPages: readonly Int32Array[];
  readonly slots: number;
  readonly addr4: Int32Array;
  readonly addr4Start: Int32Array;
  readonly addr6: Int32Array;
  readonly addr6Start: Int32Array;
}

export class Snapshot implements RuleSnapshot {
  readonly generation: number;
  egressCode: number = SIDE.NOT_JUDGED;
  ingressCode: number = SIDE.NOT_JUDGED;
  srcSlot = -1;
  dstSlot = -1;

  private readonly pods4: AddressMap4;
  private readonly pods6: AddressMap6;
  /** The slot records' pages: slot s's record is at word (s << SLOT_SHIFT) & PAGE_MASK of page (s << SLOT_SHIFT) >>> PAGE_SHIFT. */
  private readonly slotPages: readonly Int32Array[];
  private readonly slots: number;
  private readonly addr4: Int32Array;
  private readonly addr4Start: Int32Array;
  private readonly addr6: Int32Array;
  private readonly addr6Start: Int32Array;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly halves: Uint16Array;
  private readonly names: PagedView<string>;
  private readonly egressPolicies: PagedView<readonly string[]>;
  private readonly ingressPolicies: PagedView<readonly string[]>;
  private readonly ruleRefs: readonly RuleRef[];

  constructor(p: SnapshotParts) {
    this.generation = p.generation;
    this.pods4 = p.pods4; this.pods6 = p.pods6;
    this.slotPages = p.slotInfo.pages;
    this.slots = p.slotInfo.slots;
    this.addr4 = p.addr4; this.addr4Start = p.addr4Start;
    this.addr6 = p.addr6; this.addr6Start = p.addr6Start;
    this.words = p.arena.words; this.bytes = p.arena.bytes; this.halves = p.arena.halves;
    this.names = p.names;
    this.egressPolicies = p.egressPolicies; this.ingressPolicies = p.ingressPolicies;
    this.ruleRefs = p.ruleRefs;
  }

  /** Is addr one of the addresses of node n (-1: none)? */
  private onNode4(n: number, addr: number): boolean {
    if (n < 0) return false;
    const a = this.addr4;
    for (let j = this.addr4Start[n]!, end = this.addr4Start[n + 1]!; j < end; j++) {
      // Both sides are int32 bit patterns (callers may pass uint32: XOR compares as int32).
      if ((a[j]! ^ addr) === 0) return true;
    }
    return false;
  }

  private onNode6(n: number, w0: number, w1: number, w2: number, w3: number): boolean {
    if (n < 0) return false;
    const a = this.addr6;
    for (let j = this.addr6Start[n]!, end = this.addr6Start[n + 1]!; j < end; j += 4) {
      if ((a[j]! ^ w0) === 0 && (a[j + 1]! ^ w1) === 0 && (a[j + 2]! ^ w2) === 0 && (a[j + 3]! ^ w3) === 0) return true;
    }
    return false;
  }

  // Each side walks tiers.ts: its exemptions (sideExemption), then its tier words in TIERS order,
  // each a table (one lookup), a chain of per-policy tables standing in for an Admin or Baseline
  // table until it is rebuilt (table-arena.ts, judgeChain4), or TIER_NEXT; the first tier that
  // decides answers, and a side every tier passes gets the default. A pod no cluster policy
  // selects has one table word at most, so it costs what it did before tiers had tables of their
  // own (a word that is no table costs one more compare for the chain test). A slot of -1 (no pod) is
  // never judged. The own-node check (a scan of the node's addresses) is made only where the
  // NetworkPolicy tier decided (nodeExemptionApplies): its node exemption is the one step a table
  // cell cannot fold.
  private side4(si: Int32Array, o: number, addr: number, identity: number, pb: number, port: number): number {
    let c = R.TIER_NEXT;
    for (let t = 0; t < R.TIER_COUNT && c === R.TIER_NEXT; t++) {
      const w = si[o + t]!;
      if (w >= 0) c = judgeImage4(this.words, this.bytes, this.halves, w, addr, identity, pb, port);
      else if (w < R.TIER_NEXT) c = judgeChain4(this.words, this.bytes, this.halves, w, addr, identity, pb, port);
    }
    return c === R.TIER_NEXT ? R.TIER_DEFAULT : c;
  }

  private side6(si: Int32Array, o: number, w0: number, w1: number, w2: number, w3: number, identity: number, pb: number, port: number): number {
    let c = R.TIER_NEXT;
    for (let t = 0; t < R.TIER_COUNT && c === R.TIER_NEXT; t++) {
      const w = si[o + t]!;
      if (w >= 0) c = judgeImage6(this.words, this.bytes, this.halves, w, w0, w1, w2, w3, identity, pb, port);
      else if (w < R.TIER_NEXT) c = judgeChain6(this.words, this.bytes, this.halves, w, w0, w1, w2, w3, identity, pb, port);
    }
    return c === R.TIER_NEXT ? R.TIER_DEFAULT : c;
  }

  judge4(src: number, dst: number, proto: number, port: number, stopAtDenial?: boolean): boolean {
    // Addresses travel as int32 from here on: a uint32 above 2^31 is not a small integer in V8,
    // so passing it to a function that is not inlined would box it (allocate) on every call.
    // Every comparison below is bitwise, so the sign does not matter.
    src |= 0;
    dst |= 0;
    const s = this.pods4.get(src);
    const d = this.pods4.get(dst);
    this.srcSlot = s;
    this.dstSlot = d;
    // Each record's page and its offset in it (a slot of -1 reads nothing: every read is guarded).
    const sw = s << R.SLOT_SHIFT, dw = d << R.SLOT_SHIFT;
    const sp = s < 0 ? NO_PAGE : this.slotPages[sw >>> R.PAGE_SHIFT]!, dp = d < 0 ? NO_PAGE : this.slotPages[dw >>> R.PAGE_SHIFT]!;
    const so = sw & R.PAGE_MASK, do_ = dw & R.PAGE_MASK;
    const pb = portBlock(proto);
    const ew = s < 0 ? R.NOT_JUDGED : sp[so + R.S_EGRESS]!;
    let e = sideExemption(ew !== R.NOT_JUDGED, s === d);
    if (e === R.TIERS_DECIDE) {
      e = this.side4(sp, so + R.S_EGRESS, dst, d < 0 ? R.OUTSIDE_IDENTITY : dp[do_ + R.S_IDENTITY]!, pb, port);
      if (nodeExemptionApplies(e) && this.onNode4(sp[so + R.S_NODE]!, dst)) e = R.NODE;
    }
    const iw = d < 0 ? R.NOT_JUDGED : dp[do_ + R.S_INGRESS]!;
    // tiers.ts, "A connection": asked to, the judge stops at the egress side's denial.
    let i = stopAtDenial === true && !sideAllows(e) ? R.SKIPPED : sideExemption(iw !== R.NOT_JUDGED, s === d);
    if (i === R.TIERS_DECIDE) {
      i = this.side4(dp, do_ + R.S_INGRESS, src, s < 0 ? R.OUTSIDE_IDENTITY : sp[so + R.S_IDENTITY]!, pb, port);
      if (nodeExemptionApplies(i) && this.onNode4(dp[do_ + R.S_NODE]!, src)) i = R.NODE;
    }
    this.egressCode = e;
    this.ingressCode = i;
    return sideAllows(e) && sideAllows(i);
  }

  judge6(
    s0: number, s1: number, s2: number, s3: number,
    d0: number, d1: number, d2: number, d3: number,
    proto: number, port: number, stopAtDenial?: boolean,
  ): boolean {
    // As in judge4: int32 from here on so no call boxes an address word.
    s0 |= 0; s1 |= 0; s2 |= 0; s3 |= 0;
    d0 |= 0; d1 |= 0; d2 |= 0; d3 |= 0;
    const s = this.pods6.get(s0, s1, s2, s3);
    const d = this.pods6.get(d0, d1, d2, d3);
    this.srcSlot = s;
    this.dstSlot = d;
    const sw = s << R.SLOT_SHIFT, dw = d << R.SLOT_SHIFT;
    const sp = s < 0 ? NO_PAGE : this.slotPages[sw >>> R.PAGE_SHIFT]!, dp = d < 0 ? NO_PAGE : this.slotPages[dw >>> R.PAGE_SHIFT]!;
    const so = sw & R.PAGE_MASK, do_ = dw & R.PAGE_MASK;
    const pb = portBlock(proto);
    const ew = s < 0 ? R.NOT_JUDGED : sp[so + R.S_EGRESS]!;
    let e = sideExemption(ew !== R.NOT_JUDGED, s === d);
    if (e === R.TIERS_DECIDE) {
      e = this.side6(sp, so + R.S_EGRESS, d0, d1, d2, d3, d < 0 ? R.OUTSIDE_IDENTITY : dp[do_ + R.S_IDENTITY]!, pb, port);
      if (nodeExemptionApplies(e) && this.onNode6(sp[so + R.S_NODE]!, d0, d1, d2, d3)) e = R.NODE;
    }
    const iw = d < 0 ? R.NOT_JUDGED : dp[do_ + R.S_INGRESS]!;
    let i = stopAtDenial === true && !sideAllows(e) ? R.SKIPPED : sideExemption(iw !== R.NOT_JUDGED, s === d);
    if (i === R.TIERS_DECIDE) {
      i = this.side6(dp, do_ + R.S_INGRESS, s0, s1, s2, s3, s < 0 ? R.OUTSIDE_IDENTITY : sp[so + R.S_IDENTITY]!, pb, port);
      if (nodeExemptionApplies(i) && this.onNode6(dp[do_ + R.S_NODE]!, s0, s1, s2, s3)) i = R.NODE;
    }
    this.egressCode = e;
    this.ingressCode = i;
    return sideAllows(e) && sideAllows(i);
  }

  /** The arrays judge4/judge6 read (for wasm-snapshot.ts, which copies them; never written). */
  flatParts(): FlatParts {
    return {
      arena: this.words, map4: this.pods4.image(), map6: this.pods6.image(), slotPages: this.slotPages, slots: this.slots,
      addr4: this.addr4, addr4Start: this.addr4Start, addr6: this.addr6, addr6Start: this.addr6Start,
    };
  }

  podSlot4(addr: number): number {
    return this.pods4.get(addr | 0);
  }

  podSlot6(a: number, b: number, c: number, d: number): number {
    return this.pods6.get(a | 0, b | 0, c | 0, d | 0);
  }

  isLocal(slot: number): boolean {
    return (slot | 0) === slot && slot >= 0 && slot < this.slots && this.word(slot, S_EGRESS) !== SIDE.NOT_JUDGED;
  }

  /** Word k of slot's record (off the hot path). */
  private word(slot: number, k: number): number {
    const w = (slot << SLOT_SHIFT) + k;
    return this.slotPages[w >>> PAGE_SHIFT]![w & PAGE_MASK]!;
  }

  judgesSide(slot: number, direction: Direction): boolean {
    if (!this.isLocal(slot)) return false;
    // Judged when any tier has a table for the side; all TIER_NEXT is the default allow.
    const base = direction === 'ingress' ? S_INGRESS : S_EGRESS;
    for (let t = 0; t < TIER_COUNT; t++) if (this.word(slot, base + t) !== TIER_NEXT) return true;
    return false;
  }

  identityOf(slot: number): number {
    if (!((slot | 0) === slot && slot >= 0 && slot < this.slots)) throw new RangeError(`no pod in slot ${slot}`);
    return this.word(slot, S_IDENTITY);
  }

  podName(slot: number): string {
    const n = this.names.get(slot);
    if (n === undefined || n === '') throw new RangeError(`no pod in slot ${slot}`);
    return n;
  }

  ruleRef(ruleId: number): RuleRef {
    const r = this.ruleRefs[ruleId];
    if (!r) throw new RangeError(`no rule with id ${ruleId}`);
    return r;
  }

  isolatingPolicies(slot: number, direction: Direction): readonly string[] {
    const list = direction === 'ingress' ? this.ingressPolicies : this.egressPolicies;
    return list.get(slot) ?? NO_POLICIES;
  }
}
