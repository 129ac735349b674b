// DNS over TCP reassembly (src/dataplane/tcp-dns-reassembly.ts): a stream of length-prefixed
// messages, cut into segments every way, comes out as the same messages; retransmissions,
// gaps, FIN/RST, the flow and size caps and idle expiry behave as its header says.

import t from 'tap';
import { TcpDnsReassembly, type TcpDnsReassemblyOptions } from '../../src/dataplane/tcp-dns-reassembly.ts';
import { PacketInfo } from '../../src/dataplane/packet-info.ts';
import { TCPF } from '../../support/packets.ts';

const SYNACK = TCPF.SYN | TCPF.ACK, ACK = TCPF.ACK;

/** A message of n bytes whose content says which one it is. */
function message(n: number, tag: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (tag * 31 + i) & 255;
  return b;
}
const frame = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m]);

function flow(port = 40000, family: 4 | 6 = 4): PacketInfo {
  const i = new PacketInfo();
  i.family = family;
  i.proto = 6;
  if (family === 4) { i.src4 = 0x0a600a0a; i.dst4 = 0x0a000001; } else { i.src6a = 0xfd000000; i.src6d = 0x53; i.dst6a = 0xfd000000; i.dst6d = 1; }
  i.srcPort = 53;
  i.dstPort = port;
  return i;
}

function harness(o: TcpDnsReassemblyOptions = {}) {
  const got: string[] = [];
  const r = new TcpDnsReassembly((b, off, len) => got.push(b.toString('hex', off, off + len)), o);
  let now = 0;
  /** One segment with payload `data` at stream offset `at` (the stream starts right after ISN). */
  const seg = (info: PacketInfo, isn: number, at: number, data: Buffer, flags: number = ACK, pad = 0) => {
    // The payload sits inside a larger buffer, as in a packet.
    const buf = Buffer.concat([Buffer.alloc(pad, 0xee), data, Buffer.alloc(3, 0xee)]);
    info.tcpFlags = flags;
    r.segment(info, (isn + 1 + at) >>> 0, buf, pad, data.length, true, now);
  };
  const open = (info: PacketInfo, isn: number) => { info.tcpFlags = SYNACK; r.segment(info, isn, Buffer.alloc(0), 0, 0, true, now); };
  return { r, got, seg, open, advance: (ms: number) => { now += ms; } };
}

t.test('a stream of two messages split at every byte offset (inside the length prefix too)', async (t) => {
  const m1 = message(90, 1), m2 = message(300, 2);
  const stream = Buffer.concat([frame(m1), frame(m2)]);
  const want = [m1.toString('hex'), m2.toString('hex')];
  let bad = 0;
  for (let k = 0; k <= stream.length; k++) {
    for (const isn of [1000, 0xffffffff - 100]) {
      const h = harness();
      const f = flow();
      h.open(f, isn);
      h.seg(f, isn, 0, stream.subarray(0, k), ACK, 20);
      h.seg(f, isn, k, stream.subarray(k), ACK | TCPF.FIN, 40);
      if (JSON.stringify(h.got) !== JSON.stringify(want) || h.r.size !== 0 || h.r.counters.incomplete !== 0) bad++;
    }
  }
  t.equal(bad, 0, `all ${2 * (stream.length + 1)} two-segment splits (and across sequence wrap) give both messages`);
});

t.test('three segments: every pair of cut points of a short message', async (t) => {
  const m = message(40, 3);
  const stream = frame(m);
  let bad = 0, cases = 0;
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j++) {
      const h = harness();
      const f = flow();
      h.open(f, 7);
      h.seg(f, 7, 0, stream.subarray(0, i));
      h.seg(f, 7, i, stream.subarray(i, j));
      h.seg(f, 7, j, stream.subarray(j));
      cases++;
      if (h.got.length !== 1 || h.got[0] !== m.toString('hex')) bad++;
    }
  }
  t.equal(bad, 0, `${cases} three-segment splits`);
});

const cases: { name: string; opts?: TcpDnsReassemblyOptions; run: (h: ReturnType<typeof harness>) => void; messages: number; counters?: Record<string, number>; size?: number; want?: Buffer[] }[] = [
  {
    name: 'two messages in one segment, then a third',
    run: (h) => { const f = flow(); h.open(f, 1); h.seg(f, 1, 0, Buffer.concat([frame(message(20, 1)), frame(message(30, 2))])); h.seg(f, 1, 54, frame(message(10, 3))); },
    messages: 3, counters: { messages: 3, reassembled: 0 },
  },
  {
    name: 'a message, then a second one cut inside its prefix, in the same segment',
    run: (h) => { const f = flow(); h.open(f, 1); const s = Buffer.concat([frame(message(20, 1)), frame(message(30, 2))]); h.seg(f, 1, 0, s.subarray(0, 23)); h.seg(f, 1, 23, s.subarray(23)); },
    messages: 2,
  },
  {
    name: 'a retransmitted segment is ignored',
    run: (h) => { const f = flow(); h.open(f, 1); const s = frame(message(100, 1)); h.seg(f, 1, 0, s.subarray(0, 50)); h.seg(f, 1, 0, s.subarray(0, 50)); h.seg(f, 1, 50, s.subarray(50)); h.seg(f, 1, 50, s.subarray(50)); },
    messages: 1, counters: { retransmits: 2 },
  },
  {
    name: 'a retransmission that overlaps and carries new bytes contributes the new ones',
    run: (h) => { const f = flow(); h.open(f, 1); const s = frame(message(100, 1)); h.seg(f, 1, 0, s.subarray(0, 50)); h.seg(f, 1, 20, s.subarray(20, 80)); h.seg(f, 1, 80, s.subarray(80)); },
    messages: 1,
  },
  {
    name: 'a gap gives the flow up: no message, later segments not read',
    run: (h) => { const f = flow(); h.open(f, 1); const s = Buffer.concat([frame(message(100, 1)), frame(message(10, 2))]); h.seg(f, 1, 0, s.subarray(0, 40)); h.seg(f, 1, 60, s.subarray(60)); h.seg(f, 1, 40, s.subarray(40, 60)); },
    messages: 0, counters: { gaps: 1 }, size: 1,
  },
  {
    name: 'out of order from the first byte: given up',
    run: (h) => { const f = flow(); h.open(f, 1); const s = frame(message(100, 1)); h.seg(f, 1, 50, s.subarray(50)); h.seg(f, 1, 0, s.subarray(0, 50)); },
    messages: 0, counters: { gaps: 1 },
  },
  {
    name: 'FIN in the middle of a message: counted incomplete, flow gone',
    run: (h) => { const f = flow(); h.open(f, 1); h.seg(f, 1, 0, frame(message(100, 1)).subarray(0, 30), ACK | TCPF.FIN); },
    messages: 0, counters: { incomplete: 1 }, size: 0,
  },
  {
    name: 'RST ends the flow (its data is not read)',
    run: (h) => { const f = flow(); h.open(f, 1); const s = frame(message(100, 1)); h.seg(f, 1, 0, s.subarray(0, 30)); h.seg(f, 1, 30, s.subarray(30), TCPF.RST | ACK); h.seg(f, 1, 30, s.subarray(30)); },
    messages: 0, counters: { incomplete: 1, unsynced: 1 }, size: 0,
  },
  {
    name: 'no SYN-ACK seen: the data is not guessed at',
    run: (h) => { h.seg(flow(), 1, 0, frame(message(20, 1))); },
    messages: 0, counters: { unsynced: 1, flows: 0 }, size: 0,
  },
  {
    name: 'a retransmitted SYN-ACK changes nothing; a new one (port reuse) starts over',
    run: (h) => { const f = flow(); h.open(f, 1); const s = frame(message(20, 1)); h.seg(f, 1, 0, s.subarray(0, 10)); h.open(f, 1); h.seg(f, 1, 10, s.subarray(10)); h.open(f, 500); h.seg(f, 500, 0, s); },
    messages: 2, counters: { flows: 2 },
  },
  {
    name: 'zero-length and maximum-length (65535) messages',
    run: (h) => { const f = flow(); h.open(f, 1); const big = frame(message(65535, 9)); h.seg(f, 1, 0, Buffer.concat([frame(Buffer.alloc(0)), big.subarray(0, 1)])); h.seg(f, 1, 3, big.subarray(1, 30000)); h.seg(f, 1, 30002, big.subarray(30000)); },
    messages: 2,
  },
  {
    name: 'a message over maxMessage gives the flow up',
    opts: { maxMessage: 100 },
    run: (h) => { const f = flow(); h.open(f, 1); h.seg(f, 1, 0, Buffer.concat([frame(message(100, 1)), frame(message(101, 2)), frame(message(5, 3))])); },
    messages: 1, counters: { oversize: 1 },
  },
  {
    name: 'flow cap: the least recently used flow is evicted, its data then unsynced',
    opts: { maxFlows: 2 },
    run: (h) => {
      const [a, b, c] = [flow(1), flow(2), flow(3)];
      const s = frame(message(50, 1));
      h.open(a, 1); h.advance(1); h.open(b, 1); h.advance(1); h.seg(a, 1, 0, s.subarray(0, 10)); h.advance(1);
      h.open(c, 1); // evicts b (a was used more recently)
      h.seg(b, 1, 0, frame(message(50, 2))); h.seg(a, 1, 10, s.subarray(10)); h.seg(c, 1, 0, frame(message(50, 3)));
    },
    messages: 2, counters: { evictions: 1, unsynced: 1 }, size: 2, want: [message(50, 1), message(50, 3)],
  },
  {
    name: 'idle expiry: a flow silent for idleMs is dropped',
    opts: { idleMs: 1000 },
    run: (h) => { const f = flow(); h.open(f, 1); const s = frame(message(50, 1)); h.seg(f, 1, 0, s.subarray(0, 10)); h.advance(1001); h.seg(f, 1, 10, s.subarray(10)); },
    messages: 0, counters: { expired: 1, unsynced: 1 }, size: 0,
  },
  {
    name: 'flows are told apart by the whole tuple (port, family)',
    run: (h) => {
      const [a, b, c] = [flow(1), flow(2), flow(1, 6)];
      const s = frame(message(50, 1));
      for (const f of [a, b, c]) h.open(f, 1);
      for (const f of [a, b, c]) h.seg(f, 1, 0, s.subarray(0, 25));
      for (const f of [c, b, a]) h.seg(f, 1, 25, s.subarray(25));
    },
    messages: 3, size: 3,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const h = harness(c.opts);
    c.run(h);
    t.equal(h.got.length, c.messages, 'messages handed on');
    for (const [k, v] of Object.entries(c.counters ?? {})) t.equal(h.r.counters[k as keyof typeof h.r.counters], v, k);
    if (c.size !== undefined) t.equal(h.r.size, c.size, 'flows held');
    if (c.want) t.same(h.got, c.want.map((b) => b.toString('hex')), 'which messages');
  });
}

t.test('a capture shorter than the segment gives the flow up (the missing bytes are a gap)', async (t) => {
  const h = harness();
  const f = flow();
  h.open(f, 1);
  f.tcpFlags = ACK;
  const s = frame(message(50, 1));
  h.r.segment(f, 2, s, 0, 20, false, 0);
  h.seg(f, 1, 20, s.subarray(20));
  t.equal(h.got.length, 0);
  t.equal(h.r.counters.truncated, 1);
});

t.test('messages are whole and byte-exact across flows interleaved with the expiry tick', async (t) => {
  const h = harness({ idleMs: 50 });
  const f = flow();
  h.open(f, 1);
  const m = message(200, 5);
  const s = frame(m);
  for (let i = 0; i < s.length; i += 7) { h.seg(f, 1, i, s.subarray(i, i + 7)); h.r.expire(0); }
  t.same(h.got, [m.toString('hex')]);
  h.advance(51);
  t.equal(h.r.expire(51), 1, 'the tick drops an idle flow');
});

t.test('hostile segments never throw', async (t) => {
  let x = 0x2545f491;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const r = new TcpDnsReassembly(() => {}, { maxFlows: 4, maxMessage: 300, idleMs: 100 });
  const buf = Buffer.alloc(2000);
  let threw = 0;
  for (let i = 0; i < 50_000; i++) {
    for (let k = 0; k < 16; k++) buf[rnd() % buf.length] = rnd() & 255;
    const f = flow(rnd() % 6, (rnd() & 1) === 0 ? 4 : 6);
    f.tcpFlags = [SYNACK, ACK, ACK, ACK, ACK | TCPF.FIN, TCPF.RST, rnd() & 255][rnd() % 7]!;
    const off = (rnd() % 2100) - 50, len = (rnd() % 2100) - 50;
    try {
      r.segment(f, (rnd() & 1) === 0 ? rnd() : 1 + (rnd() % 400), buf, off, len, (rnd() & 3) !== 0, i);
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, '50 000 random segments, random offsets and lengths: no throw');
  t.ok(r.size <= 4, 'the flow cap holds');
});

t.test('flow cap: a pod opening many connections takes the place of its own, not of a pod with fewer', async (t) => {
  // Each row opens flows [pod, port] in order (1 ms apart) with maxFlows 4; the first flow of
  // pod 1 has half a message when the cap is reached; `survives` says whether it still
  // completes it (its answer learned) after the last flow opens.
  const to = (pod: number, port: number): PacketInfo => { const f = flow(port); f.dst4 = 0x0a000000 + pod; return f; };
  const rows: { name: string; flows: [pod: number, port: number][]; survives: boolean }[] = [
    { name: 'pod 2 opens a 4th flow while holding 3: its own oldest goes', flows: [[2, 10], [2, 11], [2, 12], [2, 13]], survives: true },
    { name: 'a new pod 3: pod 2, holding the most, gives one up', flows: [[2, 10], [2, 11], [2, 12], [3, 10]], survives: true },
    { name: 'pod 1 and pod 2 hold 2 each and pod 2 opens another: its own goes', flows: [[1, 20], [2, 10], [2, 11], [2, 12]], survives: true },
    { name: 'pod 1 holds the most: its oldest flow goes', flows: [[1, 20], [1, 21], [2, 10], [3, 10]], survives: false },
  ];
  for (const row of rows) {
    const h = harness({ maxFlows: 4 });
    const a = to(1, 1);
    const s = frame(message(50, 1));
    h.open(a, 1);
    h.seg(a, 1, 0, s.subarray(0, 10));
    for (const [pod, port] of row.flows) { h.advance(1); h.open(to(pod, port), 1); }
    h.seg(a, 1, 10, s.subarray(10));
    t.equal(h.got.length, row.survives ? 1 : 0, `${row.name}: pod 1's answer ${row.survives ? 'completes' : 'is lost'}`);
    t.equal(h.r.counters.evictions, 1, `${row.name}: one flow evicted`);
  }
});
