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

/** Round `k` of the changes on `st` (whose onChange feeds the engine), drawing from `r`. */
export function updateRound(st: ClusterState, r: () => number, k: number, hooks: RoundHooks = {}, relabelsOnly = false): void {
  const change = (kind: UpdateKind, apply: () => void, cnp?: number) => {
    hooks.before?.(kind);
    apply();
    hooks.after?.(kind, cnp);
  };
  if (!relabelsOnly) change('pod_add', () => st.upsertPod(largePod(LARGE.pods + k)));
  const i = r() % LARGE.pods;
  const pod = st.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
  change('pod_relabel', () => st.upsertPod({ ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } }));
  const ns = st.namespaces.get(`ns-${r() % LARGE.namespaces}`)!;
  change('namespace_relabel', () => st.upsertNamespace({ ...ns, labels: { ...ns.labels, env: ns.labels.env === 'prod' ? 'staging' : 'prod' } }));
  if (relabelsOnly) return;
  const policy = largePolicy(r() % LARGE.namespaces, r() % LARGE.policiesPerNamespace, 1 + (k % 3));
  change('policy_update', () => st.upsertPolicy(policy));
  const nCnp = LARGE_CLUSTER_POLICIES.admin + LARGE_CLUSTER_POLICIES.baseline;
  let c = r() % nCnp;
  const shifted = largeClusterPolicy(c, { priorityShift: 1 + (k % 14) });
  change('cnp_priority', () => st.upsert('ClusterNetworkPolicy', shifted), c);
  c = r() % nCnp;
  const edited = largeClusterPolicy(c, { editRule: r(), edit: 1 + (k % 3) });
  change('cnp_rule_edit', () => st.upsert('ClusterNetworkPolicy', edited), c);
  c = r() % nCnp;
  const again = largeClusterPolicy(c);
  change('cnp_delete', () => st.delete('ClusterNetworkPolicy', clusterPolicyId(again)), c);
  change('cnp_add', () => st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c)), c);
}
