// Probe: where a cluster policy change's update time goes on the cluster-large bench (same
// changes, same order as bench/cluster-large.ts, converging after each update as it does).
// Wraps engine methods with wall timers and correlates GC pauses (PerformanceObserver) to updates.
//   node --expose-gc --import tsx scripts/cnp-phases.ts [reps]
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { PhaseTimers } from './phase-timers.ts';
const root = process.env.PALISADE_ROOT ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`);
const { TierTables } = await import(`${root}/src/policy/tier-tables.ts`);
const { TierLinks } = await import(`${root}/src/policy/tier-links.ts`);
const { TierKeys } = await import(`${root}/src/policy/tier-keys.ts`);
const { ClusterPolicyIndex } = await import(`${root}/src/policy/cluster-index.ts`);
const { SlotRecords } = await import(`${root}/src/policy/slot-records.ts`);
const { clusterPolicyId } = await import('../src/cluster/model.ts');
const { LARGE, buildLargeCluster, largePod, largePolicy } = await import('../bench/large-cluster.ts');
const { LARGE_CLUSTER_POLICIES, largeClusterPolicies, largeClusterPolicy } = await import('../bench/large-cluster-policies.ts');
const { prng } = await import('../bench/prng.ts');

// CPU ms of the process (GC helper threads included) unless PHASE_WALL=1.
const now = process.env.PHASE_WALL ? () => performance.now() : () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const timers = new PhaseTimers('cnp-phases', now);
const phases = timers.totals;
const wrap = (proto: object, name: string, label: string) => timers.wrap(proto, name, label);
const used = () => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
const gcFirst = process.env.GC_FIRST === '1';
const opts = process.env.CHAIN_ABOVE !== undefined ? { chainAbove: Number(process.env.CHAIN_ABOVE) } : {};
wrap(ClusterPolicyIndex.prototype, 'set', 'index.set');
wrap(TierTables.prototype, 'policiesChanged', 'tiers.policiesChanged');
wrap(TierTables.prototype, 'flush', 'tiers.flush');
wrap(TierTables.prototype, 'buildTable', ' buildTable');
wrap(TierTables.prototype, 'chain', ' chain');
wrap(TierLinks.prototype, 'take', '  link');
wrap(ClusterPolicyIndex.prototype, 'selectingByIdentity', ' selectingByIdentity');
wrap(TierKeys.prototype, 'keyOf', ' keyOf');
wrap(TierKeys.prototype, 'listOf', ' listOf');
wrap(TierTables.prototype, 'unset', ' unset');
wrap(TierTables.prototype, 'evict', ' evict');
wrap(TierTables.prototype, 'build', ' build');
const { TableLayout } = await import(`${root}/src/policy/table-layout.ts`);
wrap(TableLayout.prototype, 'reserve', ' reserve');
wrap(TableLayout.prototype, 'place', ' place');
wrap(CompiledEngine.prototype, 'publish', 'publish');
wrap(SlotRecords.prototype, 'publish', ' records.publish');
wrap(CompiledEngine.prototype, 'compactTables', ' compactTables');

const gcs: { start: number; dur: number; kind: number }[] = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push({ start: e.startTime, dur: e.duration, kind: (e as unknown as { detail: { kind: number } }).detail?.kind }); }).observe({ entryTypes: ['gc'] });

const reps = Number(process.argv[2] ?? 12);
const st = buildLargeCluster(LARGE, largeClusterPolicies());
const eng = new CompiledEngine(st, opts);
const windows: { kind: string; k: number; t0: number; t1: number; cpu: number; ph: Map<string, number> }[] = [];
let curKind = '', curK = 0;
st.onChange((ch: unknown) => {
  if (gcFirst) (globalThis as { gc: () => void }).gc();
  phases.clear();
  const s0 = eng.stats();
  const u0 = used();
  const t0 = performance.now(), c0 = now();
  eng.update(ch);
  const t1 = performance.now();
  const c1 = now();
  phases.set('allocMB', (used() - u0) / 1e6);
  const s1 = eng.stats();
  phases.set('#links', (s1.chainLinksBuilt ?? 0) - (s0.chainLinksBuilt ?? 0));
  phases.set('#built', s1.tablesBuilt - s0.tablesBuilt);
  phases.set('#chains', (s1.chainsMade ?? 0) - (s0.chainsMade ?? 0));
  windows.push({ kind: curKind, k: curK, t0, t1, cpu: c1 - c0, ph: new Map(phases) });
  while ((eng.pendingWork ?? eng.pendingChains) > 0) eng.converge();
  if (process.env.IDLE_GC) (globalThis as unknown as { gc: (o?: unknown) => void }).gc({ type: process.env.IDLE_GC });
});
const r = prng(0xc0ffee);
const nCnp = LARGE_CLUSTER_POLICIES.admin + LARGE_CLUSTER_POLICIES.baseline;
for (let k = 0; k < reps + 2; k++) {
  curK = k;
  curKind = 'pod_add'; st.upsertPod(largePod(LARGE.pods + k));
  const i = r() % LARGE.pods;
  const pod = st.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
  curKind = 'pod_relabel'; st.upsertPod({ ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } });
  const ns = st.namespaces.get(`ns-${r() % LARGE.namespaces}`)!;
  curKind = 'namespace_relabel'; st.upsertNamespace({ ...ns, labels: { ...ns.labels, env: ns.labels.env === 'prod' ? 'staging' : 'prod' } });
  curKind = 'policy_update'; st.upsertPolicy(largePolicy(r() % LARGE.namespaces, r() % LARGE.policiesPerNamespace, 1 + (k % 3)));
  let c = r() % nCnp;
  curKind = 'cnp_priority'; st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c, { priorityShift: 1 + (k % 14) }));
  c = r() % nCnp;
  curKind = 'cnp_rule_edit'; st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c, { editRule: r(), edit: 1 + (k % 3) }));
  c = r() % nCnp;
  curKind = 'cnp_delete'; st.delete('ClusterNetworkPolicy', clusterPolicyId(largeClusterPolicy(c)));
  curKind = 'cnp_add'; st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c));
}
await new Promise((res) => setTimeout(res, 100));
const verbose = process.env.VERBOSE === '1';
const sums = new Map<string, Map<string, number[]>>();
for (const w of windows) {
  if (!w.kind.startsWith('cnp_') || w.k < 2) continue;
  let m = sums.get(w.kind);
  if (!m) sums.set(w.kind, (m = new Map()));
  const g = gcs.filter((x) => x.start < w.t1 && x.start + x.dur > w.t0).reduce((s, x) => s + x.dur, 0);
  for (const [k, v] of [['cpu', w.cpu], ['wall', w.t1 - w.t0], ['gcwall', g], ...w.ph] as [string, number][]) {
    let a = m.get(k.trim());
    if (!a) m.set(k.trim(), (a = []));
    a.push(v);
  }
}
for (const [kind, m] of sums) {
  const cpu = m.get('cpu')!;
  const n = cpu.length;
  const line = [...m].map(([k, a]) => { const s = [...a].sort((x, y) => x - y); return `${k} ${s[s.length >> 1]!.toFixed(1)}/${s[s.length - 1]!.toFixed(1)}/${(a.reduce((x, y) => x + y, 0) / n).toFixed(1)}`; }).join('  ');
  console.log(`${kind} (n=${n}; p50/max/mean ms): ${line}`);
}
for (const w of verbose ? windows : []) {
  if (!w.kind.startsWith('cnp_') || w.k < 2) continue;
  const g = gcs.filter((x) => x.start < w.t1 && x.start + x.dur > w.t0);
  const gms = g.reduce((s, x) => s + x.dur, 0);
  const ph = [...w.ph].map(([k, v]) => `${k.trim()}=${v.toFixed(1)}`).join(' ');
  console.log(`${w.kind.padEnd(14)} k=${w.k} ${(w.t1 - w.t0).toFixed(1).padStart(6)} ms  gc ${gms.toFixed(1)} (${g.map((x) => `${x.kind}:${x.dur.toFixed(1)}`).join(',')})  ${ph}`);
}
