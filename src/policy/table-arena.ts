// Rule tables as flat int32 images, and the arena that holds all the tables of a snapshot.
//
// Why: a table lookup is a handful of dependent array reads (selector class, trie walk, combine,
// port class, verdict). With every table made of a dozen separately allocated objects (the
// table, its trie and port map, each with several typed arrays), a connection between two
// random pods of a large cluster chased ~30 pointers scattered over the heap, and each was a
// cache miss: ~170 ns per table instead of ~15 ns for a hot one. Here one table is ONE
// contiguous run of int32 words (header, selector classes, port starts, trie nodes, combine rows,
// verdicts), and all tables of a snapshot sit in one Int32Array, so a lookup touches a few
// neighbouring cache lines of one array plus one line of selector classes.
//
// All offsets inside an image are relative to the image's start, so an image can be copied to
// any position of an arena as is (TypedArray.set). Selector classes, the bulk of a table (one per
// identity), are stored as bytes (four per word, read through a Uint8Array view of the same
// memory) when the table has at most 256 classes, as uint16 up to 65,536, else as int32 words
// (H_SEL_WIDTH): the smaller the arena, the more of it stays in the CPU caches.
//
// Layout of one image (int32 word offsets from its start):
//   header     H_* words below
//   selClass   selLen classes (bytes, uint16 or int32, see H_SEL_WIDTH), then room for more up
//              to the ports. Right after the header, so a lookup's read of its identity's class
//              does not wait for the header's words (the judge alone about 3 % faster on the large
//              cluster: docs/speed-history.md, "Selector classes after the header")
//   ports      4 block offsets (tcp, udp, sctp, end; relative to the first start), then the
//              interval starts of each protocol's block (see port-map.ts)
//   trie4      nodes of T4 words: key, mask, value (-1 none), child0, child1 (node offsets
//              relative to the trie start, -1 none); a node's prefix length is the number of
//              leading ones of its mask
//   combine4   ipClasses4 rows of H_NSEL cells (the row stride: the selector classes, plus
//              room for more in a table with several, see colRoomFor): the peer class, or how
//              its verdict row answers every port alike (see rowCells)
//   verdict    nPeer x nPort side codes (engine-api.ts: the tiers' walk folded per cell), then
//              room for more rows (verdictRoom)
//   trie6      nodes of T6 words: key0..3, mask0..3, value, length, child0, child1
//   combine6   ipClasses6 rows of H_NSEL cells, as combine4
//   nodeComb4/6  (tables with `nodes` rules) ipClasses x node classes address classes; the node
//              class map they index by is not in the image but once in the arena (H_NODES4)
//
// Images are written after they are built in two ways only: classes of NEW identities are
// appended into the room after the selector classes, and H_SEL_LEN raised (appendSelClasses,
// table-growth.ts, as the rest of this paragraph);
// and, before that, NEW selector classes (only new identities take them) get their column in
// the combine rows' room and the verdict rows their cells point at in the verdict room
// (appendColumns). That cannot change any answer a published snapshot gives: identities are
// append-only, a snapshot only ever asks about identities that existed when it was published,
// and for those the bytes below the old H_SEL_LEN are untouched (identities past it read class
// 0, which the appended classes of identities the old snapshot knows equal; see
// extendRuleTable), so it never reads a new column's cells nor the rows only they point at.

import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../cluster/model.ts';
import { nodeClass4, nodeClass6, type NodeClasses } from './node-classes.ts';
import { TIER_NEXT, TIER_PASS } from './tiers.ts';
import { checkMirrors } from '../net/mirrored-constants.ts';

// The header's word offsets, the selector widths and the sentinels are a const enum, not module
// constants: the compiler writes a const enum member as its number, while the optimized code of
// the lookups reads a module-level const from its module cell and checks it on every use (about
// thirty reads a lookup). The exports below are for the other modules.
const enum K {
  H_NSEL = 0,
  H_NPORT = 1,
  /** Identities with a stored selector class (newer ones read class 0, see extendRuleTable). */
  H_SEL_LEN = 2,
  /** Selector class storage: SEL_U8, SEL_U16 or SEL_I32. */
  H_SEL_WIDTH = 3,
  /** Where the selector classes start: always HEADER_WORDS (the lookups take that as given), kept for the growth code. */
  H_SEL = 4,
  H_PORTS = 5,
  H_TRIE4 = 6,
  H_DEFAULT4 = 7,
  H_COMBINE4 = 8,
  H_VERDICT = 9,
  H_TRIE6 = 10,
  H_DEFAULT6 = 11,
  H_COMBINE6 = 12,
  /**
   * Node addresses (node-classes.ts), per family: where the node class map sits, the range of
   * node addresses (NodeClasses.range4/6), and the offset of the ip-class x node-class matrix
   * giving the address class of a node address; H_NNODE the matrix's stride (node classes).
   * The map is the same for every table of an engine, so it is not part of the image: the arena
   * holds it once and each arena copy of an image links to it (H_NODES4/6 an ABSOLUTE arena
   * offset, written by linkNodeMaps when the copy is placed). In an image itself H_NODES4/6 is
   * NODES_UNLINKED for a family with node addresses, NO_NODES for one without (or a table
   * without `nodes` rules); either reads as "no node class" (a lookup skips the map).
   */
  H_NODES4 = 13,
  H_NODELO4 = 14,
  H_NODEHI4 = 15,
  H_NODECOMB4 = 16,
  H_NODES6 = 17,
  H_NODELO6 = 18,
  H_NODEHI6 = 19,
  H_NODECOMB6 = 20,
  H_NNODE = 21,
  HEADER_WORDS = 22,

  SEL_U8 = 0,
  SEL_U16 = 1,
  SEL_I32 = 2,

  NO_CHILD = -1,
  NO_VALUE = -1,
  NO_NODES = -1,
  NODES_UNLINKED = -2,
  /** H_TRIE4 / H_TRIE6 of a trie with nothing in it: the default value answers. */
  NO_TRIE = -1,
  /**
   * A combine cell whose peer class answers TIER_NEXT for every port: the lookup ends there (see
   * rowCells). Below every ~pc of a peer class (peer classes are far fewer than 2^30).
   */
  PASS_CELL = -(1 << 30),

  // Chains (see judgeChain4). Mirrors of tiers.ts, checked below.
  TIER_NEXT = -(1 << 29),
  TIER_PASS = -(1 << 29) + 1,
  /** A chain word's record offset: the word is the offset with the sign bit set (below TIER_NEXT). */
  CHAIN_OFFSET = 0x7fffffff,

  // Protocol numbers portBlock compares with, once per packet. Mirrors of cluster/model.ts.
  TCP = 6,
  UDP = 17,
  SCTP = 132,
}
checkMirrors('table-arena.ts', [
  [K.TIER_NEXT, TIER_NEXT, 'TIER_NEXT'], [K.TIER_PASS, TIER_PASS, 'TIER_PASS'],
  [K.TCP, IPPROTO_TCP, 'IPPROTO_TCP'], [K.UDP, IPPROTO_UDP, 'IPPROTO_UDP'], [K.SCTP, IPPROTO_SCTP, 'IPPROTO_SCTP'],
]);
export const H_NSEL = K.H_NSEL;
export const H_NPORT = K.H_NPORT;
export const H_SEL_LEN = K.H_SEL_LEN;
export const H_SEL_WIDTH = K.H_SEL_WIDTH;
export const H_SEL = K.H_SEL;
export const H_PORTS = K.H_PORTS;
export const H_TRIE4 = K.H_TRIE4;
export const H_DEFAULT4 = K.H_DEFAULT4;
export const H_COMBINE4 = K.H_COMBINE4;
export const H_VERDICT = K.H_VERDICT;
export const H_TRIE6 = K.H_TRIE6;
export const H_DEFAULT6 = K.H_DEFAULT6;
export const H_COMBINE6 = K.H_COMBINE6;
export const H_NODES4 = K.H_NODES4;
export const H_NODELO4 = K.H_NODELO4;
export const H_NODEHI4 = K.H_NODEHI4;
export const H_NODECOMB4 = K.H_NODECOMB4;
export const H_NODES6 = K.H_NODES6;
export const H_NODELO6 = K.H_NODELO6;
export const H_NODEHI6 = K.H_NODEHI6;
export const H_NODECOMB6 = K.H_NODECOMB6;
export const H_NNODE = K.H_NNODE;
export const HEADER_WORDS = K.HEADER_WORDS;
export const SEL_U8 = K.SEL_U8;
export const SEL_U16 = K.SEL_U16;
export const SEL_I32 = K.SEL_I32;
export const NO_TRIE = K.NO_TRIE;
export const NO_VALUE = K.NO_VALUE;
export const NO_CHILD = K.NO_CHILD;
export const PASS_CELL = K.PASS_CELL;

/** Words per IPv4 trie node, and field offsets. */
export const T4 = 5;
/** Words per IPv6 trie node: key 0-3, mask 4-7, value 8, length 9, children 10-11. */
export const T6 = 12;

/** The parts of one table, as the rule-table builder holds them. */
export interface TableImageParts {
  readonly nSel: number;
  readonly nPort: number;
  /** Port map image: [tcp, udp, sctp, end] block offsets then the starts (PortMap.image()). */
  readonly ports: Int32Array;
  /** Trie images (CidrTrie4.image(), CidrTrie6.image()) and their default values. */
  readonly trie4: Int32Array;
  readonly default4: number;
  readonly trie6: Int32Array;
  readonly default6: number;
  readonly combine4: Int32Array;
  readonly combine6: Int32Array;
  readonly verdict: Int32Array;
  readonly selClass: Uint16Array | Int32Array;
  /** A table with `nodes` rules: its node-class maps and ip-class x node-class matrices (see node-classes.ts). */
  readonly nodes?: TableNodes;
  /** Re-encoded because new selector classes came: leave room for more (colRoomFor). */
  readonly room?: boolean;
}

export interface TableNodes {
  /** The engine's node classes, whose maps every table's arena copy shares (linkNodeMaps). */
  readonly classes: NodeClasses;
  readonly comb4: Int32Array;
  readonly comb6: Int32Array;
}

function trivialTrie(t: Int32Array, stride: number, valueAt: number): boolean {
  return t.length === stride && t[valueAt] === K.NO_VALUE;
}

/** Words holding `n` selector classes of a width. */
export function selWordsFor(width: number, n: number): number {
  return width === K.SEL_U8 ? (n + 3) >> 2 : width === K.SEL_U16 ? (n + 1) >> 1 : n;
}

/**
 * Selector classes an image has room for: a quarter to a half more than it holds (at least 16 to
 * 32), so a new identity usually costs one in-place write instead of a copy of the whole table.
 * The share varies from image to image (a golden-ratio sequence, so any run of images spreads
 * evenly over the range): tables built in one compile hold the same identities, and with one
 * room for all they would run out at the same new identity and be copied in one update (a wave
 * of hundreds of copies, the worst update latency at scale), then again together later.
 */
let roomSeq = 0;
export function selRoomFor(n: number): number {
  roomSeq = (roomSeq + 0x9e3779b9) >>> 0;
  const quarter = Math.max(16, n >> 2);
  return n + quarter + Math.floor((quarter * roomSeq) / 0x100000000);
}

/**
 * Room for new selector classes (columns of the combine rows) in an image re-encoded because
 * a new class came (TableImageParts.room) in a table with several: an eighth more, at least 2.
 * A relabel gives ~100 tables a class or two each, and re-encoding those images (a copy of
 * every word, placed anew in the arena) was a third of a namespace relabel. Only on demand: a
 * table fresh from a build has none, as room in every image widened the arena by a fifth and
 * cost classify-large about 3 % (docs/speed-history.md, "New selector classes in place").
 * A table with one class keeps a stride of 1 (its lookups skip the selector class).
 */
function colRoomFor(nSel: number, room: boolean): number {
  return !room || nSel <= 1 ? 0 : Math.max(2, nSel >> 3);
}

/** Room for verdict rows (the rows new classes' cells point at): a quarter more, at least 8, where there is room for columns. */
function rowRoomFor(nSel: number, nPeer: number, room: boolean): number {
  return !room || nSel <= 1 ? 0 : Math.max(8, nPeer >> 2);
}

/** Rows the verdict section of an image has room for (encodeTable; the judge never needs it, so not in the header). */
export const verdictCapacity = new WeakMap<Int32Array, number>();

/** Builds the image of one table. */
export function encodeTable(p: TableImageParts): Int32Array {
  // Classes are < nSel, so the width follows from nSel.
  const width = p.nSel <= 0x100 ? K.SEL_U8 : p.nSel <= 0x10000 ? K.SEL_U16 : K.SEL_I32;
  const n = p.selClass.length;
  const selWords = selWordsFor(width, selRoomFor(n));
  const room = p.room === true;
  const stride = p.nSel + colRoomFor(p.nSel, room);
  const nPeer = p.verdict.length / p.nPort;
  const rowCap = nPeer + rowRoomFor(p.nSel, nPeer, room);
  const n4 = p.combine4.length / p.nSel, n6 = p.combine6.length / p.nSel;
  let at = K.HEADER_WORDS;
  const place = (n: number): number => {
    const o = at;
    at += n;
    return o;
  };
  // The selector classes first, at HEADER_WORDS (see the layout above; selClass reads them there).
  const oSel = place(selWords);
  const oPorts = place(p.ports.length);
  const oTrie4 = place(p.trie4.length);
  const oComb4 = place(n4 * stride);
  const oVerdict = place(rowCap * p.nPort);
  const oTrie6 = place(p.trie6.length);
  const oComb6 = place(n6 * stride);
  const nd = p.nodes;
  const oNodeComb4 = nd ? place(nd.comb4.length) : K.NO_NODES;
  const oNodeComb6 = nd ? place(nd.comb6.length) : K.NO_NODES;
  const img = new Int32Array(at);
  verdictCapacity.set(img, rowCap);
  img[K.H_NSEL] = stride;
  img[K.H_NPORT] = p.nPort;
  img[K.H_SEL_LEN] = p.selClass.length;
  img[K.H_SEL_WIDTH] = width;
  img[K.H_SEL] = oSel;
  img[K.H_PORTS] = oPorts;
  // A trie that is only a valueless root (no ipBlock in this family) answers the default for
  // every address: mark it so lookups skip the walk (its branches are what a lookup mispredicts).
  img[K.H_TRIE4] = trivialTrie(p.trie4, T4, 2) ? K.NO_TRIE : oTrie4;
  img[K.H_DEFAULT4] = p.default4;
  img[K.H_COMBINE4] = oComb4;
  img[K.H_VERDICT] = oVerdict;
  img[K.H_TRIE6] = trivialTrie(p.trie6, T6, 8) ? K.NO_TRIE : oTrie6;
  img[K.H_DEFAULT6] = p.default6;
  img[K.H_COMBINE6] = oComb6;
  const nc = nd?.classes;
  img[K.H_NNODE] = nc ? nc.count : 0;
  // A family without node addresses of a class > 0 skips the lookup.
  img[K.H_NODES4] = nc && hasEntries(nc.map4, 2) ? K.NODES_UNLINKED : K.NO_NODES;
  img[K.H_NODECOMB4] = oNodeComb4;
  img[K.H_NODELO4] = nc ? nc.range4[0] : 0;
  img[K.H_NODEHI4] = nc ? nc.range4[1] : 0;
  img[K.H_NODELO6] = nc ? nc.range6[0] : 0;
  img[K.H_NODEHI6] = nc ? nc.range6[1] : 0;
  img[K.H_NODES6] = nc && hasEntries(nc.map6, 5) ? K.NODES_UNLINKED : K.NO_NODES;
  img[K.H_NODECOMB6] = oNodeComb6;
  if (nd) {
    img.set(nd.comb4, oNodeComb4);
    img.set(nd.comb6, oNodeComb6);
  }
  img.set(p.ports, oPorts);
  img.set(p.trie4, oTrie4);
  const cells = rowCells(p.verdict, p.nPort);
  writeCombine(img, oComb4, p.combine4, p.nSel, stride, cells);
  img.set(p.verdict, oVerdict);
  img.set(p.trie6, oTrie6);
  writeCombine(img, oComb6, p.combine6, p.nSel, stride, cells);
  if (width === K.SEL_I32) img.set(p.selClass, oSel);
  else if (width === K.SEL_U16) new Uint16Array(img.buffer, img.byteOffset + oSel * 4, n).set(p.selClass);
  else new Uint8Array(img.buffer, img.byteOffset + oSel * 4, n).set(p.selClass);
  return img;
}

/**
 * A copy of an image whose selector classes have room for at least `selWords` words: the
 * sections after them move by the words added, and their header offsets with them (nothing
 * inside a section moves: its own offsets are relative to its start). For table-growth.ts.
 */
export function withSelRoom(img: Int32Array, selWords: number): Int32Array {
  const end = img[K.H_PORTS]!;
  const delta = Math.max(0, selWords - (end - img[K.H_SEL]!));
  const out = new Int32Array(img.length + delta);
  out.set(img.subarray(0, end));
  out.set(img.subarray(end), end + delta);
  for (const h of [K.H_PORTS, K.H_COMBINE4, K.H_VERDICT, K.H_COMBINE6]) out[h] = img[h]! + delta;
  for (const h of [K.H_TRIE4, K.H_TRIE6]) if (img[h] !== K.NO_TRIE) out[h] = img[h]! + delta;
  for (const h of [K.H_NODECOMB4, K.H_NODECOMB6]) if (img[h] !== K.NO_NODES) out[h] = img[h]! + delta;
  return out;
}

/**
 * The combine cell of each peer class. Most verdict rows answer every port alike (a peer no rule
 * names for any port; a peer a rule without ports matches first): about 60 % of the lookups of
 * the large cluster, and of an Admin table that passes (the pod's own NetworkPolicy table then
 * decides) nearly all. A lookup that lands on such a row needs neither the port class (a binary
 * search over the table's port starts) nor, when the row is TIER_NEXT, the verdict. So the cell
 * says it: `pc` for a row whose ports differ, `~pc` (negative) for a uniform row (the answer is
 * its first cell), PASS_CELL for a uniform TIER_NEXT row.
 */
function rowCells(verdict: Int32Array, nPort: number): Int32Array {
  const nPeer = verdict.length / nPort;
  const cells = new Int32Array(nPeer);
  for (let pc = 0; pc < nPeer; pc++) cells[pc] = rowCell(verdict, pc * nPort, nPort, pc);
  return cells;
}

/** The combine cell (rowCells) of verdict row `pc`, whose nPort cells start at `o` of `a` (a matrix or an image). */
export function rowCell(a: Int32Array, o: number, nPort: number, pc: number): number {
  const first = a[o]!;
  for (let q = 1; q < nPort; q++) if (a[o + q] !== first) return pc;
  return first === TIER_NEXT ? K.PASS_CELL : ~pc;
}

/**
 * Writes a combine matrix's cells (rowCells) at `o`, rows of `nSel` cells (the matrix's) at
 * `stride`; every peer class must be a verdict row.
 */
function writeCombine(img: Int32Array, o: number, combine: Int32Array, nSel: number, stride: number, cells: Int32Array): void {
  for (let a = 0, i = 0; i < combine.length; a += stride) {
    for (let s = 0; s < nSel; s++, i++) {
      const pc = combine[i]!;
      if (!(pc >= 0 && pc < cells.length)) throw new RangeError(`table-arena: peer class ${pc} of ${cells.length} verdict rows`);
      img[o + a + s] = cells[pc]!;
    }
  }
}

function hasEntries(map: Int32Array, stride: number): boolean {
  for (let o = stride; o < map.length; o += stride) if (map[o] !== 0) return true;
  return false;
}

/** Words of the node class maps an arena holds once for the tables of `nc` (see linkNodeMaps). */
export function nodeMapWords(nc: NodeClasses): number {
  return nc.map4.length + nc.map6.length;
}

/** Writes the node class maps of `nc` at `at` of `words` (map4 then map6; nodeMapWords of them). */
export function writeNodeMaps(words: Int32Array, at: number, nc: NodeClasses): void {
  words.set(nc.map4, at);
  words.set(nc.map6, at + nc.map4.length);
}

/**
 * Points the arena copy at `base` of an image to node class maps written at `at` (writeNodeMaps):
 * the shared maps' absolute offsets replace NODES_UNLINKED. Done once, when the copy is placed.
 */
export function linkNodeMaps(words: Int32Array, base: number, at: number, nc: NodeClasses): void {
  if (words[base + K.H_NODES4] === K.NODES_UNLINKED) words[base + K.H_NODES4] = at;
  if (words[base + K.H_NODES6] === K.NODES_UNLINKED) words[base + K.H_NODES6] = at + nc.map4.length;
}

/**
 * An image ready to judge on its own (RuleTable.judge4/6, off the hot path): the node class maps
 * `nodes` needs, then a copy of the image linked to them, at `base`.
 */
export function linkedCopy(img: Int32Array, nodes: NodeClasses | undefined): { readonly arena: TableArena; readonly base: number } {
  if (!nodes) return { arena: new TableArena(img), base: 0 };
  const base = nodeMapWords(nodes);
  const words = new Int32Array(base + img.length);
  writeNodeMaps(words, 0, nodes);
  words.set(img, base);
  linkNodeMaps(words, base, 0, nodes);
  return { arena: new TableArena(words), base };
}

/** Selector class of a stored identity (identity < H_SEL_LEN); the classes start at HEADER_WORDS. */
function selClass(a: Int32Array, a8: Uint8Array, a16: Uint16Array, base: number, identity: number): number {
  const o = base + K.HEADER_WORDS;
  const w = a[base + K.H_SEL_WIDTH]!;
  return w === K.SEL_U8 ? a8[(o << 2) + identity]! : w === K.SEL_U16 ? a16[(o << 1) + identity]! : a[o + identity]!;
}


/**
 * Port block of a protocol (0 TCP, 1 UDP, 2 SCTP), or -1 for protocols without ports. Computed
 * once per packet by the caller and passed to judgeImage4/6 for both tables.
 */
export function portBlock(proto: number): number {
  return proto === K.TCP ? 0 : proto === K.UDP ? 1 : proto === K.SCTP ? 2 : -1;
}

/**
 * Port class of (protocol block, port) in the port map at `o` (absolute). Same answer as
 * PortMap.lookup: 0 for protocols without ports, else 1 + the index of the interval holding the
 * port. The search is branch-free (the step is masked, not branched on): which way a binary
 * search turns depends on the packet, so a branch there is a coin flip for the predictor.
 */
function portClass(a: Int32Array, o: number, b: number, port: number): number {
  if (b < 0) return 0;
  const s = o + 4;
  // Largest i in [lo, lo + len) with starts[i] <= port; each block starts with 0, so one exists.
  let lo = s + a[o + b]!;
  let len = a[o + b + 1]! - a[o + b]!;
  while (len > 1) {
    const half = len >>> 1;
    // Ports and starts are in 0..65536, so the difference is negative exactly when port < start.
    lo += half & ~((port - a[lo + half]!) >> 31);
    len -= half;
  }
  return lo - s + 1;
}

/** The side code of combine cell `cell` (see rowCells) for (protocol block, port) in the table at `base`. */
function verdictOf(a: Int32Array, base: number, cell: number, block: number, port: number): number {
  if (cell === K.PASS_CELL) return TIER_NEXT;
  const row = base + a[base + K.H_VERDICT]!;
  if (cell < 0) return a[row + ~cell * a[base + K.H_NPORT]!]!;
  return a[row + cell * a[base + K.H_NPORT]! + portClass(a, base + a[base + K.H_PORTS]!, block, port)]!;
}

/**
 * Side code (engine-api.ts) of the table at `base` for an IPv4 peer `addr` (int32 bits) of
 * pod identity `identity` (0 = no pod), protocol block (portBlock) and port. Allocates nothing.
 */
export function judgeImage4(a: Int32Array, a8: Uint8Array, a16: Uint16Array, base: number, addr: number, identity: number, block: number, port: number): number {
  const nSel = a[base + K.H_NSEL]!;
  const sc = nSel > 1 && identity < a[base + K.H_SEL_LEN]! ? selClass(a, a8, a16, base, identity) : 0;
  // Longest-prefix match (see cidr-trie.ts): walk while the node's prefix contains addr.
  let ipc = a[base + K.H_DEFAULT4]!;
  const to = a[base + K.H_TRIE4]!;
  const t = base + to;
  let n = t;
  while (to !== K.NO_TRIE) {
    const m = a[n + 1]!;
    if (((addr ^ a[n]!) & m) !== 0) break;
    const v = a[n + 2]!;
    if (v !== K.NO_VALUE) ipc = v;
    // Prefix length = leading ones of the mask (0 for the root, 32 for a host route).
    const l = Math.clz32(~m);
    if (l === 32) break;
    const c = ((addr >>> (31 - l)) & 1) === 0 ? a[n + 3]! : a[n + 4]!;
    if (c === K.NO_CHILD) break;
    n = t + c;
  }
  // A node address (a host route, so longer than any prefix of the trie): its node class refines
  // the trie's class (node-classes.ts).
  const nm = a[base + K.H_NODES4]!;
  const f = addr ^ 0x80000000;
  if (nm >= 0 && f >= a[base + K.H_NODELO4]! && f <= a[base + K.H_NODEHI4]!) {
    const nc = nodeClass4(a, nm, addr);
    if (nc !== 0) ipc = a[base + a[base + K.H_NODECOMB4]! + ipc * a[base + K.H_NNODE]! + nc]!;
  }
  return verdictOf(a, base, a[base + a[base + K.H_COMBINE4]! + ipc * nSel + sc]!, block, port);
}

/** judgeImage4 for an IPv6 peer (four int32 words). */
export function judgeImage6(
  a: Int32Array, a8: Uint8Array, a16: Uint16Array, base: number,
  w0: number, w1: number, w2: number, w3: number,
  identity: number, block: number, port: number,
): number {
  const nSel = a[base + K.H_NSEL]!;
  const sc = nSel > 1 && identity < a[base + K.H_SEL_LEN]! ? selClass(a, a8, a16, base, identity) : 0;
  let ipc = a[base + K.H_DEFAULT6]!;
  const to = a[base + K.H_TRIE6]!;
  const t = base + to;
  let n = t;
  while (to !== K.NO_TRIE) {
    if (((w0 ^ a[n]!) & a[n + 4]!) !== 0) break;
    if (((w1 ^ a[n + 1]!) & a[n + 5]!) !== 0) break;
    if (((w2 ^ a[n + 2]!) & a[n + 6]!) !== 0) break;
    if (((w3 ^ a[n + 3]!) & a[n + 7]!) !== 0) break;
    const v = a[n + 8]!;
    if (v !== K.NO_VALUE) ipc = v;
    const l = a[n + 9]!;
    if (l === 128) break;
    const w = l < 32 ? w0 : l < 64 ? w1 : l < 96 ? w2 : w3;
    const c = ((w >>> (31 - (l & 31))) & 1) === 0 ? a[n + 10]! : a[n + 11]!;
    if (c === K.NO_CHILD) break;
    n = t + c;
  }
  const nm = a[base + K.H_NODES6]!;
  const f = w0 ^ 0x80000000;
  if (nm >= 0 && f >= a[base + K.H_NODELO6]! && f <= a[base + K.H_NODEHI6]!) {
    const nc = nodeClass6(a, nm, w0, w1, w2, w3);
    if (nc !== 0) ipc = a[base + a[base + K.H_NODECOMB6]! + ipc * a[base + K.H_NNODE]! + nc]!;
  }
  return verdictOf(a, base, a[base + a[base + K.H_COMBINE6]! + ipc * nSel + sc]!, block, port);
}

// Chains. A cluster policy change can reach a hundred combined Admin or Baseline tables at once
// (tier-tables.ts), each ~1 ms to build. Until they are rebuilt, the (identity, direction, tier)
// words it reaches point at a CHAIN instead: a record [n, base_1 .. base_n] of n per-policy
// tables' arena offsets, in priority order (the combined table's rules, policy by policy). A
// per-policy table answers a rule code, TIER_PASS (its Pass matched) or TIER_NEXT (no rule of it
// matched); the walk takes the first answer that is not TIER_NEXT, and a TIER_PASS ends the tier
// as TIER_NEXT, exactly what the combined table folds. A tier word holds a chain as chainWord(at):
// negative and below TIER_NEXT, so the hot path's `w >= 0` test for a table is unchanged and a
// chain costs one more compare only on words that are not tables.

/** The tier word of the chain record at arena offset `at`. */
export function chainWord(at: number): number {
  return (at | 0x80000000) | 0;
}

/** Is a tier word a chain (chainWord)? */
export function isChainWord(w: number): boolean {
  return w < K.TIER_NEXT;
}

/** The record offset of a chain word. */
export function chainAt(w: number): number {
  return w & K.CHAIN_OFFSET;
}

/** judgeImage4 over the chain whose word is `w` (chainWord): the tier's code, TIER_NEXT when it passes. Allocates nothing. */
export function judgeChain4(a: Int32Array, a8: Uint8Array, a16: Uint16Array, w: number, addr: number, identity: number, block: number, port: number): number {
  const c = w & K.CHAIN_OFFSET;
  const end = c + 1 + a[c]!;
  for (let i = c + 1; i < end; i++) {
    const r = judgeImage4(a, a8, a16, a[i]!, addr, identity, block, port);
    if (r !== K.TIER_NEXT) return r === K.TIER_PASS ? K.TIER_NEXT : r;
  }
  return K.TIER_NEXT;
}

/** judgeChain4 for an IPv6 peer. */
export function judgeChain6(
  a: Int32Array, a8: Uint8Array, a16: Uint16Array, w: number,
  w0: number, w1: number, w2: number, w3: number,
  identity: number, block: number, port: number,
): number {
  const c = w & K.CHAIN_OFFSET;
  const end = c + 1 + a[c]!;
  for (let i = c + 1; i < end; i++) {
    const r = judgeImage6(a, a8, a16, a[i]!, w0, w1, w2, w3, identity, block, port);
    if (r !== K.TIER_NEXT) return r === K.TIER_PASS ? K.TIER_NEXT : r;
  }
  return K.TIER_NEXT;
}

/**
 * An arena: table images at fixed offsets of one Int32Array (plus byte and uint16 views of the
 * same memory for selector classes). Immutable once built.
 */
export class TableArena {
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  readonly halves: Uint16Array;

  constructor(words: Int32Array) {
    this.words = words;
    this.bytes = new Uint8Array(words.buffer, words.byteOffset, words.length * 4);
    this.halves = new Uint16Array(words.buffer, words.byteOffset, words.length * 2);
  }

  static readonly EMPTY = new TableArena(new Int32Array(0));
}
