// The compiled engine's Admin and Baseline tier tables (tiers.ts), kept apart from the
// NetworkPolicy tier's tables (compiler.ts).
//
// Why apart: a side's Admin table depends only on the Admin policies selecting the pod (in
// evaluation order) and, for ingress, on what their rules' port names resolve to on the pod;
// the same for Baseline. Both are fixed by the pod's identity (identity.ts: namespace, namespace
// labels, pod labels, container ports), so tier tables are held per identity, not per pod, and
// shared by every identity with the same selection: a handful of cluster policies selecting
// whole namespaces or the whole cluster give hundreds of pods one table. Folding the three tiers
// into one table per side (as the NetworkPolicy tier alone does) made each table hold every
// cluster rule selecting its owner and split identities by all of them, so almost no two pods
// shared one, and a cluster policy change rebuilt a table per pod.
//
// What changes what:
// - a cluster policy change rebuilds only the tables holding its old version (byPolicy) and
//   reassigns only the identities its old or new version selects; a change keeping the rules
//   (priority, subject) rebuilds none: the identities it reaches keep their table when they
//   select the same policies in the same order, and else take or build the table of their list;
// - a pod with an identity already held touches nothing here;
// - a NetworkPolicy change never reaches this file;
// - a Node change rebuilds the tables of policies with `nodes` peers only when a node address
//   changes node class (ClusterPolicyIndex.nodesChanged, node-classes.ts);
// - a new identity extends the tables whose selectors pick it (extendRuleTable), as for
//   NetworkPolicy tables, in the update where that is cheap (the identity takes its reference's
//   class); a combined table in which it needs the full classification is a chain until
//   converge() extends it in idle time (identitiesAdded).
// Tables are built only for identities some local pod has (hold/release), so a node agent builds
// the tables of its own pods.
//
// Chains: a rule change of a policy selecting every pod still rebuilds every table holding it
// (about a hundred on the large cluster, ~1 ms each). So an update builds at most `chainAbove`
// combined tables; every further table it needs becomes a CHAIN at once (table-arena.ts): the
// list's per-policy tables (LinkEntry: one policy version's rules of a direction, Pass told from
// no match; built once and kept until the policy's rules change, out of the arena while no chain
// needs them) walked in priority order, the same answers as the combined table. The
// combined tables are then built a few at a time by converge(), called in idle time after the
// publish, each replacing its chain. The per-policy tables are tier-links.ts's, the table keys
// (word lists, ingress port-name signatures) tier-keys.ts's.

import type { ClusterPolicy, ClusterTier, Node, Pod } from '../cluster/model.ts';
import { clusterPolicyId } from '../cluster/model.ts';
import { namespaceLabelsOr } from '../cluster/namespace-labels.ts';
import type { ClusterPolicyIndex } from './cluster-index.ts';
import { clusterPolicySelectsPod } from './cluster-facts.ts';
import type { IdentityRegistry } from './identity.ts';
import type { RuleBlock } from './block-classes.ts';
import { buildRuleTable, extendRuleTable, type RuleTable, type TableRule } from './rule-table.ts';
import { TierKeys } from './tier-keys.ts';
import { TierLinks, type LinkEntry } from './tier-links.ts';
import type { Direction } from './spec-facts.ts';
import type { TableLayout } from './table-layout.ts';
import type { NewIdentityRefs } from './new-identity-refs.ts';
import { TIER_NEXT, TIER_PASS } from './tiers.ts';
import { chainWord } from './table-arena.ts';

/** Per-policy tables warm() looks up per step at most. */
const WARM_LOOKUPS = 256;

/** Tier words per identity: egress Admin, egress Baseline, ingress Admin, ingress Baseline. */
export const TIER_WORDS = 4;

/** The word of a (direction, cluster tier) in an identity's TIER_WORDS. */
export function tierWord(dir: Direction, tier: ClusterTier): number {
  return (dir === 'egress' ? 0 : 2) + (tier === 'Admin' ? 0 : 1);
}

const WORDS: readonly { readonly dir: Direction; readonly tier: ClusterTier }[] = [
  { dir: 'egress', tier: 'Admin' }, { dir: 'egress', tier: 'Baseline' },
  { dir: 'ingress', tier: 'Admin' }, { dir: 'ingress', tier: 'Baseline' },
];

interface TierEntry {
  readonly key: string;
  /** Which of an identity's TIER_WORDS this table fills. */
  readonly word: number;
  /** Replaced (never changed) when new identities extend it; see extendRuleTable. Undefined for a chain. */
  table: RuleTable | undefined;
  /** The tier word of its users: where the table's image sits in the engine's arena layout (see TableLayout), or a chain's chainWord. */
  base: number;
  /** Ids of the cluster policies whose rules it holds, in walk order. */
  readonly policies: readonly string[];
  /** Identities whose table this is. */
  readonly users: Set<number>;
  evicted: boolean;
  /** A chain standing in for the combined table of `key` (see the file header): its per-policy tables in walk order. */
  readonly links?: readonly LinkEntry<TierEntry>[];
  /** The owner ports of the identity it was made for (all its users resolve the ingress port names alike): a chain's converge, a table's warm. */
  readonly ports: Pod['ports'];
  /**
   * A chain standing in for a combined table while new identities wait to be classified in it
   * (identitiesAdded): that table, out of the arena, which converge() extends (not builds anew).
   */
  readonly deferred?: RuleTable;
}

export interface TierTableStats {
  readonly tables: number;
  /** (identity, direction, tier) triples with a table. */
  readonly users: number;
  readonly bytes: number;
  readonly words: number;
  /** Chains standing in for a combined table (converge() replaces them), and per-policy tables kept for chains (placed or parked). */
  readonly chains: number;
  readonly links: number;
  /** Of those, placed in the arena. */
  readonly linksPlaced: number;
}

export class TierTables {
  /** Per identity, TIER_WORDS words: the arena offset of its table for the word, or TIER_NEXT. */
  words = new Int32Array(64 * TIER_WORDS).fill(TIER_NEXT);
  private entries: (TierEntry | undefined)[] = [];
  /**
   * Per identity: 1 when one of its words changed since the last publish (SlotRecords.publish
   * rewrites the local slots of those identities only: a change reaching a few identities no
   * longer rewrites every local slot's record).
   */
  wordsChanged = new Uint8Array(64);
  /** Local pods holding each identity. */
  private refs = new Int32Array(64);
  /** A pod of each held identity (subjects read only what the identity fixes). */
  private reps: (Pod | undefined)[] = [];
  private readonly held = new Set<number>();
  /** Identities whose tables must be looked up again at the next flush. */
  private readonly dirty = new Set<number>();
  private readonly cache = new Map<string, TierEntry>();
  private readonly byPolicy = new Map<string, Set<TierEntry>>();
  /** Per-policy tables chains walk. */
  private readonly links: TierLinks<TierEntry>;
  private readonly keys: TierKeys;
  /** Chains waiting for their combined table (converge), oldest first. */
  private readonly chains = new Set<TierEntry>();
  /**
   * Combined tables whose policies' per-policy tables warm() is still to build (parked), oldest
   * first, and how far into the first one's list it got. A change reaching a hundred tables
   * chains them at once, and building the per-policy tables none had needed yet in the update
   * (up to ~70 on the large cluster's first guardrail change) was its worst case: now only the
   * changed policy's own are built in an update, the rest are ready from idle time.
   */
  private readonly toWarm = new Set<TierEntry>();
  private warmAt = 0;
  /**
   * Combined tables a flush builds before the rest become chains (undefined: never chain, as the
   * first compile does: nothing is enforced yet, so nothing waits).
   */
  chainAbove: number | undefined;
  /** The last batch's references (new-identity-refs.ts): converge() extends deferred tables with them. */
  private batchRefs: NewIdentityRefs | undefined;
  /** Combined tables built in the current flush. */
  private flushBuilt = 0;
  chainsMade = 0;
  built = 0;
  extended = 0;
  extendedInPlace = 0;

  constructor(
    private readonly identities: IdentityRegistry,
    private readonly clusters: ClusterPolicyIndex,
    private readonly nodes: ReadonlyMap<string, Node>,
    private readonly layout: TableLayout,
  ) {
    this.links = new TierLinks(identities, clusters, layout, (dir, p, ports) => this.buildTable(dir, [p], ports, TIER_PASS));
    this.keys = new TierKeys(clusters);
  }

  /** Per-policy tables built (tier-links.ts). */
  get linksBuilt(): number {
    return this.links.built;
  }

  private ensure(id: number): void {
    if (id < this.refs.length) return;
    const cap = Math.max(id + 1, this.refs.length * 2);
    const refs = new Int32Array(cap); refs.set(this.refs); this.refs = refs;
    const words = new Int32Array(cap * TIER_WORDS).fill(TIER_NEXT); words.set(this.words); this.words = words;
    const changed = new Uint8Array(cap); changed.set(this.wordsChanged); this.wordsChanged = changed;
  }

  private setWord(id: number, w: number, v: number): void {
    const i = id * TIER_WORDS + w;
    if (this.words[i] === v) return;
    this.words[i] = v;
    this.wordsChanged[id] = 1;
  }

  /** A local pod of identity `id` appeared (`pod`: that pod; any pod of the identity would do). */
  hold(id: number, pod: Pod): void {
    this.ensure(id);
    if (this.refs[id]!++ === 0) {
      this.reps[id] = pod;
      this.held.add(id);
      this.dirty.add(id);
    }
  }

  /** A local pod of identity `id` went away (or moved to another identity or node). */
  release(id: number): void {
    if (--this.refs[id]! === 0) {
      this.reps[id] = undefined;
      this.held.delete(id);
      this.dirty.add(id);
    }
  }

  /**
   * Cluster policies changed: `ids` those whose rules changed (added, changed, deleted, or
   * compiled anew because nodes changed), `versions` the old and new versions of every policy
   * changed (also those that kept their rules, see ClusterPolicyIndex.set). Drops every table
   * holding one of `ids` and marks the identities whose selection may differ.
   */
  policiesChanged(ids: Iterable<string>, versions: readonly ClusterPolicy[]): void {
    for (const id of ids) {
      this.keys.rulesChanged(id);
      for (const e of this.byPolicy.get(id) ?? []) this.evict(e);
      this.byPolicy.delete(id);
      // Chains walking the old version are found by its per-policy tables (tier-links.ts).
      this.links.rulesChanged(id, (c) => this.evict(c));
    }
    if (versions.length === 0) return;
    for (const id of this.held) {
      const ident = this.identities.get(id);
      const nsLabels = namespaceLabelsOr(ident.namespace, ident.nsLabels);
      if (versions.some((p) => clusterPolicySelectsPod(p, this.reps[id]!, nsLabels))) this.dirty.add(id);
    }
  }

  /** New identities were interned: every table learns their classes; one that cannot is rebuilt. `refs`: see new-identity-refs.ts. */
  identitiesAdded(refs?: NewIdentityRefs): void {
    // Per-policy tables first: their chains' users take a table (or a new chain) at the flush.
    this.links.identitiesAdded(refs, (c) => this.evict(c), (c) => this.rechain(c));
    // A combined table in which a new identity needs the full classification (a selector of it
    // tells the identity from its reference) becomes a chain of its per-policy tables, extended
    // above and far smaller than the combined tables holding their rules again, with the same
    // answers; converge() extends the combined table in idle time. (Outside the first compile:
    // chainAbove set.)
    const defer = this.chainAbove !== undefined;
    this.batchRefs = refs;
    for (const e of [...this.cache.values()]) {
      if (e.table === undefined || e.evicted) continue;
      const t = extendRuleTable(e.table, this.identities, refs, defer);
      if (t === null) this.defer(e, e.table);
      else if (t === undefined) this.evict(e);
      else if (t !== e.table) {
        this.extended++;
        if (t.image === e.table.image) {
          // In place (see compiler.ts and table-arena.ts for why published snapshots keep their answers).
          this.layout.rewrite(e.base, t, e.table);
          e.table = t;
          this.extendedInPlace++;
        } else {
          this.layout.drop(e.table);
          e.table = t;
          this.point(e, this.layout.place(t));
        }
      }
    }
  }

  /** Gives every identity marked since the last flush its tables (built when no identity has them yet). */
  flush(): void {
    this.flushBuilt = 0;
    for (const id of this.dirty) {
      if (this.refs[id]! > 0) this.assign(id);
      else for (let w = 0; w < TIER_WORDS; w++) this.unset(id, w);
    }
    this.dirty.clear();
  }

  /** Chains waiting for their combined table. */
  get pendingChains(): number {
    return this.chains.size;
  }

  /** Combined tables whose per-policy tables warm() has still to make sure of, and parked per-policy tables it has to bring up to date. */
  get pendingWarm(): number {
    return this.toWarm.size + this.links.pendingRefresh;
  }

  /**
   * Builds (parked: out of the arena) up to `max` missing per-policy tables of the combined
   * tables' lists (toWarm), so a later change chaining those lists builds only the changed
   * policy's; first extends up to `max` parked ones for new identities (TierLinks.refresh), so
   * that change only places them. Changes no answer. Returns the tables still to look at.
   */
  warm(max: number): number {
    if (this.links.pendingRefresh > 0) {
      this.links.refresh(max);
      return this.pendingWarm;
    }
    // Lookups are bounded too (a key is a resolution signature): a step stays short when most exist.
    let built = 0, looked = 0;
    for (const e of this.toWarm) {
      if (!e.evicted && e.table !== undefined) {
        const { dir } = WORDS[e.word]!;
        while (this.warmAt < e.policies.length && built < max && looked++ < WARM_LOOKUPS) {
          const p = this.clusters.get(e.policies[this.warmAt++]!);
          // A policy whose rules changed evicted the table (byPolicy): p is the version it holds.
          if (p && this.links.find(e.word, dir, p, e.ports, false).fresh) built++;
        }
        if (this.warmAt < e.policies.length) break;
      }
      this.toWarm.delete(e);
      this.warmAt = 0;
    }
    return this.pendingWarm;
  }

  /**
   * Builds the combined tables of up to `max` chains (oldest first) and points their users at
   * them (same answers: see the file header). Returns the chains still waiting.
   */
  converge(max: number): number {
    let n = 0;
    for (const c of this.chains) {
      if (n++ >= max) break;
      const { dir } = WORDS[c.word]!;
      // The versions now held: a version that kept its rules (a priority or subject change) keeps
      // its tables and chains (ClusterPolicyIndex.set), and a rule change evicted the chain.
      const list = c.policies.map((id) => this.clusters.get(id)!);
      this.retire(c);
      const t = c.deferred && extendRuleTable(c.deferred, this.identities, this.batchRefs);
      const e = t ? this.place(c.key, c.word, t, c.policies, c.ports) : this.build(c.key, c.word, dir, list, c.ports);
      for (const id of c.users) {
        e.users.add(id);
        this.entries[id * TIER_WORDS + c.word] = e;
        this.setWord(id, c.word, e.base);
      }
      c.users.clear();
    }
    return this.chains.size;
  }

  /**
   * Lays every table out again at the layout's end (after TableLayout.reset, see compactTables):
   * the combined tables first, next to the NetworkPolicy tables the compaction placed before
   * them, then the per-policy tables (which only chains walk, and most of the time none does),
   * then the chains over those.
   */
  compact(): void {
    for (const e of this.cache.values()) if (e.table) this.point(e, this.layout.place(e.table));
    this.links.compact();
    for (const e of this.cache.values()) {
      if (!e.table) this.point(e, chainWord(this.layout.placeChain(e.links!.map((l) => l.base))));
    }
  }

  stats(): TierTableStats {
    let users = 0, bytes = 0, words = 0, tables = 0, chains = 0;
    for (const e of this.cache.values()) {
      users += e.users.size;
      if (e.table) {
        tables++;
        bytes += e.table.byteSize;
        words += e.table.image.length;
      } else {
        chains++;
        bytes += 4 * (1 + e.links!.length);
        words += 1 + e.links!.length;
      }
    }
    const placed = this.links.placed();
    bytes += placed.bytes;
    words += placed.words;
    return { tables, users, bytes, words, chains, links: this.links.size, linksPlaced: placed.links };
  }

  private point(e: TierEntry, base: number): void {
    e.base = base;
    for (const id of e.users) this.setWord(id, e.word, base);
  }

  private assign(id: number): void {
    const ident = this.identities.get(id);
    const sel = this.clusters.selectingByIdentity(id, this.reps[id]!, namespaceLabelsOr(ident.namespace, ident.nsLabels));
    // Identities with the same ports content share one array (and so the memos keyed by it).
    const ports = this.keys.portsOf(ident.ports);
    const { lists, keys } = this.keys.wordKeys(sel, ports);
    for (let w = 0; w < TIER_WORDS; w++) {
      const { dir } = WORDS[w]!;
      const key = keys[w];
      const at = id * TIER_WORDS + w;
      const old = this.entries[at];
      if (old && !old.evicted && old.key === key) continue;
      this.unset(id, w);
      if (key === undefined) continue;
      let e = this.cache.get(key);
      if (!e) {
        if (this.chainAbove === undefined || this.flushBuilt < this.chainAbove) {
          this.flushBuilt++;
          e = this.build(key, w, dir, lists[w]!.list, ports);
        } else e = this.chain(key, w, dir, lists[w]!.list, ports);
      }
      e.users.add(id);
      this.entries[at] = e;
      this.setWord(id, w, e.base);
    }
  }

  /** The table of `list`'s rules of a direction (a per-policy table: `passCode` TIER_PASS). */
  private buildTable(dir: Direction, list: readonly ClusterPolicy[], ports: Pod['ports'], passCode?: number): RuleTable {
    // Rules in walk order: policies by priority (the selection's order), rules as written.
    // Each policy's rules are a block (block-classes.ts).
    const rules: TableRule[] = [];
    const blocks: RuleBlock[] = [];
    let nodeRules = false;
    for (const p of list) {
      const own = this.clusters.tableRules(p, dir);
      rules.push(...own);
      blocks.push({ key: own, count: own.length });
      if (!nodeRules) nodeRules = own.some((r) => r.nodes !== undefined);
    }
    const nodeClasses = nodeRules ? this.clusters.nodeClasses(this.nodes) : undefined;
    return buildRuleTable(
      {
        direction: dir, policies: [], rules, blocks,
        ...(dir === 'ingress' ? { ownerPorts: ports } : {}), ...(nodeClasses ? { nodeClasses } : {}), ...(passCode !== undefined ? { passCode } : {}),
      },
      this.identities,
    );
  }

  private build(key: string, word: number, dir: Direction, list: readonly ClusterPolicy[], ports: Pod['ports']): TierEntry {
    this.built++;
    const e = this.place(key, word, this.buildTable(dir, list, ports), list.map(clusterPolicyId), ports);
    this.toWarm.add(e);
    return e;
  }

  /** A combined table's entry, its table placed in the arena. */
  private place(key: string, word: number, table: RuleTable, policies: readonly string[], ports: Pod['ports']): TierEntry {
    const e: TierEntry = { key, word, table, base: this.layout.place(table), policies, users: new Set(), evicted: false, ports };
    this.enter(e);
    return e;
  }

  /**
   * Combined table `e` (holding `table`) leaves the arena for a chain of its policies' tables
   * (see identitiesAdded), which its users take now; converge() extends `table` for them.
   */
  private defer(e: TierEntry, table: RuleTable): void {
    const { dir } = WORDS[e.word]!;
    const list = e.policies.map((id) => this.clusters.get(id)!);
    e.evicted = true;
    this.layout.drop(table);
    this.cache.delete(e.key);
    for (const p of e.policies) this.byPolicy.get(p)?.delete(e);
    const c = this.chain(e.key, e.word, dir, list, e.ports, table);
    for (const id of e.users) {
      c.users.add(id);
      this.entries[id * TIER_WORDS + e.word] = c;
      this.setWord(id, e.word, c.base);
    }
    e.users.clear();
  }

  private enter(e: TierEntry): void {
    this.cache.set(e.key, e);
    for (const p of e.policies) {
      let s = this.byPolicy.get(p);
      if (!s) this.byPolicy.set(p, (s = new Set()));
      s.add(e);
    }
  }

  /** A chain for `key` (see the file header): the per-policy tables of `list`, placed, and a record walking them. */
  private chain(key: string, word: number, dir: Direction, list: readonly ClusterPolicy[], ports: Pod['ports'], deferred?: RuleTable): TierEntry {
    // One pass over the list (a first-time guardrail delete makes ~90 chains in code not yet optimized).
    const links: LinkEntry<TierEntry>[] = [], policies: string[] = [], bases: number[] = [];
    for (const p of list) {
      const l = this.links.take(word, dir, p, ports);
      links.push(l);
      policies.push(l.policy);
      bases.push(l.base);
    }
    const e: TierEntry = { key, word, table: undefined, base: 0, policies, users: new Set(), evicted: false, links, ports, deferred };
    for (const l of links) l.chains.add(e);
    e.base = chainWord(this.layout.placeChain(bases));
    // Not in byPolicy (see policiesChanged).
    this.cache.set(key, e);
    this.chains.add(e);
    this.chainsMade++;
    return e;
  }

  /** A new record for a chain whose tables moved. */
  private rechain(c: TierEntry): void {
    this.layout.dropChain(c.links!.length);
    this.point(c, chainWord(this.layout.placeChain(c.links!.map((l) => l.base))));
  }

  /**
   * A chain leaves: its record and its hold on its per-policy tables. Those no chain walks stay
   * placed, compactions included, until their policy's rules change (tier-links.ts): the next
   * change or relabel takes most of them again, and dropping and placing them each time filled
   * the arena with holes (a compaction every few changes) and the update with their placing.
   */
  private retire(c: TierEntry): void {
    this.chains.delete(c);
    this.layout.dropChain(c.links!.length);
    for (const l of c.links!) l.chains.delete(c);
    this.cache.delete(c.key);
  }

  private unset(id: number, w: number): void {
    const old = this.entries[id * TIER_WORDS + w];
    if (!old) return;
    this.entries[id * TIER_WORDS + w] = undefined;
    this.setWord(id, w, TIER_NEXT);
    old.users.delete(id);
    // Unused tables are dropped at once, as NetworkPolicy tables are (compiler.ts dropUser).
    if (old.users.size === 0) this.drop(old);
  }

  private drop(e: TierEntry): void {
    if (e.evicted) return;
    e.evicted = true;
    if (e.table) {
      this.layout.drop(e.table);
      this.cache.delete(e.key);
      for (const p of e.policies) this.byPolicy.get(p)?.delete(e);
    } else this.retire(e);
  }

  private evict(e: TierEntry): void {
    if (e.evicted) return;
    this.drop(e);
    for (const id of e.users) this.dirty.add(id);
  }
}
