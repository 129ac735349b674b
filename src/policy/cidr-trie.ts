// Longest-prefix match over IPv4 and IPv6 prefixes, for the per-packet path.
//
// Why longest-prefix match is enough for exact ipBlock semantics: the inserted prefixes that
// contain one address always form a chain (two prefixes that share an address are nested), so
// the longest of them, L, determines the whole chain: a prefix contains the address iff it
// contains L. Give every inserted prefix the class of "its" chain (which cidrs and which excepts
// contain it) and an address's class is the value of its longest match, or the default value
// when no inserted prefix contains it.
//
// Layout: a path-compressed binary trie (a node only where a prefix ends or two subtrees
// branch), frozen into typed arrays after building, so a lookup walks integer indices and
// allocates nothing. A node stores its prefix (key words, already masked) and per-word masks;
// a lookup checks the node's whole prefix against the address (path compression skips bits),
// keeps the node's value when it holds one, then descends on the next bit.
//
// Tries are immutable once built: the compiler builds a new one for a new generation and old
// snapshots keep the old one.

const NO_CHILD = -1;
/** Value stored on branch-only nodes (no prefix ends there). Values given by callers must be >= 0. */
const NO_VALUE = -1;

/** A prefix to insert: `words` are 1 (IPv4) or 4 (IPv6) unsigned 32-bit words; host bits are ignored. */
export interface TriePrefix {
  readonly words: readonly number[];
  readonly prefix: number;
  readonly value: number;
}

function wordMask(prefix: number, wordIndex: number): number {
  const keep = Math.max(0, Math.min(32, prefix - 32 * wordIndex));
  if (keep === 0) return 0;
  if (keep === 32) return 0xffffffff;
  return (0xffffffff << (32 - keep)) >>> 0;
}

function bitAt(words: readonly number[], bit: number): number {
  return (words[bit >>> 5]! >>> (31 - (bit & 31))) & 1;
}

/** Length of the common prefix of a/la and b/lb (bounded by both lengths). */
function commonLength(a: readonly number[], la: number, b: readonly number[], lb: number): number {
  const limit = Math.min(la, lb);
  for (let w = 0; w * 32 < limit; w++) {
    const x = (a[w]! ^ b[w]!) >>> 0;
    if (x !== 0) return Math.min(limit, w * 32 + Math.clz32(x));
  }
  return limit;
}

/** Mutable build-time node; thrown away by freeze(). */
interface BuildNode {
  key: number[];
  len: number;
  value: number;
  c0: BuildNode | null;
  c1: BuildNode | null;
}

/**
 * Builds the compressed trie for one family (width 1 word = IPv4, 4 words = IPv6). Inserting
 * the same prefix twice keeps the last value.
 */
function buildNodes(width: 1 | 4, prefixes: readonly TriePrefix[]): BuildNode {
  const bits = width * 32;
  const root: BuildNode = { key: new Array<number>(width).fill(0), len: 0, value: NO_VALUE, c0: null, c1: null };
  for (const p of prefixes) {
    if (p.words.length !== width) throw new Error(`cidr-trie: prefix has ${p.words.length} words, want ${width}`);
    if (!(p.prefix >= 0 && p.prefix <= bits)) throw new Error(`cidr-trie: prefix length ${p.prefix} out of range`);
    if (!(p.value >= 0)) throw new Error(`cidr-trie: value must be >= 0, got ${p.value}`);
    const key: number[] = [];
    for (let i = 0; i < width; i++) key.push((p.words[i]! & wordMask(p.prefix, i)) >>> 0);
    insert(root, key, p.prefix, p.value);
  }
  return root;
}

function insert(root: BuildNode, key: number[], len: number, value: number): void {
  if (len === 0) {
    root.value = value;
    return;
  }
  let node = root;
  // Invariant: node's prefix is a prefix of key/len and node.len < len.
  for (;;) {
    const bit = bitAt(key, node.len);
    const child = bit ? node.c1 : node.c0;
    if (child === null) {
      const leaf: BuildNode = { key, len, value, c0: null, c1: null };
      if (bit) node.c1 = leaf; else node.c0 = leaf;
      return;
    }
    const common = commonLength(key, len, child.key, child.len);
    if (common === child.len) {
      if (len === child.len) {
        child.value = value;
        return;
      }
      node = child;
      continue;
    }
    // The child's prefix diverges from (or extends past) ours at bit `common`: put a node of
    // length `common` in between.
    let mid: BuildNode;
    if (common === len) {
      mid = { key, len, value, c0: null, c1: null };
    } else {
      const midKey = key.map((w, i) => (w & wordMask(common, i)) >>> 0);
      mid = { key: midKey, len: common, value: NO_VALUE, c0: null, c1: null };
      const leaf: BuildNode = { key, len, value, c0: null, c1: null };
      if (bitAt(key, common)) mid.c1 = leaf; else mid.c0 = leaf;
    }
    if (bitAt(child.key, common)) mid.c1 = child; else mid.c0 = child;
    if (bit) node.c1 = mid; else node.c0 = mid;
    return;
  }
}

interface Frozen {
  count: number;
  key: Uint32Array;
  mask: Uint32Array;
  len: Uint8Array;
  value: Int32Array;
  c0: Int32Array;
  c1: Int32Array;
}

function freeze(width: 1 | 4, root: BuildNode): Frozen {
  const order: BuildNode[] = [];
  const stack: BuildNode[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    order.push(n);
    if (n.c1) stack.push(n.c1);
    if (n.c0) stack.push(n.c0);
  }
  const index = new Map<BuildNode, number>();
  order.forEach((n, i) => index.set(n, i));
  const count = order.length;
  const f: Frozen = {
    count,
    key: new Uint32Array(count * width),
    mask: new Uint32Array(count * width),
    len: new Uint8Array(count),
    value: new Int32Array(count),
    c0: new Int32Array(count),
    c1: new Int32Array(count),
  };
  for (let i = 0; i < count; i++) {
    const n = order[i]!;
    for (let w = 0; w < width; w++) {
      f.key[i * width + w] = n.key[w]!;
      f.mask[i * width + w] = wordMask(n.len, w);
    }
    // len is at most 128 and fits a byte.
    f.len[i] = n.len;
    f.value[i] = n.value;
    f.c0[i] = n.c0 ? index.get(n.c0)! : NO_CHILD;
    f.c1[i] = n.c1 ? index.get(n.c1)! : NO_CHILD;
  }
  return f;
}

/** Immutable IPv4 longest-prefix-match table: uint32 address -> value (or the default). */
export class CidrTrie4 {
  private readonly key: Uint32Array;
  private readonly mask: Uint32Array;
  private readonly len: Uint8Array;
  private readonly value: Int32Array;
  private readonly c0: Int32Array;
  private readonly c1: Int32Array;
  /** Number of trie nodes (for memory accounting and tests). */
  readonly nodeCount: number;

  constructor(prefixes: readonly TriePrefix[], readonly defaultValue: number) {
    const f = freeze(1, buildNodes(1, prefixes));
    this.key = f.key; this.mask = f.mask; this.len = f.len; this.value = f.value;
    this.c0 = f.c0; this.c1 = f.c1; this.nodeCount = f.count;
  }

  /**
   * The trie as table-arena.ts stores it: T4 = 5 words a node (key, mask, value, child0,
   * child1), children as word offsets from the start, root first.
   */
  image(): Int32Array {
    const n = this.nodeCount;
    const out = new Int32Array(n * 5);
    for (let i = 0; i < n; i++) {
      const o = i * 5;
      out[o] = this.key[i]!;
      out[o + 1] = this.mask[i]!;
      out[o + 2] = this.value[i]!;
      out[o + 3] = this.c0[i] === NO_CHILD ? NO_CHILD : this.c0[i]! * 5;
      out[o + 4] = this.c1[i] === NO_CHILD ? NO_CHILD : this.c1[i]! * 5;
    }
    return out;
  }

  /** Value of the longest inserted prefix containing addr, or defaultValue. Allocates nothing. */
  lookup(addr: number): number {
    const key = this.key, mask = this.mask, len = this.len, value = this.value;
    let best = this.defaultValue;
    let n = 0;
    while (n !== NO_CHILD) {
      if (((addr ^ key[n]!) & mask[n]!) !== 0) break;
      const v = value[n]!;
      if (v !== NO_VALUE) best = v;
      const l = len[n]!;
      if (l === 32) break;
      n = ((addr >>> (31 - l)) & 1) === 0 ? this.c0[n]! : this.c1[n]!;
    }
    return best;
  }
}

/** Immutable IPv6 longest-prefix-match table over four uint32 words. */
export class CidrTrie6 {
  private readonly key: Uint32Array;
  private readonly mask: Uint32Array;
  private readonly len: Uint8Array;
  private readonly value: Int32Array;
  private readonly c0: Int32Array;
  private readonly c1: Int32Array;
  readonly nodeCount: number;

  constructor(prefixes: readonly TriePrefix[], readonly defaultValue: number) {
    const f = freeze(4, buildNodes(4, prefixes));
    this.key = f.key; this.mask = f.mask; this.len = f.len; this.value = f.value;
    this.c0 = f.c0; this.c1 = f.c1; this.nodeCount = f.count;
  }

  /**
   * The trie as table-arena.ts stores it: T6 = 12 words a node (key 0-3, mask 4-7, value,
   * prefix length, child0, child1), children as word offsets from the start, root first.
   */
  image(): Int32Array {
    const n = this.nodeCount;
    const out = new Int32Array(n * 12);
    for (let i = 0; i < n; i++) {
      const o = i * 12;
      for (let w = 0; w < 4; w++) {
        out[o + w] = this.key[i * 4 + w]!;
        out[o + 4 + w] = this.mask[i * 4 + w]!;
      }
      out[o + 8] = this.value[i]!;
      out[o + 9] = this.len[i]!;
      out[o + 10] = this.c0[i] === NO_CHILD ? NO_CHILD : this.c0[i]! * 12;
      out[o + 11] = this.c1[i] === NO_CHILD ? NO_CHILD : this.c1[i]! * 12;
    }
    return out;
  }

  lookup(a: number, b: number, c: number, d: number): number {
    const key = this.key, mask = this.mask, len = this.len, value = this.value;
    let best = this.defaultValue;
    let n = 0;
    while (n !== NO_CHILD) {
      const o = n << 2;
      if (((a ^ key[o]!) & mask[o]!) !== 0) break;
      if (((b ^ key[o + 1]!) & mask[o + 1]!) !== 0) break;
      if (((c ^ key[o + 2]!) & mask[o + 2]!) !== 0) break;
      if (((d ^ key[o + 3]!) & mask[o + 3]!) !== 0) break;
      const v = value[n]!;
      if (v !== NO_VALUE) best = v;
      const l = len[n]!;
      if (l === 128) break;
      const w = l < 32 ? a : l < 64 ? b : l < 96 ? c : d;
      n = ((w >>> (31 - (l & 31))) & 1) === 0 ? this.c0[n]! : this.c1[n]!;
    }
    return best;
  }
}
