// The per-policy tables that chains of the Admin and Baseline tiers walk (tier-tables.ts, the
// file header's "Chains"): one policy version's rules of a direction, Pass told from no match
// (TIER_PASS), built once and kept until the policy's rules change. A link is placed in the arena
// once a chain has walked it, and stays placed (extended with each batch of new identities, laid
// out again by compactions) until its policy's rules change; one no chain has walked yet is
// parked (out of the arena, still built). warm() builds links parked ahead of the change that
// will chain them, and refresh() brings parked links up to date with the identities interned
// since they were parked (both in idle time).

import type { ClusterPolicy, Pod } from '../cluster/model.ts';
import { clusterPolicyId } from '../cluster/model.ts';
import type { ClusterPolicyIndex } from './cluster-index.ts';
import type { IdentityRegistry } from './identity.ts';
import { distinctNamed, resolutionSignature } from './named-ports.ts';
import { extendRuleTable, type RuleTable } from './rule-table.ts';
import type { Direction } from './spec-facts.ts';
import type { TableLayout } from './table-layout.ts';
import type { NewIdentityRefs } from './new-identity-refs.ts';

/** A per-policy table chains (`C`: tier-tables.ts's chain records) walk. */
export interface LinkEntry<C> {
  readonly key: string;
  readonly policy: string;
  /** Extended for new identities only while placed; a parked one is extended when taken again. */
  table: RuleTable;
  /** Arena offset once placed (a chain walks it or did; see compact()); -1 parked (not in the arena). */
  base: number;
  /** The chains walking it. */
  readonly chains: Set<C>;
  /** Out of `links` (its policy's rules changed, or it could not be extended): memos must look again. */
  dropped: boolean;
}

/** A policy version's links (TierLinks.find). */
interface LinkMemo<C> {
  /** Its ingress rules name ports: its ingress links are per owner ports (byPorts). */
  readonly named: boolean;
  egress: LinkEntry<C> | undefined;
  ingress: LinkEntry<C> | undefined;
  byPorts: WeakMap<Pod['ports'], LinkEntry<C>> | undefined;
}

/** Builds the per-policy table of `p` for a direction (TIER_PASS for its Pass cells). */
export type BuildLinkTable = (dir: Direction, p: ClusterPolicy, ports: Pod['ports']) => RuleTable;

export class TierLinks<C> {
  /** Per-policy tables by key (`L`, word, policy id, ingress resolution signature). */
  private readonly links = new Map<string, LinkEntry<C>>();
  private readonly byPolicy = new Map<string, Set<LinkEntry<C>>>();
  /** Per policy version: its links (find). */
  private readonly memo = new WeakMap<ClusterPolicy, LinkMemo<C>>();
  /**
   * Parked links that identities interned since they were parked have not extended yet
   * (refresh). A guardrail change takes ~100 parked links at once, and extending each there
   * (every pod add or relabel in between parks them all) was a sixth of such an update.
   */
  private readonly stale = new Set<LinkEntry<C>>();
  /**
   * The last batch's references (new-identity-refs.ts), for extending parked links: refresh()
   * brings them up to the identities before the batch, where the refs start (extendRuleTable
   * uses refs only when they cover exactly what a table lacks, so old ones are harmless).
   */
  private refs: NewIdentityRefs | undefined;
  built = 0;

  constructor(
    private readonly identities: IdentityRegistry,
    private readonly clusters: ClusterPolicyIndex,
    private readonly layout: TableLayout,
    private readonly buildTable: BuildLinkTable,
  ) {}

  get size(): number {
    return this.links.size;
  }

  /** Parked links refresh() has still to extend. */
  get pendingRefresh(): number {
    return this.stale.size;
  }

  /**
   * Extends up to `max` parked links for the identities interned since they were parked (idle
   * time), so the change that takes them places them without that work. Changes no answer: a
   * parked link is in no published arena. Returns the links still stale.
   */
  refresh(max: number): number {
    let n = 0;
    for (const l of this.stale) {
      if (n++ >= max) break;
      this.stale.delete(l);
      const t = extendRuleTable(l.table, this.identities, this.refs);
      if (t === undefined) this.drop(l);
      else l.table = t;
    }
    return this.stale.size;
  }

  /** The per-policy table of `p` for a word, placed in the arena (built, or a parked one brought up to date). */
  take(word: number, dir: Direction, p: ClusterPolicy, ports: Pod['ports']): LinkEntry<C> {
    // A first-time guardrail delete takes ~1,100 links, nearly all found placed in the memo, and
    // runs in code V8 has not optimized yet (such changes are rare): the found path does no more
    // than two look-ups.
    const m = this.memo.get(p);
    if (m !== undefined) {
      const l = dir === 'egress' ? m.egress : m.named ? m.byPorts?.get(ports) : m.ingress;
      if (l !== undefined && !l.dropped && l.base >= 0) return l;
    }
    return this.find(word, dir, p, ports, true).link;
  }

  /** The per-policy table of `p` for a word (`fresh`: built now), placed in the arena when `place`. */
  find(word: number, dir: Direction, p: ClusterPolicy, ports: Pod['ports'], place: boolean): { link: LinkEntry<C>; fresh: boolean } {
    // A guardrail change chains ~100 lists of ~50 policies: finding each (policy version, word,
    // owner ports) link by its key string (a resolution signature for ingress port names) was
    // a third of such an update once no table was built in it. A policy version has one word per
    // direction (its tier's), so the memo is per version: the egress link, and the ingress link
    // per owner ports array when its ingress rules name ports.
    let m = this.memo.get(p);
    if (!m) this.memo.set(p, (m = { named: this.clusters.ingressNamedPorts(p).length > 0, egress: undefined, ingress: undefined, byPorts: undefined }));
    const named = dir === 'ingress' && m.named;
    let l: LinkEntry<C> | undefined = named ? m.byPorts?.get(ports) : dir === 'egress' ? m.egress : m.ingress;
    let key: string;
    if (l !== undefined && !l.dropped) key = l.key;
    else {
      key = `L${word}${clusterPolicyId(p)}`;
      if (named) key += `\u0002${resolutionSignature(distinctNamed([...this.clusters.ingressNamedPorts(p)]), ports)}`;
      l = this.links.get(key);
    }
    const id = clusterPolicyId(p);
    let fresh = false;
    // A parked link is extended here only when refresh() has not yet done it.
    if (l && l.base < 0 && place && this.stale.delete(l)) {
      const t = extendRuleTable(l.table, this.identities, this.refs);
      if (t === undefined) {
        this.drop(l);
        l = undefined;
      } else l.table = t;
    }
    if (!l) {
      fresh = true;
      this.built++;
      l = { key, policy: id, table: this.buildTable(dir, p, ports), base: -1, chains: new Set(), dropped: false };
      this.links.set(key, l);
      let s = this.byPolicy.get(id);
      if (!s) this.byPolicy.set(id, (s = new Set()));
      s.add(l);
    }
    if (l.base < 0 && place) l.base = this.layout.place(l.table);
    if (named) (m.byPorts ??= new WeakMap()).set(ports, l);
    else if (dir === 'egress') m.egress = l;
    else m.ingress = l;
    return { link: l, fresh };
  }

  /**
   * Policy `id`'s rules changed: its links go, and so (`evict`) the chains walking them. Chains
   * walking the old version are found here (every chain walks one link of each of its policies),
   * not by tier-tables.ts's byPolicy: entering ~100 chains of ~50 policies there was a sixth of a
   * guardrail change.
   */
  rulesChanged(id: string, evict: (c: C) => void): void {
    for (const l of this.byPolicy.get(id) ?? []) {
      for (const c of [...l.chains]) evict(c);
      this.drop(l);
    }
    this.byPolicy.delete(id);
  }

  /**
   * New identities were interned: placed links learn their classes (`refs`: see
   * new-identity-refs.ts); parked ones are extended when a chain takes them again. A link
   * that cannot learn them goes with its chains (`evict`); one that moved gives each chain walking
   * it a new record (`moved`: a chain record is never rewritten, published snapshots read it).
   */
  identitiesAdded(refs: NewIdentityRefs | undefined, evict: (c: C) => void, moved: (c: C) => void): void {
    this.refs = refs;
    for (const l of [...this.links.values()]) {
      if (l.base < 0) {
        this.stale.add(l);
        continue;
      }
      // Placed links no chain walks are extended too, not parked: a combined table the new
      // identities need classified in becomes a chain of them at once (TierTables.identitiesAdded),
      // and parking them here to place them again there was most of that chain's cost.
      const t = extendRuleTable(l.table, this.identities, refs);
      if (t === undefined) {
        // Its chains go; their users take a table (or a new chain) at the flush.
        for (const c of [...l.chains]) evict(c);
        this.drop(l);
      } else if (t !== l.table) {
        if (t.image === l.table.image) this.layout.rewrite(l.base, t, l.table);
        else {
          this.layout.drop(l.table);
          l.base = this.layout.place(t);
          for (const c of l.chains) moved(c);
        }
        l.table = t;
      }
    }
  }

  /**
   * Lays the placed links out again at the layout's end (after TableLayout.reset; nothing to
   * drop). Those no chain walks now stay placed too: parking them here made the next relabel's
   * chains extend and place ~180 of them inside the update (`links.take` 4.1-6.9 ms in 6 of 17
   * namespace relabels of `scripts/relabel-phases.ts 21`, against 0.2-1.5 ms once they stay
   * placed, where extending them is part of `links.identitiesAdded`).
   * They hold ~0.8 MB of arena there, which they held before the compaction as well.
   */
  compact(): void {
    for (const l of this.links.values()) {
      if (l.base >= 0) l.base = this.layout.place(l.table);
    }
  }

  /** Arena bytes and words of the placed links, and how many there are. */
  placed(): { bytes: number; words: number; links: number } {
    let bytes = 0, words = 0, links = 0;
    for (const l of this.links.values()) {
      if (l.base < 0) continue;
      bytes += l.table.byteSize;
      words += l.table.image.length;
      links++;
    }
    return { bytes, words, links };
  }

  private drop(l: LinkEntry<C>): void {
    if (this.links.get(l.key) !== l) return;
    l.dropped = true;
    this.links.delete(l.key);
    this.stale.delete(l);
    this.byPolicy.get(l.policy)?.delete(l);
    if (l.base >= 0) this.layout.drop(l.table);
    l.base = -1;
  }
}
