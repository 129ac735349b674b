// The cluster-large bench's classify ratio (with / without cluster policies) measured two ways, in
// sets run in turn: each engine alone in a process of its own, as an agent holds one, and both
// engines in one process with their rounds interleaved, as bench/cluster-large.ts does. Each way
// classifies the bench's packets (bench/suite.ts largeTuples) with the engine's WebAssembly copy
// through bench/cluster-large.ts's classifyLoop: 6 rounds of 666,667 packets after a warm-up,
// each round's collection swept first, the median CPU ns a packet. Prints a line per set and the
// medians over the sets (docs/speed-history.md, "One process or two").
//   node --expose-gc --v8-pool-size=1 --import tsx scripts/classify-processes.ts [sets, default 4]

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { wasmCopyOf } from '../src/policy/wasm-snapshot.ts';
import { Classifier } from '../src/dataplane/classifier.ts';
import { finishSweeping } from '../src/agent/idle-gc.ts';
import { largeTuples } from '../bench/suite.ts';
import { LARGE, buildLargeCluster } from '../bench/large-cluster.ts';
import { largeClusterPolicies } from '../bench/large-cluster-policies.ts';
import { classifyLoop } from '../bench/cluster-large.ts';
import { pack, packet } from '../support/packets.ts';

type Variant = 'without' | 'with';
const child = process.argv.find((a) => a.startsWith('--child='))?.slice('--child='.length);

/** In a child: the variants named ('without', 'with' or 'both'), median CPU ns a packet each, as JSON. */
function measure(which: string): void {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) * 1000; };
  const tuples = largeTuples(100_000, 0x5eed);
  const s = { ...pack(tuples.map((t) => packet(t.src, t.dst, t.proto, t.sport, t.dport))), n: tuples.length };
  const names: Variant[] = which === 'both' ? ['without', 'with'] : [which as Variant];
  const vs = names.map((name) => {
    const snap = new CompiledEngine(buildLargeCluster(LARGE, name === 'with' ? largeClusterPolicies() : [])).snapshot();
    const copy = wasmCopyOf(snap);
    if (!copy) throw new Error('classify-processes: no WebAssembly copy of the snapshot');
    return { name, cls: new Classifier(copy), ns: [] as number[] };
  });
  for (let w = 0; w < 8; w++) for (const v of vs) classifyLoop(v.cls, s, 250_000);
  const per = 666_667;
  for (let r = 0; r < 6; r++) {
    for (const v of r % 2 === 0 ? vs : [...vs].reverse()) {
      gc();
      finishSweeping();
      const t0 = cpu();
      classifyLoop(v.cls, s, per);
      v.ns.push((cpu() - t0) / per);
    }
  }
  const median = (a: number[]) => { const x = [...a].sort((p, q) => p - q); return (x[2]! + x[3]!) / 2; };
  process.stdout.write(JSON.stringify(Object.fromEntries(vs.map((v) => [v.name, +median(v.ns).toFixed(1)]))) + '\n');
}

function run(which: string): Partial<Record<Variant, number>> {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--child=${which}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`classify-processes: the ${which} child failed (${r.status}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Partial<Record<Variant, number>>;
}

if (child !== undefined) {
  measure(child);
} else {
  const sets = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 4);
  const alone: number[] = [], together: number[] = [];
  for (let k = 0; k < sets; k++) {
    const w = run('without').without!, c = run('with').with!, b = run('both');
    alone.push(w / c);
    together.push(b.without! / b.with!);
    console.log(`set ${k + 1}: alone ${w} / ${c} ns (ratio ${(w / c).toFixed(3)}), in one process ${b.without} / ${b.with} ns (ratio ${(b.without! / b.with!).toFixed(3)})`);
  }
  const med = (a: number[]) => { const x = [...a].sort((p, q) => p - q); return x.length % 2 ? x[x.length >> 1]! : (x[x.length / 2 - 1]! + x[x.length / 2]!) / 2; };
  console.log(`median ratio: alone ${med(alone).toFixed(3)}, in one process ${med(together).toFixed(3)}`);
}
