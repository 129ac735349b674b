// Per-packet CPU time of the packet path (parse-only, classify-large, conntrack-hit: the
// workloads of `palisade bench`; observed-hit: conntrack-hit through the agent's ObservedJudge,
// which counts every packet into the metrics) for one or more trees in interleaved rounds of one process, so
// an old and a new tree compare within the same minutes (the VMs vary 20-40 % between runs):
// PALISADE_ROOTS=/path/a,/path/b loads each tree's parser, classifier and engine (default: this
// tree). Prints per tree and workload the median and range of CPU ns per packet over the rounds,
// and per later tree the median per-round ratio to the first tree (throughput new / old).
//   node --expose-gc --import tsx scripts/packet-path-cpu.ts [rounds, default 8] [packets a round, default 2000000]

import { finishSweeping } from '../src/agent/idle-gc.ts';
import { largeTuples } from '../bench/suite.ts';
import { pack, packet } from '../support/packets.ts';

const here = new URL('..', import.meta.url).pathname;
const roots = (process.env.PALISADE_ROOTS ?? here).split(',').filter(Boolean);
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const rounds = Number(args[0] ?? 8);
const per = Number(args[1] ?? 2_000_000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };

interface Stream { readonly buf: Buffer; readonly offs: Int32Array | number[]; readonly lens: Int32Array | number[]; readonly n: number }
type Loop = (count: number) => number;

// Each tree gets its own copy of the loops (a fresh function from source), so every call site
// sees one tree's classes only, as in a process that loads one tree.
function parseLoopFor(parse: unknown, info: unknown, s: Stream, tag: string): Loop {
  return new Function('parse', 'info', 's', `// ${tag}
    const buf = s.buf, offs = s.offs, lens = s.lens, n = s.n;
    return function parseLoop(count) {
      let acc = 0, k = 0;
      for (let i = 0; i < count; i++) {
        if (parse(buf, offs[k], lens[k], info)) acc = (acc + info.dstPort) & 0xfffffff;
        if (++k === n) k = 0;
      }
      return acc;
    };`)(parse, info, s) as Loop;
}
function classifyLoopFor(cls: unknown, s: Stream, now: number, tag: string): Loop {
  return new Function('cls', 's', 'now', `// ${tag}
    const buf = s.buf, offs = s.offs, lens = s.lens, n = s.n;
    return function classifyLoop(count) {
      let acc = 0, k = 0;
      for (let i = 0; i < count; i++) {
        acc = (acc + cls.classify(buf, offs[k], lens[k], now)) & 0xfffffff;
        if (++k === n) k = 0;
      }
      return acc;
    };`)(cls, s, now) as Loop;
}

const tuples = largeTuples(100_000, 0x5eed);
const p = pack(tuples.map((t) => packet(t.src, t.dst, t.proto, t.sport, t.dport)));
const stream: Stream = { ...p, n: tuples.length };

const WORKLOADS = ['parse-only', 'classify-large', 'conntrack-hit', 'observed-hit'] as const;
interface Tree { readonly root: string; readonly loops: Loop[]; readonly ns: number[][]; readonly answers: number[] }
const trees: Tree[] = [];
for (const [i, root] of roots.entries()) {
  const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts');
  const { Classifier } = await import(`${root}/src/dataplane/classifier.ts`) as typeof import('../src/dataplane/classifier.ts');
  const { parsePacket } = await import(`${root}/src/dataplane/packet-parser.ts`) as typeof import('../src/dataplane/packet-parser.ts');
  const { PacketInfo } = await import(`${root}/src/dataplane/packet-info.ts`) as typeof import('../src/dataplane/packet-info.ts');
  const lc = await import(`${root}/bench/large-cluster.ts`) as typeof import('../bench/large-cluster.ts');
  const suite = await import(`${root}/bench/suite.ts`) as typeof import('../bench/suite.ts');
  const obs = await import(`${root}/src/agent/observe.ts`) as typeof import('../src/agent/observe.ts');
  const metrics = await import(`${root}/src/agent/metrics.ts`) as typeof import('../src/agent/metrics.ts');
  const engine = new CompiledEngine(lc.buildLargeCluster());
  const hit = suite.openFlows(engine.snapshot(), 50_000);
  const hit2 = suite.openFlows(engine.snapshot(), 50_000);
  const observed = new obs.ObservedJudge(hit2.cls, new obs.ConnectionObserver({ counters: new metrics.AgentCounters(), policies: new metrics.PolicyCounters() }));
  const tag = `tree ${i}`;
  const loops = [
    parseLoopFor(parsePacket, new PacketInfo(), stream, tag),
    classifyLoopFor(new Classifier(engine.snapshot()), stream, 0, tag),
    classifyLoopFor(hit.cls, hit.stream as Stream, 1000, tag),
    classifyLoopFor(observed, hit2.stream as Stream, 1000, tag),
  ];
  // One pass over the distinct packets: the trees must give the same answers.
  trees.push({ root, loops, ns: WORKLOADS.map(() => []), answers: loops.map((l, w) => l(w >= 2 ? (hit.stream as Stream).n : stream.n)) });
}
for (const t of trees) {
  if (t.answers.join() !== trees[0]!.answers.join()) throw new Error(`${t.root} answers ${t.answers.join()}, ${trees[0]!.root} ${trees[0]!.answers.join()}`);
}
// Warm-up: optimize every loop before measuring.
for (const t of trees) for (const l of t.loops) l(per / 4);

for (let r = 0; r < rounds; r++) {
  for (let w = 0; w < WORKLOADS.length; w++) {
    // Every other round the other order, so no tree always runs right after another.
    for (const t of r % 2 === 0 ? trees : [...trees].reverse()) {
      gc();
      finishSweeping(); // untimed: the collection's sweep would run in the round (bench/cluster-large.ts)
      const t0 = cpu();
      t.loops[w]!(per);
      t.ns[w]!.push(((cpu() - t0) * 1e6) / per);
    }
  }
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const f = (x: number) => x.toFixed(1);
for (const t of trees) {
  console.log(t.root);
  WORKLOADS.forEach((name, w) => {
    const ns = t.ns[w]!;
    let line = `  ${name.padEnd(15)} median ${f(median(ns))} ns (${f(Math.min(...ns))}-${f(Math.max(...ns))}), ${(1e3 / median(ns)).toFixed(2)} Mpps`;
    if (t !== trees[0]) {
      const ratios = ns.map((x, r) => trees[0]!.ns[w]![r]! / x);
      line += `; throughput vs first tree: median ${median(ratios).toFixed(3)}x (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)})`;
    }
    console.log(line);
  });
}
console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
