// The functions a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file) spent its time in: the
// top functions by self time and by inclusive time (a function's own samples and those of
// everything it called), in ms and as a share of the profile. For the agent under bench:e2e:
//   PALISADE_AGENT_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' npm run bench:e2e -- --modes nfqueue ...
//   node --import tsx scripts/cpuprofile-top.ts /tmp/prof/CPU.*.001.cpuprofile [top, default 25]
// (the agent's main thread writes the file numbered .001; others are its helper threads).

import { readFileSync } from 'node:fs';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const file = process.argv[2];
const top = Number(process.argv[3] ?? 25);
if (!file) {
  process.stderr.write('usage: cpuprofile-top.ts FILE.cpuprofile [top]\n');
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;

const timeOf = new Map<number, number>();
p.samples.forEach((s, i) => timeOf.set(s, (timeOf.get(s) ?? 0) + (p.timeDeltas[i] ?? 0)));
const total = [...timeOf.values()].reduce((a, b) => a + b, 0);
const self = new Map<string, number>();
const incl = new Map<string, number>();
for (const [id, us] of timeOf) {
  const k = name(byId.get(id)!);
  self.set(k, (self.get(k) ?? 0) + us);
  // Each function once per sample, however deep it recurses.
  const seen = new Set<string>();
  for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
    const f = name(byId.get(x)!);
    if (seen.has(f)) continue;
    seen.add(f);
    incl.set(f, (incl.get(f) ?? 0) + us);
  }
}
const show = (title: string, m: Map<string, number>) => {
  console.log(title);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`);
  }
};
console.log(`${file}: ${(total / 1000).toFixed(1)} ms sampled`);
show('-- self', self);
show('-- inclusive', incl);
