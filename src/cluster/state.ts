// The one cluster-state model every source feeds (kube informers, the manifests folder, tests).
// It holds decoded, validated objects; objects that failed validation are kept apart with their
// errors so they can be reported while everything else keeps being enforced.

import type { Namespace, NetworkPolicy, Node, ObjectError, Pod } from './model.ts';
import { podKey } from './model.ts';

export type ObjectKind = 'Namespace' | 'Pod' | 'Node' | 'NetworkPolicy';

export type Change =
  | { readonly kind: 'Namespace'; readonly key: string; readonly before?: Namespace; readonly after?: Namespace }
  | { readonly kind: 'Pod'; readonly key: string; readonly before?: Pod; readonly after?: Pod }
  | { readonly kind: 'Node'; readonly key: string; readonly before?: Node; readonly after?: Node }
  | { readonly kind: 'NetworkPolicy'; readonly key: string; readonly before?: NetworkPolicy; readonly after?: NetworkPolicy };

/** Read-only view used by the policy layer (which does no I/O and never mutates). */
export interface ClusterView {
  readonly namespaces: ReadonlyMap<string, Namespace>;
  /** Keyed by "namespace/name". */
  readonly pods: ReadonlyMap<string, Pod>;
  readonly nodes: ReadonlyMap<string, Node>;
  /** Keyed by "namespace/name". */
  readonly policies: ReadonlyMap<string, NetworkPolicy>;
}

export type ChangeListener = (changes: readonly Change[], state: ClusterState) => void;

export class ClusterState implements ClusterView {
  readonly namespaces = new Map<string, Namespace>();
  readonly pods = new Map<string, Pod>();
  readonly nodes = new Map<string, Node>();
  readonly policies = new Map<string, NetworkPolicy>();
  /** Objects rejected by validation, keyed by "Kind namespace/name"; cleared when the object is fixed or deleted. */
  readonly rejected = new Map<string, readonly ObjectError[]>();
  /** Bumped once per delivered batch of changes. */
  generation = 0;

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

  upsertNamespace(ns: Namespace): void {
    this.rejected.delete(`Namespace ${ns.name}`);
    const before = this.namespaces.get(ns.name);
    this.namespaces.set(ns.name, ns);
    this.emit({ kind: 'Namespace', key: ns.name, before, after: ns });
  }
  deleteNamespace(name: string): void {
    this.rejected.delete(`Namespace ${name}`);
    const before = this.namespaces.get(name);
    if (!before) return;
    this.namespaces.delete(name);
    this.emit({ kind: 'Namespace', key: name, before });
  }
  upsertPod(p: Pod): void {
    const key = podKey(p);
    this.rejected.delete(`Pod ${key}`);
    const before = this.pods.get(key);
    this.pods.set(key, p);
    this.emit({ kind: 'Pod', key, before, after: p });
  }
  deletePod(key: string): void {
    this.rejected.delete(`Pod ${key}`);
    const before = this.pods.get(key);
    if (!before) return;
    this.pods.delete(key);
    this.emit({ kind: 'Pod', key, before });
  }
  upsertNode(n: Node): void {
    this.rejected.delete(`Node ${n.name}`);
    const before = this.nodes.get(n.name);
    this.nodes.set(n.name, n);
    this.emit({ kind: 'Node', key: n.name, before, after: n });
  }
  deleteNode(name: string): void {
    this.rejected.delete(`Node ${name}`);
    const before = this.nodes.get(name);
    if (!before) return;
    this.nodes.delete(name);
    this.emit({ kind: 'Node', key: name, before });
  }
  upsertPolicy(p: NetworkPolicy): void {
    const key = podKey(p);
    this.rejected.delete(`NetworkPolicy ${key}`);
    const before = this.policies.get(key);
    this.policies.set(key, p);
    this.emit({ kind: 'NetworkPolicy', key, before, after: p });
  }
  deletePolicy(key: string): void {
    this.rejected.delete(`NetworkPolicy ${key}`);
    const before = this.policies.get(key);
    if (!before) return;
    this.policies.delete(key);
    this.emit({ kind: 'NetworkPolicy', key, before });
  }

  /**
   * Records that an object failed validation. The previous good version, if any, is kept: a
   * broken update must not silently open traffic by dropping a policy that was being enforced.
   */
  reject(kind: ObjectKind, key: string, errors: readonly ObjectError[]): void {
    this.rejected.set(`${kind} ${key}`, errors);
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
