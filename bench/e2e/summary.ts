// bench/e2e.ts's modes, the shape of one round's sample, and the summary of a run: medians per
// mode, ratios against the kernel-only modes and the targets. Pure (no I/O), so the runner holds
// only the lab and the measuring.

export const MODES = ['none', 'iptables', 'queue-floor', 'queue-floor-spin', 'queue-floor-node', 'nfqueue', 'nfqueue-nocache', 'nfqueue-noadmit', 'nfqueue-2q', 'tun', 'nfqueue-noguard', 'nfqueue-nftguard', 'nfqueue-iptguard'] as const;
export type Mode = (typeof MODES)[number];
/** Modes in which the Palisade agent enforces. */
export const AGENT_MODES = ['nfqueue', 'nfqueue-nocache', 'nfqueue-noadmit', 'nfqueue-2q', 'tun', 'nfqueue-noguard', 'nfqueue-nftguard', 'nfqueue-iptguard'] as const;
export const isAgent = (m: Mode): m is (typeof AGENT_MODES)[number] => (AGENT_MODES as readonly string[]).includes(m);
/**
 * Modes in which a reader accepts every packet queued and judges nothing: bench/e2e/queue-floor.c,
 * what any NFQUEUE consumer costs, sleeping between packets or (`-spin`) polling without sleep;
 * `-node`, the agent's addon on Node's event loop (bench/e2e/queue-floor-node.ts). Compared with
 * the kernel-only modes like the agent's, and each agent mode with both `queue-floor` (what
 * Palisade adds to the kernel's round trip) and `queue-floor-node` (what its judging, bookkeeping
 * and rules add to its own event loop).
 */
export const FLOOR_MODES = ['queue-floor', 'queue-floor-spin', 'queue-floor-node'] as const;
export const isFloor = (m: Mode): m is (typeof FLOOR_MODES)[number] => (FLOOR_MODES as readonly string[]).includes(m);
/** The modes whose packets leave the kernel, in the order the summary compares them. */
const QUEUED_MODES: readonly Mode[] = [...FLOOR_MODES, ...AGENT_MODES];
/** What each queued mode is compared with (when the run has it). */
function refsOf(p: Mode): Mode[] {
  const refs: Mode[] = ['iptables', 'none'];
  if (p === 'nfqueue' || p === 'nfqueue-nftguard' || p === 'nfqueue-iptguard') refs.push('nfqueue-noguard');
  if (isAgent(p) && p !== 'tun') refs.push('queue-floor', 'queue-floor-node');
  return refs;
}

export interface KernelCounters { bRx: number; queueDropped: number; tunDropped: number; ctDrop: number; ctEarlyEvictions: number; ctInsertFailed: number; softnetDropped: number; vaRxDropped: number }

export interface Sample {
  mode: Mode;
  round: number;
  connectionsPerSecond: number;
  /** Packets that went to the agent per connection attempt: 1 = only the SYN was judged. */
  judgedPacketsPerConnection?: number;
  connectFailures: number;
  underLoadConnectP50Us: number;
  underLoadConnectP99Us: number;
  sequentialConnects: number;
  sequentialConnectP50Us: number;
  sequentialConnectP90Us: number;
  sequentialConnectP99Us: number;
  /** CPU of the whole path (client, server, agent, ksoftirqd) per connection, under load. */
  cpuUsPerConnection: number;
  bulkGbps: number;
  bulkSenderCpuPercent: number;
  bulkReceiverCpuPercent: number;
  udpSentPerSecond: number;
  udpReceivedPerSecond: number;
  udpLostPerSecond: number;
  /** CPU of the whole path (sender, agent, ksoftirqd) per datagram that reached b. */
  cpuUsPerDeliveredUdpPacket: number;
  udpKernelDrops: Omit<KernelCounters, 'bRx'>;
  agentCpuUsPerConnection?: number;
  agentCpuUsPerUdpPacket?: number;
  /** Agent CPU (children included) per second of wall time with no traffic, before the round's load. */
  agentIdleCpuMsPerSecond?: number;
  agentCounters?: Record<string, number>;
  loadavg1: number;
  /** Many-tuples workload, per share of first connections (percent). */
  tuples: Record<string, TupleSample>;
}

export interface TupleSample {
  connectionsPerSecond: number;
  cpuUsPerConnection: number;
  firstConnections: number;
  coldExhausted: number;
  underLoadConnectP50Us: number;
  underLoadConnectP99Us: number;
  sequentialConnectP50Us: number;
  sequentialConnectP99Us: number;
  judgedPacketsPerConnection?: number;
}

export const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
export const r2 = (x: number): number => Math.round(x * 100) / 100;
export const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Medians per mode, ratios against the kernel-only modes, added latency per round, and the targets. */
export function summarise(samples: Sample[], modes: readonly Mode[], tupleShares: readonly number[]) {
  const by = (m: Mode) => samples.filter((s) => s.mode === m);
  const med = (m: Mode, f: (s: Sample) => number) => median(by(m).map(f));
  const results: Record<string, Record<string, unknown>> = {};
  for (const m of modes) {
    results[m] = {
      connectionsPerSecond: med(m, (s) => s.connectionsPerSecond),
      underLoadConnectP50Us: med(m, (s) => s.underLoadConnectP50Us),
      underLoadConnectP99Us: med(m, (s) => s.underLoadConnectP99Us),
      sequentialConnectP50Us: med(m, (s) => s.sequentialConnectP50Us),
      sequentialConnectP90Us: med(m, (s) => s.sequentialConnectP90Us),
      sequentialConnectP99Us: med(m, (s) => s.sequentialConnectP99Us),
      cpuUsPerConnection: med(m, (s) => s.cpuUsPerConnection),
      connectionsPerCpuSecond: Math.round(1e6 / med(m, (s) => s.cpuUsPerConnection)),
      bulkGbps: med(m, (s) => s.bulkGbps),
      bulkSenderCpuPercent: med(m, (s) => s.bulkSenderCpuPercent),
      bulkReceiverCpuPercent: med(m, (s) => s.bulkReceiverCpuPercent),
      udpSentPerSecond: med(m, (s) => s.udpSentPerSecond),
      udpReceivedPerSecond: med(m, (s) => s.udpReceivedPerSecond),
      udpLostPerSecond: med(m, (s) => s.udpLostPerSecond),
      cpuUsPerDeliveredUdpPacket: med(m, (s) => s.cpuUsPerDeliveredUdpPacket),
      udpPacketsPerCpuSecond: Math.round(1e6 / med(m, (s) => s.cpuUsPerDeliveredUdpPacket)),
      udpKernelDropsPerSecond: Object.fromEntries(Object.keys(by(m)[0]!.udpKernelDrops).map((k) => [k, med(m, (s) => s.udpKernelDrops[k as keyof Sample['udpKernelDrops']])])),
      ...(isAgent(m)
        ? { judgedPacketsPerConnection: med(m, (s) => s.judgedPacketsPerConnection!), agentCpuUsPerConnection: med(m, (s) => s.agentCpuUsPerConnection!), agentCpuUsPerUdpPacket: med(m, (s) => s.agentCpuUsPerUdpPacket!), agentIdleCpuMsPerSecond: med(m, (s) => s.agentIdleCpuMsPerSecond!) }
        : {}),
      connectFailures: by(m).reduce((a, s) => a + s.connectFailures, 0),
    };
  }
  const metric = (m: Mode, k: string): number => (results[m]?.[k] as number | undefined) ?? NaN;
  const ratios: Record<string, Record<string, number>> = {};
  const pairedRatios: Record<string, Record<string, number>> = {};
  // The median of per-round ratios: the two samples of a round are minutes apart at most, so
  // the machine's drift between rounds cancels out.
  const pairedRatio = (p: Mode, ref: Mode, f: (s: Sample) => number): number => r3(median(by(p).map((s) => {
    const o = samples.find((x) => x.mode === ref && x.round === s.round);
    return o ? f(s) / f(o) : NaN;
  })));
  const added: Record<string, Record<string, number>> = {};
  for (const p of QUEUED_MODES) {
    if (!results[p]) continue;
    for (const ref of refsOf(p)) {
      if (!results[ref]) continue;
      ratios[`${p}/${ref}`] = {
        connectionsPerSecond: r3(metric(p, 'connectionsPerSecond') / metric(ref, 'connectionsPerSecond')),
        connectionsPerCpuSecond: r3(metric(p, 'connectionsPerCpuSecond') / metric(ref, 'connectionsPerCpuSecond')),
        bulkGbps: r3(metric(p, 'bulkGbps') / metric(ref, 'bulkGbps')),
        udpReceivedPerSecond: r3(metric(p, 'udpReceivedPerSecond') / metric(ref, 'udpReceivedPerSecond')),
        udpPacketsPerCpuSecond: r3(metric(p, 'udpPacketsPerCpuSecond') / metric(ref, 'udpPacketsPerCpuSecond')),
      };
      pairedRatios[`${p}/${ref}`] = {
        connectionsPerSecond: pairedRatio(p, ref, (s) => s.connectionsPerSecond),
        connectionsPerCpuSecond: pairedRatio(p, ref, (s) => 1 / s.cpuUsPerConnection),
        bulkGbps: pairedRatio(p, ref, (s) => s.bulkGbps),
        udpReceivedPerSecond: pairedRatio(p, ref, (s) => s.udpReceivedPerSecond),
      };
      // Added latency per round (same round = nearest in time on a shared machine), then the median.
      const diff = (f: (s: Sample) => number) => r2(median(by(p).map((s) => {
        const o = samples.find((x) => x.mode === ref && x.round === s.round);
        return o ? f(s) - f(o) : NaN;
      })));
      added[`${p}-${ref}`] = { p50Us: diff((s) => s.sequentialConnectP50Us), p90Us: diff((s) => s.sequentialConnectP90Us), p99Us: diff((s) => s.sequentialConnectP99Us) };
    }
  }
  // Many tuples: per share, medians per mode, then the default configuration (and the others)
  // against kernel-only iptables in the same run, and added latency against none, per round.
  const tupleResults: Record<string, Record<string, Record<string, number>>> = {};
  const tupleRatios: Record<string, Record<string, Record<string, number>>> = {};
  for (const share of tupleShares.map(String)) {
    const tm = (m: Mode, f: (t: TupleSample) => number) => median(by(m).map((x) => f(x.tuples[share]!)));
    tupleResults[share] = {};
    for (const m of modes) {
      tupleResults[share]![m] = {
        connectionsPerSecond: tm(m, (t) => t.connectionsPerSecond),
        connectionsPerCpuSecond: Math.round(1e6 / tm(m, (t) => t.cpuUsPerConnection)),
        underLoadConnectP50Us: tm(m, (t) => t.underLoadConnectP50Us),
        underLoadConnectP99Us: tm(m, (t) => t.underLoadConnectP99Us),
        sequentialConnectP50Us: tm(m, (t) => t.sequentialConnectP50Us),
        sequentialConnectP99Us: tm(m, (t) => t.sequentialConnectP99Us),
        firstConnections: tm(m, (t) => t.firstConnections),
        ...(isAgent(m) ? { judgedPacketsPerConnection: tm(m, (t) => t.judgedPacketsPerConnection!) } : {}),
      };
    }
    tupleRatios[share] = {};
    for (const p of QUEUED_MODES) {
      const a = tupleResults[share]![p], ipt = tupleResults[share]!.iptables;
      if (!a || !ipt) continue;
      const addedVs = (ref: Mode, f: (t: TupleSample) => number) => r2(median(by(p).map((x) => {
        const o = samples.find((y) => y.mode === ref && y.round === x.round);
        return o ? f(x.tuples[share]!) - f(o.tuples[share]!) : NaN;
      })));
      tupleRatios[share]![`${p}/iptables`] = {
        connectionsPerSecond: r3(a.connectionsPerSecond! / ipt.connectionsPerSecond!),
        connectionsPerCpuSecond: r3(a.connectionsPerCpuSecond! / ipt.connectionsPerCpuSecond!),
        ...(results.none ? { addedSequentialP50UsVsNone: addedVs('none', (t) => t.sequentialConnectP50Us), addedSequentialP99UsVsNone: addedVs('none', (t) => t.sequentialConnectP99Us) } : {}),
        addedSequentialP50UsVsIptables: addedVs('iptables', (t) => t.sequentialConnectP50Us),
        addedSequentialP99UsVsIptables: addedVs('iptables', (t) => t.sequentialConnectP99Us),
        // What the agent adds to the bare queue round trip (bench/e2e/queue-floor.c) and to its own
        // event loop and addon accepting all (queue-floor-node.ts), same round.
        ...(isAgent(p) && p !== 'tun' && tupleResults[share]!['queue-floor']
          ? { addedSequentialP50UsVsFloor: addedVs('queue-floor', (t) => t.sequentialConnectP50Us), addedSequentialP99UsVsFloor: addedVs('queue-floor', (t) => t.sequentialConnectP99Us) }
          : {}),
        ...(isAgent(p) && p !== 'tun' && tupleResults[share]!['queue-floor-node']
          ? {
            addedSequentialP50UsVsNodeFloor: addedVs('queue-floor-node', (t) => t.sequentialConnectP50Us),
            connectionsPerCpuSecondVsNodeFloor: r3(a.connectionsPerCpuSecond! / tupleResults[share]!['queue-floor-node']!.connectionsPerCpuSecond!),
          }
          : {}),
      };
    }
  }
  const targets: Record<string, unknown>[] = [];
  // The tuple targets hold for the default configuration: judged sets and the verdict cache, with
  // one queue per CPU the agent may use (options.ts defaultQueueCount). `nfqueue` runs with
  // --queues (1 unless given), `nfqueue-2q` with 2: on a 2-core node the latter is the default.
  for (const [share, rs] of Object.entries(tupleRatios)) {
    for (const p of ['nfqueue', 'nfqueue-2q'] as const) {
      const rv = rs[`${p}/iptables`];
      if (!rv) continue;
      const want = Number(share) >= 100 ? 0.75 : 0.9;
      const checks: [string, number | undefined, boolean][] = [
        [`connectionsPerSecond >= ${want} x iptables`, rv.connectionsPerSecond, rv.connectionsPerSecond! >= want],
        [`connectionsPerCpuSecond >= ${want} x iptables`, rv.connectionsPerCpuSecond, rv.connectionsPerCpuSecond! >= want],
      ];
      if (rv.addedSequentialP50UsVsNone !== undefined) {
        checks.push([`added connect p50 < 20 us (vs none)`, rv.addedSequentialP50UsVsNone, rv.addedSequentialP50UsVsNone < 20]);
        checks.push([`added connect p99 < 200 us (vs none)`, rv.addedSequentialP99UsVsNone, rv.addedSequentialP99UsVsNone! < 200]);
      }
      for (const [what, value, met] of checks) targets.push({ backend: p, target: `tuples ${share}% first: ${what}`, value, met });
    }
  }
  for (const p of AGENT_MODES) {
    const rv = ratios[`${p}/iptables`];
    if (rv) {
      targets.push({ backend: p, target: 'connectionsPerSecond >= 0.9 x iptables', value: rv.connectionsPerSecond, met: rv.connectionsPerSecond >= 0.9 });
      // The same target on CPU cost: what the ratio would be on a machine with nothing else on it.
      targets.push({ backend: p, target: 'connectionsPerCpuSecond >= 0.9 x iptables', value: rv.connectionsPerCpuSecond, met: rv.connectionsPerCpuSecond >= 0.9 });
      targets.push({ backend: p, target: 'bulkGbps >= 0.9 x iptables', value: rv.bulkGbps, met: rv.bulkGbps >= 0.9 });
    }
    const a = added[`${p}-none`];
    if (a) {
      targets.push({ backend: p, target: 'added connect latency p50 < 20 us (vs none)', value: a.p50Us, met: a.p50Us < 20 });
      targets.push({ backend: p, target: 'added connect latency p99 < 200 us (vs none)', value: a.p99Us, met: a.p99Us < 200 });
    }
  }
  return { results, ratios, pairedRatios, addedConnectLatencyUs: added, tuples: { shares: tupleShares, results: tupleResults, ratios: tupleRatios }, targets };
}

