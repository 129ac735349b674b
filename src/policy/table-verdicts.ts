// Rule-table phases 3 to 5: peer classes (the distinct combinations of address class and
// selector class), port classes, and the verdict of every (peer class, port class) cell, which
// is the walk of the table's tiers (tiers.ts) folded at build time: the hot path reads the answer.
// The compiler gives each table the rules of one tier; a cell where they all pass holds TIER_NEXT
// (the next tier's table, or the default, answers; see snapshot.ts).
// Cluster policy rules are in the table in NetworkPolicy's shape (cluster-facts.ts,
// compileClusterRule), so classes and matching are the same for every tier.
//
// A peer address matches a rule iff it matches the rule's ipBlocks (by address) OR it belongs to
// a pod the rule's selectors select. So the first rule of a tier that matches a cell is the
// earlier of the first one matching through the address class and the first one matching
// through the selector class: folding needs those per class (linear in the classes), not per
// (address class, selector class) pair. Peer classes are the distinct verdict rows of those
// pairs: pairs whose cells all get the same side codes share one row of the matrix.

import type { PolicyRule, Protocol } from '../cluster/model.ts';
import { protocolNumber } from '../cluster/model.ts';
import { ACTION, SIDE, ruleCode } from './engine-api.ts';
import { resolveNamedPort } from './spec-facts.ts';
import { namedKey, namedPortsOf, portNamedKey, type NamedPort } from './named-ports.ts';
import { MAX_PORT, OTHER_PROTOCOL_CLASS, PortMap } from './port-map.ts';
import type { TableSpec } from './rule-table.ts';
import type { IpClasses } from './table-addresses.ts';
import type { SelectorClasses } from './table-identities.ts';
import { PASS, TIERS, TIER_NEXT, walkTiers, type Pass, type Tier, type TierSet } from './tiers.ts';

export interface PeerClasses {
  /**
   * ipClasses4 x nSel and ipClasses6 x nSel: the peer class (verdict row) of each (address
   * class, selector class). Allocated here, filled by foldVerdicts, which decides the rows.
   */
  readonly combine4: Int32Array;
  readonly combine6: Int32Array;
  /** Per selector class: its named port resolutions (egress: names resolve on the peer). */
  readonly resolutions: readonly number[][][];
  /** Distinct verdict rows (peer classes); set by foldVerdicts. */
  count: number;
  readonly ip4: IpClasses;
  readonly ip6: IpClasses;
  readonly sel: SelectorClasses;
  readonly k: number;
}

export function classifyPeers(ip4: IpClasses, ip6: IpClasses, sel: SelectorClasses, k: number): PeerClasses {
  return {
    combine4: new Int32Array(ip4.count * sel.nSel), combine6: new Int32Array(ip6.count * sel.nSel),
    resolutions: sel.resolutions, count: 0, ip4, ip6, sel, k,
  };
}

export interface PortClasses {
  readonly portMap: PortMap;
  /**
   * Calls `hit` with every port class the rule's port list matches, names resolved as
   * `peerRes` (egress) or on the owner (ingress). A class matches a port entry when its first
   * port does: classes are cut at every range start and end + 1, so that is the whole class.
   * (Per port entry, not per class and entry: a tier table has about 150 rules and 24 classes.)
   */
  readonly classesOf: (rule: PolicyRule, peerRes: number[][], hit: (q: number) => void) => void;
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
  const peerCut = new Set<string>();
  for (const tr of rules) {
    for (const p of tr.rule.ports) {
      if (typeof p.port === 'number') cut(p.protocol, p.port, p.endPort ?? p.port);
      else if (typeof p.port === 'string') {
        const key = portNamedKey(p);
        if (spec.direction === 'ingress') {
          for (const v of ownerRes.get(key) ?? []) cut(p.protocol, v, v);
        } else {
          // Once per name and protocol (rules repeat the few names; each cut is per peer class).
          if (peerCut.has(key)) continue;
          peerCut.add(key);
          const idx = peerNamedIndex.get(key)!;
          for (const res of peers.resolutions) for (const v of res[idx] ?? []) cut(p.protocol, v, v);
        }
      }
    }
  }
  const pm = new PortMap(cuts);
  const nPort = pm.classCount;
  const classesOf = (rule: PolicyRule, res: number[][], hit: (q: number) => void): void => {
    // "If this field is empty or missing, this rule matches all ports" - of every protocol.
    if (rule.ports.length === 0) {
      for (let q = 0; q < nPort; q++) hit(q);
      return;
    }
    // A rule listing ports only matches protocols that have ports (never OTHER_PROTOCOL_CLASS).
    for (const p of rule.ports) {
      const proto = protocolNumber(p.protocol);
      const first = pm.lookup(proto, 0);
      if (first === OTHER_PROTOCOL_CLASS) continue;
      const last = pm.lookup(proto, MAX_PORT);
      if (typeof p.port === 'string') {
        const key = portNamedKey(p);
        const values = spec.direction === 'ingress' ? ownerRes.get(key)! : res[peerNamedIndex.get(key)!]!;
        // The class is a single port whenever a resolved value starts it (cut at v and v+1).
        for (const v of values) {
          const q = pm.lookup(proto, v);
          if (pm.classLo[q] === v) hit(q);
        }
        continue;
      }
      // No port: every port of the protocol. "endPort ... indicates that the range of ports
      // from port to endPort if set, inclusive".
      const lo = p.port ?? 0, hi = p.port === undefined ? MAX_PORT : (p.endPort ?? p.port);
      let q = pm.lookup(proto, lo);
      if (pm.classLo[q]! < lo) q++;
      for (; q <= last && pm.classLo[q]! <= hi; q++) hit(q);
    }
  };
  return { portMap: pm, classesOf };
}

/** One cell of a table being folded: the first of the table's rules of each tier matching its peer and port class. */
interface Cell {
  readonly spec: TableSpec;
  /** Index in spec.rules of the tier's first rule matching the cell, or -1. */
  first(tier: Tier): number;
}

/**
 * A cluster tier over a cell: the first matching rule's Accept or Deny code, PASS for no match,
 * and for its Pass PASS too (a combined table: the next tier answers) or the spec's passCode (a
 * per-policy table, which must tell a Pass from no match, see tier-tables.ts).
 */
function clusterTierCell(c: Cell, tier: 'admin' | 'baseline'): number | Pass {
  const r = c.first(tier);
  if (r < 0) return PASS;
  const rule = c.spec.rules[r]!;
  return rule.action === 'Pass' ? (c.spec.passCode ?? PASS) : ruleCode(rule.id, rule.action === 'Accept' ? ACTION.ACCEPT : ACTION.DENY, true);
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
    const r = c.first('networkpolicy');
    return r < 0 ? SIDE.NO_RULE : ruleCode(c.spec.rules[r]!.id, ACTION.ACCEPT);
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

/** Rows of 0/1 (k columns) as bitsets of `words` int32 words each. */
function bitsets(rows: ArrayLike<number>, count: number, k: number, words: number): Int32Array {
  const out = new Int32Array(count * words);
  for (let i = 0; i < count; i++) {
    for (let r = 0; r < k; r++) if (rows[i * k + r] === 1) out[i * words + (r >> 5)]! |= 1 << (r & 31);
  }
  return out;
}

/** First bit r in [from, to) set in both a (at ao) and b (at bo), or -1. */
function firstCommon(a: Int32Array, ao: number, b: Int32Array, bo: number, from: number, to: number): number {
  if (from >= to) return -1;
  const last = (to - 1) >> 5;
  for (let w = from >> 5; w <= last; w++) {
    let x = a[ao + w]! & b[bo + w]!;
    if (w === from >> 5) x &= -1 << (from & 31);
    if (x === 0) continue;
    const r = (w << 5) + (31 - Math.clz32(x & -x));
    return r < to ? r : -1;
  }
  return -1;
}

/** Interns Int32Array rows by content: equal rows get one index. */
class RowSet {
  private readonly byHash = new Map<number, number[]>();
  readonly rows: Int32Array[] = [];
  private static hash(row: Int32Array): number {
    let h = row.length | 0;
    for (let i = 0; i < row.length; i++) h = Math.imul(h ^ row[i]!, 0x9e3779b1) ^ (h >>> 15);
    // A small integer: a Map hashes it without boxing a number.
    return h & 0x3fffffff;
  }

  /** The index of a row equal to `row`, or -1. */
  find(row: Int32Array): number {
    const bucket = this.byHash.get(RowSet.hash(row));
    if (bucket) {
      for (const i of bucket) {
        const o = this.rows[i]!;
        if (o.length !== row.length) continue;
        let same = true;
        for (let j = 0; j < row.length && same; j++) same = o[j] === row[j];
        if (same) return i;
      }
    }
    return -1;
  }

  intern(row: Int32Array): number {
    const h = RowSet.hash(row);
    let bucket = this.byHash.get(h);
    if (!bucket) this.byHash.set(h, (bucket = []));
    for (const i of bucket) {
      const o = this.rows[i]!;
      let same = true;
      for (let j = 0; j < row.length && same; j++) same = o[j] === row[j];
      if (same) return i;
    }
    bucket.push(this.rows.length);
    this.rows.push(row.slice());
    return this.rows.length - 1;
  }
}

/**
 * For a table being extended (extendRuleTable), given an identity's selector bits (k) and its
 * peer-resolved port names: the peer class of each address class (IPv4, IPv6) that its cells
 * take, and an existing selector class whose column is the same (it answers every cell alike),
 * or -1 (the table then takes the identity as a new class: a column more, and the verdict rows
 * it needs appended; no reclassification, no fold of the other classes). Undefined when a name
 * resolves as on no class (the port classes may lack a cut): the table is rebuilt. A new
 * identity's combination of matches is often new to a table while its answers are not.
 */
export interface ClassFit {
  readonly cls: number;
  readonly column4: Int32Array;
  readonly column6: Int32Array;
}

/** ClassFit's columns when it names an existing class (not read then). */
const NO_COLUMN = new Int32Array(0);

export interface Refold {
  /** `resKey`: JSON of `resolutions`, when the caller has it. */
  /** `words`: the identity's selector bits packed (wordsFor(k) words at off, see table-identities.ts). */
  fit(words: Int32Array, off: number, resolutions: readonly number[][], nSel: number, combine4: Int32Array, combine6: Int32Array, resKey?: string): ClassFit | undefined;
  /** The verdict matrix with every row fit() has added (a table's rows are a prefix of it). */
  verdicts(): Int32Array;
  /** Rows first, first + 1, ... of verdicts() (what an image holding the first rows lacks; appendColumns). */
  verdictsFrom(first: number): Int32Array;
  /** The built table's selector classes' rows, packed (wordsFor(k) words a class): what its SignatureIndex is made of. */
  readonly selWords: Int32Array;
  /** JSON of built class c's peer-resolved named ports (what extendRuleTable keys resolutions by). */
  resKeyOf(c: number): string;
}

/** Folded.verdict's buffer: the table's image copies the matrix, and nothing keeps it (one per process: builds do not nest). */
let verdictScratch = new Int32Array(0);

export interface Folded {
  /** A view of a working buffer, valid until the next foldVerdicts (Refold.verdicts() makes a copy to keep). */
  readonly verdict: Int32Array;
  readonly refold: Refold;
}

/**
 * The verdict matrix: nPeer x nPort side codes, each the walk of the tiers for that cell (TIER_NEXT
 * when every tier of the table passes), and
 * the peer class of every (address class, selector class) in peers.combine4/6.
 *
 * Per tier, the first matching rule of a cell is the earlier of the first rule matching through
 * the address class and the first matching through the selector class (both also matching the
 * port class). Those are computed once per class (as bitset intersections); address classes and
 * selector classes with the same first-rule vectors are merged; the tiers are walked once per
 * distinct (address, selector) pair and port class.
 */
export function foldVerdicts(spec: TableSpec, peers: PeerClasses, ports: PortClasses): Folded {
  const rules = spec.rules;
  const { ip4, ip6, sel, k } = peers;
  // The address class counts, for fit: a table keeps its refold (and so every variable its
  // closures read) while it lives, and the classes' bit rows are garbage after the build.
  const n4 = ip4.count, n6 = ip6.count;
  const nSel = sel.nSel;
  const nPort = ports.portMap.classCount;
  const W = Math.max(1, (k + 31) >> 5);
  const ranges = tierRanges(rules);
  const NT = TIERS.length;

  // Port match bitsets per (resolution group, port class). Named ports resolve on the owner for
  // ingress (one group) and on the peer for egress: selector classes with the same resolutions
  // form a group.
  const groupOf = new Int32Array(nSel);
  const groupRes: number[][][] = [];
  const groupKeys: string[] = [];
  const gk = new Map<string, number>();
  if (spec.direction === 'egress') {
    for (let s = 0; s < nSel; s++) {
      const key = JSON.stringify(sel.resolutions[s]);
      let g = gk.get(key);
      if (g === undefined) {
        gk.set(key, (g = groupRes.length));
        groupRes.push(sel.resolutions[s]!);
        groupKeys.push(key);
      }
      groupOf[s] = g;
    }
  } else groupRes.push(sel.resolutions[0] ?? []);
  const nG = groupRes.length;
  const portBits = new Int32Array(nG * nPort * W);
  let bitG = 0, bitWord = 0, bitMask = 0;
  const setBit = (q: number) => { portBits[(bitG * nPort + q) * W + bitWord]! |= bitMask; };
  for (let r = 0; r < k; r++) {
    const rule = rules[r]!.rule;
    bitWord = r >> 5;
    bitMask = 1 << (r & 31);
    // Rules without named ports match the same in every group: group 0's answer, copied.
    const named = rule.ports.some((p) => typeof p.port === 'string');
    for (bitG = 0; bitG < (named ? nG : 1); bitG++) ports.classesOf(rule, groupRes[bitG]!, setBit);
    if (!named) {
      for (let q = 0; q < nPort; q++) {
        if ((portBits[q * W + bitWord]! & bitMask) === 0) continue;
        for (let g = 1; g < nG; g++) portBits[(g * nPort + q) * W + bitWord]! |= bitMask;
      }
    }
  }

  // First matching rule per tier and port class: through each address class (per group) and
  // through each selector class (in its group). Classes with equal vectors are merged.
  const starts = TIERS.map((t) => ranges[t][0]);
  const ends = TIERS.map((t) => ranges[t][1]);
  // Writes the entries of the tiers the table has rules of; `out` holds -1 for the others.
  const firstOf = (bits: Int32Array, bo: number, g: number, out: Int32Array, oo: number) => {
    for (let q = 0; q < nPort; q++) {
      const po = (g * nPort + q) * W;
      for (let t = 0; t < NT; t++) if (starts[t]! < ends[t]!) out[oo + q * NT + t] = firstCommon(bits, bo, portBits, po, starts[t]!, ends[t]!);
    }
  };
  const vec = nPort * NT;
  const ipVectors = new RowSet();
  const ipEq = (ip: IpClasses): Int32Array => {
    const b = bitsets(ip.bits, ip.count, k, W);
    const out = new Int32Array(ip.count);
    const v = new Int32Array(nG * vec).fill(-1);
    for (let a = 0; a < ip.count; a++) {
      for (let g = 0; g < nG; g++) firstOf(b, a * W, g, v, g * vec);
      out[a] = ipVectors.intern(v);
    }
    return out;
  };
  const ipEq4 = ipEq(ip4);
  const ipEq6 = ipEq(ip6);
  const selBits = bitsets(sel.bitRows, nSel, k, W);
  const selVectors = new RowSet();
  const selEq = new Int32Array(nSel);
  const selGroup: number[] = [];
  const sv = new Int32Array(vec + 1).fill(-1);
  for (let s = 0; s < nSel; s++) {
    firstOf(selBits, s * W, groupOf[s]!, sv, 0);
    sv[vec] = groupOf[s]!;
    const e = selVectors.intern(sv);
    if (e === selGroup.length) selGroup.push(groupOf[s]!);
    selEq[s] = e;
  }

  // Walk the tiers for each distinct (address vector, selector vector) pair that occurs.
  const nIpEq = ipVectors.rows.length, nSelEq = selVectors.rows.length;
  const pairRow = new Int32Array(nIpEq * nSelEq).fill(-1);
  const verdictRows = new RowSet();
  const row = new Int32Array(nPort);
  let ipv: Int32Array, selv: Int32Array, g = 0, q = 0;
  const cell: Cell = {
    spec,
    first: (tier) => {
      const t = tier === 'admin' ? 0 : tier === 'networkpolicy' ? 1 : 2;
      const a = ipv[g * vec + q * NT + t]!, b = selv[q * NT + t]!;
      return a < 0 ? b : b < 0 ? a : a < b ? a : b;
    },
  };
  // A table holds the rules of one tier (the compiler's tables all do): a cell's walk then
  // depends only on that tier's first matching rule, so it is walked once per rule, not per cell.
  const only = TIERS.findIndex((t) => ranges[t][0] < ranges[t][1]);
  const oneTier = only >= 0 && TIERS.every((t, i) => i === only || ranges[t][0] === ranges[t][1]);
  let walkOf: Int32Array | undefined;
  if (oneTier) {
    walkOf = new Int32Array(k + 1);
    const one: Cell = { spec, first: (tier) => (tier === TIERS[only] ? fixed : -1) };
    let fixed = -1;
    for (fixed = -1; fixed < k; fixed++) walkOf[fixed + 1] = walkTiers(TABLE_TIERS, one, TIER_NEXT);
  }
  const walkRow = () => {
    if (walkOf !== undefined) {
      for (q = 0; q < nPort; q++) {
        const a = ipv[g * vec + q * NT + only]!, b = selv[q * NT + only]!;
        row[q] = walkOf[1 + (a < 0 ? b : b < 0 ? a : a < b ? a : b)]!;
      }
    } else for (q = 0; q < nPort; q++) row[q] = walkTiers(TABLE_TIERS, cell, TIER_NEXT);
  };
  // (pairRow a parameter: a variable a closure reads lives as long as the refold, see n4.)
  const fill = (eqOf: Int32Array, count: number, combine: Int32Array, pairRow: Int32Array) => {
    // Address classes with one vector have one row (node classes make many of them: copied).
    const rowOf = new Int32Array(nIpEq).fill(-1);
    for (let a = 0; a < count; a++) {
      const seen = rowOf[eqOf[a]!]!;
      if (seen >= 0) {
        combine.copyWithin(a * nSel, seen * nSel, seen * nSel + nSel);
        continue;
      }
      rowOf[eqOf[a]!] = a;
      for (let s = 0; s < nSel; s++) {
        const pair = eqOf[a]! * nSelEq + selEq[s]!;
        let pc = pairRow[pair]!;
        if (pc < 0) {
          ipv = ipVectors.rows[eqOf[a]!]!;
          selv = selVectors.rows[selEq[s]!]!;
          g = selGroup[selEq[s]!]!;
          walkRow();
          pairRow[pair] = pc = verdictRows.intern(row);
        }
        combine[a * nSel + s] = pc;
      }
    }
  };
  fill(ipEq4, n4, peers.combine4, pairRow);
  fill(ipEq6, n6, peers.combine6, pairRow);
  peers.count = verdictRows.rows.length;
  if (verdictScratch.length < peers.count * nPort) verdictScratch = new Int32Array(Math.max(1 << 14, 2 * peers.count * nPort));
  const verdict = verdictScratch.subarray(0, peers.count * nPort);
  verdictRows.rows.forEach((r, i) => verdict.set(r, i * nPort));

  // What fit answered per selector vector (and group): a class's cells follow from its vector
  // alone, so an identity whose vector a class already has takes that class with no walk of the
  // tiers and no column compare (new identities' combinations of matches are often new to a
  // table while their first matching rules are not). The built classes' vectors (selVectors,
  // the first class of each), then each vector fit placed, with the class it answered (the
  // column fit's caller adds for a new class is nS, the class count it passed).
  let fitted: { readonly vectors: RowSet; readonly cls: number[]; readonly columns: (ClassFit | undefined)[] } | undefined;
  const fitOf = () => {
    if (!fitted) {
      const cls = new Array<number>(selVectors.rows.length).fill(-1);
      for (let s = nSel - 1; s >= 0; s--) cls[selEq[s]!] = s;
      fitted = { vectors: selVectors, cls, columns: [] };
    }
    return fitted;
  };
  let fitScratch: Int32Array | undefined;
  const fit = (words: Int32Array, off: number, resolutions: readonly number[][], nS: number, c4: Int32Array, c6: Int32Array, resKey?: string): ClassFit | undefined => {
    // Its group: names must resolve as on some class (else the port classes may lack a cut).
    const gr = spec.direction === 'egress' ? gk.get(resKey ?? JSON.stringify(resolutions)) : 0;
    if (gr === undefined) return undefined;
    // The vector in a scratch row (a relabel fits a new identity into hundreds of tables; the
    // sets copy what they keep).
    const mine = (fitScratch ??= new Int32Array(vec + 1));
    mine.fill(-1);
    firstOf(words, off, gr, mine, 0);
    mine[vec] = gr;
    const f = fitOf();
    const known = f.vectors.find(mine);
    if (known >= 0 && f.cls[known]! < nS) {
      return f.columns[known] ?? { cls: f.cls[known]!, column4: NO_COLUMN, column6: NO_COLUMN };
    }
    // Its verdict row per distinct address vector (new rows are appended).
    const pcOf = new Int32Array(nIpEq);
    selv = mine;
    g = gr;
    for (let e = 0; e < nIpEq; e++) {
      ipv = ipVectors.rows[e]!;
      walkRow();
      pcOf[e] = verdictRows.intern(row);
    }
    const column4 = new Int32Array(n4), column6 = new Int32Array(n6);
    for (let a = 0; a < n4; a++) column4[a] = pcOf[ipEq4[a]!]!;
    for (let a = 0; a < n6; a++) column6[a] = pcOf[ipEq6[a]!]!;
    let found = -1;
    search: for (let s = 0; s < nS; s++) {
      for (let a = 0; a < n4; a++) if (c4[a * nS + s] !== column4[a]) continue search;
      for (let a = 0; a < n6; a++) if (c6[a * nS + s] !== column6[a]) continue search;
      found = s;
      break;
    }
    const e = f.vectors.intern(mine);
    f.cls[e] = found >= 0 ? found : nS;
    const answer = { cls: found, column4, column6 };
    // Next time this vector is a known class (the new column's, once the caller added it).
    f.columns[e] = found >= 0 ? answer : { cls: nS, column4, column6 };
    return answer;
  };
  const verdictsFrom = (first: number): Int32Array => {
    const rows = verdictRows.rows;
    const out = new Int32Array(Math.max(0, rows.length - first) * nPort);
    for (let i = first; i < rows.length; i++) out.set(rows[i]!, (i - first) * nPort);
    return out;
  };
  const verdicts = (): Int32Array => verdictsFrom(0);
  // (Egress groups only: extendRuleTable keys by resolutions only in tables with peer-resolved names.)
  const resKeyOf = (c: number): string => groupKeys[groupOf[c]!] ?? '';
  return { verdict, refold: { fit, verdicts, verdictsFrom, selWords: selBits, resKeyOf } };
}
