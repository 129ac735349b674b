// End-to-end dataplane benchmark (not a test; prints ONE JSON object on stdout, progress on
// stderr). In a throwaway lab of network namespaces (node + pods a, b, c; support/netns.ts)
// it measures pod a -> pod b through the node, side by side in one run:
//   none      no rules at all on the node
//   iptables  the same policies as static iptables rules (bench/e2e/iptables-baseline.ts: the
//             plain evaluator's verdicts for every pod pair and port of the lab), kernel only
//   queue-floor  every NEW packet to b queued to bench/e2e/queue-floor.c, a C reader that accepts
//             all and judges nothing: the least any NFQUEUE consumer can cost, so nfqueue minus
//             queue-floor (same round) is what the agent adds to the kernel's queue round trip
//   queue-floor-spin  the same reader polling without sleep (one core busy): what the reader's
//             sleep and wake-up cost a first packet
//   queue-floor-node  the agent's NFQUEUE addon on Node's event loop accepting all
//             (bench/e2e/queue-floor-node.ts): nfqueue minus this is the agent's judging,
//             bookkeeping and rules
//   (the three queue-floor modes run only when --modes names them)
//   nfqueue   `palisade agent --backend nfqueue` in its default configuration: only pods a
//             policy judges are queued (src/enforce/judged-sets.ts), repeats of an allowed
//             (source, port, destination) are accepted by the kernel (verdict cache), and so
//             are first connections the rules allow (kernel admission); the bench's --queues
//   nfqueue-noadmit  the same with --no-kernel-admit: the verdict cache, but first connections
//             go to the agent (the default before kernel admission)
//   nfqueue-nocache  the same with --no-verdict-cache: every new connection to b is judged
//   nfqueue-2q  the default configuration with two queues (--queues 2, CPU fanout)
//   tun       `palisade agent --backend tun`
//   nfqueue-noguard  nfqueue with --no-source-guard: nfqueue/nfqueue-noguard is the cost of
//             source-address validation (the default layout, src/enforce/tc-guard.ts), same rounds
//   nfqueue-nftguard  nfqueue with --source-guard-layout nft (the native table in PREROUTING,
//             src/enforce/nft-guard.ts): nfqueue-nftguard/nfqueue-noguard is its cost
//   nfqueue-iptguard  nfqueue with --source-guard-layout iptables (the fallback layout,
//             src/enforce/spoof-guard.ts): nfqueue-iptguard/nfqueue-noguard is its cost
// and for each:
//   - new TCP connections per second (C client, --threads blocking connect() loops, each
//     connection reset as soon as it is established) and its connect() latency under load;
//   - connect() latency one connection at a time (p50/p90/p99): what enforcement adds to a new
//     connection, as (mode - none) per round;
//   - bulk TCP throughput (iperf3, one stream by default);
//   - new UDP flows: a raw-socket sender in a gives every datagram its own (source port,
//     destination port), so each one is a NEW conntrack entry on the node and goes to the judge;
//     what arrives at b (its eth0 rx counter) per second, and what the kernel dropped (queue
//     overflow, TUN device drops, conntrack drops, backlog drops);
//   - many distinct tuples (--tuple-shares, default 0,10,100): 200 client addresses on pod a x
//     1,000 ports of b (10000..10999, allowed by an ipBlock rule; 200,000 tuples, so that a 2 s
//     run of 100 % first connections at 60,000/s never runs out of unused ones against one
//     agent, which 200 ports did: warm tuples stood in for a third of them); 64 warm tuples are connected
//     once, then a chosen share of the connections are FIRST connections (a (source, port,
//     destination) never seen in the run, so no cache knows it) and the rest repeat warm ones:
//     connections per second and per CPU-second under load, connect() p50/p99 under load and
//     one at a time.
// Policies: b accepts TCP 8080 and 5201 and UDP 9000..9000+udpPorts-1 (endPort) from pods with
// role=client (a); c is isolated both ways with no rules. The machine is shared with other
// work, so modes are interleaved in rounds (order rotated every round) and medians reported.
//
// Usage (root): node --import tsx bench/e2e.ts [--seconds 1] [--rounds 5] [--threads 8]
//   [--latency-seconds 1] [--idle-seconds 3] [--bulk-seconds S] [--udp-rate 0] [--udp-ports 64] [--iperf-streams 1] [--queues 1]
//   [--nice=0] [--modes none,iptables,queue-floor,queue-floor-spin,queue-floor-node,nfqueue,nfqueue-nocache,nfqueue-noadmit,nfqueue-2q,tun,nfqueue-noguard,nfqueue-nftguard,nfqueue-iptguard] [--tuple-shares 0,10,100]
// --nice=N runs every process of the measured path (clients, servers, agent) at nice N (default
// 0 = leave alone; negative values need root and take CPU from everything else on the machine).
// On a shared machine the connection rate depends on the CPU share the path gets and on lock
// contention between the client threads (with no queue in the path, 8 threads often connect
// slower than 1); the CPU-cost figures (cpuUsPerConnection, connectionsPerCpuSecond) do not
// depend on the share, and are the ones to compare when the load average is above the cores.
// Each agent round starts with --idle-seconds of no traffic: agentIdleCpuMsPerSecond is the
// agent's CPU at rest, its spawned commands included (what the rule watchdog costs).
// --bulk-seconds: the iperf3 transfer's length (default: --seconds, whole). Ratios between modes
// come two ways: of the medians, and `paired` (the median of the per-round ratios, each of two
// samples taken minutes apart at most): the latter is what tells a cost of a few percent from
// the machine's drift.
// A default run takes under 3 minutes; raise --seconds/--rounds for steadier figures (e.g.
// --seconds 5 --rounds 7 --latency-seconds 3, about 12 minutes).
// --dns adds a DNS phase after the rounds (bench/e2e/dns-latency.ts: a DNS answer's round trip
// with and without a domainNames policy, i.e. through the agent or kept in the kernel; p50/p99
// and the added latency), --dns-queries N (default 2000) queries per variant and round, --rounds
// rounds; --dns-only runs that phase alone (about 1 minute with the defaults).

import { execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadManifests } from '../src/sources/manifests.ts';
import { clusterYaml, must, PODS, ROOT, run, startAgent, Topology, waitFor } from '../support/netns.ts';
import { baselineRemoval, buildBaseline } from './e2e/iptables-baseline.ts';
import { dnsLatency } from './e2e/dns-latency.ts';
import { isAgent, isFloor, type KernelCounters, type Mode, MODES, r2, r3, type Sample, summarise, type TupleSample } from './e2e/summary.ts';

// ---------------------------------------------------------------------------------------------
// Flags

function fail(msg: string): never {
  process.stderr.write(`bench e2e: ${msg}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        seconds: { type: 'string' },
        rounds: { type: 'string' },
        threads: { type: 'string' },
        'latency-seconds': { type: 'string' },
        'idle-seconds': { type: 'string' },
        'bulk-seconds': { type: 'string' },
        'udp-rate': { type: 'string' },
        'udp-ports': { type: 'string' },
        'iperf-streams': { type: 'string' },
        queues: { type: 'string' },
        nice: { type: 'string' },
        modes: { type: 'string' },
        'tuple-shares': { type: 'string' },
        dns: { type: 'boolean' },
        'dns-only': { type: 'boolean' },
        'dns-queries': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return fail((e as Error).message);
  }
})();
if (values.help) {
  const lines = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
  const header = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
  process.stdout.write(header.map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}

function num(name: keyof typeof values, min: number, max: number, dflt: number, integer = true): number {
  const v = values[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    fail(`--${name} must be ${integer ? 'a whole number' : 'a number'} in ${min}..${max}, got "${String(v)}"`);
  }
  return n;
}

const seconds = num('seconds', 0.5, 600, 1, false);
const rounds = num('rounds', 1, 100, 5);
const threads = num('threads', 1, 256, 8);
const latencySeconds = num('latency-seconds', 0.2, 600, 1, false);
const idleSeconds = num('idle-seconds', 0.5, 600, 3, false);
const bulkSeconds = num('bulk-seconds', 1, 600, Math.max(1, Math.round(seconds)));
const udpRate = num('udp-rate', 0, 50_000_000, 0);
const udpPorts = num('udp-ports', 1, 1000, 64);
const iperfStreams = num('iperf-streams', 1, 32, 1);
const queues = num('queues', 1, 16, 1);
// The floor modes are reference readers, not ways to enforce: run only when --modes names them.
const modes: Mode[] = values.modes === undefined ? MODES.filter((m) => !isFloor(m)) : values.modes.split(',').map((m) => {
  if (!(MODES as readonly string[]).includes(m)) fail(`--modes: unknown mode "${m}" (${MODES.join(', ')})`);
  return m as Mode;
});
if (new Set(modes).size !== modes.length) fail('--modes lists a mode twice');
const tupleShares: number[] = (values['tuple-shares'] ?? '0,10,100').split(',').filter((x) => x !== '').map((x) => {
  const n = Number(x);
  if (!Number.isFinite(n) || n < 0 || n > 100) fail(`--tuple-shares: "${x}" is not a percentage 0..100`);
  return n;
});

const nice = num('nice', -20, 19, 0);
const dnsOnly = values['dns-only'] === true;
const dnsPhase = dnsOnly || values.dns === true;
const dnsQueries = num('dns-queries', 10, 1_000_000, 2000);
/** Every process of the measured path runs at --nice (see the flag's comment in the header). */
const niced = (argv: string[]): string[] => (nice === 0 ? argv : ['nice', '-n', String(nice), ...argv]);

const TCP_PORT = 8080;
const IPERF_PORT = 5201;
const UDP_PORT = 9000;
const UDP_CT_TIMEOUT = 1;
// Many-tuples workload: client addresses TUPLE_SRC0.. on pod a, ports TUPLE_PORT0.. on b.
const TUPLE_SRC0 = '10.77.1.16';
const TUPLE_SOURCES = 200;
const TUPLE_PORT0 = 10000;
const TUPLE_PORTS = 1000;
const CLIENT_BLOCK = '10.77.1.0/24';
const B = PODS.b.v4;
const log = (l: string): void => void process.stderr.write(`bench e2e: ${l}\n`);

// ---------------------------------------------------------------------------------------------
// Lab

const topo = new Topology('e2e');
const loadgen = join(topo.dir, 'loadgen');
const queueFloor = join(topo.dir, 'queue-floor');
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
/** The queue-floor reader of a floor mode while it runs. */
let floor: ChildProcess | undefined;
/** Queue number of the agent modes (--queue) and of the floor reader. */
const QUEUE = 3;
/** The floor modes' one rule: every NEW packet to b (what the agent queues for b, which its policy isolates). */
const floorRule = (op: '-I' | '-D'): string[] => ['iptables', '-w', op, 'FORWARD', ...(op === '-I' ? ['1'] : []), '-d', B, '-m', 'conntrack', '--ctstate', 'NEW',
  '-m', 'comment', '--comment', 'PALBENCH-FLOOR', '-j', 'NFQUEUE', '--queue-num', String(QUEUE)];

const POLICIES = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-clients, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports:
    - {port: ${TCP_PORT}, protocol: TCP}
    - {port: ${IPERF_PORT}, protocol: TCP}
    - {port: ${UDP_PORT}, endPort: ${UDP_PORT + udpPorts - 1}, protocol: UDP}
  - from: [{ipBlock: {cidr: ${CLIENT_BLOCK}}}]
    ports: [{port: ${TUPLE_PORT0}, endPort: ${TUPLE_PORT0 + TUPLE_PORTS - 1}, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-isolated, namespace: x}
spec:
  podSelector: {matchLabels: {app: c}}
  policyTypes: [Ingress, Egress]
`;

const inNode = (argv: string[]): string[] => topo.in(topo.node, argv);

async function jsonOut<T>(argv: string[], timeoutMs = 60_000): Promise<T> {
  const r = await run(argv, undefined, timeoutMs);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function linkStats(ns: string, dev: string): Promise<{ rxPackets: number; txDropped: number; rxDropped: number } | undefined> {
  const r = await run(['ip', '-n', ns, '-s', '-j', 'link', 'show', 'dev', dev]);
  if (r.code !== 0) return undefined;
  const s = (JSON.parse(r.stdout) as { stats64: { rx: { packets: number; dropped: number }; tx: { dropped: number } } }[])[0]!.stats64;
  return { rxPackets: s.rx.packets, txDropped: s.tx.dropped, rxDropped: s.rx.dropped };
}

/** Sum over CPUs of `conntrack -S` counters in the node namespace. */
async function conntrackStats(): Promise<Record<string, number>> {
  const r = await run(inNode(['conntrack', '-S']));
  const sum: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/(\w+)=(\d+)/g)) if (m[1] !== 'cpu') sum[m[1]!] = (sum[m[1]!] ?? 0) + Number(m[2]);
  return sum;
}

/** Packets dropped by the per-CPU input backlog (/proc/net/softnet_stat column 2): machine-wide. */
function softnetDropped(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').reduce((a, l) => a + parseInt(l.trim().split(/\s+/)[1]!, 16), 0);
}

async function queueDrops(): Promise<number> {
  let d = 0;
  for (const q of (await topo.queueStats()).values()) d += q.dropped + q.userDropped;
  return d;
}


async function kernelCounters(): Promise<KernelCounters> {
  const [b, va, tun, ct, q] = await Promise.all([
    linkStats(topo.ns.b, 'eth0'), linkStats(topo.node, 'va'), linkStats(topo.node, 'palisade0'), conntrackStats(), queueDrops(),
  ]);
  return {
    bRx: b!.rxPackets,
    queueDropped: q,
    tunDropped: tun?.txDropped ?? 0,
    ctDrop: ct.drop ?? 0,
    ctEarlyEvictions: ct.early_drop ?? 0,
    ctInsertFailed: ct.insert_failed ?? 0,
    softnetDropped: softnetDropped(),
    vaRxDropped: va!.rxDropped,
  };
}

/**
 * utime + stime of a process in ms (/proc/PID/stat, USER_HZ = 100); with `children`, plus the
 * CPU of its children it has waited for (cutime + cstime: the agent's iptables/ipset/ip spawns).
 */
function cpuMs(pid: number | undefined, children = false): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) * 10;
  } catch {
    return 0;
  }
}

async function iptablesSave(): Promise<string> {
  const [a, b] = await Promise.all([run(inNode(['iptables-save'])), run(inNode(['ip6tables-save']))]);
  return a.stdout + b.stdout;
}

// ---------------------------------------------------------------------------------------------
// Enforcement on / off

const yamlDir = join(topo.dir, 'm');
let baselineRules: ReturnType<typeof buildBaseline> | undefined;

async function enforce(mode: Mode): Promise<void> {
  nextCold = 0;
  if (mode === 'iptables') {
    if (baselineRules!.v4) await must(inNode(['iptables-restore', '-w', '--noflush']), baselineRules!.v4);
    if (baselineRules!.v6) await must(inNode(['ip6tables-restore', '-w', '--noflush']), baselineRules!.v6);
  } else if (isAgent(mode)) {
    const statusFile = join(topo.dir, `${mode}.status.json`);
    const backend = mode === 'tun' ? 'tun' : 'nfqueue';
    // Queue numbers are NFQUEUE's: the agent refuses them with --backend tun.
    const queueArgs = backend === 'nfqueue' ? ['--queue', String(QUEUE), '--queues', String(mode === 'nfqueue-2q' ? 2 : queues)] : [];
    agent = await startAgent(topo, ['--node', 'n1', '--manifests', yamlDir, '--backend', backend, ...queueArgs,
      ...(mode === 'nfqueue-nocache' ? ['--no-verdict-cache'] : []), ...(mode === 'nfqueue-noadmit' ? ['--no-kernel-admit'] : []), ...(mode === 'nfqueue-noguard' ? ['--no-source-guard'] : []), ...(mode === 'nfqueue-iptguard' ? ['--source-guard-layout', 'iptables'] : []), ...(mode === 'nfqueue-nftguard' ? ['--source-guard-layout', 'nft'] : [])], statusFile);
    // Same priority as the rest of the path; every thread of the agent (setpriority is per thread).
    if (nice !== 0) for (const tid of readdirSync(`/proc/${agent.status.pid}/task`)) await run(['renice', '-n', String(nice), '-p', tid]);
  } else if (isFloor(mode)) {
    const reader = mode === 'queue-floor-node'
      ? ['node', '--import', 'tsx', join(ROOT, 'bench', 'e2e', 'queue-floor-node.ts'), String(QUEUE)]
      : [queueFloor, String(QUEUE), ...(mode === 'queue-floor-spin' ? ['spin'] : [])];
    const p = topo.spawn(inNode(niced(reader)));
    floor = p;
    let out = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    // The rule only after the bind: a packet queued to a queue nobody holds is dropped.
    await waitFor('queue-floor bound', () => out.includes('bound') || p.exitCode !== null, 10_000);
    if (p.exitCode !== null) throw new Error(`queue-floor exited (${p.exitCode}) before binding queue ${QUEUE}`);
    await must(inNode(floorRule('-I')));
  }
}

async function unenforce(mode: Mode): Promise<Record<string, number> | undefined> {
  let counters: Record<string, number> | undefined;
  if (mode === 'iptables') {
    for (const fam of [4, 6] as const) {
      if (!(fam === 4 ? baselineRules!.v4 : baselineRules!.v6)) continue;
      for (const argv of baselineRemoval(fam)) await must(inNode(argv));
    }
  } else if (isAgent(mode) && agent) {
    counters = topo.readJSON<{ counters: Record<string, number> }>(join(topo.dir, `${mode}.status.json`))?.counters;
    const a = agent;
    agent = undefined;
    const gone = new Promise<void>((res) => (a.proc.exitCode !== null ? res() : a.proc.on('exit', () => res())));
    process.kill(a.status.pid, 'SIGTERM');
    await Promise.race([gone, new Promise((_, rej) => setTimeout(() => rej(new Error(`agent (${mode}) did not exit within 20 s of SIGTERM:\n${a.log()}`)), 20_000))]);
  } else if (isFloor(mode) && floor) {
    await must(inNode(floorRule('-D')));
    const p = floor;
    floor = undefined;
    const gone = new Promise<void>((res) => (p.exitCode !== null || p.signalCode !== null ? res() : p.on('exit', () => res())));
    p.kill('SIGKILL');
    await gone;
  }
  // Whatever ran before must leave nothing behind, or the next mode measures two enforcers.
  const left = (await iptablesSave()).split('\n').filter((l) => /PALISADE|PALBENCH/.test(l));
  if (left.length > 0) throw new Error(`${mode}: rules left behind in the node namespace:\n${left.join('\n')}`);
  return counters;
}

/** Does the lab enforce what the mode should? a -> b:8080 always opens; c -> b:8080 only without policy. */
async function verdictCheck(mode: Mode): Promise<{ aToB: boolean; cToB: boolean }> {
  const probe = async (from: 'a' | 'c'): Promise<boolean> => (await run(topo.in(topo.ns[from], ['ncat', '-z', '-w', '1', B, String(TCP_PORT)]))).code === 0;
  const r = { aToB: await probe('a'), cToB: await probe('c') };
  const want = { aToB: true, cToB: mode === 'none' || isFloor(mode) };
  if (r.aToB !== want.aToB || r.cToB !== want.cToB) throw new Error(`${mode}: verdict check failed: a->b:${TCP_PORT} ${r.aToB ? 'open' : 'closed'}, c->b:${TCP_PORT} ${r.cToB ? 'open' : 'closed'} (want ${want.aToB ? 'open' : 'closed'}, ${want.cToB ? 'open' : 'closed'})`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// One measurement of one mode

interface ConnOut { connections: number; failures: number; seconds: number; perSecond: number; p50Us: number; p90Us: number; p99Us: number; maxUs: number; cpuUs: number }
interface UdpOut { sent: number; errors: number; seconds: number; perSecond: number; tupleSpace: number; cpuUs: number }

// CPU accounting. The machine is shared: how many connections per second we get depends on the
// CPU share the scheduler gives us, which other work changes from one second to the next. What
// each path costs does not: CPU time of every process of the path (client, server, agent) plus
// the ksoftirqd threads (softirq work the kernel deferred) per connection / per packet. The
// kernel here accounts CPU by ticks without IRQ time accounting, so softirq work (forwarding,
// conntrack, NFQUEUE) run on a process's behalf is charged to that process's system time.
let serverPid: number | undefined;
let tupleServerPid: number | undefined;
const ksoftirqdPids: number[] = [];
for (const d of readdirSync('/proc')) {
  if (!/^\d+$/.test(d)) continue;
  try {
    if (readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('ksoftirqd/')) ksoftirqdPids.push(Number(d));
  } catch { /* gone */ }
}
/** CPU ms of the long-lived parts of the path: server, agent, ksoftirqd (machine-wide, small noise from others). */
const pathCpuMs = (agentPid: number | undefined): number => cpuMs(serverPid) + cpuMs(tupleServerPid) + cpuMs(agentPid) + ksoftirqdPids.reduce((a, p) => a + cpuMs(p), 0);

/** Next never-used tuple; reset when an agent starts (so no tuple is first twice for one agent). */
let nextCold = 0;

/** The process that answers the queue (agent or floor reader), whose CPU is part of the path's. */
const queuePid = (): number | undefined => agent?.status.pid ?? floor?.pid;

/** One share of first connections: under load (--threads), then one connection at a time. */
async function measureTuples(mode: Mode, share: number): Promise<TupleSample> {
  const pid = queuePid();
  const gen = (secs: number, th: number): string[] => topo.in(topo.ns.a, niced([loadgen, 'tuples', TUPLE_SRC0, String(TUPLE_SOURCES), B, String(TUPLE_PORT0), String(TUPLE_PORTS), String(th), String(secs), String(share), String(nextCold)]));
  // Conntrack entries of earlier runs would make "first" tuples' SYNs look like retransmits of
  // an existing flow; the verdict cache is not touched (the warm-up refreshes its warm entries).
  await flushConntrack();
  const p0 = pathCpuMs(pid);
  const j0 = await judgedPackets(mode);
  const load = await jsonOut<ConnOut & { firstConnections: number; coldExhausted: number; nextCold: number }>(gen(seconds, threads));
  nextCold = load.nextCold;
  const judged = (await judgedPackets(mode)) - j0;
  const cpuUs = (pathCpuMs(pid) - p0) * 1000 + load.cpuUs;
  await flushConntrack();
  const seq = await jsonOut<ConnOut & { coldExhausted: number; nextCold: number }>(gen(latencySeconds, 1));
  nextCold = seq.nextCold;
  if (seq.coldExhausted > 0) log(`warning: ${mode}: one-at-a-time run: ${seq.coldExhausted} first connections found no unused tuple`);
  if (load.coldExhausted > 0) log(`warning: ${mode}: ${load.coldExhausted} first connections found no unused tuple (used warm ones)`);
  return {
    connectionsPerSecond: load.perSecond,
    cpuUsPerConnection: r2(cpuUs / Math.max(1, load.connections)),
    firstConnections: load.firstConnections,
    coldExhausted: load.coldExhausted,
    underLoadConnectP50Us: load.p50Us,
    underLoadConnectP99Us: load.p99Us,
    sequentialConnectP50Us: seq.p50Us,
    sequentialConnectP99Us: seq.p99Us,
    // Includes the 64 warm-up connections.
    ...(isAgent(mode) ? { judgedPacketsPerConnection: r3(judged / Math.max(1, load.connections + load.failures)) } : {}),
  };
}

async function flushConntrack(): Promise<void> {
  // Entries (and their connmarks) left by the previous mode must not carry verdicts over.
  await run(inNode(['conntrack', '-F']));
}

/** Packets handed to the judge so far: NFQUEUE id sequence, or packets routed into the TUN. */
async function judgedPackets(mode: Mode): Promise<number> {
  if (isFloor(mode) || (mode !== 'tun' && isAgent(mode))) return [...(await topo.queueStats()).values()].reduce((a, q) => a + q.idSequence, 0);
  if (mode === 'tun') {
    const r = await run(['ip', '-n', topo.node, '-s', '-j', 'link', 'show', 'dev', 'palisade0']);
    return r.code === 0 ? (JSON.parse(r.stdout) as { stats64: { tx: { packets: number } } }[])[0]!.stats64.tx.packets : NaN;
  }
  return 0;
}

async function measure(mode: Mode, round: number): Promise<Sample> {
  const pid = agent?.status.pid;
  const qpid = queuePid();
  // The agent's own cost with no traffic: its timers, the status file and the rule watchdog's
  // processes (children included), per second. What the source guard adds at rest shows here.
  // The first 2 s after a start are the agent settling (its first sweep, the JIT): not rest.
  if (pid) await new Promise((r) => setTimeout(r, 2000));
  const idle0 = cpuMs(pid, true), idleT0 = performance.now();
  if (pid) await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const agentIdleCpuMsPerSecond = pid ? r2((cpuMs(pid, true) - idle0) / ((performance.now() - idleT0) / 1000)) : undefined;
  await flushConntrack();
  let c0 = cpuMs(pid);
  let p0 = pathCpuMs(qpid);
  const j0 = await judgedPackets(mode);
  const rate = await jsonOut<ConnOut>(topo.in(topo.ns.a, niced([loadgen, 'conn', B, String(TCP_PORT), String(threads), String(seconds)])));
  const connCpu = cpuMs(pid) - c0;
  const connPathCpuUs = (pathCpuMs(qpid) - p0) * 1000 + rate.cpuUs;
  const judged = (await judgedPackets(mode)) - j0;
  const seq = await jsonOut<ConnOut>(topo.in(topo.ns.a, niced([loadgen, 'conn', B, String(TCP_PORT), '1', String(latencySeconds)])));
  const ip = await jsonOut<{ end: { sum_received: { bits_per_second: number }; cpu_utilization_percent: { host_total: number; remote_total: number } } }>(
    topo.in(topo.ns.a, niced(['iperf3', '-c', B, '-p', String(IPERF_PORT), '-t', String(bulkSeconds), '-P', String(iperfStreams), '-J'])));

  await flushConntrack();
  const k0 = await kernelCounters();
  c0 = cpuMs(pid);
  p0 = pathCpuMs(qpid);
  const udp = await jsonOut<UdpOut>(topo.in(topo.ns.a, niced([loadgen, 'udp', PODS.a.v4, B, String(UDP_PORT), String(udpPorts), String(seconds), String(udpRate)])));
  // Let what is still queued drain (or be dropped) before reading the counters.
  await new Promise((r) => setTimeout(r, 300));
  const udpCpu = cpuMs(pid) - c0;
  const udpPathCpuUs = (pathCpuMs(qpid) - p0) * 1000 + udp.cpuUs;
  const k1 = await kernelCounters();
  const tuples: Record<string, TupleSample> = {};
  for (const share of tupleShares) tuples[String(share)] = await measureTuples(mode, share);
  if (udp.sent >= udp.tupleSpace) log(`warning: ${mode}: UDP tuple space used up (${udp.tupleSpace}); raise --udp-ports`);
  const received = k1.bRx - k0.bRx;
  const ps = (n: number): number => Math.round(n / udp.seconds);
  const drops = {
    queueDropped: ps(k1.queueDropped - k0.queueDropped),
    tunDropped: ps(k1.tunDropped - k0.tunDropped),
    ctDrop: ps(k1.ctDrop - k0.ctDrop),
    ctEarlyEvictions: ps(k1.ctEarlyEvictions - k0.ctEarlyEvictions),
    ctInsertFailed: ps(k1.ctInsertFailed - k0.ctInsertFailed),
    softnetDropped: ps(k1.softnetDropped - k0.softnetDropped),
    vaRxDropped: ps(k1.vaRxDropped - k0.vaRxDropped),
  };
  return {
    mode,
    round,
    connectionsPerSecond: rate.perSecond,
    judgedPacketsPerConnection: isAgent(mode) ? r2(judged / Math.max(1, rate.connections + rate.failures)) : undefined,
    connectFailures: rate.failures + seq.failures,
    underLoadConnectP50Us: rate.p50Us,
    underLoadConnectP99Us: rate.p99Us,
    sequentialConnects: seq.connections,
    sequentialConnectP50Us: seq.p50Us,
    sequentialConnectP90Us: seq.p90Us,
    sequentialConnectP99Us: seq.p99Us,
    cpuUsPerConnection: r2(connPathCpuUs / Math.max(1, rate.connections)),
    bulkGbps: Math.round(ip.end.sum_received.bits_per_second / 1e7) / 100,
    bulkSenderCpuPercent: Math.round(ip.end.cpu_utilization_percent.host_total),
    bulkReceiverCpuPercent: Math.round(ip.end.cpu_utilization_percent.remote_total),
    udpSentPerSecond: ps(udp.sent),
    udpReceivedPerSecond: ps(received),
    udpLostPerSecond: ps(Math.max(0, udp.sent - received)),
    cpuUsPerDeliveredUdpPacket: r2(udpPathCpuUs / Math.max(1, received)),
    udpKernelDrops: drops,
    agentCpuUsPerConnection: pid ? Math.round((connCpu * 1000) / Math.max(1, rate.connections)) : undefined,
    agentCpuUsPerUdpPacket: pid ? Math.round((udpCpu * 1000 * 100) / Math.max(1, received)) / 100 : undefined,
    agentIdleCpuMsPerSecond,
    loadavg1: loadavg()[0]!,
    tuples,
  };
}

// ---------------------------------------------------------------------------------------------
// Main

const sh = (argv: string[]): string => {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};

let interrupted = false;
/** --dns-only: the report is written; skip the rest of the run (the lab is still torn down). */
class DnsOnlyDone extends Error {}
let teardown: Promise<void> | undefined;
const down = (): Promise<void> => (teardown ??= topo.down());
// First signal: stop what runs in our namespaces so the awaited step fails at once, and let the
// main flow tear the lab down in its `finally` (tearing down here, while the main flow may still
// be starting an agent, could leave that agent in a namespace nobody deletes). Second signal:
// tear down now and exit.
const onSignal = (sig: NodeJS.Signals): void => {
  if (interrupted) {
    void down().finally(() => process.exit(130));
    return;
  }
  interrupted = true;
  log(`${sig}: stopping, then tearing the lab down`);
  void (async () => {
    for (const ns of [topo.node, ...Object.values(topo.ns)]) {
      const r = await run(['ip', 'netns', 'pids', ns]).catch(() => undefined);
      for (const pid of (r?.stdout ?? '').split('\n').map(Number).filter((n) => n > 0)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch { /* gone */ }
      }
    }
  })();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** Busy jiffies and total jiffies of all CPUs (/proc/stat): how loaded the machine was, by anyone. */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

const started = Date.now();
const loadStart = loadavg();
const cpuStart = cpuTimes();
try {
  await topo.up();
  if (dnsOnly) {
    const dns = await dnsLatency(topo, { rounds, queries: dnsQueries, log });
    process.stdout.write(JSON.stringify({ bench: 'e2e', dns, env: { cores: cpus().length, kernel: release(), node: process.version, loadavgStart: loadStart.map(r2), loadavgEnd: loadavg().map(r2) }, durationSeconds: Math.round((Date.now() - started) / 1000) }, null, 2) + '\n');
    throw new DnsOnlyDone();
  }
  await must(['cc', '-O2', '-pthread', '-o', loadgen, join(ROOT, 'bench', 'e2e', 'loadgen.c')]);
  await must(['cc', '-O2', '-o', queueFloor, join(ROOT, 'bench', 'e2e', 'queue-floor.c')]);
  // Every flood datagram leaves an unreplied UDP conntrack entry on the node (30 s by default);
  // a 1 s timeout keeps the node namespace's table below nf_conntrack_max (262144 here, not
  // writable from a child namespace) up to ~250k new flows/s, so conntrack does not have to
  // evict entries (ctEarlyEvictions) to admit new ones. Per-namespace setting.
  await must(inNode(['sysctl', '-qw', `net.netfilter.nf_conntrack_udp_timeout=${UDP_CT_TIMEOUT}`]));
  await must(['mkdir', '-p', yamlDir]);
  topo.writeFile('m/cluster.yaml', clusterYaml('n1', [TCP_PORT, IPERF_PORT]));
  topo.writeFile('m/policy.yaml', POLICIES);

  // The many-tuples clients: extra addresses on pod a (its /24 is routed back through va).
  const base = Number(TUPLE_SRC0.split('.')[3]);
  // Each is declared as a pod of its own on va (as pods behind one bridge port would be):
  // source-address validation (on by default) drops any address on a pod interface that no pod
  // on it owns, and these are real sources, not forgeries.
  topo.writeFile('m/tuple-clients.yaml', Array.from({ length: TUPLE_SOURCES }, (_, i) =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: tuple-client-${i}, namespace: x, labels: {app: tuple-client}}\n` +
    `spec: {nodeName: n1, containers: [{name: c, image: i}]}\nstatus: {phase: Running, podIP: 10.77.1.${base + i}, podIPs: [{ip: 10.77.1.${base + i}}]}\n`).join('---\n'));
  await must(['ip', '-n', topo.ns.a, '-b', '-'], Array.from({ length: TUPLE_SOURCES }, (_, i) => `addr add 10.77.1.${base + i}/24 dev eth0`).join('\n') + '\n');

  const loaded = loadManifests([yamlDir]);
  if (loaded.errors.length > 0) throw new Error(`lab manifests invalid: ${JSON.stringify(loaded.errors)}`);
  baselineRules = buildBaseline(loaded.state, (['a', 'b', 'c'] as const).map((n) => ({ name: n, ips: [PODS[n].v4, PODS[n].v6] })), [
    { protocol: 'TCP', from: TCP_PORT, to: TCP_PORT },
    { protocol: 'TCP', from: IPERF_PORT, to: IPERF_PORT },
    { protocol: 'UDP', from: UDP_PORT, to: UDP_PORT + udpPorts - 1 },
    { protocol: 'TCP', from: TUPLE_PORT0, to: TUPLE_PORT0 + TUPLE_PORTS - 1 },
  ]);
  // The extra clients are no pod: the evaluator judged one of them (allowed by the ipBlock rule);
  // a hand-written dataplane writes that peer as the one CIDR rule, not one rule per address.
  {
    const one = loadManifests([yamlDir]);
    const extra = buildBaseline(one.state, [{ name: 'clients', ips: [TUPLE_SRC0] }, { name: 'b', ips: [B] }], [{ protocol: 'TCP', from: TUPLE_PORT0, to: TUPLE_PORT0 + TUPLE_PORTS - 1 }]);
    const line = extra.v4.split('\n').find((l) => l.includes(`-s ${TUPLE_SRC0} `) && l.endsWith('-j ACCEPT'));
    if (!line) throw new Error('baseline: the evaluator does not allow the tuple clients; the bench policy is wrong');
    const rule = line.replace(`-s ${TUPLE_SRC0} `, `-s ${CLIENT_BLOCK} `);
    baselineRules = { ...baselineRules, v4: baselineRules.v4.replace(/^(-A PALBENCH-BASELINE -m conntrack[^\n]*\n)/m, `$1${rule}\n`), accepts: baselineRules.accepts + 1 };
  }

  const server = topo.spawn(topo.in(topo.ns.b, niced([loadgen, 'serve', String(TCP_PORT), String(cpus().length)])));
  serverPid = server.pid;
  // `ip netns exec` execs the command (same pid); if a build forks instead, find the child.
  if (readFileSync(`/proc/${serverPid}/comm`, 'utf8').trim() !== 'loadgen') {
    const pids = (await must(['ip', 'netns', 'pids', topo.ns.b])).split('\n').map(Number).filter((n) => n > 0);
    serverPid = pids.find((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'loadgen'; } catch { return false; } });
  }
  let out = '';
  server.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitFor('conn server', () => out.includes('listening'), 10_000);
  const tupleServer = topo.spawn(topo.in(topo.ns.b, niced([loadgen, 'serve', String(TUPLE_PORT0), '1', String(TUPLE_PORTS)])));
  tupleServerPid = tupleServer.pid;
  let tout = '';
  tupleServer.stdout!.setEncoding('utf8').on('data', (d: string) => (tout += d));
  await waitFor('tuple server', () => tout.includes('listening'), 10_000);
  topo.spawn(topo.in(topo.ns.b, niced(['iperf3', '-s', '-p', String(IPERF_PORT)])));
  await waitFor('iperf3 server', async () => (await run(topo.in(topo.ns.b, ['ss', '-Hltn', `sport = :${IPERF_PORT}`]))).stdout.trim() !== '');

  const samples: Sample[] = [];
  const checks: Record<string, unknown> = {};
  for (let round = 0; round < rounds; round++) {
    // Rotate the order so no mode always runs first (right after the previous agent stopped).
    const order = modes.map((_, i) => modes[(i + round) % modes.length]!);
    for (const mode of order) {
      if (interrupted) throw new Error('interrupted');
      log(`round ${round + 1}/${rounds}: ${mode}`);
      await enforce(mode);
      try {
        if (round === 0) checks[mode] = await verdictCheck(mode);
        const s = await measure(mode, round);
        const counters = await unenforce(mode);
        if (counters) s.agentCounters = counters;
        samples.push(s);
        log(`  ${s.connectionsPerSecond} conn/s, seq p50 ${s.sequentialConnectP50Us} us p99 ${s.sequentialConnectP99Us} us, ${s.bulkGbps} Gbit/s, udp ${s.udpReceivedPerSecond}/${s.udpSentPerSecond} pps`);
      } catch (e) {
        await unenforce(mode).catch(() => {});
        throw e;
      }
    }
  }

  const dns = dnsPhase ? await dnsLatency(topo, { rounds, queries: dnsQueries, log }) : undefined;
  const env = {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model,
    kernel: release(),
    node: process.version,
    iptables: sh(['iptables', '-V']),
    loadavgStart: loadStart.map(r2),
    loadavgEnd: loadavg().map(r2),
    // Includes this bench's own load; compare with `cores` (a run alone keeps about 2 cores busy).
    machineCpuBusyFraction: (() => { const c = cpuTimes(); return r2((c.busy - cpuStart.busy) / Math.max(1, c.total - cpuStart.total)); })(),
    loadavg1DuringSamples: { min: r2(Math.min(...samples.map((s) => s.loadavg1))), max: r2(Math.max(...samples.map((s) => s.loadavg1))) },
  };
  const report = {
    bench: 'e2e',
    params: {
      seconds, bulkSeconds, rounds, threads, latencySeconds, udpRate: udpRate || 'flood', udpPorts, iperfStreams, queues, nice, modes, nodeConntrackUdpTimeout: UDP_CT_TIMEOUT,
      tuples: { shares: tupleShares, clientAddresses: TUPLE_SOURCES, serverPorts: TUPLE_PORTS, warmTuples: 64 },
    },
    ...summarise(samples, modes, tupleShares),
    verdictChecks: checks,
    ...(dns ? { dns } : {}),
    baseline: { accepts: baselineRules.accepts, drops: baselineRules.drops, judgedTuples: baselineRules.judged, allowedTuples: baselineRules.allowed, rulesV4: baselineRules.v4.split('\n').filter((l) => l.startsWith('-')) },
    env,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    samples,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
} catch (e) {
  if (!interrupted && !(e instanceof DnsOnlyDone)) throw e;
} finally {
  await down();
  if (interrupted) process.exit(130);
}
