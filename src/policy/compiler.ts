// The compiled policy engine: turns the cluster view into immutable rule-table generations
// (RuleSnapshot, see engine-api.ts) that the classifier consults once per new connection, and
// keeps them current incrementally as objects change.
//
// A generation (Snapshot, snapshot.ts) is flat typed arrays: address maps to pod slots, a
// record per slot (identity, node, per direction a word per tier: its table or none), node
// addresses, and the arena of table images (rule-table.ts). The Admin and Baseline tables are
// kept per pod identity by tier-tables.ts; this file keeps the NetworkPolicy tables (np-tables.ts),
// the slot arrays and the arena current.
//
// Sharing: a NetworkPolicy table depends only on the policies isolating its owner (in key
// order) and, for ingress, on what the rules' port names resolve to on the owner, so owners with
// the same of both share one table object ("replicas share"), cached under that key
// (np-selection.ts). It is rebuilt only when one of its policies changes or a new pod identity
// resolves a port name in a way no class of the table does (identity-extension.ts: other new
// identities join a class or add one). Pods moving between existing identities (the common relabel) or added with an existing
// identity touch no table.
//
// Published snapshots are never changed: an update publishes the per-slot records and the
// address maps with only the pages it wrote copied (slot-records.ts, address-map.ts,
// word-pages.ts: the rest are shared with the snapshot before), and the names and policy lists
// copied per page written (paged-list.ts); it reuses every table still valid;
// images of new tables are appended to the arena past anything a published snapshot reads
// (TableLayout). The rule-ref list only ever grows, so an old snapshot's codes keep their rule.
//
// The policy layer does no I/O; this file only reads the ClusterView it is given and the
// Change batches from ClusterState.onChange.

import type { ClusterPolicy, NetworkPolicy, Node, Pod, Namespace } from '../cluster/model.ts';
import type { Change, ClusterView } from '../cluster/state.ts';
import { KINDS_IN_APPLY_ORDER } from '../cluster/kinds.ts';
import { decideOn } from './decide.ts';
import { NodeAddresses, PodAddresses } from './engine-addresses.ts';
import { NodeAddressWords } from './node-address-words.ts';
import type { Connection, Decision, RuleRef } from './decision.ts';
import type { RuleSnapshot } from './engine-api.ts';
import { IdentityRegistry } from './identity.ts';
import { NewIdentityRefs } from './new-identity-refs.ts';
import { extendTables, newIdentityRefs } from './identity-extension.ts';
import { npTableKey, selectionOf, type Selection } from './np-selection.ts';
import { NpTables, type NpTable } from './np-tables.ts';
import { NetworkPolicyRules } from './np-rules.ts';
import { NO_POLICIES, Snapshot } from './snapshot.ts';
import { SlotRecords } from './slot-records.ts';
import { TierTables } from './tier-tables.ts';
import { COMPACT_ROOM, NO_TABLE, SlotArrays, TableLayout } from './table-layout.ts';
import { comparePolicies, podIsSelectable, type Direction } from './spec-facts.ts';
import { ClusterPolicyIndex } from './cluster-index.ts';
import type { EngineStats } from './engine-stats.ts';

export { decideOn };
export type { EngineStats };


export interface CompileOptions {
  /** Judge only pods with this spec.nodeName; undefined = every pod is local (verify, tests). */
  readonly localNode?: string;
  /**
   * Admin and Baseline tables an update builds before the others it needs become chains until
   * converge() builds them (tier-tables.ts; default CHAIN_ABOVE; tests pass 0 to chain every one).
   */
  readonly chainAbove?: number;
}

/**
 * Combined tier tables an update builds at once: none. One took 1-20 ms on the large cluster
 * (it holds every rule of the ~50 policies selecting its owners), the most of a cluster policy
 * change once the per-policy tables a chain walks were ready (TierTables.warm); so every table an
 * update needs is a chain, built by converge() in idle time.
 */
export const CHAIN_ABOVE = 0;

// ---------------------------------------------------------------------------------------------
// Compiler state

interface PodRec {
  readonly key: string;
  pod: Pod;
  readonly slot: number;
  identity: number;
  local: boolean;
  /** Node index (see NodeAddresses), or -1. */
  node: number;
  /** The addresses registered in `addresses` for this pod. */
  ips: readonly string[];
  egressPolicies: readonly string[];
  ingressPolicies: readonly string[];
  egress: NpTable | null;
  ingress: NpTable | null;
  /** The identity this pod holds tier tables for (TierTables.hold), or -1 (not local, or gone). */
  tierIdentity: number;
}

function nsOfKey(key: string): string {
  return key.slice(0, key.indexOf('/'));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class CompiledEngine {
  readonly localNode: string | undefined;

  private namespaces = new Map<string, Namespace>();
  private pods = new Map<string, Pod>();
  private nodes = new Map<string, Node>();
  private policies = new Map<string, NetworkPolicy>();
  private clusterPolicies = new Map<string, ClusterPolicy>();
  private podsByNs = new Map<string, Set<string>>();
  /** Policies of a namespace sorted by key (the order rules are tried in). */
  private policiesByNs = new Map<string, NetworkPolicy[]>();
  /** Keys of a namespace's policies (an update re-sorts its namespace from these, not from all 10,000). */
  private policyKeysByNs = new Map<string, Set<string>>();

  private identities = new IdentityRegistry();
  private recs = new Map<string, PodRec>();
  private slots: (PodRec | undefined)[] = [];
  private freeSlots: number[] = [];
  private arrays = new SlotArrays();
  /** The slot records of the last publish (slot-records.ts). */
  private records = new SlotRecords();
  private addresses = new PodAddresses<PodRec>();

  private ruleRefs: RuleRef[] = [];
  private npRules = new NetworkPolicyRules(this.ruleRefs);
  /** Node addresses parsed once per address list (node classes and node address arrays). */
  private nodeWords = new NodeAddressWords();
  private clusters = new ClusterPolicyIndex(this.ruleRefs, this.nodeWords);
  private layout = new TableLayout();
  private tables = new NpTables(this.npRules, this.identities, this.layout);
  /** The Admin and Baseline tiers' tables, per identity of a local pod. */
  private tiers = new TierTables(this.identities, this.clusters, this.nodes, this.layout);

  private nodeAddresses = new NodeAddresses(this.nodes, this.nodeWords);

  private generation = 0;
  private current!: Snapshot;
  private readonly chainAbove: number;
  private built = 0;
  private extended = 0;
  private extendedInPlace = 0;

  constructor(view: ClusterView, opts: CompileOptions = {}) {
    this.localNode = opts.localNode;
    this.chainAbove = opts.chainAbove ?? CHAIN_ABOVE;
    this.applyChanges(CompiledEngine.changesFor(view));
    this.roomAfterCompile();
    // A full compile builds every table: nothing is enforced yet, so nothing waits for it.
    this.tiers.chainAbove = this.chainAbove;
  }

  /**
   * A full compile leaves the arena as full as doubling left it; it starts the updates with the
   * room a compaction gives (COMPACT_ROOM), so the first updates do not grow it in turn (two
   * growths of 19 and 30 MB in the first ten rounds of the scale bench), and a spare buffer of the
   * same size for the first compaction (ArenaBuffers.spare).
   */
  private roomAfterCompile(): void {
    if (this.layout.used <= 1 << 16) return;
    this.layout.makeRoom(COMPACT_ROOM);
    this.layout.buffers.spare(COMPACT_ROOM * this.layout.used);
  }

  /**
   * One step of idle-time work after an update (call while `pendingWork` > 0), in this order:
   * builds the combined tables of up to `maxTables` chains (tier-tables.ts); then compacts or
   * grows the arena when it needs it (TableLayout: an update leaves that here unless the holes are
   * extreme); then builds up to 4 * `maxTables` of the per-policy tables later chains will walk
   * (TierTables.warm). The first two publish a snapshot with the same answers (the classifier
   * takes it like any other; no verdict changes, so cached verdicts stay valid), returned; the
   * last publishes nothing (undefined, as when nothing was waiting).
   */
  converge(maxTables = 4): RuleSnapshot | undefined {
    if (this.tiers.pendingChains > 0) this.tiers.converge(maxTables);
    else if (this.layout.wasteful || this.layout.crampedWithHoles) this.compactTables();
    else if (this.layout.cramped) this.layout.makeRoom();
    else {
      if (this.tiers.pendingWarm > 0) this.tiers.warm(4 * maxTables);
      return undefined;
    }
    this.publish(true);
    return this.current;
  }

  /** Chains waiting for converge(). */
  get pendingChains(): number {
    return this.tiers.pendingChains;
  }

  /** Idle-time steps waiting for converge(): chains, the arena's compaction or growth, per-policy tables to warm. */
  get pendingWork(): number {
    return this.tiers.pendingChains + (this.layout.wasteful || this.layout.cramped ? 1 : 0) + this.tiers.pendingWarm;
  }

  /** The current generation. Hold on to it for a whole packet / batch. */
  snapshot(): RuleSnapshot {
    return this.current;
  }

  /** Applies a batch of changes (as delivered by ClusterState.onChange) and publishes a new snapshot. */
  update(changes: readonly Change[]): RuleSnapshot {
    this.applyChanges(changes);
    // Identities and rule ids are append-only; when most are garbage, start over from the
    // mirror (same answers, fresh numbering). Published snapshots keep what they reference.
    const liveRules = this.npRules.liveRules() + this.clusters.liveRules();
    if (this.identities.count > 4 * this.recs.size + 4096 || this.ruleRefs.length > 4 * liveRules + 4096) this.rebuildAll();
    return this.current;
  }

  /** Everything as "added", in the registry's apply order, which needs no fix-ups. */
  private static changesFor(view: ClusterView): Change[] {
    const out: Change[] = [];
    for (const k of KINDS_IN_APPLY_ORDER) {
      for (const [key, after] of view[k.store] as ReadonlyMap<string, unknown>) out.push({ kind: k.kind, key, after } as Change);
    }
    return out;
  }

  private rebuildAll(): void {
    const view: ClusterView = { namespaces: this.namespaces, pods: this.pods, nodes: this.nodes, policies: this.policies, clusterPolicies: this.clusterPolicies };
    const changes = CompiledEngine.changesFor(view);
    this.namespaces = new Map(); this.pods = new Map(); this.nodes = new Map(); this.policies = new Map(); this.clusterPolicies = new Map();
    this.podsByNs = new Map(); this.policiesByNs = new Map(); this.policyKeysByNs = new Map();
    this.identities = new IdentityRegistry();
    this.recs = new Map(); this.slots = []; this.freeSlots = []; this.arrays = new SlotArrays(); this.records = new SlotRecords(); this.addresses = new PodAddresses();
    this.ruleRefs = []; this.npRules = new NetworkPolicyRules(this.ruleRefs); this.nodeWords = new NodeAddressWords(); this.clusters = new ClusterPolicyIndex(this.ruleRefs, this.nodeWords);
    this.layout = new TableLayout();
    this.tables = new NpTables(this.npRules, this.identities, this.layout);
    this.tiers = new TierTables(this.identities, this.clusters, this.nodes, this.layout);
    this.nodeAddresses = new NodeAddresses(this.nodes, this.nodeWords);
    this.applyChanges(changes);
    this.roomAfterCompile();
    this.tiers.chainAbove = this.chainAbove;
  }

  stats(): EngineStats {
    let users = 0, bytes = 0;
    for (const e of this.tables.values()) {
      users += e.users.size;
      bytes += e.table.byteSize;
    }
    const tier = this.tiers.stats();
    const maps = this.layout.nodeMapStats;
    return {
      generation: this.generation,
      pods: this.recs.size,
      identities: this.identities.count,
      tables: this.tables.size + tier.tables,
      tierTables: tier.tables,
      tableUsers: users + tier.users,
      tableBytes: bytes + tier.bytes + 4 * maps.words,
      nodeMaps: maps.maps,
      nodeMapTables: maps.tables,
      ruleIds: this.ruleRefs.length,
      tablesBuilt: this.built + this.tiers.built,
      tablesExtended: this.extended + this.tiers.extended,
      tablesExtendedInPlace: this.extendedInPlace + this.tiers.extendedInPlace,
      tierChains: tier.chains,
      chainLinks: tier.links,
      chainLinksPlaced: tier.linksPlaced,
      chainsMade: this.tiers.chainsMade,
      chainLinksBuilt: this.tiers.linksBuilt,
    };
  }

  // -------------------------------------------------------------------------------------------

  private applyChanges(changes: readonly Change[]): void {
    const dirtyPods = new Set<string>();
    const reselectNs = new Set<string>();
    const changedPolicies = new Set<string>();
    let nodesChanged = false;
    const nodeChanges: { readonly before?: Node; readonly after?: Node }[] = [];
    // Cluster policies touch only the tier tables (tier-tables.ts): their ids and their old and
    // new versions (a subject can select pods of any namespace).
    const changedCluster = new Set<string>();
    const clusterVersions: ClusterPolicy[] = [];
    for (const c of changes) {
      switch (c.kind) {
        case 'Namespace': {
          if (c.after) this.namespaces.set(c.key, c.after); else this.namespaces.delete(c.key);
          // Namespace labels are part of every identity in it.
          for (const k of this.podsByNs.get(c.key) ?? []) dirtyPods.add(k);
          break;
        }
        case 'Pod': {
          const ns = nsOfKey(c.key);
          if (c.after) {
            this.pods.set(c.key, c.after);
            let set = this.podsByNs.get(ns);
            if (!set) this.podsByNs.set(ns, (set = new Set()));
            set.add(c.key);
          } else {
            this.pods.delete(c.key);
            const set = this.podsByNs.get(ns);
            set?.delete(c.key);
            if (set && set.size === 0) this.podsByNs.delete(ns);
          }
          dirtyPods.add(c.key);
          break;
        }
        case 'Node': {
          if (c.after) this.nodes.set(c.key, c.after); else this.nodes.delete(c.key);
          nodesChanged = true;
          nodeChanges.push({ before: c.before, after: c.after });
          break;
        }
        case 'NetworkPolicy': {
          if (c.before) this.npRules.forget(c.before);
          const prev = this.policies.get(c.key);
          if (prev) this.npRules.forget(prev);
          const ns = nsOfKey(c.key);
          let keys = this.policyKeysByNs.get(ns);
          if (c.after) {
            this.policies.set(c.key, c.after);
            if (!keys) this.policyKeysByNs.set(ns, (keys = new Set()));
            keys.add(c.key);
          } else {
            this.policies.delete(c.key);
            keys?.delete(c.key);
            if (keys && keys.size === 0) this.policyKeysByNs.delete(ns);
          }
          changedPolicies.add(c.key);
          reselectNs.add(ns);
          break;
        }
        case 'ClusterNetworkPolicy':
        case 'AdminNetworkPolicy':
        case 'BaselineAdminNetworkPolicy': {
          const prev = this.clusters.get(c.key);
          if (prev) clusterVersions.push(prev);
          if (c.after) clusterVersions.push(c.after);
          if (c.after) this.clusterPolicies.set(c.key, c.after); else this.clusterPolicies.delete(c.key);
          // A version with the old one's rules (a priority or subject change) keeps its tables:
          // only the identities it selects, before or after, look theirs up again.
          if (!this.clusters.set(c.key, c.after)) changedCluster.add(c.key);
          break;
        }
        default: {
          // A kind in the registry (cluster/kinds.ts) that the compiler does not handle yet
          // fails to type-check here instead of being silently ignored.
          const unhandled: never = c;
          throw new Error(`compiler: no handling for kind ${(unhandled as Change).kind}`);
        }
      }
    }

    // Tables of cluster policies with `nodes` peers hold the node classes (node-classes.ts).
    if (nodesChanged) for (const id of this.clusters.nodesChanged(this.nodes, nodeChanges)) changedCluster.add(id);
    if (changedCluster.size > 0 || clusterVersions.length > 0) this.tiers.policiesChanged(changedCluster, clusterVersions);

    // NetworkPolicies: drop every table built from the old version; re-sort the namespace's list.
    const needTable = new Set<PodRec>();
    for (const key of changedPolicies) {
      for (const e of this.tables.ofPolicy(key)) this.evict(e, needTable);
      this.tables.dropPolicy(key);
    }
    for (const ns of reselectNs) {
      const list: NetworkPolicy[] = [];
      for (const k of this.policyKeysByNs.get(ns) ?? []) list.push(this.policies.get(k)!);
      list.sort(comparePolicies);
      if (list.length) this.policiesByNs.set(ns, list); else this.policiesByNs.delete(ns);
    }

    // Pods: identity, slot, addresses.
    const identitiesBefore = this.identities.count;
    // The identity each pod moved from: the reference of the new identity it moved to.
    const refs = new NewIdentityRefs(this.identities, identitiesBefore);
    this.addresses.startBatch();
    const A = this.arrays;
    for (const key of dirtyPods) {
      const pod = this.pods.get(key);
      let rec = this.recs.get(key);
      if (pod && podIsSelectable(pod)) {
        const identity = this.identities.intern(pod.namespace, this.namespaces.get(pod.namespace)?.labels, pod.labels, pod.ports);
        const local = this.localNode === undefined || pod.nodeName === this.localNode;
        const node = pod.nodeName === undefined ? -1 : this.nodeAddresses.indexOf(pod.nodeName);
        if (rec) {
          // The phase decides ties between pods claiming one address.
          if (!sameList(rec.ips, pod.ips) || rec.pod.phase !== pod.phase) {
            this.addresses.unregister(rec);
            rec.pod = pod;
            this.addresses.register(rec);
          }
          rec.pod = pod;
          if (identity >= identitiesBefore) refs.hint(identity, rec.identity);
          rec.identity = identity;
          rec.local = local;
          rec.node = node;
        } else {
          const slot = this.freeSlots.pop() ?? this.slots.length;
          rec = {
            key, pod, slot, identity, local, node, ips: [],
            egressPolicies: NO_POLICIES, ingressPolicies: NO_POLICIES, egress: null, ingress: null, tierIdentity: -1,
          };
          this.slots[slot] = rec;
          this.recs.set(key, rec);
          this.addresses.register(rec);
          A.ensure(slot);
          A.names.set(slot, key);
        }
        A.setPod(rec.slot, identity, local, node);
        needTable.add(rec);
      } else if (rec) {
        this.release(rec);
        this.addresses.unregister(rec);
        this.recs.delete(key);
        this.slots[rec.slot] = undefined;
        this.freeSlots.push(rec.slot);
        A.clear(rec.slot);
        needTable.delete(rec);
      }
    }

    // New identities: every table learns their classes, or is rebuilt (identity-extension.ts).
    if (this.identities.count > identitiesBefore) {
      const used = newIdentityRefs(refs, this.identities.count - identitiesBefore);
      const n = extendTables(this.tables.values(), this.identities, used, this.layout, A, (e) => this.evict(e, needTable));
      this.extended += n.extended;
      this.extendedInPlace += n.inPlace;
      this.tiers.identitiesAdded(used);
    }

    // Selection: which policies isolate each affected pod, and its tables.
    for (const ns of reselectNs) {
      for (const k of this.podsByNs.get(ns) ?? []) {
        const r = this.recs.get(k);
        if (r) needTable.add(r);
      }
    }
    const selections = new Map<number, Selection>();
    for (const r of needTable) this.select(r, selections);
    this.tiers.flush();

    // Node address arrays change only with a node's addresses (or a node added or gone).
    if (nodeChanges.some((c) => !c.before || !c.after || !sameList(c.before.addresses, c.after.addresses))) this.nodeAddresses.rebuild();
    this.publish();
  }

  private evict(e: NpTable, needTable: Set<PodRec>): void {
    if (e.evicted) return;
    this.tables.forget(e);
    for (const slot of e.users) {
      const r = this.slots[slot];
      if (r) needTable.add(r);
    }
  }

  private release(r: PodRec): void {
    if (r.tierIdentity >= 0) {
      this.tiers.release(r.tierIdentity);
      r.tierIdentity = -1;
    }
    for (const dir of ['egress', 'ingress'] as const) {
      const e = r[dir];
      if (!e) continue;
      this.tables.dropUser(e, r.slot);
      r[dir] = null;
      this.arrays.setTable(dir, r.slot, NO_TABLE);
    }
  }

  /**
   * Recomputes the pod's isolating policies and (for local pods) its tables. `selections`: the
   * answers of this batch per identity (namespace and labels are all a policy's podSelector reads,
   * and the policies do not change within the batch), so the replicas of a workload share one.
   */
  private select(r: PodRec, selections: Map<number, Selection>): void {
    let s = selections.get(r.identity);
    if (!s) {
      s = selectionOf(this.policiesByNs.get(r.pod.namespace) ?? [], r.pod);
      selections.set(r.identity, s);
    }
    const { ing, eg, ingKeys, egKeys } = s;
    r.ingressPolicies = sameList(r.ingressPolicies, ingKeys) ? r.ingressPolicies : ingKeys;
    r.egressPolicies = sameList(r.egressPolicies, egKeys) ? r.egressPolicies : egKeys;
    this.arrays.ingressPolicies.set(r.slot, r.ingressPolicies);
    this.arrays.egressPolicies.set(r.slot, r.egressPolicies);
    if (!r.local) {
      this.release(r);
      return;
    }
    // The Admin and Baseline tables follow the identity (tier-tables.ts).
    if (r.tierIdentity !== r.identity) {
      if (r.tierIdentity >= 0) this.tiers.release(r.tierIdentity);
      this.tiers.hold(r.identity, r.pod);
      r.tierIdentity = r.identity;
    }
    this.attach(r, 'egress', eg, r.egressPolicies, s);
    this.attach(r, 'ingress', ing, r.ingressPolicies, s);
  }

  // A side needs a NetworkPolicy table when NetworkPolicies isolate it. Otherwise the tier passes
  // for every peer and the slot's word for it is NO_TABLE.
  private attach(r: PodRec, dir: Direction, np: readonly NetworkPolicy[], npKeys: readonly string[], s: Selection): void {
    let k = s[dir];
    if (k === undefined) s[dir] = k = npTableKey(dir, np, npKeys, this.npRules, r.pod.ports);
    const key = k ?? undefined;
    const old = r[dir];
    if (old && !old.evicted && old.key === key) return;
    if (old) {
      this.tables.dropUser(old, r.slot);
      r[dir] = null;
      this.arrays.setTable(dir, r.slot, NO_TABLE);
    }
    if (key === undefined) return;
    let e = this.tables.get(key);
    if (!e) {
      this.built++;
      e = this.tables.build(key, dir, np, npKeys, r.pod.ports);
    }
    e.users.add(r.slot);
    r[dir] = e;
    this.arrays.setTable(dir, r.slot, e.base);
  }

  /** Lays every live table out again (no holes) and points every user slot at the new place. */
  private compactTables(): void {
    let live = this.tiers.stats().words + this.layout.nodeMapStats.words;
    for (const e of this.tables.values()) live += e.table.image.length;
    // Room for twice the live words of new images before the arena is cramped (TableLayout's
    // COMPACT_ROOM).
    this.layout.reset(COMPACT_ROOM * live);
    for (const e of this.tables.values()) {
      e.base = this.layout.place(e.table);
      for (const slot of e.users) this.arrays.setTable(e.direction, slot, e.base);
    }
    this.tiers.compact();
  }

  /** `idle`: a converge() step, which compacts a wasteful arena itself; an update only an overflowing one. */
  private publish(idle = false): void {
    if (!idle && this.layout.overflowing) this.compactTables();
    const arena = this.layout.publish();
    const A = this.arrays;
    const na = this.nodeAddresses.arrays;
    const maps = this.addresses.update();
    const info = this.records.publish(A, this.tiers.words, this.tiers.wordsChanged);
    this.current = new Snapshot({
      generation: ++this.generation,
      pods4: maps.pods4,
      pods6: maps.pods6,
      slotInfo: info,
      addr4: na.addr4, addr4Start: na.addr4Start, addr6: na.addr6, addr6Start: na.addr6Start,
      arena,
      names: A.names.publish(),
      egressPolicies: A.egressPolicies.publish(), ingressPolicies: A.ingressPolicies.publish(),
      ruleRefs: this.ruleRefs,
    });
  }

  /** Judges one connection on the current snapshot and answers like evaluate() (off the hot path). */
  decide(conn: Connection): Decision {
    return decideOn(this.current, conn);
  }
}
