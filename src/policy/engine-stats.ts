// What CompiledEngine.stats() reports (compiler.ts): the agent's metrics and status, the
// benches and the tests read these counts of the engine's pods, identities and tables.

export interface EngineStats {
  readonly generation: number;
  readonly pods: number;
  readonly identities: number;
  /** Distinct tables in use (all tiers). */
  readonly tables: number;
  /** Of those, Admin and Baseline tier tables (tier-tables.ts). */
  readonly tierTables: number;
  /** (pod, direction) pairs with a NetworkPolicy table, plus (identity, direction, tier) triples with a cluster tier table. */
  readonly tableUsers: number;
  /** Bytes of the live tables' images, plus the node class maps their arena copies share (once). */
  readonly tableBytes: number;
  /** Node class maps in the arena (one per node classification live tables use), and the tables sharing them. */
  readonly nodeMaps: number;
  readonly nodeMapTables: number;
  readonly ruleIds: number;
  /** Tables built since the engine was created (full builds; extensions not counted). */
  readonly tablesBuilt: number;
  /** Tables extended for new identities (in place or as a copy). */
  readonly tablesExtended: number;
  /** Of those, extended in place (the image had room for the new selector classes). */
  readonly tablesExtendedInPlace: number;
  /** Chains standing in for Admin or Baseline tables until converge() builds them (tier-tables.ts). */
  readonly tierChains: number;
  /** Per-policy tables kept for chains (walked or parked), and those built and chains made since the engine was created. */
  readonly chainLinks: number;
  /** Of the per-policy tables, those placed in the arena (a chain walks them or did: tier-links.ts). */
  readonly chainLinksPlaced: number;
  readonly chainsMade: number;
  readonly chainLinksBuilt: number;
}
