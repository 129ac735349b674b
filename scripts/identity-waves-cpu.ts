// New identities one update at a time, past the room tier and NetworkPolicy table images keep for
// their selector classes (table-arena.ts selRoomFor): how the copies of tables that ran out spread
// over the updates. Each update relabels a remote pod with a label value no pod had (a new
// identity every pod-selecting guardrail classifies), in the scale bench's cluster (bench/scale-cluster.ts).
// CPU time of this process; PALISADE_ROOT=/path/to/other/checkout runs that tree's code.
//   node --expose-gc --import tsx scripts/identity-waves-cpu.ts [scale divisor, default 5] [updates, default 400]

const root = process.env.PALISADE_ROOT ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts');
const { ClusterState } = await import(`${root}/src/cluster/state.ts`) as typeof import('../src/cluster/state.ts');
const sc = await import(`${root}/bench/scale-cluster.ts`) as typeof import('../bench/scale-cluster.ts');
const { prng } = await import(`${root}/bench/prng.ts`) as typeof import('../bench/prng.ts');

const div = Number(process.argv[2] ?? 5);
const updates = Number(process.argv[3] ?? 400);
const spec = { ...sc.SCALE, pods: sc.SCALE.pods / div, namespaces: sc.SCALE.namespaces / div, nodes: sc.SCALE.nodes / div };
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const state = new ClusterState();
state.batch(() => {
  for (const o of sc.scaleObjects(spec)) state.upsert(o.kind, o.object as never);
});
const engine = new CompiledEngine(state, { localNode: sc.LOCAL_NODE });
const s0 = engine.stats();
const times: number[] = [], copies: number[] = [];
state.onChange((ch) => {
  const a = engine.stats();
  const c0 = cpu();
  engine.update(ch);
  times.push(cpu() - c0);
  const b = engine.stats();
  copies.push(b.tablesExtended - a.tablesExtended - (b.tablesExtendedInPlace - a.tablesExtendedInPlace));
});
const r = prng(0x3a7e5);
for (let k = 0; k < updates; k++) {
  let i = r() % spec.pods;
  while (sc.isLocalPod(i, spec)) i = r() % spec.pods;
  const pod = state.pods.get(`ns-${i % spec.namespaces}/pod-${i}`)!;
  state.upsertPod({ ...pod, labels: { ...pod.labels, wave: `w${k}` } });
}
const s = [...times].sort((x, y) => x - y);
const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!.toFixed(1);
const total = times.reduce((x, y) => x + y, 0);
console.log(`${root}: ${spec.pods} pods, ${s0.identities} -> ${engine.stats().identities} identities, ${s0.tables} tables`);
console.log(`update CPU ms: p50 ${at(0.5)}, p99 ${at(0.99)}, max ${at(1)}, total ${total.toFixed(0)}`);
console.log(`tables copied (room ran out): ${copies.reduce((x, y) => x + y, 0)} in all, at most ${Math.max(...copies)} in one update, ${copies.filter((c) => c > 0).length} updates with any`);
