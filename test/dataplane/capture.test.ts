// The packet parser and the classifier on packets the kernel really sent, captured with libpcap
// (the `cap` binding) in network namespaces this test creates:
//
//   pod a (ns pal-cap-<pid>-a)  eth0 10.79.0.1/24 fd79::1/64  <-veth, MTU 1280->  eth0 10.79.0.2/24 fd79::2/64  pod b (ns pal-cap-<pid>-b)
//
// The capture runs as a child inside a's namespace (test/support/capture-main.ts: a process
// captures in its own namespace only) and sees both directions on a's eth0. Traffic is generated
// with curl (TCP to an HTTP server in b, and to a closed port), socat (UDP to closed ports, so
// the kernel answers with ICMP port unreachable quoting the datagram), and raw-socket echo
// requests (small, and 3000 bytes so the 1280-byte MTU makes the kernel fragment request and
// reply), in both families, plus the neighbour discovery and MLD the kernel sends by itself.
// The two namespaces are only connected to each other: nothing can leave.
//
// Checked: (1) parsePacket extracts from every captured packet what the test knows it must
// hold: family, protocol, addresses (as src/net/address.ts words), ports, the TCP handshake
// flags, ICMP type/code/identifier, the tuple quoted by ICMP errors, fragment fields; (2) the
// captured packets, in capture order, through a Classifier with conntrack over the real
// CompiledEngine built from a two-pod cluster whose policies let a reach b on TCP 80 only. The
// expected verdict of each packet is derived from those policies (allowsNew below, itself
// checked against the reference evaluator) and the packet's role in its flow, not from the
// classifier.

import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parsePacket } from '../../src/dataplane/packet-parser.ts';
import { PacketInfo, INVALID_NAMES } from '../../src/dataplane/packet-info.ts';
import { Classifier, ACCEPT, DROP, REASON, REASON_NAMES } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { parseIP } from '../../src/net/address.ts';
import { ROOT, run, must, waitFor, spawnTracked, tearDown } from '../../support/netns.ts';
import { readCaptureFile, type CapturedPacket } from '../support/capture-file.ts';

const TSX = import.meta.resolve('tsx');
const CAPTURE_MAIN = join(ROOT, 'test', 'support', 'capture-main.ts');
const ECHO_MAIN = join(ROOT, 'test', 'support', 'icmp-echo-main.ts');

type Pod = 'A' | 'B';
const IPS = {
  A: { 4: '10.79.0.1', 6: 'fd79::1' },
  B: { 4: '10.79.0.2', 6: 'fd79::2' },
} as const;
const WORDS = {
  A: { 4: parseIP(IPS.A[4])!.words, 6: parseIP(IPS.A[6])!.words },
  B: { 4: parseIP(IPS.B[4])!.words, 6: parseIP(IPS.B[6])!.words },
};
const MTU = 1280;
/** ICMP payload bytes of the big echo requests: 8 + 3000 > MTU, so both families fragment. */
const BIG = 3000;
const MARKER = `palisade-capture-end-${process.pid}`;

const P = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

// ---- the policy, as the test reads it --------------------------------------------------------

const CLUSTER = `apiVersion: v1
kind: Namespace
metadata: {name: cap, labels: {team: cap}}
---
apiVersion: v1
kind: Node
metadata: {name: cap-node}
status: {addresses: [{type: InternalIP, address: 10.79.0.254}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: cap, labels: {app: a}}
spec: {nodeName: cap-node, containers: [{name: c, image: i}]}
status: {phase: Running, podIP: ${IPS.A[4]}, podIPs: [{ip: ${IPS.A[4]}}, {ip: "${IPS.A[6]}"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: cap, labels: {app: b}}
spec: {nodeName: cap-node, containers: [{name: c, image: i, ports: [{containerPort: 80, protocol: TCP}]}]}
status: {phase: Running, podIP: ${IPS.B[4]}, podIPs: [{ip: ${IPS.B[4]}}, {ip: "${IPS.B[6]}"}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-web-from-a, namespace: cap}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: a}}}]
    ports: [{port: 80, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-web-to-b, namespace: cap}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: b}}}]
    ports: [{port: 80, protocol: TCP}]
`;

/**
 * Whether the policies above let `src` open a connection to `dst` (undefined: an address that
 * is no pod). Pod b is isolated for ingress and admits only TCP 80 from a; pod a is isolated
 * for egress and may only open TCP 80 to b. Nothing else is isolated. Port-less protocols
 * (ICMP) are judged with port 0, which no rule with ports matches.
 */
function allowsNew(src: Pod | undefined, dst: Pod | undefined, proto: number, port: number): boolean {
  const web = proto === P.TCP && port === 80;
  if (src === 'A' && !(dst === 'B' && web)) return false;
  if (dst === 'B' && !(src === 'A' && web)) return false;
  return true;
}

// ---- the flows the test generates ------------------------------------------------------------

interface Flow {
  readonly name: string;
  readonly family: 4 | 6;
  readonly proto: number;
  readonly initiator: Pod;
  /** TCP/UDP: the initiator's source port; ICMP echo: the identifier. */
  readonly iport: number;
  /** TCP/UDP: the responder's port; 0 for ICMP. */
  readonly rport: number;
  /** An echo request big enough to be fragmented. */
  readonly big?: boolean;
  /** The kernel answers a datagram to a closed port with an ICMP port unreachable. */
  readonly closedUdp?: boolean;
}

function flowsFor(family: 4 | 6): Flow[] {
  const icmp = family === 4 ? P.ICMP : P.ICMPV6;
  const b = family === 4 ? 0 : 5;
  const id = family === 4 ? 0x4100 : 0x6100;
  return [
    { name: `v${family} tcp a->b:80`, family, proto: P.TCP, initiator: 'A', iport: 41080 + b, rport: 80 },
    { name: `v${family} tcp a->b:81 (closed)`, family, proto: P.TCP, initiator: 'A', iport: 41081 + b, rport: 81 },
    { name: `v${family} udp a->b:9999 (closed)`, family, proto: P.UDP, initiator: 'A', iport: 42001 + b, rport: 9999, closedUdp: true },
    { name: `v${family} udp b->a:7000 (closed)`, family, proto: P.UDP, initiator: 'B', iport: 42002 + b, rport: 7000, closedUdp: true },
    { name: `v${family} echo a->b`, family, proto: icmp, initiator: 'A', iport: id + 1, rport: 0 },
    { name: `v${family} echo b->a`, family, proto: icmp, initiator: 'B', iport: id + 2, rport: 0 },
    { name: `v${family} big echo b->a`, family, proto: icmp, initiator: 'B', iport: id + 3, rport: 0, big: true },
    { name: `v${family} big echo a->b`, family, proto: icmp, initiator: 'A', iport: id + 4, rport: 0, big: true },
  ];
}
const MARKER_FLOW: Flow = { name: 'v4 udp a->b:9 (end marker)', family: 4, proto: P.UDP, initiator: 'A', iport: 42999, rport: 9 };
const FLOWS: Flow[] = [...flowsFor(4), ...flowsFor(6), MARKER_FLOW];

function other(p: Pod): Pod {
  return p === 'A' ? 'B' : 'A';
}

// ---- namespaces --------------------------------------------------------------------------------

class Lab {
  readonly ns: Record<Pod, string>;
  readonly dir: string;
  private readonly procs = new Set<ChildProcess>();
  private created: string[] = [];

  constructor() {
    this.ns = { A: `pal-cap-${process.pid}-a`, B: `pal-cap-${process.pid}-b` };
    this.dir = mkdtempSync(join(tmpdir(), 'pal-cap-'));
  }

  in(pod: Pod, argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.ns[pod], ...argv];
  }

  async up(): Promise<void> {
    for (const pod of ['A', 'B'] as const) {
      await must(['ip', 'netns', 'add', this.ns[pod]]);
      this.created.push(this.ns[pod]);
      await must(['ip', '-n', this.ns[pod], 'link', 'set', 'lo', 'up']);
    }
    // One veth pair straight between the two namespaces: no route to anywhere else exists.
    await must(['ip', '-n', this.ns.A, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns.B]);
    for (const pod of ['A', 'B'] as const) {
      const n = this.ns[pod];
      await must(['ip', '-n', n, 'link', 'set', 'eth0', 'mtu', String(MTU)]);
      await must(['ip', '-n', n, 'addr', 'add', `${IPS[pod][4]}/24`, 'dev', 'eth0']);
      await must(['ip', '-n', n, 'addr', 'add', `${IPS[pod][6]}/64`, 'dev', 'eth0', 'nodad']);
      await must(['ip', '-n', n, 'link', 'set', 'eth0', 'up']);
    }
  }

  spawn(argv: readonly string[]): ChildProcess {
    return spawnTracked(this.procs, argv);
  }

  async down(): Promise<void> {
    await tearDown(this.procs, this.created, this.dir);
    this.created = [];
  }
}

/** Output of a child process, collected; `exited` resolves with its exit code. */
function watch(c: ChildProcess): { out: () => string; err: () => string; exited: Promise<number> } {
  let out = '';
  let err = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number>((resolve) => c.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1))));
  return { out: () => out, err: () => err, exited };
}

// ---- packets -------------------------------------------------------------------------------------

type Info = { -readonly [K in keyof PacketInfo]: PacketInfo[K] };

interface Rec {
  readonly pkt: CapturedPacket;
  readonly ok: boolean;
  readonly info: Info;
}

function parseAll(pkts: readonly CapturedPacket[]): Rec[] {
  const info = new PacketInfo();
  return pkts.map((pkt) => {
    const ok = parsePacket(pkt.bytes, 0, pkt.bytes.length, info);
    return { pkt, ok, info: { ...info } };
  });
}

function addrIs(info: Info, which: 'src' | 'dst' | 'innerSrc' | 'innerDst', pod: Pod): boolean {
  if (info.family === 4) {
    const w = which === 'src' ? info.src4 : which === 'dst' ? info.dst4 : which === 'innerSrc' ? info.innerSrc4 : info.innerDst4;
    return w === WORDS[pod][4][0];
  }
  const x = WORDS[pod][6];
  const ws = which === 'src' ? [info.src6a, info.src6b, info.src6c, info.src6d]
    : which === 'dst' ? [info.dst6a, info.dst6b, info.dst6c, info.dst6d]
      : which === 'innerSrc' ? [info.innerSrc6a, info.innerSrc6b, info.innerSrc6c, info.innerSrc6d]
        : [info.innerDst6a, info.innerDst6b, info.innerDst6c, info.innerDst6d];
  return ws.every((w, i) => w === x[i]);
}
function podAt(info: Info, which: 'src' | 'dst'): Pod | undefined {
  return addrIs(info, which, 'A') ? 'A' : addrIs(info, which, 'B') ? 'B' : undefined;
}

/** Source and destination address bytes straight from the packet, as a key (no parser involved). */
function rawAddrKey(b: Buffer): string {
  return b[0]! >>> 4 === 4 ? b.subarray(12, 20).toString('hex') : b.subarray(8, 40).toString('hex');
}

/**
 * What a packet is, for the test: a packet of one of its flows in the original or reply
 * direction, an ICMP error about one, a later fragment of one; neighbour discovery; or traffic
 * between addresses that are no pod (MLD from link-local or unspecified sources to multicast).
 */
type Role =
  | { kind: 'flow'; flow: Flow; dir: 'orig' | 'reply'; part: 'whole' | 'first' | 'later' }
  | { kind: 'error'; flow: Flow }
  | { kind: 'nd' }
  | { kind: 'off-pod' }
  | { kind: 'unknown'; why: string };

function isEcho(family: number, type: number): 'request' | 'reply' | undefined {
  if (type === (family === 4 ? 8 : 128)) return 'request';
  if (type === (family === 4 ? 0 : 129)) return 'reply';
  return undefined;
}

function roleOf(r: Rec, firstFragments: Map<string, { flow: Flow; dir: 'orig' | 'reply' }>): Role {
  const i = r.info;
  if (!r.ok) return { kind: 'unknown', why: `parser rejected it (${INVALID_NAMES[i.invalid]})` };
  const src = podAt(i, 'src'), dst = podAt(i, 'dst');
  if (i.family === 6 && i.proto === P.ICMPV6 && i.icmpType >= 133 && i.icmpType <= 137) return { kind: 'nd' };
  if (i.laterFragment) {
    const hit = firstFragments.get(`${i.family}|${i.proto}|${rawAddrKey(r.pkt.bytes)}|${i.fragId}`);
    return hit ? { kind: 'flow', ...hit, part: 'later' } : { kind: 'unknown', why: 'later fragment without a first fragment' };
  }
  if (src === undefined && dst === undefined) return { kind: 'off-pod' };
  const part = i.fragment ? 'first' : 'whole';
  for (const f of FLOWS) {
    if (f.family !== i.family || f.proto !== i.proto) continue;
    if (f.proto === P.TCP || f.proto === P.UDP) {
      if (i.srcPort === f.iport && i.dstPort === f.rport) return { kind: 'flow', flow: f, dir: 'orig', part };
      if (i.srcPort === f.rport && i.dstPort === f.iport) return { kind: 'flow', flow: f, dir: 'reply', part };
    } else if (i.icmpId === f.iport) {
      const e = isEcho(i.family, i.icmpType);
      if (e) return { kind: 'flow', flow: f, dir: e === 'request' ? 'orig' : 'reply', part };
    }
  }
  if (i.inner) {
    for (const f of FLOWS) {
      if (f.family === i.family && f.proto === i.innerProto && i.innerSrcPort === f.iport && i.innerDstPort === f.rport) return { kind: 'error', flow: f };
    }
  }
  return { kind: 'unknown', why: 'matches no generated flow' };
}

/**
 * Roles of all packets in capture order. A later fragment is tied to its first fragment by the
 * address bytes read straight from both packets plus the parser's fragId (itself compared
 * with the raw identification field in the parser checks).
 */
function assignRoles(recs: readonly Rec[]): Role[] {
  const firstFragments = new Map<string, { flow: Flow; dir: 'orig' | 'reply' }>();
  return recs.map((r) => {
    const role = roleOf(r, firstFragments);
    if (role.kind === 'flow' && role.part === 'first') {
      firstFragments.set(`${r.info.family}|${r.info.proto}|${rawAddrKey(r.pkt.bytes)}|${r.info.fragId}`, { flow: role.flow, dir: role.dir });
    }
    return role;
  });
}

function describe(r: Rec): string {
  const i = r.info;
  return `#${r.pkt.index} (${r.pkt.bytes.length} bytes, v${i.family} proto ${i.proto} ports ${i.srcPort}->${i.dstPort} ` +
    `icmp ${i.icmpType}/${i.icmpCode} id ${i.icmpId} frag ${i.fragment}/${i.laterFragment}) ${r.pkt.bytes.subarray(0, 64).toString('hex')}`;
}

/**
 * The verdict and reason the classifier must give a packet, from the policy (allowsNew) and the
 * packet's role: a connection opened under the policy has its replies, its later fragments and
 * the ICMP errors about it accepted through conntrack; a connection the policy refuses gets none
 * of that, and whatever its peer sends back is judged as a new packet of its own.
 */
function expected(role: Role, seenOrig: Set<Flow>): { verdict: number; reason: number } {
  switch (role.kind) {
    case 'nd':
      // Real neighbour discovery carries hop limit 255 (RFC 4861 7.1.1); asserted separately.
      return { verdict: ACCEPT, reason: REASON.NEIGHBOR_DISCOVERY };
    case 'off-pod':
      // No pod address at either end: no policy selects it.
      return { verdict: allowsNew(undefined, undefined, 0, 0) ? ACCEPT : DROP, reason: REASON.POLICY_ALLOW };
    case 'unknown':
      return { verdict: -1, reason: -1 };
    case 'error': {
      const opened = allowsNew(role.flow.initiator, other(role.flow.initiator), role.flow.proto, role.flow.rport);
      return opened ? { verdict: ACCEPT, reason: REASON.ICMP_RELATED } : { verdict: DROP, reason: REASON.ICMP_UNRELATED };
    }
    case 'flow': {
      const f = role.flow;
      const opened = allowsNew(f.initiator, other(f.initiator), f.proto, f.rport);
      if (role.part === 'later') return opened ? { verdict: ACCEPT, reason: REASON.FRAGMENT_TRACKED } : { verdict: DROP, reason: REASON.FRAGMENT_UNTRACKED };
      if (role.dir === 'orig') {
        if (!opened) return { verdict: DROP, reason: REASON.POLICY_DENY };
        const first = !seenOrig.has(f);
        seenOrig.add(f);
        return { verdict: ACCEPT, reason: first ? REASON.POLICY_ALLOW : REASON.ESTABLISHED };
      }
      if (opened) return { verdict: ACCEPT, reason: REASON.REPLY };
      // Answer to a refused connection: an echo reply answers nothing tracked; a TCP RST from
      // the closed port is a new packet responder -> initiator's port, judged by the policy.
      if (f.proto === P.TCP || f.proto === P.UDP) {
        const back = allowsNew(other(f.initiator), f.initiator, f.proto, f.iport);
        return { verdict: back ? ACCEPT : DROP, reason: back ? REASON.POLICY_ALLOW : REASON.POLICY_DENY };
      }
      return { verdict: DROP, reason: REASON.UNSOLICITED_REPLY };
    }
  }
}

// ---- the test ------------------------------------------------------------------------------------

function skipReason(): string | false {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, libpcap capture, raw sockets)';
  try {
    createRequire(import.meta.url)('cap');
  } catch (err) {
    return `the cap addon does not load: ${(err as Error).message.split('\n')[0]}`;
  }
  return false;
}

t.test('parser and classifier on packets captured with cap in network namespaces', { skip: skipReason() }, async (t) => {
  const lab = new Lab();
  t.teardown(() => lab.down());
  await lab.up();

  // HTTP server in b on port 80, both families ('::' is dual-stack in Node).
  const server = lab.spawn(lab.in('B', ['node', '-e',
    `require('http').createServer((q, s) => s.end('hello from b\\n')).listen(80, '::')`]));
  const serverOut = watch(server);
  await waitFor('http server in b', async () => {
    if (server.exitCode !== null) throw new Error(`http server exited: ${serverOut.err()}`);
    return (await run(lab.in('B', ['ss', '-Hltn', 'sport = :80']))).stdout.trim() !== '';
  });

  const file = join(lab.dir, 'capture.bin');
  const capture = lab.spawn(lab.in('A', ['node', '--import', TSX, CAPTURE_MAIN, '--dev', 'eth0',
    '--filter', 'ip or ip6', '--out', file, '--stop-marker', MARKER, '--timeout', '25000']));
  const cap = watch(capture);
  const started = await Promise.race([
    waitFor('capture ready', () => cap.out().includes('ready') && 'ready', 20_000),
    cap.exited.then((code) => `exit ${code}`),
  ]);
  if (started !== 'ready') {
    const code = await cap.exited;
    if (code === 3) {
      t.pass('packet capture', { skip: `cap cannot capture on eth0 in ${lab.ns.A}: ${cap.err().trim()}` });
      return;
    }
    throw new Error(`capture exited (${code}) before it was ready: ${cap.err()}`);
  }
  t.match(cap.out(), /^ready ETHERNET/, 'veth captures with the Ethernet link type');

  // ---- traffic (everything stays on the veth pair) ----
  // First a multicast group join: the kernel sends an MLDv2 report, which carries a hop-by-hop
  // router-alert option (RFC 3810 5), so an IPv6 extension header on a real packet. It is sent
  // from a kernel work item, hence first, long before the end marker.
  await must(['ip', '-n', lab.ns.A, '-6', 'addr', 'add', 'ff12::7a:1/128', 'dev', 'eth0', 'autojoin']);
  const echo = async (from: Pod, f: Flow) => {
    const dst = IPS[other(from)][f.family];
    const r = await run(lab.in(from, ['node', '--import', TSX, ECHO_MAIN, '--dst', dst, '--id', String(f.iport),
      '--size', String(f.big ? BIG : 32), '--timeout', '3000']));
    t.equal(r.code, 0, `${f.name}: echo reply received`, { stderr: r.stderr });
  };
  const udp = async (f: Flow, payload: string) => {
    const dst = IPS[other(f.initiator)][f.family];
    const addr = f.family === 4 ? `UDP4-SENDTO:${dst}:${f.rport}` : `UDP6-SENDTO:[${dst}]:${f.rport}`;
    await must(lab.in(f.initiator, ['socat', '-u', '-', `${addr},sourceport=${f.iport}`]), payload);
  };
  for (const family of [4, 6] as const) {
    const [web, closed, udpAB, udpBA, echoAB, echoBA, bigBA, bigAB] = flowsFor(family);
    const host = family === 4 ? IPS.B[4] : `[${IPS.B[6]}]`;
    const page = await run(lab.in('A', ['curl', '-sS', '-g', '--max-time', '5', '--local-port', String(web!.iport), `http://${host}:80/`]));
    t.equal(page.stdout, 'hello from b\n', `${web!.name}: curl got the page`, { stderr: page.stderr });
    const refused = await run(lab.in('A', ['curl', '-sS', '-g', '--max-time', '5', '--local-port', String(closed!.iport), `http://${host}:81/`]));
    t.equal(refused.code, 7, `${closed!.name}: curl: connection refused`, { stderr: refused.stderr });
    await udp(udpAB!, 'to a closed port\n');
    await udp(udpBA!, 'to a closed port\n');
    await echo('A', echoAB!);
    await echo('B', echoBA!);
    await echo('B', bigBA!);
    await echo('A', bigAB!);
  }
  await udp(MARKER_FLOW, `${MARKER}\n`);
  let giveUp: NodeJS.Timeout | undefined;
  const code = await Promise.race([cap.exited, new Promise<number>((r) => (giveUp = setTimeout(() => r(-1), 15_000)))]);
  clearTimeout(giveUp);
  t.equal(code, 0, 'capture stopped at the end marker', { stderr: cap.err(), stdout: cap.out() });
  const pkts = readCaptureFile(file);
  t.ok(pkts.length >= 40, `${pkts.length} IP packets captured`);
  t.notOk(pkts.some((p) => p.flags !== 0), 'no frame was truncated or tagged');

  const recs = parseAll(pkts);
  const roles = assignRoles(recs);

  t.test('parsePacket on the captured packets', async (t) => {
    const bad = recs.filter((r) => !r.ok);
    t.same(bad.map(describe), [], 'every real packet parses');

    const unknown = recs.flatMap((r, k) => {
      const role = roles[k]!;
      return role.kind === 'unknown' ? [`${describe(r)}: ${role.why}`] : [];
    });
    t.same(unknown, [], 'every packet belongs to generated traffic, neighbour discovery or off-pod multicast');

    for (const f of FLOWS) {
      const mine = recs.map((r, k) => ({ r, role: roles[k]! })).filter((x) => (x.role.kind === 'flow' || x.role.kind === 'error') && x.role.flow === f);
      const orig = mine.filter((x) => x.role.kind === 'flow' && x.role.dir === 'orig');
      const reply = mine.filter((x) => x.role.kind === 'flow' && x.role.dir === 'reply');
      const errors = mine.filter((x) => x.role.kind === 'error');
      const ini = f.initiator, rsp = other(f.initiator);
      t.ok(orig.length > 0, `${f.name}: captured`);
      for (const { r, role } of [...orig, ...reply]) {
        const dir = (role as { dir: string }).dir;
        const [s, d] = dir === 'orig' ? [ini, rsp] : [rsp, ini];
        const i = r.info;
        if (i.family !== f.family || i.proto !== f.proto || !addrIs(i, 'src', s) || !addrIs(i, 'dst', d)) {
          t.fail(`${f.name}: ${describe(r)} has wrong family/proto/addresses for ${dir}`);
        }
        // Where the L4 header starts and how long it is, from the raw IP header: IPv4 header
        // length; IPv6 40 bytes plus a fragment header when one follows directly.
        if ((role as { part: string }).part !== 'later') {
          const b = r.pkt.bytes;
          const ihl = f.family === 4 ? (b[0]! & 15) * 4 : 40;
          const ext = f.family === 6 && b[6] === 44 ? 8 : 0;
          const payload = f.family === 4 ? b.readUInt16BE(2) - ihl : b.readUInt16BE(4);
          if (i.l4Offset !== ihl + ext || i.l4Length !== payload - ext) {
            t.fail(`${f.name}: ${describe(r)} l4Offset ${i.l4Offset} l4Length ${i.l4Length}, expected ${ihl + ext} and ${payload - ext}`);
          }
        }
        if (i.hopLimit !== 64) t.fail(`${f.name}: ${describe(r)} hop limit ${i.hopLimit}, the kernel default is 64`);
      }

      if (f.proto === P.TCP) {
        const flags = mine.filter((x) => x.role.kind === 'flow').map((x) => `${(x.role as { dir: string }).dir === 'orig' ? '>' : '<'}${x.r.info.tcpFlags & 0x17}`);
        // SYN 0x02, then SYN+ACK 0x12 (open port) or RST+ACK 0x14 (closed port), then ACK.
        if (f.rport === 80) {
          t.same(flags.slice(0, 3), ['>2', '<18', '>16'], `${f.name}: three-way handshake SYN, SYN+ACK, ACK`);
          t.ok(flags.includes('>17') && flags.includes('<17'), `${f.name}: both sides sent FIN+ACK`);
          t.ok(orig.some((x) => x.r.pkt.bytes.includes('GET / HTTP/1.1')), `${f.name}: the request is in a captured segment`);
          t.ok(reply.some((x) => x.r.pkt.bytes.includes('hello from b')), `${f.name}: the answer is in a captured segment`);
        } else {
          t.same(flags, ['>2', '<20'], `${f.name}: SYN answered by RST+ACK`);
        }
        t.ok(orig.every((x) => x.r.info.srcPort === f.iport && x.r.info.dstPort === f.rport), `${f.name}: ports ${f.iport} -> ${f.rport}`);
      }

      if (f.proto === P.UDP) {
        t.equal(orig.length, 1, `${f.name}: one datagram`);
        t.equal(reply.length, 0, `${f.name}: no answer from a closed port`);
        const u = orig[0]?.r.info;
        t.match(u, { srcPort: f.iport, dstPort: f.rport, icmpType: -1, inner: false }, `${f.name}: ports`);
        if (u) t.equal(u.l4Length, 8 + (f === MARKER_FLOW ? MARKER.length + 1 : 'to a closed port\n'.length), `${f.name}: UDP header + payload`);
      }

      if (f.closedUdp) {
        // RFC 792 / RFC 4443 3.1: destination unreachable, port unreachable (3/3 and 1/4),
        // quoting the datagram as its sender sent it.
        t.equal(errors.length, 1, `${f.name}: one ICMP port unreachable`);
        const e = errors[0]?.r.info;
        if (e) {
          t.match(e, {
            family: f.family, proto: f.family === 4 ? P.ICMP : P.ICMPV6,
            icmpType: f.family === 4 ? 3 : 1, icmpCode: f.family === 4 ? 3 : 4, icmpId: -1,
            inner: true, innerProto: P.UDP, innerSrcPort: f.iport, innerDstPort: f.rport,
          }, `${f.name}: port unreachable and its quoted tuple`);
          t.ok(addrIs(e, 'src', rsp) && addrIs(e, 'dst', ini), `${f.name}: error sent by the closed port's host to the sender`);
          t.ok(addrIs(e, 'innerSrc', ini) && addrIs(e, 'innerDst', rsp), `${f.name}: quoted addresses are the datagram's`);
        }
      } else {
        t.equal(errors.length, 0, `${f.name}: no ICMP errors`);
      }

      if (f.proto === P.ICMP || f.proto === P.ICMPV6) {
        const req = f.family === 4 ? 8 : 128, rep = f.family === 4 ? 0 : 129;
        for (const [list, type, what] of [[orig, req, 'request'], [reply, rep, 'reply']] as const) {
          const heads = list.filter((x) => (x.role as { part: string }).part !== 'later');
          const later = list.filter((x) => (x.role as { part: string }).part === 'later');
          t.equal(heads.length, 1, `${f.name}: one echo ${what} header`);
          t.match(heads[0]?.r.info, { icmpType: type, icmpCode: 0, icmpId: f.iport, srcPort: 0, dstPort: 0, inner: false }, `${f.name}: echo ${what} type/code/id`);
          if (!f.big) {
            t.equal(later.length, 0, `${f.name}: ${what} not fragmented`);
            t.equal(heads[0]?.r.info.fragment, false, `${f.name}: ${what} is no fragment`);
            continue;
          }
          // 8 + 3000 ICMP bytes over a 1280 MTU: IPv4 carries 1256 per fragment (1260 rounded
          // down to 8), IPv6 1232 (1280 - 40 - 8): three fragments either way.
          t.equal(later.length, 2, `${f.name}: ${what} in 3 fragments`);
          const h = heads[0]!.r;
          t.match(h.info, { fragment: true, laterFragment: false }, `${f.name}: first ${what} fragment`);
          const rawId = (b: Buffer) => f.family === 4 ? b.readUInt16BE(4) : b.readUInt32BE(44);
          t.equal(h.info.fragId, rawId(h.pkt.bytes), `${f.name}: fragId is the ${f.family === 4 ? 'IP identification' : 'fragment header identification'}`);
          let bytes = 0;
          for (const x of [heads[0]!, ...later]) {
            const b = x.r.pkt.bytes;
            bytes += f.family === 4 ? b.readUInt16BE(2) - (b[0]! & 15) * 4 : b.readUInt16BE(4) - 8;
            if (f.family === 6 && b[6] !== 44) t.fail(`${f.name}: ${describe(x.r)} has no fragment header first`);
          }
          t.equal(bytes, 8 + BIG, `${f.name}: the fragments carry the whole ${what}`);
          for (const x of later) {
            t.match(x.r.info, { fragment: true, laterFragment: true, fragId: h.info.fragId, proto: f.proto, l4Offset: -1, l4Length: 0, srcPort: 0, icmpType: -1, icmpId: -1 },
              `${f.name}: later ${what} fragment #${x.r.pkt.index}`);
          }
        }
      }
    }

    const nd = recs.filter((_, k) => roles[k]!.kind === 'nd');
    t.ok(nd.some((r) => r.info.icmpType === 135) && nd.some((r) => r.info.icmpType === 136), 'neighbour solicitation and advertisement captured');
    t.ok(nd.every((r) => r.info.hopLimit === 255), 'neighbour discovery arrives with hop limit 255');
    // MLDv2 report: IPv6 header, hop-by-hop options (next header 0), then ICMPv6 type 143.
    const mld = recs.filter((r) => r.pkt.bytes[0]! >>> 4 === 6 && r.pkt.bytes[6] === 0);
    t.ok(mld.length > 0, 'MLD reports with a hop-by-hop header captured');
    t.ok(mld.every((r) => r.info.proto === P.ICMPV6 && r.info.icmpType === 143 && r.info.l4Offset === 40 + (r.pkt.bytes[41]! + 1) * 8),
      'the parser walks the hop-by-hop header to the ICMPv6 MLD report');

    // The same packets back to back in one Buffer at odd offsets (the hot path parses a shared
    // buffer); with 6 trailing bytes counted in (Ethernet pads short frames to 60 bytes, and a
    // capture length then exceeds the IP length); and cut to their first 96 bytes with the
    // wire length passed separately (an NFQUEUE copy range). The same fields must come out,
    // except for ICMP errors, whose quote the cut removes.
    const GAP = 7;
    const big = Buffer.concat([...pkts.flatMap((p) => [Buffer.alloc(GAP, 0xee), p.bytes]), Buffer.alloc(GAP, 0xee)]);
    const info = new PacketInfo();
    let at = 0;
    const offsetDiff: string[] = [];
    const padDiff: string[] = [];
    const cutDiff: string[] = [];
    const same = (r: Rec, base: number) => {
      const got = { ...info, l4Offset: info.l4Offset === -1 ? -1 : info.l4Offset - base };
      return JSON.stringify(got) === JSON.stringify(r.info);
    };
    for (const r of recs) {
      at += GAP;
      const len = r.pkt.bytes.length;
      parsePacket(big, at, len, info);
      if (!same(r, at)) offsetDiff.push(describe(r));
      parsePacket(big, at, len + 6, info);
      if (!same(r, at)) padDiff.push(describe(r));
      if (len > 96 && !r.info.inner) {
        parsePacket(big, at, 96, info, len);
        if (!same(r, at)) cutDiff.push(describe(r));
      }
      at += len;
    }
    t.same(offsetDiff, [], 'parsing inside a shared buffer gives the same fields');
    t.same(padDiff, [], 'trailing link-layer padding changes nothing');
    t.same(cutDiff, [], 'parsing the first 96 bytes with the wire length gives the same fields');
  });

  t.test('classifier with conntrack over the compiled engine, in capture order', async (t) => {
    const state = new ClusterState();
    for (const doc of parseAllDocuments(CLUSTER)) {
      const d = decodeObject(doc.toJS());
      t.not(d.kind, 'invalid', `cluster object decodes${d.kind === 'invalid' ? `: ${JSON.stringify(d.errors)}` : ''}`);
      applyDecoded(state, d);
    }
    t.equal(state.pods.size, 2);
    t.equal(state.policies.size, 2);
    // The test's reading of the policy agrees with the reference evaluator for every TCP/UDP flow
    // and its reverse.
    for (const f of FLOWS) {
      if (f.proto !== P.TCP && f.proto !== P.UDP) continue;
      const protocol = f.proto === P.TCP ? 'TCP' : 'UDP';
      const s = IPS[f.initiator][f.family], d = IPS[other(f.initiator)][f.family];
      t.equal(evaluate(state, { src: s, dst: d, protocol, port: f.rport }).allowed, allowsNew(f.initiator, other(f.initiator), f.proto, f.rport), `evaluator agrees: ${f.name}`);
      t.equal(evaluate(state, { src: d, dst: s, protocol, port: f.iport }).allowed, allowsNew(other(f.initiator), f.initiator, f.proto, f.iport), `evaluator agrees: reverse of ${f.name}`);
    }

    const engine = new CompiledEngine(state);
    const classifier = new Classifier(engine.snapshot(), { conntrack: new Conntrack({ capacity: 256, seed: 7 }) });
    const seenOrig = new Set<Flow>();
    const wrong: string[] = [];
    const tally = new Map<string, number>();
    recs.forEach((r, k) => {
      const role = roles[k]!;
      const want = expected(role, seenOrig);
      // Each packet gets its capture position as the clock (ms): far inside every timeout.
      const v = classifier.classify(r.pkt.bytes, 0, r.pkt.bytes.length, r.pkt.index);
      const label = role.kind === 'flow' ? `${role.flow.name} ${role.dir}${role.part === 'whole' ? '' : ` ${role.part} fragment`}` : role.kind === 'error' ? `${role.flow.name} icmp error` : role.kind;
      const key = `${label}: ${v === ACCEPT ? 'accept' : 'drop'} (${REASON_NAMES[classifier.lastReason]})`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
      if (v !== want.verdict || classifier.lastReason !== want.reason) {
        wrong.push(`${describe(r)} [${label}]: got ${v === ACCEPT ? 'ACCEPT' : 'DROP'} ${REASON_NAMES[classifier.lastReason]}, ` +
          `expected ${want.verdict === ACCEPT ? 'ACCEPT' : want.verdict === DROP ? 'DROP' : '?'} ${REASON_NAMES[want.reason] ?? '?'}`);
      }
    });
    t.same(wrong, [], 'every packet gets the verdict and reason the policy implies');
    t.comment([...tally].map(([k, n]) => `${n} x ${k}`).join('\n'));
    // The cases the policy is about, spelled out.
    const got = (label: string) => [...tally.keys()].filter((k) => k.startsWith(`${label}:`));
    for (const fam of [4, 6]) {
      t.same(got(`v${fam} tcp a->b:80 orig`).sort(), ['v' + fam + ' tcp a->b:80 orig: accept (established)', 'v' + fam + ' tcp a->b:80 orig: accept (policy-allow)'], `v${fam}: the handshake opens, the rest of a's side is established`);
      t.same(got(`v${fam} tcp a->b:80 reply`), [`v${fam} tcp a->b:80 reply: accept (reply)`], `v${fam}: b's side of the web flow passes as replies`);
      t.same(got(`v${fam} tcp a->b:81 (closed) orig`), [`v${fam} tcp a->b:81 (closed) orig: drop (policy-deny)`], `v${fam}: TCP to a port the policy does not open is dropped`);
      t.same(got(`v${fam} udp a->b:9999 (closed) orig`), [`v${fam} udp a->b:9999 (closed) orig: drop (policy-deny)`], `v${fam}: UDP to b is dropped`);
      t.same(got(`v${fam} udp a->b:9999 (closed) icmp error`), [`v${fam} udp a->b:9999 (closed) icmp error: drop (icmp-unrelated)`], `v${fam}: the error about a refused datagram is dropped`);
      t.same(got(`v${fam} udp b->a:7000 (closed) icmp error`), [`v${fam} udp b->a:7000 (closed) icmp error: accept (icmp-related)`], `v${fam}: a's error about b's allowed datagram passes although a's egress is isolated`);
      t.same(got(`v${fam} echo b->a reply`), [`v${fam} echo b->a reply: accept (reply)`], `v${fam}: a's echo reply to b passes as a reply`);
      t.same(got(`v${fam} big echo b->a orig later fragment`), [`v${fam} big echo b->a orig later fragment: accept (fragment-tracked)`], `v${fam}: later fragments follow an accepted first fragment`);
      t.same(got(`v${fam} big echo a->b orig later fragment`), [`v${fam} big echo a->b orig later fragment: drop (fragment-untracked)`], `v${fam}: later fragments of a refused datagram are dropped`);
    }
  });
});
