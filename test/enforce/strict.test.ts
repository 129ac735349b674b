// Strict mode on the real kernel path: long-lived flows (a TCP echo session and a one-way UDP
// stream between pod namespaces, routed through the node namespace where the NFQUEUE agent runs)
// that a new policy generation denies are cut within a bounded time; a flow that stays allowed is
// not; and with --no-strict the denied flows keep going (the kernel's connmark keeps passing them).

import t from 'tap';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { Topology, PODS, clusterYaml, serverPolicy, startAgent, waitFor, must, run, type AgentStatusFile, type PodName } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 43;
const UDP_PORT = 7071;
const topo = new Topology('strict');
t.teardown(() => topo.down());

interface StrictStatus extends AgentStatusFile {
  strict: boolean;
  flowsCut: number;
  strictSweeps: number;
}

/** A TCP session from one pod to an echo server: send a line, see whether it comes back. */
class EchoSession {
  private got = '';
  private n = 0;
  readonly proc: ChildProcess;
  constructor(from: PodName, to: PodName, port: number) {
    this.proc = topo.spawn(topo.in(topo.ns[from], ['socat', '-', `TCP4:${PODS[to].v4}:${port}`]));
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.got += d));
  }
  /** True when a fresh line is echoed within `ms`. */
  async roundTrip(ms = 1500): Promise<boolean> {
    const token = `line${this.n++}-${Math.random().toString(36).slice(2)}\n`;
    this.proc.stdin!.write(token);
    return waitFor('echo', () => this.got.includes(token), ms, 20).then(() => true, () => false);
  }
}

/** A one-way UDP stream from a fixed source port, to a receiver that records what arrives. */
class UdpStream {
  private got = '';
  private n = 0;
  private sender?: ChildProcess;
  private receiver?: ChildProcess;
  constructor(private readonly from: PodName, private readonly to: PodName, private readonly port: number, private readonly sport: number) {}
  async open(): Promise<void> {
    const l = topo.spawn(topo.in(topo.ns[this.to], ['socat', '-u', `UDP4-RECV:${this.port}`, '-']));
    this.receiver = l;
    l.stdout!.setEncoding('utf8').on('data', (d: string) => (this.got += d));
    await waitFor('udp receiver', async () => (await run(topo.in(topo.ns[this.to], ['ss', '-Hlun', `sport = :${this.port}`]))).stdout.trim() !== '');
    this.sender = topo.spawn(topo.in(topo.ns[this.from], ['socat', '-u', '-', `UDP4-SENDTO:${PODS[this.to].v4}:${this.port},sourceport=${this.sport}`]));
  }
  /** True when a fresh datagram arrives within `ms`. */
  async delivers(ms = 1500): Promise<boolean> {
    const token = `dgram${this.n++}-${Math.random().toString(36).slice(2)}\n`;
    this.sender!.stdin!.write(token);
    return waitFor('datagram', () => this.got.includes(token), ms, 20).then(() => true, () => false);
  }
  close(): void {
    this.sender?.kill('SIGKILL');
    this.receiver?.kill('SIGKILL');
  }
}

t.test('strict mode', async (t) => {
  await topo.up();
  await topo.servers('b', 8080);
  await topo.servers('c', 8080);
  const dir = join(topo.dir, 'manifests');
  await must(['mkdir', '-p', dir]);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090, UDP_PORT]));
  const statusFile = join(topo.dir, 'status.json');
  const vlog = join(topo.dir, 'verdicts.jsonl');
  const base = ['--node', NODE, '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '200'];
  const status = () => topo.readJSON<StrictStatus>(statusFile)!;
  const setPolicy = async (ports: number[]) => {
    const gen = status().generation;
    topo.writeFile('manifests/policy.yaml', serverPolicy(ports));
    await waitFor('new generation enforced', () => status().generation > gen);
  };
  const stopAgent = async (proc: ChildProcess) => {
    const exited = new Promise<void>((r) => proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
  };
  const ctEntries = async (port: number) =>
    (await must(topo.in(topo.node, ['conntrack', '-L', '-f', 'ipv4', '-p', 'tcp', '--dport', String(port)]))).split('\n').filter((l) => l.includes('src=')).length;

  await t.test('default (strict): flows a new generation denies are cut, flows it still allows are not', async (t) => {
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080, UDP_PORT]));
    const agent = await startAgent(topo, [...base, '--verdict-log', vlog, '--metrics', '127.0.0.1:9821'], statusFile);
    t.equal(status().strict, true, 'strict is the default');

    const denied = new EchoSession('a', 'b', 8080);
    const kept = new EchoSession('a', 'c', 8080);
    const stream = new UdpStream('a', 'b', UDP_PORT, 40100);
    await stream.open();
    t.ok(await denied.roundTrip(5000), 'a -> b:8080 TCP session works while allowed');
    t.ok(await kept.roundTrip(5000), 'a -> c:8080 TCP session works (c is not isolated)');
    t.ok(await stream.delivers(5000), 'a -> b:7071 UDP stream arrives while allowed');
    t.ok(await denied.roundTrip(), 'still echoing');
    const cutBefore = status().flowsCut;

    // b now admits clients only on 9090: the TCP session to 8080 and the UDP stream to 7071 are denied.
    await setPolicy([9090]);
    const s = await waitFor('flows cut', () => (status().flowsCut >= cutBefore + 2 ? status() : undefined));
    t.ok(s.strictSweeps > 0, 'a sweep ran');
    t.notOk(await denied.roundTrip(2000), 'the denied TCP session no longer passes data');
    t.notOk(await denied.roundTrip(2000), 'nor later data');
    t.notOk(await stream.delivers(2000), 'the denied UDP stream no longer arrives');
    t.notOk(await stream.delivers(2000), 'nor later datagrams');
    t.ok(await kept.roundTrip(5000), 'the flow that stays allowed is not cut');
    t.ok(await kept.roundTrip(), 'and keeps going');
    t.notOk(await topo.tcp('a', 'b', 8080), 'a new connection to b:8080 is denied too');

    const cutLines = readFileSync(vlog, 'utf8').split('\n').filter((l) => l.includes('"cut":true')).map((l) => JSON.parse(l) as Record<string, unknown>);
    t.ok(cutLines.some((l) => (l as { dst: { port: number }; protocol: string }).dst.port === 8080 && l.protocol === 'TCP'), 'the cut TCP flow is in the verdict log');
    t.ok(cutLines.some((l) => (l as { dst: { port: number }; protocol: string }).dst.port === UDP_PORT && l.protocol === 'UDP'), 'the cut UDP flow is in the verdict log');
    t.ok(cutLines.every((l) => l.verdict === 'deny' && (l as { dst: { pod: string } }).dst.pod === 'x/b'), 'cut lines are denials towards b');
    t.notOk(cutLines.some((l) => (l as { dst: { pod: string } }).dst.pod === 'x/c'), 'the allowed flow to c is not logged as cut');
    t.match(agent.log(), /cut established flow/, 'the agent logs each cut flow');
    const m = await must(topo.in(topo.node, ['curl', '-s', 'http://127.0.0.1:9821/metrics']));
    const cut = Number(/^palisade_flows_cut_total (\d+)/m.exec(m)?.[1] ?? -1);
    t.ok(cut >= 2, `cut flows exported as a metric (${cut})`);

    stream.close();
    denied.proc.kill('SIGKILL');
    kept.proc.kill('SIGKILL');
    await stopAgent(agent.proc);
  });

  await t.test('a cut TCP connection stays cut when its server speaks first', async (t) => {
    // After the cut the kernel has no entry: whichever packet comes next opens a new one. If the
    // server's packet (b:8085 -> a:port) were judged as a new connection b -> a:port, which no
    // policy here denies, the flow would be re-admitted in reverse.
    topo.writeFile('manifests/policy.yaml', serverPolicy([8085]));
    const agent = await startAgent(topo, base, statusFile);
    const server = topo.spawn(topo.in(topo.ns.b, ['socat', 'TCP4-LISTEN:8085,reuseaddr', 'STDIO']));
    await waitFor('server on b:8085', async () => (await run(topo.in(topo.ns.b, ['ss', '-Hltn', 'sport = :8085']))).stdout.trim() !== '');
    const client = topo.spawn(topo.in(topo.ns.a, ['socat', 'STDIO', `TCP4:${PODS.b.v4}:8085`]));
    let atClient = '';
    let atServer = '';
    client.stdout!.setEncoding('utf8').on('data', (d: string) => (atClient += d));
    server.stdout!.setEncoding('utf8').on('data', (d: string) => (atServer += d));
    const arrives = (get: () => string, token: string, ms: number) => waitFor(token, () => get().includes(token), ms, 20).then(() => true, () => false);
    client.stdin!.write('hello\n');
    t.ok(await arrives(() => atServer, 'hello', 5000), 'client -> server works while allowed');
    server.stdin!.write('welcome\n');
    t.ok(await arrives(() => atClient, 'welcome', 5000), 'server -> client works while allowed');
    const cutBefore = status().flowsCut;
    await setPolicy([9090]);
    await waitFor('flow cut', () => status().flowsCut > cutBefore);
    server.stdin!.write('push\n');
    t.notOk(await arrives(() => atClient, 'push', 2000), 'the server speaking first does not reopen the flow');
    client.stdin!.write('again\n');
    t.notOk(await arrives(() => atServer, 'again', 2000), 'and the client still cannot reach the server');
    server.kill('SIGKILL');
    client.kill('SIGKILL');
    await stopAgent(agent.proc);
  });

  await t.test('a restarted agent judges flows a previous run allowed', async (t) => {
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
    let agent = await startAgent(topo, base, statusFile);
    const session = new EchoSession('a', 'b', 8080);
    t.ok(await session.roundTrip(5000), 'allowed session works');
    // Stop with the rules kept, change the policy while no agent runs, start again.
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGKILL');
    await exited;
    topo.writeFile('manifests/policy.yaml', serverPolicy([9090]));
    agent = await startAgent(topo, base, statusFile);
    await waitFor('flow cut after restart', () => status().flowsCut >= 1);
    t.notOk(await session.roundTrip(2000), 'the session the old rules allowed is cut by the new run');
    session.proc.kill('SIGKILL');
    await stopAgent(agent.proc);
  });

  await t.test('tun backend: the same allow connmark, the same cut', async (t) => {
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080, UDP_PORT]));
    const agent = await startAgent(topo, ['--node', NODE, '--manifests', dir, '--backend', 'tun', '--tun-name', 'palstrict0', '--tun-table', '7277', '--rescan-ms', '200'], statusFile);
    const denied = new EchoSession('a', 'b', 8080);
    const kept = new EchoSession('a', 'c', 8080);
    const stream = new UdpStream('a', 'b', UDP_PORT, 40102);
    await stream.open();
    t.ok(await denied.roundTrip(5000), 'a -> b:8080 session works while allowed');
    t.ok(await kept.roundTrip(5000), 'a -> c:8080 session works');
    t.ok(await stream.delivers(5000), 'UDP stream arrives while allowed');
    const cutBefore = status().flowsCut;
    await setPolicy([9090]);
    await waitFor('flows cut', () => status().flowsCut >= cutBefore + 2);
    t.notOk(await denied.roundTrip(2000), 'the denied TCP session no longer passes data');
    t.notOk(await stream.delivers(2000), 'the denied UDP stream no longer arrives');
    t.ok(await kept.roundTrip(5000), 'the flow that stays allowed is not cut');
    stream.close();
    denied.proc.kill('SIGKILL');
    kept.proc.kill('SIGKILL');
    await stopAgent(agent.proc);
  });

  await t.test('--no-strict: denied flows keep going until they end', async (t) => {
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080, UDP_PORT]));
    const agent = await startAgent(topo, [...base, '--no-strict'], statusFile);
    t.equal(status().strict, false, 'status says strict is off');
    const session = new EchoSession('a', 'b', 8080);
    const stream = new UdpStream('a', 'b', UDP_PORT, 40101);
    await stream.open();
    t.ok(await session.roundTrip(5000), 'session works while allowed');
    t.ok(await stream.delivers(5000), 'stream arrives while allowed');
    await setPolicy([9090]);
    // Give a (wrongly enabled) sweep the time it takes in strict mode, then check both still pass.
    await new Promise((r) => setTimeout(r, 2000));
    t.equal(status().flowsCut, 0, 'nothing was cut');
    t.equal(status().strictSweeps, 0, 'no sweep ran');
    t.ok(await ctEntries(8080) >= 1, 'the TCP session is still in the kernel conntrack table');
    t.ok(await session.roundTrip(5000), 'the TCP session keeps passing data');
    t.ok(await stream.delivers(5000), 'the UDP stream keeps arriving');
    t.notOk(await topo.tcp('a', 'b', 8080), 'new connections are judged by the new rules all the same');
    stream.close();
    session.proc.kill('SIGKILL');
    await stopAgent(agent.proc);
  });
});
