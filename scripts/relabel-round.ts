// One round of the cluster-large bench's changes (bench/cluster-large.ts, the same draws): a pod
// add, a pod relabel, a namespace relabel, then, with `rest`, a NetworkPolicy update and the
// cluster-policy priority change, rule edit, delete and re-add. `mark(kind)` is called before
// each relabel with its kind and with '' before the other changes, so a caller's onChange can
// tell which updates to time or profile. Shared by relabel-cpu.ts and relabel-prof.ts.
import type { ClusterState } from '../src/cluster/state.ts';
import { clusterPolicyId } from '../src/cluster/model.ts';
import { LARGE, largePod, largePolicy } from '../bench/large-cluster.ts';
import { LARGE_CLUSTER_POLICIES, largeClusterPolicy } from '../bench/large-cluster-policies.ts';

export function relabelRound(
  st: ClusterState, r: () => number, k: number, rest: boolean, mark: (kind: '' | 'pod_relabel' | 'namespace_relabel') => void,
): void {
  const nCnp = LARGE_CLUSTER_POLICIES.admin + LARGE_CLUSTER_POLICIES.baseline;
  mark('');
  if (rest) st.upsertPod(largePod(LARGE.pods + k));
  const i = r() % LARGE.pods;
  const pod = st.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
  mark('pod_relabel');
  st.upsertPod({ ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } });
  const ns = st.namespaces.get(`ns-${r() % LARGE.namespaces}`)!;
  mark('namespace_relabel');
  st.upsertNamespace({ ...ns, labels: { ...ns.labels, env: ns.labels.env === 'prod' ? 'staging' : 'prod' } });
  mark('');
  if (!rest) return;
  st.upsertPolicy(largePolicy(r() % LARGE.namespaces, r() % LARGE.policiesPerNamespace, 1 + (k % 3)));
  st.upsert('ClusterNetworkPolicy', largeClusterPolicy(r() % nCnp, { priorityShift: 1 + (k % 14) }));
  st.upsert('ClusterNetworkPolicy', largeClusterPolicy(r() % nCnp, { editRule: r(), edit: 1 + (k % 3) }));
  const c = r() % nCnp;
  st.delete('ClusterNetworkPolicy', clusterPolicyId(largeClusterPolicy(c)));
  st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c));
}
