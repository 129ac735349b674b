// Classifier behaviour on real packet bytes, with the TEST-ONLY TableSnapshot (first-match
// allow/deny table) so these tests isolate the classifier's own logic: stateful replies,
// reverse-new connections, ICMP, fragments, neighbour discovery, invalid packets, strict
// re-judging. classifier-conformance.test.ts checks it against the real engine and the evaluator.

import t from 'tap';
import { Classifier, ACCEPT, DROP, REASON, REASON_NAMES } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { INVALID } from '../../src/dataplane/packet-info.ts';
import { sideReason } from '../../src/policy/engine-api.ts';
import { TableSnapshot } from '../support/table-snapshot.ts';
import {
  PROTO, TCPF, NH, packet, replyPacket, ipv4, ipv6, udp, tcp, icmp, echo, icmpErrorFor, fragHeader,
} from '../../support/packets.ts';

const XA = '10.244.1.1', YA = '10.244.2.1', ZA = '10.244.3.1';
const XA6 = 'fd00:10:244::11', YA6 = 'fd00:10:244::21';

// x/a may open connections to namespace y (10.244.2.0/24, fd00:10:244::20/124) on any port;
// nothing may open connections to x/a; everything else is allowed.
function policy(gen = 1): TableSnapshot {
  return new TableSnapshot(gen, [
    { src: '10.244.1.1/32', dst: '10.244.2.0/24', allow: true },
    { src: 'fd00:10:244::11/128', dst: 'fd00:10:244::20/124', allow: true },
    { src: '10.244.1.1/32', allow: false },
    { src: 'fd00:10:244::11/128', allow: false },
    { dst: '10.244.1.1/32', allow: false },
    { dst: 'fd00:10:244::11/128', allow: false },
  ], true, [{ name: 'x/a', ips: [XA, XA6] }, { name: 'y/a', ips: [YA, YA6] }]);
}

function reason(c: Classifier): string {
  return REASON_NAMES[c.lastReason]!;
}

t.test('stateful: replies of allowed flows pass, reverse NEW is judged and denied', async (t) => {
  for (const [a, b] of [[XA, YA], [XA6, YA6]] as const) {
    for (const proto of [PROTO.TCP, PROTO.UDP, PROTO.SCTP, PROTO.ICMP]) {
      const snap = policy();
      const c = new Classifier(snap, { conntrack: new Conntrack({ capacity: 64, seed: 1 }) });
      const q = packet(a, b, proto, 40000, 80);
      t.equal(c.classify(q, 0, q.length, 0), ACCEPT, `${a} -> ${b} proto ${proto} allowed`);
      t.equal(reason(c), 'policy-allow');
      t.ok(c.lastFlow >= 0);
      const calls = snap.judgeCalls;
      const r = replyPacket(a, b, proto, 40000, 80);
      t.equal(c.classify(r, 0, r.length, 1), ACCEPT, 'reply passes');
      t.equal(reason(c), 'reply');
      t.equal(c.classify(q, 0, q.length, 2), ACCEPT, 'more of the original direction passes');
      t.equal(reason(c), 'established');
      t.equal(snap.judgeCalls, calls, 'established packets skip the rule lookup');
      // Unsolicited reverse connection: b opens a NEW connection to a (a different source port).
      const rev = packet(b, a, proto, 50000, 40000);
      t.equal(c.classify(rev, 0, rev.length, 3), DROP, 'reverse new connection denied');
      t.equal(reason(c), 'policy-deny');
      t.equal(sideReason(c.lastIngressCode), 'no-rule');
    }
  }
});

t.test('a bare SYN from the responder on an established flow does not ride on it', async (t) => {
  const c = new Classifier(policy(), { conntrack: new Conntrack({ capacity: 16, seed: 12 }) });
  const syn = packet(XA, YA, PROTO.TCP, 40000, 80);
  c.classify(syn, 0, syn.length, 0);
  // Simultaneous open: while our SYN is unanswered, a SYN from the other side is legal.
  const simul = replyPacket(XA, YA, PROTO.TCP, 40000, 80, TCPF.SYN);
  t.equal(c.classify(simul, 0, simul.length, 1), ACCEPT);
  t.equal(reason(c), 'reply');
  const synack = replyPacket(XA, YA, PROTO.TCP, 40000, 80, TCPF.SYN | TCPF.ACK);
  c.classify(synack, 0, synack.length, 2);
  const ack = packet(XA, YA, PROTO.TCP, 40000, 80, TCPF.ACK);
  c.classify(ack, 0, ack.length, 3);
  t.equal(c.classify(simul, 0, simul.length, 4), DROP, 'bare SYN in the reply direction once established');
  t.equal(reason(c), 'tcp-out-of-state');
  t.equal(c.classify(synack, 0, synack.length, 5), ACCEPT, 'retransmitted SYN+ACK still a reply');
});

t.test('reverse NEW on the exact reversed 5-tuple with no entry is judged as new', async (t) => {
  const c = new Classifier(policy(), { conntrack: new Conntrack({ capacity: 64, seed: 2 }) });
  // y/a "replies" (SYN+ACK) to x/a although x/a never opened anything: no entry, so it is a new
  // packet judged y/a -> x/a:40000, which the policy denies.
  const r = replyPacket(XA, YA, PROTO.TCP, 40000, 80);
  t.equal(c.classify(r, 0, r.length, 0), DROP);
  t.equal(reason(c), 'policy-deny');
  const u = replyPacket(XA, YA, PROTO.UDP, 40000, 80);
  t.equal(c.classify(u, 0, u.length, 0), DROP);
  // An echo reply with no request is not a connection at all.
  const er = replyPacket(XA, YA, PROTO.ICMP, 7, 0);
  t.equal(c.classify(er, 0, er.length, 0), DROP);
  t.equal(reason(c), 'unsolicited-reply');
});

t.test('without conntrack every packet is judged as new (NFQUEUE ctstate NEW mode)', async (t) => {
  const snap = policy();
  const c = new Classifier(snap);
  const q = packet(XA, YA, PROTO.TCP, 40000, 80);
  t.equal(c.classify(q, 0, q.length, 0), ACCEPT);
  const r = replyPacket(XA, YA, PROTO.TCP, 40000, 80);
  t.equal(c.classify(r, 0, r.length, 0), DROP, 'a reply cannot be told from a new connection');
  t.equal(c.lastSrcSlot, 1);
  t.equal(c.lastDstSlot, 0);
  const later = ipv4({ src: ZA, dst: YA, proto: PROTO.UDP, fragOffset: 20, rawPayload: true }, Buffer.alloc(16));
  t.equal(c.classify(later, 0, later.length, 0), DROP, 'later fragment dropped without conntrack');
  const err = icmpErrorFor(q, YA);
  t.equal(c.classify(err, 0, err.length, 0), DROP, 'ICMP error unrelated without conntrack');
  t.equal(reason(c), 'icmp-unrelated');
});

t.test('ICMP echo is judged as proto 1/58 with port 0', async (t) => {
  const snap = new TableSnapshot(1, [
    { dst: '10.244.2.1/32', proto: 1, port: 0, allow: true },
    { dst: '10.244.2.1/32', allow: false },
    { dst: 'fd00:10:244::21/128', proto: 58, port: [0, 0], allow: true },
    { dst: 'fd00:10:244::21/128', allow: false },
  ], false);
  const c = new Classifier(snap, { conntrack: new Conntrack({ capacity: 16, seed: 3 }) });
  for (const [a, b, p] of [[XA, YA, 1], [XA6, YA6, 58]] as const) {
    const ping = packet(a, b, p, 99, 0);
    t.equal(c.classify(ping, 0, ping.length, 0), ACCEPT, `echo ${a}`);
    const pong = replyPacket(a, b, p, 99, 0);
    t.equal(c.classify(pong, 0, pong.length, 1), ACCEPT, 'echo reply');
    t.equal(reason(c), 'reply');
  }
  const tcpToY = packet(XA, YA, PROTO.TCP, 1, 0);
  t.equal(c.classify(tcpToY, 0, tcpToY.length, 0), DROP, 'TCP to port 0 is not ICMP');
  // Non-echo ICMP (timestamp) is judged too, and opens no flow.
  const ts = ipv4({ src: XA, dst: YA, proto: 1 }, icmp(13, 0, 0x00050001, Buffer.alloc(12)));
  const before = c.conntrack!.entries;
  t.equal(c.classify(ts, 0, ts.length, 0), ACCEPT);
  t.equal(c.conntrack!.entries, before);
});

t.test('ICMP errors pass only for tracked allowed flows, towards the quoted sender', async (t) => {
  for (const [a, b, router] of [[XA, YA, '10.0.0.254'], [XA6, YA6, 'fd00::fe']] as const) {
    const c = new Classifier(policy(), { conntrack: new Conntrack({ capacity: 64, seed: 4 }) });
    const q = packet(a, b, PROTO.UDP, 3333, 53);
    const unrelated = icmpErrorFor(packet(a, b, PROTO.UDP, 4444, 53), router);
    t.equal(c.classify(unrelated, 0, unrelated.length, 0), DROP, 'no flow yet');
    t.equal(reason(c), 'icmp-unrelated');
    c.classify(q, 0, q.length, 0);
    const err = icmpErrorFor(q, router);
    t.equal(c.classify(err, 0, err.length, 1), ACCEPT, `${a}: port unreachable for a tracked flow`);
    t.equal(reason(c), 'icmp-related');
    // The same error about the reply direction (b's reply could not reach a, router tells b).
    const rq = replyPacket(a, b, PROTO.UDP, 3333, 53);
    const err2 = icmpErrorFor(rq, router);
    t.equal(c.classify(err2, 0, err2.length, 1), ACCEPT, 'error about the reply direction');
    // Misdirected: a valid quote sent to a third host.
    const mis = a === XA
      ? ipv4({ src: router, dst: ZA, proto: 1 }, icmp(3, 3, 0, q.subarray(0, 28 + 8)))
      : ipv6({ src: router, dst: 'fd00:10:244::31', nextHeader: 58 }, icmp(1, 4, 0, q));
    t.equal(c.classify(mis, 0, mis.length, 1), DROP, 'error sent to a host that is not the quoted sender');
    t.equal(reason(c), 'icmp-unrelated');
    // Error about an echo.
    const ping = packet(a, b, PROTO.ICMP, 55, 0);
    c.classify(ping, 0, ping.length, 2);
    const perr = icmpErrorFor(ping, router);
    t.equal(c.classify(perr, 0, perr.length, 3), ACCEPT, 'error quoting a tracked echo');
  }
});

t.test('neighbour discovery always passes (with hop limit 255)', async (t) => {
  const c = new Classifier(new TableSnapshot(1, [], false), { conntrack: new Conntrack({ capacity: 4, seed: 5 }) });
  for (const type of [133, 134, 135, 136, 137]) {
    const nd = ipv6({ src: 'fe80::1', dst: 'ff02::1:ff00:11', nextHeader: 58, hopLimit: 255 }, icmp(type, 0, 0, Buffer.alloc(16)));
    t.equal(c.classify(nd, 0, nd.length, 0), ACCEPT, `ND type ${type}`);
    t.equal(reason(c), 'neighbor-discovery');
    const forged = ipv6({ src: 'fe80::1', dst: 'ff02::1', nextHeader: 58, hopLimit: 64 }, icmp(type, 0, 0, Buffer.alloc(16)));
    t.equal(c.classify(forged, 0, forged.length, 0), DROP, `ND type ${type} from off-link`);
    t.equal(reason(c), 'nd-bad-hop-limit');
  }
  const ping = ipv6({ src: XA6, dst: YA6, nextHeader: 58 }, echo(128, 1));
  t.equal(c.classify(ping, 0, ping.length, 0), DROP, 'default deny still applies to echo');
  t.equal(c.conntrack!.entries, 0);
});

t.test('fragments: later fragments follow an accepted first fragment', async (t) => {
  const c = new Classifier(policy(), { conntrack: new Conntrack({ capacity: 64, seed: 6 }) });
  const first = ipv4({ src: XA, dst: YA, proto: PROTO.UDP, mf: true, id: 500 }, udp({ sport: 9, dport: 53, length: 4000 }, Buffer.alloc(32)));
  const later = ipv4({ src: XA, dst: YA, proto: PROTO.UDP, fragOffset: 5, id: 500, rawPayload: true }, Buffer.alloc(64));
  t.equal(c.classify(later, 0, later.length, 0), DROP, 'later fragment before its first: dropped');
  t.equal(reason(c), 'fragment-untracked');
  t.equal(c.classify(first, 0, first.length, 1), ACCEPT, 'first fragment judged on its ports');
  t.equal(c.classify(later, 0, later.length, 2), ACCEPT);
  t.equal(reason(c), 'fragment-tracked');
  const otherId = ipv4({ src: XA, dst: YA, proto: PROTO.UDP, fragOffset: 5, id: 501, rawPayload: true }, Buffer.alloc(64));
  t.equal(c.classify(otherId, 0, otherId.length, 2), DROP, 'another datagram id');
  // Denied first fragment: its followers are dropped too.
  const dfirst = ipv4({ src: YA, dst: XA, proto: PROTO.UDP, mf: true, id: 600 }, udp({ sport: 9, dport: 53, length: 4000 }, Buffer.alloc(32)));
  const dlater = ipv4({ src: YA, dst: XA, proto: PROTO.UDP, fragOffset: 5, id: 600, rawPayload: true }, Buffer.alloc(64));
  t.equal(c.classify(dfirst, 0, dfirst.length, 3), DROP);
  t.equal(c.classify(dlater, 0, dlater.length, 3), DROP);
  // A fragmented reply of an allowed flow (first fragment hits the flow) also carries its followers.
  const rfirst = ipv4({ src: YA, dst: XA, proto: PROTO.UDP, mf: true, id: 700 }, udp({ sport: 53, dport: 9, length: 4000 }, Buffer.alloc(32)));
  const rlater = ipv4({ src: YA, dst: XA, proto: PROTO.UDP, fragOffset: 5, id: 700, rawPayload: true }, Buffer.alloc(64));
  t.equal(c.classify(rfirst, 0, rfirst.length, 4), ACCEPT);
  t.equal(reason(c), 'reply');
  t.equal(c.classify(rlater, 0, rlater.length, 4), ACCEPT);
  // IPv6.
  const f6 = ipv6({ src: XA6, dst: YA6, nextHeader: NH.FRAGMENT, rawPayload: true }, Buffer.concat([fragHeader(PROTO.TCP, 0, true, 42), tcp({ sport: 1, dport: 2 })]));
  const l6 = ipv6({ src: XA6, dst: YA6, nextHeader: NH.FRAGMENT, rawPayload: true }, Buffer.concat([fragHeader(PROTO.TCP, 3, false, 42), Buffer.alloc(8)]));
  t.equal(c.classify(f6, 0, f6.length, 5), ACCEPT);
  t.equal(c.classify(l6, 0, l6.length, 5), ACCEPT);
  t.equal(reason(c), 'fragment-tracked');
  // Fragment entries expire.
  t.equal(c.classify(l6, 0, l6.length, 5 + 30_000), DROP);
});

t.test('invalid packets are dropped and counted by reason', async (t) => {
  const c = new Classifier(new TableSnapshot(1, [], true), { conntrack: new Conntrack({ capacity: 4, seed: 7 }) });
  const good = packet(XA, YA, PROTO.TCP, 1, 2);
  t.equal(c.classify(good, 0, 10, 0), DROP);
  t.equal(c.lastInvalid, INVALID.TRUNCATED_L3);
  t.equal(reason(c), 'invalid');
  const synfin = packet(XA, YA, PROTO.TCP, 1, 2, TCPF.SYN | TCPF.FIN);
  t.equal(c.classify(synfin, 0, synfin.length, 0), DROP);
  t.equal(c.lastInvalid, INVALID.BAD_TCP_FLAGS);
  t.equal(c.classify(good, 5, 1000, 0), DROP);
  t.equal(c.lastInvalid, INVALID.BAD_BUFFER);
  t.equal(c.invalidCounts[INVALID.TRUNCATED_L3], 1);
  t.equal(c.invalidCounts[INVALID.BAD_TCP_FLAGS], 1);
  t.equal(c.invalidCounts[INVALID.BAD_BUFFER], 1);
  t.equal(c.reasonCounts[REASON.INVALID], 3);
  t.equal(c.verdictCounts[DROP], 3);
  t.equal(c.classify(good, 0, good.length, 0), ACCEPT);
  t.equal(c.lastInvalid, 0);
  t.equal(c.verdictCounts[ACCEPT], 1);
  c.resetCounters();
  t.equal(c.verdictCounts[ACCEPT], 0);
});

t.test('TCP: RST/FIN open nothing; a new SYN on a closed tuple is judged again', async (t) => {
  const snap = policy();
  const c = new Classifier(snap, { conntrack: new Conntrack({ capacity: 16, seed: 8 }) });
  const ct = c.conntrack!;
  const rst = packet(XA, YA, PROTO.TCP, 1, 80, TCPF.RST);
  t.equal(c.classify(rst, 0, rst.length, 0), ACCEPT, 'allowed by policy');
  t.equal(ct.entries, 0, 'but tracked as nothing');
  const syn = packet(XA, YA, PROTO.TCP, 1, 80);
  c.classify(syn, 0, syn.length, 0);
  t.equal(ct.entries, 1);
  const fin = packet(XA, YA, PROTO.TCP, 1, 80, TCPF.FIN | TCPF.ACK);
  c.classify(fin, 0, fin.length, 1);
  const calls = snap.judgeCalls;
  c.classify(syn, 0, syn.length, 2);
  t.equal(reason(c), 'policy-allow', 'SYN after FIN re-opens through the policy');
  t.equal(snap.judgeCalls, calls + 1);
});

t.test('strict: a new snapshot re-judges flows; rejudge() reports the cut ones', async (t) => {
  const ct = new Conntrack({ capacity: 64, seed: 9 });
  const c = new Classifier(policy(1), { conntrack: ct });
  const flows: Buffer[] = [];
  for (let i = 0; i < 5; i++) {
    const q = packet(XA, YA, PROTO.TCP, 1000 + i, 80 + i);
    flows.push(q);
    t.equal(c.classify(q, 0, q.length, 0), ACCEPT);
  }
  const z = packet(ZA, YA, PROTO.UDP, 5, 53);
  t.equal(c.classify(z, 0, z.length, 0), ACCEPT);
  // New policy: x/a may reach y only on port 80 and 81.
  const next = new TableSnapshot(2, [
    { src: '10.244.1.1/32', dst: '10.244.2.0/24', proto: 6, port: [80, 81], allow: true },
    { src: '10.244.1.1/32', allow: false },
  ], true);
  c.setSnapshot(next);
  t.equal(c.snapshot, next);
  const seen: number[] = [];
  const n = c.rejudge(10, (f) => seen.push(f));
  t.equal(n, 3, 'flows to ports 82..84 are cut');
  t.same(Array.from(c.deniedFlows.subarray(0, n)), seen);
  for (const f of seen) t.equal(ct.dstPort(f) >= 82, true);
  t.equal(c.rejudge(11), 0, 'second walk: nothing new');
  const r3 = replyPacket(XA, YA, PROTO.TCP, 1003, 83);
  t.equal(c.classify(r3, 0, r3.length, 12), DROP, 'reply of a cut flow dropped');
  t.equal(reason(c), 'flow-denied');
  const r0 = replyPacket(XA, YA, PROTO.TCP, 1000, 80);
  t.equal(c.classify(r0, 0, r0.length, 12), ACCEPT, 'still-allowed flow keeps going');
  // Back to the old rules: cut flows are allowed again.
  c.setSnapshot(policy(3));
  t.equal(c.rejudge(13), 0);
  t.equal(c.classify(r3, 0, r3.length, 14), ACCEPT);

  // Lazy path: without calling rejudge, the next packet of a flow is judged by the new generation.
  c.setSnapshot(new TableSnapshot(4, [{ dst: '10.244.2.0/24', allow: false }], true));
  t.equal(c.classify(r0, 0, r0.length, 15), DROP, 'first packet after the swap sees the new rules');
  t.equal(reason(c), 'flow-denied');

  // Non-strict: flows keep their admission verdict.
  const ct2 = new Conntrack({ capacity: 8, seed: 10 });
  const lax = new Classifier(policy(1), { conntrack: ct2, strict: false });
  lax.classify(flows[4]!, 0, flows[4]!.length, 0);
  lax.setSnapshot(next);
  t.equal(lax.rejudge(1), 0);
  const r4 = replyPacket(XA, YA, PROTO.TCP, 1004, 84);
  t.equal(lax.classify(r4, 0, r4.length, 2), ACCEPT, 'non-strict keeps the flow');
});

t.test('strict re-judging works on IPv6 flows (words with the top bit set)', async (t) => {
  const ct = new Conntrack({ capacity: 16, seed: 13 });
  const c = new Classifier(policy(1), { conntrack: ct });
  const q = packet(XA6, YA6, PROTO.UDP, 5353, 53);
  t.equal(c.classify(q, 0, q.length, 0), ACCEPT);
  c.setSnapshot(new TableSnapshot(2, [{ src: 'fd00:10:244::11/128', dst: 'fd00:10:244::21/128', proto: 17, port: 53, allow: false }], true));
  t.equal(c.rejudge(1), 1, 'the v6 flow is cut');
  const r = replyPacket(XA6, YA6, PROTO.UDP, 5353, 53);
  t.equal(c.classify(r, 0, r.length, 2), DROP);
  c.setSnapshot(new TableSnapshot(3, [{ src: 'fd00:10:244::11/128', dst: 'fd00:10:244::21/128', proto: 17, port: 53, allow: true }], false));
  t.equal(c.rejudge(3), 0);
  t.equal(c.classify(r, 0, r.length, 4), ACCEPT, 're-opened by the next generation');
});

t.test('table full: allowed but untrackable new flows are dropped (fail closed)', async (t) => {
  const ct = new Conntrack({ capacity: 2, seed: 11, evictScan: 2 });
  const c = new Classifier(new TableSnapshot(1, [], true), { conntrack: ct });
  for (let i = 0; i < 2; i++) {
    const q = packet(XA, YA, PROTO.UDP, 10 + i, 53);
    c.classify(q, 0, q.length, 0);
    const r = replyPacket(XA, YA, PROTO.UDP, 10 + i, 53);
    c.classify(r, 0, r.length, 0);
  }
  const q = packet(XA, YA, PROTO.UDP, 99, 53);
  t.equal(c.classify(q, 0, q.length, 1), DROP);
  t.equal(reason(c), 'table-full');
  t.equal(ct.fullDrops, 1);
});
