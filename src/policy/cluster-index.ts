// The compiled engine's bookkeeping of cluster policies (the Admin and Baseline tiers): the
// policies of each tier in evaluation order, which of them select a pod, their rule ids, and
// their rules as table rules (compileClusterRule). Kept apart from compiler.ts, which decides
// the tables; this holds only what is specific to cluster policies.

import { clusterPolicyId, type ClusterPolicy, type ClusterTier, type LabelSelector, type Labels, type Namespace, type Node, type Pod } from '../cluster/model.ts';
import { namespaceLabelsOr } from '../cluster/namespace-labels.ts';
import {
  CLUSTER_TIER_NAME, clusterPolicyNodeSelectors, clusterPolicySelectsPod, clusterPolicyUsesNodes, clusterRuleRef, clusterRules, compareClusterPolicies,
  compileClusterRule,
} from './cluster-facts.ts';
import type { RuleRef } from './decision.ts';
import { namedPortsOf, type NamedPort } from './named-ports.ts';
import { classifyNodes, type NodeClasses } from './node-classes.ts';
import { NodeAddressWords, sameAddresses } from './node-address-words.ts';
import { selectorKey, selectorMatches } from './selector.ts';
import type { TableRule } from './rule-table.ts';
import type { Direction } from './spec-facts.ts';

interface Compiled {
  readonly ingress: readonly TableRule[];
  readonly egress: readonly TableRule[];
}

export class ClusterPolicyIndex {
  private readonly byId = new Map<string, ClusterPolicy>();
  private sorted: Record<ClusterTier, ClusterPolicy[]> = { Admin: [], Baseline: [] };
  private dirty = false;
  /** First rule id of each policy version: its ingress rules, then its egress rules. */
  private readonly ruleBase = new Map<ClusterPolicy, { ingress: number; egress: number }>();
  /** Table rules of each policy version (they never depend on the nodes: see nodeClasses). */
  private readonly compiled = new WeakMap<ClusterPolicy, Compiled>();
  /**
   * Node classes for every `nodes` selector of the policies (node-classes.ts), shared by every
   * table; undefined when nodes changed or a policy brought a selector they lack. Tables built
   * with older classes keep them (each image holds its own copy), so this only has to cover the
   * selectors of tables built from now on.
   */
  private nodeCls: NodeClasses | undefined;
  /** The selectors nodeCls was made for (a node change keeps it when they pick the node as before). */
  private nodeSels: readonly LabelSelector[] = [];
  /**
   * selecting() of both tiers per pod identity: a subject reads only what an identity fixes (the
   * namespace's labels, the pod's labels; callers pass selectable pods only), so each entry keeps
   * the pod and labels it was made from and a policy change moves only that policy in each entry
   * (clearing them made every identity a change reached test every policy again: a fifth of a
   * guardrail change's CPU at 600 identities and 100 policies).
   */
  private byIdentity = new Map<number, IdentitySelection>();
  /**
   * The selection lists of byIdentity by content (policy ids): identities selected alike share
   * one array, and a change moving a policy in equal arrays gives them one new array (set), so
   * what callers derive from a list (tier-tables.ts: its table key) is derived once per distinct
   * list, not once per identity.
   */
  private lists = new Map<string, readonly ClusterPolicy[]>();
  private readonly listKeys = new WeakMap<readonly ClusterPolicy[], string>();
  /** Named ports of each policy version's ingress table rules (they never depend on nodes). */
  private namedIngress = new WeakMap<ClusterPolicy, readonly NamedPort[]>();

  /** `ruleRefs`: the engine's append-only rule-id list, shared with its NetworkPolicy rules. */
  /** `nodeWords`: the engine's parsed node addresses (shared with NodeAddresses). */
  constructor(private readonly ruleRefs: RuleRef[], private readonly nodeWords = new NodeAddressWords()) {}

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<ClusterPolicy> {
    return this.byId.values();
  }

  /**
   * Records an add, change or delete (after undefined). Returns true when `after` has the rules
   * and tier of the version it replaces (a priority or subject change): it then takes over that
   * version's rule ids and table rules, so every table holding the policy stays valid as long as
   * its owners select the same policies in the same order (tier-tables.ts).
   */
  set(id: string, after: ClusterPolicy | undefined): boolean {
    const before = this.byId.get(id);
    const same = before !== undefined && after !== undefined && sameRules(before, after);
    if (before) {
      const base = this.ruleBase.get(before);
      this.ruleBase.delete(before);
      if (same) {
        // Same rules, tier and id: the rule refs (clusterRuleRef) of the old ids are the new version's.
        if (base) this.ruleBase.set(after, base);
        const c = this.compiled.get(before);
        if (c) this.compiled.set(after, c);
        const n = this.namedIngress.get(before);
        if (n) this.namedIngress.set(after, n);
      }
    }
    if (after && this.nodeCls && clusterPolicyNodeSelectors(after).some((s) => !this.nodeCls!.selectors.has(selectorKey(s)))) this.nodeCls = undefined;
    if (after) this.byId.set(id, after); else this.byId.delete(id);
    this.dirty = true;
    // Equal lists stay one array: each distinct (list, selected) pair is moved once.
    const moved = new Map<readonly ClusterPolicy[], readonly ClusterPolicy[]>();
    const movedIn = new Map<readonly ClusterPolicy[], readonly ClusterPolicy[]>();
    const lists = new Map<string, readonly ClusterPolicy[]>();
    for (const e of this.byIdentity.values()) {
      if (before) {
        const old = e[before.tier];
        let next = moved.get(old);
        if (!next) moved.set(old, (next = this.intern(old.filter((p) => p !== before), lists)));
        e[before.tier] = next;
      }
      if (after && clusterPolicySelectsPod(after, e.pod, e.nsLabels)) {
        const old = e[after.tier];
        let next = movedIn.get(old);
        if (!next) movedIn.set(old, (next = this.intern(insertInOrder(old, after), lists)));
        e[after.tier] = next;
      }
    }
    // Lists no identity holds any more (with old versions) are forgotten.
    for (const e of this.byIdentity.values()) {
      for (const l of [e.Admin, e.Baseline]) {
        const k = this.listKeys.get(l)!;
        if (!lists.has(k)) lists.set(k, l);
      }
    }
    this.lists = lists;
    return same;
  }

  /** The version of a policy the index holds. */
  get(id: string): ClusterPolicy | undefined {
    return this.byId.get(id);
  }

  /** Rule ids still referenced by live policies (the engine renumbers when most ids are garbage). */
  liveRules(): number {
    let n = 0;
    for (const p of this.byId.values()) n += p.ingress.length + p.egress.length;
    return n;
  }

  private order(): Record<ClusterTier, ClusterPolicy[]> {
    if (this.dirty) {
      const s: Record<ClusterTier, ClusterPolicy[]> = { Admin: [], Baseline: [] };
      for (const p of this.byId.values()) s[p.tier].push(p);
      s.Admin.sort(compareClusterPolicies);
      s.Baseline.sort(compareClusterPolicies);
      this.sorted = s;
      this.dirty = false;
    }
    return this.sorted;
  }

  /** The array of `lists` equal to `l` (entered when new). */
  private intern(l: readonly ClusterPolicy[], lists: Map<string, readonly ClusterPolicy[]>): readonly ClusterPolicy[] {
    const k = listKey(l);
    const had = lists.get(k);
    if (had) return had;
    lists.set(k, l);
    this.listKeys.set(l, k);
    return l;
  }

  /** The tier's policies whose subject selects the pod, in evaluation order. */
  selecting(tier: ClusterTier, pod: Pod, namespaceLabels: Labels): ClusterPolicy[] {
    const out: ClusterPolicy[] = [];
    for (const p of this.order()[tier]) if (clusterPolicySelectsPod(p, pod, namespaceLabels)) out.push(p);
    return out;
  }

  /** selecting() of both tiers for a selectable pod of the given identity (see identity.ts), cached. */
  selectingByIdentity(identity: number, pod: Pod, namespaceLabels: Labels): { readonly Admin: readonly ClusterPolicy[]; readonly Baseline: readonly ClusterPolicy[] } {
    let s = this.byIdentity.get(identity);
    if (!s) {
      s = { Admin: this.intern(this.selecting('Admin', pod, namespaceLabels), this.lists), Baseline: this.intern(this.selecting('Baseline', pod, namespaceLabels), this.lists), pod, nsLabels: namespaceLabels };
      this.byIdentity.set(identity, s);
    }
    return s;
  }

  /** The named ports of the policy's ingress table rules (what owners sharing a table must resolve alike). */
  ingressNamedPorts(p: ClusterPolicy): readonly NamedPort[] {
    let n = this.namedIngress.get(p);
    if (!n) this.namedIngress.set(p, (n = namedPortsOf(this.tableRules(p, 'ingress'))));
    return n;
  }

  /**
   * Nodes changed: the policies whose rules name nodes (their ids; their tables hold the node
   * classes of the old nodes). None when every node address is in the class it was in.
   */
  nodesChanged(nodes: ReadonlyMap<string, Node>, changed?: readonly { readonly before?: Node; readonly after?: Node }[]): string[] {
    const old = this.nodeCls;
    // Nodes that keep their addresses and the selectors picking them leave every address in its
    // class (a heartbeat, a label no selector reads): no reclassification of all 5,000 nodes
    // (9 MB of garbage per Node change).
    if (old && changed && changed.every((c) => this.keepsClasses(c.before, c.after))) return [];
    this.nodeCls = undefined;
    if (old && sameClasses(old, this.nodeClasses(nodes))) {
      // Kept, not replaced by its equal: tables share the arena's one copy of its maps by identity
      // (TableLayout), so tables built after a heartbeat link to the maps already there.
      this.nodeCls = old;
      return [];
    }
    const out: string[] = [];
    for (const [id, p] of this.byId) if (clusterPolicyUsesNodes(p)) out.push(id);
    return out;
  }

  private keepsClasses(before: Node | undefined, after: Node | undefined): boolean {
    if (!before || !after || !sameAddresses(before.addresses, after.addresses)) return false;
    for (const s of this.nodeSels) if (selectorMatches(s, before.labels ?? {}) !== selectorMatches(s, after.labels ?? {})) return false;
    return true;
  }

  /** Node classes covering every `nodes` selector of the policies (see nodeCls). */
  nodeClasses(nodes: ReadonlyMap<string, Node>): NodeClasses {
    if (!this.nodeCls) {
      const sels: LabelSelector[] = [];
      for (const p of this.byId.values()) sels.push(...clusterPolicyNodeSelectors(p));
      this.nodeSels = sels;
      this.nodeCls = classifyNodes(nodes, sels, this.nodeWords);
    }
    return this.nodeCls;
  }

  /** The policy's rules of a direction as table rules (fail-closed Accept rules, which match nothing, left out). */
  tableRules(p: ClusterPolicy, dir: Direction): readonly TableRule[] {
    let c = this.compiled.get(p);
    if (!c) {
      const base = this.ruleIdsFor(p);
      const build = (d: Direction, first: number): TableRule[] => {
        const out: TableRule[] = [];
        clusterRules(p, d).forEach((rule, i) => {
          const cr = compileClusterRule(rule);
          if (!cr) return;
          const tr: TableRule = { id: first + i, policyNamespace: '', rule: cr.match, tier: CLUSTER_TIER_NAME[p.tier], action: cr.action };
          out.push(cr.nodes.length > 0 ? { ...tr, nodes: cr.nodes } : tr);
        });
        return out;
      };
      c = { ingress: build('ingress', base.ingress), egress: build('egress', base.egress) };
      this.compiled.set(p, c);
    }
    return dir === 'ingress' ? c.ingress : c.egress;
  }

  private ruleIdsFor(p: ClusterPolicy): { ingress: number; egress: number } {
    let b = this.ruleBase.get(p);
    if (!b) {
      const ingress = this.ruleRefs.length;
      p.ingress.forEach((_, i) => this.ruleRefs.push(clusterRuleRef(p, 'ingress', i)));
      const egress = this.ruleRefs.length;
      p.egress.forEach((_, i) => this.ruleRefs.push(clusterRuleRef(p, 'egress', i)));
      b = { ingress, egress };
      this.ruleBase.set(p, b);
    }
    return b;
  }
}

/**
 * For a batch of changes: does any of these policy versions select a selectable pod of the given
 * identity (memoised per identity: a subject reads only what the identity fixes)?
 */
export function selectsAnyOf(versions: readonly ClusterPolicy[], namespaces: ReadonlyMap<string, Namespace>): (identity: number, pod: Pod) => boolean {
  const memo = new Map<number, boolean>();
  return (identity, pod) => {
    let hit = memo.get(identity);
    if (hit === undefined) {
      const nsLabels = namespaceLabelsOr(pod.namespace, namespaces.get(pod.namespace)?.labels);
      hit = versions.some((p) => clusterPolicySelectsPod(p, pod, nsLabels));
      memo.set(identity, hit);
    }
    return hit;
  };
}

interface IdentitySelection {
  Admin: readonly ClusterPolicy[];
  Baseline: readonly ClusterPolicy[];
  /** What the lists were selected with (any selectable pod of the identity selects alike). */
  readonly pod: Pod;
  readonly nsLabels: Labels;
}

/** A copy of an evaluation-ordered list with p in its place. */
/** A list's content key: its policies' ids (lists hold the current version of each). */
function listKey(l: readonly ClusterPolicy[]): string {
  return l.map(clusterPolicyId).join('\n');
}

function insertInOrder(list: readonly ClusterPolicy[], p: ClusterPolicy): ClusterPolicy[] {
  let i = 0;
  while (i < list.length && compareClusterPolicies(list[i]!, p) < 0) i++;
  return [...list.slice(0, i), p, ...list.slice(i)];
}

/** Same tier and rules (deep equality of the rule lists; priority and subject may differ). */
function sameRules(a: ClusterPolicy, b: ClusterPolicy): boolean {
  return a.tier === b.tier && a.kind === b.kind && a.name === b.name && deepEqual(a.ingress, b.ingress) && deepEqual(a.egress, b.egress);
}

/** Structural equality of plain data (arrays, objects, primitives): the same keys with equal values. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Do two classifications put every node address in classes the same selectors pick? */
function sameClasses(a: NodeClasses, b: NodeClasses): boolean {
  if (a.selectors.size !== b.selectors.size || a.addr4.length !== b.addr4.length || a.addr6.length !== b.addr6.length) return false;
  for (const [k, j] of a.selectors) if (b.selectors.get(k) !== j) return false;
  if (a.count !== b.count || a.bits.length !== b.bits.length) return false;
  for (let i = 0; i < a.bits.length; i++) if (a.bits[i] !== b.bits[i]) return false;
  // Classes are numbered in node iteration order, so equal maps mean equal arrays in most cases;
  // a reordering only costs a rebuild.
  for (let i = 0; i < a.addr4.length; i++) if (a.addr4[i] !== b.addr4[i] || a.cls4[i] !== b.cls4[i]) return false;
  for (let i = 0; i < a.addr6.length; i++) if (a.addr6[i] !== b.addr6[i]) return false;
  for (let i = 0; i < a.cls6.length; i++) if (a.cls6[i] !== b.cls6[i]) return false;
  return true;
}
