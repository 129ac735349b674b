// Int32 words in fixed pages, shared copy-on-write between published snapshots: the slot records
// (slot-records.ts) and the pod address maps (address-map.ts), which grow with the cluster
// (150,000 pods: 4.8 MB of records, 4 MB of IPv4 map, more of IPv6). A publish copied each whole;
// at the Kubernetes limits that was megabytes of garbage per update, and the full-heap marking
// it set off landed in later updates (their p99). Now an edit copies the page table (a few
// hundred pointers) and only the pages it writes; every untouched page is shared with the
// snapshots before it, which never see a write (a page once published is never written again).
//
// Readers address a word w as pages[w >>> PAGE_SHIFT][w & PAGE_MASK]: one more load than a flat
// array, no allocation. Records and entries are a power of two words (<= a page), so none
// straddles two pages.

import { keepShape } from './kept-shapes.ts';

export const PAGE_SHIFT = 11;
/** Words in a page (8 KiB). */
export const PAGE_WORDS = 1 << PAGE_SHIFT;
export const PAGE_MASK = PAGE_WORDS - 1;

/** words (a whole number of pages, or less than one) as page views over the same buffer. */
export function pagesOf(words: Int32Array): Int32Array[] {
  if (words.length <= PAGE_WORDS) return [words];
  if (words.length & PAGE_MASK) throw new Error(`word-pages: ${words.length} words is not a whole number of pages`);
  const pages: Int32Array[] = [];
  for (let o = 0; o < words.length; o += PAGE_WORDS) pages.push(words.subarray(o, o + PAGE_WORDS));
  return pages;
}

/**
 * An edit of published pages: starts from their page table and copies a page the first time it
 * is written. `pages` is the edited table, to publish when done (the old one is unchanged).
 */
export class PageEditor {
  readonly pages: Int32Array[];
  /** Per page it started from: already copied by this edit (its own, writable). Pages grown after are its own. */
  private readonly own: Uint8Array;
  /** Pages copied (for stats and tests). */
  copies = 0;

  constructor(from: readonly Int32Array[]) {
    this.pages = from.slice();
    this.own = new Uint8Array(from.length);
  }

  get(w: number): number {
    return this.pages[w >>> PAGE_SHIFT]![w & PAGE_MASK]!;
  }

  set(w: number, v: number): void {
    const p = w >>> PAGE_SHIFT, o = w & PAGE_MASK;
    let page = this.pages[p]!;
    if (page[o] === v) return;
    if (p < this.own.length && this.own[p] === 0) {
      page = this.pages[p] = page.slice();
      this.own[p] = 1;
      this.copies++;
    }
    page[o] = v;
  }

  /** A page of zeros at the end (this edit's own: no snapshot has it yet). */
  grow(): void {
    this.pages.push(new Int32Array(PAGE_WORDS));
  }
}

// Editors live only within an edit (kept-shapes.ts).
keepShape(new PageEditor([new Int32Array(0)]));
