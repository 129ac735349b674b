// Selector classes by rule block: the identity classification of one policy's rules, computed
// once per policy version and shared by every table holding the policy.
//
// Why: a table's selector classes (table-identities.ts) split the identities by which of its
// rules' selectors pick them. Tables of cluster policies hold about 150 rules of several
// policies, and a cluster of them holds each policy in dozens of tables (a guardrail selecting
// every pod is in most): refining by every rule's matches per table was the largest part of a
// tier table's build. A table's classes are the common refinement of its policies' own classes
// (a rule's bit is a function of the policy's class), so a table now combines one class number
// per policy and identity (O(identities x policies)) instead of walking every rule's matches.
//
// A block's classes are kept per identity registry and policy version (the rules array object,
// which the compiler keeps per version), and extended when identities are added: identities
// never change, so existing classes stand; a new identity joins the class with its signature or
// opens a new one (a block's numbering is private; only the tables' classes are published).

import type { IdentityRegistry } from './identity.ts';
import type { NamedPort } from './named-ports.ts';
import { namedKey } from './named-ports.ts';
import { resolveNamedPort } from './spec-facts.ts';
import { SignatureIndex, classifyIdentities, identityBitRows, type SelectorPeer } from './table-identities.ts';

/** A contiguous run of a table's rules that belong to one policy version (in table order). */
export interface RuleBlock {
  /** Identifies the block's rules and their peers: the same object for the same rules (a policy version's rule list). */
  readonly key: object;
  readonly count: number;
}

interface BlockClasses {
  /** Identities [0, upTo) are classified. */
  upTo: number;
  cls: Int32Array;
  n: number;
  /** Per class: match bit per rule of the block (row-major, k columns). */
  rows: Uint8Array;
  readonly k: number;
  readonly peers: readonly SelectorPeer[];
  /** Class of each row of matches (no port names here), made on first extension. */
  keys: SignatureIndex | undefined;
}

const byRegistry = new WeakMap<IdentityRegistry, WeakMap<object, BlockClasses>>();
/** Per registry and named port: a code per identity, equal codes equal resolutions. */
const namedCodes = new WeakMap<IdentityRegistry, Map<string, NamedCodes>>();

interface NamedCodes {
  upTo: number;
  codes: Int32Array;
  readonly byValue: Map<string, number>;
  /** The resolution of each code (shared by every class resolving so: never changed). */
  readonly values: number[][];
}

function blockClasses(identities: IdentityRegistry, block: RuleBlock, peersOf: () => readonly SelectorPeer[]): BlockClasses {
  let m = byRegistry.get(identities);
  if (!m) byRegistry.set(identities, (m = new WeakMap()));
  let b = m.get(block.key);
  const N = identities.count;
  if (!b) {
    const peers = peersOf();
    const sel = classifyIdentities(identities, block.count, peers, []);
    const cls = new Int32Array(Math.max(64, N * 2));
    for (let i = 0; i < sel.selClass.length; i++) cls[i] = sel.selClass[i]!;
    b = { upTo: N, cls, n: sel.nSel, rows: sel.bitRows, k: block.count, peers, keys: undefined };
    m.set(block.key, b);
    return b;
  }
  if (b.upTo < N) {
    if (b.cls.length < N) {
      const c = new Int32Array(N * 2);
      c.set(b.cls);
      b.cls = c;
    }
    if (b.peers.length === 0) b.upTo = N;
    if (b.upTo < N) {
      const keys = (b.keys ??= SignatureIndex.of({ nSel: b.n, bitRows: b.rows, resolutions: [] }, b.k, false));
      const newBits = identityBitRows(identities, b.upTo, N, b.k, b.peers);
      let rows = b.rows;
      for (let i = b.upTo; i < N; i++) {
        const off = (i - b.upTo) * b.k;
        let c = keys.get(newBits, off, '');
        if (c === undefined) {
          c = b.n++;
          keys.add(newBits, off, '', c);
          const grown = new Uint8Array(b.n * b.k);
          grown.set(rows);
          grown.set(newBits.subarray(off, off + b.k), c * b.k);
          rows = grown;
        }
        b.cls[i] = c;
      }
      b.rows = rows;
      b.upTo = N;
    }
  }
  return b;
}

function namedPortCodes(identities: IdentityRegistry, n: NamedPort): NamedCodes {
  let m = namedCodes.get(identities);
  if (!m) namedCodes.set(identities, (m = new Map()));
  const key = namedKey(n);
  let e = m.get(key);
  if (!e) m.set(key, (e = { upTo: 0, codes: new Int32Array(0), byValue: new Map([['', 0]]), values: [[]] }));
  const N = identities.count;
  if (e.upTo < N) {
    if (e.codes.length < N) {
      const c = new Int32Array(N * 2);
      c.set(e.codes);
      e.codes = c;
    }
    for (let i = e.upTo; i < N; i++) {
      const r = resolveNamedPort(identities.get(i).ports, n.name, n.protocol);
      const v = r.join(',');
      let code = e.byValue.get(v);
      if (code === undefined) {
        e.byValue.set(v, (code = e.byValue.size));
        e.values.push(r);
      }
      e.codes[i] = code;
    }
    e.upTo = N;
  }
  return e;
}

interface RefineScratch {
  a: Int32Array;
  b: Int32Array;
  ids: Int32Array;
  stamp: Int32Array;
  generation: number;
  /** The result's selector classes and bit rows (see classifyIdentitiesByBlocks: valid until the next call). */
  sel16?: Uint16Array;
  sel32?: Int32Array;
  rows?: Uint8Array;
}
let scratchBuffers: RefineScratch | undefined;

function scratch16(s: RefineScratch, n: number): Uint16Array {
  if (!s.sel16 || s.sel16.length < n) s.sel16 = new Uint16Array(Math.max(1024, n * 2));
  return s.sel16.subarray(0, n);
}
function scratch32(s: RefineScratch, n: number): Int32Array {
  if (!s.sel32 || s.sel32.length < n) s.sel32 = new Int32Array(Math.max(1024, n * 2));
  return s.sel32.subarray(0, n);
}
/** Zeroed. */
function scratchRows(s: RefineScratch, n: number): Uint8Array {
  if (!s.rows || s.rows.length < n) s.rows = new Uint8Array(Math.max(1 << 16, n * 2));
  else s.rows.fill(0, 0, n);
  return s.rows.subarray(0, n);
}

/** classifyIdentitiesByBlocks' working buffers, for at least n identities (one set per process: the compiler is synchronous). */
function refineScratch(n: number): RefineScratch {
  let s = scratchBuffers;
  if (!s || s.a.length < n) {
    const len = Math.max(1024, n * 2);
    s = scratchBuffers = { a: new Int32Array(len), b: new Int32Array(len), ids: s?.ids ?? new Int32Array(1024), stamp: s?.stamp ?? new Int32Array(1024), generation: s?.generation ?? 0 };
  }
  if (s.generation > 0x3fffffff) {
    s.stamp.fill(0);
    s.generation = 0;
  }
  return s;
}

/**
 * The same answer as classifyIdentities (same classes, numbered from identity 0), from the blocks' classes.
 * Its selClass and bitRows are views of working buffers, valid until the next call: a table
 * builder reads them (the image keeps the classes) and keeps neither. They were a new array per
 * table, the largest allocations of the idle converge steps (docs/speed-history.md, scale bench).
 */
export function classifyIdentitiesByBlocks(
  identities: IdentityRegistry, k: number, blocks: readonly RuleBlock[], selectorPeers: readonly SelectorPeer[], peerNamed: readonly NamedPort[],
): ReturnType<typeof classifyIdentities> {
  const N = identities.count;
  // Each block's selector peers, with rule indices relative to the block (only for a block
  // classified for the first time: the classes keep their peers).
  const starts: number[] = [];
  let off = 0;
  for (const b of blocks) {
    starts.push(off);
    off += b.count;
  }
  if (off !== k) throw new Error('rule blocks do not cover the table');
  if (selectorPeers.length === 0 && peerNamed.length === 0) return { nSel: 1, selClass: new Uint16Array(0), bitRows: new Uint8Array(k), resolutions: [[]] };
  const peersOf = (bi: number) => (): SelectorPeer[] => {
    const lo = starts[bi]!, hi = lo + blocks[bi]!.count;
    const out: SelectorPeer[] = [];
    for (const s of selectorPeers) if (s.rule >= lo && s.rule < hi) out.push({ ...s, rule: s.rule - lo });
    return out;
  };
  const classes = blocks.map((b, i) => blockClasses(identities, b, peersOf(i)));
  // The common refinement, in two buffers used in turn and a scratch table of pair -> class
  // whose entries are valid only when stamped with this refinement's number (a table of hundreds
  // of blocks allocated and cleared a pair table and a class array per block).
  const scratch = refineScratch(N);
  let cls = scratch.a;
  let next = scratch.b;
  cls.fill(0, 0, N);
  let nCls = 1;
  const refine = (other: Int32Array, nOther: number) => {
    if (nOther <= 1) return;
    let n = 0;
    if (nCls * nOther <= 1 << 20) {
      const size = nCls * nOther;
      if (scratch.ids.length < size) {
        scratch.ids = new Int32Array(Math.max(size, scratch.ids.length * 2));
        scratch.stamp = new Int32Array(scratch.ids.length);
      }
      const ids = scratch.ids, stamp = scratch.stamp;
      const g = ++scratch.generation;
      for (let i = 0; i < N; i++) {
        const key = cls[i]! * nOther + other[i]!;
        let c: number;
        if (stamp[key] !== g) {
          stamp[key] = g;
          ids[key] = c = n++;
        } else c = ids[key]!;
        next[i] = c;
      }
    } else {
      const ids = new Map<number, number>();
      for (let i = 0; i < N; i++) {
        const key = cls[i]! * nOther + other[i]!;
        let c = ids.get(key);
        if (c === undefined) ids.set(key, (c = n++));
        next[i] = c;
      }
    }
    const t = cls;
    cls = next;
    next = t;
    nCls = n;
  };
  for (const b of classes) refine(b.cls, b.n);
  const named = peerNamed.map((n) => namedPortCodes(identities, n));
  for (const { codes } of named) {
    let max = 0;
    for (let i = 0; i < N; i++) if (codes[i]! > max) max = codes[i]!;
    refine(codes, max + 1);
  }
  // Renumber in identity order, so identity 0 (no pod: selected by nothing) is class 0.
  const renum = new Int32Array(nCls).fill(-1);
  const rep: number[] = [];
  const selClassArr = nCls <= 0x10000 ? scratch16(scratch, N) : scratch32(scratch, N);
  for (let i = 0; i < N; i++) {
    let c = renum[cls[i]!]!;
    if (c < 0) {
      renum[cls[i]!] = c = rep.length;
      rep.push(i);
    }
    selClassArr[i] = c;
  }
  const nSel = rep.length;
  const rows = scratchRows(scratch, nSel * k);
  for (let c = 0; c < nSel; c++) {
    const i = rep[c]!;
    for (let j = 0; j < classes.length; j++) {
      const b = classes[j]!;
      if (b.peers.length === 0) continue;
      const from = b.cls[i]! * b.k, to = c * k + starts[j]!;
      for (let r = 0; r < b.k; r++) rows[to + r] = b.rows[from + r]!;
    }
  }
  const resolutions: number[][][] = [];
  for (let c = 0; c < nSel; c++) {
    const i = rep[c]!;
    resolutions.push(named.map((e) => e.values[e.codes[i]!]!));
  }
  const selClass = nSel <= 0x10000 && selClassArr instanceof Int32Array ? Uint16Array.from(selClassArr) : selClassArr;
  return { nSel, selClass, bitRows: rows, resolutions };
}
