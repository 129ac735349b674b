// The differential run shared by test/policy/differential.test.ts and scripts/differential.ts:
// random clusters, random probes, the compiled engine's Decision against the plain evaluator's
// (verdict, both sides' allowed/reason/isolated/policies and rule refs, and the pod names), then
// random mutation sequences applied through ClusterState with the engine updating incrementally,
// checked against the evaluator and against a fresh compile after every batch.

import type { ClusterState, ClusterView } from '../src/cluster/state.ts';
import { CompiledEngine, decideOn } from '../src/policy/compiler.ts';
import type { Connection, Decision } from '../src/policy/decision.ts';
import { evaluate } from '../src/policy/evaluator.ts';
import { wasmCopyOf, type WasmSnapshot } from '../src/policy/wasm-snapshot.ts';
import { SIDE, sideDenies, type RuleSnapshot } from '../src/policy/engine-api.ts';
import { judgeOn } from '../src/policy/decide.ts';
import { Rng, probeAddresses, randomCluster, randomMutation, randomProbe, stateOf } from './random-cluster.ts';

export interface DifferentialOptions {
  readonly seed: number;
  /** Stop after this many compared probes (mutation-phase probes count too). */
  readonly probes: number;
  /** Probes per freshly generated cluster before its mutation phase. */
  readonly probesPerCluster?: number;
  /** Mutation batches per cluster, each followed by probesPerMutation probes. */
  readonly mutations?: number;
  readonly probesPerMutation?: number;
  /** Stop at this many mismatches. */
  readonly maxMismatches?: number;
  /** The oracle (default: the plain evaluator). Tests pass a sabotaged one to prove the run can fail. */
  readonly oracle?: Oracle;
  /**
   * The engine's CompileOptions.chainAbove (0: every Admin or Baseline table an update needs is a
   * chain first). Every other batch is then followed by converge() and probed again.
   */
  readonly chainAbove?: number;
  /**
   * Also judge every probe with the WebAssembly copy of the engine's snapshot (wasm-snapshot.ts)
   * and report where it differs from the JavaScript snapshot (against 'wasm-copy').
   */
  readonly wasm?: boolean;
}

export type Oracle = (view: ClusterView, conn: Connection, opts: { localNode?: string }) => Decision;

export interface Mismatch {
  readonly clusterSeed: number;
  readonly phase: string;
  readonly conn: Connection;
  readonly localNode?: string;
  readonly expected: Decision;
  readonly got: Decision;
  readonly against: 'evaluator' | 'fresh-compile' | 'old-snapshot' | 'wasm-copy' | 'stop-at-denial';
  /** For 'stop-at-denial': the numeric answers that differ (expected and got are then the full Decision). */
  readonly detail?: string;
}

/** One numeric answer of a snapshot: allowed, both side codes and both slots. */
export function numericAnswer(snap: RuleSnapshot, conn: Connection, stopAtDenial: boolean): { allowed: boolean; egress: number; ingress: number; src: number; dst: number } {
  const allowed = judgeOn(snap, conn, stopAtDenial);
  return { allowed, egress: snap.egressCode, ingress: snap.ingressCode, src: snap.srcSlot, dst: snap.dstSlot };
}

/**
 * The classifier's judgement (stopAtDenial, engine-api.ts) against the full one of the same
 * snapshot: the same answer, codes and slots, except that the ingress side is SIDE.SKIPPED exactly
 * where the egress side denies. A description of the difference, or undefined.
 */
export function stopAtDenialDiffers(snap: RuleSnapshot, conn: Connection): string | undefined {
  const full = numericAnswer(snap, conn, false);
  const want = { ...full, ingress: sideDenies(full.egress) ? SIDE.SKIPPED : full.ingress };
  const got = numericAnswer(snap, conn, true);
  return canonical(want) === canonical(got) ? undefined : `stopping at the egress denial: expected ${canonical(want)}, got ${canonical(got)}`;
}

export interface DifferentialResult {
  readonly probes: number;
  readonly clusters: number;
  readonly mutations: number;
  readonly mismatches: Mismatch[];
  /** Chains the engines made, and converge() rounds run (chainAbove set). */
  readonly chains: number;
  readonly converged: number;
}

/** JSON with sorted keys: Decisions compare equal regardless of property order. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return val;
  });
}

/** Seed of the i-th cluster of a run (printed on a mismatch; `clusterSeed` reruns just that cluster). */
export function clusterSeedOf(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

export function runDifferential(o: DifferentialOptions): DifferentialResult {
  const perCluster = o.probesPerCluster ?? 300;
  const mutations = o.mutations ?? 12;
  const perMutation = o.probesPerMutation ?? 25;
  const maxMismatches = o.maxMismatches ?? 5;
  const mismatches: Mismatch[] = [];
  let probes = 0, clusters = 0, mutated = 0, chains = 0, converged = 0;
  while (probes < o.probes && mismatches.length < maxMismatches) {
    const clusterSeed = clusterSeedOf(o.seed, clusters);
    clusters++;
    const res = runCluster(clusterSeed, { perCluster, mutations, perMutation, budget: o.probes - probes, maxMismatches: maxMismatches - mismatches.length, oracle: o.oracle, chainAbove: o.chainAbove, wasm: o.wasm });
    probes += res.probes;
    mutated += res.mutations;
    chains += res.chains;
    converged += res.converged;
    mismatches.push(...res.mismatches);
  }
  return { probes, clusters, mutations: mutated, mismatches, chains, converged };
}

export function runCluster(
  clusterSeed: number,
  o: { perCluster: number; mutations: number; perMutation: number; budget: number; maxMismatches: number; oracle?: Oracle; chainAbove?: number; wasm?: boolean },
): { probes: number; mutations: number; mismatches: Mismatch[]; chains: number; converged: number } {
  const r = new Rng(clusterSeed);
  // Rules failing closed on a field (a peer selector that cannot be built, a newer port field) too.
  const c = randomCluster(r, { failClosedFields: true });
  const state = stateOf(c);
  const localNode = r.chance(0.25) ? 'node-1' : undefined;
  const opts = localNode === undefined ? {} : { localNode };
  const engine = new CompiledEngine(state, o.chainAbove === undefined ? opts : { ...opts, chainAbove: o.chainAbove });
  let converged = 0;
  const mismatches: Mismatch[] = [];
  let probes = 0;
  let copy: WasmSnapshot | undefined;
  const wasmCopy = (): WasmSnapshot => {
    const snap = engine.snapshot();
    // Each copy takes the memory of the one before (as the agent's do), which keeps judging.
    if (copy?.source !== snap) copy = wasmCopyOf(snap, copy);
    if (!copy) throw new Error('differential: the engine\'s snapshot has no WebAssembly copy');
    return copy;
  };
  const check = (phase: string, conn: Connection, fresh?: CompiledEngine): void => {
    probes++;
    const expected = (o.oracle ?? evaluate)(state, conn, opts);
    const got = engine.decide(conn);
    if (canonical(expected) !== canonical(got)) {
      mismatches.push({ clusterSeed, phase, conn, ...opts, expected, got, against: 'evaluator' });
      return;
    }
    const stopped = stopAtDenialDiffers(engine.snapshot(), conn);
    if (stopped !== undefined) {
      mismatches.push({ clusterSeed, phase, conn, ...opts, expected: got, got, against: 'stop-at-denial', detail: stopped });
      return;
    }
    if (o.wasm) {
      const w = decideOn(wasmCopy(), conn);
      const wStopped = canonical(w) === canonical(got) ? stopAtDenialDiffers(wasmCopy(), conn) : undefined;
      if (canonical(w) !== canonical(got) || wStopped !== undefined) {
        mismatches.push({ clusterSeed, phase, conn, ...opts, expected: got, got: w, against: 'wasm-copy', ...(wStopped === undefined ? {} : { detail: wStopped }) });
        return;
      }
    }
    if (fresh) {
      const f = fresh.decide(conn);
      if (canonical(f) !== canonical(got)) mismatches.push({ clusterSeed, phase, conn, ...opts, expected: f, got, against: 'fresh-compile' });
    }
  };
  let addrs = probeAddresses(state, c.outside);
  for (let i = 0; i < o.perCluster && probes < o.budget && mismatches.length < o.maxMismatches; i++) check('initial', randomProbe(r, addrs));

  const unsubscribe = state.onChange((changes) => engine.update(changes));
  let mutations = 0;
  for (let m = 0; m < o.mutations && probes < o.budget && mismatches.length < o.maxMismatches; m++) {
    // A published snapshot must keep answering as it did: remember a few answers of the old one.
    const old = engine.snapshot();
    const keep = Array.from({ length: 3 }, () => randomProbe(r, addrs));
    const before = keep.map((conn) => canonical(decideOn(old, conn)));
    const what: string[] = [];
    (state as ClusterState).batch(() => {
      const n = r.range(1, 3);
      for (let i = 0; i < n; i++) what.push(randomMutation(r, state, c.outside, { failClosedFields: true }));
    });
    mutations++;
    const phase = `after mutation ${m + 1}: ${what.join('; ')}`;
    keep.forEach((conn, i) => {
      const after = decideOn(old, conn);
      if (canonical(after) !== before[i]) {
        mismatches.push({ clusterSeed, phase, conn, ...opts, expected: JSON.parse(before[i]!) as Decision, got: after, against: 'old-snapshot' });
      }
    });
    const fresh = new CompiledEngine(state, opts);
    addrs = probeAddresses(state, c.outside);
    for (let i = 0; i < o.perMutation && probes < o.budget && mismatches.length < o.maxMismatches; i++) check(phase, randomProbe(r, addrs), fresh);
    // Chains left standing through the next batch on even rounds; converged (a slice at a time,
    // each publish keeping the answers of the one before) on odd ones.
    if (o.chainAbove !== undefined && m % 2 === 1 && engine.pendingChains > 0) {
      while (engine.pendingChains > 0) {
        const prev = engine.snapshot();
        const probe = Array.from({ length: 3 }, () => randomProbe(r, addrs));
        const was = probe.map((conn) => canonical(decideOn(prev, conn)));
        engine.converge(1 + r.range(0, 2));
        converged++;
        probe.forEach((conn, i) => {
          const now = engine.decide(conn);
          if (canonical(now) !== was[i]) mismatches.push({ clusterSeed, phase: `${phase}, converging`, conn, ...opts, expected: JSON.parse(was[i]!) as Decision, got: now, against: 'evaluator' });
        });
      }
      for (let i = 0; i < o.perMutation && probes < o.budget && mismatches.length < o.maxMismatches; i++) check(`${phase}, converged`, randomProbe(r, addrs), fresh);
    }
  }
  unsubscribe();
  return { probes, mutations, mismatches, chains: engine.stats().chainsMade, converged };
}

export function describeMismatch(m: Mismatch): string {
  return [
    `cluster seed ${m.clusterSeed}${m.localNode ? ` (localNode ${m.localNode})` : ''}, ${m.phase}`,
    `connection ${m.conn.protocol} ${m.conn.src} -> ${m.conn.dst}:${m.conn.port}`,
    // A wasm-copy mismatch: expected is the JavaScript snapshot's answer, got the copy's.
    `${m.against === 'wasm-copy' ? 'snapshot' : m.against}: ${canonical(m.expected)}`,
    `${m.against === 'wasm-copy' ? 'wasm copy' : 'compiled'}:  ${canonical(m.got)}`,
    ...(m.detail === undefined ? [] : [m.detail]),
  ].join('\n');
}
