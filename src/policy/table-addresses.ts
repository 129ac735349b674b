// Rule-table phase 1: the rules' peers, split into what matches by address (ipBlocks, and rules
// with an empty from/to) and what matches by pod identity (selectors, see table-identities.ts),
// and the address classes: the regions of the address space in which the same rules match.
//
// ipClass comes from a CIDR trie of the table's ipBlock cidrs and excepts (see cidr-trie.ts for
// why longest-prefix match is exact). Rules with an empty from/to ("this rule matches all
// sources/destinations") are matched in every address class, including addresses of no pod.
// Rules with `nodes` peers match node addresses by node class (node-classes.ts): withNodeClasses
// adds the address classes node addresses make, next to the trie's.

import { cidrWithin, maskWords, type ParsedCIDR } from '../net/address.ts';
import type { TriePrefix } from './cidr-trie.ts';
import type { LabelSelector } from '../cluster/model.ts';
import type { IdentityRegistry } from './identity.ts';
import type { NodeClasses } from './node-classes.ts';
import { selectorKey } from './selector.ts';
import type { RuleBlock } from './block-classes.ts';
import type { SelectorPeer } from './table-identities.ts';
import type { TableRule } from './rule-table.ts';
import { parseIPBlock } from './spec-facts.ts';
import { keepShape } from './kept-shapes.ts';

export interface IpBlockSpec {
  readonly rule: number;
  readonly cidr: ParsedCIDR;
  readonly except: readonly ParsedCIDR[];
}

export interface RulePeers {
  /** Per rule (table index): 1 when its from/to is empty, so it matches every peer. */
  readonly matchAll: Uint8Array;
  readonly blocks4: readonly IpBlockSpec[];
  readonly blocks6: readonly IpBlockSpec[];
  readonly selectorPeers: readonly SelectorPeer[];
}

/**
 * parseIPBlock per ipBlock object (null: does not parse). Cluster policy rules are compiled once
 * per policy version and their ipBlocks then sit in every tier table holding the policy, which
 * parsed the same CIDRs again for each (a sixth of a tier table's build).
 */
const parsedBlocks = new WeakMap<object, ReturnType<typeof parseIPBlock> | null>();

function parsedBlock(b: Parameters<typeof parseIPBlock>[0]): ReturnType<typeof parseIPBlock> {
  let p = parsedBlocks.get(b);
  if (p === undefined) parsedBlocks.set(b, (p = parseIPBlock(b) ?? null));
  return p ?? undefined;
}

export function rulePeers(rules: readonly TableRule[], identities: IdentityRegistry): RulePeers {
  const matchAll = new Uint8Array(rules.length);
  const blocks4: IpBlockSpec[] = [];
  const blocks6: IpBlockSpec[] = [];
  const selectorPeers: SelectorPeer[] = [];
  rules.forEach((tr, r) => {
    // "If this field is empty or missing, this rule matches all sources" (and destinations).
    // (A cluster rule whose only peers are `nodes` has no peers of NetworkPolicy's shape.)
    if (tr.rule.peers.length === 0 && !tr.nodes?.length) matchAll[r] = 1;
    for (const peer of tr.rule.peers) {
      if (peer.ipBlock) {
        // Undefined (matches nothing) if the cidr or any except does not parse; see parseIPBlock.
        const b = parsedBlock(peer.ipBlock);
        if (!b) continue;
        (b.cidr.family === 'IPv4' ? blocks4 : blocks6).push({ rule: r, ...b });
      } else if (peer.podSelector || peer.namespaceSelector) {
        selectorPeers.push({ peer, ns: tr.policyNamespace, rule: r, matcher: identities.peerMatcher(peer, tr.policyNamespace) });
      }
    }
  });
  return { matchAll, blocks4, blocks6, selectorPeers };
}

/**
 * rulePeers of a table whose rules come in blocks (block-classes.ts: a policy version's rules),
 * from each block's own, kept per registry and block (a guardrail's block is in a hundred
 * tables; looking its selectors' matchers up again for each was an eighth of a tier table's build).
 */
const peersByRegistry = new WeakMap<IdentityRegistry, WeakMap<object, RulePeers>>();

export function rulePeersByBlocks(rules: readonly TableRule[], blocks: readonly RuleBlock[], identities: IdentityRegistry): RulePeers {
  let m = peersByRegistry.get(identities);
  if (!m) peersByRegistry.set(identities, (m = new WeakMap()));
  const matchAll = new Uint8Array(rules.length);
  const blocks4: IpBlockSpec[] = [];
  const blocks6: IpBlockSpec[] = [];
  const selectorPeers: SelectorPeer[] = [];
  let off = 0;
  for (const b of blocks) {
    let own = m.get(b.key);
    if (!own) m.set(b.key, (own = rulePeers(rules.slice(off, off + b.count), identities)));
    matchAll.set(own.matchAll, off);
    for (const x of own.blocks4) blocks4.push({ ...x, rule: x.rule + off });
    for (const x of own.blocks6) blocks6.push({ ...x, rule: x.rule + off });
    for (const x of own.selectorPeers) selectorPeers.push({ ...x, rule: x.rule + off });
    off += b.count;
  }
  if (off !== rules.length) throw new Error('rule blocks do not cover the table');
  return { matchAll, blocks4, blocks6, selectorPeers };
}

/** Result of classifying one family's address space. */
export interface IpClasses {
  readonly prefixes: TriePrefix[];
  /** Per ip class: match bit per rule (row-major, k columns). */
  readonly bits: Uint8Array;
  readonly count: number;
  readonly defaultClass: number;
}

export function classifyAddresses(blocks: readonly IpBlockSpec[], matchAll: Uint8Array, k: number): IpClasses {
  // Every distinct cidr/except is a region boundary; the region of an address is its longest
  // containing prefix (or none).
  const distinct = new Map<string, ParsedCIDR>();
  // The blocks by their cidr, and the prefix lengths in use: a region is inside a block's cidr
  // iff the region masked to that cidr's length is the cidr, so each region looks up one key per
  // prefix length in use instead of testing every block. Tables of cluster policies with `nodes`
  // peers hold one /32 (/128) block per node address and rule: at 5,000 nodes, testing each of
  // them against each region was most of a compile.
  const byCidr = new Map<string, IpBlockSpec[]>();
  const lengths = new Set<number>();
  for (const b of blocks) {
    distinct.set(parsedKey(b.cidr), b.cidr);
    for (const c of b.except) distinct.set(parsedKey(c), c);
    const key = parsedKey(b.cidr);
    const list = byCidr.get(key);
    if (list) list.push(b);
    else byCidr.set(key, [b]);
    lengths.add(b.cidr.prefix);
  }
  const prefixLengths = [...lengths].sort((a, b) => a - b);
  const classes = new ByteRows(k);
  const classFor = (row: Uint8Array): number => classes.intern(row);
  // No prefix contains the address: only rules matching every peer match.
  const defaultClass = classFor(matchAll);
  const prefixes: TriePrefix[] = [];
  for (const region of distinct.values()) {
    const row = Uint8Array.from(matchAll);
    for (const len of prefixLengths) {
      if (len > region.prefix) break;
      const containing = byCidr.get(cidrKey(maskWords(region.words, len), len));
      if (!containing) continue;
      for (const b of containing) {
        if (row[b.rule]) continue;
        // "except is a slice of CIDRs that should not be included within an IPBlock": the block
        // matches iff its cidr contains the address and none of its excepts does.
        if (!b.except.some((e) => cidrWithin(region, e))) row[b.rule] = 1;
      }
    }
    prefixes.push({ words: region.words, prefix: region.prefix, value: classFor(row) });
  }
  return { prefixes, bits: classes.rows(), count: classes.count, defaultClass };
}

/**
 * Rows of k bytes interned by content: equal rows, one class (numbered from 0 in order of first
 * appearance). A table's address classes are such rows over its rules; keying them by a string of
 * k characters each (hundreds of rules in a tier table) was a large part of a table's garbage.
 */
export class ByteRows {
  private bits: Uint8Array;
  count = 0;
  private readonly byHash = new Map<number, number[]>();

  constructor(private readonly k: number) {
    this.bits = new Uint8Array(Math.max(1, k) * 8);
  }

  private hash(row: Uint8Array, off: number): number {
    let h = 0x811c9dc5;
    for (let r = 0; r < this.k; r++) if (row[off + r] !== 0) h = Math.imul(h ^ (r * 256 + row[off + r]!), 0x01000193);
    return h;
  }

  /** The class of row[off .. off + k), a new one when no earlier row is equal. */
  intern(row: Uint8Array, off = 0): number {
    const k = this.k;
    const h = this.hash(row, off);
    let list = this.byHash.get(h);
    if (list) {
      for (const c of list) {
        let same = true;
        for (let r = 0, o = c * k; r < k && same; r++) same = this.bits[o + r] === row[off + r];
        if (same) return c;
      }
    } else this.byHash.set(h, (list = []));
    list.push(this.add(row, off));
    return this.count - 1;
  }

  /** Appends row[off .. off + k) as a class without looking for an equal one; returns its class. */
  add(row: Uint8Array, off = 0): number {
    const k = this.k;
    if ((this.count + 1) * k > this.bits.length) {
      const grown = new Uint8Array(Math.max((this.count + 1) * k, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const o = this.count * k;
    for (let r = 0; r < k; r++) this.bits[o + r] = row[off + r]!;
    return this.count++;
  }

  /** Appends every row of `rows` (count rows) as classes 0.., each findable unless an earlier one is equal. */
  seed(rows: Uint8Array, count: number): void {
    for (let c = 0; c < count; c++) {
      const h = this.hash(rows, c * this.k);
      let found = false;
      const list = this.byHash.get(h);
      if (list) {
        for (const d of list) {
          let same = true;
          for (let r = 0; r < this.k && same; r++) same = this.bits[d * this.k + r] === rows[c * this.k + r];
          if (same) found = true;
        }
      }
      const cls = this.add(rows, c * this.k);
      if (!found) {
        if (list) list.push(cls);
        else this.byHash.set(h, [cls]);
      }
    }
  }

  /** The rows, count x k. */
  rows(): Uint8Array {
    return this.bits.slice(0, this.count * this.k);
  }
}

// ByteRows live only within a table's build (kept-shapes.ts).
keepShape(new ByteRows(0));

function cidrKey(words: readonly number[], prefix: number): string {
  return `${words.join('.')}/${prefix}`;
}

/** cidrKey per parsed CIDR (they are parsed once per ipBlock object, see parsedBlock, and sit in many tables). */
const parsedKeys = new WeakMap<ParsedCIDR, string>();

function parsedKey(c: ParsedCIDR): string {
  let k = parsedKeys.get(c);
  if (k === undefined) parsedKeys.set(c, (k = cidrKey(c.words, c.prefix)));
  return k;
}

/** selectorKey per selector object (a policy version's selectors sit in many tables). */
const keys = new WeakMap<LabelSelector, string>();

function keyOf(s: LabelSelector): string {
  let k = keys.get(s);
  if (k === undefined) keys.set(s, (k = selectorKey(s)));
  return k;
}

/**
 * One family's address classes with node addresses added: per node class the table's rules its
 * `nodes` peers match (a row over the rules), and for each (trie class, node class) pair some
 * node address of the family has, the class of the trie class's row OR the node class's row.
 * `comb` maps every (trie class, node class) to an address class (the trie class itself where
 * the node class matches none of the table's rules). Exact because a node address is a host
 * route: no prefix of the trie is longer, so its row is its trie class's row plus its nodes
 * peers' matches.
 */
export function withNodeClasses(
  ip: IpClasses, rules: readonly TableRule[], k: number, nc: NodeClasses,
  addrs: Int32Array, classes: Int32Array, wordsPer: 1 | 4, trieClass: (addrs: Int32Array, at: number) => number,
): { readonly ip: IpClasses; readonly comb: Int32Array } {
  const m = nc.selectors.size, n = nc.count;
  const nodeBits = new Uint8Array(n * k);
  const matching = new Uint8Array(n);
  rules.forEach((tr, r) => {
    for (const s of tr.nodes ?? []) {
      const j = nc.selectors.get(keyOf(s));
      if (j === undefined) throw new Error('node classes lack a selector of the table');
      for (let c = 1; c < n; c++) {
        if (nc.bits[c * m + j]) {
          nodeBits[c * k + r] = 1;
          matching[c] = 1;
        }
      }
    }
  });
  const comb = new Int32Array(ip.count * n);
  for (let c = 0; c < ip.count; c++) comb.fill(c, c * n, (c + 1) * n);
  const rows = new ByteRows(k);
  rows.seed(ip.bits, ip.count);
  const done = new Uint8Array(ip.count * n);
  const row = new Uint8Array(k);
  for (let e = 0; e < classes.length; e++) {
    const nCls = classes[e]!;
    if (!matching[nCls]) continue;
    const t = trieClass(addrs, e * wordsPer);
    const cell = t * n + nCls;
    if (done[cell]) continue;
    done[cell] = 1;
    for (let r = 0; r < k; r++) row[r] = ip.bits[t * k + r]! | nodeBits[nCls * k + r]!;
    comb[cell] = rows.intern(row);
  }
  return { ip: { ...ip, bits: rows.rows(), count: rows.count }, comb };
}
