// The incremental publish (slot-records.ts, paged-list.ts) must equal a full one: after every
// batch of random mutations, the published slot records are exactly what buildSlotRecords makes
// from scratch out of the engine's working state, the published names and isolating-policy lists
// are exactly the working lists, and the snapshot published before the batch has not changed.
//
// The seed is printed; rerun one with PALISADE_SEED=<n> npx tap test/policy/slot-records.test.ts.

import t from 'tap';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { buildSlotRecords } from '../../src/policy/slot-records.ts';
import { PagedList, type PagedView } from '../../src/policy/paged-list.ts';
import type { SlotArrays } from '../../src/policy/table-layout.ts';
import type { RuleSnapshot } from '../../src/policy/engine-api.ts';
import { SLOT } from '../../src/policy/snapshot.ts';
import { Rng, randomCluster, randomMutation, stateOf } from '../../support/random-cluster.ts';

const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`slot-records seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

// What the test reads of the engine and its snapshots (private: the product needs no accessor).
interface EngineInside {
  readonly arrays: SlotArrays;
  readonly tiers: { readonly words: Int32Array };
}
interface SnapshotInside {
  readonly slotPages: readonly Int32Array[];
  readonly slots: number;
  readonly names: PagedView<string>;
  readonly egressPolicies: PagedView<readonly string[]>;
  readonly ingressPolicies: PagedView<readonly string[]>;
}
const inside = (e: CompiledEngine) => e as unknown as EngineInside;
const snap = (s: RuleSnapshot) => s as unknown as SnapshotInside;

/** A snapshot's slot records as one flat array (a copy of its pages). */
function recordsOf(s: SnapshotInside): Int32Array {
  const out = new Int32Array(s.slots * SLOT);
  let o = 0;
  for (const p of s.slotPages) {
    if (o >= out.length) break;
    out.set(p.subarray(0, Math.min(p.length, out.length - o)), o);
    o += p.length;
  }
  return out;
}

/** Copies of what a snapshot publishes, to check it later. */
function copyOf(s: SnapshotInside): { info: Int32Array; lists: unknown[][] } {
  const lists = [s.names, s.egressPolicies, s.ingressPolicies].map((v) => Array.from({ length: v.length }, (_, i) => v.get(i)));
  return { info: recordsOf(s), lists };
}

function firstDiff(a: ArrayLike<unknown>, b: ArrayLike<unknown>): string | undefined {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `word ${i}: ${String(a[i])} != ${String(b[i])}`;
  return undefined;
}

t.test('incremental publish = full publish, through random mutation sequences', async (t) => {
  let batches = 0, failures = 0;
  for (let c = 0; c < 40 && failures < 5; c++) {
    const r = new Rng((seed + c * 0x9e3779b1) >>> 0);
    const cluster = randomCluster(r);
    const state = stateOf(cluster);
    const localNode = r.chance(0.5) ? 'node-1' : undefined;
    const engine = new CompiledEngine(state, localNode === undefined ? {} : { localNode });
    state.onChange((changes) => engine.update(changes));
    for (let m = 0; m < 25 && failures < 5; m++) {
      const old = snap(engine.snapshot());
      const oldCopy = copyOf(old);
      const what: string[] = [];
      state.batch(() => {
        const n = r.range(1, 4);
        for (let i = 0; i < n; i++) what.push(randomMutation(r, state, cluster.outside));
      });
      batches++;
      const where = `cluster ${c} (localNode ${localNode ?? 'all'}), batch ${m + 1}: ${what.join('; ')}`;
      const E = inside(engine);
      const now = snap(engine.snapshot());
      const problems: string[] = [];
      const d = firstDiff(recordsOf(now), buildSlotRecords(E.arrays, E.tiers.words));
      if (d) problems.push(`slot records differ from a full build: ${d}`);
      for (const [name, view, list] of [
        ['names', now.names, E.arrays.names], ['egressPolicies', now.egressPolicies, E.arrays.egressPolicies], ['ingressPolicies', now.ingressPolicies, E.arrays.ingressPolicies],
      ] as const) {
        const l = list as PagedList<unknown>;
        const dl = firstDiff(Array.from({ length: view.length }, (_, i) => (view as PagedView<unknown>).get(i)), Array.from({ length: l.length }, (_, i) => l.get(i)));
        if (dl) problems.push(`${name} differ from the working list: ${dl}`);
      }
      const after = copyOf(old);
      const di = firstDiff(after.info, oldCopy.info);
      if (di) problems.push(`the previous snapshot's records changed: ${di}`);
      after.lists.forEach((l, i) => {
        const dl = firstDiff(l, oldCopy.lists[i]!);
        if (dl) problems.push(`the previous snapshot's list ${i} changed: ${dl}`);
      });
      for (const p of problems) {
        failures++;
        t.fail(`seed ${seed}, ${where}: ${p}`);
      }
    }
  }
  t.comment(`${batches} batches`);
  t.equal(failures, 0, 'every publish equals a full one and leaves the previous snapshot alone');
});

t.test('PagedList: published views never change; the list reads as a plain array', async (t) => {
  const r = new Rng(seed);
  const list = new PagedList<number>(-1);
  const plain: number[] = [];
  const views: [PagedView<number>, number[]][] = [];
  for (let step = 0; step < 5000; step++) {
    const i = r.chance(0.1) ? plain.length + r.range(0, 3) : r.range(0, Math.max(0, plain.length + 1));
    const v = r.range(0, 1000);
    list.set(i, v);
    while (plain.length <= i) plain.push(-1);
    plain[i] = v;
    if (r.chance(0.02)) views.push([list.publish(), plain.slice()]);
  }
  t.same(Array.from({ length: list.length }, (_, i) => list.get(i)), plain, 'the list');
  let changed = 0;
  for (const [view, copy] of views) if (firstDiff(Array.from({ length: view.length }, (_, i) => view.get(i)), copy)) changed++;
  t.ok(views.length > 10, 'views published');
  t.equal(changed, 0, 'no published view changed');
  t.equal(list.get(-1), undefined);
  t.equal(list.get(list.length), undefined);
});
