// Node addresses by node class: what a cluster policy's `nodes` peers match, classified once for
// every table instead of once per table.
//
// Why: a `nodes` peer matches the addresses of the nodes its selector picks. Compiled as one host
// block per selected node address, every tier table holding such a rule carried thousands of
// them (at 5,000 nodes), and each table build classified and laid them out again (its address
// classes, its trie). Here the node addresses are split once, for all cluster policies' node
// selectors, into node classes (addresses the same selectors pick share a class); the arena holds
// one address -> node class hash map that every table with `nodes` rules links to (TableLayout),
// and a table holds, per address class of its own trie and node class, the address class the
// pair makes (H_NODECOMB4/6 in table-arena.ts). Class 0 is "no selector picks it" (and every
// address that is no node's), which the map does not store.
//
// An address several nodes claim matches a selector picking any of them (the evaluator asks
// whether a selected node lists the address), so its class is the union of its nodes' matches.

import type { LabelSelector, Node } from '../cluster/model.ts';
import { NodeAddressWords } from './node-address-words.ts';
import { selectorKey, selectorMatches } from './selector.ts';
import { hash6, mix } from './address-hash.ts';

export interface NodeClasses {
  /** Index of each selector (by selectorKey) in the classes' match rows. */
  readonly selectors: ReadonlyMap<string, number>;
  /** Node classes, class 0 included. */
  readonly count: number;
  /** Per class: match bit per selector (row-major, selectors.size columns). */
  readonly bits: Uint8Array;
  /** Node addresses of a class > 0 and their classes (IPv6: four words each). */
  readonly addr4: Int32Array;
  readonly cls4: Int32Array;
  readonly addr6: Int32Array;
  readonly cls6: Int32Array;
  /** Hash map images (see nodeClass4/6), written once into an arena for the tables that link to them (TableLayout). */
  readonly map4: Int32Array;
  readonly map6: Int32Array;
  /**
   * The range of addr4 (IPv6: of the first word of addr6), as int32 of the word XOR 0x80000000
   * (so signed order is the addresses' order): a lookup outside it, such as a pod address
   * when nodes sit in another subnet (the usual case), skips the hash probe.
   */
  readonly range4: readonly [number, number];
  readonly range6: readonly [number, number];
}

function range(words: Int32Array, stride: number): [number, number] {
  let lo = 0x7fffffff, hi = -0x80000000;
  for (let i = 0; i < words.length; i += stride) {
    const f = words[i]! ^ 0x80000000;
    if (f < lo) lo = f;
    if (f > hi) hi = f;
  }
  return [lo, hi];
}

export function classifyNodes(nodes: ReadonlyMap<string, Node>, selectors: Iterable<LabelSelector>, words: NodeAddressWords = new NodeAddressWords()): NodeClasses {
  const index = new Map<string, number>();
  const list: LabelSelector[] = [];
  for (const s of selectors) {
    const key = selectorKey(s);
    if (!index.has(key)) {
      index.set(key, list.length);
      list.push(s);
    }
  }
  const m = list.length;
  // Each address's match row (union over the nodes listing it).
  const rows = new Map<string, { readonly family: 'IPv4' | 'IPv6'; readonly words: readonly number[]; readonly row: Uint8Array }>();
  for (const n of nodes.values()) {
    let nodeRow: Uint8Array | undefined;
    for (let j = 0; j < m; j++) {
      if (!selectorMatches(list[j]!, n.labels ?? {})) continue;
      (nodeRow ??= new Uint8Array(m))[j] = 1;
    }
    if (!nodeRow) continue;
    for (const ip of words.of(n)) {
      let e = rows.get(ip.text);
      if (!e) rows.set(ip.text, (e = { family: ip.family, words: ip.words, row: new Uint8Array(m) }));
      for (let j = 0; j < m; j++) e.row[j] |= nodeRow[j]!;
    }
  }
  const classOf = new Map<string, number>([['0'.repeat(m), 0]]);
  const bitRows: number[] = new Array<number>(m).fill(0);
  const a4: number[] = [], c4: number[] = [], a6: number[] = [], c6: number[] = [];
  for (const { family, words, row } of rows.values()) {
    const key = row.join('');
    let c = classOf.get(key);
    if (c === undefined) {
      classOf.set(key, (c = classOf.size));
      for (let j = 0; j < m; j++) bitRows.push(row[j]!);
    }
    if (family === 'IPv4') {
      a4.push(words[0]!);
      c4.push(c);
    } else {
      a6.push(...words);
      c6.push(c);
    }
  }
  const addr4 = Int32Array.from(a4), cls4 = Int32Array.from(c4), addr6 = Int32Array.from(a6), cls6 = Int32Array.from(c6);
  return {
    selectors: index, count: classOf.size, bits: Uint8Array.from(bitRows),
    addr4, cls4, addr6, cls6, map4: mapImage(addr4, cls4, 1), map6: mapImage(addr6, cls6, 4),
    range4: range(addr4, 1), range6: range(addr6, 4),
  };
}

// Map image: word 0 the slot mask, then slots of S4 (key, class) or S6 (key 0-3, class) words;
// class 0 marks an empty slot. Linear probing at load <= 1/2 (as address-map.ts).
const S4 = 2;
const S6 = 5;

function mapImage(addrs: Int32Array, classes: Int32Array, wordsPer: 1 | 4): Int32Array {
  let cap = 4;
  while (cap < classes.length * 2) cap *= 2;
  const stride = wordsPer === 1 ? S4 : S6;
  const img = new Int32Array(1 + cap * stride);
  const mask = cap - 1;
  img[0] = mask;
  for (let e = 0; e < classes.length; e++) {
    const w = e * wordsPer;
    let i = (wordsPer === 1 ? mix(addrs[w]!) : hash6(addrs[w]!, addrs[w + 1]!, addrs[w + 2]!, addrs[w + 3]!)) & mask;
    while (img[1 + i * stride + stride - 1] !== 0) i = (i + 1) & mask;
    const o = 1 + i * stride;
    for (let j = 0; j < wordsPer; j++) img[o + j] = addrs[w + j]!;
    img[o + stride - 1] = classes[e]!;
  }
  return img;
}

/** Node class of an IPv4 address (int32 bits) in the map image at `o` of `a`; 0 when none. */
export function nodeClass4(a: Int32Array, o: number, addr: number): number {
  const mask = a[o]!;
  let i = mix(addr) & mask;
  for (;;) {
    const s = o + 1 + i * S4;
    const c = a[s + 1]!;
    if (c === 0 || a[s] === addr) return c;
    i = (i + 1) & mask;
  }
}

export function nodeClass6(a: Int32Array, o: number, w0: number, w1: number, w2: number, w3: number): number {
  const mask = a[o]!;
  let i = hash6(w0, w1, w2, w3) & mask;
  for (;;) {
    const s = o + 1 + i * S6;
    const c = a[s + 4]!;
    if (c === 0 || (a[s] === w0 && a[s + 1] === w1 && a[s + 2] === w2 && a[s + 3] === w3)) return c;
    i = (i + 1) & mask;
  }
}
