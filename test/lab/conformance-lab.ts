// The shared conformance suite with real packets: every case, every step, every probe (the full
// matrices and the listed pairs, node and reply probes included), TCP (a new connection and an
// HTTP GET), UDP and SCTP, IPv4 and IPv6, through the lab with the agent enforcing in the node
// namespace. Used by the conformance-lab-<backend>.test.ts files (one per backend so they can
// run in parallel, each with its own labs).
//
// Cases run in a few labs at once ("lanes", $PALISADE_LAB_LANES, default 2), one case per lab at
// a time: most of a case's time is waiting (for the agent to enforce a step, for denied probes
// to time out), so lanes overlap those waits. Each lab serves case after case: between cases
// only what differs is rebuilt (pods whose addresses change; endpoints just change ports), and
// its agents (one per node) keep running, following the lab's manifests folder. A case goes to a
// free lab whose nodes (names, addresses, pod CIDRs: labTopologyKey) it shares (a lab whose
// nodes change is rebuilt with its agents), or waits for a busy one that has them. Per step:
//   1. the whole cluster after the step is written to the folder (manifestsForStep);
//   2. we wait until every agent's status file says a pass over the folder that started after
//      the write is enforced (lab-agent.ts waitForEnforced);
//   3. every node's conntrack table is flushed, so every probe is a new connection judged by the
//      step's policies (a probe reusing a 5-tuple that an earlier step allowed would otherwise
//      ride on that connection's state, which NetworkPolicy rightly leaves alone);
//   4. all probes run concurrently and must give exactly the expected verdict (allow: the
//      exchange completed; deny: it timed out; refused or error fail either way); a probe that
//      was denied but expected allowed is run once more with a long timeout before it counts as
//      a failure (a denied probe is a timeout, and a busy machine can make an allowed answer
//      late), while an allowed (or refused) probe expected denied fails at once: packets that
//      arrived cannot be a timing artefact.

import t, { type Test as Tap } from 'tap';
import type { Protocol } from '../../src/cluster/model.ts';
import { buildClusterForCase, manifestsForStep, probeLabel, probesForGroup, type CaseProbe, type ConformanceCase } from '../support/conformance-cases.ts';
import type { ServePorts } from '../../src/lab/endpoint-wire.ts';
import { flushLabConntrack, readAgentStatus, startLabAgent, stopLabAgent, waitForEnforced, writeLabManifests, type LabBackend } from '../../src/lab/lab-agent.ts';
import { processAlive } from '../../src/lab/netns.ts';
import { labAgents, type LabState } from '../../src/lab/lab-state.ts';
import { LabProber, type LabProbeResult } from '../../src/lab/probe.ts';
import { labDown, labSpecFromCluster, labTopologyKey, labUp, listLabs, type LabSpec, type LabSpecOptions } from '../../src/lab/topology.ts';
import { allCases } from '../conformance/case-set.ts';

const TIMEOUT_MS = 1000;
const RETRY_TIMEOUT_MS = 4000;
const CONCURRENCY = 24;

/** Every port a case probes, per protocol: served by every pod (and the node) on top of its containerPorts. */
export function probedPorts(c: ConformanceCase): ServePorts {
  const by: Record<Protocol, Set<number>> = { TCP: new Set(), UDP: new Set(), SCTP: new Set() };
  for (const s of c.steps) for (const g of s.probes) by[g.protocol].add(g.port);
  const sorted = (x: Set<number>) => [...x].sort((a, b) => a - b);
  return { tcp: sorted(by.TCP), udp: sorted(by.UDP), sctp: sorted(by.SCTP) };
}

/** A lab that runs one case at a time. */
interface Lane {
  readonly name: string;
  state?: LabState;
  /** The nodes (labTopologyKey) of the lab's current or last case; undefined: not built yet. */
  nodeKey?: string;
  busy: boolean;
}

/**
 * Hands out lanes, one case each: a free one with the case's nodes, else a free one not
 * built yet, else (if a busy one has the addresses) the first of those that frees up, else any
 * free one (its lab is rebuilt for the new addresses, which costs far more than waiting).
 */
class LanePool {
  private readonly waiters: (() => void)[] = [];

  constructor(readonly lanes: readonly Lane[]) {}

  async acquire(nodeKey: string): Promise<Lane> {
    for (;;) {
      const free = this.lanes.filter((l) => !l.busy);
      const lane = free.find((l) => l.nodeKey === nodeKey) ?? free.find((l) => l.nodeKey === undefined) ??
        (this.lanes.some((l) => l.nodeKey === nodeKey) ? undefined : free[0]);
      if (lane) {
        lane.busy = true;
        lane.nodeKey = nodeKey;
        return lane;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  release(lane: Lane): void {
    lane.busy = false;
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Labs of earlier runs of this file whose process is gone (a crash or a kill skipped teardown). */
async function orphanLabs(prefix: string): Promise<string[]> {
  const re = new RegExp(`^${prefix}-(\\d+)-\\d+$`);
  return (await listLabs()).filter((name) => {
    const pid = Number(re.exec(name)?.[1]);
    return pid > 0 && pid !== process.pid && !processAlive(pid);
  });
}

/** What differs between the case sets a lab run replays (the NetworkPolicy and the ClusterNetworkPolicy cases). */
export interface ConformanceLabOptions {
  /** The cases (before $PALISADE_LAB_CASES filters them); default: the NetworkPolicy cases. */
  readonly cases?: () => readonly ConformanceCase[];
  /** The lab's ports and outside hosts for a case; default: every probed port on every pod, the case's externals. */
  readonly specOptions?: (c: ConformanceCase) => LabSpecOptions;
  /** Keeps only some of the cases after the filter (a subset for a slower backend); default: all. */
  readonly subset?: (c: ConformanceCase) => boolean;
}

/** The lab options of the NetworkPolicy cases: every pod serves every port the case probes. */
export function defaultSpecOptions(c: ConformanceCase): LabSpecOptions {
  const externals = c.externals.map((e) => ({ name: e.name, ips: [e.ip, e.ipv6].filter((x): x is string => !!x) }));
  return { extraPorts: probedPorts(c), externals };
}

export function conformanceLab(backend: LabBackend, prefix: string, opts: ConformanceLabOptions = {}): void {
  if (process.getuid?.() !== 0) {
    t.test(`conformance in the lab (${backend})`, { skip: 'needs root (network namespaces, iptables)' }, async () => {});
    return;
  }
  const filter = process.env.PALISADE_LAB_CASES ? new RegExp(process.env.PALISADE_LAB_CASES) : undefined;
  const specOptions = opts.specOptions ?? defaultSpecOptions;
  const cases = (opts.cases ?? allCases)().filter((c) => (!filter || filter.test(c.file)) && (!opts.subset || opts.subset(c)));
  const lanesWanted = Number(process.env.PALISADE_LAB_LANES ?? 2);
  if (!Number.isInteger(lanesWanted) || lanesWanted < 1) throw new Error(`PALISADE_LAB_LANES must be a whole number >= 1, got ${JSON.stringify(process.env.PALISADE_LAB_LANES)}`);
  // The pid in the name: two runs of this file (two worktrees) never share a lab.
  const lanes: Lane[] = Array.from({ length: Math.min(lanesWanted, Math.max(cases.length, 1)) }, (_, i) => ({ name: `${prefix}-${process.pid}-${i}`, busy: false }));
  const pool = new LanePool(lanes);
  const enforceTimes: number[] = [];
  let probesRun = 0;
  let probesWrong = 0;
  const started = Date.now();

  // Each case's lab, built from its cluster; cases with the most common nodes first, so
  // the few that need other ones rebuild a lab near the end (once) rather than back and forth.
  const planned = cases.map((c) => {
    const { spec } = labSpecFromCluster(buildClusterForCase(c), specOptions(c));
    return { c, spec, nodeKey: labTopologyKey(spec) };
  });
  const count = new Map<string, number>();
  for (const p of planned) count.set(p.nodeKey, (count.get(p.nodeKey) ?? 0) + 1);
  planned.sort((a, b) => count.get(b.nodeKey)! - count.get(a.nodeKey)!);

  t.jobs = lanes.length;
  t.before(async () => {
    for (const name of await orphanLabs(prefix)) await labDown(name);
  });
  t.teardown(async () => {
    await Promise.all(lanes.map(async (l) => {
      if (l.state?.agent) await stopLabAgent(l.state).catch(() => {});
      await labDown(l.name);
    }));
    if (enforceTimes.length) {
      const sorted = [...enforceTimes].sort((a, b) => a - b);
      t.comment(`${backend}: ${probesRun} probes (${probesWrong} not as expected) in ${lanes.length} labs, ${Math.round((Date.now() - started) / 1000)} s; change -> enforced: median ${sorted[sorted.length >> 1]} ms, max ${sorted[sorted.length - 1]} ms over ${sorted.length} steps`);
    }
  });

  for (const { c, spec, nodeKey } of planned) {
    const file = c.file.split('/').pop()!;
    t.test(`${file} (${backend})`, async (t) => {
      const lane = await pool.acquire(nodeKey);
      try {
        await runCase(t, c, spec, lane);
      } catch (e) {
        // Whatever state a failed case left the lab in, the next case there starts from scratch.
        if (lane.state?.agent) await stopLabAgent(lane.state).catch(() => {});
        await labDown(lane.name).catch(() => {});
        lane.state = undefined;
        lane.nodeKey = undefined;
        throw e;
      } finally {
        pool.release(lane);
      }
    });
  }

  async function runCase(t: Tap, c: ConformanceCase, spec: LabSpec, lane: Lane): Promise<void> {
    const state = (lane.state = await labUp(spec, { name: lane.name }));
    if (!state.agent || !labAgents(state).every((a) => processAlive(a.pid))) {
      // The lab's first case, or a case whose nodes differ (the lab was rebuilt).
      writeLabManifests(state, manifestsForStep(c, 0));
      await startLabAgent(state, { backend });
    }
    for (const [si, step] of c.steps.entries()) {
      const writtenAt = writeLabManifests(state, manifestsForStep(c, si));
      enforceTimes.push(await waitForEnforced(state, writtenAt, 15_000));
      for (const a of labAgents(state)) {
        const st = readAgentStatus(a.statusFile);
        t.same(st?.sourceErrors ?? [], [], `step ${si}: the agent${a.node ? ` of ${a.node}` : ''} read the manifests without errors`);
      }
      await flushLabConntrack(state);

      const probes: { p: CaseProbe; gi: number }[] = [];
      step.probes.forEach((g, gi) => probesForGroup(c, g).forEach((p) => probes.push({ p, gi })));
      const prober = new LabProber(state);
      try {
        const toLab = ({ p }: { p: CaseProbe }) => ({ from: p.from, to: p.to, port: p.port, protocol: p.protocol, family: p.family, kind: p.kind });
        const results: LabProbeResult[] = await prober.run(probes.map(toLab), { concurrency: CONCURRENCY, timeoutMs: TIMEOUT_MS });
        probesRun += results.length;
        // A late answer is not a deny: look again, slowly, before calling it one.
        const late = results.map((r, i) => ({ r, i })).filter(({ r, i }) => probes[i]!.p.expect && r.verdict === 'deny');
        const again = await prober.run(late.map(({ i }) => toLab(probes[i]!)), { concurrency: CONCURRENCY, timeoutMs: RETRY_TIMEOUT_MS });
        late.forEach(({ i }, k) => (results[i] = again[k]!));
        const wrong = results
          .map((r, i) => ({ r, ...probes[i]! }))
          // Exactly the verdict expected: a refusal is no deny (the packets got through, as
          // upstream's PokeServer also fails a REFUSED) and no allow (nobody answered).
          .filter(({ r, p }) => r.verdict !== (p.expect ? 'allow' : 'deny'))
          .map(({ r, p, gi }) => `${probeLabel(c, si, gi, p)}: expected ${p.expect ? 'allow' : 'deny'}, got ${r.verdict} (${r.detail}${r.message ? `: ${r.message}` : ''})`);
        probesWrong += wrong.length;
        t.same(wrong, [], `step ${si}: ${results.length} real probes (${step.probes.map((g) => `${g.protocol}/${g.port} ${g.family}`).join(', ')}) match the expectations (answers from any endpoint but the one dialled count as deny)`);
      } finally {
        prober.close();
      }
    }
  }
}
