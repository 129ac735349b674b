// One round of the cluster-large bench's changes, in one place for the bench (cluster-large.ts)
// and the scripts that time or profile its updates (scripts/relabel-cpu.ts, relabel-prof.ts):
// the same changes from the same draws of `r`, so a script's update is the bench's. In order: a
// pod add, a pod relabel, a namespace relabel, then (unless `relabelsOnly`) a NetworkPolicy
// update and a cluster policy's priority change, another's rule edit, and a third's delete and
// re-add (each drawn at random: about 4 % hit a guardrail selecting every pod). The pod add is
// left out with `relabelsOnly` too; it draws nothing, so the relabels are the same ones.
import type { ClusterState } from '../src/cluster/state.ts';
import { clusterPolicyId } from '../src/cluster/model.ts';
import { LARGE, largePod, largePolicy } from './large-cluster.ts';
import { LARGE_CLUSTER_POLICIES, largeClusterPolicy } from './large-cluster-policies.ts';

export const UPDATE_KINDS = ['pod_add', 'pod_relabel', 'namespace_relabel', 'policy_update', 'cnp_priority', 'cnp_rule_edit', 'cnp_delete', 'cnp_add'] as const;
export type UpdateKind = (typeof UPDATE_KINDS)[number];

export interface RoundHooks {
  /** Before each change (a caller's onChange then knows which update it sees). */
  readonly before?: (kind: UpdateKind) => void;
  /** After each change; `cnp`: the cluster policy's index (large-cluster-policies.ts) for the cnp_* kinds. */
  readonly after?: (kind: UpdateKind, cnp?: number) => void;
}

/** One change of a round: apply() makes it on the state (whose onChange feeds the engine). */
export interface RoundChange {
  readonly kind: UpdateKind;
  readonly apply: () => void;
  /** The cluster policy's index (large-cluster-policies.ts) for the cnp_* kinds. */
  readonly cnp?: number;
}

/**
 * The changes of round `k` on `st`, drawing from `r`, in order. Lazy: each is drawn once the one
 * before it was applied (a relabel reads the pod as the state holds it then).
 */
export function* roundChanges(st: ClusterState, r: () => number, k: number, relabelsOnly = false): Generator<RoundChange> {
  if (!relabelsOnly) yield { kind: 'pod_add', apply: () => st.upsertPod(largePod(LARGE.pods + k)) };
  const i = r() % LARGE.pods;
  const pod = st.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
  yield { kind: 'pod_relabel', apply: () => st.upsertPod({ ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } }) };
  const ns = st.namespaces.get(`ns-${r() % LARGE.namespaces}`)!;
  yield { kind: 'namespace_relabel', apply: () => st.upsertNamespace({ ...ns, labels: { ...ns.labels, env: ns.labels.env === 'prod' ? 'staging' : 'prod' } }) };
  if (relabelsOnly) return;
  const policy = largePolicy(r() % LARGE.namespaces, r() % LARGE.policiesPerNamespace, 1 + (k % 3));
  yield { kind: 'policy_update', apply: () => st.upsertPolicy(policy) };
  const nCnp = LARGE_CLUSTER_POLICIES.admin + LARGE_CLUSTER_POLICIES.baseline;
  const shiftedAt = r() % nCnp;
  const shifted = largeClusterPolicy(shiftedAt, { priorityShift: 1 + (k % 14) });
  yield { kind: 'cnp_priority', apply: () => st.upsert('ClusterNetworkPolicy', shifted), cnp: shiftedAt };
  const editedAt = r() % nCnp;
  const edited = largeClusterPolicy(editedAt, { editRule: r(), edit: 1 + (k % 3) });
  yield { kind: 'cnp_rule_edit', apply: () => st.upsert('ClusterNetworkPolicy', edited), cnp: editedAt };
  const againAt = r() % nCnp;
  const again = largeClusterPolicy(againAt);
  yield { kind: 'cnp_delete', apply: () => st.delete('ClusterNetworkPolicy', clusterPolicyId(again)), cnp: againAt };
  yield { kind: 'cnp_add', apply: () => st.upsert('ClusterNetworkPolicy', largeClusterPolicy(againAt)), cnp: againAt };
}

/** One change with its hooks around it. */
function applyChange(c: RoundChange, hooks: RoundHooks): void {
  hooks.before?.(c.kind);
  c.apply();
  hooks.after?.(c.kind, c.cnp);
}

/** Round `k` of the changes on `st` (whose onChange feeds the engine), drawing from `r`, back to back. */
export function updateRound(st: ClusterState, r: () => number, k: number, hooks: RoundHooks = {}, relabelsOnly = false): void {
  for (const c of roundChanges(st, r, k, relabelsOnly)) applyChange(c, hooks);
}

/**
 * updateRound with a turn of the event loop after each change, as the agent has between two
 * updates: FinalizationRegistry callbacks run only there, and the table arena gets its retired
 * buffers back through them (arena-buffers.ts). Back to back, none ever came back, a new 34 MB
 * buffer was allocated at each compaction, and V8's marking for that external memory fell in
 * the bench's updates (docs/speed-history.md).
 */
export async function updateRoundAsync(st: ClusterState, r: () => number, k: number, hooks: RoundHooks = {}): Promise<void> {
  for (const c of roundChanges(st, r, k)) {
    applyChange(c, hooks);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
