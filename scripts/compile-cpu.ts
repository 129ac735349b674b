// Full compile CPU time of the two compile targets, without the fake API server or the packet
// rounds: the scale cluster (bench/scale-cluster.ts, divided by the first argument) and the
// large cluster with its cluster policies (bench/cluster-large.ts's state, compiled after the
// cluster without them, as there). Each compile is a
// new CompiledEngine over the same state; the first in the process runs cold. On a shared VM
// wall time runs 3-12x CPU time, so this is what compares two trees: PALISADE_ROOT=/path/to/
// other/checkout runs that tree's code.
//   node --expose-gc --import tsx scripts/compile-cpu.ts scale|cluster [scale divisor, default 5] [compiles, default 3]

const root = process.env.PALISADE_ROOT ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts');
const { ClusterState } = await import(`${root}/src/cluster/state.ts`) as typeof import('../src/cluster/state.ts');

const which = process.argv[2] ?? 'scale';
const div = Number(process.argv[3] ?? 5);
const n = Number(process.argv[4] ?? 3);
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

let state: InstanceType<typeof ClusterState>;
let localNode: string | undefined;
if (which === 'scale') {
  const sc = await import(`${root}/bench/scale-cluster.ts`) as typeof import('../bench/scale-cluster.ts');
  const spec = { ...sc.SCALE, pods: sc.SCALE.pods / div, namespaces: sc.SCALE.namespaces / div, nodes: sc.SCALE.nodes / div };
  state = new ClusterState();
  state.batch(() => {
    for (const o of sc.scaleObjects(spec)) state.upsert(o.kind, o.object as never);
  });
  localNode = sc.LOCAL_NODE;
} else {
  const lc = await import(`${root}/bench/large-cluster.ts`) as typeof import('../bench/large-cluster.ts');
  const lp = await import(`${root}/bench/large-cluster-policies.ts`) as typeof import('../bench/large-cluster-policies.ts');
  // As bench/cluster-large.ts: the cluster without cluster policies compiles first.
  const without = lc.buildLargeCluster(lc.LARGE);
  gc();
  const t = cpu();
  new CompiledEngine(without);
  console.log(`${root} cluster without cluster policies: ${(cpu() - t).toFixed(0)} ms CPU`);
  state = lc.buildLargeCluster(lc.LARGE, lp.largeClusterPolicies());
}
const out: string[] = [];
for (let k = 0; k < n; k++) {
  gc();
  const t = cpu();
  const e = new CompiledEngine(state, localNode === undefined ? {} : { localNode });
  out.push((cpu() - t).toFixed(0));
  if (k === n - 1) {
    const s = e.stats();
    out.push(`(${s.tables} tables, ${(s.tableBytes / 1e6).toFixed(1)} MB)`);
  }
}
console.log(`${root} ${which}${which === 'scale' ? ` /${div}` : ''}: full compiles, ms CPU: ${out.join(' ')}`);
