// The cluster-large bench's incremental recompiles (bench/cluster-large.ts, same changes in the
// same order), timed in CPU time of this process rather than wall time, with the number of
// tables each update built: on a shared VM whose load makes wall time run 3-12x CPU time, this
// is what compares two trees. node --expose-gc --import tsx scripts/cluster-updates-cpu.ts [reps]
// Prints per kind of change the CPU ms and tables built of each rep (the first 2 are warm-up).

import { CompiledEngine } from '../src/policy/compiler.ts';
import { clusterPolicyId } from '../src/cluster/model.ts';
import { LARGE, buildLargeCluster, largePod, largePolicy } from '../bench/large-cluster.ts';
import { LARGE_CLUSTER_POLICIES, largeClusterPolicies, largeClusterPolicy } from '../bench/large-cluster-policies.ts';
import { prng } from '../bench/prng.ts';

const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const reps = Number(process.argv[2] ?? 12);
const st = buildLargeCluster(LARGE, largeClusterPolicies());
const t0 = cpu();
const eng = new CompiledEngine(st);
console.log(`full compile ${(cpu() - t0).toFixed(0)} ms CPU (cold)`);
const times: Record<string, string[]> = {};
let last = 0, built = 0;
st.onChange((ch) => {
  const b0 = eng.stats().tablesBuilt;
  const c0 = cpu();
  eng.update(ch);
  last = cpu() - c0;
  built = eng.stats().tablesBuilt - b0;
});
const rec = (k: string) => { (times[k] ??= []).push(`${last.toFixed(1)}/${built}`); };
const r = prng(0xc0ffee);
const nCnp = LARGE_CLUSTER_POLICIES.admin + LARGE_CLUSTER_POLICIES.baseline;
for (let k = 0; k < reps; k++) {
  st.upsertPod(largePod(LARGE.pods + k)); rec('pod_add');
  const i = r() % LARGE.pods;
  const pod = st.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
  st.upsertPod({ ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } }); rec('pod_relabel');
  const ns = st.namespaces.get(`ns-${r() % LARGE.namespaces}`)!;
  st.upsertNamespace({ ...ns, labels: { ...ns.labels, env: ns.labels.env === 'prod' ? 'staging' : 'prod' } }); rec('namespace_relabel');
  st.upsertPolicy(largePolicy(r() % LARGE.namespaces, r() % LARGE.policiesPerNamespace, 1 + (k % 3))); rec('policy_update');
  let c = r() % nCnp;
  st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c, { priorityShift: 1 + (k % 14) })); rec('cnp_priority');
  c = r() % nCnp;
  st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c, { editRule: r(), edit: 1 + (k % 3) })); rec('cnp_rule_edit');
  c = r() % nCnp;
  st.delete('ClusterNetworkPolicy', clusterPolicyId(largeClusterPolicy(c))); rec('cnp_delete');
  st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c)); rec('cnp_add');
}
for (const [k, v] of Object.entries(times)) console.log(`${k} (cpu ms/tables built) ${v.join(' ')}`);
