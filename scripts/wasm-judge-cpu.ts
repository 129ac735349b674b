// CPU per judgement of the WebAssembly copies (src/policy/wasm-snapshot.ts) of the large cluster's
// snapshot without and with its cluster policies, on the first N of the bench's tuples for N =
// 100, 1,000, 10,000 and 100,000: with few tuples everything the judge reads stays in the caches,
// so the small-N figures are its instructions and the growth with N its cache misses. Best of 5
// rounds of 2 M judgements, through Snapshot-shaped calls from JavaScript (as the classifier makes).
//   node --expose-gc --v8-pool-size=1 --import tsx scripts/wasm-judge-cpu.ts

import { CompiledEngine } from '../src/policy/compiler.ts';
import { wasmCopyOf, type WasmSnapshot } from '../src/policy/wasm-snapshot.ts';
import { judgeInput, judgeLoop, largeTuples } from '../bench/suite.ts';
import { LARGE, buildLargeCluster } from '../bench/large-cluster.ts';
import { largeClusterPolicies } from '../bench/large-cluster-policies.ts';

const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) * 1000; };
const copies: WasmSnapshot[] = [false, true].map((cnp) => wasmCopyOf(new CompiledEngine(buildLargeCluster(LARGE, cnp ? largeClusterPolicies() : [])).snapshot())!);
for (const n of [100, 1000, 10_000, 100_000]) {
  const input = judgeInput(largeTuples(n, 0x5eed));
  const res: string[] = [];
  copies.forEach((c, i) => {
    judgeLoop(c, input, 300_000);
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const t0 = cpu();
      judgeLoop(c, input, 2_000_000);
      best = Math.min(best, (cpu() - t0) / 2_000_000);
    }
    res.push(`${i ? 'with' : 'without'} cluster policies ${best.toFixed(1)} ns`);
  });
  console.log(`${n} tuples: ${res.join(', ')}`);
}
