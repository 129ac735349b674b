// References for a batch's new pod identities: for each, an older identity that most tables
// already class it with, so that extending a table (extendRuleTable) mostly copies a class.
//
// Why: a table's selector class for an identity is a function of which of the table's selector
// matchers pick it and of what the table's port names resolve to on it (table-identities.ts).
// A relabelled pod's new identity differs from its old one only on the matchers that read the
// changed labels (a namespace relabel: those reading the namespace's changed labels), and most
// of the ~1,250 tables of a large cluster hold none of those: for them the new identity takes
// the old one's class, read from the image, with no selector bits, signature or refold. Only
// tables holding a matcher that tells the two apart classify the new identity the full way.
//
// The reference is the identity's twin (IdentityRegistry.twinOf: alike to every matcher), else
// the identity a pod of the batch moved from (hint, from the compiler), when its ports are the
// same (port names resolve on ports alone). Which matchers tell an identity from its reference
// is computed once per matcher and batch (a bit per new identity), then OR'ed per table.

import type { IdentityRegistry, PeerMatcher } from './identity.ts';
import { samePorts } from './identity.ts';
import { keepShape } from './kept-shapes.ts';

/** Past this many new identities only twins are references (the per-matcher masks grow with the batch). */
const MAX_HINTED = 1024;

export class NewIdentityRefs {
  /** Per new identity (i - from): its reference (an identity below i), or -1. */
  private ref: Int32Array | undefined;
  private readonly hints = new Map<number, number>();
  private to = -1;
  private words = 0;
  /** Per matcher serial: `words` mask words, valid when known[serial] is 1. */
  private masks = new Int32Array(0);
  private known = new Uint8Array(0);
  private readonly out = new Int32Array(MAX_HINTED >> 5);

  constructor(private readonly identities: IdentityRegistry, readonly from: number) {
    // A batch's refs die with its update; the newest is kept (kept-shapes.ts: a word per new
    // identity and the mask words, small next to the batch's tables).
    keepShape(this);
  }

  /** A pod of the batch moved from identity `old` to the new identity `id`. */
  hint(id: number, old: number): void {
    if (id >= this.from && old > 0 && old < id && !this.hints.has(id)) this.hints.set(id, old);
  }

  /** Called once the batch's identities are interned (identities [from, registry count) are new). */
  seal(): void {
    const to = this.to = this.identities.count;
    const n = to - this.from;
    const ref = this.ref = new Int32Array(Math.max(0, n)).fill(-1);
    for (let i = this.from; i < to; i++) {
      const t = this.identities.twinOf(i);
      if (t >= 0) {
        ref[i - this.from] = t;
        continue;
      }
      if (i - this.from >= MAX_HINTED) continue;
      const h = this.hints.get(i);
      if (h !== undefined && samePorts(this.identities.get(h).ports, this.identities.get(i).ports)) ref[i - this.from] = h;
    }
    this.words = (Math.min(n, MAX_HINTED) + 31) >> 5;
  }

  /** True when the refs cover exactly the identities a table built with `from` identities lacks, now. */
  covers(from: number, to: number): boolean {
    return this.ref !== undefined && from === this.from && to === this.to;
  }

  /** The reference of new identity i, or -1. */
  refOf(i: number): number {
    return this.ref![i - this.from]!;
  }

  /**
   * Bit (i - from) set for each new identity i < from + MAX_HINTED that one of `matchers` picks
   * and its reference not, or the other way round (`words` words; the array is reused by the
   * next call).
   */
  differing(matchers: readonly PeerMatcher[]): Int32Array {
    const W = this.words, out = this.out;
    out.fill(0, 0, W);
    if (W === 0) return out;
    if (this.known.length < this.identities.matchers) {
      const n = this.identities.matchers * 2;
      const k = new Uint8Array(n); k.set(this.known); this.known = k;
      const m = new Int32Array(n * W); m.set(this.masks); this.masks = m;
    }
    for (let j = 0; j < matchers.length; j++) {
      const m = matchers[j]!;
      const o = m.serial * W;
      if (this.known[m.serial] === 0) this.fill(m, o);
      for (let w = 0; w < W; w++) out[w]! |= this.masks[o + w]!;
    }
    return out;
  }

  private fill(m: PeerMatcher, o: number): void {
    this.known[m.serial] = 1;
    const ids = this.identities.matched(m);
    const ref = this.ref!;
    const n = Math.min(this.to - this.from, MAX_HINTED);
    for (let x = 0; x < n; x++) {
      const r = ref[x]!;
      if (r < 0) continue;
      if (has(ids, this.from + x) !== has(ids, r)) this.masks[o + (x >> 5)]! |= 1 << (x & 31);
    }
  }
}

/** Is `id` in the ascending list? */
function has(ids: readonly number[], id: number): boolean {
  let lo = 0, hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < ids.length && ids[lo] === id;
}
