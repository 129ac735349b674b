// Egress to domain names on the real kernel path (issue 16, NFQUEUE): pod c runs a DNS server
// answering configured names with pod b's and c's addresses; pod a is the subject of a
// ClusterNetworkPolicy that accepts DNS to c, accepts domainNames, and denies the rest. The DNS
// answers to a go through PALISADE-DNS to the agent's DNS queue, which learns them before a sees
// them: a name a looked up becomes reachable, an address no answer named stays denied, a CNAME
// chain, a wildcard, AAAA and DNS over TCP (answers the server writes in three segments) are learned, and a record's expiry cuts new connections.
// A DNS server in the node's own namespace (like node-local-dns on 169.254.20.10) answers through
// the node's OUTPUT path (PALISADE-NODE -> PALISADE-DNS) and is learned from too. A record's
// expiry stops new connections only, in strict mode (the default) too, as NPEP-133 asks; strict
// mode cuts the established ones once a policy change no longer names them, or a Deny placed
// above the name's Accept covers them (README "Egress to
// domain names", Lifetime).

import t from 'tap';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { Topology, clusterYaml, startAgent, waitFor, must, run, statusReaders, upWithServers, PODS } from '../../support/netns.ts';
import { domainNamesPolicy } from '../../support/dns-lab-policy.ts';

const NODE = 'n1';
const QUEUE = 71;
const ROOT = join(import.meta.dirname, '..', '..');
const DNS_MAIN = join(ROOT, 'test', 'support', 'dns-lab-main.ts');
/** The node-local DNS server's address (node-local-dns's default; it uses a dummy link, the lab the node's lo). */
const NODE_LOCAL = '169.254.20.10';
const topo = new Topology('dns');
t.teardown(() => topo.down());

const ZONE = {
  'api.example.com': [{ type: 'A', data: PODS.b.v4, ttl: 2 }, { type: 'AAAA', data: '2001:db8:0:0:0:0:0:1', ttl: 2 }],
  'v6.example.com': [{ type: 'AAAA', data: PODS.b.v6.replace('::', ':0:0:0:0:0:'), ttl: 2 }],
  'alias.example.com': [{ type: 'CNAME', data: 'svc.wild.example.com', ttl: 2 }],
  'svc.wild.example.com': [{ type: 'A', data: PODS.b.v4, ttl: 2 }],
  'long.example.com': [{ type: 'A', data: PODS.c.v4, ttl: 300 }],
  // 60 A records, the pod's last: over TCP a ~1 KB answer that the server writes in three
  // segments (tcp-chunks), the first cutting the length prefix.
  'many.example.com': [...Array.from({ length: 59 }, (_, i) => ({ type: 'A', data: `198.51.100.${i + 1}`, ttl: 30 })), { type: 'A', data: PODS.b.v4, ttl: 30 }],
};
/** What the node-local server answers (TTL long enough to open a session, short enough to expire in the test). */
const NODE_ZONE = { 'nl.example.com': [{ type: 'A', data: PODS.b.v4, ttl: 5 }] };

/** A TCP session from a to b:8080 (socat echo): send a line, see whether it comes back. */
class EchoSession {
  private got = '';
  private n = 0;
  readonly proc: ChildProcess;
  constructor() {
    this.proc = topo.spawn(topo.in(topo.ns.a, ['socat', '-', `TCP4:${PODS.b.v4}:8080`]));
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.got += d));
  }
  async roundTrip(ms = 1500): Promise<boolean> {
    const token = `line${this.n++}-${Math.random().toString(36).slice(2)}\n`;
    this.proc.stdin!.write(token);
    return waitFor('echo', () => this.got.includes(token), ms, 20).then(() => true, () => false);
  }
}

const policy = (names: string[]): string =>
  domainNamesPolicy({ name: 'names', dnsTo: `{networks: [${PODS.c.v4}/32, "${PODS.c.v6}/128", ${NODE_LOCAL}/32]}`, names, denyRest: true });

async function lookup(name: string, proto: 'udp' | 'tcp' = 'udp', type: 'A' | 'AAAA' = 'A', server: string = PODS.c.v4): Promise<boolean> {
  const r = await run(topo.in(topo.ns.a, ['node', '--import', 'tsx', DNS_MAIN, 'query', server, name, proto, type]));
  return r.code === 0 && r.stdout.startsWith('answered');
}

t.test('domainNames egress through the agent (nfqueue)', async (t) => {
  const dir = await upWithServers(topo);
  topo.spawn(topo.in(topo.ns.c, ['node', '--import', 'tsx', DNS_MAIN, 'server', PODS.c.v4, JSON.stringify(ZONE), 'tcp-chunks']));
  topo.spawn(topo.in(topo.ns.c, ['node', '--import', 'tsx', DNS_MAIN, 'server', PODS.c.v6, JSON.stringify(ZONE)]));
  await waitFor('dns servers', async () => (await run(topo.in(topo.ns.c, ['ss', '-Hltun', 'sport = :53']))).stdout.split('\n').filter((l) => l.trim()).length >= 4, 60_000);
  await must(topo.in(topo.node, ['ip', 'addr', 'add', `${NODE_LOCAL}/32`, 'dev', 'lo']));
  topo.spawn(topo.in(topo.node, ['node', '--import', 'tsx', DNS_MAIN, 'server', NODE_LOCAL, JSON.stringify(NODE_ZONE)]));
  await waitFor('node-local dns server', async () => (await run(topo.in(topo.node, ['ss', '-Hltun', 'sport = :53']))).stdout.split('\n').filter((l) => l.trim()).length >= 2, 60_000);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080]));
  topo.writeFile('manifests/cnp.yaml', policy(['api.example.com', '*.wild.example.com', 'V6.example.com.', 'nl.example.com', 'many.example.com']));
  const statusFile = join(topo.dir, 'status.json');
  const verdictFile = join(topo.dir, 'verdicts.log');
  const verdicts = () => (existsSync(verdictFile) ? readFileSync(verdictFile, 'utf8') : '').split('\n').filter((l) => l.includes('"dstName"')).map((l) => JSON.parse(l) as { dst: { ip: string }; dstName: string });
  const args = ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300', '--dns-min-ttl', '1', '--verdict-log', verdictFile];
  let agent = await startAgent(topo, args, statusFile);
  const { status } = statusReaders(topo, statusFile);
  const dns = () => (status() as unknown as { dns: { records: { address: string; names: string[]; server: string; text: string }[]; counters: Record<string, number> & { tcp: Record<string, number> } } }).dns;
  t.teardown(() => { if (t.passing()) return; t.comment(agent.log()); });

  t.ok(!(await topo.tcp('a', 'b', 8080)), 'before any lookup: a -> b:8080 is denied');
  t.match(await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-DNS'])), new RegExp(`-A PALISADE-DNS -d ${PODS.a.v4}/32 .*--ctdir REPLY -j NFQUEUE --queue-num ${QUEUE + 1}`), 'answers to a go to the DNS queue');

  t.ok(await lookup('api.example.com'), 'a resolves api.example.com (UDP) through the agent');
  t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 (api.example.com) is allowed');
  t.ok(!(await topo.tcp('a', 'c', 8080)), 'a -> c:8080, an address no answer named, is denied');

  await waitFor('the record expires and new connections are cut', async () => !(await topo.tcp('a', 'b', 8080)), 20_000);
  t.pass('after the TTL, a -> b:8080 is denied again');

  // Node-local cache: the answer leaves the node's own stack (OUTPUT), not FORWARD.
  t.match(await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-NODE'])), /-A PALISADE-NODE -p udp -m udp --sport 53 -j PALISADE-DNS\n-A PALISADE-NODE -p tcp -m tcp --sport 53 -j PALISADE-DNS\n-A PALISADE-NODE -m connmark/, 'node-local answers go to PALISADE-DNS before the connmark accept');
  // The rule watchdog knows the jump: deleted, it is put back.
  const restored = () => (status() as unknown as { rulesRestored: number }).rulesRestored;
  const restoredBefore = restored();
  await must(topo.in(topo.node, ['iptables', '-D', 'PALISADE-NODE', '-p', 'udp', '-m', 'udp', '--sport', '53', '-j', 'PALISADE-DNS']));
  await waitFor('the watchdog restores the node-local DNS jump', () => restored() > restoredBefore, 15_000);
  t.match(await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-NODE'])), /-A PALISADE-NODE -p udp -m udp --sport 53 -j PALISADE-DNS/, 'the watchdog put the deleted node-local DNS jump back');
  t.ok(await lookup('nl.example.com', 'udp', 'A', NODE_LOCAL), `a resolves nl.example.com at ${NODE_LOCAL}, a server in the node's namespace`);
  t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 (nl.example.com, learned from the node-local answer) is allowed');
  const session = new EchoSession();
  t.ok(await session.roundTrip(3000), 'a TCP session a -> b:8080 is open while the record lives');
  t.ok(dns().records.some((r) => r.address === PODS.b.v4 && r.server === NODE_LOCAL), 'the status file says it was learned from the node-local server');
  t.ok(!(await topo.tcp('a', 'c', 8080)), 'a -> c:8080, an address the node-local answer did not name, is denied');
  const cutBefore = status().flowsCut;
  // Strict mode (the default) too: an expired record stops new connections only (NPEP-133), and
  // the established session goes on through the sweeps of the generations that follow.
  await waitFor('the record expires (new connections denied)', async () => !(await topo.tcp('a', 'b', 8080)), 30_000);
  t.ok(await session.roundTrip(3000), 'strict mode: the established session continues after the record expired');
  // One more generation (the same names in another order), so a sweep surely judges the session
  // with the record gone.
  const sweeps = () => (status() as unknown as { strictSweeps: number }).strictSweeps;
  const sweeps0 = sweeps(), gen0 = status().generation;
  topo.writeFile('manifests/cnp.yaml', policy(['nl.example.com', 'api.example.com', '*.wild.example.com', 'V6.example.com.', 'many.example.com']));
  await waitFor('a sweep after the next generation', () => status().generation > gen0 && sweeps() > sweeps0, 15_000);
  t.ok(await session.roundTrip(3000), 'and after a strict sweep with the record gone');
  t.equal(status().flowsCut, cutBefore, 'nothing was cut');
  // A policy change that no longer names it cuts it: the expiry spared it, the policy does not.
  const genEdit = status().generation;
  const editAt = Date.now();
  topo.writeFile('manifests/cnp.yaml', policy(['api.example.com', '*.wild.example.com', 'V6.example.com.', 'many.example.com']));
  await waitFor('the policy without nl.example.com is enforced', () => (status().sourceSyncStartedAt ?? 0) >= editAt && status().generation > genEdit);
  await waitFor('strict mode cuts the session once no policy names it', async () => !(await session.roundTrip()), 30_000);
  t.ok(status().flowsCut > cutBefore || (await waitFor('flowsCut', () => status().flowsCut > cutBefore, 5000).catch(() => false)), 'strict mode: the session the policy no longer allows was cut');
  t.ok(!(await topo.tcp('a', 'b', 8080)), 'and new connections to it are denied');
  session.proc.kill('SIGKILL');

  // The policy names it again, but a Deny of b placed above the name's Accept (a higher-priority
  // Admin policy) cuts a session whose record expired: the expiry is no longer all that denies it.
  const genNamed = status().generation;
  const namedAt = Date.now();
  topo.writeFile('manifests/cnp.yaml', policy(['api.example.com', '*.wild.example.com', 'V6.example.com.', 'nl.example.com', 'many.example.com']));
  await waitFor('the policy naming nl.example.com again is enforced', () => (status().sourceSyncStartedAt ?? 0) >= namedAt && status().generation > genNamed);
  t.ok(await lookup('nl.example.com', 'udp', 'A', NODE_LOCAL), 'a resolves nl.example.com again');
  const session2 = new EchoSession();
  t.ok(await session2.roundTrip(3000), 'a second session a -> b:8080 is open while the record lives');
  await waitFor('the record expires again (new connections denied)', async () => !(await topo.tcp('a', 'b', 8080)), 30_000);
  t.ok(await session2.roundTrip(3000), 'the second session outlives the record');
  const cutBeforeDeny = status().flowsCut;
  const genDeny = status().generation;
  const denyAt = Date.now();
  topo.writeFile('manifests/deny-b.yaml', [
    'apiVersion: policy.networking.k8s.io/v1alpha2', 'kind: ClusterNetworkPolicy', 'metadata: {name: deny-b}',
    'spec:', '  tier: Admin', '  priority: 5', '  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: a}}}}',
    '  egress:', '  - name: b', '    action: Deny', `    to: [{networks: [${PODS.b.v4}/32]}]`, '',
  ].join('\n'));
  await waitFor('the Deny above is enforced', () => (status().sourceSyncStartedAt ?? 0) >= denyAt && status().generation > genDeny);
  await waitFor('strict mode cuts the session the Deny above covers', async () => !(await session2.roundTrip()), 30_000);
  t.ok(status().flowsCut > cutBeforeDeny || (await waitFor('flowsCut', () => status().flowsCut > cutBeforeDeny, 5000).catch(() => false)), 'strict mode: the session a higher-priority Deny covers was cut, the name still named');
  session2.proc.kill('SIGKILL');
  const genUndo = status().generation;
  const undoAt = Date.now();
  rmSync(join(dir, 'deny-b.yaml'));
  await waitFor('the Deny above is gone', () => (status().sourceSyncStartedAt ?? 0) >= undoAt && status().generation > genUndo);

  t.ok(await lookup('v6.example.com', 'udp', 'AAAA', PODS.c.v6), 'AAAA over IPv6');
  t.ok(await topo.tcp('a', 'b', 8080, 6), 'a -> [b]:8080 (v6.example.com, written "V6.example.com." in the policy) is allowed');

  t.ok(await lookup('alias.example.com'), 'a resolves alias.example.com, a CNAME to svc.wild.example.com');
  t.ok(await topo.tcp('a', 'b', 8080), 'allowed through the CNAME target matching *.wild.example.com');
  await waitFor('expired again', async () => !(await topo.tcp('a', 'b', 8080)), 20_000);

  t.ok(await lookup('api.example.com', 'tcp'), 'a resolves api.example.com over TCP (the answer in three segments)');
  t.ok(await topo.tcp('a', 'b', 8080), 'learned from the TCP answer: allowed');
  await waitFor('expired again', async () => !(await topo.tcp('a', 'b', 8080)), 20_000);
  t.ok(await lookup('many.example.com', 'tcp'), 'a resolves many.example.com over TCP: 60 A records in three segments');
  t.ok(await topo.tcp('a', 'b', 8080), 'the reassembled answer was learned before a saw it: a -> b:8080 allowed');
  t.ok(!(await topo.tcp('a', 'c', 8080)), 'a -> c:8080 still denied');
  t.ok(dns().counters.tcp.reassembled >= 2 && dns().counters.tcp.gaps === 0, `TCP answers were reassembled (${JSON.stringify(dns().counters.tcp)})`);

  t.ok(await lookup('long.example.com'), 'a resolves long.example.com (TTL 300), not in the policy yet');
  t.ok(!(await topo.tcp('a', 'c', 8080)), 'a -> c:8080 still denied');
  await waitFor('the status file lists the record', () => dns().records.some((r) => r.address === PODS.c.v4 && r.names[0] === 'long.example.com'));
  t.match(dns().records.find((r) => r.address === PODS.c.v4)!.text, new RegExp(`^${PODS.c.v4.replace(/\./g, '\\.')} is long\\.example\\.com \\(learned \\d+ s ago from ${PODS.c.v4.replace(/\./g, '\\.')}, TTL 300 s\\)`), 'the status file says what the address is, since when, from whom');
  const gen = status().generation;
  const writtenAt = Date.now();
  topo.writeFile('manifests/cnp.yaml', policy(['api.example.com', '*.wild.example.com', 'long.example.com', 'nl.example.com', 'many.example.com']));
  await waitFor('the policy change is enforced', () => (status().sourceSyncStartedAt ?? 0) >= writtenAt && status().generation > gen);
  t.ok(await topo.tcp('a', 'c', 8080), 'the record learned before the policy change allows a -> c:8080 with no new lookup');
  // The verdict log says what a denied destination is by DNS, or that no live record names it.
  await waitFor('verdict log lines', () => verdicts().some((v) => v.dstName.includes('long.example.com')), 15_000);
  t.ok(verdicts().some((v) => v.dst.ip === PODS.c.v4 && /has no live DNS record on this node/.test(v.dstName)), 'before long.example.com was looked up: no live record');
  t.ok(verdicts().some((v) => v.dst.ip === PODS.c.v4 && v.dstName.startsWith(`${PODS.c.v4} is long.example.com (learned `)), 'after: the name that the policy did not allow');
  t.ok(dns().counters.answers >= 5, `answers were queued to the agent (${dns().counters.answers})`);

  // --no-strict: an expired record stops new connections only; the established session goes on.
  const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
  process.kill(status().pid, 'SIGTERM');
  await exited;
  agent = await startAgent(topo, [...args, '--no-strict'], statusFile);
  await waitFor('answers to a are queued again', async () => (await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-DNS']))).includes(`-d ${PODS.a.v4}/32`), 20_000);
  t.ok(await lookup('nl.example.com', 'udp', 'A', NODE_LOCAL), 'no strict: a resolves nl.example.com at the node-local server');
  t.ok(await topo.tcp('a', 'b', 8080), 'no strict: a -> b:8080 (nl.example.com) is allowed');
  const kept = new EchoSession();
  t.ok(await kept.roundTrip(3000), 'no strict: a TCP session a -> b:8080 is open while the record lives');
  await waitFor('the record expires (new connections denied)', async () => !(await topo.tcp('a', 'b', 8080)), 30_000);
  t.ok(await kept.roundTrip(3000), 'no strict: the established session continues after the record expired');
  kept.proc.kill('SIGKILL');
});
