// Retired arena buffers, reused for later arenas once nothing can read them (TableLayout).
//
// Why: each compaction or growth of the table arena allocated a new buffer of 10-30 MB on the
// scale bench and left the old one to published snapshots. V8 counts ArrayBuffer memory as
// external and starts an incremental marking once it grew 64 MB since its last full collection;
// the arena's buffers were three quarters of that growth, and the marking's steps then fell in
// the next updates (docs/speed-history.md, scale bench). A reused buffer adds nothing to that count.
//
// The rule: a buffer is reused only after every view any snapshot could read it through is
// garbage-collected. Those views are the layout's own Int32Array and, once published, its
// TableArena's byte and uint16 views (the Int32Array is the same object); snapshot.ts reads the
// arena through these three objects only, and nothing else makes views of an arena buffer. A
// FinalizationRegistry tells when the last of them is collected; until then a published snapshot
// may still judge with the buffer, and its memory must not change.

/**
 * Free buffers kept at most: in steady state a compaction takes back the buffer the one before it
 * left, and each buffer kept is RSS (25-34 MB on the scale bench).
 */
const MAX_FREE = 1;

/** The smallest of 2^k and 1.5 * 2^k words that holds `words`. */
export function sizeClass(words: number): number {
  let c = 1024;
  while (c < words) c = c % 3 === 0 ? (c / 3) * 4 : (c / 2) * 3;
  return c;
}

interface Retired {
  readonly buffer: ArrayBuffer;
  /** Views not yet collected. */
  left: number;
}

export class ArenaBuffers {
  /** Buffers no view can reach any more, largest first. */
  private readonly free: ArrayBuffer[] = [];
  private readonly registry = new FinalizationRegistry<Retired>((r) => {
    if (--r.left === 0) this.release(r.buffer);
  });
  /** Buffers handed out again (stats, tests). */
  reused = 0;

  /**
   * A zeroed buffer of about `words` words for an arena that holds fewer (compaction and growth
   * ask for room to spare): a free one of 2/3 to twice that, else a new one of the size class
   * holding `words` (sizeClass). The arena's live words grew by a third over the scale bench's
   * first rounds, and a request met only by its full size was always just short of the buffer the
   * compaction before left (TableLayout.crampedWithHoles still compacts in one of 2/3).
   */
  take(words: number): Int32Array<ArrayBuffer> {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const n = this.free[i]!.byteLength >> 2;
      if (3 * n >= 2 * words && n <= 2 * words && (best < 0 || n < this.free[best]!.byteLength >> 2)) best = i;
    }
    if (best < 0) return new Int32Array(sizeClass(words));
    const buf = this.free.splice(best, 1)[0]!;
    this.reused++;
    // Holes and the room past `used` are never read, but a reused arena should hold nothing stale.
    return new Int32Array(buf).fill(0);
  }

  /**
   * `views` (every object through which the buffer of `views[0]` can be read) leave the arena:
   * the buffer becomes free once all of them are collected.
   */
  retire(views: readonly ArrayBufferView[]): void {
    const buffer = views[0]?.buffer;
    if (!buffer || buffer.byteLength === 0 || !(buffer instanceof ArrayBuffer)) return;
    const r: Retired = { buffer, left: views.length };
    for (const v of views) this.registry.register(v, r);
  }

  /**
   * Makes sure a free buffer for a request of `words` is held (a new one when none is): the
   * rotation's second buffer, allocated up front where a collection is due anyway (after a full
   * compile), not at the first compaction, whose allocation started a marking inside the next
   * updates (scale bench).
   */
  spare(words: number): void {
    for (const b of this.free) if (3 * (b.byteLength >> 2) >= 2 * words && b.byteLength >> 2 <= 2 * words) return;
    this.release(new ArrayBuffer(sizeClass(words) * 4));
  }

  /** Free buffers held, and their bytes. */
  get held(): { readonly buffers: number; readonly bytes: number } {
    let bytes = 0;
    for (const b of this.free) bytes += b.byteLength;
    return { buffers: this.free.length, bytes };
  }

  private release(buffer: ArrayBuffer): void {
    this.free.push(buffer);
    this.free.sort((a, b) => b.byteLength - a.byteLength);
    // Over the bound, the smallest goes to the collector.
    if (this.free.length > MAX_FREE) this.free.pop();
  }
}
