// Exact address -> pod slot maps, for the per-packet "which pod owns this IP" question.
//
// Pod addresses are whole addresses (/32, /128), so an open-addressing hash table answers in one
// or two probes, where a trie walks ~log2(pods) nodes; and it is rebuilt from scratch in well
// under a millisecond for 10,000 pods (a pod add/delete publishes a new one; published maps are
// never changed). Linear probing over a power-of-two typed array: no objects, no allocation on
// lookup. The load factor stays <= 1/2, so probe chains are short.

import { hash6, mix } from './address-hash.ts';

const EMPTY = -1;

// Keys and values are interleaved in ONE array, so a probe reads one cache line, where parallel
// key and value arrays cost two misses per lookup on a map too large for the L1/L2 caches (10,000
// pods make a 256 KiB IPv4 map). IPv4 entries are [key, value] (2 words); IPv6 entries
// [k0, k1, k2, k3, value, -, -, -] (8 words, two entries per 64-byte line). An empty entry has
// value EMPTY.
const S4 = 2;
const S6 = 8;
/** Word of the value inside an entry. */
const V4 = 1;
const V6 = 4;

/** The arrays of an edited copy (see with()). */
interface Edited {
  slots: Int32Array;
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
function backshift(slots: Int32Array, stride: number, valueAt: number, mask: number, hole: number, home: (j: number) => number): void {
  slots[hole * stride + valueAt] = EMPTY;
  let j = hole;
  for (;;) {
    j = (j + 1) & mask;
    if (slots[j * stride + valueAt] === EMPTY) return;
    const h = home(j) & mask;
    // Entry j may fill the hole unless its home lies cyclically in (hole, j].
    const inside = hole <= j ? h > hole && h <= j : h > hole || h <= j;
    if (inside) continue;
    for (let w = 0; w < stride; w++) slots[hole * stride + w] = slots[j * stride + w]!;
    slots[j * stride + valueAt] = EMPTY;
    hole = j;
  }
}

/** IPv4 address (uint32 or int32) -> value >= 0, or -1. */
export class AddressMap4 {
  private readonly slots: Int32Array;
  private readonly mask: number;
  readonly size: number;

  /**
   * entries: [address, value] pairs; a repeated address keeps the last value. Values must be >= 0.
   * (`edited` is for with(): both paths set the same fields in the same order, so every map has
   * one hidden class and the lookup call site stays monomorphic.)
   */
  constructor(entries: readonly (readonly [number, number])[], edited?: Edited) {
    if (edited) {
      this.slots = edited.slots; this.mask = edited.mask; this.size = edited.size;
      return;
    }
    const cap = capacityFor(entries.length);
    const t = emptySlots(cap, S4, V4);
    const mask = cap - 1;
    let size = 0;
    // Indexed (no iterator per entry: a full compile builds maps of every pod address).
    for (let j = 0; j < entries.length; j++) {
      const addr = entries[j]![0], value = entries[j]![1];
      if (!(value >= 0)) throw new Error(`address-map: value must be >= 0, got ${value}`);
      const k = addr | 0;
      let i = mix(k) & mask;
      while (t[i * S4 + V4] !== EMPTY && t[i * S4] !== k) i = (i + 1) & mask;
      if (t[i * S4 + V4] === EMPTY) size++;
      t[i * S4] = k;
      t[i * S4 + V4] = value;
    }
    this.slots = t;
    this.mask = mask;
    this.size = size;
  }

  /**
   * A new map with some addresses set (value >= 0) or removed (value -1); this one is unchanged.
   * Copies the array (a memcpy) and edits the copy, so a pod add costs microseconds instead
   * of a rebuild; falls back to a rebuild when the table would get too full.
   */
  with(edits: readonly (readonly [number, number])[]): AddressMap4 {
    let adds = 0;
    for (const [, v] of edits) if (v >= 0) adds++;
    const cap = this.mask + 1;
    if ((this.size + adds) * 2 > cap) {
      const all = new Map<number, number>();
      for (let i = 0; i < cap; i++) if (this.slots[i * S4 + V4] !== EMPTY) all.set(this.slots[i * S4]!, this.slots[i * S4 + V4]!);
      for (const [a, v] of edits) if (v >= 0) all.set(a | 0, v); else all.delete(a | 0);
      return new AddressMap4([...all]);
    }
    const t = this.slots.slice();
    const mask = this.mask;
    let size = this.size;
    for (const [a, v] of edits) {
      const k = a | 0;
      let i = mix(k) & mask;
      while (t[i * S4 + V4] !== EMPTY && t[i * S4] !== k) i = (i + 1) & mask;
      if (v >= 0) {
        if (t[i * S4 + V4] === EMPTY) size++;
        t[i * S4] = k;
        t[i * S4 + V4] = v;
      } else if (t[i * S4 + V4] !== EMPTY) {
        size--;
        backshift(t, S4, V4, mask, i, (j) => mix(t[j * S4]!));
      }
    }
    return new AddressMap4([], { slots: t, mask, size });
  }

  get(addr: number): number {
    const k = addr | 0;
    const t = this.slots, mask = this.mask;
    let i = mix(k) & mask;
    for (;;) {
      const o = i << 1;
      const v = t[o + V4]!;
      if (v === EMPTY) return EMPTY;
      if (t[o] === k) return v;
      i = (i + 1) & mask;
    }
  }
}

/** IPv6 address (four words) -> value >= 0, or -1. */
export class AddressMap6 {
  private readonly slots: Int32Array;
  private readonly mask: number;
  readonly size: number;

  constructor(entries: readonly (readonly [readonly number[], number])[], edited?: Edited) {
    if (edited) {
      this.slots = edited.slots; this.mask = edited.mask; this.size = edited.size;
      return;
    }
    const cap = capacityFor(entries.length);
    const t = emptySlots(cap, S6, V6);
    const mask = cap - 1;
    let size = 0;
    for (let j = 0; j < entries.length; j++) {
      const w = entries[j]![0], value = entries[j]![1];
      if (w.length !== 4) throw new Error(`address-map: IPv6 address needs 4 words, got ${w.length}`);
      if (!(value >= 0)) throw new Error(`address-map: value must be >= 0, got ${value}`);
      const a = w[0]! | 0, b = w[1]! | 0, c = w[2]! | 0, d = w[3]! | 0;
      let i = hash6(a, b, c, d) & mask;
      while (t[i * S6 + V6] !== EMPTY && !at6(t, i, a, b, c, d)) i = (i + 1) & mask;
      if (t[i * S6 + V6] === EMPTY) size++;
      put6(t, i, a, b, c, d, value);
    }
    this.slots = t;
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
      for (let i = 0; i < cap; i++) {
        const o = i * S6;
        if (this.slots[o + V6] === EMPTY) continue;
        const w = [this.slots[o]!, this.slots[o + 1]!, this.slots[o + 2]!, this.slots[o + 3]!];
        all.set(w.join(), [w, this.slots[o + V6]!]);
      }
      for (const [w, v] of edits) {
        const key = w.map((x) => x | 0).join();
        if (v >= 0) all.set(key, [w.map((x) => x | 0), v]); else all.delete(key);
      }
      return new AddressMap6([...all.values()]);
    }
    const t = this.slots.slice();
    const mask = this.mask;
    let size = this.size;
    for (const [w, v] of edits) {
      const a = w[0]! | 0, b = w[1]! | 0, c = w[2]! | 0, d = w[3]! | 0;
      let i = hash6(a, b, c, d) & mask;
      while (t[i * S6 + V6] !== EMPTY && !at6(t, i, a, b, c, d)) i = (i + 1) & mask;
      if (v >= 0) {
        if (t[i * S6 + V6] === EMPTY) size++;
        put6(t, i, a, b, c, d, v);
      } else if (t[i * S6 + V6] !== EMPTY) {
        size--;
        backshift(t, S6, V6, mask, i, (j) => hash6(t[j * S6]!, t[j * S6 + 1]!, t[j * S6 + 2]!, t[j * S6 + 3]!));
      }
    }
    return new AddressMap6([], { slots: t, mask, size });
  }

  get(a: number, b: number, c: number, d: number): number {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = this.slots, mask = this.mask;
    let i = hash6(a, b, c, d) & mask;
    for (;;) {
      const o = i << 3;
      const v = t[o + V6]!;
      if (v === EMPTY) return EMPTY;
      if (t[o] === a && t[o + 1] === b && t[o + 2] === c && t[o + 3] === d) return v;
      i = (i + 1) & mask;
    }
  }
}

function at6(t: Int32Array, i: number, a: number, b: number, c: number, d: number): boolean {
  const o = i * S6;
  return t[o] === a && t[o + 1] === b && t[o + 2] === c && t[o + 3] === d;
}

function put6(t: Int32Array, i: number, a: number, b: number, c: number, d: number, value: number): void {
  const o = i * S6;
  t[o] = a; t[o + 1] = b; t[o + 2] = c; t[o + 3] = d;
  t[o + V6] = value;
}
