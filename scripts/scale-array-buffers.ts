// Where the scale bench's updates and idle steps allocate ArrayBuffer memory (V8 counts it as
// external memory and starts an incremental marking once it grew 64 MB since the last full
// collection: docs/speed-history.md, scale bench). Runs scripts/scale-updates-cpu.ts' changes at full scale with
// typed array constructors counting the bytes they allocate, by phase (the update, each kind of
// converge step) and by the allocating function; run under --trace-incremental-marking to see in
// which phase V8 started its markings.
//   node --expose-gc --import tsx scripts/scale-array-buffers.ts [scale divisor, default 1] [reps, default 6]
// PALISADE_ROOT=/path/to/other/checkout measures that tree's engine.

let phase = 'load';
const byPhase = new Map<string, number>();
const bySite = new Map<string, number>();
const SITE_MIN = 1 << 12;
function note(bytes: number): void {
  byPhase.set(phase, (byPhase.get(phase) ?? 0) + bytes);
  if (bytes >= SITE_MIN && phase !== 'load') {
    const st = (new Error().stack ?? '').split('\n').slice(3, 7).map((l) => l.trim().replace(/^at /, '').replace(/\(.*\/src\//, '(')).join(' < ');
    const k = `${phase}: ${st}`;
    bySite.set(k, (bySite.get(k) ?? 0) + bytes);
  }
}
for (const name of ['Int32Array', 'Uint32Array', 'Uint8Array', 'Uint16Array', 'Float64Array', 'Int16Array', 'Int8Array', 'BigInt64Array'] as const) {
  const Base = (globalThis as Record<string, unknown>)[name] as Int32ArrayConstructor;
  const C = class extends Base {
    constructor(...a: unknown[]) {
      super(...(a as []));
      if (!(a[0] instanceof ArrayBuffer) && !(typeof SharedArrayBuffer !== 'undefined' && a[0] instanceof SharedArrayBuffer)) note(this.byteLength);
    }
  };
  Object.defineProperty(C, 'name', { value: name });
  (globalThis as Record<string, unknown>)[name] = C;
}

const root = process.env.PALISADE_ROOT ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts');
const { ClusterState } = await import(`${root}/src/cluster/state.ts`) as typeof import('../src/cluster/state.ts');
const { idleGc } = await import(`${root}/src/agent/idle-gc.ts`) as typeof import('../src/agent/idle-gc.ts');
const sc = await import(`${root}/bench/scale-cluster.ts`) as typeof import('../bench/scale-cluster.ts');
const { prng } = await import('../bench/prng.ts');
const { ClusterPolicyChanges } = await import('../bench/large-cluster-policies.ts');
const { decodedClusterPolicy } = await import('../support/raw-objects.ts');
const { CNP_CHANGE_KEYS } = await import('../bench/scale-cluster.ts');

const div = Number(process.argv[2] ?? 1);
const reps = Number(process.argv[3] ?? 6);
const spec = { ...sc.SCALE, pods: sc.SCALE.pods / div, namespaces: sc.SCALE.namespaces / div, nodes: sc.SCALE.nodes / div };
const state = new ClusterState();
state.batch(() => {
  for (const o of sc.scaleObjects(spec)) state.upsert(o.kind, (o.kind === 'ClusterNetworkPolicy' ? decodedClusterPolicy(o.object) : o.object) as never);
});
const engine = new CompiledEngine(state, { localNode: sc.LOCAL_NODE });
type Eng = { tiers: { pendingChains: number; pendingWarm: number }; layout: { wasteful: boolean; cramped: boolean; crampedWithHoles?: boolean; buffers?: { reused: number; held: { buffers: number; bytes: number } } } };
const eng = engine as unknown as Eng;
let kind = '';
state.onChange((ch) => {
  phase = `update ${kind}`;
  engine.update(ch);
  while (engine.pendingWork > 0) {
    phase = eng.tiers.pendingChains > 0 ? 'converge chains' : eng.layout.wasteful || eng.layout.crampedWithHoles ? 'converge compact' : eng.layout.cramped ? 'converge makeRoom' : 'converge warm';
    if (phase !== 'converge warm' && phase !== 'converge chains') console.log(`-- ${kind}: ${phase}`);
    engine.converge();
  }
  phase = 'idleGc';
  idleGc();
  phase = 'between';
  const m = process.memoryUsage();
  console.log(`   array buffers ${(m.arrayBuffers / 1e6).toFixed(1)} MB, heap ${(m.heapUsed / 1e6).toFixed(0)} MB, arena used ${((eng as unknown as { layout: { used: number } }).layout.used * 4 / 1e6).toFixed(1)} MB`);
});
// The agent returns to the event loop between updates (and between converge steps); V8's tasks
// (finalization callbacks among them) run there.
const turn = () => new Promise<void>((res) => setImmediate(res));
const r = prng(0x5ca1e);
const cnpChanges = new ClusterPolicyChanges(r, spec.clusterPolicies);
for (let k = 0; k < reps + 2; k++) {
  let i = r() % spec.pods;
  while (sc.isLocalPod(i, spec)) i = r() % spec.pods;
  const pod = state.pods.get(`ns-${i % spec.namespaces}/pod-${i}`)!;
  kind = 'remote_pod_relabel'; console.log(`-- rep ${k} ${kind}`);
  state.upsertPod({ ...pod, labels: { ...pod.labels, version: `v${(Number(pod.labels.version!.slice(1)) + 1) % 4}` } });
  await turn();
  kind = 'local_pod_add'; console.log(`-- rep ${k} ${kind}`);
  state.upsertPod({ ...sc.scalePod(spec.pods + k, spec), nodeName: sc.LOCAL_NODE });
  await turn();
  kind = 'policy_update'; console.log(`-- rep ${k} ${kind}`);
  state.upsertPolicy(sc.scalePolicy(r() % spec.namespaces, r() % spec.policiesPerNamespace, 1 + (k % 3)));
  await turn();
  for (const ch of cnpChanges.round(k)) {
    kind = CNP_CHANGE_KEYS[ch.kind]; console.log(`-- rep ${k} ${kind}`);
    if (ch.kind === 'delete') state.delete('ClusterNetworkPolicy', ch.id);
    else state.upsert('ClusterNetworkPolicy', decodedClusterPolicy(ch.policy));
    await turn();
  }
}
console.log(`arena buffers reused: ${eng.layout.buffers?.reused ?? '-'}, free ${JSON.stringify(eng.layout.buffers?.held)}`);
console.log("bytes allocated by phase (MB):");
for (const [p, b] of [...byPhase].sort((a, b) => b[1] - a[1])) console.log(`  ${p}: ${(b / 1e6).toFixed(1)}`);
console.log(`allocations of >= ${SITE_MIN} bytes by site (MB):`);
for (const [s, b] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(b / 1e6).toFixed(1)}  ${s}`);
