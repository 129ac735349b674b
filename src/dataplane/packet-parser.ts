// Per-packet header parser. Reads IPv4/IPv6 + TCP/UDP/SCTP/ICMP headers from one shared Buffer at
// an offset into a reusable PacketInfo. It allocates nothing per packet (bytes are read with index
// access and wider fields through one view of the buffer, never subarray) and never throws: every
// length is checked before it is read, and anything truncated, inconsistent or hostile returns
// false with out.invalid set to an INVALID code, so the classifier drops it (fail closed).
//
// Checksums are not verified: the kernel has already validated or will validate them (NFQUEUE
// hands us packets from the netfilter hooks, after ip_rcv's header checks), and a bad L4 checksum
// only makes the endpoint discard the packet, which cannot open anything.

import { INVALID, PacketInfo } from './packet-info.ts';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ip-protocols.ts';
import { checkMirrors } from '../net/mirrored-constants.ts';

// The numbers the per-packet code compares with are a const enum, which the compiler writes as
// numbers: the optimized code would otherwise load each module-level (or imported) const from
// its module cell and check it on every use (see policy/table-arena.ts). Members mirroring
// another module's constants are checked against them when this module loads.
const enum K {
  /** IPv6 next-header values that are extension headers we walk through. */
  NH_HOP_BY_HOP = 0,
  NH_ROUTING = 43,
  NH_FRAGMENT = 44,
  NH_AH = 51,
  NH_DEST_OPTS = 60,
  // IP protocol numbers (net/ip-protocols.ts).
  P_ICMP = 1,
  P_TCP = 6,
  P_UDP = 17,
  P_ICMPV6 = 58,
  P_SCTP = 132,
  /** See MAX_EXT_HEADERS. */
  MAX_EXT_HEADERS = 16,
  /** Flags tcp_valid_flags ignores: ECE 0x40, CWR 0x80, PSH 0x08. */
  TCP_FLAGS_IGNORED = 0x40 | 0x80 | 0x08,
}
// INVALID codes (packet-info.ts).
const enum E {
  TRUNCATED_L3 = 1,
  BAD_VERSION = 2,
  BAD_IHL = 3,
  BAD_TOTAL_LENGTH = 4,
  TRUNCATED_L4 = 5,
  BAD_EXT_CHAIN = 6,
  EXT_CHAIN_TOO_LONG = 7,
  BAD_L4_HEADER = 8,
  BAD_ICMP_INNER = 9,
  BAD_TCP_FLAGS = 10,
  BAD_FRAGMENT = 11,
  BAD_BUFFER = 12,
}
checkMirrors('packet-parser.ts', [
  [K.P_ICMP, IPPROTO_ICMP, 'IPPROTO_ICMP'], [K.P_TCP, IPPROTO_TCP, 'IPPROTO_TCP'], [K.P_UDP, IPPROTO_UDP, 'IPPROTO_UDP'],
  [K.P_ICMPV6, IPPROTO_ICMPV6, 'IPPROTO_ICMPV6'], [K.P_SCTP, IPPROTO_SCTP, 'IPPROTO_SCTP'],
  [E.TRUNCATED_L3, INVALID.TRUNCATED_L3, 'INVALID.TRUNCATED_L3'], [E.BAD_VERSION, INVALID.BAD_VERSION, 'INVALID.BAD_VERSION'],
  [E.BAD_IHL, INVALID.BAD_IHL, 'INVALID.BAD_IHL'], [E.BAD_TOTAL_LENGTH, INVALID.BAD_TOTAL_LENGTH, 'INVALID.BAD_TOTAL_LENGTH'],
  [E.TRUNCATED_L4, INVALID.TRUNCATED_L4, 'INVALID.TRUNCATED_L4'], [E.BAD_EXT_CHAIN, INVALID.BAD_EXT_CHAIN, 'INVALID.BAD_EXT_CHAIN'],
  [E.EXT_CHAIN_TOO_LONG, INVALID.EXT_CHAIN_TOO_LONG, 'INVALID.EXT_CHAIN_TOO_LONG'], [E.BAD_L4_HEADER, INVALID.BAD_L4_HEADER, 'INVALID.BAD_L4_HEADER'],
  [E.BAD_ICMP_INNER, INVALID.BAD_ICMP_INNER, 'INVALID.BAD_ICMP_INNER'], [E.BAD_TCP_FLAGS, INVALID.BAD_TCP_FLAGS, 'INVALID.BAD_TCP_FLAGS'],
  [E.BAD_FRAGMENT, INVALID.BAD_FRAGMENT, 'INVALID.BAD_FRAGMENT'], [E.BAD_BUFFER, INVALID.BAD_BUFFER, 'INVALID.BAD_BUFFER'],
]);

/**
 * Longest IPv6 extension-header chain we accept. RFC 8200 4.1 recommends each header appear at
 * most once (destination options twice); real stacks send 0-3. Long chains are a known way to
 * push the L4 header out of reach of filters (RFC 7112), so we refuse them.
 */
export const MAX_EXT_HEADERS: number = K.MAX_EXT_HEADERS;

// Scratch results of walkIPv6Chain (module-level so the walk returns several values without
// allocating an object). Single-threaded: each walk's results are read before the next walk.
let walkProto = 0;
let walkPos = 0;
let walkInvalid = 0;
let walkLaterFragment = false;
let walkFragment = false;
let walkFragId = 0;

// Multi-byte fields are read through a DataView of the buffer being parsed: one bounds-checked
// big-endian load per field where byte access takes two or four loads and the shifts between them
// (parse-only 7-9 % faster than byte reads: docs/speed-history.md, "Parser reads"). Every
// offset is checked against the lengths before it is read, as for byte access, so a DataView read
// never throws. The enforcers judge out of one receive buffer per queue, so views are kept for the
// last few buffers met: a view is made once per buffer, never once per packet or per batch.
const VIEWS = 8;
const viewBufs: (Buffer | undefined)[] = new Array<Buffer | undefined>(VIEWS).fill(undefined);
const views: DataView<ArrayBufferLike>[] = Array.from({ length: VIEWS }, () => new DataView(new ArrayBuffer(0)));
let viewNext = 0;
let viewOf: Buffer | undefined;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function useView(buf: Buffer): void {
  if (buf !== viewOf) switchView(buf);
}
function switchView(buf: Buffer): void {
  let i = viewBufs.indexOf(buf);
  if (i < 0) {
    i = viewNext;
    viewNext = (viewNext + 1) % VIEWS;
    viewBufs[i] = buf;
    views[i] = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  view = views[i]!;
  viewOf = buf;
}
function u16(o: number): number {
  return view.getUint16(o);
}
function u32(o: number): number {
  return view.getUint32(o);
}

/**
 * Linux conntrack's tcp_valid_flags table (nf_conntrack_proto_tcp.c): after ignoring ECE, CWR and
 * PSH, only these combinations are legal; everything else (SYN+FIN, SYN+RST, FIN without ACK,
 * no flags at all, ...) is a scan or an evasion attempt and is marked invalid.
 */
const VALID_TCP_FLAGS = new Uint8Array(256);
{
  const FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10, URG = 0x20;
  for (const f of [SYN, SYN | URG, SYN | ACK, RST, RST | ACK, FIN | ACK, FIN | ACK | URG, ACK, ACK | URG]) {
    VALID_TCP_FLAGS[f] = 1;
  }
}

/** ICMPv4 types that quote the offending datagram (RFC 792): unreachable, source quench, redirect, time exceeded, parameter problem. */
function isIcmp4Error(t: number): boolean {
  return t === 3 || t === 4 || t === 5 || t === 11 || t === 12;
}
/** ICMPv6 error messages (RFC 4443 2.1: types 0-127 are errors; 1-4 are defined). */
function isIcmp6Error(t: number): boolean {
  return t >= 1 && t <= 4;
}

/**
 * Walks the IPv6 extension-header chain starting with next-header `nh` at `pos` up to `end`.
 * Sets walkProto (the upper-layer protocol, No Next Header 59, ESP 50 or an unknown value), walkPos (its
 * offset), walkInvalid, and the fragment fields.
 */
function walkIPv6Chain(b: Buffer, nh: number, pos: number, end: number): void {
  walkInvalid = 0;
  walkLaterFragment = false;
  walkFragment = false;
  walkFragId = 0;
  let count = 0;
  for (;;) {
    switch (nh) {
      case K.NH_HOP_BY_HOP:
      case K.NH_ROUTING:
      case K.NH_DEST_OPTS:
      case K.NH_AH: {
        // "The Hop-by-Hop Options header, when present, must immediately follow the IPv6
        // header" (RFC 8200 4.3); Linux answers any later one with a parameter problem.
        if (nh === K.NH_HOP_BY_HOP && count !== 0) {
          walkInvalid = E.BAD_EXT_CHAIN;
          return;
        }
        if (pos + 2 > end) {
          walkInvalid = E.BAD_EXT_CHAIN;
          return;
        }
        // Length: 8-octet units not counting the first 8 (RFC 8200 4.3-4.6); AH counts 4-octet
        // units minus 2 (RFC 4302 2.2).
        const hl = nh === K.NH_AH ? (b[pos + 1]! + 2) << 2 : (b[pos + 1]! + 1) << 3;
        if (pos + hl > end) {
          walkInvalid = E.BAD_EXT_CHAIN;
          return;
        }
        nh = b[pos]!;
        pos += hl;
        break;
      }
      case K.NH_FRAGMENT: {
        if (pos + 8 > end) {
          walkInvalid = E.BAD_EXT_CHAIN;
          return;
        }
        const offFlags = u16(pos + 2);
        const fragOff = offFlags >>> 3;
        const more = (offFlags & 1) !== 0;
        // An "atomic fragment" (offset 0, M clear, RFC 6946) is a whole datagram.
        if (fragOff !== 0 || more) {
          walkFragment = true;
          walkFragId = u32(pos + 4);
        }
        nh = b[pos]!;
        pos += 8;
        if (fragOff !== 0) {
          walkLaterFragment = true;
          walkProto = nh;
          walkPos = pos;
          return;
        }
        break;
      }
      default:
        // Upper layer (TCP/UDP/SCTP/ICMPv6), No Next Header, ESP (encrypted: nothing further is
        // readable) or a protocol we do not know: the chain ends here.
        walkProto = nh;
        walkPos = pos;
        return;
    }
    if (++count > K.MAX_EXT_HEADERS) {
      walkInvalid = E.EXT_CHAIN_TOO_LONG;
      return;
    }
  }
}

function fail(out: PacketInfo, code: number): boolean {
  out.invalid = code;
  return false;
}

/**
 * Parses the IP packet at buf[off, off+len). Returns true when the packet is understood well
 * enough to judge (out.invalid = 0); false with out.invalid set otherwise. Never throws.
 *
 * `wireLen` is the packet's real length when only its first `len` bytes were captured (an
 * NFQUEUE copy range shorter than the packet: NFQA_CAP_LEN). Length fields are then checked
 * against wireLen, and the headers we judge on must still lie within the captured bytes.
 */
export function parsePacket(buf: Buffer, off: number, len: number, out: PacketInfo, wireLen: number = len): boolean {
  out.family = 0;
  out.invalid = 0;
  out.proto = 0;
  out.hopLimit = 0;
  out.fragment = false;
  out.laterFragment = false;
  out.fragId = 0;
  out.l4Offset = -1;
  out.l4Length = 0;
  out.srcPort = 0;
  out.dstPort = 0;
  out.tcpFlags = 0;
  out.icmpType = -1;
  out.icmpCode = -1;
  out.icmpId = -1;
  out.inner = false;
  // Caller-supplied bounds are checked like packet bytes: a wrong offset must not read outside
  // the buffer (index access past the end yields undefined, which would poison the arithmetic).
  // The length is taken `| 0`: V8 holds a typed array's length as a machine word and, compared
  // with small integers, would convert it to a double and check it back into an int32 on every
  // packet; the truncation is one instruction. It never exceeds the real length (a length of
  // 2 GiB or more turns negative or smaller), so at worst huge buffers are refused, never overread.
  if (!(off >= 0 && len >= 0 && off + len <= (buf.length | 0)) || (off | 0) !== off || (len | 0) !== len ||
      !(wireLen >= len) || (wireLen | 0) !== wireLen) {
    return fail(out, E.BAD_BUFFER);
  }
  if (len < 1) return fail(out, E.TRUNCATED_L3);
  useView(buf);
  const version = buf[off]! >>> 4;
  if (version === 4) return parse4(buf, off, len, wireLen, out);
  if (version === 6) return parse6(buf, off, len, wireLen, out);
  return fail(out, E.BAD_VERSION);
}

function parse4(b: Buffer, off: number, len: number, wireLen: number, out: PacketInfo): boolean {
  if (len < 20) return fail(out, E.TRUNCATED_L3);
  out.family = 4;
  const ihl = (b[off]! & 0x0f) << 2;
  if (ihl < 20) return fail(out, E.BAD_IHL);
  const total = u16(off + 2);
  // RFC 791: total length counts header and data; it can be neither shorter than the header nor
  // longer than the bytes we were handed (a truncated capture cannot be judged safely).
  if (total < ihl) return fail(out, E.BAD_TOTAL_LENGTH);
  if (total > wireLen || ihl > len) return fail(out, E.TRUNCATED_L3);
  out.hopLimit = b[off + 8]!;
  const proto = b[off + 9]!;
  out.proto = proto;
  out.src4 = u32(off + 12);
  out.dst4 = u32(off + 16);
  const fragField = u16(off + 6);
  const fragOff = fragField & 0x1fff;
  const more = (fragField & 0x2000) !== 0;
  if (fragOff !== 0 || more) {
    out.fragment = true;
    out.fragId = u16(off + 4);
  }
  if (fragOff !== 0) {
    // RFC 1858 3.2: a TCP fragment at offset 1 (8 bytes) can overwrite the flags of the first
    // fragment on reassembly; "no legitimate implementation" sends it.
    if (fragOff === 1 && proto === K.P_TCP) return fail(out, E.BAD_FRAGMENT);
    out.laterFragment = true;
    return true;
  }
  const l4 = off + ihl;
  const l4len = total - ihl;
  return parseL4(b, l4, l4len, off + len, proto, more, out, false);
}

function parse6(b: Buffer, off: number, len: number, wireLen: number, out: PacketInfo): boolean {
  if (len < 40) return fail(out, E.TRUNCATED_L3);
  out.family = 6;
  const payload = u16(off + 4);
  // A payload length of 0 means a jumbogram (RFC 2675) only with a hop-by-hop jumbo option; those
  // need links with MTU > 64 KiB, which pod networks are not. We take 0 at face value: an
  // empty payload, so any header that follows is reported as truncated.
  if (40 + payload > wireLen) return fail(out, E.TRUNCATED_L3);
  out.hopLimit = b[off + 7]!;
  out.src6a = u32(off + 8);
  out.src6b = u32(off + 12);
  out.src6c = u32(off + 16);
  out.src6d = u32(off + 20);
  out.dst6a = u32(off + 24);
  out.dst6b = u32(off + 28);
  out.dst6c = u32(off + 32);
  out.dst6d = u32(off + 36);
  const end = off + 40 + payload;
  const nh = b[off + 6]!;
  if (nh === K.P_TCP || nh === K.P_UDP || nh === K.P_SCTP || nh === K.P_ICMPV6) {
    // The common case: no extension headers.
    out.proto = nh;
    return parseL4(b, off + 40, payload, off + len, nh, false, out, true);
  }
  // Walk only what we hold; a chain running past a short capture cannot be judged.
  const capEnd = off + len;
  walkIPv6Chain(b, nh, off + 40, end < capEnd ? end : capEnd);
  if (walkInvalid === E.BAD_EXT_CHAIN && capEnd < end) return fail(out, E.TRUNCATED_L3);
  if (walkInvalid !== 0) {
    // RFC 7112: the first fragment must hold the whole chain; a cut-off chain in a fragment is
    // the evasion that RFC describes.
    return fail(out, walkFragment && walkInvalid === E.BAD_EXT_CHAIN ? E.BAD_FRAGMENT : walkInvalid);
  }
  out.proto = walkProto;
  out.fragment = walkFragment;
  out.fragId = walkFragId;
  if (walkLaterFragment) {
    out.laterFragment = true;
    return true;
  }
  return parseL4(b, walkPos, end - walkPos, capEnd, walkProto, walkFragment, out, true);
}

/**
 * Parses the L4 header of a first (or only) fragment: l4len bytes per the IP header, of which
 * the bytes before capEnd are held. `fragmented` means the datagram continues in later
 * fragments, so L4 length fields may exceed what we hold.
 */
function parseL4(b: Buffer, l4: number, l4len: number, capEnd: number, proto: number, fragmented: boolean, out: PacketInfo, v6: boolean): boolean {
  // The fixed header every port-carrying protocol needs: TCP 20 bytes (RFC 9293 3.1), UDP 8
  // (RFC 768), SCTP's common header 12 (RFC 9260 3.1: ports, verification tag, checksum). One
  // path for the three keeps the function under V8's inlining limit.
  let min: number;
  if (proto === K.P_TCP) min = 20;
  else if (proto === K.P_UDP) min = 8;
  else if (proto === K.P_SCTP) min = 12;
  else if (proto === K.P_ICMP || proto === K.P_ICMPV6) {
    // ICMP in the wrong family (ICMPv4 inside IPv6 or ICMPv6 inside IPv4) is judged like any
    // other port-less protocol: it is nothing the stack would answer.
    if ((proto === K.P_ICMP) === v6) return true;
    return parseIcmp(b, l4, l4len, capEnd, fragmented, out, v6);
  } else {
    // ESP, No Next Header, GRE, ...: no ports; judged as port-less.
    return true;
  }
  out.l4Offset = l4;
  out.l4Length = l4len;
  if (l4len < min) return fail(out, fragmented ? E.BAD_FRAGMENT : E.TRUNCATED_L4);
  if (capEnd - l4 < min) return fail(out, E.TRUNCATED_L4);
  if (proto === K.P_TCP) {
    const doff = (b[l4 + 12]! >>> 4) << 2;
    // Data offset counts 32-bit words of header, at least 5 (RFC 9293 3.1).
    if (doff < 20 || doff > l4len) return fail(out, E.BAD_L4_HEADER);
    const flags = b[l4 + 13]!;
    if (VALID_TCP_FLAGS[flags & ~K.TCP_FLAGS_IGNORED & 0xff] === 0) return fail(out, E.BAD_TCP_FLAGS);
    out.tcpFlags = flags;
  } else if (proto === K.P_UDP) {
    const ulen = u16(l4 + 4);
    // RFC 768: length counts header and data. In an unfragmented datagram it must fit what the
    // IP header says we carry.
    if (ulen < 8 || (!fragmented && ulen > l4len)) return fail(out, E.BAD_L4_HEADER);
  }
  out.srcPort = u16(l4);
  out.dstPort = u16(l4 + 2);
  return true;
}

/** ICMP / ICMPv6 header (kept out of parseL4 so the common TCP/UDP path stays small enough to inline). */
function parseIcmp(b: Buffer, l4: number, l4len: number, capEnd: number, fragmented: boolean, out: PacketInfo, v6: boolean): boolean {
  out.l4Offset = l4;
  out.l4Length = l4len;
  // Every ICMP/ICMPv6 message has type, code, checksum and a 4-byte rest-of-header (RFC 792,
  // RFC 4443 2.1).
  if (l4len < 8) return fail(out, fragmented ? E.BAD_FRAGMENT : E.TRUNCATED_L4);
  const held = capEnd - l4;
  if (held < 8) return fail(out, E.TRUNCATED_L4);
  const type = b[l4]!;
  out.icmpType = type;
  out.icmpCode = b[l4 + 1]!;
  if (v6 ? type === 128 || type === 129 : type === 8 || type === 0) {
    out.icmpId = u16(l4 + 4);
    return true;
  }
  if (v6 ? isIcmp6Error(type) : isIcmp4Error(type)) {
    // An error about a fragment of an error would need reassembly; quoted headers always
    // sit in the first 8+ bytes, so a fragmented ICMP error is refused.
    if (fragmented) return fail(out, E.BAD_FRAGMENT);
    const quoted = (held < l4len ? held : l4len) - 8;
    return v6 ? parseInner6(b, l4 + 8, quoted, out) : parseInner4(b, l4 + 8, quoted, out);
  }
  return true;
}

/**
 * The datagram quoted by an ICMPv4 error: its IP header and at least 8 bytes of its payload
 * ("Internet Header + 64 bits of Original Data Datagram", RFC 792). Its total length field
 * describes the original, not the quote, so it is not compared with what we hold.
 */
function parseInner4(b: Buffer, p: number, avail: number, out: PacketInfo): boolean {
  if (avail < 20 || b[p]! >>> 4 !== 4) return fail(out, E.BAD_ICMP_INNER);
  const ihl = (b[p]! & 0x0f) << 2;
  if (ihl < 20 || ihl + 8 > avail) return fail(out, E.BAD_ICMP_INNER);
  const proto = b[p + 9]!;
  out.innerProto = proto;
  out.innerSrc4 = u32(p + 12);
  out.innerDst4 = u32(p + 16);
  const fragOff = u16(p + 6) & 0x1fff;
  return innerL4(b, p + ihl, proto, fragOff !== 0, out, false);
}

function parseInner6(b: Buffer, p: number, avail: number, out: PacketInfo): boolean {
  if (avail < 40 || b[p]! >>> 4 !== 6) return fail(out, E.BAD_ICMP_INNER);
  out.innerSrc6a = u32(p + 8);
  out.innerSrc6b = u32(p + 12);
  out.innerSrc6c = u32(p + 16);
  out.innerSrc6d = u32(p + 20);
  out.innerDst6a = u32(p + 24);
  out.innerDst6b = u32(p + 28);
  out.innerDst6c = u32(p + 32);
  out.innerDst6d = u32(p + 36);
  // The quote is cut at the minimum MTU (RFC 4443 3.1), so walk only what we hold.
  walkIPv6Chain(b, b[p + 6]!, p + 40, p + avail);
  if (walkInvalid !== 0) return fail(out, E.BAD_ICMP_INNER);
  if (!walkLaterFragment && walkPos + 8 > p + avail) return fail(out, E.BAD_ICMP_INNER);
  out.innerProto = walkProto;
  return innerL4(b, walkPos, walkProto, walkLaterFragment, out, true);
}

function innerL4(b: Buffer, l4: number, proto: number, later: boolean, out: PacketInfo, v6: boolean): boolean {
  out.innerSrcPort = 0;
  out.innerDstPort = 0;
  out.innerIcmpId = -1;
  out.innerIcmpType = -1;
  if (!later) {
    if (proto === K.P_TCP || proto === K.P_UDP || proto === K.P_SCTP) {
      out.innerSrcPort = u16(l4);
      out.innerDstPort = u16(l4 + 2);
    } else if (proto === (v6 ? K.P_ICMPV6 : K.P_ICMP)) {
      const t = b[l4]!;
      // "An ICMP error message MUST NOT be originated as a result of receiving ... an ICMP error
      // message" (RFC 1122 3.2.2, RFC 4443 2.4(e)): an error quoting an error is forged.
      if (v6 ? t < 128 : isIcmp4Error(t)) return fail(out, E.BAD_ICMP_INNER);
      if (v6 ? t === 128 || t === 129 : t === 8 || t === 0) {
        out.innerIcmpType = t;
        out.innerIcmpId = u16(l4 + 4);
      }
    }
  }
  out.inner = true;
  return true;
}
