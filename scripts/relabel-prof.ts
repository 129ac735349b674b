// Where a relabel's CPU goes: the V8 sampling profiler (50 us) started and stopped around each
// relabel update of relabel-cpu.ts --bench's round (the rest of the round and the idle steps
// unprofiled), self and inclusive ms per function averaged over reps 3.. (the profiler's own
// `dispatch` and the callers above `update` included; under tsx lines are not reported).
// --no-turbo-inlining gives inlined helpers their own self time. PER=1 prints a line per update.
//   node [--no-turbo-inlining] --expose-gc --import tsx scripts/relabel-prof.ts [reps, default 12]
import { Session } from 'node:inspector';
const root = process.env.PALISADE_THIS ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`);
const { LARGE, buildLargeCluster } = await import('../bench/large-cluster.ts');
const { largeClusterPolicies } = await import('../bench/large-cluster-policies.ts');
const { updateRound } = await import('../bench/update-round.ts');
const { prng } = await import('../bench/prng.ts');
const s = new Session(); s.connect();
const post = (m: string, p?: object) => { let r: any; s.post(m, p ?? {}, (e, x) => { if (e) throw e; r = x; }); return r; };
post('Profiler.enable'); post('Profiler.setSamplingInterval', { interval: 50 });
const reps = Number(process.argv[2] ?? 12);
const st = buildLargeCluster(LARGE, largeClusterPolicies());
const eng = new CompiledEngine(st);
let kind = '', k = 0;
const self: Record<string, Map<string, number>> = {}, incl: Record<string, Map<string, number>> = {}, tot: Record<string, number> = {};
st.onChange((ch: unknown) => {
  const prof = kind && k >= 2;
  if (prof) post('Profiler.start');
  eng.update(ch);
  if (prof) {
    const { profile } = post('Profiler.stop');
    const nodes = new Map<number, any>(profile.nodes.map((n: any) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const dt = new Map<number, number>();
    for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + profile.timeDeltas[i] / 1000);
    const S = (self[kind] ??= new Map()), I = (incl[kind] ??= new Map()), U = new Map<string, number>();
    for (const [id, ms] of dt) {
      tot[kind] = (tot[kind] ?? 0) + ms;
      const name = (n: any) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber + 1}`;
      S.set(name(nodes.get(id)), (S.get(name(nodes.get(id))) ?? 0) + ms);
      const seen = new Set<string>();
      for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) { const nm = name(nodes.get(x)); if (!seen.has(nm)) { seen.add(nm); I.set(nm, (I.get(nm) ?? 0) + ms); U.set(nm.split(' ')[0]!, (U.get(nm.split(' ')[0]!) ?? 0) + ms); } }
    }
    const g = (f: string) => (U.get(f) ?? 0).toFixed(1);
    if (process.env.PER) console.log(`${k} ${kind} update ${g('update')} extendRuleTable ${g('extendRuleTable')} fit ${g('fit')} place ${g('place')} moveTo ${g('moveTo')} rewrite ${g('rewrite')} encodeTable ${g('encodeTable')} RuleTable ${g('RuleTable')} intern ${g('intern')} chain ${g('chain')} distinctNamed ${g('distinctNamed')} gc ${g('(garbage collector)')} flush ${g('flush')} publish ${g('publish')}`);
  }
  while (eng.pendingWork > 0) eng.converge();
});
const r = prng(0xc0ffee);
for (k = 0; k < reps; k++) updateRound(st, r, k, { before: (kd) => { kind = kd === 'pod_relabel' || kd === 'namespace_relabel' ? kd : ''; } });
const n = reps - 2;
for (const kd of Object.keys(self)) {
  console.log(`== ${kd}: ${(tot[kd]! / n).toFixed(2)} ms sampled per update`);
  const top = (m: Map<string, number>, h: string) => { console.log(h); for (const [f, ms] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(`  ${(ms / n).toFixed(2).padStart(7)} ${f}`); };
  top(self[kd]!, ' self ms/update'); top(incl[kd]!, ' inclusive ms/update');
}
