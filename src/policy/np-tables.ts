// The NetworkPolicy tables in use, one per key (np-selection.ts: owners isolated by the same
// policies, with the same named-port resolutions, share one), indexed by the policies they were
// built from so a policy change drops exactly those. compiler.ts attaches pods to them and
// re-places them in the arena; identity-extension.ts extends them for new identities.

import type { NetworkPolicy, Pod } from '../cluster/model.ts';
import type { RuleBlock } from './block-classes.ts';
import type { ExtendableTable } from './identity-extension.ts';
import type { IdentityRegistry } from './identity.ts';
import type { NetworkPolicyRules } from './np-rules.ts';
import { buildRuleTable, type TableRule } from './rule-table.ts';
import type { Direction } from './spec-facts.ts';
import type { TableLayout } from './table-layout.ts';

/** A table, where it sits in the arena and its users (ExtendableTable), and what it was built from. */
export interface NpTable extends ExtendableTable {
  readonly key: string;
  readonly policies: readonly string[];
  readonly users: Set<number>;
  evicted: boolean;
}

export class NpTables {
  private readonly byKey = new Map<string, NpTable>();
  private readonly byPolicy = new Map<string, Set<NpTable>>();

  constructor(
    private readonly npRules: NetworkPolicyRules,
    private readonly identities: IdentityRegistry,
    private readonly layout: TableLayout,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  values(): IterableIterator<NpTable> {
    return this.byKey.values();
  }

  get(key: string): NpTable | undefined {
    return this.byKey.get(key);
  }

  /** The tables built from policy `key` (forget() removes them from this set as it goes). */
  ofPolicy(key: string): Iterable<NpTable> {
    return this.byPolicy.get(key) ?? [];
  }

  /** After a policy changed and its tables were forgotten. */
  dropPolicy(key: string): void {
    this.byPolicy.delete(key);
  }

  /** Builds the table `key` of policies `np` (keys `npKeys`), places it in the arena and keeps it (no users yet). */
  build(key: string, dir: Direction, np: readonly NetworkPolicy[], npKeys: readonly string[], ownerPorts: Pod['ports']): NpTable {
    // Rules in policy-key order, then spec order; each policy's rules are a block (block-classes.ts).
    const rules: TableRule[] = [];
    const blocks: RuleBlock[] = [];
    for (const p of np) {
      const list = this.npRules.tableRules(p, dir);
      rules.push(...list);
      blocks.push({ key: list, count: list.length });
    }
    const table = buildRuleTable(
      dir === 'ingress'
        ? { direction: dir, policies: npKeys, rules, blocks, ownerPorts }
        : { direction: dir, policies: npKeys, rules, blocks },
      this.identities,
    );
    const e: NpTable = { key, direction: dir, table, base: this.layout.place(table), policies: npKeys, users: new Set(), evicted: false };
    this.byKey.set(key, e);
    for (const p of npKeys) {
      let s = this.byPolicy.get(p);
      if (!s) this.byPolicy.set(p, (s = new Set()));
      s.add(e);
    }
    return e;
  }

  /** Drops the table (its arena space, its key, its policy index entries); its users are the caller's. */
  forget(e: NpTable): void {
    e.evicted = true;
    this.layout.drop(e.table);
    this.byKey.delete(e.key);
    for (const p of e.policies) this.byPolicy.get(p)?.delete(e);
  }

  dropUser(e: NpTable, slot: number): void {
    e.users.delete(slot);
    // Unused tables are dropped at once: a long-running agent must not accumulate tables of
    // policy sets nobody has any more (a returning pod rebuilds its table in microseconds).
    if (e.users.size === 0 && !e.evicted) this.forget(e);
  }
}
