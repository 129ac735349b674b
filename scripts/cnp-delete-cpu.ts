// Probe: CPU ms of each cluster policy update of the cluster-large bench's sequence (the same
// changes in the same order as scripts/cnp-phases.ts and bench/cluster-large.ts, converging and
// scavenging after each), with no timers inside the engine: the first-time guardrail deletes
// (the 2nd and 3rd cnp_delete) run in code V8 has not optimized yet, and per-call timers there
// cost as much as the work. PROF=1 adds a CPU profile of the cnp_delete of round PK (default 2)
// (self and total ms per function; the profiler itself changes the timings).
//   node --expose-gc --import tsx scripts/cnp-delete-cpu.ts [reps, default 2]
// PALISADE_ROOT=/path/to/other/checkout runs that tree's code.
import { Session } from 'node:inspector/promises';
const root = process.env.PALISADE_ROOT ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`);
const { clusterPolicyId } = await import(`${root}/src/cluster/model.ts`);
const { LARGE, buildLargeCluster, largePod, largePolicy } = await import(`${root}/bench/large-cluster.ts`);
const { LARGE_CLUSTER_POLICIES, largeClusterPolicies, largeClusterPolicy } = await import(`${root}/bench/large-cluster-policies.ts`);
const { prng } = await import(`${root}/bench/prng.ts`);

interface ProfNode { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
const prof = process.env.PROF === '1';
const profRound = Number(process.env.PK ?? 2);
const session = new Session();
session.connect();
if (prof) {
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
}
const self = new Map<string, number>(), total = new Map<string, number>();
const reps = Number(process.argv[2] ?? 2);
const st = buildLargeCluster(LARGE, largeClusterPolicies());
const eng = new CompiledEngine(st);
const queue: unknown[] = [];
st.onChange((ch: unknown) => queue.push(ch));
const cpus = new Map<string, number[]>();
let kind = '', round = 0;
async function run(ch: unknown): Promise<void> {
  const on = prof && kind === 'cnp_delete' && round === profRound;
  if (on) await session.post('Profiler.start');
  const c0 = process.cpuUsage();
  eng.update(ch);
  const c = process.cpuUsage(c0);
  if (on) {
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: { nodes: ProfNode[]; samples: number[]; timeDeltas: number[] } };
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const k of n.children ?? []) parent.set(k, n.id);
    const name = (n: ProfNode) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}`;
    profile.samples.forEach((s, i) => {
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      const seen = new Set<string>();
      self.set(name(byId.get(s)!), (self.get(name(byId.get(s)!)) ?? 0) + ms);
      for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
        const f = name(byId.get(id)!);
        if (!seen.has(f)) { seen.add(f); total.set(f, (total.get(f) ?? 0) + ms); }
      }
    });
  }
  if (round >= 2 && kind.startsWith('cnp_')) {
    let a = cpus.get(kind);
    if (!a) cpus.set(kind, (a = []));
    a.push((c.user + c.system) / 1000);
  }
  while (eng.pendingWork > 0) eng.converge();
  (globalThis as unknown as { gc: (o?: unknown) => void }).gc({ type: 'minor' });
}
const step = async (k: string, f: () => void) => {
  kind = k;
  f();
  while (queue.length) await run(queue.shift());
};
const r = prng(0xc0ffee);
const nCnp = LARGE_CLUSTER_POLICIES.admin + LARGE_CLUSTER_POLICIES.baseline;
for (round = 0; round < reps + 2; round++) {
  const k = round;
  await step('pod_add', () => st.upsertPod(largePod(LARGE.pods + k)));
  const i = r() % LARGE.pods;
  const pod = st.pods.get(`ns-${i % LARGE.namespaces}/pod-${i}`)!;
  await step('pod_relabel', () => st.upsertPod({ ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'db' ? 'frontend' : 'db', role: 'client' } }));
  const ns = st.namespaces.get(`ns-${r() % LARGE.namespaces}`)!;
  await step('namespace_relabel', () => st.upsertNamespace({ ...ns, labels: { ...ns.labels, env: ns.labels.env === 'prod' ? 'staging' : 'prod' } }));
  await step('policy_update', () => st.upsertPolicy(largePolicy(r() % LARGE.namespaces, r() % LARGE.policiesPerNamespace, 1 + (k % 3))));
  let c = r() % nCnp;
  await step('cnp_priority', () => st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c, { priorityShift: 1 + (k % 14) })));
  c = r() % nCnp;
  await step('cnp_rule_edit', () => st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c, { editRule: r(), edit: 1 + (k % 3) })));
  c = r() % nCnp;
  await step('cnp_delete', () => st.delete('ClusterNetworkPolicy', clusterPolicyId(largeClusterPolicy(c))));
  await step('cnp_add', () => st.upsert('ClusterNetworkPolicy', largeClusterPolicy(c)));
}
const tree = root.split('/').filter(Boolean).pop()!;
for (const [k, a] of cpus) console.log(tree.padEnd(12), k.padEnd(14), 'CPU ms per round from 2:', a.map((x) => x.toFixed(1)).join(' '));
// The inspector's own frames (dispatch, post) are left out.
if (prof) for (const [f, ms] of [...self].filter(([f]) => !/^dispatch $| util$| node:inspector$/.test(f)).sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(ms.toFixed(2).padStart(7), (total.get(f) ?? 0).toFixed(2).padStart(7), f);
process.exit(0);
