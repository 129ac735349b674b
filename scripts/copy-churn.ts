// Update latency at the scale limits under a trickle of updates with the agent's WebAssembly
// copies between them (src/agent/wasm-copy.ts): the scale bench's cluster built in this process,
// then 40 remote pod relabels 60 ms apart, each followed by a copy of the snapshot. Modes: `none`
// (no copies), `new` (a new memory and instance per copy, as before the copier reused them) and
// `reuse` (each copy takes the last one's, as the agent does). Prints the relabels' wall p50 and
// max (the max of 40 includes cold first relabels) and the RSS at the end.
//   node --expose-gc --v8-pool-size=1 --import tsx scripts/copy-churn.ts none|new|reuse

import { CompiledEngine } from '../src/policy/compiler.ts';
import { ClusterState } from '../src/cluster/state.ts';
import { wasmCopyOf, type WasmSnapshot } from '../src/policy/wasm-snapshot.ts';
import { LOCAL_NODE, SCALE, isLocalPod, scaleObjects } from '../bench/scale-cluster.ts';
import { decodedClusterPolicy } from '../support/raw-objects.ts';
import { prng } from '../bench/prng.ts';

const mode = process.argv[2] ?? 'reuse';
if (!['none', 'new', 'reuse'].includes(mode)) throw new Error(`mode ${mode}: none, new or reuse`);
const spec = SCALE;
const state = new ClusterState();
state.batch(() => {
  for (const o of scaleObjects(spec)) state.upsert(o.kind, (o.kind === 'ClusterNetworkPolicy' ? decodedClusterPolicy(o.object) : o.object) as never);
});
const engine = new CompiledEngine(state, { localNode: LOCAL_NODE });
while (engine.pendingWork > 0) engine.converge();
state.onChange((ch) => {
  engine.update(ch);
  while (engine.pendingWork > 0) engine.converge();
});
let copy: WasmSnapshot | undefined = mode === 'none' ? undefined : wasmCopyOf(engine.snapshot());
const r = prng(7);
const times: number[] = [];
for (let k = 0; k < 40; k++) {
  let i = r() % spec.pods;
  while (isLocalPod(i, spec)) i = r() % spec.pods;
  const pod = state.pods.get(`ns-${i % spec.namespaces}/pod-${i}`)!;
  const t0 = performance.now();
  state.upsertPod({ ...pod, labels: { ...pod.labels, version: `v${(Number(pod.labels.version!.slice(1)) + 1) % 4}` } });
  times.push(performance.now() - t0);
  await new Promise((res) => setTimeout(res, 60));
  if (mode !== 'none') copy = wasmCopyOf(engine.snapshot(), mode === 'reuse' ? copy : undefined);
  await new Promise((res) => setImmediate(res));
}
const s = [...times].sort((a, b) => a - b);
console.log(JSON.stringify({ mode, relabel_p50_ms: +s[20]!.toFixed(2), relabel_max_ms: +s[39]!.toFixed(2), rss_mb: process.memoryUsage().rss >> 20, copy_bytes: copy?.bytes ?? 0 }));
