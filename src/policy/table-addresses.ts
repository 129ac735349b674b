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
import type { SelectorPeer } from './table-identities.ts';
import type { TableRule } from './rule-table.ts';
import { parseIPBlock } from './spec-facts.ts';

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
    for (const c of [b.cidr, ...b.except]) distinct.set(cidrKey(c.words, c.prefix), c);
    const key = cidrKey(b.cidr.words, b.cidr.prefix);
    const list = byCidr.get(key);
    if (list) list.push(b);
    else byCidr.set(key, [b]);
    lengths.add(b.cidr.prefix);
  }
  const prefixLengths = [...lengths].sort((a, b) => a - b);
  const classOf = new Map<string, number>();
  const bitRows: number[] = [];
  let count = 0;
  const classFor = (row: Uint8Array): number => {
    const key = row.join('');
    let c = classOf.get(key);
    if (c === undefined) {
      c = count++;
      classOf.set(key, c);
      for (let r = 0; r < k; r++) bitRows.push(row[r]!);
    }
    return c;
  };
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
  return { prefixes, bits: Uint8Array.from(bitRows), count, defaultClass };
}

function cidrKey(words: readonly number[], prefix: number): string {
  return `${words.join('.')}/${prefix}`;
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
  const classOf = new Map<string, number>();
  const rows: number[] = Array.from(ip.bits);
  for (let c = 0; c < ip.count; c++) {
    const key = ip.bits.subarray(c * k, (c + 1) * k).join('');
    if (!classOf.has(key)) classOf.set(key, c);
  }
  let count = ip.count;
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
    const key = row.join('');
    let c = classOf.get(key);
    if (c === undefined) {
      classOf.set(key, (c = count++));
      for (let r = 0; r < k; r++) rows.push(row[r]!);
    }
    comb[cell] = c;
  }
  return { ip: { ...ip, bits: Uint8Array.from(rows), count }, comb };
}
