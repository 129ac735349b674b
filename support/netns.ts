// Topology for the enforcement tests and the kernel benchmarks (bench/e2e.ts): a "node" network
// namespace routing between pod namespaces, each pod attached by a veth pair. Everything lives in
// namespaces this process creates (names carry the pid and a tag, so test files can run in
// parallel); nothing is connected to the root namespace, and teardown deletes it all, also after
// a failure.
//
//   pod a  10.77.1.2 fd77:1::2  eth0 <-> va  10.77.1.1 fd77:1::1 \
//   pod b  10.77.2.2 fd77:2::2  eth0 <-> vb  10.77.2.1 fd77:2::1  node (forwarding)
//   pod c  10.77.3.2 fd77:3::2  eth0 <-> vc  10.77.3.1 fd77:3::1 /

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../src/agent/node-flags.ts';

export const ROOT = join(import.meta.dirname, '..');

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(argv: readonly string[], input?: string, timeoutMs = 20_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    c.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    c.stdin.on('error', () => {});
    c.stdin.end(input ?? '');
  });
}

export async function must(argv: readonly string[], input?: string): Promise<string> {
  const r = await run(argv, input);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, stepMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const PODS = {
  a: { v4: '10.77.1.2', v6: 'fd77:1::2', gw4: '10.77.1.1', gw6: 'fd77:1::1', nodeIf: 'va' },
  b: { v4: '10.77.2.2', v6: 'fd77:2::2', gw4: '10.77.2.1', gw6: 'fd77:2::1', nodeIf: 'vb' },
  c: { v4: '10.77.3.2', v6: 'fd77:3::2', gw4: '10.77.3.1', gw6: 'fd77:3::1', nodeIf: 'vc' },
} as const;
export type PodName = keyof typeof PODS;

export class Topology {
  readonly node: string;
  readonly ns: Record<PodName, string>;
  readonly dir: string;
  private readonly procs = new Set<ChildProcess>();
  private created: string[] = [];

  constructor(tag: string) {
    const base = `pal-t-${process.pid}-${tag}`;
    this.node = `${base}-n`;
    this.ns = { a: `${base}-a`, b: `${base}-b`, c: `${base}-c` };
    this.dir = mkdtempSync(join(tmpdir(), `pal-t-${tag}-`));
  }

  /** `ip netns exec NS ...argv` */
  in(ns: string, argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', ns, ...argv];
  }

  async up(): Promise<void> {
    for (const ns of [this.node, ...Object.values(this.ns)]) {
      await must(['ip', 'netns', 'add', ns]);
      this.created.push(ns);
      await must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await must(this.in(this.node, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']));
    for (const name of Object.keys(PODS) as PodName[]) await this.wirePod(name);
  }

  /**
   * A pod's veth pair and addresses, as a routed CNI wires them: the node side named
   * PODS[name].nodeIf with the gateway addresses, the pod side eth0 with `addrs` (the pod's own by
   * default) and default routes via the gateways.
   */
  async wirePod(name: PodName, addrs: { v4: string; v6: string } = PODS[name]): Promise<void> {
    const p = PODS[name];
    const pod = this.ns[name];
    await must(['ip', '-n', this.node, 'link', 'add', p.nodeIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod]);
    await must(['ip', '-n', this.node, 'addr', 'add', `${p.gw4}/24`, 'dev', p.nodeIf]);
    await must(['ip', '-n', this.node, 'addr', 'add', `${p.gw6}/64`, 'dev', p.nodeIf, 'nodad']);
    await must(['ip', '-n', this.node, 'link', 'set', p.nodeIf, 'up']);
    await must(['ip', '-n', pod, 'addr', 'add', `${addrs.v4}/24`, 'dev', 'eth0']);
    await must(['ip', '-n', pod, 'addr', 'add', `${addrs.v6}/64`, 'dev', 'eth0', 'nodad']);
    await must(['ip', '-n', pod, 'link', 'set', 'eth0', 'up']);
    await must(['ip', '-n', pod, 'route', 'add', 'default', 'via', p.gw4]);
    await must(['ip', '-n', pod, '-6', 'route', 'add', 'default', 'via', p.gw6]);
  }

  /** The interface index of a pod's node-side veth. */
  async nodeIfIndex(name: PodName): Promise<number> {
    return Number((await must(this.in(this.node, ['cat', `/sys/class/net/${PODS[name].nodeIf}/ifindex`]))).trim());
  }

  /** A CNI recreating a pod's veth under the same name: deleted, then wired again with `addrs`; its index before and after. */
  async recreateVeth(name: PodName, addrs: { v4: string; v6: string }): Promise<{ before: number; after: number }> {
    const before = await this.nodeIfIndex(name);
    await must(this.in(this.node, ['ip', 'link', 'del', PODS[name].nodeIf]));
    await this.wirePod(name, addrs);
    return { before, after: await this.nodeIfIndex(name) };
  }

  /** A pod that keeps its veth but changes its addresses (as a pod deleted and re-added with new IPs): eth0's `from` swapped for `to`, default routes put back. */
  async readdressPod(name: PodName, from: { v4: string; v6: string }, to: { v4: string; v6: string }): Promise<void> {
    const p = PODS[name];
    const pod = this.ns[name];
    await must(['ip', '-n', pod, 'addr', 'del', `${from.v4}/24`, 'dev', 'eth0']);
    await must(['ip', '-n', pod, 'addr', 'add', `${to.v4}/24`, 'dev', 'eth0']);
    await must(['ip', '-n', pod, 'route', 'replace', 'default', 'via', p.gw4]);
    await must(['ip', '-n', pod, 'addr', 'del', `${from.v6}/64`, 'dev', 'eth0']);
    await must(['ip', '-n', pod, 'addr', 'add', `${to.v6}/64`, 'dev', 'eth0', 'nodad']);
    await must(['ip', '-n', pod, '-6', 'route', 'replace', 'default', 'via', p.gw6]);
  }

  /** Starts a long-running process; killed at teardown. */
  spawn(argv: readonly string[]): ChildProcess {
    return spawnTracked(this.procs, argv);
  }

  /** TCP echo and UDP echo servers on `port` in a pod (both families). */
  async servers(pod: PodName, port: number): Promise<void> {
    this.spawn(this.in(this.ns[pod], ['socat', `TCP6-LISTEN:${port},fork,reuseaddr,ipv6only=0`, 'EXEC:cat']));
    this.spawn(this.in(this.ns[pod], ['socat', `UDP6-RECVFROM:${port},fork,ipv6only=0`, 'EXEC:cat']));
    await waitFor(`servers on ${pod}:${port}`, async () => {
      const r = await run(this.in(this.ns[pod], ['ss', '-Hltun', `sport = :${port}`]));
      return r.stdout.split('\n').filter((l) => l.trim()).length >= 2;
    });
  }

  /** True when a new TCP connection from `from` to pod `to` completes within 1.5 s. */
  async tcp(from: PodName, to: PodName, port: number, family: 4 | 6 = 4): Promise<boolean> {
    const ip = family === 4 ? PODS[to].v4 : PODS[to].v6;
    const r = await run(this.in(this.ns[from], ['ncat', '-z', '-w', '1.5', ip, String(port)]));
    return r.code === 0;
  }

  /** True when a UDP datagram from `from` to pod `to` is echoed back. */
  async udp(from: PodName, to: PodName, port: number, family: 4 | 6 = 4): Promise<boolean> {
    const addr = family === 4 ? `UDP4:${PODS[to].v4}:${port}` : `UDP6:[${PODS[to].v6}]:${port}`;
    const token = `t${Math.random().toString(36).slice(2)}`;
    const r = await run(this.in(this.ns[from], ['socat', '-T', '1.5', '-', addr]), token + '\n');
    return r.stdout.includes(token);
  }

  /**
   * Can a denied UDP flow be opened from the far end? c sends b:7070 (denied), then b "replies"
   * from 7070 to c's source port while b's egress is denied. Returns whether the reply reached
   * c, and whether a datagram a -> c (allowed) reached the same listener (the control).
   */
  async udpReplyLeak(): Promise<{ leaked: boolean; control: boolean }> {
    await run(this.in(this.ns.c, ['socat', '-u', '-', `UDP4-SENDTO:${PODS.b.v4}:7070,sourceport=40002`]), 'open\n');
    const l = this.spawn(this.in(this.ns.c, ['socat', '-u', 'UDP4-RECV:40002', '-']));
    let got = '';
    l.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
    await waitFor('listener on c:40002', async () => (await run(this.in(this.ns.c, ['ss', '-Hlun', 'sport = :40002']))).stdout.trim() !== '');
    await run(this.in(this.ns.b, ['socat', '-u', '-', `UDP4-SENDTO:${PODS.c.v4}:40002,sourceport=7070`]), 'reply\n');
    await new Promise((r) => setTimeout(r, 1500));
    const leaked = got.includes('reply');
    await run(this.in(this.ns.a, ['socat', '-u', '-', `UDP4-SENDTO:${PODS.c.v4}:40002`]), 'control\n');
    const control = await waitFor('control datagram', () => got.includes('control'), 3000).catch(() => false);
    l.kill('SIGKILL');
    return { leaked, control };
  }

  /** Contents of the node's /proc/net/netfilter/nfnetlink_queue: queue -> packets ever queued (id_sequence). */
  async queueStats(): Promise<Map<number, { portid: number; waiting: number; dropped: number; userDropped: number; idSequence: number }>> {
    const text = await must(this.in(this.node, ['cat', '/proc/net/netfilter/nfnetlink_queue']));
    const m = new Map<number, { portid: number; waiting: number; dropped: number; userDropped: number; idSequence: number }>();
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/).map(Number);
      if (f.length < 8 || Number.isNaN(f[0])) continue;
      m.set(f[0]!, { portid: f[1]!, waiting: f[2]!, dropped: f[5]!, userDropped: f[6]!, idSequence: f[7]! });
    }
    return m;
  }

  writeFile(name: string, text: string): string {
    const p = join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }

  readJSON<T>(path: string): T | undefined {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  async down(): Promise<void> {
    await tearDown(this.procs, this.created, this.dir);
    this.created = [];
  }
}

/** Starts a long-running process and keeps it in `procs` until it exits, so teardown can kill it. */
export function spawnTracked(procs: Set<ChildProcess>, argv: readonly string[]): ChildProcess {
  const c = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  c.on('error', () => {});
  c.stdin?.on('error', () => {});
  procs.add(c);
  c.on('exit', () => procs.delete(c));
  return c;
}

/**
 * Removes what a test made: kills the processes it started and whatever still runs inside the
 * namespaces it created (agents restarted by tests, socat children), deletes those namespaces
 * (last created first) and the scratch folder.
 */
export async function tearDown(procs: Iterable<ChildProcess>, created: readonly string[], dir: string): Promise<void> {
  for (const c of procs) {
    try {
      c.kill('SIGKILL');
    } catch { /* gone */ }
  }
  for (const ns of created) {
    const r = await run(['ip', 'netns', 'pids', ns]).catch(() => undefined);
    for (const pid of (r?.stdout ?? '').split('\n').map((s) => Number(s.trim())).filter((n) => n > 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
  }
  for (const ns of [...created].reverse()) await run(['ip', 'netns', 'del', ns]).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

/** Cluster manifests for the topology: namespace x, pods a b c on node `node` (b and c serve `ports`). */
export function clusterYaml(node: string, ports: readonly number[]): string {
  const pod = (name: PodName, labels: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: x, labels: {${labels}}}
spec:
  nodeName: ${node}
  containers: [{name: c, image: i, ports: [${ports.map((p) => `{containerPort: ${p}, protocol: TCP}, {containerPort: ${p}, protocol: UDP}`).join(', ')}]}]
status: {phase: Running, podIP: ${PODS[name].v4}, podIPs: [{ip: ${PODS[name].v4}}, {ip: "${PODS[name].v6}"}]}
`;
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: x}}\n`,
    `apiVersion: v1\nkind: Node\nmetadata: {name: ${node}}\nstatus: {addresses: [{type: InternalIP, address: 10.77.1.1}]}\n`,
    pod('a', 'app: a, role: client'),
    pod('b', 'app: b, role: server'),
    pod('c', 'app: c, role: other'),
  ].join('---\n');
}

/** Pod b may not open anything (egress isolated, no rules); its replies still flow. */
export const B_NO_EGRESS = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-no-egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Egress]
`;

/** Ingress policy for pod b: from pods with role=client only, on the given ports (TCP and UDP). */
/**
 * The usual start of an agent test: the topology up, servers on b:8080, b:9090 and c:8080, and
 * an empty manifests folder. Returns the folder.
 */
export async function upWithServers(topo: Topology): Promise<string> {
  await topo.up();
  await topo.servers('b', 8080);
  await topo.servers('b', 9090);
  await topo.servers('c', 8080);
  const dir = join(topo.dir, 'manifests');
  await must(['mkdir', '-p', dir]);
  return dir;
}

export function serverPolicy(ports: readonly number[]): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-clients, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [${ports.map((p) => `{port: ${p}, protocol: TCP}, {port: ${p}, protocol: UDP}`).join(', ')}]
`;
}

export interface AgentStatusFile {
  pid: number;
  ready: boolean;
  stopped: boolean;
  generation: number;
  sourceSyncStartedAt?: number;
  sourceErrors: string[];
  counters: Record<string, number>;
  /** Strict mode: established flows cut so far. */
  flowsCut: number;
}

/** Runs `palisade agent` inside the node namespace; resolves when its status file says ready. */
export async function startAgent(t: Topology, args: readonly string[], statusFile: string): Promise<{ proc: ChildProcess; status: AgentStatusFile; log: () => string }> {
  rmSync(statusFile, { force: true });
  // Tests read one queue's counters (queueStats().get(QUEUE)): one queue unless they ask for more
  // (the agent's default is one per CPU).
  const queues = args.includes('--queue') && !args.includes('--queues') ? ['--queues', '1'] : [];
  // PALISADE_AGENT_NODE_ARGS: flags for the agent's node (e.g. `--cpu-prof --cpu-prof-dir=DIR`,
  // which NODE_OPTIONS refuses; scripts/cpuprofile-top.ts reads the profile).
  const nodeArgs = (process.env.PALISADE_AGENT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const proc = t.spawn(t.in(t.node, ['node', ...AGENT_NODE_FLAGS, ...nodeArgs, join(ROOT, 'bin', 'palisade.js'), 'agent', '--status-file', statusFile, ...queues, ...args]));
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
  let exited = false;
  proc.on('exit', () => (exited = true));
  const status = await waitFor('agent ready', () => {
    if (exited) throw new Error(`agent exited before it was ready:\n${log}`);
    const s = t.readJSON<AgentStatusFile>(statusFile);
    return s && s.ready && s.pid ? s : undefined;
  }, 90_000); // generous: agents start slowly on a machine shared by many test runs
  return { proc, status, log: () => log };
}

/** Readers of an agent's status file: the latest one, and one written after the call (it is refreshed every second). */
export function statusReaders(t: Topology, statusFile: string): { status: () => AgentStatusFile; freshStatus: () => Promise<AgentStatusFile> } {
  const status = () => t.readJSON<AgentStatusFile>(statusFile)!;
  const freshStatus = async () => {
    const since = Date.now();
    return waitFor('fresh status', () => {
      const s = t.readJSON<AgentStatusFile & { updatedAt: string }>(statusFile);
      return s && Date.parse(s.updatedAt) > since ? s : undefined;
    });
  };
  return { status, freshStatus };
}
