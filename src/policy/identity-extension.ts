// New pod identities reach the NetworkPolicy tables already built: every table learns their
// classes (extendRuleTable); one that meets a combination of matches it has no class for is
// evicted and rebuilt by the caller's selection pass. Most new identities take their reference's
// class (new-identity-refs.ts). CompiledEngine.update runs this once per batch that interned
// identities, before it selects tables for the pods it touched (compiler.ts).

import type { IdentityRegistry } from './identity.ts';
import type { NewIdentityRefs } from './new-identity-refs.ts';
import { extendRuleTable, type RuleTable } from './rule-table.ts';
import type { SlotArrays, TableLayout } from './table-layout.ts';
import type { Direction } from './spec-facts.ts';

/** New identities in one update from which they get references (new-identity-refs.ts); see newIdentityRefs. */
export const REFS_MIN_IDENTITIES = 3;

/** What the pass reads and rewrites of a table in use (np-tables.ts). */
export interface ExtendableTable {
  readonly direction: Direction;
  /** Replaced (never changed) when new identities extend it. */
  table: RuleTable;
  /** Where the table's image sits in the arena layout (see TableLayout). */
  base: number;
  /** Slots whose table (for `direction`) this is. */
  readonly users: ReadonlySet<number>;
}

/** The batch's references when it brought `added` identities, sealed; undefined when they do not pay. */
export function newIdentityRefs(refs: NewIdentityRefs, added: number): NewIdentityRefs | undefined {
  // References pay when a batch brings several identities (a namespace relabel: one matcher
  // check serves them all); for one or two, checking every table's matchers cost more than it
  // saved (a remote pod relabel at the scale bench: 2.5 -> 5.8 ms CPU p50 with them).
  if (added < REFS_MIN_IDENTITIES) return undefined;
  refs.seal();
  return refs;
}

/**
 * Extends every table in `entries` to the identities registered now; `evict` gets each one that
 * must be rebuilt (it may remove it from the collection `entries` iterates). Returns how many
 * were extended, and of those how many in place.
 */
export function extendTables<E extends ExtendableTable>(
  entries: Iterable<E>,
  identities: IdentityRegistry,
  refs: NewIdentityRefs | undefined,
  layout: TableLayout,
  arrays: SlotArrays,
  evict: (e: E) => void,
): { extended: number; inPlace: number } {
  let extended = 0, inPlace = 0;
  for (const e of [...entries]) {
    const t = extendRuleTable(e.table, identities, refs);
    if (t === undefined) evict(e);
    else if (t !== e.table) {
      extended++;
      if (t.image === e.table.image) {
        // Extended in place (the image had room): rewrite its arena copy where it stands.
        // Published snapshots share that memory; see table-arena.ts for why their answers
        // cannot change.
        layout.rewrite(e.base, t, e.table);
        e.table = t;
        inPlace++;
      } else {
        layout.drop(e.table);
        e.table = t;
        e.base = layout.place(t);
        for (const slot of e.users) arrays.setTable(e.direction, slot, e.base);
      }
    }
  }
  return { extended, inPlace };
}
