// The slot records a snapshot publishes (Snapshot.slotInfo, SLOT words a slot; see snapshot.ts),
// made from the engine's working arrays (SlotArrays) and the tier tables' words per identity
// (TierTables.words).
//
// A publish copies the last published records (one memcpy) and rewrites only the slots written
// since (SlotArrays.touched) and the local slots: their tier words follow their identity's tier
// tables, which an update may change for any identity (a node has about a hundred local pods).
// Rebuilding every record on every publish was O(pods) of interpreted work per update (about
// 5 ms at 30,000 pods). writeSlotRecord is the one definition of a record; buildSlotRecords
// (every slot from scratch) is what the incremental publish must equal (test/policy/slot-records.test.ts).

import { SIDE } from './engine-api.ts';
import { SLOT, S_EGRESS, S_IDENTITY, S_INGRESS, S_NODE } from './snapshot.ts';
import type { SlotArrays } from './table-layout.ts';
import { TIER_WORDS, tierWord } from './tier-tables.ts';
import { TIER_COUNT, tierIndex } from './tiers.ts';

const ADMIN = tierIndex('admin'), NETWORKPOLICY = tierIndex('networkpolicy'), BASELINE = tierIndex('baseline');
const EGRESS_ADMIN = tierWord('egress', 'Admin'), EGRESS_BASELINE = tierWord('egress', 'Baseline');
const INGRESS_ADMIN = tierWord('ingress', 'Admin'), INGRESS_BASELINE = tierWord('ingress', 'Baseline');

/** Writes slot i's record into info from the working arrays and the tier words (`tw`, TIER_WORDS per identity). */
export function writeSlotRecord(info: Int32Array, i: number, A: SlotArrays, tw: Int32Array): void {
  const o = i * SLOT;
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
}

/** Every slot's record from scratch. */
export function buildSlotRecords(A: SlotArrays, tw: Int32Array): Int32Array {
  const info = new Int32Array(A.length * SLOT);
  for (let i = 0; i < A.length; i++) writeSlotRecord(info, i, A, tw);
  return info;
}

/** The records of the last publish, and the next one made from them. */
export class SlotRecords {
  private last: Int32Array | undefined;

  /** The records for the current working state (a new array; published ones are never written). */
  publish(A: SlotArrays, tw: Int32Array): Int32Array {
    let info: Int32Array;
    const last = this.last;
    if (last === undefined) {
      info = buildSlotRecords(A, tw);
    } else {
      // Slots only grow in number (SlotArrays.ensure marks the new ones touched).
      info = new Int32Array(A.length * SLOT);
      info.set(last.length <= info.length ? last : last.subarray(0, info.length));
      for (const i of A.touched) if (i < A.length) writeSlotRecord(info, i, A, tw);
      for (const i of A.localSlots) writeSlotRecord(info, i, A, tw);
    }
    A.touched.clear();
    this.last = info;
    return info;
  }
}
