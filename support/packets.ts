// Test/bench packet builder: real IPv4/IPv6 packets byte by byte, with correct IPv4 header
// checksums and TCP/UDP/ICMP/ICMPv6 checksums (pseudo header included) when the L4 header
// directly follows the IP header. SCTP's CRC32c is left zero (the parser does not check it).
// Allocates freely: never used on the hot path.

import { parseIP } from '../src/net/address.ts';

export const PROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132, ESP: 50, AH: 51, GRE: 47 } as const;
export const NH = { HOP: 0, ROUTING: 43, FRAGMENT: 44, ESP: 50, AH: 51, NONE: 59, DEST: 60 } as const;
export const TCPF = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

export function words(ip: string): number[] {
  const p = parseIP(ip);
  if (!p) throw new Error(`bad IP ${ip}`);
  return [...p.words];
}
export function v4(ip: string): number {
  const w = words(ip);
  if (w.length !== 1) throw new Error(`not IPv4: ${ip}`);
  return w[0]!;
}
function addrBytes(ip: string): Buffer {
  const w = words(ip);
  const b = Buffer.alloc(w.length * 4);
  w.forEach((x, i) => b.writeUInt32BE(x >>> 0, i * 4));
  return b;
}

function sum16(b: Buffer, acc = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) acc += b.readUInt16BE(i);
  if (b.length & 1) acc += b[b.length - 1]! << 8;
  return acc;
}
function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

/** Offset of the checksum field inside an L4 header, or -1. */
function csumOffset(proto: number): number {
  return proto === PROTO.TCP ? 16 : proto === PROTO.UDP ? 6 : proto === PROTO.ICMP || proto === PROTO.ICMPV6 ? 2 : -1;
}

function fillL4Checksum(l4: Buffer, proto: number, pseudo: Buffer | undefined): void {
  const at = csumOffset(proto);
  if (at < 0 || l4.length < at + 2) return;
  l4.writeUInt16BE(0, at);
  let c = fold(sum16(l4, pseudo ? sum16(pseudo) : 0));
  if (proto === PROTO.UDP && c === 0) c = 0xffff;
  l4.writeUInt16BE(c, at);
}

export interface V4Opts {
  src: string;
  dst: string;
  proto: number;
  ttl?: number;
  id?: number;
  /** More-fragments flag. */
  mf?: boolean;
  df?: boolean;
  /** Fragment offset in 8-octet units. */
  fragOffset?: number;
  /** IP options (padded to 4 bytes). */
  options?: Buffer;
  /** Overrides for hostile packets. */
  version?: number;
  ihlWords?: number;
  totalLength?: number;
  /** Skip the L4 checksum (e.g. payload is not a whole L4 segment). */
  rawPayload?: boolean;
}

export function ipv4(o: V4Opts, payload: Buffer = Buffer.alloc(0)): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const optLen = (opts.length + 3) & ~3;
  const hl = 20 + optLen;
  const h = Buffer.alloc(hl);
  h[0] = ((o.version ?? 4) << 4) | (o.ihlWords ?? hl / 4);
  h.writeUInt16BE(o.totalLength ?? hl + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | (o.fragOffset ?? 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  addrBytes(o.src).copy(h, 12);
  addrBytes(o.dst).copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(fold(sum16(h)), 10);
  const l4 = Buffer.from(payload);
  if (!o.rawPayload && !o.mf && !o.fragOffset && o.proto !== PROTO.ICMP) {
    const pseudo = Buffer.alloc(12);
    addrBytes(o.src).copy(pseudo, 0);
    addrBytes(o.dst).copy(pseudo, 4);
    pseudo[9] = o.proto;
    pseudo.writeUInt16BE(l4.length, 10);
    fillL4Checksum(l4, o.proto, pseudo);
  } else if (!o.rawPayload && o.proto === PROTO.ICMP) {
    fillL4Checksum(l4, o.proto, undefined);
  }
  return Buffer.concat([h, l4]);
}

export interface V6Opts {
  src: string;
  dst: string;
  /** Next header of the fixed header (first extension header or the L4 protocol). */
  nextHeader: number;
  hopLimit?: number;
  version?: number;
  payloadLength?: number;
  /** Upper-layer protocol for the checksum when payload starts with L4 (default: nextHeader). */
  rawPayload?: boolean;
}

export function ipv6(o: V6Opts, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE((((o.version ?? 6) << 28) >>> 0), 0);
  h.writeUInt16BE(o.payloadLength ?? payload.length, 4);
  h[6] = o.nextHeader;
  h[7] = o.hopLimit ?? 64;
  addrBytes(o.src).copy(h, 8);
  addrBytes(o.dst).copy(h, 24);
  const l4 = Buffer.from(payload);
  if (!o.rawPayload) {
    const pseudo = Buffer.alloc(40);
    addrBytes(o.src).copy(pseudo, 0);
    addrBytes(o.dst).copy(pseudo, 16);
    pseudo.writeUInt32BE(l4.length, 32);
    pseudo[39] = o.nextHeader;
    fillL4Checksum(l4, o.nextHeader, pseudo);
  }
  return Buffer.concat([h, l4]);
}

/** An IPv6 options-style extension header (hop-by-hop, routing, destination options) of 8*(units+1) bytes. */
export function extHeader(nextHeader: number, units = 0): Buffer {
  const b = Buffer.alloc((units + 1) * 8);
  b[0] = nextHeader;
  b[1] = units;
  // PadN option filling the rest (type 1, length) so the options area is well formed.
  b[2] = 1;
  b[3] = b.length - 4;
  return b;
}
/** An AH header with `words32` 4-octet words in total (length field = words32 - 2). */
export function ahHeader(nextHeader: number, words32 = 6): Buffer {
  const b = Buffer.alloc(words32 * 4);
  b[0] = nextHeader;
  b[1] = words32 - 2;
  return b;
}
export function fragHeader(nextHeader: number, offsetUnits: number, more: boolean, id: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = nextHeader;
  b.writeUInt16BE(((offsetUnits << 3) | (more ? 1 : 0)) & 0xffff, 2);
  b.writeUInt32BE(id >>> 0, 4);
  return b;
}

export interface TcpOpts {
  sport: number;
  dport: number;
  flags?: number;
  seq?: number;
  ack?: number;
  /** Data offset in 32-bit words (default 5, or more with options). */
  doffWords?: number;
  options?: Buffer;
}
export function tcp(o: TcpOpts, data: Buffer = Buffer.alloc(0)): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const hl = 20 + ((opts.length + 3) & ~3);
  const b = Buffer.alloc(hl);
  b.writeUInt16BE(o.sport, 0);
  b.writeUInt16BE(o.dport, 2);
  b.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  b.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  b[12] = (o.doffWords ?? hl / 4) << 4;
  b[13] = o.flags ?? TCPF.SYN;
  b.writeUInt16BE(64240, 14);
  opts.copy(b, 20);
  return Buffer.concat([b, data]);
}
export function udp(o: { sport: number; dport: number; length?: number }, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(o.sport, 0);
  b.writeUInt16BE(o.dport, 2);
  b.writeUInt16BE(o.length ?? 8 + data.length, 4);
  return Buffer.concat([b, data]);
}
export function sctp(o: { sport: number; dport: number; vtag?: number }, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(o.sport, 0);
  b.writeUInt16BE(o.dport, 2);
  b.writeUInt32BE((o.vtag ?? 0) >>> 0, 4);
  // An INIT chunk header after the common header, as a real association start would carry.
  const chunk = Buffer.alloc(20);
  chunk[0] = 1;
  chunk.writeUInt16BE(20, 2);
  return Buffer.concat([b, data.length ? data : chunk]);
}
/** ICMP/ICMPv6 message: type, code, 4-byte rest (echo: id, seq), then body. */
export function icmp(type: number, code: number, rest: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8);
  b[0] = type;
  b[1] = code;
  b.writeUInt32BE(rest >>> 0, 4);
  return Buffer.concat([b, body]);
}
export function echo(type: number, id: number, seq = 1): Buffer {
  return icmp(type, 0, ((id & 0xffff) << 16) | (seq & 0xffff), Buffer.from('palisade-ping!!!'));
}

// ---- convenience: whole packets for a 5-tuple -------------------------------------------------

export function isV6(ip: string): boolean {
  return words(ip).length === 4;
}

/** L4 segment for a protocol name/number opening a connection (TCP SYN, UDP datagram, SCTP INIT, ICMP echo request). */
export function l4For(proto: number, sport: number, dport: number, six: boolean, tcpFlags: number = TCPF.SYN): Buffer {
  switch (proto) {
    case PROTO.TCP: return tcp({ sport, dport, flags: tcpFlags });
    case PROTO.UDP: return udp({ sport, dport }, Buffer.from('hello'));
    case PROTO.SCTP: return sctp({ sport, dport, vtag: 0 });
    case PROTO.ICMP:
    case PROTO.ICMPV6: return echo(six ? 128 : 8, sport);
    default: return Buffer.from('opaque-payload');
  }
}

/** A whole IP packet src:sport -> dst:dport; family from the addresses. */
export function packet(src: string, dst: string, proto: number, sport: number, dport: number, tcpFlags: number = TCPF.SYN): Buffer {
  const six = isV6(src);
  if (six !== isV6(dst)) throw new Error(`mixed families ${src} ${dst}`);
  let p = proto;
  if (p === PROTO.ICMP && six) p = PROTO.ICMPV6;
  if (p === PROTO.ICMPV6 && !six) p = PROTO.ICMP;
  const l4 = l4For(p, sport, dport, six, tcpFlags);
  return six ? ipv6({ src, dst, nextHeader: p }, l4) : ipv4({ src, dst, proto: p }, l4);
}

/** The reply to packet(src, dst, ...): addresses and ports swapped (TCP SYN+ACK by default, echo reply for ICMP). */
export function replyPacket(src: string, dst: string, proto: number, sport: number, dport: number, tcpFlags: number = TCPF.SYN | TCPF.ACK): Buffer {
  const six = isV6(src);
  if (proto === PROTO.ICMP || proto === PROTO.ICMPV6) {
    const p = six ? PROTO.ICMPV6 : PROTO.ICMP;
    const l4 = echo(six ? 129 : 0, sport);
    return six ? ipv6({ src: dst, dst: src, nextHeader: p }, l4) : ipv4({ src: dst, dst: src, proto: p }, l4);
  }
  return packet(dst, src, proto, dport, sport, tcpFlags);
}

/** An ICMP error (v4 type 3 / v6 type 1 by default) sent by `from` to the sender of `quoted`, quoting it. */
export function icmpErrorFor(quoted: Buffer, from: string, type?: number, code = 3): Buffer {
  const six = (quoted[0]! >> 4) === 6;
  const origSrc = six ? formatWords(quoted, 8, 4) : formatWords(quoted, 12, 1);
  const t = type ?? (six ? 1 : 3);
  const body = quoted.subarray(0, Math.min(quoted.length, six ? 1232 : 28 + 8));
  if (six) return ipv6({ src: from, dst: origSrc, nextHeader: PROTO.ICMPV6 }, icmp(t, code, 0, Buffer.from(body)));
  return ipv4({ src: from, dst: origSrc, proto: PROTO.ICMP }, icmp(t, code, 0, Buffer.from(body)));
}

function formatWords(b: Buffer, at: number, n: number): string {
  if (n === 1) return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(at + 2 * i).toString(16));
  return g.join(':');
}

/** Packs packets into one Buffer; returns it with offsets/lengths (as a NIC ring or NFQUEUE batch would hold them). */
export function pack(pkts: readonly Buffer[]): { buf: Buffer; offs: Int32Array; lens: Int32Array } {
  const total = pkts.reduce((a, p) => a + p.length, 0);
  const buf = Buffer.alloc(total);
  const offs = new Int32Array(pkts.length);
  const lens = new Int32Array(pkts.length);
  let at = 0;
  pkts.forEach((p, i) => {
    p.copy(buf, at);
    offs[i] = at;
    lens[i] = p.length;
    at += p.length;
  });
  return { buf, offs, lens };
}

/** Verifies the IPv4 header checksum (for the builder's own test). */
export function ipv4HeaderChecksumOk(p: Buffer): boolean {
  const hl = (p[0]! & 15) * 4;
  return fold(sum16(p.subarray(0, hl))) === 0;
}
/** Verifies an L4 checksum with the pseudo header (TCP/UDP/ICMPv6 over the whole payload). */
export function l4ChecksumOk(p: Buffer): boolean {
  const six = (p[0]! >> 4) === 6;
  if (six) {
    const pseudo = Buffer.alloc(40);
    p.copy(pseudo, 0, 8, 40);
    const l4 = p.subarray(40);
    pseudo.writeUInt32BE(l4.length, 32);
    pseudo[39] = p[6]!;
    return fold(sum16(l4, sum16(pseudo))) === 0;
  }
  const hl = (p[0]! & 15) * 4;
  const l4 = p.subarray(hl);
  if (p[9] === PROTO.ICMP) return fold(sum16(l4)) === 0;
  const pseudo = Buffer.alloc(12);
  p.copy(pseudo, 0, 12, 20);
  pseudo[9] = p[9]!;
  pseudo.writeUInt16BE(l4.length, 10);
  return fold(sum16(l4, sum16(pseudo))) === 0;
}
