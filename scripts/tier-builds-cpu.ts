// What one Admin/Baseline tier table costs to build (src/policy/tier-tables.ts), away from the
// rest of an update: compiles the cluster-large bench's cluster with its cluster policies, then
// rebuilds each of its tier tables from the same spec TierTables.build gives buildRuleTable,
// `rounds` times, and prints the CPU and wall ms per table of each round (the first ones warm up).
//   node --expose-gc --import tsx scripts/tier-builds-cpu.ts [rounds, default 8]
// It reads the engine's tier tables through casts: no public API hands them out, and this is a
// measurement, not a user of them.

import { CompiledEngine } from '../src/policy/compiler.ts';
import type { ClusterPolicyIndex } from '../src/policy/cluster-index.ts';
import type { IdentityRegistry } from '../src/policy/identity.ts';
import type { RuleBlock } from '../src/policy/block-classes.ts';
import { buildRuleTable, type TableRule, type TableSpec } from '../src/policy/rule-table.ts';
import type { Node } from '../src/cluster/model.ts';
import { LARGE, buildLargeCluster } from '../bench/large-cluster.ts';
import { largeClusterPolicies } from '../bench/large-cluster-policies.ts';

interface Internals {
  readonly identities: IdentityRegistry;
  readonly clusters: ClusterPolicyIndex;
  readonly nodes: ReadonlyMap<string, Node>;
  readonly tiers: { readonly cache: Map<string, { readonly word: number; readonly policies: readonly string[]; readonly users: Set<number> }> };
}

const rounds = Number(process.argv[2] ?? 8);
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const eng = new CompiledEngine(buildLargeCluster(LARGE, largeClusterPolicies())) as unknown as Internals;
const specs: TableSpec[] = [];
for (const e of eng.tiers.cache.values()) {
  // Words 0-1 egress, 2-3 ingress (TIER_WORDS); rules and blocks in list order, as build() makes them.
  const direction = e.word < 2 ? 'egress' : 'ingress';
  const rules: TableRule[] = [];
  const blocks: RuleBlock[] = [];
  for (const id of e.policies) {
    const own = eng.clusters.tableRules(eng.clusters.get(id)!, direction);
    rules.push(...own);
    blocks.push({ key: own, count: own.length });
  }
  const owner = eng.identities.get([...e.users][0]!);
  const nodeClasses = rules.some((r) => r.nodes !== undefined) ? eng.clusters.nodeClasses(eng.nodes) : undefined;
  specs.push({ direction, policies: [], rules, blocks, ...(direction === 'ingress' ? { ownerPorts: owner.ports } : {}), ...(nodeClasses ? { nodeClasses } : {}) });
}
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const out: string[] = [];
for (let round = 0; round < rounds; round++) {
  gc();
  const t0 = cpu(), w0 = performance.now();
  for (const s of specs) buildRuleTable(s, eng.identities);
  // CPU time counts every thread of the process (the collector's and the compiler's too).
  out.push(`${((cpu() - t0) / specs.length).toFixed(2)}/${((performance.now() - w0) / specs.length).toFixed(2)}`);
}
console.log(`${specs.length} tier tables; ms per table build, CPU/wall, per round: ${out.join(' ')}`);
