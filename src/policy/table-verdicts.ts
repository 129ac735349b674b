// Rule-table phases 3 to 5: peer classes (the distinct combinations of address class and
// selector class), port classes, and the verdict of every (peer class, port class) cell, which
// is the walk of tiers.ts folded at build time: the hot path reads the answer, never walks.
// Cluster policy rules are in the table in NetworkPolicy's shape (cluster-facts.ts,
// compileClusterRule), so classes and matching are the same for every tier.
//
// A peer address matches a rule iff it matches the rule's ipBlocks (by address) OR it belongs to
// a pod the rule's selectors select. Peer classes are the distinct (match bits, named port
// resolution) combinations.

import type { PolicyRule, Protocol } from '../cluster/model.ts';
import { protocolNumber } from '../cluster/model.ts';
import { ACTION, SIDE, ruleCode } from './engine-api.ts';
import { resolveNamedPort } from './spec-facts.ts';
import { namedKey, namedPortsOf, type NamedPort } from './named-ports.ts';
import { OTHER_PROTOCOL_CLASS, PortMap } from './port-map.ts';
import type { TableSpec } from './rule-table.ts';
import type { IpClasses } from './table-addresses.ts';
import type { SelectorClasses } from './table-identities.ts';
import { PASS, TIERS, TIER_DEFAULT, walkTiers, type Pass, type Tier, type TierSet } from './tiers.ts';

export interface PeerClasses {
  /** ipClasses4 x nSel and ipClasses6 x nSel: the peer class of each (address class, selector class). */
  readonly combine4: Int32Array;
  readonly combine6: Int32Array;
  /** Per peer class: match bit per rule. */
  readonly bits: readonly Uint8Array[];
  /** Per peer class: its selector class's named port resolutions. */
  readonly resolutions: readonly number[][][];
}

export function classifyPeers(ip4: IpClasses, ip6: IpClasses, sel: SelectorClasses, k: number): PeerClasses {
  const nSel = sel.nSel;
  const peerKey = new Map<string, number>();
  const peerBits: Uint8Array[] = [];
  const peerRes: number[][][] = [];
  const combine = (ip: IpClasses): Int32Array => {
    const out = new Int32Array(ip.count * nSel);
    for (let a = 0; a < ip.count; a++) {
      for (let s = 0; s < nSel; s++) {
        const bits = new Uint8Array(k);
        for (let r = 0; r < k; r++) bits[r] = ip.bits[a * k + r]! | sel.bitRows[s * k + r]!;
        const key = `${bits.join('')}|${JSON.stringify(sel.resolutions[s])}`;
        let pc = peerKey.get(key);
        if (pc === undefined) {
          pc = peerBits.length;
          peerKey.set(key, pc);
          peerBits.push(bits);
          peerRes.push(sel.resolutions[s]!);
        }
        out[a * nSel + s] = pc;
      }
    }
    return out;
  };
  const combine4 = combine(ip4);
  const combine6 = combine(ip6);
  return { combine4, combine6, bits: peerBits, resolutions: peerRes };
}

export interface PortClasses {
  readonly portMap: PortMap;
  /** Does rule r's port list match port class q for peer class pc? */
  readonly matches: (rule: PolicyRule, q: number, peerRes: number[][]) => boolean;
}

export function classifyPorts(spec: TableSpec, peerNamed: readonly NamedPort[], peers: PeerClasses): PortClasses {
  const rules = spec.rules;
  // On ingress names resolve on the owner (once); on egress on the peer (per peer class).
  const ownerNamed = spec.direction === 'ingress' ? namedPortsOf(rules) : [];
  const ownerRes = new Map<string, number[]>();
  for (const n of ownerNamed) ownerRes.set(namedKey(n), resolveNamedPort(spec.ownerPorts ?? [], n.name, n.protocol));
  const peerNamedIndex = new Map<string, number>();
  peerNamed.forEach((n, i) => peerNamedIndex.set(namedKey(n), i));
  const cuts = new Map<number, Set<number>>();
  const cut = (proto: Protocol, lo: number, hi: number) => {
    const pn = protocolNumber(proto);
    let s = cuts.get(pn);
    if (!s) cuts.set(pn, (s = new Set()));
    s.add(lo);
    s.add(hi + 1);
  };
  for (const tr of rules) {
    for (const p of tr.rule.ports) {
      if (typeof p.port === 'number') cut(p.protocol, p.port, p.endPort ?? p.port);
      else if (typeof p.port === 'string') {
        const key = namedKey({ name: p.port, protocol: p.protocol });
        if (spec.direction === 'ingress') {
          for (const v of ownerRes.get(key) ?? []) cut(p.protocol, v, v);
        } else {
          const idx = peerNamedIndex.get(key)!;
          for (const res of peers.resolutions) for (const v of res[idx] ?? []) cut(p.protocol, v, v);
        }
      }
    }
  }
  const pm = new PortMap(cuts);
  const matches = (rule: PolicyRule, q: number, res: number[][]): boolean => {
    // "If this field is empty or missing, this rule matches all ports" - of every protocol.
    if (rule.ports.length === 0) return true;
    // A rule listing ports only matches protocols that have ports.
    if (q === OTHER_PROTOCOL_CLASS) return false;
    const proto = pm.classProto[q]!;
    const port = pm.classLo[q]!;
    for (const p of rule.ports) {
      if (protocolNumber(p.protocol) !== proto) continue;
      if (p.port === undefined) return true;
      if (typeof p.port === 'number') {
        // "endPort ... indicates that the range of ports from port to endPort if set, inclusive".
        if (port >= p.port && port <= (p.endPort ?? p.port)) return true;
      } else {
        const key = namedKey({ name: p.port, protocol: p.protocol });
        const values = spec.direction === 'ingress' ? ownerRes.get(key)! : res[peerNamedIndex.get(key)!]!;
        // The class is a single port whenever a resolved value starts it (cut at v and v+1).
        if (values.includes(port)) return true;
      }
    }
    return false;
  };
  return { portMap: pm, matches };
}

/** One cell of a table being folded: which of the table's rules match its peer and port class. */
interface Cell {
  readonly spec: TableSpec;
  /** The table's rules of each tier: [start, end) in spec.rules (which holds them in TIERS order). */
  readonly ranges: Readonly<Record<Tier, readonly [number, number]>>;
  /** Does the table's rule r match this cell? */
  matches(r: number): boolean;
}

/** A cluster tier over a cell: the first matching rule's Accept or Deny code, PASS for its Pass or no match. */
function clusterTierCell(c: Cell, tier: 'admin' | 'baseline'): number | Pass {
  const [start, end] = c.ranges[tier];
  const rules = c.spec.rules;
  for (let r = start; r < end; r++) {
    if (!c.matches(r)) continue;
    const a = rules[r]!.action;
    return a === 'Pass' ? PASS : ruleCode(rules[r]!.id, a === 'Accept' ? ACTION.ACCEPT : ACTION.DENY, true);
  }
  return PASS;
}

// The tiers as the compiled engine folds them, each answering a side code or PASS per cell
// (tiers.ts says what each means; the node exemption is applied after the lookup, see nodeExemptionApplies).
const TABLE_TIERS: TierSet<Cell, number> = {
  admin: (c) => clusterTierCell(c, 'admin'),
  networkpolicy: (c) => {
    // No NetworkPolicy isolates the owner in this direction: not this tier's to decide.
    if (c.spec.policies.length === 0) return PASS;
    // Policies are additive: the first matching rule (policy-key order, then spec order) is
    // the one reported; an isolated pod with no matching rule is denied.
    const [start, end] = c.ranges.networkpolicy;
    for (let r = start; r < end; r++) if (c.matches(r)) return ruleCode(c.spec.rules[r]!.id, ACTION.ACCEPT);
    return SIDE.NO_RULE;
  },
  baseline: (c) => clusterTierCell(c, 'baseline'),
};

/** [start, end) of each tier's rules in spec.rules, which must hold them in TIERS order. */
function tierRanges(rules: TableSpec['rules']): Record<Tier, [number, number]> {
  const out = {} as Record<Tier, [number, number]>;
  let r = 0;
  for (const t of TIERS) {
    const start = r;
    while (r < rules.length && rules[r]!.tier === t) r++;
    out[t] = [start, r];
  }
  if (r !== rules.length) throw new Error('table rules are not in tier order');
  return out;
}

/** The verdict matrix: nPeer x nPort side codes, each the walk of the tiers for that cell. */
export function foldVerdicts(spec: TableSpec, peers: PeerClasses, ports: PortClasses): Int32Array {
  const rules = spec.rules;
  const nPeer = peers.bits.length;
  const nPort = ports.portMap.classCount;
  const verdict = new Int32Array(nPeer * nPort);
  let pc = 0, q = 0;
  // One cell object, moved over the matrix (a table has up to millions of cells).
  const cell: Cell = {
    spec,
    ranges: tierRanges(rules),
    matches: (r) => peers.bits[pc]![r] === 1 && ports.matches(rules[r]!.rule, q, peers.resolutions[pc]!),
  };
  for (pc = 0; pc < nPeer; pc++) {
    for (q = 0; q < nPort; q++) verdict[pc * nPort + q] = walkTiers(TABLE_TIERS, cell, TIER_DEFAULT);
  }
  return verdict;
}
