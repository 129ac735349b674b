import t from 'tap';
import { Conntrack, TCP_STATE, FLOW_ACCEPT, DEFAULT_TIMEOUTS } from '../../src/dataplane/conntrack.ts';
import { PacketInfo } from '../../src/dataplane/packet-info.ts';
import { parsePacket } from '../../src/dataplane/packet-parser.ts';
import { PROTO, TCPF, packet, replyPacket, ipv4, ipv6, udp, fragHeader, NH, echo, words } from '../../support/packets.ts';

const A = '10.244.1.1', B = '10.244.2.2', C = '10.244.3.3';
const A6 = 'fd00:10:244::11', B6 = 'fd00:10:244::22';

function info(p: Buffer): PacketInfo {
  const i = new PacketInfo();
  if (!parsePacket(p, 0, p.length, i)) throw new Error(`test packet did not parse: ${i.invalid}`);
  return i;
}

t.test('one entry serves both directions, v4 and v6, all protocols', async (t) => {
  const ct = new Conntrack({ capacity: 64, seed: 1 });
  // Addresses with the top bit set (192.168/16, fd00::/8) are stored as negative int32 words.
  for (const [src, dst] of [[A, B], [A6, B6], ['192.168.7.1', '203.0.113.9']] as const) {
    for (const proto of [PROTO.TCP, PROTO.UDP, PROTO.SCTP, PROTO.ICMP]) {
      const q = info(packet(src, dst, proto, 40000, 80));
      t.equal(ct.lookup(q, 0), -1, 'miss before insert');
      const e = ct.insert(q, 0, FLOW_ACCEPT, 1);
      t.ok(e >= 0);
      t.equal(ct.lookup(q, 1), e, 'original direction hit');
      t.equal(ct.lastReply, false);
      const r = info(replyPacket(src, dst, proto, 40000, 80));
      t.equal(ct.lookup(r, 1), e, `reply hits the same entry (${src} proto ${proto})`);
      t.equal(ct.lastReply, true);
      // The reverse NEW connection (dst opens to src's port 40000 from port 80 with a SYN /
      // an echo request) is the same 5-tuple reversed: for TCP/UDP/SCTP it matches the entry
      // (the classifier decides by TCP flags); an echo REQUEST from the other side must not.
      if (proto === PROTO.ICMP) {
        const rev = info(packet(dst, src, proto, 40000, 0));
        t.equal(ct.lookup(rev, 1), -1, 'echo request from the other side is not a reply');
      }
      // A different source port is a different flow.
      t.equal(ct.lookup(info(packet(src, dst, proto, 40001, 80)), 1), -1, 'other source port / echo id: other flow');
    }
  }
  t.equal(ct.entries, 12);
  t.equal(ct.inserts, 12);
  // Inserting an existing tuple returns the same entry.
  const q = info(packet(A, B, PROTO.UDP, 40000, 80));
  const e = ct.lookup(q, 2);
  t.equal(ct.insert(q, 2, FLOW_ACCEPT, 5), e);
  t.equal(ct.generation(e), 5);
  t.equal(ct.entries, 12);
  // A different third host never matches.
  t.equal(ct.lookup(info(packet(C, B, PROTO.UDP, 40000, 80)), 2), -1);
});

t.test('lookup compares every word: IPv6 flows alike in their first words and ports', async (t) => {
  // lookup() compares only word 0 of IPv4 addresses; IPv6 keys must still compare all four,
  // also when word 0 and the ports are the same both ways (then the original direction's first
  // compare passes for a reply, and only the other words tell the directions apart).
  const ct = new Conntrack({ capacity: 64, seed: 3 });
  const X = 'fd00:10:244::1', Y = 'fd00:10:244::2', Z = 'fd00:99:244::1';
  const e = ct.insert(info(packet(X, Y, PROTO.UDP, 5353, 5353)), 0, FLOW_ACCEPT, 1);
  t.equal(ct.lookup(info(packet(X, Y, PROTO.UDP, 5353, 5353)), 1), e);
  t.equal(ct.lastReply, false);
  t.equal(ct.lookup(info(replyPacket(X, Y, PROTO.UDP, 5353, 5353)), 1), e, 'reply of a flow whose ends share word 0 and port');
  t.equal(ct.lastReply, true);
  t.equal(ct.lookup(info(packet(X, Z, PROTO.UDP, 5353, 5353)), 1), -1, 'destination differing in word 1 only');
  t.equal(ct.lookup(info(packet(Z, Y, PROTO.UDP, 5353, 5353)), 1), -1, 'source differing in word 1 only');
  t.equal(ct.lookup(info(packet('fd00:10:244::3', Y, PROTO.UDP, 5353, 5353)), 1), -1, 'source differing in word 3 only');
  // The IPv4 address whose word equals the IPv6 flow's word 0 (and ports) is another family.
  t.equal(ct.lookup(info(packet('253.0.0.16', '253.0.0.16', PROTO.UDP, 5353, 5353)), 1), -1, 'IPv4 tuple with the same first words');
});

t.test('TCP state machine and timeouts', async (t) => {
  const ct = new Conntrack({ capacity: 16, seed: 2 });
  const syn = info(packet(A, B, PROTO.TCP, 5000, 80, TCPF.SYN));
  const e = ct.insert(syn, 0, FLOW_ACCEPT, 1);
  t.equal(ct.state(e), TCP_STATE.SYN_SENT);
  t.equal(ct.expires(e), DEFAULT_TIMEOUTS.tcpHandshake);
  const synack = info(replyPacket(A, B, PROTO.TCP, 5000, 80, TCPF.SYN | TCPF.ACK));
  t.equal(ct.lookup(synack, 10), e);
  ct.update(e, synack, ct.lastReply, 10);
  t.equal(ct.state(e), TCP_STATE.SYN_RECV);
  const ack = info(packet(A, B, PROTO.TCP, 5000, 80, TCPF.ACK));
  t.equal(ct.lookup(ack, 20), e);
  ct.update(e, ack, ct.lastReply, 20);
  t.equal(ct.state(e), TCP_STATE.ESTABLISHED);
  t.ok(ct.isAssured(e), 'assured after the handshake');
  t.equal(ct.expires(e), 20 + DEFAULT_TIMEOUTS.tcpEstablished);
  const fin = info(replyPacket(A, B, PROTO.TCP, 5000, 80, TCPF.FIN | TCPF.ACK));
  ct.lookup(fin, 30);
  ct.update(e, fin, ct.lastReply, 30);
  t.equal(ct.state(e), TCP_STATE.FIN);
  t.equal(ct.expires(e), 30 + DEFAULT_TIMEOUTS.tcpClosing);
  const rst = info(packet(A, B, PROTO.TCP, 5000, 80, TCPF.RST));
  ct.lookup(rst, 40);
  ct.update(e, rst, ct.lastReply, 40);
  t.equal(ct.state(e), TCP_STATE.CLOSED);
  t.equal(ct.expires(e), 40 + DEFAULT_TIMEOUTS.tcpClosed);
  // A FIN after the RST does not reopen.
  ct.update(e, fin, true, 41);
  t.equal(ct.state(e), TCP_STATE.CLOSED);
  // Expiry by injected time: still there just before, gone at the deadline.
  t.equal(ct.lookup(ack, 41 + DEFAULT_TIMEOUTS.tcpClosed - 1), e);
  t.equal(ct.lookup(ack, 41 + DEFAULT_TIMEOUTS.tcpClosed), -1);
  t.equal(ct.expirations, 1);
  t.equal(ct.entries, 0);
  // Mid-stream pickup (no SYN seen): established but not assured until the peer answers.
  const e2 = ct.insert(ack, 100, FLOW_ACCEPT, 1);
  t.equal(ct.state(e2), TCP_STATE.ESTABLISHED);
  t.notOk(ct.isAssured(e2));
  const rack = info(replyPacket(A, B, PROTO.TCP, 5000, 80, TCPF.ACK));
  ct.lookup(rack, 101);
  ct.update(e2, rack, true, 101);
  t.ok(ct.isAssured(e2));
});

t.test('UDP / ICMP / other timeouts', async (t) => {
  const ct = new Conntrack({ capacity: 16, seed: 3, timeouts: { udp: 1000, udpStream: 5000, icmp: 700, other: 300 } });
  const q = info(packet(A, B, PROTO.UDP, 1, 53));
  const e = ct.insert(q, 0, FLOW_ACCEPT, 1);
  t.equal(ct.expires(e), 1000);
  const r = info(replyPacket(A, B, PROTO.UDP, 1, 53));
  t.equal(ct.lookup(r, 500), e);
  ct.update(e, r, true, 500);
  t.equal(ct.expires(e), 5500, 'answered UDP gets the stream timeout');
  t.ok(ct.isAssured(e));
  const p = info(ipv4({ src: A, dst: B, proto: 1 }, echo(8, 99)));
  const ei = ct.insert(p, 0, FLOW_ACCEPT, 1);
  t.equal(ct.expires(ei), 700);
  const g = info(ipv4({ src: A, dst: B, proto: PROTO.GRE }, Buffer.alloc(8)));
  const eg = ct.insert(g, 0, FLOW_ACCEPT, 1);
  t.equal(ct.expires(eg), 300);
  t.equal(ct.expire(299), 0);
  t.equal(ct.expire(300), 1, 'sweep removes the GRE flow');
  t.equal(ct.expire(700), 1, 'then the echo');
  t.equal(ct.expire(10_000), 1, 'then the UDP flow');
  t.equal(ct.entries, 0);
  t.equal(ct.expirations, 3);
});

t.test('fragment id entries', async (t) => {
  const ct = new Conntrack({ capacity: 16, seed: 4 });
  const first = info(ipv4({ src: A, dst: B, proto: PROTO.UDP, mf: true, id: 77 }, udp({ sport: 1, dport: 2, length: 2000 })));
  const later = info(ipv4({ src: A, dst: B, proto: PROTO.UDP, fragOffset: 2, id: 77, rawPayload: true }, Buffer.alloc(8)));
  const other = info(ipv4({ src: A, dst: B, proto: PROTO.UDP, fragOffset: 2, id: 78, rawPayload: true }, Buffer.alloc(8)));
  t.equal(ct.lookupFragment(later, 0), -1);
  const f = ct.insertFragment(first, 0, FLOW_ACCEPT, 1);
  t.ok(ct.isFragmentEntry(f));
  t.equal(ct.lookupFragment(later, 1), f);
  t.equal(ct.lookupFragment(other, 1), -1, 'different IP id');
  t.equal(ct.lookup(first, 1), -1, 'a fragment entry is not a flow');
  const l6 = info(ipv6({ src: A6, dst: B6, nextHeader: NH.FRAGMENT, rawPayload: true }, Buffer.concat([fragHeader(PROTO.UDP, 9, false, 0xdeadbeef), Buffer.alloc(8)])));
  const f6 = info(ipv6({ src: A6, dst: B6, nextHeader: NH.FRAGMENT, rawPayload: true }, Buffer.concat([fragHeader(PROTO.UDP, 0, true, 0xdeadbeef), udp({ sport: 1, dport: 2, length: 999 })])));
  const g = ct.insertFragment(f6, 0, FLOW_ACCEPT, 1);
  t.equal(ct.lookupFragment(l6, 2), g);
  t.equal(ct.lookupFragment(l6, DEFAULT_TIMEOUTS.fragment), -1, 'fragment ids expire');
});

t.test('hard limit under a flood of new flows; eviction order; counters', async (t) => {
  const cap = 8;
  const ct = new Conntrack({ capacity: cap, seed: 5, evictScan: cap });
  // Two assured (answered) flows that must survive the flood.
  const keep: number[] = [];
  for (let i = 0; i < 2; i++) {
    const q = info(packet(A, B, PROTO.UDP, 100 + i, 53));
    const e = ct.insert(q, 0, FLOW_ACCEPT, 1);
    const r = info(replyPacket(A, B, PROTO.UDP, 100 + i, 53));
    ct.lookup(r, 0);
    ct.update(e, r, true, 0);
    keep.push(e);
  }
  const flood: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const e = ct.insert(info(packet(C, B, PROTO.UDP, 1000 + i, 53)), 1, FLOW_ACCEPT, 1);
    t.ok(e >= 0 || i < 0, 'a slot is always found while non-assured flows exist');
    flood.push(e);
    if (ct.entries > cap) t.fail('entries over the limit');
  }
  t.equal(ct.entries, cap, 'table stays at its limit');
  t.equal(ct.inserts, 1002);
  t.equal(ct.evictions, 1002 - cap, 'every insert past the limit evicted one flow');
  t.equal(ct.fullDrops, 0);
  for (let i = 0; i < 2; i++) t.equal(ct.lookup(info(packet(A, B, PROTO.UDP, 100 + i, 53)), 2), keep[i], 'assured flow survived');
  // The most recent flood flows are present, old ones gone.
  t.ok(ct.lookup(info(packet(C, B, PROTO.UDP, 1999, 53)), 2) >= 0);
  t.equal(ct.lookup(info(packet(C, B, PROTO.UDP, 1000, 53)), 2), -1);

  // Now make every entry assured: a new flow cannot evict anything and is refused.
  for (let e = ct.nextLive(0); e !== -1; e = ct.nextLive(e + 1)) ct.update(e, info(packet(A, B, PROTO.UDP, 1, 1)), true, 3);
  t.equal(ct.insert(info(packet(C, A, PROTO.UDP, 7, 7)), 4, FLOW_ACCEPT, 1), -1, 'full of assured flows: refused');
  t.equal(ct.fullDrops, 1);
  t.equal(ct.entries, cap);
  // Expired entries are reclaimed first (counted as expirations, not evictions).
  const ev = ct.evictions;
  const e = ct.insert(info(packet(C, A, PROTO.UDP, 7, 7)), 3 + DEFAULT_TIMEOUTS.udpStream, FLOW_ACCEPT, 1);
  t.ok(e >= 0);
  t.equal(ct.evictions, ev);
  t.ok(ct.expirations >= 1);
});

t.test('clock eviction order: unreferenced first, referenced get a second chance', async (t) => {
  const ct = new Conntrack({ capacity: 4, seed: 6, evictScan: 8 });
  const idx: number[] = [];
  for (let i = 0; i < 4; i++) idx.push(ct.insert(info(packet(A, B, PROTO.UDP, 10 + i, 53)), 0, FLOW_ACCEPT, 1));
  t.same(idx, [0, 1, 2, 3], 'low indexes handed out first');
  // All entries were just inserted (referenced). First eviction sweeps all reference bits and
  // takes entry 0, the first that got its bit cleared.
  const e4 = ct.insert(info(packet(A, B, PROTO.UDP, 20, 53)), 1, FLOW_ACCEPT, 1);
  t.equal(e4, 0, 'first eviction: entry 0 (bits cleared around the clock)');
  // Touch entry 2 (reference bit set again): next eviction should skip it.
  ct.lookup(info(packet(A, B, PROTO.UDP, 12, 53)), 2);
  ct.update(2, info(packet(A, B, PROTO.UDP, 12, 53)), false, 2);
  const e5 = ct.insert(info(packet(A, B, PROTO.UDP, 21, 53)), 2, FLOW_ACCEPT, 1);
  t.equal(e5, 1, 'hand continues at 1');
  const e6 = ct.insert(info(packet(A, B, PROTO.UDP, 22, 53)), 2, FLOW_ACCEPT, 1);
  t.equal(e6, 3, 'entry 2 was referenced: skipped, 3 evicted');
  t.equal(ct.lookup(info(packet(A, B, PROTO.UDP, 12, 53)), 3), 2, 'referenced flow kept');
  t.equal(ct.evictions, 3);
});

t.test('record accessors give back the original tuple', async (t) => {
  const ct = new Conntrack({ capacity: 8, seed: 9 });
  const e = ct.insert(info(packet(A6, B6, PROTO.SCTP, 1234, 38412)), 5, FLOW_ACCEPT, 3, 7, -1);
  t.equal(ct.family(e), 6);
  t.equal(ct.protocol(e), PROTO.SCTP);
  t.same([0, 1, 2, 3].map((i) => ct.srcWord(e, i) >>> 0), words(A6));
  t.same([0, 1, 2, 3].map((i) => ct.dstWord(e, i) >>> 0), words(B6));
  t.equal(ct.srcPort(e), 1234);
  t.equal(ct.dstPort(e), 38412);
  t.equal(ct.judgedPort(e), 38412);
  t.equal(ct.verdict(e), FLOW_ACCEPT);
  t.equal(ct.generation(e), 3);
  t.equal(ct.egressCode(e), 7);
  t.equal(ct.ingressCode(e), -1);
  t.equal(ct.expires(e), 5 + DEFAULT_TIMEOUTS.other);
  t.ok(ct.isLive(e));
  t.notOk(ct.isFragmentEntry(e));
  const p = ct.insert(info(ipv4({ src: A, dst: B, proto: 1 }, echo(8, 5))), 0, FLOW_ACCEPT, 1);
  t.equal(ct.judgedPort(p), 0, 'ICMP is judged port-less');
  t.throws(() => new Conntrack({ capacity: 4, timeouts: { udp: -1 } }), /timeout udp/);
});

t.test('iteration, remove, clear', async (t) => {
  const ct = new Conntrack({ capacity: 32, seed: 7 });
  for (let i = 0; i < 10; i++) ct.insert(info(packet(A, B, PROTO.TCP, 100 + i, 80)), 0, FLOW_ACCEPT, 1);
  let n = 0;
  for (let e = ct.nextLive(0); e !== -1; e = ct.nextLive(e + 1)) n++;
  t.equal(n, 10);
  ct.remove(3);
  ct.remove(3);
  t.equal(ct.entries, 9);
  t.equal(ct.lookup(info(packet(A, B, PROTO.TCP, 103, 80)), 0), -1);
  t.equal(ct.judgedPort(0), 80);
  t.equal(ct.protocol(0), 6);
  ct.clear();
  t.equal(ct.entries, 0);
  t.equal(ct.nextLive(0), -1);
  t.throws(() => new Conntrack({ capacity: 0 }), /capacity/);
});

t.test('many flows: hash chains stay correct under churn (differential vs a Map)', async (t) => {
  const ct = new Conntrack({ capacity: 4096, seed: 8 });
  const model = new Map<string, number>();
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8);
  let mismatches = 0;
  for (let step = 0; step < 20000; step++) {
    const sp = 1 + (rnd() % 3000);
    const q = info(packet(A, rnd() % 2 ? B : C, PROTO.UDP, sp, 53));
    const key = `${q.dst4}:${sp}`;
    const op = rnd() % 3;
    const e = ct.lookup(q, 0);
    if ((e !== -1) !== model.has(key) || (e !== -1 && model.get(key) !== e)) mismatches++;
    if (op === 0 && e === -1) model.set(key, ct.insert(q, 0, FLOW_ACCEPT, 1));
    else if (op === 1 && e !== -1) { ct.remove(e); model.delete(key); }
  }
  t.equal(mismatches, 0);
  t.equal(ct.entries, model.size);
});
