// The scale bench's watch events (bench/scale.ts: bursts of pods relabelled `burst: b0/b1`) and
// its remote relabel and NetworkPolicy update, in one process without the fake API server, in
// CPU time of the path an event takes after the watch: KubeApplier (decode, compare, state)
// and the engine update. The cluster is the scale cluster (bench/scale-cluster.ts) at `pods`
// pods, decoded from its API JSON as the agent would get it. On a shared VM whose load makes
// wall time run many times CPU time, this is what compares two trees.
//   node --import tsx scripts/scale-watch-cpu.ts [pods=10000] [bursts=20] [perBurst=50]

import { ClusterState } from '../src/cluster/state.ts';
import { decodeAs } from '../src/cluster/decode.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { KubeApplier } from '../src/sources/kube-apply.ts';
import { rawObject, rawPod } from '../support/raw-objects.ts';
import { LOCAL_NODE, isLocalPod, scaleObjects, scalePod, scalePolicy, scaleSpecFor } from '../bench/scale-cluster.ts';
import { prng } from '../bench/prng.ts';

const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const pods = Number(process.argv[2] ?? 10_000);
const bursts = Number(process.argv[3] ?? 20);
const perBurst = Number(process.argv[4] ?? 50);
const spec = scaleSpecFor(pods);
const state = new ClusterState();
state.batch(() => {
  for (const o of scaleObjects(spec)) {
    const d = decodeAs(o.kind, rawObject(o), 'scale');
    if (d.kind === 'invalid' || d.kind === 'ignored') throw new Error(`scale object does not decode: ${JSON.stringify(d)}`);
    state.upsertDecoded(d);
  }
});
let c0 = cpu();
const engine = new CompiledEngine(state, { localNode: LOCAL_NODE });
console.log(`${pods} pods: compile ${(cpu() - c0).toFixed(0)} ms CPU, ${engine.stats().identities} identities, ${engine.stats().tables} tables`);
let last = 0;
state.onChange((ch) => {
  const u0 = cpu();
  engine.update(ch);
  last = cpu() - u0;
});

const r = prng(0x5ca1e);
const relabel: number[] = [], policy: number[] = [];
for (let k = 0; k < 12; k++) {
  let i = r() % spec.pods;
  while (isLocalPod(i, spec)) i = r() % spec.pods;
  const pod = state.pods.get(`ns-${i % spec.namespaces}/pod-${i}`)!;
  state.upsertPod({ ...pod, labels: { ...pod.labels, version: `v${(Number(pod.labels.version!.slice(1)) + 1) % 4}` } });
  relabel.push(last);
  state.upsertPolicy(scalePolicy(r() % spec.namespaces, r() % spec.policiesPerNamespace, 1 + (k % 3)));
  policy.push(last);
}
const fmt = (a: number[]) => a.slice(2).map((x) => x.toFixed(1)).join(' ');
console.log(`remote pod relabel, engine CPU ms (after 2 warm-up): ${fmt(relabel)}`);
console.log(`NetworkPolicy update, engine CPU ms: ${fmt(policy)}`);

const applier = new KubeApplier(() => {});
let rv = 1_000_000;
const perBurstCpu: number[] = [];
c0 = cpu();
for (let b = 0; b < bursts; b++) {
  const raws = [];
  for (let x = 0; x < perBurst; x++) {
    let i = ((b * perBurst + x) * 7) % spec.pods;
    if (isLocalPod(i, spec)) i = (i + 1) % spec.pods;
    const p = scalePod(i, spec);
    const raw = rawPod({ ...p, labels: { ...p.labels, burst: `b${b % 2}` } });
    raw.metadata.resourceVersion = String(rv++);
    raws.push({ key: `${p.namespace}/${p.name}`, raw });
  }
  // Only the applier and the engine are timed (making the raw objects is the API server's part).
  const b0 = cpu();
  for (const { key, raw } of raws) applier.enqueue({ kind: 'Pod', key, raw });
  applier.applyAll(state);
  perBurstCpu.push(cpu() - b0);
}
const total = perBurstCpu.reduce((a, b) => a + b, 0);
console.log(`watch bursts of ${perBurst}, applier + engine CPU ms: ${perBurstCpu.map((x) => x.toFixed(1)).join(' ')}`);
console.log(`events per CPU-second (applier + engine): ${((bursts * perBurst) / (total / 1000)).toFixed(0)}; all CPU of the phase ${(cpu() - c0).toFixed(0)} ms`);
