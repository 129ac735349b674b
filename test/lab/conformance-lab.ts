// The shared conformance suite with real packets: every case, every step, every probe (the full
// matrices and the listed pairs, node and reply probes included), TCP via curl, UDP and SCTP,
// IPv4 and IPv6, through the lab with the agent enforcing in the node namespace. Used by the
// conformance-lab-<backend>.test.ts files (one per backend so they can run in parallel, each in
// its own lab).
//
// One lab serves every case: between cases only what differs is rebuilt (pods whose addresses
// change; endpoints just change ports), and the agent keeps running, following the lab's
// manifests folder. Per step:
//   1. the whole cluster after the step is written to the folder (manifestsForStep);
//   2. we wait until the agent's status file says a pass over the folder that started after
//      the write is enforced (lab-agent.ts waitForEnforced);
//   3. the node's conntrack table is flushed, so every probe is a new connection judged by the
//      step's policies (a probe reusing a 5-tuple that an earlier step allowed would otherwise
//      ride on that connection's state, which NetworkPolicy rightly leaves alone);
//   4. all probes run concurrently; a probe that was denied but expected allowed is run once
//      more with a long timeout before it counts as a failure (a denied probe is a timeout, and
//      a busy machine can make an allowed answer late), while an allowed probe expected denied
//      fails at once: packets that arrived cannot be a timing artefact.

import t from 'tap';
import type { Protocol } from '../../src/cluster/model.ts';
import { buildClusterForCase, manifestsForStep, probeLabel, probesForGroup, type CaseProbe, type ConformanceCase } from '../support/conformance-cases.ts';
import type { ServePorts } from '../../src/lab/endpoint-wire.ts';
import { processAlive, readAgentStatus, startLabAgent, stopLabAgent, waitForEnforced, writeLabManifests, type LabBackend } from '../../src/lab/lab-agent.ts';
import type { LabState } from '../../src/lab/lab-state.ts';
import { mustRun } from '../../src/lab/netns.ts';
import { LabProber, type LabProbeResult } from '../../src/lab/probe.ts';
import { labDown, labSpecFromCluster, labUp } from '../../src/lab/topology.ts';
import { allCases } from '../conformance/case-set.ts';

const TIMEOUT_MS = 1000;
const RETRY_TIMEOUT_MS = 4000;
const CONCURRENCY = 24;

/** Every port a case probes, per protocol: served by every pod (and the node) on top of its containerPorts. */
function probedPorts(c: ConformanceCase): ServePorts {
  const by: Record<Protocol, Set<number>> = { TCP: new Set(), UDP: new Set(), SCTP: new Set() };
  for (const s of c.steps) for (const g of s.probes) by[g.protocol].add(g.port);
  const sorted = (x: Set<number>) => [...x].sort((a, b) => a - b);
  return { tcp: sorted(by.TCP), udp: sorted(by.UDP), sctp: sorted(by.SCTP) };
}

export function conformanceLab(backend: LabBackend, lab: string): void {
  if (process.getuid?.() !== 0) {
    t.test(`conformance in the lab (${backend})`, { skip: 'needs root (network namespaces, iptables)' }, async () => {});
    return;
  }
  const filter = process.env.PALISADE_LAB_CASES ? new RegExp(process.env.PALISADE_LAB_CASES) : undefined;
  const cases = allCases().filter((c) => !filter || filter.test(c.file));
  let state: LabState | undefined;
  const enforceTimes: number[] = [];
  let probesRun = 0;

  t.before(async () => {
    await labDown(lab);
  });
  t.teardown(async () => {
    if (state?.agent) await stopLabAgent(state).catch(() => {});
    await labDown(lab);
    if (enforceTimes.length) {
      const sorted = [...enforceTimes].sort((a, b) => a - b);
      t.comment(`${backend}: ${probesRun} probes; change -> enforced: median ${sorted[sorted.length >> 1]} ms, max ${sorted[sorted.length - 1]} ms over ${sorted.length} steps`);
    }
  });

  for (const c of cases) {
    const file = c.file.split('/').pop()!;
    t.test(`${file} (${backend})`, async (t) => {
      const externals = c.externals.map((e) => ({ name: e.name, ips: [e.ip, e.ipv6].filter((x): x is string => !!x) }));
      const { spec } = labSpecFromCluster(buildClusterForCase(c), { extraPorts: probedPorts(c), externals });
      state = await labUp(spec, { name: lab });
      if (!state.agent || !processAlive(state.agent.pid)) {
        // The first case, or a case whose node addresses differ (the lab was rebuilt).
        writeLabManifests(state, manifestsForStep(c, 0));
        await startLabAgent(state, { backend });
      }
      for (const [si, step] of c.steps.entries()) {
        const writtenAt = writeLabManifests(state, manifestsForStep(c, si));
        enforceTimes.push(await waitForEnforced(state, writtenAt, 15_000));
        const st = readAgentStatus(state.agent!.statusFile);
        t.same(st?.sourceErrors ?? [], [], `step ${si}: the agent read the manifests without errors`);
        await mustRun(['ip', 'netns', 'exec', state.nodeNetns, 'conntrack', '-F']);

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
            .filter(({ r, p }) => (r.verdict === 'allow') !== p.expect)
            .map(({ r, p, gi }) => `${probeLabel(c, si, gi, p)}: expected ${p.expect ? 'allow' : 'deny'}, got ${r.verdict} (${r.detail}${r.message ? `: ${r.message}` : ''})`);
          t.same(wrong, [], `step ${si}: ${results.length} real probes (${step.probes.map((g) => `${g.protocol}/${g.port} ${g.family}`).join(', ')}) match the expectations (answers from any endpoint but the one dialled count as deny)`);
        } finally {
          prober.close();
        }
      }
    });
  }
}
