// The agent's copier of snapshots into the WebAssembly judge (src/agent/wasm-copy.ts): a copy of
// the snapshot in force, once the updates have been quiet for COPY_DELAY_MS and no idle-time
// step is pending; never a copy of a copy; nothing when turned off; a failure leaves the
// JavaScript snapshot judging and reaches the agent (a snapshot too large for the module included).

import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { COPY_DELAY_MS, WasmCopier } from '../../src/agent/wasm-copy.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import type { RuleSnapshot } from '../../src/policy/engine-api.ts';
import { WasmSnapshot } from '../../src/policy/wasm-snapshot.ts';
import { Rng, randomCluster, stateOf } from '../../support/random-cluster.ts';

function setup(enabled = true, maxWords?: number) {
  const state = stateOf(randomCluster(new Rng(5), { namespaces: 3, pods: 40, policies: 8, clusterPolicies: 3 }));
  const engine = new CompiledEngine(state);
  // The first compile leaves idle-time steps (TierTables.warm); the agent copies after them.
  while (engine.pendingWork > 0) engine.converge();
  let current: RuleSnapshot = engine.snapshot();
  const published: RuleSnapshot[] = [];
  const failures: Error[] = [];
  const copier = new WasmCopier({
    engine: () => engine,
    current: () => current,
    publish: (s) => { published.push(s); current = s; },
    failed: (e) => failures.push(e),
  }, enabled, maxWords);
  return { engine, copier, published, failures, current: () => current, setCurrent: (s: RuleSnapshot) => (current = s) };
}

t.test('a copy of the snapshot in force, after a quiet wait; not of a copy', async (t) => {
  const s = setup();
  const t0 = performance.now();
  s.copier.schedule();
  t.equal(s.published.length, 0, 'nothing at once');
  await sleep(COPY_DELAY_MS / 2);
  const t1 = performance.now();
  s.copier.schedule(); // another update within the wait restarts it
  await sleep(COPY_DELAY_MS * 0.75);
  // Only when the timers ran about on time does this tell a restarted wait from the first one (on
  // a loaded machine the second schedule() can come after the first wait ran out).
  if (t1 - t0 < COPY_DELAY_MS * 0.8 && performance.now() - t1 < COPY_DELAY_MS * 0.95) t.equal(s.published.length, 0, 'the wait restarted');
  else t.comment(`timers ran late (${(t1 - t0).toFixed(0)} ms, ${(performance.now() - t1).toFixed(0)} ms): the restart is not checked this run`);
  await sleep(COPY_DELAY_MS * 2);
  t.equal(s.published.length, 1, 'one copy');
  t.ok(s.current() instanceof WasmSnapshot, 'the copy is in force');
  t.equal(s.published[0]!.generation, s.engine.snapshot().generation, 'of the generation in force');
  t.ok(s.copier.lastBytes > 0 && s.copier.copies === 1);
  t.notOk(s.copier.copyNow(), 'a copy is not copied again');
  t.equal(s.published.length, 1);
  // An update puts a JavaScript snapshot back; the next copy takes the last one's memory.
  const first = s.current() as WasmSnapshot;
  s.setCurrent(s.engine.snapshot());
  t.ok(s.copier.copyNow(), 'the next copy');
  t.ok(first.isRetired, 'it took the last copy\'s memory (that copy now judges through its JavaScript snapshot)');
  t.notOk((s.current() as WasmSnapshot).isRetired);
});

t.test('nothing while idle-time steps are pending, or when turned off', async (t) => {
  const s = setup();
  const e = s.engine as unknown as { pendingWork: number };
  Object.defineProperty(e, 'pendingWork', { value: 2, configurable: true });
  t.notOk(s.copier.copyNow(), 'pending steps: their last one schedules the copy');
  Object.defineProperty(e, 'pendingWork', { value: 0, configurable: true });
  t.ok(s.copier.copyNow(), 'then it is made');

  const off = setup(false);
  off.copier.schedule();
  await sleep(COPY_DELAY_MS * 2);
  t.notOk(off.copier.copyNow());
  t.equal(off.published.length, 0, '--no-wasm-judge: no copy');
});

t.test('a snapshot that cannot be copied (not the engine\'s own) is left judging; a failing copy says so', async (t) => {
  const s = setup();
  const double = { ...s.engine.snapshot(), generation: 99 } as RuleSnapshot;
  s.setCurrent(double);
  t.notOk(s.copier.copyNow(), 'a test double has no copy');
  t.equal(s.current(), double);
  const bad = setup();
  const snap = bad.engine.snapshot();
  bad.setCurrent(Object.assign(Object.create(Object.getPrototypeOf(snap) as object) as RuleSnapshot, snap, { flatParts: () => { throw new Error('boom'); } }));
  t.notOk(bad.copier.copyNow());
  t.match(bad.failures.map((e) => e.message), ['boom'], 'the failure reaches the agent');
  t.equal(bad.published.length, 0);
});

t.test('a snapshot too large for the module is not copied, and the agent hears why', async (t) => {
  const s = setup(true, 1000);
  const snap = s.current();
  t.notOk(s.copier.copyNow(), 'no copy past the limit');
  t.equal(s.current(), snap, 'the JavaScript snapshot judges on');
  t.match(s.failures.map((e) => e.message), [/the copy would take \d+ words, more than the 1000 it may/], 'the refusal reaches the agent');
  t.ok(setup(true).copier.copyNow(), 'the same cluster under the module\'s own limit is copied');
});
