// Rule-table phase 1: the rules' peers, split into what matches by address (ipBlocks, and rules
// with an empty from/to) and what matches by pod identity (selectors, see table-identities.ts),
// and the address classes: the regions of the address space in which the same rules match.
//
// ipClass comes from a CIDR trie of the table's ipBlock cidrs and excepts (see cidr-trie.ts for
// why longest-prefix match is exact). Rules with an empty from/to ("this rule matches all
// sources/destinations") are matched in every address class, including addresses of no pod.

import { cidrWithin, maskWords, type ParsedCIDR } from '../net/address.ts';
import type { TriePrefix } from './cidr-trie.ts';
import type { IdentityRegistry } from './identity.ts';
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
    if (tr.rule.peers.length === 0) matchAll[r] = 1;
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
