// Seeded fuzz: 1,000,000 random and mutated packets through parsePacket and classify (real
// compiled engine, stateful, small table so eviction runs). Nothing may throw, every result must
// be self-consistent, a packet must parse the same alone in a buffer of its own, and a packet the
// parser rejects must be dropped.

import t from 'tap';
import { parsePacket } from '../../src/dataplane/packet-parser.ts';
import { INVALID_COUNT, PacketInfo } from '../../src/dataplane/packet-info.ts';
import { Classifier, ACCEPT, DROP, REASON } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { loadCases, buildClusterForCase, applyStep } from '../support/conformance-cases.ts';
import {
  PROTO, NH, TCPF, packet, replyPacket, ipv4, ipv6, udp, tcp, icmp, echo, extHeader, ahHeader, fragHeader, icmpErrorFor,
} from '../../support/packets.ts';

const TOTAL = 1_000_000;

// xorshift32: deterministic across runs.
let s = 0x9e3779b9;
function rnd(): number {
  s ^= s << 13; s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5; s >>>= 0;
  return s;
}

function corpus(): Buffer[] {
  const A = '10.244.1.1', B = '10.244.2.2', A6 = 'fd00:10:244::11', B6 = 'fd00:10:244::22';
  const out: Buffer[] = [];
  for (const [a, b] of [[A, B], [A6, B6], ['10.0.0.1', A]] as const) {
    for (const p of [PROTO.TCP, PROTO.UDP, PROTO.SCTP, PROTO.ICMP]) {
      out.push(packet(a, b, p, 40000, 80), replyPacket(a, b, p, 40000, 80));
      out.push(icmpErrorFor(packet(a, b, p, 40000, 80), b));
    }
    out.push(packet(a, b, PROTO.TCP, 40000, 80, TCPF.ACK), packet(a, b, PROTO.TCP, 40000, 80, TCPF.FIN | TCPF.ACK), packet(a, b, PROTO.TCP, 40000, 80, TCPF.RST));
  }
  out.push(ipv4({ src: A, dst: B, proto: PROTO.UDP, mf: true, id: 9 }, udp({ sport: 1, dport: 53, length: 900 }, Buffer.alloc(24))));
  out.push(ipv4({ src: A, dst: B, proto: PROTO.UDP, fragOffset: 3, id: 9, rawPayload: true }, Buffer.alloc(24)));
  out.push(ipv4({ src: A, dst: B, proto: PROTO.TCP, options: Buffer.from([0x94, 4, 0, 0]) }, tcp({ sport: 5, dport: 6 })));
  out.push(ipv6({ src: A6, dst: B6, nextHeader: NH.HOP, rawPayload: true }, Buffer.concat([extHeader(NH.ROUTING), extHeader(NH.AH, 1), ahHeader(NH.FRAGMENT), fragHeader(PROTO.UDP, 0, true, 3), udp({ sport: 1, dport: 2 })])));
  out.push(ipv6({ src: A6, dst: B6, nextHeader: NH.FRAGMENT, rawPayload: true }, Buffer.concat([fragHeader(PROTO.UDP, 3, false, 3), Buffer.alloc(16)])));
  out.push(ipv6({ src: A6, dst: B6, nextHeader: NH.DEST, rawPayload: true }, Buffer.concat([extHeader(NH.ESP), Buffer.alloc(24)])));
  out.push(ipv6({ src: 'fe80::1', dst: 'ff02::1', nextHeader: 58, hopLimit: 255 }, icmp(135, 0, 0, Buffer.alloc(16))));
  out.push(ipv6({ src: A6, dst: B6, nextHeader: 58 }, echo(129, 3)));
  return out;
}

t.test(`fuzz: ${TOTAL} random and mutated packets`, async (t) => {
  const c0 = loadCases().find((c) => c.file.includes('901')) ?? loadCases()[0]!;
  const state = buildClusterForCase(c0);
  const engine = new CompiledEngine(state);
  state.onChange((ch) => engine.update(ch));
  applyStep(state, c0.steps[0]!);
  const cls = new Classifier(engine.snapshot(), { conntrack: new Conntrack({ capacity: 256, seed: 3, evictScan: 16 }) });
  const info = new PacketInfo();
  const tight = new PacketInfo();
  const base = corpus();
  const work = Buffer.alloc(4096);
  let parsed = 0, rejected = 0, accepted = 0, bad = 0;
  const badNote: string[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const mode = rnd() & 7;
    let len: number;
    let off = rnd() & 63;
    if (mode === 0) {
      // Pure garbage, sometimes with a plausible version nibble.
      len = rnd() % 200;
      for (let k = 0; k < len; k++) work[off + k] = rnd() & 255;
      if (len > 0 && (rnd() & 1)) work[off] = (work[off]! & 0x0f) | ((rnd() & 1) ? 0x40 : 0x60);
    } else {
      const b = base[rnd() % base.length]!;
      b.copy(work, off);
      len = b.length;
      const flips = mode === 1 ? 0 : 1 + (rnd() % 4);
      for (let k = 0; k < flips; k++) work[off + (rnd() % len)] = rnd() & 255;
      if (mode >= 6) len = rnd() % (len + 1); // truncate
      if (mode === 7 && (rnd() & 3) === 0) len += rnd() % 16; // claim more than the packet (trailing junk)
    }
    if ((rnd() & 1023) === 0) off = -1; // caller bugs
    if ((rnd() & 1023) === 0) len = work.length + 5;
    // Sometimes claim the capture is a prefix of a longer packet (NFQUEUE copy range).
    const wire = (rnd() & 7) === 0 ? len + (rnd() % 2000) : len;
    let ok: boolean;
    try {
      ok = parsePacket(work, off, len, info, wire);
      // The same bytes as the whole of a buffer of their own: a read past the packet would now
      // be a read past the buffer, which throws (multi-byte fields are read through a DataView).
      if (off >= 0 && off + len <= work.length) {
        const own = Buffer.from(work.subarray(off, off + len));
        if (parsePacket(own, 0, len, tight, wire) !== ok || tight.invalid !== info.invalid) { bad++; badNote.push(`own buffer parsed differently at ${i}`); }
      }
      const v = cls.classify(work, off, len, i, wire);
      if (v !== ACCEPT && v !== DROP) { bad++; badNote.push(`verdict ${v}`); }
      if (v === ACCEPT) accepted++;
      if (!ok && (v !== DROP || cls.lastReason !== REASON.INVALID)) { bad++; badNote.push(`rejected packet not dropped as invalid at ${i}`); }
    } catch (e) {
      bad++;
      badNote.push(`threw at ${i}: ${(e as Error).message}`);
      continue;
    }
    if (ok) {
      parsed++;
      if (info.invalid !== 0 || (info.family !== 4 && info.family !== 6)) { bad++; badNote.push(`ok with invalid ${info.invalid}`); }
      if (info.srcPort < 0 || info.srcPort > 65535 || info.dstPort < 0 || info.dstPort > 65535) { bad++; badNote.push('port range'); }
      if (info.l4Offset !== -1 && (info.l4Offset < off || info.l4Offset > off + len)) { bad++; badNote.push(`l4Offset ${info.l4Offset} outside [${off}, ${off + len}]`); }
      // Ports and ICMP fields are read from captured bytes only: a header needs 8+ bytes there.
      if (info.l4Offset !== -1 && info.icmpType < 0 && info.dstPort !== 0 && info.l4Offset + 4 > off + len) { bad++; badNote.push('ports read past the capture'); }
      if (info.src4 < 0 || info.src4 > 0xffffffff || info.src6a < 0 || info.src6a > 0xffffffff) { bad++; badNote.push('address range'); }
    } else {
      rejected++;
      if (info.invalid < 1 || info.invalid >= INVALID_COUNT) { bad++; badNote.push(`invalid code ${info.invalid}`); }
    }
    if (badNote.length > 20) break;
  }
  t.same(badNote.slice(0, 20), [], 'no inconsistencies');
  t.equal(bad, 0);
  t.ok(parsed > TOTAL / 20, `parsed ${parsed}`);
  t.ok(rejected > TOTAL / 20, `rejected ${rejected}`);
  t.ok(accepted > 0, `accepted ${accepted}`);
  const sumVerdicts = cls.verdictCounts[0]! + cls.verdictCounts[1]!;
  t.equal(sumVerdicts, TOTAL, 'every packet counted once');
  t.equal(cls.reasonCounts.reduce((a, b) => a + b, 0), TOTAL);
  t.ok(cls.conntrack!.entries <= 256);
});
