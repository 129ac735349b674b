// Child process for the compiled engine's zero-allocation check (needs --expose-gc):
//   node --expose-gc --import tsx support/judge-alloc-probe.ts [calls] [seed] [tables|chains] [js|wasm]
// Compiles a random dual-stack cluster (ipBlocks with excepts, named ports, selectors of every
// kind), precomputes connection tuples into typed arrays, warms judge4/judge6 up, then makes
// `calls` judge calls and prints one JSON line: heap growth across the loop (no forced GC in
// between) and the number of GCs that ran during it. One heap number or object per call would
// be >= 16 bytes a call, i.e. tens of megabytes and several scavenges over a million calls.
// With `chains`, the cluster policies arrive as an update to an engine compiled without them and
// with chainAbove 0, so every Admin and Baseline word of the measured snapshot is a chain of
// per-policy tables (tier-tables.ts) instead of a table. With `wasm`, the snapshot's WebAssembly
// copy (src/policy/wasm-snapshot.ts) judges.

import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../src/cluster/model.ts';
import { parseIP } from '../src/net/address.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { WasmSnapshot, wasmCopyOf } from '../src/policy/wasm-snapshot.ts';
import { Rng, probeAddresses, randomCluster, randomProbe, stateOf } from './random-cluster.ts';
import { exposedGc, measureHeap } from './heap-measure.ts';

const calls = Number(process.argv[2] ?? 2_000_000);
const seed = Number(process.argv[3] ?? 7);
exposedGc();

const r = new Rng(seed);
// Cluster policies of both tiers too, so tables with Admin and Baseline rules (and the node
// exemption applied after the lookup) are on the measured path.
const c = randomCluster(r, { namespaces: 4, pods: 200, policies: 40, clusterPolicies: 6 });
const state = stateOf(c);
const chains = process.argv[4] === 'chains';
const held = [...state.clusterPolicies.values()];
if (chains) state.batch(() => { for (const [k] of [...state.clusterPolicies]) state.delete('ClusterNetworkPolicy', k); });
const engine = new CompiledEngine(state, chains ? { chainAbove: 0 } : {});
if (chains) {
  state.onChange((ch) => engine.update(ch));
  state.batch(() => { for (const p of held) state.upsert('ClusterNetworkPolicy', p); });
}
const snap = process.argv[5] === 'wasm' ? wasmCopyOf(engine.snapshot())! : engine.snapshot();

const N = 4096;
const fam = new Uint8Array(N);
// Address words as the classifier should hand them over: int32 (readInt32BE or `| 0`). A uint32
// above 2^31 passed to a function V8 does not inline is boxed by the caller before the engine
// even runs; the engine itself converts to int32 on entry for the calls it makes.
const words = new Int32Array(N * 8);
const proto = new Int32Array(N);
const port = new Int32Array(N);
const addrs = probeAddresses(state, c.outside);
const protos = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP];
for (let i = 0; i < N; i++) {
  const p = randomProbe(r, addrs);
  const s = parseIP(p.src)!, d = parseIP(p.dst)!;
  fam[i] = s.family === 'IPv4' ? 4 : 6;
  for (let w = 0; w < s.words.length; w++) { words[i * 8 + w] = s.words[w]!; words[i * 8 + 4 + w] = d.words[w]!; }
  proto[i] = protos[i % 4]!;
  port[i] = proto[i] === IPPROTO_ICMP ? 0 : p.port;
}

function run(count: number): number {
  let acc = 0;
  for (let j = 0; j < count; j++) {
    const i = j & (N - 1);
    const o = i * 8;
    const ok = fam[i] === 4
      ? snap.judge4(words[o]!, words[o + 4]!, proto[i]!, port[i]!)
      : snap.judge6(words[o]!, words[o + 1]!, words[o + 2]!, words[o + 3]!, words[o + 4]!, words[o + 5]!, words[o + 6]!, words[o + 7]!, proto[i]!, port[i]!);
    acc += (ok ? 1 : 0) + snap.egressCode + snap.ingressCode + snap.srcSlot + snap.dstSlot;
  }
  return acc;
}

run(500_000);
let ns = 0;
let cpu = { user: 0, system: 0 };
const { value: acc, heapDelta, gcs } = await measureHeap(() => {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const a = run(calls);
  ns = Number(process.hrtime.bigint() - t0);
  cpu = process.cpuUsage(cpu0);
  return a;
});
process.stdout.write(JSON.stringify({
  calls, seed, pods: engine.stats().pods, tables: engine.stats().tables, chains: engine.stats().tierChains,
  judge: snap instanceof WasmSnapshot ? 'wasm' : 'js', heapDelta, gcs, nsPerJudge: Math.round((ns / calls) * 10) / 10,
  cpuNsPerJudge: Math.round((((cpu.user + cpu.system) * 1000) / calls) * 10) / 10, acc,
}) + '\n');
