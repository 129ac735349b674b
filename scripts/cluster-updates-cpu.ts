// The cluster-large bench's incremental recompiles (bench/cluster-large.ts, same changes in the
// same order), timed in CPU time of this process rather than wall time, with the number of
// tables each update built: on a shared VM whose load makes wall time run 3-12x CPU time, this
// is what compares two trees. node --expose-gc --import tsx scripts/cluster-updates-cpu.ts [reps]
// Prints per kind of change the CPU ms and tables built of each rep (the first 2 are warm-up),
// and where an update published chains (tier-tables.ts), `+` the CPU ms of converging them (the
// agent's idle-time converge() steps, run here right after the update) and the tables it built;
// `L` the per-policy tables the chains needed built (once per policy version and direction).

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
let last = 0, built = 0, conv = 0, convBuilt = 0, links = 0;
const hasConverge = typeof (eng as { converge?: unknown }).converge === 'function';
st.onChange((ch) => {
  const s0 = eng.stats();
  const b0 = s0.tablesBuilt;
  const c0 = cpu();
  eng.update(ch);
  last = cpu() - c0;
  const s1 = eng.stats();
  built = s1.tablesBuilt - b0;
  links = (s1.chainLinksBuilt ?? 0) - (s0.chainLinksBuilt ?? 0);
  conv = 0; convBuilt = 0;
  if (hasConverge && eng.pendingWork > 0) {
    const c1 = cpu();
    while (eng.pendingWork > 0) eng.converge();
    conv = cpu() - c1;
    convBuilt = eng.stats().tablesBuilt - b0 - built;
  }
});
const rec = (k: string) => { (times[k] ??= []).push(`${last.toFixed(1)}/${built}${links ? `L${links}` : ''}${convBuilt ? `+${conv.toFixed(0)}/${convBuilt}` : ''}`); };
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
// Percentiles of the update CPU past the 2 warm-up reps, per kind (nearest rank).
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
for (const [k, v] of Object.entries(times)) {
  const xs = v.slice(2).map((x) => Number(x.split('/')[0])).sort((a, b) => a - b);
  const conv = v.slice(2).map((x) => Number(x.split('+')[1]?.split('/')[0] ?? 0)).sort((a, b) => a - b);
  console.log(`${k}: update cpu p50 ${pct(xs, 50).toFixed(1)} p90 ${pct(xs, 90).toFixed(1)} max ${xs[xs.length - 1]!.toFixed(1)} ms` + (conv[conv.length - 1]! > 0 ? `; convergence cpu p50 ${pct(conv, 50).toFixed(0)} max ${conv[conv.length - 1]!.toFixed(0)} ms` : ''));
}
