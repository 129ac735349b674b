// RecentFlows: packets of one denied 5-tuple within the window are one connection (retransmitted
// SYNs, further datagrams); anything that differs in a field of the tuple, or comes after the
// window, is a new one. Packets are real bytes parsed by the dataplane parser.

import t from 'tap';
import { RecentFlows, DEFAULT_REPEAT_WINDOW_MS } from '../../src/agent/recent-flows.ts';
import { PacketInfo } from '../../src/dataplane/packet-info.ts';
import { parsePacket } from '../../src/dataplane/packet-parser.ts';
import { PROTO, packet } from '../../support/packets.ts';

function info(p: Buffer): PacketInfo {
  const i = new PacketInfo();
  if (!parsePacket(p, 0, p.length, i)) throw new Error('test packet did not parse');
  return i;
}

const A = '10.244.3.1', B = '10.244.1.2', C = '10.244.1.3';
const A6 = 'fd00:10:244::31', B6 = 'fd00:10:244::12';

type Row = [what: string, pkt: Buffer, dtMs: number, repeat: boolean, tag?: number];
const rows: Row[] = [
  ['first SYN', packet(A, B, PROTO.TCP, 40000, 80), 0, false],
  ['retransmitted SYN after 1 s', packet(A, B, PROTO.TCP, 40000, 80), 1000, true],
  ['retransmitted SYN 63 s later', packet(A, B, PROTO.TCP, 40000, 80), 63_000, true],
  ['another source port: another connection', packet(A, B, PROTO.TCP, 40001, 80), 0, false],
  ['another destination port', packet(A, B, PROTO.TCP, 40000, 81), 0, false],
  ['the same ports over UDP', packet(A, B, PROTO.UDP, 40000, 80), 0, false],
  ['a further datagram of that UDP flow', packet(A, B, PROTO.UDP, 40000, 80), 10, true],
  ['the same ports to another pod', packet(A, C, PROTO.TCP, 40000, 80), 0, false],
  ['the reverse direction is another connection', packet(B, A, PROTO.TCP, 80, 40000), 0, false],
  ['the same tuple under another tag (audit)', packet(A, B, PROTO.TCP, 40000, 80), 0, false, 1],
  ['the window counts from the last repeat', packet(A, B, PROTO.TCP, 40000, 80), DEFAULT_REPEAT_WINDOW_MS - 1000, true],
  ['past the window: a new attempt on a reused port', packet(A, B, PROTO.TCP, 40000, 80), DEFAULT_REPEAT_WINDOW_MS + 1, false],
  ['IPv6 first SYN', packet(A6, B6, PROTO.TCP, 40000, 80), 0, false],
  ['IPv6 retransmission', packet(A6, B6, PROTO.TCP, 40000, 80), 1000, true],
  ['ICMP echo request', packet(A, B, PROTO.ICMP, 7, 0), 0, false],
  ['the same echo id again', packet(A, B, PROTO.ICMP, 7, 0), 1000, true],
  ['another echo id', packet(A, B, PROTO.ICMP, 8, 0), 0, false],
  ['SCTP INIT', packet(A, B, PROTO.SCTP, 5000, 9000), 0, false],
  ['SCTP INIT again', packet(A, B, PROTO.SCTP, 5000, 9000), 3000, true],
];

t.test('repeats of a denied 5-tuple within the window', async (t) => {
  const r = new RecentFlows();
  let now = 1_000_000;
  for (const [what, pkt, dt, want, tag] of rows) {
    now += dt;
    t.equal(r.repeat(info(pkt), now, tag ?? 0), want, what);
  }
});

t.test('collisions never turn a new connection into a repeat', async (t) => {
  // One slot: every tuple lands in it, each new one replacing the last.
  const r = new RecentFlows(DEFAULT_REPEAT_WINDOW_MS, 1);
  const p1 = info(packet(A, B, PROTO.TCP, 40000, 80)), p2 = info(packet(A, B, PROTO.TCP, 40001, 80));
  t.notOk(r.repeat(p1, 0));
  t.notOk(r.repeat(p2, 1), 'a different tuple in the same slot is new');
  t.notOk(r.repeat(p1, 2), 'the first was pushed out: counted again, never lost');
  t.ok(r.repeat(p1, 3));
});

t.test('window 0 reports no repeats; bad arguments are refused', async (t) => {
  const r = new RecentFlows(0);
  const p = info(packet(A, B, PROTO.TCP, 40000, 80));
  t.notOk(r.repeat(p, 0));
  t.notOk(r.repeat(p, 0));
  t.throws(() => new RecentFlows(-1), /repeat window/);
  t.throws(() => new RecentFlows(1000, 0), /slots/);
});
