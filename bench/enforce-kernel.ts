// Kernel-path benchmark of the enforcers (not a test; prints JSON). In a throwaway topology of
// network namespaces (node + pods a, b, c, see support/netns.ts) it measures, for pod a ->
// pod b through the node:
//   - new TCP connections per second (CONCURRENCY in flight, each reset once established), and
//     the connect() latency distribution one connection at a time (p50/p90/p99);
//   - bulk TCP throughput (iperf3, one stream);
// with no enforcement, with `palisade agent --backend nfqueue`, and with `--backend tun`.
// b is isolated by a policy that allows a, so every new connection is judged.
//
// Usage (root): node --import tsx bench/enforce-kernel.ts [SECONDS=4] [CONCURRENCY=16] [ROUNDS=3]

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Topology, clusterYaml, serverPolicy, startAgent, must, run, waitFor, ROOT } from '../support/netns.ts';

const seconds = Number(process.argv[2] ?? 4);
const conc = Number(process.argv[3] ?? 16);
const rounds = Number(process.argv[4] ?? 3);
const topo = new Topology('bench');

async function connRate(concurrency: number): Promise<Record<string, number>> {
  const r = await must(topo.in(topo.ns.a, ['node', '--import', 'tsx', join(ROOT, 'bench', 'fixtures', 'conn-client.ts'), '10.77.2.2', '8080', String(concurrency), String(seconds)]));
  return JSON.parse(r) as Record<string, number>;
}

async function throughput(): Promise<number> {
  const r = await must(topo.in(topo.ns.a, ['iperf3', '-c', '10.77.2.2', '-p', '5201', '-t', String(seconds), '-J']));
  const j = JSON.parse(r) as { end: { sum_received: { bits_per_second: number } } };
  return Math.round(j.end.sum_received.bits_per_second / 1e6);
}

/** utime + stime of a process, in ms (from /proc/PID/stat, clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function measure(label: string, agentPid?: number): Promise<Record<string, unknown>> {
  // Rate with CONCURRENCY in flight; latency one connection at a time (no queueing in the client).
  const cpu0 = cpuMs(agentPid);
  const rate = await connRate(conc);
  const agentCpuMs = cpuMs(agentPid) - cpu0;
  const lat = await connRate(1);
  const mbps = await throughput();
  return {
    mode: label,
    connectionsPerSecond: rate.perSecond,
    failures: rate.failures! + lat.failures!,
    underLoad: { p50Ms: rate.p50Ms, p99Ms: rate.p99Ms },
    sequential: { perSecond: lat.perSecond, p50Ms: lat.p50Ms, p90Ms: lat.p90Ms, p99Ms: lat.p99Ms },
    throughputMbps: mbps,
    // The agent's CPU per judged connection: what bounds its rate on a machine of our own.
    agentCpuUsPerConnection: agentPid ? Math.round((agentCpuMs * 1000) / Math.max(1, rate.connections!)) : undefined,
  };
}

try {
  await topo.up();
  await must(topo.in(topo.ns.a, ['sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1']));
  const server = topo.spawn(topo.in(topo.ns.b, ['node', '--import', 'tsx', join(ROOT, 'bench', 'fixtures', 'conn-server.ts'), '8080']));
  let out = '';
  server.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitFor('conn server', () => out.includes('listening'), 30_000);
  topo.spawn(topo.in(topo.ns.b, ['iperf3', '-s', '-p', '5201']));
  await waitFor('iperf3 server', async () => (await run(topo.in(topo.ns.b, ['ss', '-Hltn', 'sport = :5201']))).stdout.trim() !== '');
  await must(['mkdir', '-p', join(topo.dir, 'm')]);
  topo.writeFile('m/cluster.yaml', clusterYaml('n1', [8080, 5201]));
  topo.writeFile('m/policy.yaml', serverPolicy([8080, 5201]));

  // Modes are interleaved over ROUNDS rounds and the median of each figure is reported, so a
  // burst of load from elsewhere on the machine skews one sample, not one mode.
  const samples: Record<string, Record<string, unknown>[]> = { none: [], nfqueue: [], tun: [] };
  for (let round = 0; round < rounds; round++) {
    samples.none!.push(await measure('none'));
    for (const backend of ['nfqueue', 'tun']) {
      const statusFile = join(topo.dir, `${backend}.json`);
      const a = await startAgent(topo, ['--node', 'n1', '--manifests', join(topo.dir, 'm'), '--backend', backend, ...(backend === 'nfqueue' ? ['--queue', '3'] : [])], statusFile);
      const r = await measure(backend, a.status.pid);
      const s = topo.readJSON<{ counters: Record<string, number> }>(statusFile);
      samples[backend]!.push({ ...r, agentCounters: s?.counters });
      const gone = new Promise<void>((res) => a.proc.on('exit', () => res()));
      process.kill(a.status.pid, 'SIGTERM');
      await gone;
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const pick = (rs: Record<string, unknown>[], path: string) => median(rs.map((r) => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], r) as number));
  const summary = Object.entries(samples).map(([mode, rs]) => ({
    mode,
    connectionsPerSecond: pick(rs, 'connectionsPerSecond'),
    sequentialConnectP50Ms: pick(rs, 'sequential.p50Ms'),
    sequentialConnectP90Ms: pick(rs, 'sequential.p90Ms'),
    sequentialConnectP99Ms: pick(rs, 'sequential.p99Ms'),
    underLoadConnectP50Ms: pick(rs, 'underLoad.p50Ms'),
    underLoadConnectP99Ms: pick(rs, 'underLoad.p99Ms'),
    throughputMbps: pick(rs, 'throughputMbps'),
    agentCpuUsPerConnection: mode === 'none' ? undefined : pick(rs, 'agentCpuUsPerConnection'),
    failures: rs.reduce((a, r) => a + (r.failures as number), 0),
  }));
  process.stdout.write(JSON.stringify({ bench: 'enforce-kernel', seconds, concurrency: conc, rounds, cpus: (await must(['nproc'])).trim(), loadavg: (await must(['cat', '/proc/loadavg'])).trim(), summary, samples }, null, 2) + '\n');
} finally {
  await topo.down();
}
