// Admission to the verdict cache (verdict-cache.ts): a tuple the agent allowed goes into the
// kernel's cache only the second time it is judged allowed within a window ("doorkeeper").
//
// Why: an entry costs the agent a netlink add, a ledger entry (for exact counts) and its share
// of every counter read (`ipset save` of the live set), and pays back only when a later
// connection repeats the tuple. Most tuples that are worth caching repeat (a client talking to
// a service again); one-shot tuples (a fresh source address, a scan) never do, and when every
// connection is a first one the cache cost about a quarter of the agent's connections/s for
// nothing (README, Speed, "In the kernel"). With admission, a one-shot tuple costs a hash and a
// table slot; a repeated tuple is cached from its second connection on. Nothing about verdicts
// or counts changes: a connection that is not cached is judged and counted by the agent as
// without the cache, and what goes into the kernel is always the tuple just judged, with its
// own decision (this table only says "seen before", so a hash collision can at worst cache a
// tuple one connection early, never with another tuple's verdict).
//
// The table: one 32-bit hash per slot (Int32Array, indexed by the hash's low bits), no
// allocation per packet. A slot holds the last tuple that hashed there, so under a flood of
// first connections a tuple may be pushed out before it repeats; it is then admitted on its
// next sighting after that. The whole table is emptied every window (the cache's entry
// lifetime): "repeated" means within about that long. A new rule generation does not empty it:
// it holds no verdicts, and a tuple that was worth caching under the old rules is admitted at
// its first judgment under the new ones.

/** Slots of the table: 256 KiB; a tuple survives about this many other first connections. */
export const ADMISSION_SLOTS = 1 << 16;

// murmur3's 32-bit mixing: cheap in JIT-compiled JS (Math.imul), good enough spread for slot
// indexes (low bits) and for the stored hash.
function mix(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  h ^= Math.imul(w, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  // int32, not uint32: a value above 2^31 returned from a call is boxed (a heap number per call).
  return h | 0;
}

/** Hash of an IPv4 tuple (source, destination, protocol, destination port). */
export function tupleHash4(src: number, dst: number, proto: number, port: number): number {
  return finish(mix(mix(mix(4, src), dst), (proto << 16) | port));
}

/** Hash of an IPv6 tuple (address words as in src/net/address.ts). */
export function tupleHash6(
  s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, proto: number, port: number,
): number {
  let h = mix(mix(mix(mix(6, s0), s1), s2), s3);
  h = mix(mix(mix(mix(h, d0), d1), d2), d3);
  return finish(mix(h, (proto << 16) | port));
}

export class CacheAdmission {
  private readonly seen: Int32Array;
  private readonly mask: number;
  private clearedAt: number;
  /** Sightings that admitted (second or later) and first sightings that did not. */
  admitted = 0;
  deferred = 0;

  /** `slots` a power of two; the table is emptied every `windowMs` (age()). */
  constructor(readonly windowMs: number, slots = ADMISSION_SLOTS, now = Date.now()) {
    if (!(slots >= 1 && (slots & (slots - 1)) === 0)) throw new RangeError(`admission slots must be a power of two, got ${slots}`);
    this.seen = new Int32Array(slots);
    this.mask = slots - 1;
    this.clearedAt = now;
  }

  /**
   * A tuple was judged allowed (its hash, tupleHash4/6): true when it was seen since the table
   * was last emptied (cache it), else remembers it and returns false. Allocates nothing.
   */
  admit(hash: number): boolean {
    // 0 marks an empty slot: a tuple hashing to 0 is stored as 1 (a collision like any other).
    const h = hash === 0 ? 1 : hash | 0, i = h & this.mask;
    if (this.seen[i] === h) {
      this.admitted++;
      return true;
    }
    this.seen[i] = h;
    this.deferred++;
    return false;
  }

  /** Empties the table when a window has passed since it was last emptied (call often; cheap otherwise). */
  age(now: number): void {
    if (now - this.clearedAt < this.windowMs) return;
    this.seen.fill(0);
    this.clearedAt = now;
  }
}
