// Per-packet CPU time of the compiled engine's judge (judge4/judge6 on pre-parsed words, no
// classifier) on the large cluster without and with its cluster policies
// (bench/large-cluster-policies.ts), in interleaved rounds in one process, for one or more trees:
// PALISADE_ROOTS=/path/a,/path/b loads each tree's engine (default: this one), so an old and a
// new tree compare within the same minutes. Prints per tree and variant the median CPU ns per
// packet over the rounds, and per tree the median per-round ratio without / with (throughput
// with / without). With --classify, the whole classifier on the same traffic as packets (each
// tree's Classifier, no conntrack: what bench/cluster-large.ts reports) instead of the judge.
// Each tree times with its own loops (bench/suite.ts judgeLoop, bench/cluster-large.ts
// classifyLoop), so a tree from before those exports (2026-12-04) is refused with a message.
//   node --expose-gc --import tsx scripts/tier-judge-cpu.ts [rounds, default 8] [packets a round, default 1000000] [--classify]

import { finishSweeping } from '../src/agent/idle-gc.ts';
import { judgeInput, largeTuples } from '../bench/suite.ts';
import { pack, packet } from '../support/packets.ts';

const here = new URL('..', import.meta.url).pathname;
const roots = (process.env.PALISADE_ROOTS ?? here).split(',').filter(Boolean);
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const rounds = Number(args[0] ?? 8);
const per = Number(args[1] ?? 1_000_000);
const classify = process.argv.includes('--classify');
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };

const tuples = largeTuples(100_000, 0x5eed);
const n = tuples.length;
const input = judgeInput(tuples);
const { w, meta } = input;
const stream = { ...pack(tuples.map((t) => packet(t.src, t.dst, t.proto, t.sport, t.dport))), n };

// Each tree's own loops: a loop shared by the trees would see every tree's snapshot class.
type Suite = typeof import('../bench/suite.ts');
type ClusterLarge = typeof import('../bench/cluster-large.ts');
type Snap = ReturnType<InstanceType<typeof import('../src/policy/compiler.ts').CompiledEngine>['snapshot']>;
type Cls = InstanceType<typeof import('../src/dataplane/classifier.ts').Classifier>;
function loopOf<T>(root: string, file: string, name: string, fn: T | undefined): T {
  if (typeof fn !== 'function') throw new Error(`${root}/${file} does not export ${name} (a tree older than its export): tier-judge-cpu.ts times each tree with its own loop`);
  return fn;
}

interface Variant {
  readonly root: string; readonly cnp: boolean; readonly snap: Snap; readonly cls: Cls; readonly ns: number[]; answers: string;
  readonly judgeLoop: Suite['judgeLoop']; readonly classifyLoop: ClusterLarge['classifyLoop'];
}
const variants: Variant[] = [];
for (const root of roots) {
  const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`) as typeof import('../src/policy/compiler.ts');
  const { Classifier } = await import(`${root}/src/dataplane/classifier.ts`) as typeof import('../src/dataplane/classifier.ts');
  const lc = await import(`${root}/bench/large-cluster.ts`) as typeof import('../bench/large-cluster.ts');
  const lp = await import(`${root}/bench/large-cluster-policies.ts`) as typeof import('../bench/large-cluster-policies.ts');
  const suite = await import(`${root}/bench/suite.ts`) as Partial<Suite>;
  const cl = await import(`${root}/bench/cluster-large.ts`) as Partial<ClusterLarge>;
  const judgeLoop = loopOf(root, 'bench/suite.ts', 'judgeLoop', suite.judgeLoop);
  const classifyLoop = loopOf(root, 'bench/cluster-large.ts', 'classifyLoop', cl.classifyLoop);
  for (const cnp of [false, true]) {
    const e = new CompiledEngine(lc.buildLargeCluster(lc.LARGE, cnp ? lp.largeClusterPolicies() : []));
    const snap = e.snapshot();
    // The answers (allowed or not, per tuple), so trees can be checked to agree.
    let answers = '';
    for (let k = 0; k < n; k++) {
      const o = k * 8, m = k * 3;
      answers += (meta[m] === 4 ? snap.judge4(w[o]!, w[o + 4]!, meta[m + 1]!, meta[m + 2]!)
        : snap.judge6(w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!, w[o + 4]!, w[o + 5]!, w[o + 6]!, w[o + 7]!, meta[m + 1]!, meta[m + 2]!)) ? '1' : '0';
    }
    variants.push({ root, cnp, snap, cls: new Classifier(e.snapshot()), ns: [], answers, judgeLoop, classifyLoop });
  }
}
for (const cnp of [false, true]) {
  const vs = variants.filter((v) => v.cnp === cnp);
  if (vs.some((v) => v.answers !== vs[0]!.answers)) console.log(`ANSWERS DIFFER between trees (cluster policies: ${cnp})`);
}
let sink = 0;
const run = (v: Variant, count: number) => (classify ? v.classifyLoop(v.cls, stream, count) : v.judgeLoop(v.snap, input, count));
for (let k = 0; k < 4; k++) for (const v of variants) sink += run(v, 200_000);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) {
    gc();
    finishSweeping(); // untimed: the collection's sweep would run in the round (bench/cluster-large.ts)
    const t = cpu();
    sink += run(v, per);
    v.ns.push(((cpu() - t) * 1e6) / per);
  }
}
const median = (a: readonly number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
for (const root of roots) {
  const [wo, wi] = [false, true].map((c) => variants.find((v) => v.root === root && v.cnp === c)!);
  const ratios = wo!.ns.map((x, i) => x / wi!.ns[i]!);
  console.log(`${root}: ${classify ? 'classify' : 'judge'} CPU ns/packet without ${median(wo!.ns).toFixed(1)}, with ${median(wi!.ns).toFixed(1)}; with/without throughput ${median(ratios).toFixed(3)} (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`);
}
console.log(`sink ${sink & 1}`);
