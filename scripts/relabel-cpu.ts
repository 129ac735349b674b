// Relabels only (pod, namespace) on the cluster-large cluster, CPU ms per update and tables
// built, and the spread: what the new-identity path costs at scale without the cluster-policy
// changes of cluster-updates-cpu.ts in between. PALISADE_ROOT=/other/checkout runs that tree.
//   node --expose-gc --import tsx scripts/relabel-cpu.ts [reps, default 40]
const root = process.env.PALISADE_ROOT ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts');
const lc = await import(`${root}/bench/large-cluster.ts`) as typeof import('../bench/large-cluster.ts');
const lcp = await import(`${root}/bench/large-cluster-policies.ts`) as typeof import('../bench/large-cluster-policies.ts');
const { prng } = await import(`${root}/bench/prng.ts`) as typeof import('../bench/prng.ts');

const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const reps = Number(process.argv[2] ?? 40);
const st = lc.buildLargeCluster(lc.LARGE, lcp.largeClusterPolicies());
const eng = new CompiledEngine(st);
let last = 0, built = 0;
st.onChange((ch) => {
  const b0 = eng.stats().tablesBuilt;
  const c0 = cpu();
  eng.update(ch);
  last = cpu() - c0;
  built = eng.stats().tablesBuilt - b0;
});
const out: Record<string, { ms: number; built: number }[]> = { pod_relabel: [], namespace_relabel: [] };
const r = prng(0xc0ffee);
for (let k = 0; k < reps; k++) {
  const i = r() % lc.LARGE.pods;
  const pod = st.pods.get(`ns-${i % lc.LARGE.namespaces}/pod-${i}`)!;
  st.upsertPod({ ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } });
  out.pod_relabel!.push({ ms: last, built });
  const ns = st.namespaces.get(`ns-${r() % lc.LARGE.namespaces}`)!;
  st.upsertNamespace({ ...ns, labels: { ...ns.labels, env: ns.labels.env === 'prod' ? 'staging' : 'prod' } });
  out.namespace_relabel!.push({ ms: last, built });
}
for (const [k, v] of Object.entries(out)) {
  const rest = v.slice(2);
  const s = rest.map((x) => x.ms).sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!.toFixed(1);
  const sum = s.reduce((a, b) => a + b, 0);
  console.log(`${k}: n=${s.length} mean ${(sum / s.length).toFixed(1)} p50 ${q(0.5)} p90 ${q(0.9)} max ${q(1)} ms CPU; tables built ${rest.reduce((a, x) => a + x.built, 0)}`);
}
