// AssemblyScript, compiled to WebAssembly by scripts/build-wasm.ts (not TypeScript for tsc: this
// folder is outside tsconfig.json). The per-packet judge of src/policy/snapshot.ts (judge4,
// judge6) and the table lookups of src/policy/table-arena.ts, over a flat copy of one snapshot
// in this module's memory (src/policy/wasm-snapshot.ts writes it and says why).
//
// The same steps as the JavaScript, word for word, so src/policy/snapshot.ts and table-arena.ts
// are the specification: the layouts (slot records, address map entries, table images, node
// class maps) and constants below are theirs, and test/policy/wasm-snapshot.test.ts checks the
// answers against the JavaScript judge on random clusters and the large cluster. Every read is
// inline (`@inline`): V8 11 (Node 20) does not inline one wasm function into another, and a call
// per word read cost more than the lookup saved (docs/speed-history.md).
//
// Memory (int32 word offsets, set by setup): the table arena at word 0 (its offsets are
// absolute, chain records and node maps included), the IPv4 and IPv6 address maps (their pages
// laid end to end), the slot records (likewise), the node address lists, and OUT: the last
// judgement's egress code, ingress code, source slot and destination slot.

let MAP4: i32 = 0;
let MASK4: i32 = 0;
let MAP6: i32 = 0;
let MASK6: i32 = 0;
let SLOTS: i32 = 0;
let ADDR4: i32 = 0;
let ADDR4_START: i32 = 0;
let ADDR6: i32 = 0;
let ADDR6_START: i32 = 0;
let OUT: i32 = 0;

export function setup(map4: i32, mask4: i32, map6: i32, mask6: i32, slots: i32, addr4: i32, addr4Start: i32, addr6: i32, addr6Start: i32, out: i32): void {
  MAP4 = map4; MASK4 = mask4; MAP6 = map6; MASK6 = mask6; SLOTS = slots;
  ADDR4 = addr4; ADDR4_START = addr4Start; ADDR6 = addr6; ADDR6_START = addr6Start; OUT = out;
}

// Constants of src/policy (tiers.ts, engine-api.ts SIDE, table-arena.ts K, address-map.ts M),
// exported so that src/policy/wasm-snapshot.ts checks each against its source when it loads.
export const TIER_NEXT: i32 = -(1 << 29);
export const TIER_PASS: i32 = -(1 << 29) + 1;
export const TIERS_DECIDE: i32 = -(1 << 30);
export const PASS_CELL: i32 = -(1 << 30);
export const NOT_ISOLATED: i32 = -1;
export const NO_RULE: i32 = -2;
export const NODE: i32 = -3;
export const SELF: i32 = -4;
export const NOT_JUDGED: i32 = -5;
export const SKIPPED: i32 = -6;
export const EMPTY: i32 = -1;
export const NO_TRIE: i32 = -1;
export const NO_VALUE: i32 = -1;
export const NO_CHILD: i32 = -1;
export const HEADER_WORDS: i32 = 22;

// @ts-ignore: decorator
@inline function w(i: i32): i32 { return load<i32>(i << 2); }

// @ts-ignore: decorator
@inline function mix(h: i32): i32 {
  h ^= h >>> 16;
  h *= <i32>0x85ebca6b;
  h ^= h >>> 13;
  h *= <i32>0xc2b2ae35;
  h ^= h >>> 16;
  return h;
}

// @ts-ignore: decorator
@inline function hash6(a: i32, b: i32, c: i32, d: i32): i32 {
  return mix(((mix(a) ^ b) * <i32>0x9e3779b1) ^ ((mix(c) ^ d) * <i32>0x85ebca77));
}

// address-map.ts: entries [key, value] (IPv4) and [k0, k1, k2, k3, value, -, -, -] (IPv6).
// @ts-ignore: decorator
@inline function slot4(k: i32): i32 {
  let i = mix(k) & MASK4;
  while (true) {
    const o = MAP4 + (i << 1);
    const v = w(o + 1);
    if (v == EMPTY) return EMPTY;
    if (w(o) == k) return v;
    i = (i + 1) & MASK4;
  }
  return EMPTY;
}

// @ts-ignore: decorator
@inline function slot6(a: i32, b: i32, c: i32, d: i32): i32 {
  let i = hash6(a, b, c, d) & MASK6;
  while (true) {
    const o = MAP6 + (i << 3);
    const v = w(o + 4);
    if (v == EMPTY) return EMPTY;
    if (w(o) == a && w(o + 1) == b && w(o + 2) == c && w(o + 3) == d) return v;
    i = (i + 1) & MASK6;
  }
  return EMPTY;
}

// node-classes.ts: word 0 the mask, then entries [key, class] / [k0..k3, class].
// @ts-ignore: decorator
@inline function nodeClass4(o: i32, addr: i32): i32 {
  const mask = w(o);
  let i = mix(addr) & mask;
  while (true) {
    const s = o + 1 + (i << 1);
    const c = w(s + 1);
    if (c == 0 || w(s) == addr) return c;
    i = (i + 1) & mask;
  }
  return 0;
}

// @ts-ignore: decorator
@inline function nodeClass6(o: i32, a: i32, b: i32, c: i32, d: i32): i32 {
  const mask = w(o);
  let i = hash6(a, b, c, d) & mask;
  while (true) {
    const s = o + 1 + i * 5;
    const k = w(s + 4);
    if (k == 0 || (w(s) == a && w(s + 1) == b && w(s + 2) == c && w(s + 3) == d)) return k;
    i = (i + 1) & mask;
  }
  return 0;
}

// table-arena.ts portClass: the branch-free binary search over a protocol block's starts.
// @ts-ignore: decorator
@inline function portClass(o: i32, b: i32, port: i32): i32 {
  if (b < 0) return 0;
  const s = o + 4;
  let lo = s + w(o + b);
  let len = w(o + b + 1) - w(o + b);
  while (len > 1) {
    const half = len >>> 1;
    lo += half & ~((port - w(lo + half)) >> 31);
    len -= half;
  }
  return lo - s + 1;
}

// table-arena.ts selClass: byte, uint16 or int32 classes (H_SEL_WIDTH 0, 1, 2), right after the
// header (HEADER_WORDS).
// @ts-ignore: decorator
@inline function selClass(base: i32, identity: i32): i32 {
  const o = base + HEADER_WORDS;
  const width = w(base + 3);
  return width == 0 ? <i32>load<u8>((o << 2) + identity)
    : width == 1 ? <i32>load<u16>(((o << 1) + identity) << 1)
    : w(o + identity);
}

// table-arena.ts verdictOf.
// @ts-ignore: decorator
@inline function verdictOf(base: i32, cell: i32, block: i32, port: i32): i32 {
  if (cell == PASS_CELL) return TIER_NEXT;
  const row = base + w(base + 9);
  if (cell < 0) return w(row + ~cell * w(base + 1));
  return w(row + cell * w(base + 1) + portClass(base + w(base + 5), block, port));
}

// table-arena.ts judgeImage4 (header words: 0 NSEL, 1 NPORT, 2 SEL_LEN, 5 PORTS, 6 TRIE4,
// 7 DEFAULT4, 8 COMBINE4, 13 NODES4, 14 NODELO4, 15 NODEHI4, 16 NODECOMB4, 21 NNODE).
// @ts-ignore: decorator
@inline function image4(base: i32, addr: i32, identity: i32, block: i32, port: i32): i32 {
  const nSel = w(base);
  const sc = nSel > 1 && identity < w(base + 2) ? selClass(base, identity) : 0;
  let ipc = w(base + 7);
  const to = w(base + 6);
  if (to != NO_TRIE) {
    const t = base + to;
    let n = t;
    while (true) {
      const m = w(n + 1);
      if (((addr ^ w(n)) & m) != 0) break;
      const v = w(n + 2);
      if (v != NO_VALUE) ipc = v;
      const l = clz(~m);
      if (l == 32) break;
      const c = w(n + 3 + ((addr >>> (31 - l)) & 1));
      if (c == NO_CHILD) break;
      n = t + c;
    }
  }
  const nm = w(base + 13);
  const f = addr ^ 0x80000000;
  if (nm >= 0 && f >= w(base + 14) && f <= w(base + 15)) {
    const nc = nodeClass4(nm, addr);
    if (nc != 0) ipc = w(base + w(base + 16) + ipc * w(base + 21) + nc);
  }
  return verdictOf(base, w(base + w(base + 8) + ipc * nSel + sc), block, port);
}

// table-arena.ts judgeImage6 (header words 10 TRIE6, 11 DEFAULT6, 12 COMBINE6, 17 NODES6,
// 18 NODELO6, 19 NODEHI6, 20 NODECOMB6).
// @ts-ignore: decorator
@inline function image6(base: i32, w0: i32, w1: i32, w2: i32, w3: i32, identity: i32, block: i32, port: i32): i32 {
  const nSel = w(base);
  const sc = nSel > 1 && identity < w(base + 2) ? selClass(base, identity) : 0;
  let ipc = w(base + 11);
  const to = w(base + 10);
  if (to != NO_TRIE) {
    const t = base + to;
    let n = t;
    while (true) {
      if (((w0 ^ w(n)) & w(n + 4)) != 0) break;
      if (((w1 ^ w(n + 1)) & w(n + 5)) != 0) break;
      if (((w2 ^ w(n + 2)) & w(n + 6)) != 0) break;
      if (((w3 ^ w(n + 3)) & w(n + 7)) != 0) break;
      const v = w(n + 8);
      if (v != NO_VALUE) ipc = v;
      const l = w(n + 9);
      if (l == 128) break;
      const x = l < 32 ? w0 : l < 64 ? w1 : l < 96 ? w2 : w3;
      const c = w(n + 10 + ((x >>> (31 - (l & 31))) & 1));
      if (c == NO_CHILD) break;
      n = t + c;
    }
  }
  const nm = w(base + 17);
  const f = w0 ^ 0x80000000;
  if (nm >= 0 && f >= w(base + 18) && f <= w(base + 19)) {
    const nc = nodeClass6(nm, w0, w1, w2, w3);
    if (nc != 0) ipc = w(base + w(base + 20) + ipc * w(base + 21) + nc);
  }
  return verdictOf(base, w(base + w(base + 12) + ipc * nSel + sc), block, port);
}

// table-arena.ts judgeChain4/6: a record [n, base_1 .. base_n] at the word's offset.
function chain4(x: i32, addr: i32, identity: i32, block: i32, port: i32): i32 {
  const c = x & 0x7fffffff;
  const end = c + 1 + w(c);
  for (let i = c + 1; i < end; i++) {
    const r = image4(w(i), addr, identity, block, port);
    if (r != TIER_NEXT) return r == TIER_PASS ? TIER_NEXT : r;
  }
  return TIER_NEXT;
}

function chain6(x: i32, w0: i32, w1: i32, w2: i32, w3: i32, identity: i32, block: i32, port: i32): i32 {
  const c = x & 0x7fffffff;
  const end = c + 1 + w(c);
  for (let i = c + 1; i < end; i++) {
    const r = image6(w(i), w0, w1, w2, w3, identity, block, port);
    if (r != TIER_NEXT) return r == TIER_PASS ? TIER_NEXT : r;
  }
  return TIER_NEXT;
}

// snapshot.ts side4/side6: the tier words in order, the first tier that decides answers.
// @ts-ignore: decorator
@inline function side4(o: i32, addr: i32, identity: i32, block: i32, port: i32): i32 {
  let c = TIER_NEXT;
  for (let t = 0; t < 3 && c == TIER_NEXT; t++) {
    const x = w(o + t);
    if (x >= 0) c = image4(x, addr, identity, block, port);
    else if (x < TIER_NEXT) c = chain4(x, addr, identity, block, port);
  }
  return c == TIER_NEXT ? NOT_ISOLATED : c;
}

// @ts-ignore: decorator
@inline function side6(o: i32, w0: i32, w1: i32, w2: i32, w3: i32, identity: i32, block: i32, port: i32): i32 {
  let c = TIER_NEXT;
  for (let t = 0; t < 3 && c == TIER_NEXT; t++) {
    const x = w(o + t);
    if (x >= 0) c = image6(x, w0, w1, w2, w3, identity, block, port);
    else if (x < TIER_NEXT) c = chain6(x, w0, w1, w2, w3, identity, block, port);
  }
  return c == TIER_NEXT ? NOT_ISOLATED : c;
}

// @ts-ignore: decorator
@inline function onNode4(n: i32, addr: i32): bool {
  if (n < 0) return false;
  for (let j = w(ADDR4_START + n), end = w(ADDR4_START + n + 1); j < end; j++) if (w(ADDR4 + j) == addr) return true;
  return false;
}

// @ts-ignore: decorator
@inline function onNode6(n: i32, a: i32, b: i32, c: i32, d: i32): bool {
  if (n < 0) return false;
  for (let j = w(ADDR6_START + n), end = w(ADDR6_START + n + 1); j < end; j += 4) {
    const o = ADDR6 + j;
    if (w(o) == a && w(o + 1) == b && w(o + 2) == c && w(o + 3) == d) return true;
  }
  return false;
}

// engine-api.ts sideFromNetworkPolicyTier and sideAllows.
// @ts-ignore: decorator
@inline function fromNetworkPolicyTier(code: i32): bool { return code >= 0 ? (code & 2) == 0 : code == NO_RULE; }
// @ts-ignore: decorator
@inline function allows(code: i32): bool { return code >= 0 ? (code & 1) == 0 : code != NO_RULE; }
// tiers.ts sideExemption.
// @ts-ignore: decorator
@inline function exemption(judged: bool, self: bool): i32 { return !judged ? NOT_JUDGED : self ? SELF : TIERS_DECIDE; }

// Slot record words (snapshot.ts R): 0 identity, 1 node, 2-4 egress tiers, 5-7 ingress tiers.
// `stop` != 0: the ingress side is SKIPPED once the egress side denies (snapshot.ts judge4's
// stopAtDenial; tiers.ts, "A connection").
export function judge4(src: i32, dst: i32, proto: i32, port: i32, stop: i32): i32 {
  const s = slot4(src);
  const d = slot4(dst);
  const so = SLOTS + (s << 3), do_ = SLOTS + (d << 3);
  const block = proto == 6 ? 0 : proto == 17 ? 1 : proto == 132 ? 2 : -1;
  let e = exemption((s < 0 ? NOT_JUDGED : w(so + 2)) != NOT_JUDGED, s == d);
  if (e == TIERS_DECIDE) {
    e = side4(so + 2, dst, d < 0 ? 0 : w(do_), block, port);
    if (fromNetworkPolicyTier(e) && onNode4(w(so + 1), dst)) e = NODE;
  }
  let i = stop != 0 && !allows(e) ? SKIPPED : exemption((d < 0 ? NOT_JUDGED : w(do_ + 5)) != NOT_JUDGED, s == d);
  if (i == TIERS_DECIDE) {
    i = side4(do_ + 5, src, s < 0 ? 0 : w(so), block, port);
    if (fromNetworkPolicyTier(i) && onNode4(w(do_ + 1), src)) i = NODE;
  }
  store<i32>(OUT << 2, e);
  store<i32>((OUT + 1) << 2, i);
  store<i32>((OUT + 2) << 2, s);
  store<i32>((OUT + 3) << 2, d);
  return allows(e) && allows(i) ? 1 : 0;
}

export function judge6(s0: i32, s1: i32, s2: i32, s3: i32, d0: i32, d1: i32, d2: i32, d3: i32, proto: i32, port: i32, stop: i32): i32 {
  const s = slot6(s0, s1, s2, s3);
  const d = slot6(d0, d1, d2, d3);
  const so = SLOTS + (s << 3), do_ = SLOTS + (d << 3);
  const block = proto == 6 ? 0 : proto == 17 ? 1 : proto == 132 ? 2 : -1;
  let e = exemption((s < 0 ? NOT_JUDGED : w(so + 2)) != NOT_JUDGED, s == d);
  if (e == TIERS_DECIDE) {
    e = side6(so + 2, d0, d1, d2, d3, d < 0 ? 0 : w(do_), block, port);
    if (fromNetworkPolicyTier(e) && onNode6(w(so + 1), d0, d1, d2, d3)) e = NODE;
  }
  let i = stop != 0 && !allows(e) ? SKIPPED : exemption((d < 0 ? NOT_JUDGED : w(do_ + 5)) != NOT_JUDGED, s == d);
  if (i == TIERS_DECIDE) {
    i = side6(do_ + 5, s0, s1, s2, s3, s < 0 ? 0 : w(so), block, port);
    if (fromNetworkPolicyTier(i) && onNode6(w(do_ + 1), s0, s1, s2, s3)) i = NODE;
  }
  store<i32>(OUT << 2, e);
  store<i32>((OUT + 1) << 2, i);
  store<i32>((OUT + 2) << 2, s);
  store<i32>((OUT + 3) << 2, d);
  return allows(e) && allows(i) ? 1 : 0;
}
