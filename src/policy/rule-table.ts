// One compiled rule table: everything needed to judge one direction of one pod.
//
// A table answers "what does one tier (tiers.ts) say about a connection between the owner pod
// and this peer address on this protocol/port", for a side the tier has a word on (a tier with
// no word on a side has no table there). For NetworkPolicy: the first allowing rule in
// policy-key order, then spec order ("policies are additive": any rule allowing is enough; the
// first one is what we report), or its implicit deny. For Admin and Baseline (tier-tables.ts):
// the first matching rule's Accept or Deny, or TIER_NEXT (no match, or a Pass). The answer is a
// side code (engine-api.ts) or TIER_NEXT.
//
// The lookup is three small array reads:
//   peer class = combine[ipClass(address) * nSel + selClass(identity)]
//   port class = portMap.lookup(proto, port)
//   verdict    = verdict[peer class * nPort + port class]
// built in five phases, each in its own module:
//   1. the rules' peers and the address classes (table-addresses.ts);
//   2. the selector classes of pod identities (table-identities.ts);
//   3-5. peer classes, port classes, and the verdict of every cell: the walk of the tiers,
//        folded at build time (table-verdicts.ts).
// On ingress, named ports resolve on the owner, once at build time (tables are shared only
// between owners with the same resolution, see compiler.ts); on egress on the peer, as part of
// its selector class (named-ports.ts).
//
// Tables are immutable after construction and shared between pods and between snapshots. Each
// also exists as one flat int32 image (table-arena.ts), which is what snapshots judge with; the
// structured parts stay for extendRuleTable.

import type { ContainerPort, LabelSelector, PolicyRule } from '../cluster/model.ts';
import { classifyIdentitiesByBlocks, type RuleBlock } from './block-classes.ts';
import { CidrTrie4, CidrTrie6 } from './cidr-trie.ts';
import { OUTSIDE_IDENTITY, type IdentityRegistry, type PeerMatcher } from './identity.ts';
import { namedKey, namedPortsOf, type NamedPort } from './named-ports.ts';
import type { PortMap } from './port-map.ts';
import type { NodeClasses } from './node-classes.ts';
import { classifyAddresses, rulePeers, rulePeersByBlocks, withNodeClasses } from './table-addresses.ts';
import { type TableNodes, type TableArena, encodeTable, linkedCopy, judgeImage4, judgeImage6, portBlock } from './table-arena.ts';
import { appendColumns, appendSelClasses, selClassReader, storedSelClasses, withMoreSelClasses } from './table-growth.ts';
import { SignatureIndex, classifyIdentities, identityBitWords, wordsFor, type SelectorPeer } from './table-identities.ts';
import { classifyPeers, classifyPorts, foldVerdicts, type Refold } from './table-verdicts.ts';
import type { NewIdentityRefs } from './new-identity-refs.ts';
import { definesNamedPort, resolveNamedPort, type Direction } from './spec-facts.ts';
import type { Tier } from './tiers.ts';

export interface TableRule {
  /** Global rule id (what judge returns; see RuleSnapshot.ruleRef). */
  readonly id: number;
  /** Namespace of the policy the rule belongs to (podSelector-only peers select in it; '' for cluster policies, whose peers always name namespaces). */
  readonly policyNamespace: string;
  /** Peers and ports (a cluster policy rule translated by compileClusterRule). */
  readonly rule: PolicyRule;
  /** A cluster rule's `nodes` peers: they match node addresses by node class (node-classes.ts). */
  readonly nodes?: readonly LabelSelector[];
  readonly tier: Tier;
  /** NetworkPolicy rules accept; a cluster rule's effective action. */
  readonly action: 'Accept' | 'Deny' | 'Pass';
}

export interface TableSpec {
  readonly direction: Direction;
  /** Keys of the NetworkPolicies isolating the owner in this direction, sorted. */
  readonly policies: readonly string[];
  /**
   * The rules for this direction in walk order (tiers.ts): Admin policies by priority then
   * written order, NetworkPolicies in key order then spec order, Baseline like Admin.
   */
  readonly rules: readonly TableRule[];
  /**
   * The rules by policy version, in order (covering all of them): selector classes then combine
   * each policy's own, computed once per version (block-classes.ts). Absent: classified rule by rule.
   */
  readonly blocks?: readonly RuleBlock[];
  /** Ingress only: the owner's containerPorts, which named ports resolve against. */
  readonly ownerPorts?: readonly ContainerPort[];
  /** Required when a rule has `nodes` peers: classes holding every selector of them. */
  readonly nodeClasses?: NodeClasses;
  /** A per-policy table of a chain (tier-tables.ts): the code of a cell a Pass rule decides (TIER_PASS); absent, a Pass folds into TIER_NEXT. */
  readonly passCode?: number;
}

/**
 * Everything a RuleTable holds; built by buildRuleTable, reused by extendRuleTable. Not the
 * selector classes and the verdict matrix: the image holds them (storedSelClasses, and
 * Refold.verdicts() makes the matrix anew), and a copy in every table outlived the idle
 * scavenge, so V8 counted it towards its next marking (docs/speed-history.md, scale bench).
 */
export interface TableParts {
  readonly direction: Direction;
  readonly policies: readonly string[];
  readonly ruleCount: number;
  readonly trie4: CidrTrie4;
  readonly trie6: CidrTrie6;
  readonly nSel: number;
  readonly combine4: Int32Array;
  readonly combine6: Int32Array;
  readonly portMap: PortMap;
  readonly nPort: number;
  /** Node address classes (rules with `nodes` peers only). */
  readonly nodes: TableNodes | undefined;
  /** Selector peers of the rules, with their policy namespace and rule index. */
  readonly selectorPeers: readonly SelectorPeer[];
  /** Egress only: named ports resolved on the peer. */
  readonly peerNamed: readonly NamedPort[];
  /** Places a new combination of matches without a rebuild (see Refold). */
  readonly refold: Refold;
  readonly stats: TableStats;
}

/** What a new table's image is encoded from besides its parts. */
interface TableCells {
  readonly selClass: Uint16Array | Int32Array;
  readonly verdict: Int32Array;
  /** Re-encoded for new selector classes: the image keeps room for more (table-arena.ts, colRoomFor). */
  readonly room?: boolean;
}

export interface TableStats {
  readonly ipClasses4: number;
  readonly ipClasses6: number;
  readonly selClasses: number;
  readonly peerClasses: number;
  readonly portClasses: number;
}

export function buildRuleTable(spec: TableSpec, identities: IdentityRegistry): RuleTable {
  const k = spec.rules.length;
  // 1. addresses (ipBlocks, and "match all" rules)
  const peers = spec.blocks !== undefined ? rulePeersByBlocks(spec.rules, spec.blocks, identities) : rulePeers(spec.rules, identities);
  let ip4 = classifyAddresses(peers.blocks4, peers.matchAll, k);
  let ip6 = classifyAddresses(peers.blocks6, peers.matchAll, k);
  const trie4 = new CidrTrie4(ip4.prefixes, ip4.defaultClass), trie6 = new CidrTrie6(ip6.prefixes, ip6.defaultClass);
  let nodes: TableNodes | undefined;
  if (spec.rules.some((r) => r.nodes !== undefined && r.nodes.length > 0)) {
    const nc = spec.nodeClasses;
    if (!nc) throw new Error('rule-table: rules with nodes peers need node classes');
    const n4 = withNodeClasses(ip4, spec.rules, k, nc, nc.addr4, nc.cls4, 1, (a, i) => trie4.lookup(a[i]!));
    const n6 = withNodeClasses(ip6, spec.rules, k, nc, nc.addr6, nc.cls6, 4, (a, i) => trie6.lookup(a[i]!, a[i + 1]!, a[i + 2]!, a[i + 3]!));
    ip4 = n4.ip;
    ip6 = n6.ip;
    nodes = { classes: nc, comb4: n4.comb, comb6: n6.comb };
  }
  // 2. identities (selectors, and named ports resolved on the peer for egress)
  const peerNamed = spec.direction === 'egress' ? namedPortsOf(spec.rules) : [];
  const sel = spec.blocks !== undefined
    ? classifyIdentitiesByBlocks(identities, k, spec.blocks, peers.selectorPeers, peerNamed)
    : classifyIdentities(identities, k, peers.selectorPeers, peerNamed);
  // 3. peer classes, 4. port classes, 5. verdicts
  const peerClasses = classifyPeers(ip4, ip6, sel, k);
  const ports = classifyPorts(spec, peerNamed, peerClasses);
  const { verdict, refold } = foldVerdicts(spec, peerClasses, ports);
  const nPort = ports.portMap.classCount;
  return new RuleTable({
    direction: spec.direction, policies: spec.policies, ruleCount: k,
    trie4, trie6,
    nSel: sel.nSel, combine4: peerClasses.combine4, combine6: peerClasses.combine6,
    portMap: ports.portMap, nPort, nodes,
    selectorPeers: peers.selectorPeers, peerNamed, refold,
    stats: { ipClasses4: ip4.count, ipClasses6: ip6.count, selClasses: sel.nSel, peerClasses: peerClasses.count, portClasses: nPort },
  }, identities.count, { selClass: sel.selClass, verdict });
}

export class RuleTable {
  readonly direction: Direction;
  readonly policies: readonly string[];
  /** Number of identities when built; newer identities get selector class 0 (see extendRuleTable). */
  readonly identityCount: number;
  /**
   * Identities [identityCount, checked) are known to take class 0 here (what the image gives
   * identities past its stored classes): an extension that found every new identity in class 0
   * returns the table itself, and without this mark the next one classified them all again, and
   * (its range no longer the batch's) without the batch's references: a table far from the
   * relabelled pods re-read every identity interned since it was built, on every relabel. Moving
   * the mark changes no answer (identity attributes and the table's cells never change), so a
   * table shared by several users or snapshots may move it.
   */
  checked: number;
  /**
   * The whole table as one flat int32 image (see table-arena.ts): what snapshots copy into their
   * arena and judge with. Offsets inside are relative, so it is valid at any arena position.
   */
  readonly image: Int32Array;
  /**
   * The image linked to its node class maps (linkedCopy), for judge4/judge6 on the table itself;
   * made on first use (updates make many tables).
   */
  private views: { readonly arena: TableArena; readonly base: number } | undefined;
  /** The parts, for extendRuleTable (off the hot path). */
  readonly parts: TableParts;
  readonly stats: TableStats;

  /**
   * `from`: the selector classes (per identity) and verdict matrix to encode (read here, not
   * kept: they may be a builder's working buffers), or `extend`: the table this one copies, with
   * the selector classes `added` of identities extend.identityCount, extend.identityCount + 1,
   * ... appended (see extendRuleTable).
   * (The identity count is not a part, so an extension that adds no class shares the parts
   * object: copying its twenty fields per table was a third of a relabel's extensions.)
   */
  constructor(p: TableParts, identityCount: number, from: TableCells | { readonly table: RuleTable; readonly added: Int32Array } | { readonly grown: Int32Array }) {
    const extend = 'table' in from ? from : undefined;
    this.direction = p.direction;
    this.policies = p.policies;
    this.identityCount = identityCount;
    this.checked = identityCount;
    // Extending: in place when the image has room (the caller then rewrites its arena copy, see
    // extendedInPlace), else a copy with room to spare.
    this.image = 'grown' in from ? from.grown : extend !== undefined ? (appendSelClasses(extend.table.image, extend.table.identityCount, extend.added)
      ? extend.table.image
      : withMoreSelClasses(extend.table.image, extend.table.identityCount, extend.added)) : encodeTable({
      nSel: p.nSel, nPort: p.nPort, ports: p.portMap.image(),
      trie4: p.trie4.image(), default4: p.trie4.defaultValue,
      trie6: p.trie6.image(), default6: p.trie6.defaultValue,
      combine4: p.combine4, combine6: p.combine6, verdict: (from as TableCells).verdict, selClass: (from as TableCells).selClass, nodes: p.nodes,
      room: (from as TableCells).room,
    });
    this.parts = p;
    this.stats = p.stats;
  }

  /**
   * Side code (engine-api.ts) for a connection between the owner and an IPv4 peer.
   * `identity` is the peer's pod identity, or 0 when the address is no pod. Allocates nothing.
   * (Snapshots judge on their arena copy of the image; this is the same code on the table's own.)
   */
  judge4(addr: number, identity: number, proto: number, port: number): number {
    const { arena: v, base } = (this.views ??= linkedCopy(this.image, this.parts.nodes?.classes));
    return judgeImage4(v.words, v.bytes, v.halves, base, addr | 0, identity, portBlock(proto), port);
  }

  judge6(a: number, b: number, c: number, d: number, identity: number, proto: number, port: number): number {
    const { arena: v, base } = (this.views ??= linkedCopy(this.image, this.parts.nodes?.classes));
    return judgeImage6(v.words, v.bytes, v.halves, base, a | 0, b | 0, c | 0, d | 0, identity, portBlock(proto), port);
  }

  /** Bytes of the table's image (what each snapshot arena holds for it, besides the node class maps it shares). */
  get byteSize(): number {
    return this.image.byteLength;
  }
}

/**
 * The signature index of a table's classes, made on its first extension from the built classes'
 * packed rows (Refold.selWords), plus the classes and rows extensions have added since: by the
 * refold, which a table and its extended copies share (as they share the index).
 */
const selKeysOf = new WeakMap<Refold, SignatureIndex>();
/** The class of a table's refold whose signature is exactly its rules with a selector that picks every pod (Refold classes only grow). */
const universalClassOf = new WeakMap<Refold, number>();

/** The signature index of a table's classes (made on its first extension that needs one). */
function signatureIndexOf(p: TableParts): SignatureIndex {
  let keys = selKeysOf.get(p.refold);
  if (!keys) {
    const k = p.ruleCount;
    keys = SignatureIndex.ofWords(p.refold.selWords, p.refold.selWords.length / wordsFor(k), k, p.peerNamed.length > 0 ? p.refold.resKeyOf : undefined);
    selKeysOf.set(p.refold, keys);
  }
  return keys;
}

/** How extendRuleTable learns the classes of new identities that no reference stands for. */
const enum Sig {
  EMPTY = 0,
  UNIVERSAL = 1,
  OWN = 2,
}

/**
 * How many table extensions took each way, process-wide (for probes: scripts/relabel-phases.ts):
 * every new identity from its reference or twin; class 0's signature; the universal selectors'
 * class; the full classification; left to idle time (deferFull).
 */
export const extensionPaths = { references: 0, empty: 0, universal: 0, full: 0, deferred: 0 };

/** Do the ascending `ids` hold every identity of [from, to)? (They hold none past `to`.) */
function picksAll(ids: readonly number[], from: number, to: number): boolean {
  const n = to - from;
  return ids.length >= n && ids[ids.length - n] === from;
}

/**
 * The class an identity picked by the universal selectors of a table without peer port names
 * and by no other selector has (see extendRuleTable), or undefined while the table has no such
 * class (the full path makes it, and the next extension finds it).
 */
function universalClass(p: TableParts): number | undefined {
  const known = universalClassOf.get(p.refold);
  if (known !== undefined) return known;
  const row = new Int32Array(wordsFor(p.ruleCount));
  for (const s of p.selectorPeers) if (s.matcher.universal) row[s.rule >> 5]! |= 1 << (s.rule & 31);
  const c = signatureIndexOf(p).getWords(row, 0, '');
  if (c !== undefined) universalClassOf.set(p.refold, c);
  return c;
}

/**
 * Brings a table up to date with identities added since it was built. Identity attributes never
 * change, so only the new identities need a class: when each one's signature is one the table
 * already has, or its cells answer as an existing class's do (Refold), the result shares every
 * structure and its image is the old one with the new identities' classes appended, in place
 * when the image has room (then `t` is superseded: it shares the image, and must not be
 * extended again) or in a copy. Otherwise the identity becomes a new class (a column of peer
 * classes, verdict rows appended) in a re-encoded copy. Returns the same table when nothing was
 * added or every new identity is in class 0, and undefined when a new identity resolves a port
 * name as no class does (the port classes may lack a cut): the caller rebuilds the table.
 * `refs`: the batch's references (new-identity-refs.ts); a new identity that none of the
 * table's matchers tells from its reference takes the reference's class.
 */
/**
 * extendRuleTable's working rows (which new identities to classify, their match bits), reused:
 * a relabel extends a thousand tables, and two typed arrays each were a fair part of the small
 * ones' cost (the function does not re-enter; what it keeps, the index copies).
 */
let needScratch = new Uint8Array(64);
let bitScratch = new Int32Array(256);

export function extendRuleTable(t: RuleTable, identities: IdentityRegistry, refs?: NewIdentityRefs): RuleTable | undefined;
/** With `deferFull`: null, and `t` unchanged, when a new identity needs the full classification (TierTables defers those to idle time). */
export function extendRuleTable(t: RuleTable, identities: IdentityRegistry, refs: NewIdentityRefs | undefined, deferFull: boolean): RuleTable | undefined | null;
export function extendRuleTable(t: RuleTable, identities: IdentityRegistry, refs?: NewIdentityRefs, deferFull = false): RuleTable | undefined | null {
  const p = t.parts;
  // Identities below `from` have their class (stored, or class 0 by the checked mark).
  const from = t.checked;
  const to = identities.count;
  if (to <= from) return t;
  if (p.selectorPeers.length === 0 && p.peerNamed.length === 0) {
    t.checked = to;
    return t;
  }
  // New identities with a reference the table's matchers do not tell them from (a twin,
  // IdentityRegistry.twinOf, is alike to every selector and port name) take its class, with
  // no selector or signature work. `need`: 1 for those classified below.
  const added = new Int32Array(to - from);
  let allZero = true, needed = 0;
  if (needScratch.length < to - from) needScratch = new Uint8Array(2 * (to - from));
  const need = needScratch;
  need.fill(0, 0, to - from);
  let stored: ((identity: number) => number) | undefined;
  const useRefs = refs !== undefined && refs.covers(from, to);
  const diff = useRefs ? refs.differing(distinctMatchers(p)) : undefined;
  for (let i = from; i < to; i++) {
    const x = i - from;
    const j = useRefs ? refs.refOf(i) : identities.twinOf(i);
    if (j < 0 || (diff !== undefined && x < diff.length << 5 && (diff[x >> 5]! >>> (x & 31)) & 1) || (j >= from && need[j - from] === 1)) {
      need[x] = 1;
      needed++;
    } else if ((added[x] = j < from ? (stored ??= selClassReader(t.image))(j) : added[j - from]!) !== 0) allZero = false;
  }
  if (needed === 0) {
    extensionPaths.references++;
    return extended(t, to, added, allZero);
  }
  // What the new identities' signatures are, short of computing them: EMPTY when no selector of
  // the table picks one and no port name of the table resolves on one (class 0's signature);
  // UNIVERSAL when the only selectors that pick them select every pod (`namespaceSelector: {}`,
  // which guardrails and many NetworkPolicies hold) and each of those picked all of them (the
  // class of exactly those selectors' rules, universalClass: 464 and 480 of the 1,282 tables a pod
  // relabel of cluster-large meets, about half of those where its identity is not in class 0,
  // `scripts/relabel-phases.ts`); else OWN, each computed below.
  // (A universal selector that did not pick them all, which the registry never does, sends them
  // to OWN: the hint is not trusted further than what the matcher picked.)
  let sig: Sig = Sig.EMPTY;
  for (const m of distinctMatchers(p)) {
    const ids = identities.matched(m);
    if (m.universal ? !picksAll(ids, from, to) : ids.length > 0 && ids[ids.length - 1]! >= from) {
      sig = Sig.OWN;
      break;
    }
    if (m.universal) sig = Sig.UNIVERSAL;
  }
  for (let i = from; i < to && sig !== Sig.OWN; i++) {
    const ports = identities.get(i).ports;
    for (const n of p.peerNamed) {
      if (definesNamedPort(ports, n.name, n.protocol)) {
        sig = Sig.OWN;
        break;
      }
    }
  }
  if (sig === Sig.EMPTY) {
    extensionPaths.empty++;
    return extended(t, to, added, allZero);
  }
  if (sig === Sig.UNIVERSAL && p.peerNamed.length === 0) {
    const u = universalClass(p);
    if (u !== undefined) {
      extensionPaths.universal++;
      for (let x = 0; x < to - from; x++) if (need[x] === 1) added[x] = u;
      return extended(t, to, added, allZero && u === 0);
    }
  }
  if (deferFull) {
    extensionPaths.deferred++;
    return null;
  }
  extensionPaths.full++;
  const k = p.ruleCount;
  const named = p.peerNamed.length > 0;
  const keys = signatureIndexOf(p);
  // Classes this extension adds (a column each; see Refold), and the parts they change.
  let nSel = p.nSel, combine4 = p.combine4, combine6 = p.combine6;
  // The new identities' match bits, packed (SignatureIndex and Refold work on words).
  const W = wordsFor(k);
  if (bitScratch.length < (to - from) * W) bitScratch = new Int32Array(2 * (to - from) * W);
  const newWords = identityBitWords(identities, from, to, k, p.selectorPeers, bitScratch);
  for (let i = from; i < to; i++) {
    if (need[i - from] === 0) continue;
    const off = (i - from) * W;
    const { res, key: resKey } = named ? resolvedOn(identities, p.peerNamed, i) : NOT_NAMED;
    let c = keys.getWords(newWords, off, resKey);
    if (c === undefined) {
      // A combination of matches the table has no class for: a class whose every cell answers
      // alike, else a new class (remembered for the next identity with it).
      const fit = p.refold.fit(newWords, off, res, nSel, combine4, combine6, named ? resKey : undefined);
      if (fit === undefined) return undefined;
      c = fit.cls;
      if (c < 0) {
        c = nSel;
        combine4 = withColumn(combine4, nSel, fit.column4);
        combine6 = withColumn(combine6, nSel, fit.column6);
        nSel++;
      }
      keys.addWords(newWords, off, resKey, c);
    }
    added[i - from] = c;
    if (c !== 0) allZero = false;
  }
  // (The new classes' tail is a function of its own: its branches, rare, had often not run when
  // V8 optimized extendRuleTable, and the first that ran threw the whole optimized code away,
  // 25-40 ms of compiling it again on the VM's other core. A call this rare is not inlined, so
  // the tail deoptimizes only itself.)
  if (nSel !== p.nSel) return withNewClasses(t, from, to, added, nSel, combine4, combine6);
  return extended(t, to, added, allZero);
}

/**
 * extendRuleTable's answer when the new identities made classes (nSel > the table's): their
 * columns written into the image's room (appendColumns), else the image encoded anew.
 */
function withNewClasses(t: RuleTable, from: number, to: number, added: Int32Array, nSel: number, combine4: Int32Array, combine6: Int32Array): RuleTable {
  const p = t.parts;
  // Every field spelled out in buildRuleTable's order (a spread made parts of another shape,
  // and every later read of them slower).
  const parts = (verdictRows: number): TableParts => ({
    direction: p.direction, policies: p.policies, ruleCount: p.ruleCount,
    trie4: p.trie4, trie6: p.trie6,
    nSel, combine4, combine6,
    portMap: p.portMap, nPort: p.nPort, nodes: p.nodes,
    selectorPeers: p.selectorPeers, peerNamed: p.peerNamed, refold: p.refold,
    stats: { ipClasses4: p.stats.ipClasses4, ipClasses6: p.stats.ipClasses6, selClasses: nSel, peerClasses: verdictRows, portClasses: p.stats.portClasses },
  });
  // New columns: in place when the image has room for them, their verdict rows (every row
  // the refold has past the image's: fits that found an existing class may have added rows
  // too) and the classes (appendColumns; `t` is then superseded, as for appendSelClasses).
  // The classes stored from t.identityCount: zeros for those the checked mark covered.
  const rows = p.refold.verdictsFrom(p.stats.peerClasses);
  const gap = from - t.identityCount;
  let all = added;
  if (gap > 0) {
    all = new Int32Array(gap + added.length);
    all.set(added, gap);
  }
  if (appendColumns(t.image, p.nSel, nSel, combine4, combine6, p.stats.peerClasses, rows, t.identityCount, all)) {
    return new RuleTable(parts(p.stats.peerClasses + rows.length / p.nPort), to, { grown: t.image });
  }
  // Else the image is encoded anew (a copy), with the classes of every identity so
  // far, including those earlier extensions stored only in the image.
  // (Identities between the stored classes and `from` are class 0: the array's fill.)
  const selClass = new Int32Array(to);
  selClass.set(storedSelClasses(t.image));
  selClass.set(added, from);
  const verdict = p.refold.verdicts();
  return new RuleTable(parts(verdict.length / p.nPort), to, { selClass, verdict, room: true });
}

/**
 * `t` with the classes `added` of identities t.checked.. appended (same classes otherwise): `t`
 * itself, marked checked to `to`, when all are class 0 (what identities past the stored classes
 * read anyway), else a table whose image stores them, after zeros for the identities the mark
 * had covered.
 */
function extended(t: RuleTable, to: number, added: Int32Array, allZero: boolean): RuleTable {
  if (allZero) {
    t.checked = to;
    return t;
  }
  const gap = t.checked - t.identityCount;
  let all = added;
  if (gap > 0) {
    all = new Int32Array(gap + added.length);
    all.set(added, gap);
  }
  return new RuleTable(t.parts, to, { table: t, added: all });
}

const NOT_NAMED = { res: [] as number[][], key: '' };

/**
 * What a table's peer-resolved port names resolve to on an identity, and its JSON (what classes
 * are keyed by): per registry, per list of names (by content: every table of a tier spells the
 * same few names) and identity, so a new identity's are made once, not once per table.
 */
const resolved = new WeakMap<IdentityRegistry, Map<string, Map<number, { readonly res: number[][]; readonly key: string }>>>();
const namesKeyOf = new WeakMap<readonly NamedPort[], string>();
function resolvedOn(identities: IdentityRegistry, names: readonly NamedPort[], i: number): { readonly res: number[][]; readonly key: string } {
  let byNames = resolved.get(identities);
  if (!byNames) resolved.set(identities, (byNames = new Map()));
  let nk = namesKeyOf.get(names);
  if (nk === undefined) namesKeyOf.set(names, (nk = names.map(namedKey).join('\u0000')));
  let byId = byNames.get(nk);
  if (!byId) byNames.set(nk, (byId = new Map()));
  let r = byId.get(i);
  if (!r) {
    const ports = identities.get(i).ports;
    const res = names.map((n) => resolveNamedPort(ports, n.name, n.protocol));
    byId.set(i, (r = { res, key: JSON.stringify(res) }));
  }
  return r;
}

/** Each matcher of a table's selector peers once (rules of cluster policies repeat peers written alike). */
const matchersOf = new WeakMap<readonly SelectorPeer[], readonly PeerMatcher[]>();
/** Per matcher serial: the last distinctMatchers call that listed it (no Set per table). */
let listedBy = new Int32Array(256);
let listing = 0;
function distinctMatchers(p: TableParts): readonly PeerMatcher[] {
  let m = matchersOf.get(p.selectorPeers);
  if (!m) {
    const peers = p.selectorPeers, out: PeerMatcher[] = [];
    if (++listing > 0x3fffffff) {
      listedBy.fill(0);
      listing = 1;
    }
    for (let i = 0; i < peers.length; i++) {
      const x = peers[i]!.matcher;
      if (x.serial >= listedBy.length) {
        const grown = new Int32Array(Math.max(x.serial + 1, listedBy.length * 2));
        grown.set(listedBy);
        listedBy = grown;
      }
      if (listedBy[x.serial] === listing) continue;
      listedBy[x.serial] = listing;
      out.push(x);
    }
    matchersOf.set(peers, (m = out));
  }
  return m;
}

/** An ip-class x nSel matrix with one column more (the new class's peer class per address class). */
function withColumn(combine: Int32Array, nSel: number, column: Int32Array): Int32Array {
  const n = column.length;
  const out = new Int32Array(n * (nSel + 1));
  for (let a = 0; a < n; a++) {
    out.set(combine.subarray(a * nSel, (a + 1) * nSel), a * (nSel + 1));
    out[a * (nSel + 1) + nSel] = column[a]!;
  }
  return out;
}

export { OUTSIDE_IDENTITY };
