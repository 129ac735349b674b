// The compiled engine's working state between publishes: per-slot arrays that each published
// snapshot's slot records are copied from (SlotArrays), and where each live table's image sits
// in the arena snapshots judge with (TableLayout).

import type { RuleTable } from './rule-table.ts';
import { NO_POLICIES } from './snapshot.ts';
import type { NodeClasses } from './node-classes.ts';
import { H_SEL_LEN, TableArena, linkNodeMaps, nodeMapWords, writeNodeMaps } from './table-arena.ts';
import { appendedWords, copyAppendedColumns } from './table-growth.ts';
import { PagedList } from './paged-list.ts';
import { ArenaBuffers } from './arena-buffers.ts';
import { TIER_NEXT } from './tiers.ts';

/**
 * Tier word of a local pod's side with no table for the tier (for NetworkPolicy: no policy
 * isolates it; for Admin and Baseline: no cluster policy of the tier selects it with rules for
 * the direction): the tier passes for every peer (see snapshot.ts).
 */
export const NO_TABLE = TIER_NEXT;

/**
 * A compaction's buffer, in live words: room for twice the live words of new images before the
 * arena is cramped (three quarters full), and then it holds at least as many holes as live words
 * (crampedWithHoles), so the next compaction asks for a buffer of about the same size and takes
 * back the one this compaction left (arena-buffers.ts). At 1.5, the arena grew twice between
 * compactions, a new buffer each time.
 */
export const COMPACT_ROOM = 4;

/**
 * Per-slot working arrays, which each published snapshot's slot records are made from
 * (slot-records.ts). Writes go through the methods, which note the slot as touched: a publish
 * rewrites only touched slots' records (and the local ones, whose tier words follow their
 * identity), so an update costs what it changed, not O(pods).
 */
export class SlotArrays {
  identity = new Int32Array(64);
  local = new Uint8Array(64);
  node = new Int32Array(64).fill(-1);
  /** Per direction the slot record's NetworkPolicy-tier word (see S_EGRESS in snapshot.ts): a table's arena offset, or NO_TABLE. */
  egress = new Int32Array(64).fill(NO_TABLE);
  ingress = new Int32Array(64).fill(NO_TABLE);
  readonly names = new PagedList<string>('');
  readonly egressPolicies = new PagedList<readonly string[]>(NO_POLICIES);
  readonly ingressPolicies = new PagedList<readonly string[]>(NO_POLICIES);
  length = 0;
  /** Slots written since the last publish (SlotRecords.publish clears it). */
  readonly touched = new Set<number>();
  /** Slots with local[slot] === 1. */
  readonly localSlots = new Set<number>();

  ensure(slot: number): void {
    if (slot >= this.identity.length) {
      const cap = Math.max(slot + 1, this.identity.length * 2);
      const id = new Int32Array(cap); id.set(this.identity); this.identity = id;
      const lo = new Uint8Array(cap); lo.set(this.local); this.local = lo;
      const no = new Int32Array(cap).fill(-1); no.set(this.node); this.node = no;
      const eg = new Int32Array(cap).fill(NO_TABLE); eg.set(this.egress); this.egress = eg;
      const ing = new Int32Array(cap).fill(NO_TABLE); ing.set(this.ingress); this.ingress = ing;
    }
    while (this.length <= slot) {
      this.names.set(this.length, '');
      this.egressPolicies.set(this.length, NO_POLICIES); this.ingressPolicies.set(this.length, NO_POLICIES);
      this.touched.add(this.length);
      this.length++;
    }
  }

  /** The pod in `slot`: its identity, whether it is local, its node index. */
  setPod(slot: number, identity: number, local: boolean, node: number): void {
    this.identity[slot] = identity;
    this.local[slot] = local ? 1 : 0;
    this.node[slot] = node;
    if (local) this.localSlots.add(slot); else this.localSlots.delete(slot);
    this.touched.add(slot);
  }

  /** The slot's NetworkPolicy-tier word for a direction. */
  setTable(dir: 'egress' | 'ingress', slot: number, word: number): void {
    if (this[dir][slot] === word) return;
    this[dir][slot] = word;
    this.touched.add(slot);
  }

  clear(slot: number): void {
    this.identity[slot] = 0; this.local[slot] = 0; this.node[slot] = -1;
    this.egress[slot] = NO_TABLE; this.ingress[slot] = NO_TABLE; this.names.set(slot, '');
    this.egressPolicies.set(slot, NO_POLICIES); this.ingressPolicies.set(slot, NO_POLICIES);
    this.localSlots.delete(slot);
    this.touched.add(slot);
  }
}

/**
 * Where each live table's image sits in the arena that snapshots judge with. Offsets are stable
 * from one update to the next (a slot's offset changes only when its table does), so an update
 * rewrites only the slots it touched.
 *
 * The arena is append-only: a new image is written past every word any published snapshot may
 * read (published snapshots only read the images their slots point at, all below `used` when they
 * were published), and a word once written is never written again. So publishing costs no copy
 * and every published snapshot keeps answering exactly as it did. Dropped images leave holes
 * (counted as garbage, never reused); once garbage outweighs the live images, or the buffer is
 * full, the live images move to a new buffer (compact / grow) and old snapshots keep the old one.
 * That new buffer is one an earlier arena left, when no snapshot can read it any more
 * (arena-buffers.ts), so the arena's turnover adds nothing to V8's external memory count.
 *
 * The node class maps of tables with `nodes` rules (node-classes.ts; 0.46 MB at 5,000 dual-stack nodes) are
 * the same for every such table, so they are written once, before the first table using them,
 * and each table's copy links to them (linkNodeMaps); they count as garbage once no live table
 * uses them (after a Node change that moved addresses between classes, every such table is
 * rebuilt against the new classes).
 */
export class TableLayout {
  /** Words written so far (live images, shared node class maps, and holes). */
  used = 0;
  /** Words of holes. */
  garbage = 0;
  private words = new Int32Array(0);
  private arena: TableArena = TableArena.EMPTY;
  /** Buffers of earlier arenas, for the next compaction or growth. */
  readonly buffers = new ArenaBuffers();
  /** Node class maps written since the last reset: where, and how many placed tables link to them. */
  private readonly nodeMaps = new Map<NodeClasses, { readonly at: number; users: number }>();

  /** Writes an image after everything written so far (and the node class maps it needs, if new); returns its offset. */
  place(t: RuleTable): number {
    const img = t.image;
    const nc = t.parts.nodes?.classes;
    let maps = nc && this.nodeMaps.get(nc);
    const mapWords = nc && !maps ? nodeMapWords(nc) : 0;
    this.reserve(mapWords + img.length);
    if (nc && !maps) {
      this.nodeMaps.set(nc, (maps = { at: this.used, users: 0 }));
      writeNodeMaps(this.words, this.used, nc);
      this.used += mapWords;
    }
    const base = this.used;
    this.words.set(img, base);
    this.used += img.length;
    if (nc && maps) {
      linkNodeMaps(this.words, base, maps.at, nc);
      maps.users++;
    }
    return base;
  }

  /** Writes a chain record (table-arena.ts, chainWord) of the tables at `bases`, in order; returns its offset. */
  placeChain(bases: readonly number[]): number {
    this.reserve(1 + bases.length);
    const at = this.used;
    this.words[at] = bases.length;
    for (let i = 0; i < bases.length; i++) this.words[at + 1 + i] = bases[i]!;
    this.used += 1 + bases.length;
    return at;
  }

  /** A chain record of `n` tables is no longer used. */
  dropChain(n: number): void {
    this.garbage += 1 + n;
  }

  /** Node class maps live tables link to: how many, their words, and the tables linking to them. */
  get nodeMapStats(): { readonly maps: number; readonly words: number; readonly tables: number } {
    let words = 0, tables = 0;
    for (const [nc, m] of this.nodeMaps) {
      words += nodeMapWords(nc);
      tables += m.users;
    }
    return { maps: this.nodeMaps.size, words, tables };
  }

  private reserve(n: number): void {
    if (this.used + n <= this.words.length) return;
    // Grow by doubling (amortized O(1) a word); the old buffer stays with old snapshots.
    this.moveTo(Math.max(1024, 2 * (this.used + n)));
  }

  /** Copies what is written to a buffer of at least `capacity` words, retiring the current one. */
  private moveTo(capacity: number): void {
    const next = this.buffers.take(capacity);
    next.set(this.words.subarray(0, this.used));
    this.retireWords();
    this.words = next;
  }

  /** The current buffer leaves the arena: free for reuse once no snapshot can read it (arena-buffers.ts). */
  private retireWords(): void {
    const a = this.arena;
    this.buffers.retire(a.words === this.words ? [a.words, a.bytes, a.halves] : [this.words]);
  }

  /**
   * Brings the copy at `base` of a table's image up to date after an in-place extension of the
   * image (appendSelClasses, appendColumns) made `t` from `prev` (the table the copy holds):
   * only the words the extension wrote, new classes' columns and verdict rows, the new selector
   * classes, then the count that makes them visible (copying whole images of hundreds of tables
   * was most of a relabel's update). The copy's own count says where the new classes start.
   */
  rewrite(base: number, t: RuleTable, prev: RuleTable): void {
    const img = t.image;
    if (t.parts.nSel !== prev.parts.nSel) copyAppendedColumns(this.words, base, img, prev.parts.nSel, t.parts.nSel, prev.stats.peerClasses, t.stats.peerClasses);
    const { lo, hi } = appendedWords(img, this.words[base + H_SEL_LEN]!);
    // Word by word: a few words a table, and a subarray object each cost more than the copy.
    const words = this.words;
    for (let i = lo; i < hi; i++) words[base + i] = img[i]!;
    this.words[base + H_SEL_LEN] = img[H_SEL_LEN]!;
  }

  drop(t: RuleTable): void {
    this.garbage += t.image.length;
    const nc = t.parts.nodes?.classes;
    const maps = nc && this.nodeMaps.get(nc);
    if (nc && maps && --maps.users === 0) {
      this.garbage += nodeMapWords(nc);
      this.nodeMaps.delete(nc);
    }
  }

  /**
   * Compaction pays when holes outweigh the live images (and the arena is not tiny): a new
   * identity can replace most tables at once (extendRuleTable), and compacting after every such
   * update would copy the whole arena each time. Not later: a relabel that chains ~300 Admin and
   * Baseline tables turns ~1.3 M words into holes in the update (and converge() writes them
   * again), so an arena left at two thirds holes went past `overflowing` in the next relabel and
   * compacted inside it (12 ms of a 22 ms update on the cluster-large bench, in 2 of 21 rounds).
   */
  get wasteful(): boolean {
    return this.garbage > 1 << 16 && this.garbage * 2 > this.used;
  }

  /**
   * Holes so far past `wasteful` that an update compacts rather than leave it to idle time
   * (CompiledEngine.converge compacts a wasteful arena after the update): a bound on memory
   * for callers that never converge. Compacting was 10-25 ms of the update it fell in on the
   * large cluster, and a guardrail change drops most tables at once (the holes go from under
   * two thirds to over four fifths in one update), so only past 16 MB of holes and nine tenths.
   */
  get overflowing(): boolean {
    return this.garbage > 1 << 22 && this.garbage * 10 > this.used * 9;
  }

  /** Over three quarters full: room is made in idle time (makeRoom), so an update rarely copies the arena to grow it. */
  get cramped(): boolean {
    return this.used > 1 << 16 && this.used * 4 > this.words.length * 3;
  }

  /**
   * Cramped with holes at least a third of what is written: compacting (into COMPACT_ROOM times
   * the live words, or a free buffer of 2/3 of that) makes room without growing the arena (see
   * COMPACT_ROOM): such a buffer is cramped at twice the live words, half of them holes.
   */
  get crampedWithHoles(): boolean {
    return this.cramped && this.garbage * 3 >= this.used;
  }

  /** Grows the buffer to `times` what is written (the old one stays with old snapshots, as in reserve). */
  makeRoom(times = 2): void {
    this.moveTo(times * this.used);
  }

  /** The arena holding every image placed so far. */
  publish(): TableArena {
    if (this.arena.words !== this.words) this.arena = new TableArena(this.words);
    return this.arena;
  }

  /** Starts over in a new buffer of `capacity` words or more (for compaction). */
  reset(capacity = 0): void {
    this.used = 0;
    this.garbage = 0;
    this.retireWords();
    this.words = capacity > 0 ? this.buffers.take(capacity) : new Int32Array(0);
    this.arena = TableArena.EMPTY;
    this.nodeMaps.clear();
  }
}
