// A policy storm, in process: 1,000 policy and label updates per second (pods relabelled, added,
// deleted, policies created/replaced/deleted, namespaces relabelled) while packets flow through a
// Classifier. Each update is one ClusterState batch -> CompiledEngine.update -> a new snapshot
// swapped into the classifier, exactly the agent's path (src/agent/agent.ts onChanges).
//
// Checked: every packet is judged by one complete generation, i.e. its verdict equals the plain
// evaluator's answer on the cluster state of the generation that judged it (a sample: the state
// is cloned for every SAMPLE_EVERY-th generation and the packets judged under it are evaluated);
// nothing throws; CPU and memory are reported; the final engine answers like a fresh compile of
// the final state on many probes.
//
// Default 20 s of storm; PALISADE_STRESS_FULL=1 runs the full minute (STRESS_STORM_SECONDS
// overrides both).

import t from 'tap';
import type { ClusterView } from '../../src/cluster/state.ts';
import type { Connection } from '../../src/policy/decision.ts';
import { Classifier, ACCEPT } from '../../src/dataplane/classifier.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { PROTO, packet } from '../../support/packets.ts';
import { Rng, probeAddresses, randomCluster, randomMutation, randomPolicy, randomProbe, stateOf } from '../../support/random-cluster.ts';
import type { ClusterState } from '../../src/cluster/state.ts';
import type { Pod } from '../../src/cluster/model.ts';
import { canonical } from '../../support/differential.ts';
import { bindRow, envInt, round, FULL, MB } from './support/results.ts';

const SECONDS = envInt('STRESS_STORM_SECONDS', FULL ? 60 : 20);
const RATE = envInt('STRESS_STORM_RATE', 1000);
const SAMPLE_EVERY = 10;
const PACKETS_CHECKED_PER_SAMPLE = 40;
const LOCAL = 'node-1';
const PROTO_NUM = { TCP: PROTO.TCP, UDP: PROTO.UDP, SCTP: PROTO.SCTP } as const;

const KEYS = ['app', 'tier', 'env', 'team'];
const VALUES = ['a', 'b', 'c'];

/**
 * One update of the storm, mostly policy and label churn: relabel a pod or a namespace, create,
 * replace or delete a policy, take a pod away or bring one back (so the cluster keeps its size),
 * and now and then anything else the generator does (phases, nodes, ports).
 */
function stormUpdate(r: Rng, state: ClusterState, initialPods: readonly Pod[], outside: readonly string[], addresses: readonly string[]): void {
  const k = r.int(20);
  const labels = () => {
    const l: Record<string, string> = {};
    for (const key of KEYS) if (r.chance(0.5)) l[key] = r.pick(VALUES);
    return l;
  };
  if (k < 7) {
    const pods = [...state.pods.values()];
    if (pods.length) {
      const p = r.pick(pods);
      state.upsertPod({ ...p, labels: labels() });
      return;
    }
  }
  if (k < 12) {
    const ns = r.pick([...state.namespaces.keys(), 'orphan']);
    state.upsertPolicy(randomPolicy(r, ns, `s${r.int(10)}`, addresses));
    return;
  }
  if (k < 14) {
    const pols = [...state.policies.keys()];
    if (pols.length) state.deletePolicy(r.pick(pols));
    return;
  }
  if (k < 16) {
    const names = [...state.namespaces.keys()];
    if (names.length) {
      const n = r.pick(names);
      state.upsertNamespace({ name: n, labels: { ...labels(), 'kubernetes.io/metadata.name': n } });
    }
    return;
  }
  if (k < 18) {
    const p = r.pick(initialPods);
    const key = `${p.namespace}/${p.name}`;
    if (state.pods.has(key)) state.deletePod(key);
    else state.upsertPod({ ...p, labels: labels() });
    return;
  }
  randomMutation(r, state, outside);
}

interface Probe {
  readonly conn: Connection;
  readonly buf: Buffer;
}

t.test(`policy storm: ${RATE} updates/s for ${SECONDS} s while packets flow`, async (t) => {
  const r = bindRow(t, 'load', `policy storm in process (${RATE}/s, ${SECONDS} s)`, 'policy-storm.stress.ts');
  if (SECONDS < 60) r.note = `shortened to ${SECONDS} s; PALISADE_STRESS_FULL=1 runs the full minute`;
  const rng = new Rng(0x5eed);
  const c = randomCluster(rng, { namespaces: 4, pods: 40, policies: 12 });
  const state = stateOf(c);
  const opts = { localNode: LOCAL };
  const engine = new CompiledEngine(state, opts);
  const cls = new Classifier(engine.snapshot());
  /** Cluster state per sampled snapshot generation (shallow copies: the objects are immutable). */
  const views = new Map<number, ClusterView>();
  let crashes = 0;
  let firstCrash = '';
  state.onChange((changes) => {
    try {
      const snap = engine.update(changes);
      cls.setSnapshot(snap);
      if (snap.generation % SAMPLE_EVERY === 0) {
        views.set(snap.generation, { namespaces: new Map(state.namespaces), pods: new Map(state.pods), nodes: new Map(state.nodes), policies: new Map(state.policies), clusterPolicies: new Map(state.clusterPolicies) });
      }
    } catch (e) {
      if (crashes++ === 0) firstCrash = (e as Error).stack ?? String(e);
    }
  });

  // Packets between every address that can appear (pods added by mutations reuse the
  // generator's address plan 10.1.<ns>.<101..200>), TCP/UDP/SCTP, ports around the rules'.
  const addrs = probeAddresses(state, c.outside);
  for (const ns of [0, 1, 2, 3, 7]) for (let i = 101; i <= 200; i += 3) addrs.v4.push(`10.1.${ns}.${i}`), addrs.pods4.push(`10.1.${ns}.${i}`);
  const addressList = [...addrs.v4, ...addrs.v6];
  const probes: Probe[] = [];
  for (let i = 0; i < 4000; i++) {
    const conn = randomProbe(rng, addrs);
    if (conn.port === 0) continue;
    probes.push({ conn, buf: packet(conn.src, conn.dst, PROTO_NUM[conn.protocol as keyof typeof PROTO_NUM], 40000 + (i % 20000), conn.port) });
  }

  // Verdicts recorded for sampled generations: [probe index, verdict] per packet.
  const judged = new Map<number, number[]>();
  let packets = 0, updates = 0, maxRss = 0, maxHeap = 0;
  const rss0 = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let p = 0;
  let lastYield = t0;
  for (;;) {
    const now = performance.now();
    // The whole count is always delivered (on a slow machine the storm just lasts longer).
    if (now >= end && updates >= RATE * SECONDS) break;
    // Updates due by now at RATE per second, each its own batch and generation.
    const due = Math.min(RATE * SECONDS, Math.floor(((now - t0) / 1000) * RATE));
    while (updates < due) {
      state.batch(() => stormUpdate(rng, state, c.pods, c.outside, addressList));
      updates++;
    }
    // Traffic in between: a burst of packets judged by whatever snapshot is current.
    for (let k = 0; k < 64; k++) {
      const pr = probes[p]!;
      const v = cls.classify(pr.buf, 0, pr.buf.length, now);
      const gen = cls.snapshot.generation;
      if (views.has(gen)) {
        let list = judged.get(gen);
        if (!list) judged.set(gen, (list = []));
        if (list.length < PACKETS_CHECKED_PER_SAMPLE * 2) list.push(p, v);
      }
      packets++;
      p = (p + 1) % probes.length;
    }
    if (now - lastYield > 200) {
      const m = process.memoryUsage();
      maxRss = Math.max(maxRss, m.rss);
      maxHeap = Math.max(maxHeap, m.heapUsed);
      // Let timers (tap) run; the storm itself is synchronous like the agent's event handlers.
      await new Promise((res) => setImmediate(res));
      lastYield = now;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);

  // Every sampled packet against the evaluator on its generation's state.
  let checked = 0, wrong = 0;
  let firstWrong = '';
  for (const [gen, list] of judged) {
    const view = views.get(gen)!;
    for (let i = 0; i < list.length; i += 2) {
      const pr = probes[list[i]!]!;
      const expected = evaluate(view, pr.conn, opts).allowed;
      checked++;
      if ((list[i + 1] === ACCEPT) !== expected) {
        if (wrong++ === 0) firstWrong = `generation ${gen}: ${pr.conn.protocol} ${pr.conn.src} -> ${pr.conn.dst}:${pr.conn.port} judged ${list[i + 1] === ACCEPT ? 'allow' : 'deny'}, evaluator says ${expected ? 'allow' : 'deny'}`;
      }
    }
  }

  // The final state: the incrementally updated engine against a fresh compile and the evaluator.
  const fresh = new CompiledEngine(state, opts);
  const finalAddrs = probeAddresses(state, c.outside);
  let finalMismatch = 0, finalProbes = 0, evalMismatch = 0;
  let firstFinal = '';
  for (let i = 0; i < 20_000; i++) {
    const conn = randomProbe(rng, finalAddrs);
    const a = canonical(engine.decide(conn));
    const b = canonical(fresh.decide(conn));
    finalProbes++;
    if (a !== b) {
      if (finalMismatch++ === 0) firstFinal = `${conn.protocol} ${conn.src} -> ${conn.dst}:${conn.port}: incremental ${a} fresh ${b}`;
    }
    if (i % 10 === 0 && canonical(evaluate(state, conn, opts)) !== a) evalMismatch++;
  }

  Object.assign(r.figures, {
    updates,
    'updates/s': round(updates / seconds),
    generations: cls.snapshot.generation,
    packets,
    'packets/s': round(packets / seconds),
    'sampled packets checked': checked,
    misjudged: wrong,
    crashes,
    'CPU s': round((cpu.user + cpu.system) / 1e6),
    'CPU %': round(((cpu.user + cpu.system) / 1e6 / seconds) * 100),
    'RSS MB start/max': `${round(rss0 / MB)}/${round(maxRss / MB)}`,
    'heap max MB': round(maxHeap / MB),
    'final probes vs fresh compile': `${finalProbes - finalMismatch}/${finalProbes}`,
    'pods/policies at end': `${state.pods.size}/${state.policies.size}`,
  });
  r.tried = { n: updates, what: 'policy/label updates' };
  r.wrong = wrong + finalMismatch + evalMismatch + crashes;
  t.equal(crashes, 0, `no compile/update crashed${firstCrash ? ` (first: ${firstCrash})` : ''}`);
  t.ok(checked > 1000, `a sample of ${checked} packets was checked against their generation`);
  t.equal(wrong, 0, `every sampled packet judged as its generation's evaluator says${firstWrong ? ` (first: ${firstWrong})` : ''}`);
  t.equal(finalMismatch, 0, `final engine equals a fresh compile of the final state${firstFinal ? ` (first: ${firstFinal})` : ''}`);
  t.equal(evalMismatch, 0, 'final engine equals the evaluator');
  t.ok(maxHeap < 512 * MB, `memory bounded (heap max ${round(maxHeap / MB)} MB)`);
});
