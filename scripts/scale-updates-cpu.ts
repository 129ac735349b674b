// The scale bench's engine work (bench/scale.ts: same cluster, same changes in the same order)
// in CPU time of this process, without the fake API server: full compiles, then per rep a remote
// pod relabel, a local pod add, a NetworkPolicy update, the cluster policy changes (a priority
// change, a rule edit, a delete and its re-add: ClusterPolicyChanges) and a node relabel, each
// with the tables it built. The cluster policies reach the state decoded from the API's JSON,
// as in the bench (the other objects as model objects: they decode back to themselves). On a
// shared VM wall time runs 3-12x CPU time, so this is what compares two trees:
// PALISADE_ROOT=/path/to/other/checkout runs that tree's engine on this tree's changes.
//   node --expose-gc --import tsx scripts/scale-updates-cpu.ts [scale divisor, default 5] [reps, default 8] [alloc]
// With `alloc`, each update starts after a full GC and also reports what it allocated (heap
// used plus array buffers, after minus before; a scavenge inside the update would hide some: run
// it with --max-semi-space-size=64). Its CPU figures then exclude the GC debt earlier updates left.

const root = process.env.PALISADE_ROOT ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts');
const { ClusterState } = await import(`${root}/src/cluster/state.ts`) as typeof import('../src/cluster/state.ts');
const sc = await import(`${root}/bench/scale-cluster.ts`) as typeof import('../bench/scale-cluster.ts');
// The changes and their keys come from this tree, so another tree's engine gets the same ones.
const { prng } = await import('../bench/prng.ts');
const { ClusterPolicyChanges } = await import('../bench/large-cluster-policies.ts');
const { decodedClusterPolicy } = await import('../support/raw-objects.ts');
const { CNP_CHANGE_KEYS } = await import('../bench/scale-cluster.ts');

const div = Number(process.argv[2] ?? 5);
const reps = Number(process.argv[3] ?? 8);
const alloc = process.argv[4] === 'alloc';
const spec = { ...sc.SCALE, pods: sc.SCALE.pods / div, namespaces: sc.SCALE.namespaces / div, nodes: sc.SCALE.nodes / div };
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const state = new ClusterState();
state.batch(() => {
  for (const o of sc.scaleObjects(spec)) state.upsert(o.kind, (o.kind === 'ClusterNetworkPolicy' ? decodedClusterPolicy(o.object) : o.object) as never);
});
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
gc();
let t = cpu();
const engine = new CompiledEngine(state, { localNode: sc.LOCAL_NODE });
const first = cpu() - t;
gc();
t = cpu();
new CompiledEngine(state, { localNode: sc.LOCAL_NODE });
const second = cpu() - t;
const s = engine.stats();
console.log(`${root}: ${spec.pods} pods, ${spec.nodes} nodes: full compile ${first.toFixed(0)} ms CPU (cold), ${second.toFixed(0)} ms (second); ${s.tables} tables (${s.tierTables ?? '?'} tier tables), ${(s.tableBytes / 1e6).toFixed(1)} MB`);
let last = 0, built = 0, allocated = 0;
const used = () => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
state.onChange((ch) => {
  if (alloc) gc();
  const b0 = engine.stats().tablesBuilt;
  const u0 = alloc ? used() : 0;
  const c0 = cpu();
  engine.update(ch);
  last = cpu() - c0;
  allocated = alloc ? used() - u0 : 0;
  built = engine.stats().tablesBuilt - b0;
  // The agent builds the tables an update left as chains right after it, in idle time (Agent.scheduleConverge).
  const eng = engine as { pendingWork?: number; pendingChains?: number; converge?: () => unknown };
  while ((eng.pendingWork ?? eng.pendingChains ?? 0) > 0) eng.converge!();
});
const times: Record<string, number[]> = {};
const tables: Record<string, number[]> = {};
const allocs: Record<string, number[]> = {};
const rec = (k: string, warm: boolean) => {
  if (!warm) return;
  (times[k] ??= []).push(last);
  (tables[k] ??= []).push(built);
  (allocs[k] ??= []).push(allocated);
};
const r = prng(0x5ca1e);
const cnpChanges = new ClusterPolicyChanges(r, spec.clusterPolicies);
for (let k = 0; k < reps + 2; k++) {
  const warm = k >= 2;
  let i = r() % spec.pods;
  while (sc.isLocalPod(i, spec)) i = r() % spec.pods;
  const pod = state.pods.get(`ns-${i % spec.namespaces}/pod-${i}`)!;
  state.upsertPod({ ...pod, labels: { ...pod.labels, version: `v${(Number(pod.labels.version!.slice(1)) + 1) % 4}` } }); rec('remote_pod_relabel', warm);
  state.upsertPod({ ...sc.scalePod(spec.pods + k, spec), nodeName: sc.LOCAL_NODE }); rec('local_pod_add', warm);
  state.upsertPolicy(sc.scalePolicy(r() % spec.namespaces, r() % spec.policiesPerNamespace, 1 + (k % 3))); rec('policy_update', warm);
  for (const ch of cnpChanges.round(k)) {
    if (ch.kind === 'delete') state.delete('ClusterNetworkPolicy', ch.id);
    else state.upsert('ClusterNetworkPolicy', decodedClusterPolicy(ch.policy));
    rec(CNP_CHANGE_KEYS[ch.kind], warm);
  }
  const node = state.nodes.get(`node-${1 + (r() % (spec.nodes - 1))}`)!;
  state.upsertNode({ ...node, labels: { ...node.labels, 'bench/touched': `${k}` } }); rec('node_relabel', warm);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
for (const k of Object.keys(times)) {
  const mb = alloc ? `, allocated p50 ${(med(allocs[k]!) / 1e6).toFixed(2)} MB, max ${(Math.max(...allocs[k]!) / 1e6).toFixed(2)}` : '';
  // CPU per table built, over the updates that built some (what a change costs per table holding the policy).
  const per = times[k]!.flatMap((ms, i) => (tables[k]![i]! > 0 ? [ms / tables[k]![i]!] : []));
  const pt = per.length ? `, ${med(per).toFixed(1)} ms per table (median)` : '';
  console.log(`${k}: p50 ${med(times[k]!).toFixed(1)} ms CPU, max ${Math.max(...times[k]!).toFixed(1)}${mb}, tables built ${tables[k]!.join(' ')}${pt}`);
}
