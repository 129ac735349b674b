// Probe: CPU ms of the update of a guardrail delete (a cluster policy selecting every pod) and
// of its re-add on the cluster-large bench's cluster, each after a relabel interning a new
// identity (which parks the per-policy tables no chain walks), converging and collecting after
// each update as bench/cluster-large.ts does. Robust to a loaded VM only in its min and median.
//   node --expose-gc --import tsx scripts/guardrail-churn-cpu.ts [reps, default 16]
// PALISADE_ROOT=/path/to/other/checkout runs that tree's code.
const root = process.env.PALISADE_ROOT ?? new URL("..", import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`);
const { idleGc } = await import(`${root}/src/agent/idle-gc.ts`);
const { clusterPolicyId } = await import(`${root}/src/cluster/model.ts`);
const { LARGE, buildLargeCluster, largePod } = await import(`${root}/bench/large-cluster.ts`);
const { LARGE_CLUSTER_POLICIES, largeClusterPolicies, largeClusterPolicy, isGuardrail } = await import(`${root}/bench/large-cluster-policies.ts`);
const st = buildLargeCluster(LARGE, largeClusterPolicies());
const eng = new CompiledEngine(st);
// Measured only after 2 unmeasured rounds (as the bench's warm-up).
let rec = false; const cpu: number[] = [], wall: number[] = [], acpu: number[] = [];
let kind = '';
st.onChange((ch: unknown) => {
  const c0 = process.cpuUsage(), t0 = performance.now();
  eng.update(ch);
  const t1 = performance.now(), c = process.cpuUsage(c0);
  if (rec && kind === 'del') { cpu.push((c.user + c.system) / 1000); wall.push(t1 - t0); }
  if (rec && kind === 'add') acpu.push((c.user + c.system) / 1000);
  if (eng.pendingWork > 0) { while (eng.pendingWork > 0) eng.converge(); idleGc(); }
});
const nCnp = LARGE_CLUSTER_POLICIES.admin + LARGE_CLUSTER_POLICIES.baseline;
const guards: number[] = []; for (let c = 0; c < nCnp; c++) if (isGuardrail(c)) guards.push(c);
const reps = Number(process.argv[2] ?? 12);
for (let k = 0; k < reps + 2; k++) {
  rec = k >= 2;
  kind = 'pod';
  const i = (k * 7919) % LARGE.pods;
  const pod = st.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
  st.upsertPod({ ...pod, labels: { ...pod.labels, tier: `t${k}`, role: 'client' } });
  const c = guards[k % guards.length]!;
  kind = 'del'; st.delete('ClusterNetworkPolicy', clusterPolicyId(largeClusterPolicy(c)));
  kind = 'pod'; st.upsertPod(largePod(LARGE.pods + 100 + k));
  kind = 'add'; st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c));
}
const s = (a: number[]) => { const b = [...a].sort((x, y) => x - y); return `min ${b[0]!.toFixed(1)} p25 ${b[b.length >> 2]!.toFixed(1)} med ${b[b.length >> 1]!.toFixed(1)}`; };
console.log(root.split('/').filter(Boolean).pop()!.padEnd(14), 'guardrail delete cpu', s(cpu), '| wall', s(wall), '| re-add cpu', s(acpu));
process.exit(0);
