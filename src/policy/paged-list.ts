// A list that publishes immutable copies of itself in O(pages), not O(length): the engine's
// per-slot names and isolating policies, which every snapshot carries (snapshot.ts). Copying
// them whole on each publish was O(pods) per update; here a publish copies the page table, and a
// write after it copies only the page it lands in (copy on write). A published view never changes.

const PAGE_SHIFT = 10;
const PAGE = 1 << PAGE_SHIFT;

/** A published, never-changing copy of a PagedList. */
export class PagedView<T> {
  constructor(private readonly pages: readonly (readonly T[])[], readonly length: number) {}

  /** The element at i, or undefined outside [0, length). */
  get(i: number): T | undefined {
    if (!(i >= 0 && i < this.length)) return undefined;
    return this.pages[i >>> PAGE_SHIFT]![i & (PAGE - 1)];
  }
}

export class PagedList<T> {
  private pages: T[][] = [];
  /** Per page: published (a view holds it; copy before writing). */
  private shared: boolean[] = [];
  private view: PagedView<T> | undefined;
  length = 0;

  constructor(private readonly fill: T) {}

  get(i: number): T | undefined {
    if (!(i >= 0 && i < this.length)) return undefined;
    return this.pages[i >>> PAGE_SHIFT]![i & (PAGE - 1)];
  }

  /** Sets element i, growing the list (with `fill`) up to i. */
  set(i: number, v: T): void {
    while (this.length <= i) this.push(this.fill);
    const p = i >>> PAGE_SHIFT, o = i & (PAGE - 1);
    if (this.pages[p]![o] === v) return;
    if (this.shared[p]) {
      this.pages[p] = this.pages[p]!.slice();
      this.shared[p] = false;
      this.view = undefined;
    }
    this.pages[p]![o] = v;
    this.view = undefined;
  }

  private push(v: T): void {
    const p = this.length >>> PAGE_SHIFT;
    if (p === this.pages.length) {
      this.pages.push([]);
      this.shared.push(false);
    } else if (this.shared[p]) {
      this.pages[p] = this.pages[p]!.slice();
      this.shared[p] = false;
    }
    this.pages[p]!.push(v);
    this.length++;
    this.view = undefined;
  }

  /** An immutable copy: O(pages); later writes copy the pages they touch. */
  publish(): PagedView<T> {
    if (this.view) return this.view;
    this.shared.fill(true);
    return (this.view = new PagedView(this.pages.slice(), this.length));
  }
}
