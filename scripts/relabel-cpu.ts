// The cluster-large bench's relabels (bench/cluster-large.ts: a pod relabel, then a namespace
// relabel, per rep, same draws), CPU ms per update; alone, or with --bench the bench's whole
// round (pod add, NetworkPolicy update, cluster-policy priority change, rule edit, delete and
// re-add, each converged; untimed), whose rebuilt tier tables each relabel then meets fresh. With PALISADE_BASE=/other/checkout, that tree's
// engine is fed the same changes in the same process, the two alternating which goes first, and
// the per-update ratio (this / base) is printed: on a shared VM whose load moves CPU times by
// 20-40 % between runs, that is what compares two trees.
//   [PALISADE_BASE=/path/to/other/checkout] node --expose-gc --import tsx scripts/relabel-cpu.ts [reps, default 40] [--bench]
// Prints per kind p50 / p90 / mean over reps 3.. (updates with a new identity and without alike).

const root = process.env.PALISADE_THIS ?? new URL('..', import.meta.url).pathname;
const base = process.env.PALISADE_BASE;
type Engine = { update(ch: unknown): unknown; converge(): unknown; readonly pendingWork: number };
const engineOf = async (dir: string) => (await import(`${dir}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts')).CompiledEngine;
const { LARGE, buildLargeCluster } = await import('../bench/large-cluster.ts');
const { largeClusterPolicies } = await import('../bench/large-cluster-policies.ts');
const { updateRound } = await import('../bench/update-round.ts');
const { prng } = await import('../bench/prng.ts');
const { runIdleSteps } = await import('../bench/idle-steps.ts');

const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const args = process.argv.slice(2);
const bench = args.includes('--bench');
const reps = Number(args.find((a) => !a.startsWith('--')) ?? 40);
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
  // As the agent does in idle time (and the bench untimed), after every update: every idle
  // step (chains, deferred tables, the arena's growth or compaction), then the collection
  // (bench/idle-steps.ts; without it the garbage of the idle steps was scavenged in the next
  // update, which the agent and the bench never see).
  for (const e of other ? [mine, other] : [mine]) runIdleSteps(e);
  if (kind) (out[kind] ??= []).push({ a, b });
});
const r = prng(0xc0ffee);
for (let k = 0; k < reps; k++) updateRound(st, r, k, { before: (kd) => { kind = kd === 'pod_relabel' || kd === 'namespace_relabel' ? kd : ''; } }, !bench);
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
    // The heaviest updates (the rows' p99): those whose CPU, the two trees' mean, is in the top quarter.
    const heavy = [...w].sort((x, y) => (y.a + y.b) - (x.a + x.b)).slice(0, Math.max(1, w.length >> 2));
    const hr = heavy.map((x) => x.a / x.b).sort((x, y) => x - y);
    s += `; top quarter: median ${q(hr, 0.5).toFixed(2)}, summed ${(heavy.reduce((x, y) => x + y.a, 0) / heavy.reduce((x, y) => x + y.b, 0)).toFixed(2)} (${heavy.length} updates)`;
  }
  console.log(s);
}
