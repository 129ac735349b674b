// bench:e2e's summary (bench/e2e/summary.ts) on made-up samples: the queue-floor modes are
// compared with the kernel-only modes like the agent's, each NFQUEUE agent mode with the floors
// (what the agent adds to the kernel's round trip, and to its own event loop accepting all), and
// no target is set on a floor. Table-driven: a sample per mode and round with known figures.

import t from 'tap';
import { summarise, type Mode, type Sample, type TupleSample } from '../../bench/e2e/summary.ts';

function tuple(conn: number, cpuUs: number, seqP50: number, seqP99: number): TupleSample {
  return {
    connectionsPerSecond: conn, cpuUsPerConnection: cpuUs, firstConnections: conn, coldExhausted: 0,
    underLoadConnectP50Us: 0, underLoadConnectP99Us: 0, sequentialConnectP50Us: seqP50, sequentialConnectP99Us: seqP99,
  };
}

/** Per mode: [connections/s, CPU us a connection, one-at-a-time p50 and p99], in both phases alike. */
const FIGURES: Record<string, [number, number, number, number]> = {
  none: [60_000, 30, 16, 40],
  iptables: [50_000, 35, 19, 45],
  'queue-floor': [30_000, 50, 35, 80],
  'queue-floor-node': [27_000, 54, 39, 90],
  nfqueue: [24_000, 60, 50, 120],
};

function sample(mode: Mode, round: number, shift: number): Sample {
  const [conn, cpu, p50, p99] = FIGURES[mode]!;
  return {
    mode, round, connectionsPerSecond: conn, connectFailures: 0, underLoadConnectP50Us: 0, underLoadConnectP99Us: 0,
    sequentialConnects: 1000, sequentialConnectP50Us: p50 + shift, sequentialConnectP90Us: p50 + shift, sequentialConnectP99Us: p99 + shift,
    cpuUsPerConnection: cpu, bulkGbps: 10, bulkSenderCpuPercent: 90, bulkReceiverCpuPercent: 50,
    udpSentPerSecond: 1000, udpReceivedPerSecond: 1000, udpLostPerSecond: 0, cpuUsPerDeliveredUdpPacket: 2,
    udpKernelDrops: { queueDropped: 0, tunDropped: 0, ctDrop: 0, ctEarlyEvictions: 0, ctInsertFailed: 0, softnetDropped: 0, vaRxDropped: 0 },
    ...(mode === 'nfqueue' ? { judgedPacketsPerConnection: 1, agentCpuUsPerConnection: 10, agentCpuUsPerUdpPacket: 1, agentIdleCpuMsPerSecond: 1 } : {}),
    loadavg1: 1,
    // Every mode of a round shifted alike: differences within a round must not see the shift.
    tuples: { '100': tuple(conn, cpu, p50 + shift, p99 + shift) },
  };
}

const modes = Object.keys(FIGURES) as Mode[];
const samples = [0, 1, 2].flatMap((round) => modes.map((m) => sample(m, round, round * 7)));
const s = summarise(samples, modes, [100]);

t.test('added one-at-a-time latency: every queued mode against the kernel-only modes, the agent against the floors', async (t) => {
  const cases: [string, number][] = [
    ['queue-floor-none', 35 - 16],
    ['queue-floor-iptables', 35 - 19],
    ['queue-floor-node-none', 39 - 16],
    ['nfqueue-none', 50 - 16],
    ['nfqueue-queue-floor', 50 - 35],
    ['nfqueue-queue-floor-node', 50 - 39],
  ];
  for (const [key, p50] of cases) t.equal(s.addedConnectLatencyUs[key]?.p50Us, p50, key);
  t.notOk('queue-floor-queue-floor' in s.addedConnectLatencyUs, 'a floor is not compared with itself');
});

t.test('ratios: floors against iptables, the agent against the floors', async (t) => {
  const cases: [string, number][] = [
    ['queue-floor/iptables', 30_000 / 50_000],
    ['queue-floor-node/iptables', 27_000 / 50_000],
    ['nfqueue/queue-floor', 24_000 / 30_000],
    ['nfqueue/queue-floor-node', 24_000 / 27_000],
  ];
  for (const [key, conn] of cases) {
    t.equal(s.ratios[key]?.connectionsPerSecond, Math.round(conn * 1000) / 1000, `${key} connections/s`);
    t.equal(s.pairedRatios[key]?.connectionsPerSecond, Math.round(conn * 1000) / 1000, `${key} paired`);
  }
});

t.test('many tuples: the floors get ratios and latencies, the agent its difference to each floor', async (t) => {
  const r = s.tuples.ratios['100']!;
  t.equal(r['queue-floor/iptables']?.connectionsPerSecond, 0.6);
  t.equal(r['queue-floor/iptables']?.addedSequentialP50UsVsNone, 35 - 16);
  t.equal(r['nfqueue/iptables']?.addedSequentialP50UsVsFloor, 50 - 35);
  t.equal(r['nfqueue/iptables']?.addedSequentialP99UsVsFloor, 120 - 80);
  t.equal(r['nfqueue/iptables']?.addedSequentialP50UsVsNodeFloor, 50 - 39);
  t.equal(r['nfqueue/iptables']?.connectionsPerCpuSecondVsNodeFloor, Math.round((1e6 / 60 / Math.round(1e6 / 54)) * 1000) / 1000);
  t.notOk('addedSequentialP50UsVsFloor' in r['queue-floor-node/iptables']!, 'floors are not compared with floors');
});

t.test('targets are set on the agent only', async (t) => {
  const backends = new Set(s.targets.map((x) => x.backend));
  t.same([...backends], ['nfqueue']);
});
