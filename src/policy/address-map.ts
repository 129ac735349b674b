// Exact address -> pod slot maps, for the per-packet "which pod owns this IP" question.
//
// Pod addresses are whole addresses (/32, /128), so an open-addressing hash table answers in one
// or two probes, where a trie walks ~log2(pods) nodes. Linear probing over a power-of-two table
// of int32 words: no objects, no allocation on lookup. The load factor stays <= 1/2, so probe
// chains are short. Published maps are never changed: a pod add/delete publishes an edited copy
// (with()), which shares every page it does not write with the map before it (word-pages.ts),
// so an edit costs the pages it touches, not the cluster (150,000 dual-stack pods: 20 MB).

import { hash6, mix } from './address-hash.ts';
import { PAGE_MASK, PAGE_SHIFT, PageEditor, pagesOf } from './word-pages.ts';

// Keys and values are interleaved in ONE array, so a probe reads one cache line, where parallel
// key and value arrays cost two misses per lookup on a map too large for the L1/L2 caches (10,000
// pods make a 256 KiB IPv4 map). IPv4 entries are [key, value] (2 words); IPv6 entries
// [k0, k1, k2, k3, value, -, -, -] (8 words, two entries per 64-byte line). An empty entry has
// value EMPTY.
//
// The layout and the page constants are a const enum, which the compiler writes as numbers: as
// module-level consts (or imports), the optimized lookup loaded each from its module cell and
// checked it on every use, and the page shift was a load on the path to every probe's address
// (see table-arena.ts). The page constants mirror word-pages.ts, checked when the module loads.
const enum M {
  EMPTY = -1,
  S4 = 2,
  S6 = 8,
  /** Word of the value inside an entry. */
  V4 = 1,
  V6 = 4,
  PAGE_SHIFT = 11,
  PAGE_MASK = 2047,
}
if (M.PAGE_SHIFT !== PAGE_SHIFT || M.PAGE_MASK !== PAGE_MASK) throw new Error('address-map.ts: the lookups\' PAGE_SHIFT / PAGE_MASK differ from word-pages.ts');
const EMPTY = M.EMPTY;
/** The value of an empty entry (and get's answer for an unknown address). */
export const MAP_EMPTY = M.EMPTY;

/** The pages of an edited copy (see with()). */
interface Edited {
  pages: Int32Array[];
  mask: number;
  size: number;
}

function capacityFor(n: number): number {
  let c = 16;
  while (c < n * 2) c *= 2;
  return c;
}

function emptySlots(cap: number, stride: number, valueAt: number): Int32Array {
  const t = new Int32Array(cap * stride);
  for (let i = 0; i < cap; i++) t[i * stride + valueAt] = EMPTY;
  return t;
}


/**
 * Removes the entry at `hole` from a linear-probing table without tombstones: later entries of
 * the same probe run whose home slot is not cyclically inside (hole, j] move back into the hole.
 */
function backshift(slots: PageEditor, stride: number, valueAt: number, mask: number, hole: number, home: (j: number) => number): void {
  slots.set(hole * stride + valueAt, EMPTY);
  let j = hole;
  for (;;) {
    j = (j + 1) & mask;
    if (slots.get(j * stride + valueAt) === EMPTY) return;
    const h = home(j) & mask;
    // Entry j may fill the hole unless its home lies cyclically in (hole, j].
    const inside = hole <= j ? h > hole && h <= j : h > hole || h <= j;
    if (inside) continue;
    for (let w = 0; w < stride; w++) slots.set(hole * stride + w, slots.get(j * stride + w));
    slots.set(j * stride + valueAt, EMPTY);
    hole = j;
  }
}

/** Word w of a paged table (a rebuild reads the old entries through it). */
function wordAt(pages: readonly Int32Array[], w: number): number {
  return pages[w >>> PAGE_SHIFT]![w & PAGE_MASK]!;
}

/** IPv4 address (uint32 or int32) -> value >= 0, or -1. */
export class AddressMap4 {
  private readonly pages: Int32Array[];
  private readonly mask: number;
  readonly size: number;

  /**
   * entries: [address, value] pairs; a repeated address keeps the last value. Values must be >= 0.
   * (`edited` is for with(): both paths set the same fields in the same order, so every map has
   * one hidden class and the lookup call site stays monomorphic.)
   */
  constructor(entries: readonly (readonly [number, number])[], edited?: Edited) {
    if (edited) {
      this.pages = edited.pages; this.mask = edited.mask; this.size = edited.size;
      return;
    }
    const cap = capacityFor(entries.length);
    const t = emptySlots(cap, M.S4, M.V4);
    const mask = cap - 1;
    let size = 0;
    // Indexed (no iterator per entry: a full compile builds maps of every pod address).
    for (let j = 0; j < entries.length; j++) {
      const addr = entries[j]![0], value = entries[j]![1];
      if (!(value >= 0)) throw new Error(`address-map: value must be >= 0, got ${value}`);
      const k = addr | 0;
      let i = mix(k) & mask;
      while (t[i * M.S4 + M.V4] !== EMPTY && t[i * M.S4] !== k) i = (i + 1) & mask;
      if (t[i * M.S4 + M.V4] === EMPTY) size++;
      t[i * M.S4] = k;
      t[i * M.S4 + M.V4] = value;
    }
    this.pages = pagesOf(t);
    this.mask = mask;
    this.size = size;
  }

  /**
   * A new map with some addresses set (value >= 0) or removed (value -1); this one is unchanged.
   * Copies the pages it writes (word-pages.ts), so a pod add costs microseconds and a few pages
   * instead of a rebuild; falls back to a rebuild when the table would get too full.
   */
  with(edits: readonly (readonly [number, number])[]): AddressMap4 {
    let adds = 0;
    for (const [, v] of edits) if (v >= 0) adds++;
    const cap = this.mask + 1;
    if ((this.size + adds) * 2 > cap) {
      const all = new Map<number, number>();
      const p = this.pages;
      for (let i = 0; i < cap; i++) if (wordAt(p, i * M.S4 + M.V4) !== EMPTY) all.set(wordAt(p, i * M.S4), wordAt(p, i * M.S4 + M.V4));
      for (const [a, v] of edits) if (v >= 0) all.set(a | 0, v); else all.delete(a | 0);
      return new AddressMap4([...all]);
    }
    const t = new PageEditor(this.pages);
    const mask = this.mask;
    let size = this.size;
    for (const [a, v] of edits) {
      const k = a | 0;
      let i = mix(k) & mask;
      while (t.get(i * M.S4 + M.V4) !== EMPTY && t.get(i * M.S4) !== k) i = (i + 1) & mask;
      if (v >= 0) {
        if (t.get(i * M.S4 + M.V4) === EMPTY) size++;
        t.set(i * M.S4, k);
        t.set(i * M.S4 + M.V4, v);
      } else if (t.get(i * M.S4 + M.V4) !== EMPTY) {
        size--;
        backshift(t, M.S4, M.V4, mask, i, (j) => mix(t.get(j * M.S4)));
      }
    }
    return new AddressMap4([], { pages: t.pages, mask, size });
  }

  /** The table's pages and slot mask (src/policy/wasm-snapshot.ts lays the pages end to end). */
  image(): { readonly pages: readonly Int32Array[]; readonly mask: number } {
    return { pages: this.pages, mask: this.mask };
  }

  get(addr: number): number {
    const k = addr | 0;
    const pages = this.pages, mask = this.mask;
    let i = mix(k) & mask;
    for (;;) {
      const w = i << 1;
      const t = pages[w >>> M.PAGE_SHIFT]!;
      const o = w & M.PAGE_MASK;
      const v = t[o + M.V4]!;
      if (v === M.EMPTY) return M.EMPTY;
      if (t[o] === k) return v;
      i = (i + 1) & mask;
    }
  }
}

/** IPv6 address (four words) -> value >= 0, or -1. */
export class AddressMap6 {
  private readonly pages: Int32Array[];
  private readonly mask: number;
  readonly size: number;

  constructor(entries: readonly (readonly [readonly number[], number])[], edited?: Edited) {
    if (edited) {
      this.pages = edited.pages; this.mask = edited.mask; this.size = edited.size;
      return;
    }
    const cap = capacityFor(entries.length);
    const t = emptySlots(cap, M.S6, M.V6);
    const mask = cap - 1;
    let size = 0;
    for (let j = 0; j < entries.length; j++) {
      const w = entries[j]![0], value = entries[j]![1];
      if (w.length !== 4) throw new Error(`address-map: IPv6 address needs 4 words, got ${w.length}`);
      if (!(value >= 0)) throw new Error(`address-map: value must be >= 0, got ${value}`);
      const a = w[0]! | 0, b = w[1]! | 0, c = w[2]! | 0, d = w[3]! | 0;
      let i = hash6(a, b, c, d) & mask;
      while (t[i * M.S6 + M.V6] !== EMPTY && !at6(t, i, a, b, c, d)) i = (i + 1) & mask;
      if (t[i * M.S6 + M.V6] === EMPTY) size++;
      put6(t, i, a, b, c, d, value);
    }
    this.pages = pagesOf(t);
    this.mask = mask;
    this.size = size;
  }

  /** Like AddressMap4.with: a copy with edits (value -1 removes). */
  with(edits: readonly (readonly [readonly number[], number])[]): AddressMap6 {
    let adds = 0;
    for (const [, v] of edits) if (v >= 0) adds++;
    const cap = this.mask + 1;
    if ((this.size + adds) * 2 > cap) {
      const all = new Map<string, [number[], number]>();
      const p = this.pages;
      for (let i = 0; i < cap; i++) {
        const o = i * M.S6;
        if (wordAt(p, o + M.V6) === EMPTY) continue;
        const w = [wordAt(p, o), wordAt(p, o + 1), wordAt(p, o + 2), wordAt(p, o + 3)];
        all.set(w.join(), [w, wordAt(p, o + M.V6)]);
      }
      for (const [w, v] of edits) {
        const key = w.map((x) => x | 0).join();
        if (v >= 0) all.set(key, [w.map((x) => x | 0), v]); else all.delete(key);
      }
      return new AddressMap6([...all.values()]);
    }
    const t = new PageEditor(this.pages);
    const mask = this.mask;
    let size = this.size;
    for (const [w, v] of edits) {
      const a = w[0]! | 0, b = w[1]! | 0, c = w[2]! | 0, d = w[3]! | 0;
      let i = hash6(a, b, c, d) & mask;
      while (t.get(i * M.S6 + M.V6) !== EMPTY && !edAt6(t, i, a, b, c, d)) i = (i + 1) & mask;
      if (v >= 0) {
        if (t.get(i * M.S6 + M.V6) === EMPTY) size++;
        const o = i * M.S6;
        t.set(o, a); t.set(o + 1, b); t.set(o + 2, c); t.set(o + 3, d);
        t.set(o + M.V6, v);
      } else if (t.get(i * M.S6 + M.V6) !== EMPTY) {
        size--;
        backshift(t, M.S6, M.V6, mask, i, (j) => hash6(t.get(j * M.S6), t.get(j * M.S6 + 1), t.get(j * M.S6 + 2), t.get(j * M.S6 + 3)));
      }
    }
    return new AddressMap6([], { pages: t.pages, mask, size });
  }

  /** The table's pages and slot mask (src/policy/wasm-snapshot.ts lays the pages end to end). */
  image(): { readonly pages: readonly Int32Array[]; readonly mask: number } {
    return { pages: this.pages, mask: this.mask };
  }

  get(a: number, b: number, c: number, d: number): number {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const pages = this.pages, mask = this.mask;
    let i = hash6(a, b, c, d) & mask;
    for (;;) {
      const w = i << 3;
      const t = pages[w >>> M.PAGE_SHIFT]!;
      const o = w & M.PAGE_MASK;
      const v = t[o + M.V6]!;
      if (v === M.EMPTY) return M.EMPTY;
      if (t[o] === a && t[o + 1] === b && t[o + 2] === c && t[o + 3] === d) return v;
      i = (i + 1) & mask;
    }
  }
}

function at6(t: Int32Array, i: number, a: number, b: number, c: number, d: number): boolean {
  const o = i * M.S6;
  return t[o] === a && t[o + 1] === b && t[o + 2] === c && t[o + 3] === d;
}

function edAt6(t: PageEditor, i: number, a: number, b: number, c: number, d: number): boolean {
  const o = i * M.S6;
  return t.get(o) === a && t.get(o + 1) === b && t.get(o + 2) === c && t.get(o + 3) === d;
}

function put6(t: Int32Array, i: number, a: number, b: number, c: number, d: number, value: number): void {
  const o = i * M.S6;
  t[o] = a; t[o + 1] = b; t[o + 2] = c; t[o + 3] = d;
  t[o + M.V6] = value;
}
