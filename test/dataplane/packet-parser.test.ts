import t, { type Test } from 'tap';
import { parsePacket, MAX_EXT_HEADERS } from '../../src/dataplane/packet-parser.ts';
import { INVALID, INVALID_NAMES, PacketInfo } from '../../src/dataplane/packet-info.ts';
import {
  PROTO, NH, TCPF, ipv4, ipv6, tcp, udp, sctp, icmp, echo, extHeader, ahHeader, fragHeader, packet, replyPacket,
  icmpErrorFor, v4, words, ipv4HeaderChecksumOk, l4ChecksumOk,
} from '../../support/packets.ts';

const A4 = '10.244.1.1', B4 = '10.244.2.2';
const A6 = 'fd00:10:244::11', B6 = 'fd00:10:244::22';

function parse(p: Buffer, off = 0, len = p.length): { ok: boolean; info: PacketInfo } {
  const info = new PacketInfo();
  // Put the packet at an odd offset inside a larger buffer: the parser must honour off/len.
  const big = Buffer.alloc(p.length + 37, 0xee);
  p.copy(big, 13);
  const ok = parsePacket(big, 13 + off, len, info);
  return { ok, info };
}
const seen = new Set<number>();
function invalid(t: Test, p: Buffer, code: number, msg: string, len = p.length): void {
  const r = parse(p, 0, len);
  t.equal(r.ok, false, `${msg}: rejected`);
  seen.add(r.info.invalid);
  t.equal(INVALID_NAMES[r.info.invalid], INVALID_NAMES[code], `${msg}: ${INVALID_NAMES[code]}`);
}

t.test('builder produces valid checksums', async (t) => {
  const p = packet(A4, B4, PROTO.TCP, 40000, 80);
  t.ok(ipv4HeaderChecksumOk(p));
  t.ok(l4ChecksumOk(p));
  t.ok(l4ChecksumOk(packet(A4, B4, PROTO.UDP, 1, 2)));
  t.ok(l4ChecksumOk(packet(A6, B6, PROTO.TCP, 1, 2)));
  t.ok(l4ChecksumOk(packet(A6, B6, PROTO.ICMPV6, 7, 0)));
  t.ok(l4ChecksumOk(packet(A4, B4, PROTO.ICMP, 7, 0)));
});

t.test('IPv4 TCP/UDP/SCTP', async (t) => {
  for (const [proto, name] of [[PROTO.TCP, 'tcp'], [PROTO.UDP, 'udp'], [PROTO.SCTP, 'sctp']] as const) {
    const { ok, info } = parse(packet(A4, B4, proto, 40000, 8080));
    t.ok(ok, name);
    t.equal(info.invalid, 0);
    t.equal(info.family, 4);
    t.equal(info.proto, proto);
    t.equal(info.src4, v4(A4));
    t.equal(info.dst4, v4(B4));
    t.equal(info.srcPort, 40000);
    t.equal(info.dstPort, 8080);
    t.equal(info.hopLimit, 64);
    t.equal(info.fragment, false);
    t.equal(info.laterFragment, false);
    t.equal(info.l4Offset, 13 + 20);
    t.equal(info.icmpType, -1);
  }
  const syn = parse(packet(A4, B4, PROTO.TCP, 1, 2, TCPF.SYN | TCPF.ECE | TCPF.CWR)).info;
  t.equal(syn.tcpFlags, TCPF.SYN | TCPF.ECE | TCPF.CWR, 'ECN flags kept');
});

t.test('IPv4 options (IHL > 5)', async (t) => {
  const opts = Buffer.from([0x94, 0x04, 0, 0, 1, 1, 1, 0]); // router alert + NOPs + EOL
  const p = ipv4({ src: A4, dst: B4, proto: PROTO.UDP, options: opts }, udp({ sport: 5, dport: 53 }));
  const { ok, info } = parse(p);
  t.ok(ok);
  t.equal(info.l4Offset, 13 + 28);
  t.equal(info.dstPort, 53);
});

t.test('IPv4 header errors', async (t) => {
  const good = packet(A4, B4, PROTO.TCP, 1, 80);
  invalid(t, good, INVALID.TRUNCATED_L3, 'shorter than 20', 19);
  invalid(t, Buffer.alloc(0), INVALID.TRUNCATED_L3, 'empty');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 6, version: 5 }, tcp({ sport: 1, dport: 2 })), INVALID.BAD_VERSION, 'version 5');
  invalid(t, Buffer.from([0x00, 1, 2, 3]), INVALID.BAD_VERSION, 'version 0');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 6, ihlWords: 4 }, tcp({ sport: 1, dport: 2 })), INVALID.BAD_IHL, 'IHL 4');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 6, totalLength: 19 }, tcp({ sport: 1, dport: 2 })), INVALID.BAD_TOTAL_LENGTH, 'total < header');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 6, ihlWords: 15, totalLength: 40 }, tcp({ sport: 1, dport: 2 })), INVALID.BAD_TOTAL_LENGTH, 'IHL beyond total length');
  invalid(t, good, INVALID.TRUNCATED_L3, 'total > captured', good.length - 1);
  // Total length shorter than the buffer is fine: trailing bytes (Ethernet padding) are ignored.
  const padded = Buffer.concat([good, Buffer.alloc(6)]);
  t.ok(parse(padded).ok, 'trailing padding ignored');
});

t.test('IPv4 fragments', async (t) => {
  const first = ipv4({ src: A4, dst: B4, proto: PROTO.UDP, mf: true, id: 0xbeef }, udp({ sport: 9, dport: 53, length: 3000 }, Buffer.alloc(16)));
  let r = parse(first);
  t.ok(r.ok, 'first fragment parses');
  t.equal(r.info.fragment, true);
  t.equal(r.info.laterFragment, false);
  t.equal(r.info.fragId, 0xbeef);
  t.equal(r.info.dstPort, 53, 'first fragment has ports');
  const later = ipv4({ src: A4, dst: B4, proto: PROTO.UDP, fragOffset: 3, id: 0xbeef, rawPayload: true }, Buffer.alloc(40, 7));
  r = parse(later);
  t.ok(r.ok, 'later fragment parses');
  t.equal(r.info.laterFragment, true);
  t.equal(r.info.fragId, 0xbeef);
  t.equal(r.info.l4Offset, -1);
  t.equal(r.info.dstPort, 0);
  // RFC 1858 tiny fragment: the first fragment cuts the TCP header.
  invalid(t, ipv4({ src: A4, dst: B4, proto: PROTO.TCP, mf: true, rawPayload: true }, Buffer.alloc(8)), INVALID.BAD_FRAGMENT, 'tiny first fragment');
  // RFC 1858 offset-1 TCP fragment overwriting flags.
  invalid(t, ipv4({ src: A4, dst: B4, proto: PROTO.TCP, fragOffset: 1, rawPayload: true }, Buffer.alloc(24)), INVALID.BAD_FRAGMENT, 'TCP fragment at offset 1');
  // Offset 1 is harmless for UDP.
  t.ok(parse(ipv4({ src: A4, dst: B4, proto: PROTO.UDP, fragOffset: 1, rawPayload: true }, Buffer.alloc(24))).ok);
  // DF alone is not a fragment.
  r = parse(ipv4({ src: A4, dst: B4, proto: PROTO.TCP, df: true }, tcp({ sport: 1, dport: 2 })));
  t.equal(r.info.fragment, false);
});

t.test('TCP header checks', async (t) => {
  invalid(t, ipv4({ src: A4, dst: B4, proto: 6, rawPayload: true }, Buffer.alloc(19)), INVALID.TRUNCATED_L4, 'TCP < 20 bytes');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 6 }, tcp({ sport: 1, dport: 2, doffWords: 4 })), INVALID.BAD_L4_HEADER, 'data offset 4');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 6 }, tcp({ sport: 1, dport: 2, doffWords: 6 })), INVALID.BAD_L4_HEADER, 'data offset past segment');
  t.ok(parse(ipv4({ src: A4, dst: B4, proto: 6 }, tcp({ sport: 1, dport: 2, options: Buffer.from([2, 4, 5, 0xb4]) }))).ok, 'MSS option');
  const bad: [number, string][] = [
    [TCPF.SYN | TCPF.FIN, 'SYN+FIN'], [TCPF.SYN | TCPF.RST, 'SYN+RST'], [0, 'null scan'], [TCPF.FIN, 'FIN without ACK'],
    [TCPF.FIN | TCPF.PSH | TCPF.URG, 'xmas'], [0xff, 'all flags'],
  ];
  for (const [f, name] of bad) invalid(t, packet(A4, B4, 6, 1, 2, f), INVALID.BAD_TCP_FLAGS, name);
  const good = [TCPF.SYN, TCPF.SYN | TCPF.ACK, TCPF.ACK, TCPF.ACK | TCPF.PSH, TCPF.FIN | TCPF.ACK, TCPF.RST, TCPF.RST | TCPF.ACK];
  for (const f of good) t.ok(parse(packet(A4, B4, 6, 1, 2, f)).ok, `flags 0x${f.toString(16)} valid`);
});

t.test('UDP and SCTP header checks', async (t) => {
  invalid(t, ipv4({ src: A4, dst: B4, proto: 17, rawPayload: true }, Buffer.alloc(7)), INVALID.TRUNCATED_L4, 'UDP < 8');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 17 }, udp({ sport: 1, dport: 2, length: 7 })), INVALID.BAD_L4_HEADER, 'UDP length < 8');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 17 }, udp({ sport: 1, dport: 2, length: 100 }, Buffer.alloc(4))), INVALID.BAD_L4_HEADER, 'UDP length > payload');
  invalid(t, ipv4({ src: A4, dst: B4, proto: 132, rawPayload: true }, Buffer.alloc(11)), INVALID.TRUNCATED_L4, 'SCTP < 12');
  t.ok(parse(ipv4({ src: A4, dst: B4, proto: 132 }, sctp({ sport: 7, dport: 9 }))).ok);
  invalid(t, ipv6({ src: A6, dst: B6, nextHeader: 17, rawPayload: true }, Buffer.alloc(5)), INVALID.TRUNCATED_L4, 'v6 UDP < 8');
});

t.test('ICMP echo and other types', async (t) => {
  let r = parse(ipv4({ src: A4, dst: B4, proto: 1 }, echo(8, 0x4242)));
  t.ok(r.ok);
  t.equal(r.info.icmpType, 8);
  t.equal(r.info.icmpCode, 0);
  t.equal(r.info.icmpId, 0x4242);
  t.equal(r.info.srcPort, 0);
  t.equal(r.info.inner, false);
  r = parse(ipv4({ src: A4, dst: B4, proto: 1 }, echo(0, 7)));
  t.equal(r.info.icmpType, 0);
  t.equal(r.info.icmpId, 7);
  r = parse(ipv6({ src: A6, dst: B6, nextHeader: 58 }, echo(128, 9)));
  t.equal(r.info.icmpType, 128);
  t.equal(r.info.icmpId, 9);
  r = parse(ipv6({ src: A6, dst: B6, nextHeader: 58 }, echo(129, 9)));
  t.equal(r.info.icmpId, 9);
  r = parse(ipv4({ src: A4, dst: B4, proto: 1 }, icmp(13, 0, 0x00010002)));
  t.ok(r.ok, 'timestamp');
  t.equal(r.info.icmpId, -1);
  r = parse(ipv6({ src: 'fe80::1', dst: 'ff02::1', nextHeader: 58, hopLimit: 255 }, icmp(135, 0, 0, Buffer.alloc(16))));
  t.ok(r.ok, 'neighbour solicitation');
  t.equal(r.info.icmpType, 135);
  t.equal(r.info.hopLimit, 255);
  invalid(t, ipv4({ src: A4, dst: B4, proto: 1, rawPayload: true }, Buffer.alloc(7)), INVALID.TRUNCATED_L4, 'ICMP < 8');
  // ICMPv6 in IPv4 (and ICMPv4 in IPv6) is just a port-less protocol.
  r = parse(ipv4({ src: A4, dst: B4, proto: 58, rawPayload: true }, Buffer.alloc(3)));
  t.ok(r.ok);
  t.equal(r.info.icmpType, -1);
  r = parse(ipv6({ src: A6, dst: B6, nextHeader: 1, rawPayload: true }, Buffer.alloc(3)));
  t.ok(r.ok);
  t.equal(r.info.icmpType, -1);
});

t.test('ICMPv4 errors quote the inner packet', async (t) => {
  const orig = packet(A4, B4, PROTO.TCP, 40001, 443);
  for (const type of [3, 4, 5, 11, 12]) {
    const { ok, info } = parse(icmpErrorFor(orig, '10.0.0.254', type, 1));
    t.ok(ok, `type ${type}`);
    t.equal(info.inner, true);
    t.equal(info.icmpType, type);
    t.equal(info.dst4, v4(A4), 'sent to the original sender');
    t.equal(info.innerProto, PROTO.TCP);
    t.equal(info.innerSrc4, v4(A4));
    t.equal(info.innerDst4, v4(B4));
    t.equal(info.innerSrcPort, 40001);
    t.equal(info.innerDstPort, 443);
  }
  const ping = ipv4({ src: A4, dst: B4, proto: 1 }, echo(8, 321));
  const { info } = parse(icmpErrorFor(ping, B4, 3, 3));
  t.equal(info.innerProto, 1);
  t.equal(info.innerIcmpType, 8);
  t.equal(info.innerIcmpId, 321);
  // Inner with IP options.
  const withOpts = ipv4({ src: A4, dst: B4, proto: PROTO.UDP, options: Buffer.from([1, 1, 1, 0]) }, udp({ sport: 3, dport: 4 }));
  const r2 = parse(ipv4({ src: B4, dst: A4, proto: 1 }, icmp(3, 3, 0, withOpts.subarray(0, 24 + 8))));
  t.ok(r2.ok);
  t.equal(r2.info.innerDstPort, 4);
  // Broken quotes.
  invalid(t, ipv4({ src: B4, dst: A4, proto: 1 }, icmp(3, 3, 0, orig.subarray(0, 27))), INVALID.BAD_ICMP_INNER, 'quote shorter than header+8');
  invalid(t, ipv4({ src: B4, dst: A4, proto: 1 }, icmp(3, 3, 0, Buffer.alloc(8))), INVALID.BAD_ICMP_INNER, 'quote too short');
  const v6inside = Buffer.from(orig.subarray(0, 28));
  v6inside[0] = 0x65;
  invalid(t, ipv4({ src: B4, dst: A4, proto: 1 }, icmp(3, 3, 0, v6inside)), INVALID.BAD_ICMP_INNER, 'quoted version 6 in ICMPv4');
  const badIhl = Buffer.from(orig.subarray(0, 28));
  badIhl[0] = 0x43;
  invalid(t, ipv4({ src: B4, dst: A4, proto: 1 }, icmp(3, 3, 0, badIhl)), INVALID.BAD_ICMP_INNER, 'quoted IHL 3');
  // An error about an error.
  const err = icmpErrorFor(orig, B4);
  invalid(t, icmpErrorFor(err, '10.0.0.9'), INVALID.BAD_ICMP_INNER, 'error quoting an error');
  // A fragmented error.
  invalid(t, ipv4({ src: B4, dst: A4, proto: 1, mf: true }, icmp(3, 3, 0, orig.subarray(0, 28))), INVALID.BAD_FRAGMENT, 'fragmented ICMP error');
  // Inner later fragment: no ports.
  const innerFrag = ipv4({ src: A4, dst: B4, proto: PROTO.UDP, fragOffset: 100, rawPayload: true }, Buffer.alloc(8));
  const r3 = parse(icmpErrorFor(innerFrag, B4));
  t.ok(r3.ok);
  t.equal(r3.info.innerSrcPort, 0);
  t.equal(r3.info.innerDstPort, 0);
});

t.test('ICMPv6 errors quote the inner packet', async (t) => {
  const orig = packet(A6, B6, PROTO.UDP, 5353, 53);
  for (const type of [1, 2, 3, 4]) {
    const { ok, info } = parse(icmpErrorFor(orig, 'fd00::fe', type, 0));
    t.ok(ok, `type ${type}`);
    t.equal(info.inner, true);
    t.equal(info.innerProto, PROTO.UDP);
    t.same([info.innerSrc6a, info.innerSrc6b, info.innerSrc6c, info.innerSrc6d], words(A6));
    t.same([info.innerDst6a, info.innerDst6b, info.innerDst6c, info.innerDst6d], words(B6));
    t.equal(info.innerSrcPort, 5353);
    t.equal(info.innerDstPort, 53);
  }
  // Inner with an extension header chain.
  const chained = ipv6({ src: A6, dst: B6, nextHeader: NH.DEST, rawPayload: true }, Buffer.concat([extHeader(PROTO.TCP), tcp({ sport: 7, dport: 8 })]));
  const r = parse(icmpErrorFor(chained, B6));
  t.ok(r.ok);
  t.equal(r.info.innerProto, PROTO.TCP);
  t.equal(r.info.innerDstPort, 8);
  const ping = ipv6({ src: A6, dst: B6, nextHeader: 58 }, echo(128, 77));
  const rp = parse(icmpErrorFor(ping, B6));
  t.equal(rp.info.innerIcmpType, 128);
  t.equal(rp.info.innerIcmpId, 77);
  invalid(t, ipv6({ src: B6, dst: A6, nextHeader: 58 }, icmp(1, 0, 0, orig.subarray(0, 39))), INVALID.BAD_ICMP_INNER, 'quote < 40');
  invalid(t, ipv6({ src: B6, dst: A6, nextHeader: 58 }, icmp(1, 0, 0, orig.subarray(0, 44))), INVALID.BAD_ICMP_INNER, 'quote without 8 L4 bytes');
  invalid(t, icmpErrorFor(icmpErrorFor(orig, B6), 'fd00::9'), INVALID.BAD_ICMP_INNER, 'error quoting an error');
  const cutChain = ipv6({ src: A6, dst: B6, nextHeader: NH.DEST, rawPayload: true }, extHeader(PROTO.TCP, 4));
  invalid(t, ipv6({ src: B6, dst: A6, nextHeader: 58 }, icmp(1, 0, 0, cutChain.subarray(0, 56))), INVALID.BAD_ICMP_INNER, 'quoted chain cut');
  const v4inside = Buffer.from(orig);
  v4inside[0] = 0x45;
  invalid(t, ipv6({ src: B6, dst: A6, nextHeader: 58 }, icmp(1, 0, 0, v4inside)), INVALID.BAD_ICMP_INNER, 'quoted version 4 in ICMPv6');
});

t.test('IPv6 fixed header', async (t) => {
  const p = packet(A6, B6, PROTO.TCP, 33000, 8443);
  const { ok, info } = parse(p);
  t.ok(ok);
  t.equal(info.family, 6);
  t.same([info.src6a, info.src6b, info.src6c, info.src6d], words(A6));
  t.same([info.dst6a, info.dst6b, info.dst6c, info.dst6d], words(B6));
  t.equal(info.dstPort, 8443);
  t.equal(info.l4Offset, 13 + 40);
  invalid(t, p, INVALID.TRUNCATED_L3, 'shorter than 40', 39);
  invalid(t, p, INVALID.TRUNCATED_L3, 'payload length past capture', p.length - 1);
  invalid(t, ipv6({ src: A6, dst: B6, nextHeader: 6, version: 7 }, tcp({ sport: 1, dport: 2 })), INVALID.BAD_VERSION, 'version 7');
  // Payload length 0 (no jumbogram support): the TCP header is outside the payload.
  invalid(t, ipv6({ src: A6, dst: B6, nextHeader: 6, payloadLength: 0 }, tcp({ sport: 1, dport: 2 })), INVALID.TRUNCATED_L4, 'payload 0');
  const none = parse(ipv6({ src: A6, dst: B6, nextHeader: NH.NONE }));
  t.ok(none.ok, 'no next header');
  t.equal(none.info.proto, 59);
});

t.test('IPv6 extension header chain', async (t) => {
  const l4 = udp({ sport: 1000, dport: 53 });
  const chain = (first: number, ...hs: Buffer[]) => ipv6({ src: A6, dst: B6, nextHeader: first, rawPayload: true }, Buffer.concat(hs));
  let r = parse(chain(NH.HOP, extHeader(NH.ROUTING), extHeader(NH.DEST, 1), extHeader(NH.AH), ahHeader(PROTO.UDP, 6), l4));
  t.ok(r.ok, 'hop-by-hop, routing, dest opts, AH');
  t.equal(r.info.proto, PROTO.UDP);
  t.equal(r.info.dstPort, 53);
  t.equal(r.info.l4Offset, 13 + 40 + 8 + 16 + 8 + 24);
  r = parse(chain(NH.DEST, extHeader(NH.ESP), Buffer.alloc(16, 0xab)));
  t.ok(r.ok, 'ESP stops the walk');
  t.equal(r.info.proto, 50);
  t.equal(r.info.dstPort, 0);
  r = parse(chain(NH.DEST, extHeader(NH.NONE)));
  t.ok(r.ok);
  t.equal(r.info.proto, 59);
  r = parse(chain(NH.DEST, extHeader(135), Buffer.alloc(8)));
  t.ok(r.ok, 'unknown header: stop');
  t.equal(r.info.proto, 135);
  // Atomic fragment: offset 0, M 0 is a whole datagram.
  r = parse(chain(NH.FRAGMENT, fragHeader(PROTO.UDP, 0, false, 5), l4));
  t.ok(r.ok);
  t.equal(r.info.fragment, false);
  t.equal(r.info.dstPort, 53);
  // First fragment.
  r = parse(chain(NH.FRAGMENT, fragHeader(PROTO.UDP, 0, true, 0xcafe0001), l4));
  t.ok(r.ok);
  t.equal(r.info.fragment, true);
  t.equal(r.info.laterFragment, false);
  t.equal(r.info.fragId, 0xcafe0001);
  t.equal(r.info.dstPort, 53);
  // Later fragment.
  r = parse(chain(NH.FRAGMENT, fragHeader(PROTO.UDP, 10, true, 0xcafe0001), Buffer.alloc(16)));
  t.ok(r.ok);
  t.equal(r.info.laterFragment, true);
  t.equal(r.info.proto, PROTO.UDP);
  t.equal(r.info.fragId, 0xcafe0001);
  // Errors.
  invalid(t, chain(NH.DEST, extHeader(NH.HOP), l4), INVALID.BAD_EXT_CHAIN, 'hop-by-hop not first');
  invalid(t, chain(NH.DEST, Buffer.from([17])), INVALID.BAD_EXT_CHAIN, 'header shorter than 2');
  invalid(t, chain(NH.ROUTING, extHeader(PROTO.UDP, 3).subarray(0, 16)), INVALID.BAD_EXT_CHAIN, 'length past payload');
  invalid(t, chain(NH.AH, ahHeader(PROTO.UDP, 6).subarray(0, 12)), INVALID.BAD_EXT_CHAIN, 'AH past payload');
  invalid(t, chain(NH.FRAGMENT, fragHeader(PROTO.UDP, 0, true, 1).subarray(0, 6)), INVALID.BAD_EXT_CHAIN, 'fragment header cut');
  // RFC 7112: a first fragment whose chain is cut.
  invalid(t, chain(NH.FRAGMENT, fragHeader(NH.DEST, 0, true, 1), extHeader(PROTO.UDP, 2).subarray(0, 8)), INVALID.BAD_FRAGMENT, 'chain cut in first fragment');
  invalid(t, chain(NH.FRAGMENT, fragHeader(PROTO.TCP, 0, true, 1), Buffer.alloc(10)), INVALID.BAD_FRAGMENT, 'L4 cut in first fragment');
  // Chain length limit.
  const many: Buffer[] = [];
  for (let i = 0; i < MAX_EXT_HEADERS; i++) many.push(extHeader(NH.DEST));
  many.push(extHeader(PROTO.UDP), l4);
  invalid(t, chain(NH.DEST, ...many), INVALID.EXT_CHAIN_TOO_LONG, '17 headers');
  const ok16: Buffer[] = [];
  for (let i = 0; i < MAX_EXT_HEADERS - 1; i++) ok16.push(extHeader(NH.DEST));
  ok16.push(extHeader(PROTO.UDP), l4);
  t.ok(parse(chain(NH.DEST, ...ok16)).ok, '16 headers accepted');
});

t.test('short captures (NFQUEUE copy range) with the wire length', async (t) => {
  const info = new PacketInfo();
  const big4 = ipv4({ src: A4, dst: B4, proto: PROTO.TCP }, tcp({ sport: 1, dport: 443 }, Buffer.alloc(1400, 1)));
  t.equal(parsePacket(big4, 0, 60, info), false, 'without wireLen a short capture is truncated');
  t.equal(info.invalid, INVALID.TRUNCATED_L3);
  t.ok(parsePacket(big4, 0, 60, info, big4.length), 'headers inside the capture: parsed');
  t.equal(info.dstPort, 443);
  t.equal(info.l4Length, big4.length - 20, 'l4Length is the wire length');
  t.equal(parsePacket(big4, 0, 30, info, big4.length), false);
  t.equal(info.invalid, INVALID.TRUNCATED_L4, 'TCP header cut by the capture');
  t.equal(parsePacket(big4, 0, 60, info, big4.length - 1), false);
  t.equal(info.invalid, INVALID.TRUNCATED_L3, 'total length beyond the wire length');
  t.equal(parsePacket(big4, 0, 60, info, 59), false);
  t.equal(info.invalid, INVALID.BAD_BUFFER, 'wireLen < len');
  const opts = ipv4({ src: A4, dst: B4, proto: PROTO.UDP, options: Buffer.alloc(20, 1) }, udp({ sport: 1, dport: 2 }, Buffer.alloc(100)));
  t.equal(parsePacket(opts, 0, 30, info, opts.length), false);
  t.equal(info.invalid, INVALID.TRUNCATED_L3, 'IP options cut by the capture');
  const big6 = ipv6({ src: A6, dst: B6, nextHeader: NH.DEST, rawPayload: true }, Buffer.concat([extHeader(PROTO.UDP, 6), udp({ sport: 5, dport: 53 }, Buffer.alloc(900))]));
  t.ok(parsePacket(big6, 0, 40 + 56 + 8, info, big6.length), 'v6 chain and UDP header inside the capture');
  t.equal(info.dstPort, 53);
  t.equal(parsePacket(big6, 0, 60, info, big6.length), false);
  t.equal(info.invalid, INVALID.TRUNCATED_L3, 'v6 chain cut by the capture');
  const quote = packet(A4, B4, PROTO.UDP, 7, 8);
  const err = icmpErrorFor(Buffer.concat([quote, Buffer.alloc(0)]), B4);
  t.ok(parsePacket(err, 0, 20 + 8 + 28, info, err.length), 'ICMP error: quote inside the capture');
  t.equal(info.innerDstPort, 8);
  t.equal(parsePacket(err, 0, 20 + 8 + 24, info, err.length), false);
  t.equal(info.invalid, INVALID.BAD_ICMP_INNER, 'quote cut by the capture');
});

t.test('caller bounds and garbage never throw', async (t) => {
  const info = new PacketInfo();
  const p = packet(A4, B4, PROTO.TCP, 1, 2);
  t.equal(parsePacket(p, -1, 10, info), false);
  t.equal(info.invalid, INVALID.BAD_BUFFER);
  seen.add(info.invalid);
  t.equal(parsePacket(p, 0, p.length + 1, info), false);
  t.equal(info.invalid, INVALID.BAD_BUFFER);
  t.equal(parsePacket(p, 1.5, 10, info), false);
  t.equal(parsePacket(p, NaN, 10, info), false);
  t.equal(parsePacket(p, 0, NaN, info), false);
  t.equal(parsePacket(p, p.length, 0, info), false);
  t.equal(info.invalid, INVALID.TRUNCATED_L3);
  for (let n = 0; n < p.length; n++) {
    t.doesNotThrow(() => parsePacket(p, 0, n, info));
  }
  t.ok(parsePacket(p, 0, p.length, info));
});

t.test('every INVALID code is produced by some test input', async (t) => {
  t.same(Object.values(INVALID).sort((a, b) => a - b), INVALID_NAMES.map((_, i) => i), 'names cover codes');
  // Every non-zero code was returned by one of the tests above: a new code needs a test.
  for (let code = 1; code < INVALID_NAMES.length; code++) t.ok(seen.has(code), `${INVALID_NAMES[code]} exercised`);
});

t.test('reply packets parse symmetric to their request', async (t) => {
  const q = parse(packet(A4, B4, PROTO.UDP, 1111, 53)).info;
  const a = parse(replyPacket(A4, B4, PROTO.UDP, 1111, 53)).info;
  t.equal(a.src4, q.dst4);
  t.equal(a.srcPort, q.dstPort);
  t.equal(a.dstPort, q.srcPort);
});
