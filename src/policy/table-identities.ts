// Rule-table phase 2: selector classes. selClass is per pod identity (see identity.ts): which
// rules' podSelector/namespaceSelector peers select it, and, for egress, what the rules' named
// ports resolve to on it: "named port ... on the destination pod", so on egress the port a name
// means depends on the peer, and folding it into the peer class keeps the table exact and
// independent of the peer. Identities with the same of both share a class.

import type { PolicyPeer } from '../cluster/model.ts';
import { OUTSIDE_IDENTITY, type IdentityRegistry, type PeerMatcher } from './identity.ts';
import { resolveNamedPort } from './spec-facts.ts';
import type { NamedPort } from './named-ports.ts';

export interface SelectorPeer {
  readonly peer: PolicyPeer;
  readonly ns: string;
  /** The rule's index in the table. */
  readonly rule: number;
  readonly matcher: PeerMatcher;
}

/**
 * Per rule (k), 1 when one of its selector peers picks the identity, for every identity in
 * [from, to), identity i in row i - from (k bytes a row), from the tail of each peer's matches
 * (ascending): one pass per peer over the matches past `from` instead of a search per identity
 * and peer. A burst of new identities (a rollout, a watch
 * batch) met every table's hundreds of peers once per identity, and that was most of an update.
 */
export function identityBitRows(identities: IdentityRegistry, from: number, to: number, k: number, selectorPeers: readonly SelectorPeer[]): Uint8Array {
  const rows = new Uint8Array((to - from) * k);
  for (const s of selectorPeers) {
    const ids = identities.matched(s.matcher);
    for (let j = ids.length - 1; j >= 0; j--) {
      const id = ids[j]!;
      if (id < from) break;
      if (id < to) rows[(id - from) * k + s.rule] = 1;
    }
  }
  return rows;
}

/** Words of a row of k bits packed 32 a word (what identityBitWords and SignatureIndex use, and foldVerdicts' bitsets). */
export function wordsFor(k: number): number {
  return Math.max(1, (k + 31) >> 5);
}

/**
 * identityBitRows packed: wordsFor(k) words a row, bit r of a row in word r >> 5. In `out` when
 * it is long enough (a caller's scratch, zeroed here), else in a new array.
 */
export function identityBitWords(identities: IdentityRegistry, from: number, to: number, k: number, selectorPeers: readonly SelectorPeer[], out?: Int32Array): Int32Array {
  const W = wordsFor(k);
  const n = (to - from) * W;
  let rows: Int32Array;
  if (out !== undefined && out.length >= n) {
    rows = out;
    rows.fill(0, 0, n);
  } else rows = new Int32Array(n);
  for (const s of selectorPeers) {
    const ids = identities.matched(s.matcher);
    const w = s.rule >> 5, bit = 1 << (s.rule & 31);
    for (let j = ids.length - 1; j >= 0; j--) {
      const id = ids[j]!;
      if (id < from) break;
      if (id < to) rows[(id - from) * W + w]! |= bit;
    }
  }
  return rows;
}

/**
 * The selector class of each (selector bits, resolutions) a table knows: its classes' own rows,
 * and the rows extensions have mapped to a class whose cells answer alike. What extendRuleTable
 * looks new identities up in: rows packed 32 bits a word, found by a hash of the words in an
 * open-addressed table, then compared word by word.
 *
 * All typed arrays, no object per row: an index is made on a table's first extension, and the
 * tables a cluster-policy change rebuilt meet a relabel's new identity fresh, each of ~70 classes
 * of ~150 rules. Built from Maps of hash buckets with a row copy each, making the indexes of a
 * few hundred fresh tables was most of such a relabel's update.
 */
export class SignatureIndex {
  private readonly w: number;
  /** Entries: row words (w each), class, resolution code. */
  private n = 0;
  private rows: Int32Array;
  private cls: Int32Array;
  private res: Int32Array;
  /** Open addressing: entry + 1 per slot, 0 empty (at most half full). */
  private slots: Int32Array;
  /**
   * Codes of the rows' named-port resolutions, by their JSON ('' in a table without
   * peer-resolved names; the callers' strings are made once per identity, and a string keeps
   * its hash).
   */
  private readonly resCodes = new Map<string, number>();
  private readonly packed: Int32Array;

  constructor(private readonly k: number, capacity = 8) {
    this.w = wordsFor(k);
    this.packed = new Int32Array(this.w);
    const cap = Math.max(8, capacity);
    this.rows = new Int32Array(cap * this.w);
    this.cls = new Int32Array(cap);
    this.res = new Int32Array(cap);
    this.slots = new Int32Array(slotsFor(cap));
  }

  /** The index of a table's classes (row c of bitRows, resolutions[c] when `named`). */
  static of(sel: Pick<SelectorClasses, 'nSel' | 'bitRows' | 'resolutions'>, k: number, named: boolean): SignatureIndex {
    const x = new SignatureIndex(k, sel.nSel);
    for (let c = 0; c < sel.nSel; c++) x.add(sel.bitRows, c * k, named ? JSON.stringify(sel.resolutions[c]) : '', c);
    return x;
  }

  /** The index of `nSel` classes whose rows are packed in `words` (wordsFor(k) words a row); `resOf(c)`: class c's resolutions key. */
  static ofWords(words: Int32Array, nSel: number, k: number, resOf: ((c: number) => string) | undefined): SignatureIndex {
    // Room for the rows extensions add (each new identity's new combination of matches).
    const x = new SignatureIndex(k, nSel + (nSel >> 1) + 8);
    const w = x.w;
    for (let c = 0; c < nSel; c++) x.addWords(words, c * w, resOf === undefined ? '' : resOf(c), c);
    return x;
  }

  /** Packs row bits[off .. off + k) (bytes 0 or 1) into this.packed. */
  private pack(bits: Uint8Array, off: number): void {
    const p = this.packed, k = this.k;
    p.fill(0);
    for (let r = 0; r < k; r++) p[r >> 5]! |= bits[off + r]! << (r & 31);
  }

  private hashWords(words: Int32Array, off: number, rc: number): number {
    let h = 0x811c9dc5 ^ rc;
    for (let x = 0; x < this.w; x++) h = Math.imul(h ^ words[off + x]!, 0x01000193) ^ (h >>> 13);
    return Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  }

  /** The class of row bits[off .. off + k) with resolutions `res`, or undefined. */
  get(bits: Uint8Array, off: number, res: string): number | undefined {
    this.pack(bits, off);
    return this.getWords(this.packed, 0, res);
  }

  /** get for a packed row (words[off .. off + wordsFor(k))). */
  getWords(words: Int32Array, off: number, res: string): number | undefined {
    const rc = this.resCodes.get(res);
    if (rc === undefined) return undefined;
    const w = this.w, rows = this.rows, slots = this.slots, mask = slots.length - 1;
    for (let i = this.hashWords(words, off, rc) & mask; ; i = (i + 1) & mask) {
      const e = slots[i]! - 1;
      if (e < 0) return undefined;
      if (this.res[e] !== rc) continue;
      let same = true;
      for (let x = 0, o = e * w; x < w && same; x++) same = rows[o + x] === words[off + x];
      if (same) return this.cls[e];
    }
  }

  /** Maps a row to a class. */
  add(bits: Uint8Array, off: number, res: string, cls: number): void {
    this.pack(bits, off);
    this.addWords(this.packed, 0, res, cls);
  }

  /** add for a packed row. */
  addWords(words: Int32Array, off: number, res: string, cls: number): void {
    let rc = this.resCodes.get(res);
    if (rc === undefined) this.resCodes.set(res, (rc = this.resCodes.size));
    if (this.n === this.cls.length) this.grow();
    const e = this.n++, w = this.w, rows = this.rows;
    // Word by word: a subarray per row (a typed array object each) cost more than the rest.
    for (let x = 0, o = e * w; x < w; x++) rows[o + x] = words[off + x]!;
    this.cls[e] = cls;
    this.res[e] = rc;
    this.slot(e);
  }

  private slot(e: number): void {
    const slots = this.slots, mask = slots.length - 1;
    let i = this.hashWords(this.rows, e * this.w, this.res[e]!) & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = e + 1;
  }

  private grow(): void {
    const cap = this.cls.length * 2;
    const rows = new Int32Array(cap * this.w); rows.set(this.rows); this.rows = rows;
    const cls = new Int32Array(cap); cls.set(this.cls); this.cls = cls;
    const res = new Int32Array(cap); res.set(this.res); this.res = res;
    this.slots = new Int32Array(slotsFor(cap));
    for (let e = 0; e < this.n; e++) this.slot(e);
  }
}

/** A power of two at least twice `cap` (the open-addressed table stays at most half full). */
function slotsFor(cap: number): number {
  return 1 << (32 - Math.clz32(Math.max(16, 2 * cap) - 1));
}

export interface SelectorClasses {
  readonly nSel: number;
  /** Selector class per identity (empty when the table has no selector and no peer-resolved name: all class 0). */
  readonly selClass: Uint16Array | Int32Array;
  /** Per selector class: match bit per rule (row-major, k columns). */
  readonly bitRows: Uint8Array;
  /** Per selector class, per peer-resolved named port: the port numbers it resolves to. */
  readonly resolutions: readonly number[][][];
}

interface WorkArrays {
  readonly cls: Int32Array;
  readonly size: Int32Array;
  readonly hits: Int32Array;
  readonly movedTo: Int32Array;
  readonly movedBy: Int32Array;
  readonly markedBy: Int32Array;
  readonly marked: Int32Array;
  readonly repOf: Int32Array;
}
let work: WorkArrays | undefined;

/** classifyIdentities' working arrays, for at least n identities (one set: the compiler is synchronous and this does not re-enter). */
function workArrays(n: number): WorkArrays {
  if (!work || work.cls.length < n) {
    const len = Math.max(1024, n * 2);
    const a = () => new Int32Array(len);
    work = { cls: a(), size: a(), hits: a(), movedTo: a(), movedBy: a(), markedBy: a(), marked: a(), repOf: a() };
  }
  return work;
}

export function classifyIdentities(
  identities: IdentityRegistry, k: number, selectorPeers: readonly SelectorPeer[], peerNamed: readonly NamedPort[],
): SelectorClasses {
  const N = identities.count;
  const selRes: number[][][] = [];
  if (selectorPeers.length === 0 && peerNamed.length === 0) {
    selRes.push([]);
    return { nSel: 1, selClass: new Uint16Array(0), bitRows: new Uint8Array(k), resolutions: selRes };
  }
  // Partition refinement: start with one class, split it by each rule's "selected" bit and
  // by each named port's resolution. O(identities x (rules + named ports)).
  // The working arrays are reused between calls (cleared here): a full compile classifies every
  // policy block once, a dozen arrays of every identity each, and that garbage (off-heap typed
  // arrays) drove collections.
  const w = workArrays(N);
  let cls = w.cls;
  cls.fill(0, 0, N);
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
  // Splitting by one rule's bit touches only the identities it selects: in each class, those
  // move to a new class, unless they are the whole class (classes are renumbered below, so the
  // numbering here does not matter). Every class is non-empty, so there are at most N.
  const { size, hits, movedTo, movedBy, markedBy, marked } = w;
  size.fill(0, 0, N);
  size[0] = N;
  hits.fill(0, 0, N);
  movedBy.fill(0, 0, N);
  markedBy.fill(0, 0, N);
  // Selector peers of each rule (tables of cluster policies have hundreds of rules and peers).
  // (Indexed loops throughout: this runs cold in a process's first compile, where for-of
  // allocated an iterator result per identity.)
  const byRule: SelectorPeer[][] = new Array(k);
  for (let r = 0; r < k; r++) byRule[r] = [];
  for (let j = 0; j < selectorPeers.length; j++) byRule[selectorPeers[j]!.rule]!.push(selectorPeers[j]!);
  // Rules whose selectors pick exactly the identities an earlier rule's picked split nothing more.
  const seen = new Set<number | string>();
  for (let r = 0; r < k; r++) {
    const mine = byRule[r]!;
    if (mine.length === 0) continue;
    const key = mine.length === 1 ? identities.setOf(mine[0]!.matcher) : mine.map((s) => identities.setOf(s.matcher)).sort((a, b) => a - b).join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    let nMarked = 0;
    for (let j = 0; j < mine.length; j++) {
      const ids = identities.matched(mine[j]!.matcher);
      for (let x = 0; x < ids.length; x++) {
        const id = ids[x]!;
        if (markedBy[id] === r + 1) continue;
        markedBy[id] = r + 1;
        marked[nMarked++] = id;
        hits[cls[id]!]!++;
      }
    }
    // Decide every split before moving anyone (moving shrinks the classes).
    for (let x = 0; x < nMarked; x++) {
      const c = cls[marked[x]!]!;
      if (hits[c] !== size[c] && movedBy[c] !== r + 1) {
        movedBy[c] = r + 1;
        movedTo[c] = nCls++;
      }
    }
    for (let x = 0; x < nMarked; x++) {
      const id = marked[x]!;
      const c = cls[id]!;
      hits[c] = 0;
      if (movedBy[c] !== r + 1) continue;
      const to = movedTo[c]!;
      cls[id] = to;
      size[c]!--;
      size[to]!++;
    }
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
  const renum = new Int32Array(nCls).fill(-1);
  const rep: number[] = [];
  const selClassArr = nCls <= 0x10000 ? new Uint16Array(N) : new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let c = renum[cls[i]!]!;
    if (c < 0) {
      renum[cls[i]!] = c = rep.length;
      rep.push(i);
    }
    selClassArr[i] = c;
  }
  const nSel = rep.length;
  // Bits of the representatives from the selectors' matches (one pass over every match, not a
  // search per representative and rule), then their signatures from those rows.
  const repOf = w.repOf;
  repOf.fill(-1, 0, N);
  for (let c = 0; c < rep.length; c++) repOf[rep[c]!] = c;
  const rows = new Uint8Array(nSel * k);
  // Once per distinct set, for every rule with a peer selecting it.
  const rulesOfSet = new Map<number, number[]>();
  const setPeer: SelectorPeer[] = [];
  for (const s of selectorPeers) {
    const id = identities.setOf(s.matcher);
    let rs = rulesOfSet.get(id);
    if (!rs) {
      rulesOfSet.set(id, (rs = []));
      setPeer.push(s);
    }
    rs.push(s.rule);
  }
  for (const s of setPeer) {
    const rs = rulesOfSet.get(identities.setOf(s.matcher))!;
    const ids = identities.matched(s.matcher);
    for (let x = 0; x < ids.length; x++) {
      const c = repOf[ids[x]!]!;
      if (c >= 0) for (let j = 0; j < rs.length; j++) rows[c * k + rs[j]!] = 1;
    }
  }
  for (let c = 0; c < nSel; c++) {
    const ports = identities.get(rep[c]!).ports;
    selRes.push(peerNamed.map((n) => resolveNamedPort(ports, n.name, n.protocol)));
  }
  const selClass = nSel <= 0x10000 && selClassArr instanceof Int32Array ? Uint16Array.from(selClassArr) : selClassArr;
  return { nSel, selClass, bitRows: rows, resolutions: selRes };
}
