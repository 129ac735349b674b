// The cluster-large bench's relabels alone (bench/cluster-large.ts: a pod relabel, then a
// namespace relabel, per rep, same draws), CPU ms per update, without the cluster-policy
// changes of cluster-updates-cpu.ts in between. With PALISADE_BASE=/other/checkout, that tree's
// engine is fed the same changes in the same process, the two alternating which goes first, and
// the per-update ratio (this / base) is printed: on a shared VM whose load moves CPU times by
// 20-40 % between runs, that is what compares two trees.
//   [PALISADE_BASE=/path/to/other/checkout] node --expose-gc --import tsx scripts/relabel-cpu.ts [reps, default 40]
// Prints per kind p50 / p90 / mean over reps 3.. (updates with a new identity and without alike).

const root = new URL('..', import.meta.url).pathname;
const base = process.env.PALISADE_BASE;
type Engine = { update(ch: unknown): unknown };
const engineOf = async (dir: string) => (await import(`${dir}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts')).CompiledEngine;
const { LARGE, buildLargeCluster } = await import('../bench/large-cluster.ts');
const { largeClusterPolicies } = await import('../bench/large-cluster-policies.ts');
const { prng } = await import('../bench/prng.ts');

const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const reps = Number(process.argv[2] ?? 40);
const st = buildLargeCluster(LARGE, largeClusterPolicies());
const mine: Engine = new (await engineOf(root))(st);
const other: Engine | undefined = base ? new (await engineOf(base))(st) as Engine : undefined;
let kind = '';
let flip = false;
const out: Record<string, { a: number; b: number }[]> = {};
st.onChange((ch) => {
  let a = 0, b = 0;
  const runA = () => { const c0 = cpu(); mine.update(ch); a = cpu() - c0; };
  const runB = () => { if (!other) return; const c0 = cpu(); other.update(ch); b = cpu() - c0; };
  if ((flip = !flip)) { runA(); runB(); } else { runB(); runA(); }
  (out[kind] ??= []).push({ a, b });
});
const r = prng(0xc0ffee);
for (let k = 0; k < reps; k++) {
  const i = r() % LARGE.pods;
  const pod = st.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
  kind = 'pod_relabel';
  st.upsertPod({ ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } });
  const ns = st.namespaces.get(`ns-${r() % LARGE.namespaces}`)!;
  kind = 'namespace_relabel';
  st.upsertNamespace({ ...ns, labels: { ...ns.labels, env: ns.labels.env === 'prod' ? 'staging' : 'prod' } });
}
const q = (s: readonly number[], f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
const line = (s: number[]) => {
  s.sort((x, y) => x - y);
  return `p50 ${q(s, 0.5).toFixed(1)} p90 ${q(s, 0.9).toFixed(1)} mean ${(s.reduce((x, y) => x + y, 0) / s.length).toFixed(1)} ms CPU`;
};
for (const [k, v] of Object.entries(out)) {
  const w = v.slice(2);
  let s = `${k}: ${line(w.map((x) => x.a))}`;
  if (other) {
    const ratios = w.filter((x) => x.b > 2).map((x) => x.a / x.b).sort((x, y) => x - y);
    s += ` | base ${line(w.map((x) => x.b))} | this / base per update: median ${ratios.length ? q(ratios, 0.5).toFixed(2) : '-'} (${ratios.length} updates over 2 ms)`;
  }
  console.log(s);
}
