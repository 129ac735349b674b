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
//   NetworkPolicy tables.
// Tables are built only for identities some local pod has (hold/release), so a node agent builds
// the tables of its own pods.

import type { ClusterPolicy, ClusterTier, Node, Pod } from '../cluster/model.ts';
import { clusterPolicyId } from '../cluster/model.ts';
import { namespaceLabelsOr } from '../cluster/namespace-labels.ts';
import type { ClusterPolicyIndex } from './cluster-index.ts';
import { clusterPolicySelectsPod, clusterRules } from './cluster-facts.ts';
import type { IdentityRegistry } from './identity.ts';
import { distinctNamed, resolutionSignature, type NamedPort } from './named-ports.ts';
import type { RuleBlock } from './block-classes.ts';
import { buildRuleTable, extendRuleTable, type RuleTable, type TableRule } from './rule-table.ts';
import type { Direction } from './spec-facts.ts';
import type { TableLayout } from './table-layout.ts';
import type { NewIdentityRefs } from './new-identity-refs.ts';
import { TIER_NEXT } from './tiers.ts';

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
  /** Replaced (never changed) when new identities extend it; see extendRuleTable. */
  table: RuleTable;
  /** Where the table's image sits in the engine's arena layout (see TableLayout). */
  base: number;
  /** Ids of the cluster policies whose rules it holds. */
  readonly policies: readonly string[];
  /** Identities whose table this is. */
  readonly users: Set<number>;
  evicted: boolean;
}

export interface TierTableStats {
  readonly tables: number;
  /** (identity, direction, tier) triples with a table. */
  readonly users: number;
  readonly bytes: number;
  readonly words: number;
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
  /**
   * The distinct named ports of the ingress rules of a list of policies (by its key before the
   * signature), for as long as no policy's rules change: a change reaching every identity
   * gathered and deduplicated the names of every policy of each identity's list again.
   */
  private readonly namedOfList = new Map<string, readonly NamedPort[]>();
  built = 0;
  extended = 0;
  extendedInPlace = 0;

  constructor(
    private readonly identities: IdentityRegistry,
    private readonly clusters: ClusterPolicyIndex,
    private readonly nodes: ReadonlyMap<string, Node>,
    private readonly layout: TableLayout,
  ) {}

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
      this.namedOfList.clear();
      for (const e of this.byPolicy.get(id) ?? []) this.evict(e);
      this.byPolicy.delete(id);
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
    for (const e of [...this.cache.values()]) {
      const t = extendRuleTable(e.table, this.identities, refs);
      if (t === undefined) this.evict(e);
      else if (t !== e.table) {
        this.extended++;
        if (t.image === e.table.image) {
          // In place (see compiler.ts and table-arena.ts for why published snapshots keep their answers).
          this.layout.rewrite(e.base, t);
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
    for (const id of this.dirty) {
      if (this.refs[id]! > 0) this.assign(id);
      else for (let w = 0; w < TIER_WORDS; w++) this.unset(id, w);
    }
    this.dirty.clear();
  }

  /** Lays every table out again at the layout's end (after TableLayout.reset, see compactTables). */
  compact(): void {
    for (const e of this.cache.values()) this.point(e, this.layout.place(e.table));
  }

  stats(): TierTableStats {
    let users = 0, bytes = 0, words = 0;
    for (const e of this.cache.values()) {
      users += e.users.size;
      bytes += e.table.byteSize;
      words += e.table.image.length;
    }
    return { tables: this.cache.size, users, bytes, words };
  }

  private point(e: TierEntry, base: number): void {
    e.base = base;
    for (const id of e.users) this.setWord(id, e.word, base);
  }

  private assign(id: number): void {
    const ident = this.identities.get(id);
    const sel = this.clusters.selectingByIdentity(id, this.reps[id]!, namespaceLabelsOr(ident.namespace, ident.nsLabels));
    for (let w = 0; w < TIER_WORDS; w++) {
      const { dir, tier } = WORDS[w]!;
      // Only policies with rules for the direction have a word on it.
      const list = sel[tier].filter((p) => clusterRules(p, dir).length > 0);
      let key: string | undefined;
      if (list.length > 0) {
        key = `${w}${list.map(clusterPolicyId).join('\n')}`;
        if (dir === 'ingress') {
          // Named ports of ingress rules resolve on the owner: owners share a table only when
          // every name resolves the same on them.
          let named = this.namedOfList.get(key);
          if (!named) {
            const all: NamedPort[] = [];
            for (const p of list) all.push(...this.clusters.ingressNamedPorts(p));
            // Lists only a reorder made stay until the next rule change: bounded here.
            if (this.namedOfList.size >= 4096) this.namedOfList.clear();
            this.namedOfList.set(key, (named = distinctNamed(all)));
          }
          if (named.length) key += `\u0002${resolutionSignature(named, ident.ports)}`;
        }
      }
      const old = this.entries[id * TIER_WORDS + w];
      if (old && !old.evicted && old.key === key) continue;
      this.unset(id, w);
      if (key === undefined) continue;
      const e = this.cache.get(key) ?? this.build(key, w, dir, list, ident.ports);
      e.users.add(id);
      this.entries[id * TIER_WORDS + w] = e;
      this.setWord(id, w, e.base);
    }
  }

  private build(key: string, word: number, dir: Direction, list: readonly ClusterPolicy[], ports: Pod['ports']): TierEntry {
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
    this.built++;
    const nodeClasses = nodeRules ? this.clusters.nodeClasses(this.nodes) : undefined;
    const table = buildRuleTable(
      { direction: dir, policies: [], rules, blocks, ...(dir === 'ingress' ? { ownerPorts: ports } : {}), ...(nodeClasses ? { nodeClasses } : {}) },
      this.identities,
    );
    const policies = list.map(clusterPolicyId);
    const e: TierEntry = { key, word, table, base: this.layout.place(table), policies, users: new Set(), evicted: false };
    this.cache.set(key, e);
    for (const p of policies) {
      let s = this.byPolicy.get(p);
      if (!s) this.byPolicy.set(p, (s = new Set()));
      s.add(e);
    }
    return e;
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
    this.layout.drop(e.table);
    this.cache.delete(e.key);
    for (const p of e.policies) this.byPolicy.get(p)?.delete(e);
  }

  private evict(e: TierEntry): void {
    if (e.evicted) return;
    this.drop(e);
    for (const id of e.users) this.dirty.add(id);
  }
}
