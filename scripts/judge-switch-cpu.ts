// CPU per packet of the classifier in the order the agent meets its judges: a classifier that
// judged new connections with the JavaScript snapshot first (after an update) and then with its
// WebAssembly copy (src/agent/wasm-copy.ts), on classify-large's traffic, and conntrack-hit's
// flows through a conntrack classifier switched the same way. `--js-only` never switches (the
// agent with --no-wasm-judge), for the same figures without the copy. Medians of 5 rounds.
//   node --expose-gc --v8-pool-size=1 --import tsx scripts/judge-switch-cpu.ts [--js-only]

import { CompiledEngine } from '../src/policy/compiler.ts';
import { Classifier } from '../src/dataplane/classifier.ts';
import { wasmCopyOf } from '../src/policy/wasm-snapshot.ts';
import { finishSweeping } from '../src/agent/idle-gc.ts';
import { LARGE, buildLargeCluster } from '../bench/large-cluster.ts';
import { largeTuples, openFlows } from '../bench/suite.ts';
import { pack, packet } from '../support/packets.ts';

const jsOnly = process.argv.includes('--js-only');
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) * 1000; };

interface Stream { readonly buf: Buffer; readonly offs: ArrayLike<number>; readonly lens: ArrayLike<number>; readonly n: number }
function loop(cls: Classifier, s: Stream, count: number, now: number): number {
  let acc = 0, k = 0;
  for (let i = 0; i < count; i++) {
    acc = (acc + cls.classify(s.buf, s.offs[k]!, s.lens[k]!, now)) | 0;
    if (++k === s.n) k = 0;
  }
  return acc;
}
function median(f: () => void, n: number): string {
  const r: number[] = [];
  for (let i = 0; i < 5; i++) {
    gc();
    finishSweeping();
    const t0 = cpu();
    f();
    r.push((cpu() - t0) / n);
  }
  return r.sort((a, b) => a - b)[2]!.toFixed(1);
}

const engine = new CompiledEngine(buildLargeCluster(LARGE, []));
const js = engine.snapshot();
const copy = wasmCopyOf(js)!;
const tuples = largeTuples(100_000, 0x5eed);
const stream: Stream = { ...pack(tuples.map((t) => packet(t.src, t.dst, t.proto, t.sport, t.dport))), n: tuples.length };

const cls = new Classifier(js);
loop(cls, stream, 2_000_000, 0);
const jsNs = median(() => loop(cls, stream, 3_000_000, 0), 3_000_000);
if (!jsOnly) cls.setSnapshot(copy);
loop(cls, stream, 2_000_000, 0);
const thenNs = median(() => loop(cls, stream, 3_000_000, 0), 3_000_000);
const flows = openFlows(js, 50_000);
loop(flows.cls, flows.stream, 1_000_000, 1000);
if (!jsOnly) flows.cls.setSnapshot(copy);
loop(flows.cls, flows.stream, 1_000_000, 1000);
const hitNs = median(() => loop(flows.cls, flows.stream, 5_000_000, 1000), 5_000_000);
console.log(JSON.stringify({ mode: jsOnly ? 'js-only' : 'js-then-wasm', classify_js_ns: +jsNs, classify_then_ns: +thenNs, conntrack_hit_ns: +hitNs }));
