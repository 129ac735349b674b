// Where a relabel's update goes on the cluster-large bench: the bench's round of changes
// (bench/update-round.ts, idle steps and a turn of the event loop after each update as the bench
// runs them: updateRoundAsync), with wall-clock
// timers wrapped around the engine's parts, printed per relabel that interned identities after
// the two warm-up rounds. Nested timers include their callees (tiers.identitiesAdded holds
// links.identitiesAdded and tiers.defer, which holds tiers.chain, which holds links.take); the
// NetworkPolicy tables' extensions are the update minus the rest; `compact` is a compaction of the
// arena inside the update (TableLayout.overflowing). Then how many table
// extensions took each way (rule-table.ts extensionPaths: references, class 0, the universal
// selectors' class, the full classification, deferred to idle time).
//   [PALISADE_THIS=/other/checkout/] node --expose-gc --import tsx scripts/relabel-phases.ts [rounds, default 16]

import { performance } from 'node:perf_hooks';
import { PhaseTimers } from './phase-timers.ts';

const root = process.env.PALISADE_THIS ?? new URL('..', import.meta.url).pathname;
const { CompiledEngine } = await import(`${root}/src/policy/compiler.ts`);
const { TierTables } = await import(`${root}/src/policy/tier-tables.ts`);
const { TierLinks } = await import(`${root}/src/policy/tier-links.ts`);
const { SlotRecords } = await import(`${root}/src/policy/slot-records.ts`);
const { NpTables } = await import(`${root}/src/policy/np-tables.ts`);
const { extensionPaths } = await import(`${root}/src/policy/rule-table.ts`);
const { LARGE, buildLargeCluster } = await import('../bench/large-cluster.ts');
const { largeClusterPolicies } = await import('../bench/large-cluster-policies.ts');
const { updateRoundAsync } = await import('../bench/update-round.ts');
const { prng } = await import('../bench/prng.ts');
const { runIdleSteps } = await import('../bench/idle-steps.ts');

const timers = new PhaseTimers('relabel-phases', () => performance.now());
const phases = timers.totals;
const wrap = (proto: object, name: string, label: string) => timers.wrap(proto, name, label);
wrap(TierTables.prototype, 'identitiesAdded', 'tiers.identitiesAdded');
wrap(TierLinks.prototype, 'identitiesAdded', 'links.identitiesAdded');
wrap(TierTables.prototype, 'defer', 'tiers.defer');
wrap(TierTables.prototype, 'chain', 'tiers.chain');
wrap(TierLinks.prototype, 'take', 'links.take');
wrap(TierTables.prototype, 'flush', 'tiers.flush');
wrap(CompiledEngine.prototype, 'select', 'select');
wrap(NpTables.prototype, 'build', 'np.build');
wrap(CompiledEngine.prototype, 'publish', 'publish');
wrap(SlotRecords.prototype, 'publish', 'records.publish');
wrap(CompiledEngine.prototype, 'compactTables', 'compact');

const rounds = Number(process.argv[2] ?? 16);
const st = buildLargeCluster(LARGE, largeClusterPolicies());
const engine = new CompiledEngine(st);
const identities = () => (engine as unknown as { identities: { count: number } }).identities.count;
let kind = '', k = 0;
st.onChange((changes: unknown) => {
  phases.clear();
  const paths0 = { ...(extensionPaths ?? {}) } as Record<string, number>;
  const before = identities();
  const t = performance.now();
  engine.update(changes);
  const total = performance.now() - t;
  const added = identities() - before;
  if (kind.endsWith('relabel') && k >= 2 && added > 0) {
    const parts = [...phases].map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join(' | ');
    const ways = extensionPaths ? Object.entries(extensionPaths as Record<string, number>).map(([w, n]) => `${w} ${n - paths0[w]!}`).join(' ') : 'no extensionPaths in this tree';
    console.log(`${kind.padEnd(17)} round ${String(k).padStart(2)} +${added} identities: ${total.toFixed(1)} ms | ${parts} | tables: ${ways}`);
  }
  runIdleSteps(engine);
});
const r = prng(0xc0ffee);
for (k = 0; k < rounds; k++) await updateRoundAsync(st, r, k, { before: (kd: string) => { kind = kd; } });
