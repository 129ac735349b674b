// Tables' images grown after they are built (table-arena.ts holds their layout and the
// encoder): selector classes of new identities appended into the room after the stored ones,
// and new selector classes' columns and verdict rows written into the room a re-encoded image
// keeps; the readers a re-encode starts from; and what an arena copy of a grown image must take
// over. Why a published snapshot keeps its answers through all of this: table-arena.ts, the
// file header. None of it is on the per-packet path (the header words are read as module
// constants here, which the lookups avoid).

import { H_COMBINE4, H_COMBINE6, H_NODECOMB4, H_NPORT, H_NSEL, H_PORTS, H_SEL, H_SEL_LEN, H_SEL_WIDTH, H_VERDICT, SEL_I32, SEL_U16, SEL_U8, rowCell, selRoomFor, selWordsFor, verdictCapacity, withSelRoom } from './table-arena.ts';

/** The combine cell of verdict row `pc` of an image (table-arena.ts rowCell). */
function cellOf(img: Int32Array, pc: number): number {
  const nPort = img[H_NPORT]!;
  return rowCell(img, img[H_VERDICT]! + pc * nPort, nPort, pc);
}

/** Address classes (combine rows) of an image, per family: its combine sections over the stride. */
function combineRows(img: Int32Array): { readonly n4: number; readonly n6: number } {
  const stride = img[H_NSEL]!;
  const end6 = img[H_NODECOMB4]! >= 0 ? img[H_NODECOMB4]! : img.length;
  return { n4: (img[H_VERDICT]! - img[H_COMBINE4]!) / stride, n6: (end6 - img[H_COMBINE6]!) / stride };
}

/** The selector class of every identity an image stores (H_SEL_LEN of them), for re-encoding it. */
export function storedSelClasses(img: Int32Array): Int32Array {
  const n = img[H_SEL_LEN]!, o = img[H_SEL]!, w = img[H_SEL_WIDTH]!;
  const at = img.byteOffset + o * 4;
  return Int32Array.from(w === SEL_U8 ? new Uint8Array(img.buffer, at, n) : w === SEL_U16 ? new Uint16Array(img.buffer, at, n) : img.subarray(o, o + n));
}

/** Reads the selector class an image gives an identity (class 0 past the stored ones, as judging reads it). */
export function selClassReader(img: Int32Array): (identity: number) => number {
  const n = img[H_SEL_LEN]!, o = img[H_SEL]!, w = img[H_SEL_WIDTH]!;
  const at = img.byteOffset + o * 4;
  const v = w === SEL_U8 ? new Uint8Array(img.buffer, at, n) : w === SEL_U16 ? new Uint16Array(img.buffer, at, n) : img.subarray(o, o + n);
  return (identity) => (identity >= 0 && identity < n ? v[identity]! : 0);
}

/**
 * The image words an in-place extension (appendSelClasses) from `had` stored classes wrote:
 * [lo, hi) of the selector classes, besides the H_SEL_LEN word. What an arena copy of the
 * image must take over (TableLayout.rewrite).
 */
export function appendedWords(img: Int32Array, had: number): { lo: number; hi: number } {
  const o = img[H_SEL]!, w = img[H_SEL_WIDTH]!;
  const bytes = w === SEL_U8 ? 1 : w === SEL_U16 ? 2 : 4;
  return { lo: o + ((had * bytes) >> 2), hi: o + ((img[H_SEL_LEN]! * bytes + 3) >> 2) };
}

/**
 * A copy of an image with the selector classes of identities from, from + 1, ... appended (same
 * nSel): what a table extended for new identities needs (see extendRuleTable). The image's words
 * are copied as they are (withSelRoom, no re-encoding); `from` must be the number of identities it
 * stores.
 */
export function withMoreSelClasses(img: Int32Array, from: number, added: Int32Array): Int32Array {
  const n = img[H_SEL_LEN]! + added.length;
  const out = withSelRoom(img, selWordsFor(img[H_SEL_WIDTH]!, selRoomFor(n)));
  const rows = verdictCapacity.get(img);
  if (rows !== undefined) verdictCapacity.set(out, rows);
  // The copy has room for them now.
  appendSelClasses(out, from, added);
  return out;
}

/** Words of room for selector classes: from H_SEL up to the first section after them. */
function selRoom(img: Int32Array): number {
  return img[H_PORTS]! - img[H_SEL]!;
}

/**
 * Gives `img` (of a table with nSel0 selector classes and peers0 verdict rows) the classes
 * nSel0 .. nSel-1 in place, when its room allows: their combine cells (columns nSel0.. of
 * `combine4` / `combine6`, nSel cells a row) and the verdict rows `rows` after its own (the
 * rows those cells may point at), then the selector classes `added` of identities from, from +
 * 1, ... (appendSelClasses, whose length word comes last). Returns false, leaving img
 * untouched, when the columns, rows or classes lack room or nSel outgrows the classes' width:
 * the caller re-encodes. See the file header for why published snapshots keep their answers.
 */
export function appendColumns(
  img: Int32Array, nSel0: number, nSel: number, combine4: Int32Array, combine6: Int32Array,
  peers0: number, rows: Int32Array, from: number, added: Int32Array,
): boolean {
  const stride = img[H_NSEL]!, nPort = img[H_NPORT]!, width = img[H_SEL_WIDTH]!;
  if (nSel > stride || nSel0 <= 1) return false;
  if (width === SEL_U8 ? nSel > 0x100 : width === SEL_U16 && nSel > 0x10000) return false;
  const nPeer = peers0 + rows.length / nPort;
  if (nPeer > (verdictCapacity.get(img) ?? 0)) return false;
  if (img[H_SEL_LEN] !== from) throw new RangeError(`table-arena: image stores ${img[H_SEL_LEN]} selector classes, extension starts at ${from}`);
  if (selWordsFor(width, from + added.length) > selRoom(img)) return false;
  const { n4, n6 } = combineRows(img);
  if (combine4.length !== n4 * nSel || combine6.length !== n6 * nSel) throw new RangeError('table-arena: combine rows do not match the image');
  img.set(rows, img[H_VERDICT]! + peers0 * nPort);
  const col = (o: number, combine: Int32Array, n: number) => {
    for (let a = 0; a < n; a++) {
      for (let s = nSel0; s < nSel; s++) {
        const pc = combine[a * nSel + s]!;
        if (!(pc >= 0 && pc < nPeer)) throw new RangeError(`table-arena: peer class ${pc} of ${nPeer} verdict rows`);
        img[o + a * stride + s] = cellOf(img, pc);
      }
    }
  };
  col(img[H_COMBINE4]!, combine4, n4);
  col(img[H_COMBINE6]!, combine6, n6);
  return appendSelClasses(img, from, added);
}

/**
 * Copies into an arena copy at `base` of `img` what appendColumns wrote there beyond
 * appendSelClasses: columns nSel0..nSel-1 of the combine rows and verdict rows peers0..peers-1.
 * The copy's selector classes and length word are the caller's to write, after these.
 */
export function copyAppendedColumns(words: Int32Array, base: number, img: Int32Array, nSel0: number, nSel: number, peers0: number, peers: number): void {
  const stride = img[H_NSEL]!, nPort = img[H_NPORT]!;
  const { n4, n6 } = combineRows(img);
  const v = img[H_VERDICT]!;
  for (let i = v + peers0 * nPort; i < v + peers * nPort; i++) words[base + i] = img[i]!;
  for (const [o, n] of [[img[H_COMBINE4]!, n4], [img[H_COMBINE6]!, n6]] as const) {
    for (let a = 0; a < n; a++) for (let s = nSel0; s < nSel; s++) words[base + o + a * stride + s] = img[o + a * stride + s]!;
  }
}

/**
 * Appends the selector classes of identities from, from + 1, ... to `img` in place, when its
 * room allows (see the file header for why that is safe for published snapshots). Returns false,
 * leaving img untouched, when there is no room: the caller copies (withMoreSelClasses).
 */
export function appendSelClasses(img: Int32Array, from: number, added: Int32Array): boolean {
  const width = img[H_SEL_WIDTH]!;
  const oSel = img[H_SEL]!;
  const had = img[H_SEL_LEN]!;
  if (from !== had) throw new RangeError(`table-arena: image stores ${had} selector classes, extension starts at ${from}`);
  const n = had + added.length;
  if (selWordsFor(width, n) > selRoom(img)) return false;
  if (width === SEL_I32) img.set(added, oSel + had);
  else if (width === SEL_U16) new Uint16Array(img.buffer, img.byteOffset + oSel * 4, n).set(added, had);
  else new Uint8Array(img.buffer, img.byteOffset + oSel * 4, n).set(added, had);
  // Classes first, then the length that makes them visible.
  img[H_SEL_LEN] = n;
  return true;
}
