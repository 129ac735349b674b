// External endpoints of the connectivity model: the address space of one family cut into the
// blocks every CIDR of the policies (NetworkPolicy ipBlock cidr and except, cluster policy
// `networks` and the host blocks of addresses learned for `domainNames`) distinguishes. Two addresses in one block are in exactly the same CIDRs, so every
// ipBlock / networks peer matches both or neither: one representative address judges the block.
// CIDRs nest or are disjoint, so the set of CIDRs containing an address is the chain of
// ancestors of the innermost one: a block is "innermost CIDR minus the largest listed CIDRs
// inside it" (or the whole space minus the top-level CIDRs), which is also how it is named.

import { clusterPeerCIDRs } from '../policy/cluster-facts.ts';
import type { Family } from '../cluster/model.ts';
import type { ClusterView } from '../cluster/state.ts';
import { formatCIDR, formatIP, parseCIDR, parseIP, type ParsedCIDR, type ParsedIP } from '../net/address.ts';

export interface AddressBlock {
  /** The innermost CIDR of the block ("0.0.0.0/0" / "::/0" for the rest of the space). */
  readonly cidr: string;
  /** The largest policy CIDRs inside `cidr` that are other blocks, sorted by address. */
  readonly except: readonly string[];
  /** The address connections are judged with: one that is no pod's or node's, else (a block of node addresses only) a node's. */
  readonly address: string;
}

export function blockName(b: Pick<AddressBlock, 'cidr' | 'except'>): string {
  return b.except.length ? `${b.cidr} except ${b.except.join(', ')}` : b.cidr;
}

const BITS: Readonly<Record<Family, number>> = { IPv4: 32, IPv6: 128 };

export function ipToBig(ip: ParsedIP): bigint {
  let v = 0n;
  for (const w of ip.words) v = (v << 32n) | BigInt(w >>> 0);
  return v;
}

/** The address of a bigint (ipToBig's inverse). */
export function bigToIP(v: bigint, family: Family): ParsedIP {
  const n = family === 'IPv4' ? 1 : 4;
  const words: number[] = [];
  for (let i = n - 1; i >= 0; i--) words.push(Number((v >> BigInt(32 * i)) & 0xffffffffn));
  return { family, words };
}

interface Span {
  readonly cidr: ParsedCIDR;
  readonly text: string;
  readonly first: bigint;
  readonly last: bigint;
}

function span(c: ParsedCIDR): Span {
  const first = ipToBig(c);
  const size = 1n << BigInt(BITS[c.family] - c.prefix);
  return { cidr: c, text: formatCIDR(c), first, last: first + size - 1n };
}

/** Every distinct policy CIDR of the family, widest first. */
export function policyCIDRs(view: ClusterView, family: Family, extra: readonly string[] = []): ParsedCIDR[] {
  const seen = new Map<string, ParsedCIDR>();
  const add = (text: string) => {
    const c = parseCIDR(text);
    if (c && c.family === family) seen.set(formatCIDR(c), c);
  };
  for (const pol of view.policies.values()) {
    for (const rule of [...pol.ingress, ...pol.egress]) {
      for (const peer of rule.peers) {
        if (!peer.ipBlock) continue;
        add(peer.ipBlock.cidr);
        for (const e of peer.ipBlock.except) add(e);
      }
    }
  }
  for (const cp of view.clusterPolicies.values()) {
    for (const rule of [...cp.ingress, ...cp.egress]) for (const peer of rule.peers) clusterPeerCIDRs(peer, view.nodes).forEach(add);
  }
  for (const e of extra) add(e);
  return [...seen.values()].sort((a, b) => a.prefix - b.prefix);
}

/**
 * The blocks of a family, sorted by their first address. `used` holds the addresses that are
 * pods' or nodes' (as bigint, see ipToBig): a block's representative avoids them, and a block
 * with no other address (a /32 holding one pod) is no external endpoint, unless it is one
 * address of `fallback` (used ones that are no endpoint of their own: a node's address), which
 * then judges it. Without that, a policy CIDR naming one node exactly (an ipBlock
 * 10.0.0.2/32 for the API server, a cluster policy `nodes` peer) made that node reachable from
 * no endpoint at all, and connlist and diff left out every connection to and from it.
 */
export function addressBlocks(
  view: ClusterView, family: Family, used: ReadonlySet<bigint>, extra: readonly string[] = [], fallback: ReadonlySet<bigint> = new Set(),
): AddressBlock[] {
  const spans = policyCIDRs(view, family, extra).map(span);
  const whole = span({ family, words: family === 'IPv4' ? [0] : [0, 0, 0, 0], prefix: 0 });
  // Innermost span containing [first..] among the listed ones (spans nest or are disjoint).
  const innermost = (addr: bigint): Span => {
    let best = whole;
    for (const s of spans) if (s.first <= addr && addr <= s.last && s.cidr.prefix >= best.cidr.prefix) best = s;
    return best;
  };
  const cuts = new Set<bigint>([whole.first]);
  for (const s of spans) {
    cuts.add(s.first);
    if (s.last < whole.last) cuts.add(s.last + 1n);
  }
  const starts = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const byOwner = new Map<Span, { first: bigint; address?: bigint; fallback?: bigint }>();
  for (let i = 0; i < starts.length; i++) {
    const first = starts[i]!;
    const last = i + 1 < starts.length ? starts[i + 1]! - 1n : whole.last;
    const owner = innermost(first);
    let b = byOwner.get(owner);
    if (!b) byOwner.set(owner, (b = { first }));
    if (b.address !== undefined) continue;
    // The first free address; a few tries suffice unless the interval is nearly all pods.
    for (let a = first, tries = 0; a <= last && tries < 4096; a++, tries++) {
      if (!used.has(a)) {
        b.address = a;
        break;
      }
      if (b.fallback === undefined && fallback.has(a)) b.fallback = a;
    }
  }
  const out: (AddressBlock & { first: bigint })[] = [];
  for (const [owner, b] of byOwner) {
    // The fallback only for a block of one address: it is then exactly that node, whereas a
    // wider block of several nodes' addresses could not be judged by one of them (own nodes).
    const address = b.address ?? (owner.first === owner.last ? b.fallback : undefined);
    if (address === undefined) continue;
    const inside = spans.filter((s) => s !== owner && s.cidr.prefix > owner.cidr.prefix && s.first >= owner.first && s.last <= owner.last);
    const maximal = inside.filter((s) => !inside.some((o) => o !== s && o.cidr.prefix < s.cidr.prefix && o.first <= s.first && s.last <= o.last));
    maximal.sort((x, y) => (x.first < y.first ? -1 : 1));
    out.push({ cidr: owner.text, except: maximal.map((s) => s.text), address: formatIP(bigToIP(address, family)), first: b.first });
  }
  out.sort((x, y) => (x.first < y.first ? -1 : x.first > y.first ? 1 : 0));
  return out.map(({ cidr, except, address }) => ({ cidr, except, address }));
}

/** The block of an address: its innermost policy CIDR's text, or the family's /0 (for grouping pods). */
export function blockLocator(view: ClusterView, family: Family, extra: readonly string[] = []): (address: string) => string {
  const spans = policyCIDRs(view, family, extra).map(span);
  const whole = family === 'IPv4' ? '0.0.0.0/0' : '::/0';
  return (address) => {
    const ip = parseIP(address);
    if (!ip || ip.family !== family) return whole;
    const a = ipToBig(ip);
    let best: Span | undefined;
    for (const s of spans) if (s.first <= a && a <= s.last && (!best || s.cidr.prefix >= best.cidr.prefix)) best = s;
    return best ? best.text : whole;
  };
}

/** bigint of an address text (for the `used` set), or undefined. */
export function addressKey(text: string): bigint | undefined {
  const ip = parseIP(text);
  return ip ? ipToBig(ip) : undefined;
}
