// The one cluster-state model every source feeds (kube informers, the manifests folder, tests).
// It holds decoded, validated objects; objects that failed validation are kept apart with their
// errors so they can be reported while everything else keeps being enforced.

import type { ClusterPolicy, Namespace, NetworkPolicy, Node, ObjectError, Pod } from './model.ts';
import { KIND, keyOfObject, objectId, type KindValues, type ObjectKind, type ValidDecoded } from './kinds.ts';

export type { ObjectKind } from './kinds.ts';

/** One object added, changed (before and after) or deleted (before only). */
export type Change = {
  [K in ObjectKind]: { readonly kind: K; readonly key: string; readonly before?: KindValues[K]; readonly after?: KindValues[K] };
}[ObjectKind];

/** Read-only view used by the policy layer (which does no I/O and never mutates). */
export interface ClusterView {
  readonly namespaces: ReadonlyMap<string, Namespace>;
  /** Keyed by "namespace/name". */
  readonly pods: ReadonlyMap<string, Pod>;
  readonly nodes: ReadonlyMap<string, Node>;
  /** Keyed by "namespace/name". */
  readonly policies: ReadonlyMap<string, NetworkPolicy>;
  /** ClusterNetworkPolicy and the v1alpha1 Admin/BaselineAdminNetworkPolicy, keyed by clusterPolicyId. */
  readonly clusterPolicies: ReadonlyMap<string, ClusterPolicy>;
}

export type ChangeListener = (changes: readonly Change[], state: ClusterState) => void;

export class ClusterState implements ClusterView {
  readonly namespaces = new Map<string, Namespace>();
  readonly pods = new Map<string, Pod>();
  readonly nodes = new Map<string, Node>();
  readonly policies = new Map<string, NetworkPolicy>();
  readonly clusterPolicies = new Map<string, ClusterPolicy>();
  /** Objects rejected by validation, keyed by "Kind namespace/name"; cleared when the object is fixed or deleted. */
  readonly rejected = new Map<string, readonly ObjectError[]>();
  /** Bumped once per delivered batch of changes. */
  generation = 0;

  /**
   * Applied to every cluster policy stored (the agent's DNS learner sets it: domainNames peers get
   * the addresses learned for them, see src/agent/dns-learner.ts). Must be idempotent.
   */
  resolveClusterPolicy?: (p: ClusterPolicy) => ClusterPolicy;

  private listeners: ChangeListener[] = [];
  private pending: Change[] = [];
  private batchDepth = 0;

  onChange(l: ChangeListener): () => void {
    this.listeners.push(l);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }

  /** Runs fn and delivers all its changes to listeners as one batch (one recompile). */
  batch<T>(fn: () => T): T {
    this.batchDepth++;
    try {
      return fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.flush();
    }
  }

  /** The map that holds objects of this kind (the entry's store), keyed by the kind's key. */
  private storeOf<K extends ObjectKind>(kind: K): Map<string, KindValues[K]> {
    return this[KIND[kind].store] as unknown as Map<string, KindValues[K]>;
  }

  get<K extends ObjectKind>(kind: K, key: string): KindValues[K] | undefined {
    return this.storeOf(kind).get(key);
  }

  /** Adds or replaces an object; a valid version clears the object's rejection. */
  upsert<K extends ObjectKind>(kind: K, value: KindValues[K]): void {
    if (this.resolveClusterPolicy && KIND[kind].store === 'clusterPolicies') value = this.resolveClusterPolicy(value as ClusterPolicy) as KindValues[K];
    const key = keyOfObject(KIND[kind], value);
    const store = this.storeOf(kind);
    // (Rejections are rare: no id is made for the 150,000 upserts of a large cluster's first list.)
    if (this.rejected.size) this.rejected.delete(objectId(kind, key));
    const before = store.get(key);
    store.set(key, value);
    this.emit({ kind, key, before, after: value } as Change);
  }

  /** Removes an object (key "namespace/name" or "name"); also clears its rejection, even when it is absent. */
  delete(kind: ObjectKind, key: string): void {
    const store = this.storeOf(kind);
    if (this.rejected.size) this.rejected.delete(objectId(kind, key));
    const before = store.get(key);
    if (!before) return;
    store.delete(key);
    this.emit({ kind, key, before } as Change);
  }

  upsertDecoded(d: ValidDecoded): void {
    this.upsert(d.kind, d.value as never);
  }

  // Shorthands for the built-in kinds (hand-built states in tests and tools read better with them).
  upsertNamespace(ns: Namespace): void { this.upsert('Namespace', ns); }
  deleteNamespace(name: string): void { this.delete('Namespace', name); }
  upsertPod(p: Pod): void { this.upsert('Pod', p); }
  deletePod(key: string): void { this.delete('Pod', key); }
  upsertNode(n: Node): void { this.upsert('Node', n); }
  deleteNode(name: string): void { this.delete('Node', name); }
  upsertPolicy(p: NetworkPolicy): void { this.upsert('NetworkPolicy', p); }
  deletePolicy(key: string): void { this.delete('NetworkPolicy', key); }

  /**
   * Records that an object failed validation. The previous good version, if any, is kept: a
   * broken update must not silently open traffic by dropping a policy that was being enforced.
   */
  reject(kind: ObjectKind, key: string, errors: readonly ObjectError[]): void {
    this.rejected.set(objectId(kind, key), errors);
  }

  private emit(c: Change): void {
    this.pending.push(c);
    if (this.batchDepth === 0) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const changes = this.pending;
    this.pending = [];
    this.generation++;
    for (const l of this.listeners) l(changes, this);
  }
}
