// One compiled rule table: everything needed to judge one direction of one pod.
//
// A table answers "which rule, if any, allows a connection between the owner pod and this peer
// address on this protocol/port", for a pod that IS isolated in that direction (pods that are
// not isolated have no table). The answer is the first allowing rule in policy-key order, then
// spec order ("policies are additive": any rule allowing is enough; the first one is what we
// report), or SIDE.DENY.
//
// The lookup is three small array reads:
//   peer class = combine[ipClass(address) * nSel + selClass(identity)]
//   port class = portMap.lookup(proto, port)
//   verdict    = verdict[peer class * nPort + port class]
// where
// - ipClass comes from a CIDR trie of the table's ipBlock cidrs and excepts (see cidr-trie.ts
//   for why longest-prefix match is exact). Rules with an empty from/to ("this rule matches all
//   sources/destinations") are matched in every ip class, including addresses of no pod.
// - selClass is per pod identity (see identity.ts): which rules' podSelector/namespaceSelector
//   peers select it, and, for egress, what the rules' named ports resolve to on it: "named port
//   ... on the destination pod", so on egress the port a name means depends on the peer, and
//   folding it into the peer class keeps the table exact and independent of the peer.
//   On ingress the destination is the owner, so names are resolved once at build time (tables
//   are shared only between owners with the same resolution, see compiler.ts).
// - A peer address matches a rule iff it matches the rule's ipBlocks (by address) OR it belongs
//   to a pod the rule's selectors select. Peer classes are the distinct (match bits, named port
//   resolution) combinations; the verdict matrix is computed for every pair once.
//
// Tables are immutable after construction and shared between pods and between snapshots. Each
// also exists as one flat int32 image (table-arena.ts), which is what snapshots judge with; the
// structured parts stay for extendRuleTable.

import type { ContainerPort, PolicyPeer, PolicyRule, Protocol } from '../cluster/model.ts';
import { protocolNumber } from '../cluster/model.ts';
import { parseCIDR, type ParsedCIDR } from '../net/address.ts';
import { CidrTrie4, CidrTrie6, type TriePrefix } from './cidr-trie.ts';
import { SIDE } from './engine-api.ts';
import { OUTSIDE_IDENTITY, resolveNamedPort, type IdentityRegistry, type PeerMatcher } from './identity.ts';
import { OTHER_PROTOCOL_CLASS, PortMap } from './port-map.ts';
import { TableArena, appendSelClasses, encodeTable, judgeImage4, judgeImage6, portBlock, withMoreSelClasses } from './table-arena.ts';

export type Direction = 'ingress' | 'egress';

export interface TableRule {
  /** Global rule id (what judge returns; see RuleSnapshot.ruleRef). */
  readonly id: number;
  /** Namespace of the policy the rule belongs to (podSelector-only peers select in it). */
  readonly policyNamespace: string;
  readonly rule: PolicyRule;
}

export interface TableSpec {
  readonly direction: Direction;
  /** Keys of the policies selecting the owner in this direction, sorted. */
  readonly policies: readonly string[];
  /** Their rules for this direction, in policy-key order then spec order. */
  readonly rules: readonly TableRule[];
  /** Ingress only: the owner's containerPorts, which named ports resolve against. */
  readonly ownerPorts?: readonly ContainerPort[];
}

interface NamedPort {
  readonly name: string;
  readonly protocol: Protocol;
}

function namedKey(n: NamedPort): string {
  return `${n.protocol}/${n.name}`;
}

function contains(outer: ParsedCIDR, inner: ParsedCIDR): boolean {
  if (outer.prefix > inner.prefix || outer.family !== inner.family) return false;
  for (let w = 0; w < outer.words.length; w++) {
    const keep = Math.max(0, Math.min(32, outer.prefix - 32 * w));
    if (keep === 0) break;
    const mask = keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    if (((inner.words[w]! & mask) >>> 0) !== outer.words[w]) return false;
  }
  return true;
}

function sortedHas(a: readonly number[], x: number): boolean {
  let lo = 0, hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1; else hi = mid - 1;
  }
  return false;
}

/** The named ports a table's rules use, in first-use order. */
export function namedPortsOf(rules: readonly { readonly rule: PolicyRule }[]): NamedPort[] {
  const seen = new Map<string, NamedPort>();
  for (const r of rules) {
    for (const p of r.rule.ports) {
      if (typeof p.port === 'string') {
        const n = { name: p.port, protocol: p.protocol };
        if (!seen.has(namedKey(n))) seen.set(namedKey(n), n);
      }
    }
  }
  return [...seen.values()];
}

/** Resolution signature of a pod for a list of named ports (tables are shared only on equal signatures). */
export function resolutionSignature(named: readonly NamedPort[], ports: readonly ContainerPort[]): string {
  let s = '';
  for (const n of named) s += resolveNamedPort(ports, n.name, n.protocol).join(',') + ';';
  return s;
}

interface IpBlockSpec {
  readonly rule: number;
  readonly cidr: ParsedCIDR;
  readonly except: readonly ParsedCIDR[];
}

/** Result of classifying one family's address space. */
interface IpClasses {
  readonly prefixes: TriePrefix[];
  /** Per ip class: match bit per rule (row-major, k columns). */
  readonly bits: Uint8Array;
  readonly count: number;
  readonly defaultClass: number;
}

function classifyAddresses(blocks: readonly IpBlockSpec[], matchAll: Uint8Array, k: number): IpClasses {
  // Every distinct cidr/except is a region boundary; the region of an address is its longest
  // containing prefix (or none).
  const distinct = new Map<string, ParsedCIDR>();
  for (const b of blocks) {
    for (const c of [b.cidr, ...b.except]) distinct.set(`${c.words.join('.')}/${c.prefix}`, c);
  }
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
    for (const b of blocks) {
      if (row[b.rule]) continue;
      // "except is a slice of CIDRs that should not be included within an IPBlock": the block
      // matches iff its cidr contains the address and none of its excepts does.
      if (contains(b.cidr, region) && !b.except.some((e) => contains(e, region))) row[b.rule] = 1;
    }
    prefixes.push({ words: region.words, prefix: region.prefix, value: classFor(row) });
  }
  return { prefixes, bits: Uint8Array.from(bitRows), count, defaultClass };
}

/** Everything a RuleTable holds; built by buildRuleTable, reused by extendRuleTable. */
export interface TableParts {
  readonly direction: Direction;
  readonly policies: readonly string[];
  readonly identityCount: number;
  readonly ruleCount: number;
  readonly trie4: CidrTrie4;
  readonly trie6: CidrTrie6;
  readonly nSel: number;
  /**
   * Selector class per identity when the table was BUILT (extended tables keep their built
   * parts; the classes of identities added later live only in their image, see extendRuleTable).
   */
  readonly selClass: Uint16Array | Int32Array;
  readonly combine4: Int32Array;
  readonly combine6: Int32Array;
  readonly portMap: PortMap;
  readonly nPort: number;
  readonly verdict: Int32Array;
  /** Selector peers of the rules, with their policy namespace and rule index. */
  readonly selectorPeers: readonly SelectorPeer[];
  /** Egress only: named ports resolved on the peer. */
  readonly peerNamed: readonly NamedPort[];
  /** Selector class of each (selector bits, resolution) signature present. */
  readonly selKeys: ReadonlyMap<string, number>;
  readonly stats: TableStats;
}

export interface TableStats {
  readonly ipClasses4: number;
  readonly ipClasses6: number;
  readonly selClasses: number;
  readonly peerClasses: number;
  readonly portClasses: number;
}

interface SelectorPeer {
  readonly peer: PolicyPeer;
  readonly ns: string;
  readonly rule: number;
  readonly matcher: PeerMatcher;
}

/** Signature of an identity for a table: which rules' selectors pick it, and what its port names mean. */
function identitySignature(
  identities: IdentityRegistry, id: number, k: number, selectorPeers: readonly SelectorPeer[], peerNamed: readonly NamedPort[],
): string {
  const bits = new Uint8Array(k);
  for (const s of selectorPeers) if (!bits[s.rule] && sortedHas(identities.matched(s.matcher), id)) bits[s.rule] = 1;
  // The same text as `${bits.join('')}|${JSON.stringify(resolutions)}`, built without the
  // intermediate arrays: a new identity computes this once per table (hundreds per update).
  let sig = '';
  for (let r = 0; r < k; r++) sig += bits[r] === 1 ? '1' : '0';
  if (peerNamed.length === 0) return sig + '|[]';
  const ports = identities.get(id).ports;
  return `${sig}|${JSON.stringify(peerNamed.map((n) => resolveNamedPort(ports, n.name, n.protocol)))}`;
}

/** Does any containerPort carry this name and protocol? (resolveNamedPort(...).length > 0, without the array.) */
function namesPort(ports: readonly ContainerPort[], name: string, protocol: Protocol): boolean {
  for (const p of ports) if (p.name === name && p.protocol === protocol) return true;
  return false;
}

export function buildRuleTable(spec: TableSpec, identities: IdentityRegistry): RuleTable {
  const rules = spec.rules;
  const k = rules.length;
  const N = identities.count;

  // ---- addresses (ipBlocks, and "match all" rules) ----
  const matchAll = new Uint8Array(k);
  const blocks4: IpBlockSpec[] = [];
  const blocks6: IpBlockSpec[] = [];
  const selectorPeers: SelectorPeer[] = [];
  rules.forEach((tr, r) => {
    // "If this field is empty or missing, this rule matches all sources" (and destinations).
    if (tr.rule.peers.length === 0) matchAll[r] = 1;
    for (const peer of tr.rule.peers) {
      if (peer.ipBlock) {
        const cidr = parseCIDR(peer.ipBlock.cidr);
        // The decoder validated the text. Should an unparsable cidr or except ever get here, the
        // block matches nothing: dropping just the except would silently open what it excludes.
        if (!cidr) continue;
        const except: ParsedCIDR[] = [];
        let broken = false;
        for (const e of peer.ipBlock.except) {
          const ec = parseCIDR(e);
          if (!ec) broken = true;
          // An except of the other family contains no address the cidr contains.
          else if (ec.family === cidr.family) except.push(ec);
        }
        if (broken) continue;
        (cidr.family === 'IPv4' ? blocks4 : blocks6).push({ rule: r, cidr, except });
      } else if (peer.podSelector || peer.namespaceSelector) {
        selectorPeers.push({ peer, ns: tr.policyNamespace, rule: r, matcher: identities.peerMatcher(peer, tr.policyNamespace) });
      }
    }
  });
  const ip4 = classifyAddresses(blocks4, matchAll, k);
  const ip6 = classifyAddresses(blocks6, matchAll, k);
  const trie4 = new CidrTrie4(ip4.prefixes, ip4.defaultClass);
  const trie6 = new CidrTrie6(ip6.prefixes, ip6.defaultClass);

  // ---- identities (selectors, and named ports resolved on the peer for egress) ----
  const peerNamed = spec.direction === 'egress' ? namedPortsOf(rules) : [];
  let selClassArr: Int32Array;
  const selKeys = new Map<string, number>();
  let nSel = 1;
  const selBitRows: number[] = [];
  /** Per selector class, per peerNamed entry: resolved ports. */
  const selRes: number[][][] = [];
  if (selectorPeers.length === 0 && peerNamed.length === 0) {
    selClassArr = new Int32Array(0);
    selKeys.set(identitySignature(identities, OUTSIDE_IDENTITY, k, selectorPeers, peerNamed), 0);
    for (let r = 0; r < k; r++) selBitRows.push(0);
    selRes.push([]);
  } else {
    // Partition refinement: start with one class, split it by each rule's "selected" bit and
    // by each named port's resolution. O(identities x (rules + named ports)).
    let cls = new Int32Array(N);
    let nCls = 1;
    const split = (keyOf: (i: number) => number) => {
      const next = new Int32Array(N);
      const ids = new Map<number, number>();
      let n = 0;
      for (let i = 0; i < N; i++) {
        const key = cls[i]! * 0x40000 + keyOf(i);
        let c = ids.get(key);
        if (c === undefined) {
          c = n++;
          ids.set(key, c);
        }
        next[i] = c;
      }
      cls = next;
      nCls = n;
    };
    // Splitting by one bit needs no hashing: old class c becomes pair[2c] or pair[2c + 1].
    const mark = new Uint8Array(N);
    for (let r = 0; r < k; r++) {
      const mine = selectorPeers.filter((s) => s.rule === r);
      if (mine.length === 0) continue;
      mark.fill(0);
      let any = false;
      for (const s of mine) {
        for (const id of identities.matched(s.matcher)) {
          mark[id] = 1;
          any = true;
        }
      }
      // Nobody selected: every class keeps its bit 0, no split.
      if (!any) continue;
      const pair = new Int32Array(nCls * 2).fill(-1);
      let n = 0;
      for (let i = 0; i < N; i++) {
        const key = cls[i]! * 2 + mark[i]!;
        let c = pair[key]!;
        if (c < 0) pair[key] = c = n++;
        cls[i] = c;
      }
      nCls = n;
    }
    // A name that resolves to several numbers (allowed across containers) is interned as one key.
    const multi = new Map<string, number>();
    for (const n of peerNamed) {
      split((i) => {
        const v = resolveNamedPort(identities.get(i).ports, n.name, n.protocol);
        if (v.length === 0) return 0;
        if (v.length === 1) return v[0]! + 1;
        const key = v.join(',');
        let m = multi.get(key);
        if (m === undefined) {
          m = 0x10000 + multi.size + 1;
          multi.set(key, m);
        }
        return m;
      });
    }
    // Renumber so that identity 0 (no pod) is class 0: identities added after this table was
    // built read class 0 (see extendRuleTable), which must mean "selected by nothing, no names".
    const renum = new Map<number, number>();
    const rep: number[] = [];
    selClassArr = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      let c = renum.get(cls[i]!);
      if (c === undefined) {
        c = renum.size;
        renum.set(cls[i]!, c);
        rep.push(i);
      }
      selClassArr[i] = c;
    }
    nSel = rep.length;
    for (const i of rep) {
      const id = identities.get(i);
      const sig = identitySignature(identities, i, k, selectorPeers, peerNamed);
      selKeys.set(sig, selKeys.size);
      for (let r = 0; r < k; r++) {
        let sel = 0;
        for (const s of selectorPeers) {
          if (s.rule === r && sortedHas(identities.matched(s.matcher), i)) {
            sel = 1;
            break;
          }
        }
        selBitRows.push(sel);
      }
      selRes.push(peerNamed.map((n) => resolveNamedPort(id.ports, n.name, n.protocol)));
    }
  }
  const selClass = nSel <= 0x10000 ? Uint16Array.from(selClassArr) : selClassArr;

  // ---- peer classes: distinct (ip bits | selector bits, resolution) ----
  const peerKey = new Map<string, number>();
  const peerBits: Uint8Array[] = [];
  const peerRes: number[][][] = [];
  const combine = (ip: IpClasses): Int32Array => {
    const out = new Int32Array(ip.count * nSel);
    for (let a = 0; a < ip.count; a++) {
      for (let s = 0; s < nSel; s++) {
        const bits = new Uint8Array(k);
        for (let r = 0; r < k; r++) bits[r] = ip.bits[a * k + r]! | selBitRows[s * k + r]!;
        const key = `${bits.join('')}|${JSON.stringify(selRes[s])}`;
        let pc = peerKey.get(key);
        if (pc === undefined) {
          pc = peerBits.length;
          peerKey.set(key, pc);
          peerBits.push(bits);
          peerRes.push(selRes[s]!);
        }
        out[a * nSel + s] = pc;
      }
    }
    return out;
  };
  const combine4 = combine(ip4);
  const combine6 = combine(ip6);

  // ---- port classes ----
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
          for (const res of peerRes) for (const v of res[idx] ?? []) cut(p.protocol, v, v);
        }
      }
    }
  }
  const portMap = new PortMap(cuts);
  const nPort = portMap.classCount;

  // ---- verdicts ----
  const pm = portMap;
  const portMatches = (rule: PolicyRule, q: number, res: number[][]): boolean => {
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
  const nPeer = peerBits.length;
  const verdict = new Int32Array(nPeer * nPort);
  for (let pc = 0; pc < nPeer; pc++) {
    const bits = peerBits[pc]!;
    for (let q = 0; q < nPort; q++) {
      let v: number = SIDE.DENY;
      for (let r = 0; r < k; r++) {
        if (bits[r] && portMatches(rules[r]!.rule, q, peerRes[pc]!)) {
          v = rules[r]!.id;
          break;
        }
      }
      verdict[pc * nPort + q] = v;
    }
  }
  return new RuleTable({
    direction: spec.direction, policies: spec.policies, identityCount: N, ruleCount: k,
    trie4, trie6, nSel, selClass, combine4, combine6, portMap, nPort, verdict,
    selectorPeers, peerNamed, selKeys,
    stats: { ipClasses4: ip4.count, ipClasses6: ip6.count, selClasses: nSel, peerClasses: nPeer, portClasses: nPort },
  });
}

export class RuleTable {
  readonly direction: Direction;
  readonly policies: readonly string[];
  /** Number of identities when built; newer identities get selector class 0 (see extendRuleTable). */
  readonly identityCount: number;
  /**
   * The whole table as one flat int32 image (see table-arena.ts): what snapshots copy into their
   * arena and judge with. Offsets inside are relative, so it is valid at any arena position.
   */
  readonly image: Int32Array;
  /** Views of the image for judge4/judge6 on the table itself; made on first use (updates make many tables). */
  private views: TableArena | undefined;
  /** The parts, for extendRuleTable (off the hot path). */
  readonly parts: TableParts;
  readonly stats: TableStats;

  /**
   * `extend`: the table this one copies, with the selector classes `added` of identities
   * extend.identityCount, extend.identityCount + 1, ... appended (see extendRuleTable).
   */
  constructor(p: TableParts, extend?: { readonly table: RuleTable; readonly added: Int32Array }) {
    this.direction = p.direction;
    this.policies = p.policies;
    this.identityCount = p.identityCount;
    // Extending: in place when the image has room (the caller then rewrites its arena copy, see
    // extendedInPlace), else a copy with room to spare.
    this.image = extend !== undefined ? (appendSelClasses(extend.table.image, extend.table.identityCount, extend.added)
      ? extend.table.image
      : withMoreSelClasses(extend.table.image, extend.table.identityCount, extend.added)) : encodeTable({
      nSel: p.nSel, nPort: p.nPort, ports: p.portMap.image(),
      trie4: p.trie4.image(), default4: p.trie4.defaultValue,
      trie6: p.trie6.image(), default6: p.trie6.defaultValue,
      combine4: p.combine4, combine6: p.combine6, verdict: p.verdict, selClass: p.selClass,
    });
    this.parts = p;
    this.stats = p.stats;
  }

  /**
   * Code for a connection between the owner and an IPv4 peer: a rule id or SIDE.DENY.
   * `identity` is the peer's pod identity, or 0 when the address is no pod. Allocates nothing.
   * (Snapshots judge on their arena copy of the image; this is the same code on the table's own.)
   */
  judge4(addr: number, identity: number, proto: number, port: number): number {
    const v = (this.views ??= new TableArena(this.image));
    return judgeImage4(v.words, v.bytes, v.halves, 0, addr | 0, identity, portBlock(proto), port);
  }

  judge6(a: number, b: number, c: number, d: number, identity: number, proto: number, port: number): number {
    const v = (this.views ??= new TableArena(this.image));
    return judgeImage6(v.words, v.bytes, v.halves, 0, a | 0, b | 0, c | 0, d | 0, identity, portBlock(proto), port);
  }

  /** Bytes of the table's image (what each snapshot arena holds for it). */
  get byteSize(): number {
    return this.image.byteLength;
  }
}

/**
 * Brings a table up to date with identities added since it was built. Identity attributes never
 * change, so only the new identities need a class: when each one's signature is one the table
 * already has, the result shares every structure and its image is the old one with the new
 * identities' classes appended, in place when the image has room (then `t` is superseded: it
 * shares the image, and must not be extended again) or in a copy. Returns the same table
 * when nothing was added or every new identity is in class 0, and undefined when some new
 * identity needs a class the table does not have (a new combination of matches or port-name
 * resolution): the caller rebuilds it.
 */
export function extendRuleTable(t: RuleTable, identities: IdentityRegistry): RuleTable | undefined {
  const p = t.parts;
  const from = p.identityCount;
  const to = identities.count;
  if (to <= from) return t;
  if (p.selectorPeers.length === 0 && p.peerNamed.length === 0) return t;
  // Fast path: no selector of the table picks a new identity and no port name of the table
  // resolves on one, so each of them has class 0's signature. (Most tables, most of the time.)
  let touched = false;
  for (const s of p.selectorPeers) {
    const ids = identities.matched(s.matcher);
    if (ids.length > 0 && ids[ids.length - 1]! >= from) {
      touched = true;
      break;
    }
  }
  for (let i = from; i < to && !touched; i++) {
    const ports = identities.get(i).ports;
    for (const n of p.peerNamed) {
      if (namesPort(ports, n.name, n.protocol)) {
        touched = true;
        break;
      }
    }
  }
  if (!touched) return t;
  const k = p.ruleCount;
  const added = new Int32Array(to - from);
  let allZero = true;
  for (let i = from; i < to; i++) {
    const c = p.selKeys.get(identitySignature(identities, i, k, p.selectorPeers, p.peerNamed));
    if (c === undefined) return undefined;
    added[i - from] = c;
    if (c !== 0) allZero = false;
  }
  // Class 0 is what identities past the array read anyway.
  if (allZero) return t;
  return new RuleTable({ ...p, identityCount: to }, { table: t, added });
}

export { OUTSIDE_IDENTITY };
