// What one kernel admission build costs on the scale bench's cluster (bench/scale-cluster.ts:
// 150,000 pods on 5,000 nodes, 10,000 NetworkPolicies, 200 cluster policies, this node with its
// 110 pods), or a fraction of it: the agent's build (src/agent/admit-entries.ts) run to the end
// for the local node, with its budgets (admit-wiring.ts), in CPU time of this process. Prints JSON.
//   node --import tsx scripts/admit-build-cpu.ts [scale divisor, default 1]

import { CompiledEngine } from '../src/policy/compiler.ts';
import { ClusterState } from '../src/cluster/state.ts';
import { admitEntries } from '../src/agent/admit-entries.ts';
import * as sc from '../bench/scale-cluster.ts';
import { decodedClusterPolicy } from '../support/raw-objects.ts';

const div = Number(process.argv[2] ?? 1);
const spec = { ...sc.SCALE, pods: sc.SCALE.pods / div, namespaces: sc.SCALE.namespaces / div, nodes: sc.SCALE.nodes / div };
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const state = new ClusterState();
state.batch(() => {
  for (const o of sc.scaleObjects(spec)) state.upsert(o.kind, (o.kind === 'ClusterNetworkPolicy' ? decodedClusterPolicy(o.object) : o.object) as never);
});
const snap = new CompiledEngine(state, { localNode: sc.LOCAL_NODE }).snapshot();
// The agent's budgets (admit-wiring.ts).
const t = cpu();
const g = admitEntries({ snap, view: state, node: sc.LOCAL_NODE, families: [4, 6], maxEntries: 65536, maxJudges: 500_000 });
let s = g.next();
let slices = 0;
while (!s.done) {
  slices++;
  s = g.next();
}
const r = s.value;
const portEntries = r.entries.reduce((n, e) => n + e.portTo - e.portFrom + 1, 0);
process.stdout.write(JSON.stringify({
  pods: spec.pods, nodes: spec.nodes, build_cpu_ms: Math.round(cpu() - t), slices, judges: r.judges,
  destinations: r.pods, destinations_left: r.podsLeft, entries: r.entries.length, port_entries: portEntries, notes: r.notes.slice(0, 3),
}) + '\n');
