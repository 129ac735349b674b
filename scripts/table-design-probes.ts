// Two table designs measured against the engine's own judge on the large cluster, without and with
// its cluster policies (docs/speed-history.md, "Folded tables and global address cells,
// measured"). Neither is the engine's; both are built here from its snapshot, checked answer by
// answer against Snapshot.judge4 on the bench's IPv4 tuples (both sides and the egress stop), and
// timed with it in interleaved rounds (JavaScript judges, one process, CPU ns a judgement):
// - folded: per distinct side (its tier words), one table whose rows are the side's final codes
//   over the union of its tables' port starts, indexed by a peer class kept with the peer: the
//   intern of the peer's combine cell in every table (outside peers: a hash of their own);
// - cells: the tier walk as it is, but each peer's address cell (the intern of its address class
//   in every table, node classes included) kept with the peer, and per table a byte array from
//   cell to address class, instead of the trie walk and the node map probe.
//   node --expose-gc --import tsx scripts/table-design-probes.ts [rounds, default 7] [judgements a round, default 1000000]
//
// It reads the snapshot's slot records and arena through their private fields (a development
// probe, not an API): a change of Snapshot's or the image's layout must be mirrored here.

import { judgeInput, largeTuples } from '../bench/suite.ts';
import { buildLargeCluster, LARGE } from '../bench/large-cluster.ts';
import { largeClusterPolicies } from '../bench/large-cluster-policies.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { SLOT_SHIFT, S_EGRESS, S_IDENTITY, S_INGRESS, S_NODE } from '../src/policy/snapshot.ts';
import { PAGE_MASK, PAGE_SHIFT } from '../src/policy/word-pages.ts';
import {
  H_COMBINE4, H_DEFAULT4, H_NNODE, H_NODECOMB4, H_NODEHI4, H_NODELO4, H_NODES4, H_NPORT, H_NSEL, H_PORTS, H_SEL_LEN, H_SEL_WIDTH,
  H_TRIE4, H_VERDICT, HEADER_WORDS, NO_CHILD, NO_TRIE, NO_VALUE, PASS_CELL, SEL_U16, SEL_U8, judgeImage4,
} from '../src/policy/table-arena.ts';
import { nodeClass4 } from '../src/policy/node-classes.ts';
import { TIER_COUNT, TIER_DEFAULT, TIER_NEXT, TIERS_DECIDE, nodeExemptionApplies, sideExemption } from '../src/policy/tiers.ts';
import { SIDE, sideAllows } from '../src/policy/engine-api.ts';
import { finishSweeping } from '../src/agent/idle-gc.ts';
import { checkMirrors } from '../src/net/mirrored-constants.ts';
import { AddressMap4 } from '../src/policy/address-map.ts';

const args = process.argv.slice(2);
const rounds = Number(args[0] ?? 7);
const per = Number(args[1] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };

// The timed judges read the image header by number (a module-level const costs a load and a
// check per use in optimized code, as table-arena.ts says); checked against table-arena.ts.
const enum H { NSEL = 0, NPORT = 1, SEL_LEN = 2, SEL_WIDTH = 3, PORTS = 5, COMBINE4 = 8, VERDICT = 9, HEADER = 22, PASS = -(1 << 30) }
checkMirrors('table-design-probes.ts', [
  [H.NSEL, H_NSEL, 'H_NSEL'], [H.NPORT, H_NPORT, 'H_NPORT'], [H.SEL_LEN, H_SEL_LEN, 'H_SEL_LEN'], [H.SEL_WIDTH, H_SEL_WIDTH, 'H_SEL_WIDTH'],
  [H.PORTS, H_PORTS, 'H_PORTS'], [H.COMBINE4, H_COMBINE4, 'H_COMBINE4'], [H.VERDICT, H_VERDICT, 'H_VERDICT'], [H.HEADER, HEADER_WORDS, 'HEADER_WORDS'],
  [H.PASS, PASS_CELL, 'PASS_CELL'],
]);

/** What the probe reads of a Snapshot (private fields, see the header). */
interface Inside {
  readonly slotPages: readonly Int32Array[];
  readonly slots: number;
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  readonly halves: Uint16Array;
  readonly pods4: { get(a: number): number };
  readonly addr4: Int32Array;
  readonly addr4Start: Int32Array;
  egressCode: number;
  ingressCode: number;
  judge4(src: number, dst: number, proto: number, port: number, stop?: boolean): boolean;
}
interface Judge { egressCode: number; ingressCode: number; judge4(src: number, dst: number, proto: number, port: number, stop: boolean): boolean }

/** Is addr one of node n's addresses (-1: none)? As Snapshot's onNode4, over its arrays. */
function onNode4(a4: Int32Array, a4s: Int32Array, n: number, addr: number): boolean {
  if (n < 0) return false;
  for (let j = a4s[n]!, end = a4s[n + 1]!; j < end; j++) if ((a4[j]! ^ addr) === 0) return true;
  return false;
}

/** An image's IPv4 address class of `addr` (table-arena.ts judgeImage4's trie walk and node class). */
function ipcOf4(a: Int32Array, base: number, addr: number): number {
  let ipc = a[base + H_DEFAULT4]!;
  const to = a[base + H_TRIE4]!;
  const t = base + to;
  let n = t;
  while (to !== NO_TRIE) {
    const m = a[n + 1]!;
    if (((addr ^ a[n]!) & m) !== 0) break;
    const v = a[n + 2]!;
    if (v !== NO_VALUE) ipc = v;
    const l = Math.clz32(~m);
    if (l === 32) break;
    const c = ((addr >>> (31 - l)) & 1) === 0 ? a[n + 3]! : a[n + 4]!;
    if (c === NO_CHILD) break;
    n = t + c;
  }
  const nm = a[base + H_NODES4]!;
  const f = addr ^ 0x80000000;
  if (nm >= 0 && f >= a[base + H_NODELO4]! && f <= a[base + H_NODEHI4]!) {
    const nc = nodeClass4(a, nm, addr);
    if (nc !== 0) ipc = a[base + a[base + H_NODECOMB4]! + ipc * a[base + H_NNODE]! + nc]!;
  }
  return ipc;
}

function selClassOf(s: Inside, base: number, identity: number): number {
  const a = s.words;
  if (a[base + H_NSEL]! <= 1 || identity >= a[base + H_SEL_LEN]!) return 0;
  const o = base + HEADER_WORDS, w = a[base + H_SEL_WIDTH]!;
  return w === SEL_U8 ? s.bytes[(o << 2) + identity]! : w === SEL_U16 ? s.halves[(o << 1) + identity]! : a[o + identity]!;
}

/** Port starts of protocol block b of the image at base (table-arena.ts portClass's layout). */
function portStarts(a: Int32Array, base: number, b: number): number[] {
  const o = base + a[base + H_PORTS]!;
  const out: number[] = [];
  for (let i = a[o + b]!; i < a[o + b + 1]!; i++) out.push(a[o + 4 + i]!);
  return out;
}

const tuples = largeTuples(100_000, 0x5eed);
const input = judgeInput(tuples);
const v4: number[] = [];
for (let k = 0; k < input.n; k++) if (input.meta[k * 3] === 4) v4.push(k);
const T = v4.length;
const tw = new Int32Array(T * 2), tm = new Int32Array(T * 2);
v4.forEach((k, i) => {
  tw[i * 2] = input.w[k * 8]!; tw[i * 2 + 1] = input.w[k * 8 + 4]!;
  tm[i * 2] = input.meta[k * 3 + 1]!; tm[i * 2 + 1] = input.meta[k * 3 + 2]!;
});

/** The snapshot's tables in use, its slots' side words, and the tuples' peer addresses. */
function survey(s: Inside) {
  const word = (slot: number, k: number) => { const w = (slot << SLOT_SHIFT) + k; return s.slotPages[w >>> PAGE_SHIFT]![w & PAGE_MASK]!; };
  const images = new Set<number>();
  for (let slot = 0; slot < s.slots; slot++) {
    for (const at of [S_EGRESS, S_INGRESS]) {
      if (word(slot, at) === SIDE.NOT_JUDGED) continue;
      for (let t = 0; t < TIER_COUNT; t++) {
        const w = word(slot, at + t);
        if (w >= 0) images.add(w);
        else if (w < TIER_NEXT) throw new Error('a chain word: the probe needs a full compile');
      }
    }
  }
  const peers = new Set<number>();
  for (let i = 0; i < T * 2; i++) peers.add(tw[i]!);
  return { word, images: [...images], peers: [...peers] };
}

// Each judge below is written out whole, fields and judge4 alike (no shared base class): the
// timed call sites stay monomorphic, so the rounds compare the layouts, not call dispatch.

/** Everything folded: one table per side, one peer class per peer. */
class FoldedJudge implements Judge {
  egressCode = 0;
  ingressCode = 0;
  readonly info: Record<string, number>;
  /** Per table t: [port map offset, rows offset, ports a row, byte offset of its peer bytes (-1: one row)], then rows and ports. */
  private readonly F: Int32Array;
  private readonly F8: Uint8Array;
  /** Per slot: peer class, node, egress table, ingress table. */
  private readonly rec: Int32Array;
  private readonly pods: { get(a: number): number };
  private readonly outside: AddressMap4;
  private readonly a4: Int32Array;
  private readonly a4s: Int32Array;

  constructor(s: Inside) {
    const { word, images, peers } = survey(s);
    this.pods = s.pods4; this.a4 = s.addr4; this.a4s = s.addr4Start;
    // Peer classes: a peer's combine cell in every table.
    const classes = new Map<string, number>();
    const rep: Array<[number, number]> = [];
    const slotClass = new Int32Array(s.slots).fill(-1);
    const outside = new Map<number, number>();
    for (const addr of peers) {
      const slot = s.pods4.get(addr);
      const id = slot < 0 ? 0 : word(slot, S_IDENTITY);
      const key = images.map((b) => s.words[b + s.words[b + H_COMBINE4]! + ipcOf4(s.words, b, addr) * s.words[b + H_NSEL]! + selClassOf(s, b, id)]).join(',');
      let g = classes.get(key);
      if (g === undefined) { g = rep.length; classes.set(key, g); rep.push([addr, id]); }
      if (slot >= 0) slotClass[slot] = g; else outside.set(addr, g);
    }
    this.outside = new AddressMap4([...outside]);
    // One table per distinct side.
    const sides = new Map<string, number>();
    const out: number[] = [];
    const bytes: Array<[number, Uint8Array]> = [];
    const tableOf = (ws: number[]): number => {
      const key = ws.join(',');
      const had = sides.get(key);
      if (had !== undefined) return had;
      const t = out.length;
      sides.set(key, t);
      const starts = [0, 1, 2].map((b) => [...new Set([0, ...ws.filter((w) => w >= 0).flatMap((w) => portStarts(s.words, w, b))])].sort((x, y) => x - y));
      const offs = [0, starts[0]!.length, starts[0]!.length + starts[1]!.length, starts[0]!.length + starts[1]!.length + starts[2]!.length];
      const nP = 1 + offs[3]!;
      out.push(0, 0, nP, 0);
      const peerAt = out.length;
      for (let g = 0; g < (rep.length + 3) >> 2; g++) out.push(0);
      out[t] = out.length - t;
      out.push(...offs, ...starts[0]!, ...starts[1]!, ...starts[2]!);
      out[t + 1] = out.length - t;
      const rowsAt = out.length;
      const side = (addr: number, id: number, b: number, port: number) => {
        let c = TIER_NEXT;
        for (let x = 0; x < TIER_COUNT && c === TIER_NEXT; x++) if (ws[x]! >= 0) c = judgeImage4(s.words, s.bytes, s.halves, ws[x]!, addr, id, b, port);
        return c === TIER_NEXT ? TIER_DEFAULT : c;
      };
      const rows = new Map<string, number>();
      const peerRow = new Uint8Array(rep.length);
      rep.forEach(([addr, id], g) => {
        const row = [side(addr, id, -1, 0), ...[0, 1, 2].flatMap((b) => starts[b]!.map((p) => side(addr, id, b, p)))];
        const k = row.join(',');
        let r = rows.get(k);
        if (r === undefined) { r = (out.length - rowsAt) / nP; rows.set(k, r); out.push(...row); }
        if (r > 255) throw new Error('more than 256 rows in a side');
        peerRow[g] = r;
      });
      if (rows.size === 1) out[t + 3] = -1;
      else { out[t + 3] = peerAt * 4; bytes.push([peerAt * 4, peerRow]); }
      return t;
    };
    this.rec = new Int32Array(s.slots * 4);
    for (let slot = 0; slot < s.slots; slot++) {
      this.rec[slot * 4] = slotClass[slot]!;
      this.rec[slot * 4 + 1] = word(slot, S_NODE);
      for (const [j, at] of [[2, S_EGRESS], [3, S_INGRESS]] as const) {
        this.rec[slot * 4 + j] = word(slot, at) === SIDE.NOT_JUDGED ? SIDE.NOT_JUDGED : tableOf([0, 1, 2].map((t) => word(slot, at + t)));
      }
    }
    this.F = Int32Array.from(out);
    this.F8 = new Uint8Array(this.F.buffer);
    for (const [at, b] of bytes) this.F8.set(b, at);
    this.info = { tables: images.length, sides: sides.size, peerClasses: rep.length, words: this.F.length };
  }


  private lookup(t: number, g: number, b: number, port: number): number {
    const F = this.F;
    const pb = F[t + 3]!;
    const row = t + F[t + 1]! + (pb < 0 ? 0 : this.F8[pb + g]! * F[t + 2]!);
    if (b < 0) return F[row]!;
    const o = t + F[t]!;
    const s = o + 4;
    let lo = s + F[o + b]!;
    let len = F[o + b + 1]! - F[o + b]!;
    while (len > 1) {
      const half = len >>> 1;
      lo += half & ~((port - F[lo + half]!) >> 31);
      len -= half;
    }
    return F[row + 1 + (lo - s)]!;
  }

  judge4(src: number, dst: number, proto: number, port: number, stop: boolean): boolean {
    src |= 0; dst |= 0;
    const rec = this.rec;
    const s = this.pods.get(src), d = this.pods.get(dst);
    const pb = proto === 6 ? 0 : proto === 17 ? 1 : proto === 132 ? 2 : -1;
    const so = s << 2, do_ = d << 2;
    const ew = s < 0 ? SIDE.NOT_JUDGED : rec[so + 2]!;
    let e = sideExemption(ew !== SIDE.NOT_JUDGED, s === d);
    if (e === TIERS_DECIDE) {
      e = this.lookup(ew, d < 0 ? this.outside.get(dst) : rec[do_]!, pb, port);
      if (nodeExemptionApplies(e) && onNode4(this.a4, this.a4s, rec[so + 1]!, dst)) e = SIDE.NODE;
    }
    const iw = d < 0 ? SIDE.NOT_JUDGED : rec[do_ + 3]!;
    let i = stop && !sideAllows(e) ? SIDE.SKIPPED : sideExemption(iw !== SIDE.NOT_JUDGED, s === d);
    if (i === TIERS_DECIDE) {
      i = this.lookup(iw, s < 0 ? this.outside.get(src) : rec[so]!, pb, port);
      if (nodeExemptionApplies(i) && onNode4(this.a4, this.a4s, rec[do_ + 1]!, src)) i = SIDE.NODE;
    }
    this.egressCode = e;
    this.ingressCode = i;
    return sideAllows(e) && sideAllows(i);
  }
}

/** The tier walk with each peer's global address cell instead of the trie walk. */
class CellJudge implements Judge {
  egressCode = 0;
  ingressCode = 0;
  readonly info: Record<string, number>;
  private readonly a: Int32Array;
  private readonly a8: Uint8Array;
  private readonly a16: Uint16Array;
  /** Per table, its address class of each cell (bytes). */
  private readonly AC: Uint8Array;
  /** Per slot, 16 words: identity, node, cell, egress words 3-5, ingress words 6-8, their AC offsets 9-11 and 12-14. */
  private readonly rec: Int32Array;
  private readonly pods: { get(a: number): number };
  private readonly outside: AddressMap4;
  private readonly a4: Int32Array;
  private readonly a4s: Int32Array;

  constructor(s: Inside) {
    const { word, images, peers } = survey(s);
    this.a = s.words; this.a8 = s.bytes; this.a16 = s.halves; this.pods = s.pods4; this.a4 = s.addr4; this.a4s = s.addr4Start;
    const cells = new Map<string, number>();
    const vectors: number[][] = [];
    const slotCell = new Int32Array(s.slots).fill(-1);
    const outside = new Map<number, number>();
    for (const addr of peers) {
      const v = images.map((b) => ipcOf4(s.words, b, addr));
      const key = v.join(',');
      let c = cells.get(key);
      if (c === undefined) { c = vectors.length; cells.set(key, c); vectors.push(v); }
      const slot = s.pods4.get(addr);
      if (slot >= 0) slotCell[slot] = c; else outside.set(addr, c);
    }
    this.outside = new AddressMap4([...outside]);
    const acAt = new Map<number, number>();
    const ac: number[] = [];
    let varying = 0;
    images.forEach((b, j) => {
      const col = vectors.map((v) => v[j]!);
      if (col.some((x) => x > 255)) throw new Error('an address class above 255');
      if (col.some((x) => x !== col[0])) varying++;
      acAt.set(b, ac.length);
      ac.push(...col);
    });
    this.AC = Uint8Array.from(ac);
    this.rec = new Int32Array(s.slots * 16);
    for (let slot = 0; slot < s.slots; slot++) {
      const r = slot * 16;
      this.rec[r] = word(slot, S_IDENTITY);
      this.rec[r + 1] = word(slot, S_NODE);
      this.rec[r + 2] = slotCell[slot]!;
      for (let t = 0; t < TIER_COUNT; t++) {
        const e = word(slot, S_EGRESS + t), i = word(slot, S_INGRESS + t);
        this.rec[r + 3 + t] = e;
        this.rec[r + 6 + t] = i;
        this.rec[r + 9 + t] = e >= 0 ? acAt.get(e)! : 0;
        this.rec[r + 12 + t] = i >= 0 ? acAt.get(i)! : 0;
      }
    }
    this.info = { tables: images.length, cells: vectors.length, tablesWithSeveralClasses: varying, cellMapBytes: ac.length };
  }


  /** judgeImage4 with the address class read from the cell map. */
  private image(base: number, acOff: number, cell: number, identity: number, block: number, port: number): number {
    const a = this.a;
    const nSel = a[base + H.NSEL]!;
    let sc = 0;
    if (nSel > 1 && identity < a[base + H.SEL_LEN]!) {
      const o = base + H.HEADER, w = a[base + H.SEL_WIDTH]!;
      sc = w === 0 ? this.a8[(o << 2) + identity]! : w === 1 ? this.a16[(o << 1) + identity]! : a[o + identity]!;
    }
    const c = a[base + a[base + H.COMBINE4]! + this.AC[acOff + cell]! * nSel + sc]!;
    if (c === H.PASS) return TIER_NEXT;
    const row = base + a[base + H.VERDICT]!;
    if (c < 0) return a[row + ~c * a[base + H.NPORT]!]!;
    let pc = 0;
    if (block >= 0) {
      const o = base + a[base + H.PORTS]!;
      const s = o + 4;
      let lo = s + a[o + block]!;
      let len = a[o + block + 1]! - a[o + block]!;
      while (len > 1) {
        const half = len >>> 1;
        lo += half & ~((port - a[lo + half]!) >> 31);
        len -= half;
      }
      pc = lo - s + 1;
    }
    return a[row + c * a[base + H.NPORT]! + pc]!;
  }

  private side(r: number, o: number, cell: number, identity: number, pb: number, port: number): number {
    let c = TIER_NEXT;
    for (let t = 0; t < 3 && c === TIER_NEXT; t++) {
      const w = this.rec[r + o + t]!;
      if (w >= 0) c = this.image(w, this.rec[r + o + 6 + t]!, cell, identity, pb, port);
    }
    return c === TIER_NEXT ? TIER_DEFAULT : c;
  }

  judge4(src: number, dst: number, proto: number, port: number, stop: boolean): boolean {
    src |= 0; dst |= 0;
    const rec = this.rec;
    const s = this.pods.get(src), d = this.pods.get(dst);
    const pb = proto === 6 ? 0 : proto === 17 ? 1 : proto === 132 ? 2 : -1;
    const so = s << 4, do_ = d << 4;
    const ew = s < 0 ? SIDE.NOT_JUDGED : rec[so + 3]!;
    let e = sideExemption(ew !== SIDE.NOT_JUDGED, s === d);
    if (e === TIERS_DECIDE) {
      e = d < 0 ? this.side(so, 3, this.outside.get(dst), 0, pb, port) : this.side(so, 3, rec[do_ + 2]!, rec[do_]!, pb, port);
      if (nodeExemptionApplies(e) && onNode4(this.a4, this.a4s, rec[so + 1]!, dst)) e = SIDE.NODE;
    }
    const iw = d < 0 ? SIDE.NOT_JUDGED : rec[do_ + 6]!;
    let i = stop && !sideAllows(e) ? SIDE.SKIPPED : sideExemption(iw !== SIDE.NOT_JUDGED, s === d);
    if (i === TIERS_DECIDE) {
      i = s < 0 ? this.side(do_, 6, this.outside.get(src), 0, pb, port) : this.side(do_, 6, rec[so + 2]!, rec[so]!, pb, port);
      if (nodeExemptionApplies(i) && onNode4(this.a4, this.a4s, rec[do_ + 1]!, src)) i = SIDE.NODE;
    }
    this.egressCode = e;
    this.ingressCode = i;
    return sideAllows(e) && sideAllows(i);
  }
}

function loop(j: Judge, count: number): number {
  let acc = 0, k = 0;
  for (let i = 0; i < count; i++) {
    if (j.judge4(tw[k * 2]!, tw[k * 2 + 1]!, tm[k * 2]!, tm[k * 2 + 1]!, true)) acc++;
    if (++k === T) k = 0;
  }
  return acc;
}

const variants: Array<{ name: string; j: Judge }> = [];
for (const cnp of [false, true]) {
  const label = cnp ? 'with' : 'without';
  const snap = new CompiledEngine(buildLargeCluster(LARGE, cnp ? largeClusterPolicies() : [])).snapshot() as unknown as Inside;
  const designs: Array<[string, Judge & { info: Record<string, number> }]> = [['folded', new FoldedJudge(snap)], ['cells', new CellJudge(snap)]];
  for (const [name, j] of designs) {
    let bad = 0;
    for (let i = 0; i < T; i++) {
      for (const stop of [true, false]) {
        const a = snap.judge4(tw[i * 2]!, tw[i * 2 + 1]!, tm[i * 2]!, tm[i * 2 + 1]!, stop);
        const b = j.judge4(tw[i * 2]!, tw[i * 2 + 1]!, tm[i * 2]!, tm[i * 2 + 1]!, stop);
        if (a !== b || snap.egressCode !== j.egressCode || snap.ingressCode !== j.ingressCode) bad++;
      }
    }
    console.log(JSON.stringify({ variant: `${label} ${name}`, ...j.info, ipv4Tuples: T, mismatches: bad }));
    if (bad > 0) throw new Error(`${label} ${name}: ${bad} answers differ from Snapshot.judge4`);
    variants.push({ name: `${label} ${name}`, j });
  }
  variants.push({ name: `${label} tiers`, j: snap as unknown as Judge });
}

const ns = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (const v of variants) loop(v.j, per);
for (let r = 0; r < rounds; r++) {
  for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
    gc();
    finishSweeping(); // untimed: the collection's sweep would run in the round (bench/cluster-large.ts)
    const c0 = cpu();
    loop(v.j, per);
    ns.get(v.name)!.push(((cpu() - c0) * 1e6) / per);
  }
}
const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!;
const m = (k: string) => med(ns.get(k)!);
console.log(JSON.stringify({
  cpuNsPerJudgement: Object.fromEntries([...ns].map(([k, v]) => [k, { median: +med(v).toFixed(1), min: +Math.min(...v).toFixed(1) }])),
  ratioWithToWithout: Object.fromEntries(['tiers', 'folded', 'cells'].map((d) => [d, +(m(`without ${d}`) / m(`with ${d}`)).toFixed(3)])),
}));
