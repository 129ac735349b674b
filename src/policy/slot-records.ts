// The slot records a snapshot publishes (Snapshot.slotPages, SLOT words a slot; see snapshot.ts),
// made from the engine's working arrays (SlotArrays) and the tier tables' words per identity
// (TierTables.words).
//
// The records sit in copy-on-write pages (word-pages.ts, 256 slots a page): a publish starts
// from the last published page table and rewrites only the slots written since
// (SlotArrays.touched) and the local slots whose identity's tier words changed
// (TierTables.wordsChanged: an update may change them for any identity; rewriting every local
// slot was O(local pods) per update, 2-3 ms when every pod of the 10,000 of cluster-large is local).
// A page is copied only when a record in it actually changes, so a local slot whose record is
// the same costs a compare. Rebuilding every record per publish was O(pods) of interpreted work
// (about 5 ms at 30,000 pods); copying them whole was O(pods) of garbage (4.8 MB at 150,000
// pods), whose marking landed in later updates. writeSlotRecord is the one definition of a
// record; buildSlotRecords (every slot from scratch) is what the incremental publish must equal
// (test/policy/slot-records.test.ts).

import { SIDE } from './engine-api.ts';
import { SLOT, S_EGRESS, S_IDENTITY, S_INGRESS, S_NODE } from './snapshot.ts';
import type { SlotArrays } from './table-layout.ts';
import { TIER_WORDS, tierWord } from './tier-tables.ts';
import { TIER_COUNT, tierIndex } from './tiers.ts';
import { PAGE_MASK, PAGE_WORDS, PageEditor, pagesOf } from './word-pages.ts';

const ADMIN = tierIndex('admin'), NETWORKPOLICY = tierIndex('networkpolicy'), BASELINE = tierIndex('baseline');
const EGRESS_ADMIN = tierWord('egress', 'Admin'), EGRESS_BASELINE = tierWord('egress', 'Baseline');
const INGRESS_ADMIN = tierWord('ingress', 'Admin'), INGRESS_BASELINE = tierWord('ingress', 'Baseline');

/** Writes slot i's record into info at word o from the working arrays and the tier words (`tw`, TIER_WORDS per identity). */
function recordInto(info: Int32Array, o: number, i: number, A: SlotArrays, tw: Int32Array): void {
  const id = A.identity[i]!;
  info[o + S_IDENTITY] = id;
  info[o + S_NODE] = A.node[i]!;
  if (A.local[i] === 1) {
    // Each side's tier words in TIERS order (snapshot.ts).
    const t = id * TIER_WORDS;
    info[o + S_EGRESS + ADMIN] = tw[t + EGRESS_ADMIN]!;
    info[o + S_EGRESS + NETWORKPOLICY] = A.egress[i]!;
    info[o + S_EGRESS + BASELINE] = tw[t + EGRESS_BASELINE]!;
    info[o + S_INGRESS + ADMIN] = tw[t + INGRESS_ADMIN]!;
    info[o + S_INGRESS + NETWORKPOLICY] = A.ingress[i]!;
    info[o + S_INGRESS + BASELINE] = tw[t + INGRESS_BASELINE]!;
  } else {
    // A pod another node judges: its sides are not judged here, whatever its tables.
    info.fill(SIDE.NOT_JUDGED, o + S_EGRESS, o + S_INGRESS + TIER_COUNT);
  }
  // Words past the tiers (SLOT is a power of two) stay 0.
}

/** A local slot's tier words at record word `o` from its identity's tier words at `t` (as recordInto writes them). */
function writeTierWords(ed: PageEditor, o: number, t: number, tw: Int32Array): void {
  ed.set(o + S_EGRESS + ADMIN, tw[t + EGRESS_ADMIN]!);
  ed.set(o + S_EGRESS + BASELINE, tw[t + EGRESS_BASELINE]!);
  ed.set(o + S_INGRESS + ADMIN, tw[t + INGRESS_ADMIN]!);
  ed.set(o + S_INGRESS + BASELINE, tw[t + INGRESS_BASELINE]!);
}

/** Writes slot i's record into info (SLOT words a slot). */
export function writeSlotRecord(info: Int32Array, i: number, A: SlotArrays, tw: Int32Array): void {
  recordInto(info, i * SLOT, i, A, tw);
}

/** Every slot's record from scratch. */
export function buildSlotRecords(A: SlotArrays, tw: Int32Array): Int32Array {
  const info = new Int32Array(A.length * SLOT);
  for (let i = 0; i < A.length; i++) writeSlotRecord(info, i, A, tw);
  return info;
}

/** Published slot records: `slots` records in pages of PAGE_WORDS words (the last page's tail unused). */
export interface PublishedRecords {
  readonly pages: readonly Int32Array[];
  readonly slots: number;
}

/** The records of the last publish, and the next one made from them. */
export class SlotRecords {
  private last: Int32Array[] | undefined;
  /** One record, computed before comparing with the published one. */
  private readonly scratch = new Int32Array(SLOT);
  /** Pages copied by the last publish (tests and stats). */
  pagesCopied = 0;

  /** The records for the current working state (published pages are never written). */
  /**
   * `changed` (TierTables.wordsChanged): per identity, 1 when its tier words changed since the
   * last publish; local slots of other identities keep their records (cleared here). Absent:
   * every local slot is rewritten.
   */
  publish(A: SlotArrays, tw: Int32Array, changed?: Uint8Array): PublishedRecords {
    const need = A.length * SLOT;
    let pages: Int32Array[];
    if (this.last === undefined) {
      const words = new Int32Array(Math.max(PAGE_WORDS, (need + PAGE_MASK) & ~PAGE_MASK));
      for (let i = 0; i < A.length; i++) writeSlotRecord(words, i, A, tw);
      pages = pagesOf(words);
      this.pagesCopied = pages.length;
    } else {
      // Slots only grow in number (SlotArrays.ensure marks the new ones touched).
      const ed = new PageEditor(this.last);
      while (ed.pages.length * PAGE_WORDS < need) ed.grow();
      for (const i of A.touched) if (i < A.length) this.write(ed, i, A, tw);
      if (changed === undefined) for (const i of A.localSlots) this.write(ed, i, A, tw);
      else {
        // An untouched local slot's other words stand: only its identity's tier words are
        // written (a guardrail change reaches every identity, and so all 10,000 local slots of
        // cluster-large, where writing whole records was a fifth of the update).
        for (const i of A.localSlots) {
          const id = A.identity[i]!;
          if (changed[id] === 1) writeTierWords(ed, i * SLOT, id * TIER_WORDS, tw);
        }
      }
      pages = ed.pages;
      this.pagesCopied = ed.copies;
    }
    A.touched.clear();
    changed?.fill(0);
    this.last = pages;
    return { pages, slots: A.length };
  }

  private write(ed: PageEditor, i: number, A: SlotArrays, tw: Int32Array): void {
    const r = this.scratch;
    recordInto(r, 0, i, A, tw);
    const o = i * SLOT;
    for (let w = 0; w < SLOT; w++) ed.set(o + w, r[w]!);
  }
}
