// The flow key of a packet as the flow table (conntrack.ts) stores it, and its hash: protocol,
// family, both addresses as int32 words (IPv4 uses word 0, the others 0) and two key "ports".
// One FlowKey is the table's scratch key (single-threaded): filled per lookup, never allocated.

import type { PacketInfo } from './packet-info.ts';

// Key tags, a const enum (the compiler writes its members as numbers; see conntrack.ts's C).
const enum T {
  /** Marks fragment-id keys in the protocol (protocol numbers are < 256). */
  PROTO_FRAGMENT = 0x100,
  /** ICMP echo "ports": requests key on (id, 0), replies on (0, id) so only a reply matches a request reversed. */
  ECHO_TAG = 0x10000,
  /** Non-echo ICMP: keyed by type; never inserted, only looked up. */
  ICMP_OTHER_TAG = 0x20000,
}
/** The fragment-id marker in a key's protocol, for conntrack.ts's mirror. */
export const PROTO_FRAGMENT = T.PROTO_FRAGMENT;

/**
 * Mixes IPv6 address words 1-3 into a hash of word 0 (FlowKey.hash). A function of its own so
 * that flowHash's bytecode stays under V8's inlining limit (460 bytes; written out it was 472) and
 * is inlined into the table's lookup.
 */
function mixWords(h: number, w1: number, w2: number, w3: number): number {
  h = Math.imul(h ^ w1 ^ (h >>> 15), 0x85ebca77);
  h = Math.imul(h ^ w2 ^ (h >>> 13), 0xc2b2ae3d);
  return Math.imul(h ^ w3 ^ (h >>> 16), 0x27d4eb2f);
}

/**
 * Symmetric hash of a key (the same whichever endpoint is the source), seeded so remote peers
 * cannot aim many flows at one bucket. Every address word is multiplied in (an XOR fold would let
 * an attacker pick IPv6 addresses that collide whatever the seed). int32; the table masks it.
 */
export function flowHash(seed: number, fam: number, proto: number, s0: number, s1: number, s2: number, s3: number,
  d0: number, d1: number, d2: number, d3: number, sp: number, dp: number): number {
  let a = Math.imul(s0 ^ seed, 0x9e3779b1);
  let b = Math.imul(d0 ^ seed, 0x9e3779b1);
  if (fam === 6) {
    a = mixWords(a, s1, s2, s3);
    b = mixWords(b, d1, d2, d3);
  }
  a = Math.imul(a ^ sp ^ (a >>> 15), 0x165667b1);
  b = Math.imul(b ^ dp ^ (b >>> 15), 0x165667b1);
  let h = (a + b) ^ Math.imul(proto + (fam << 9), 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

/** Source key "port" of a parsed packet: its source port, or an ICMP echo / type tag. */
export function srcKeyPort(info: PacketInfo): number {
  const t = info.icmpType;
  if (t < 0) return info.srcPort;
  // Request types 8 (v4) / 128 (v6); replies 0 / 129.
  if (info.icmpId >= 0) return t === 8 || t === 128 ? T.ECHO_TAG | info.icmpId : 0;
  return T.ICMP_OTHER_TAG | t;
}

/** Destination key "port" of a parsed packet (see srcKeyPort). */
export function dstKeyPort(info: PacketInfo): number {
  const t = info.icmpType;
  if (t < 0) return info.dstPort;
  return info.icmpId >= 0 && t !== 8 && t !== 128 ? T.ECHO_TAG | info.icmpId : 0;
}

export class FlowKey {
  // int32 words keep the fields small integers in V8 (no boxed doubles).
  fam = 0;
  proto = 0;
  s0 = 0; s1 = 0; s2 = 0; s3 = 0;
  d0 = 0; d1 = 0; d2 = 0; d3 = 0;
  sp = 0;
  dp = 0;

  /** Key of a parsed packet (outer tuple). */
  fromPacket(info: PacketInfo): void {
    const fam = info.family;
    this.fam = fam;
    this.proto = info.proto;
    if (fam === 4) {
      this.s0 = info.src4 | 0; this.s1 = 0; this.s2 = 0; this.s3 = 0;
      this.d0 = info.dst4 | 0; this.d1 = 0; this.d2 = 0; this.d3 = 0;
    } else {
      this.s0 = info.src6a | 0; this.s1 = info.src6b | 0; this.s2 = info.src6c | 0; this.s3 = info.src6d | 0;
      this.d0 = info.dst6a | 0; this.d1 = info.dst6b | 0; this.d2 = info.dst6c | 0; this.d3 = info.dst6d | 0;
    }
    this.sp = srcKeyPort(info);
    this.dp = dstKeyPort(info);
  }

  /** Key of the packet quoted inside an ICMP error (as its original sender sent it). */
  fromInner(info: PacketInfo): void {
    const fam = info.family;
    this.fam = fam;
    this.proto = info.innerProto;
    if (fam === 4) {
      this.s0 = info.innerSrc4 | 0; this.s1 = 0; this.s2 = 0; this.s3 = 0;
      this.d0 = info.innerDst4 | 0; this.d1 = 0; this.d2 = 0; this.d3 = 0;
    } else {
      this.s0 = info.innerSrc6a | 0; this.s1 = info.innerSrc6b | 0; this.s2 = info.innerSrc6c | 0; this.s3 = info.innerSrc6d | 0;
      this.d0 = info.innerDst6a | 0; this.d1 = info.innerDst6b | 0; this.d2 = info.innerDst6c | 0; this.d3 = info.innerDst6d | 0;
    }
    if (info.innerIcmpType >= 0) {
      const t = info.innerIcmpType;
      if (t === 8 || t === 128) { this.sp = T.ECHO_TAG | info.innerIcmpId; this.dp = 0; }
      else { this.sp = 0; this.dp = T.ECHO_TAG | info.innerIcmpId; }
    } else {
      this.sp = info.innerSrcPort;
      this.dp = info.innerDstPort;
    }
  }

  /** Key of a fragmented datagram: addresses, protocol and IP identification (RFC 791 / RFC 8200 4.5). */
  fromFragment(info: PacketInfo): void {
    this.fromPacket(info);
    this.proto = info.proto | T.PROTO_FRAGMENT;
    this.sp = info.fragId >>> 16;
    this.dp = info.fragId & 0xffff;
  }

  /** flowHash of this key. */
  hash(seed: number): number {
    return flowHash(seed, this.fam, this.proto, this.s0, this.s1, this.s2, this.s3, this.d0, this.d1, this.d2, this.d3, this.sp, this.dp);
  }
}
