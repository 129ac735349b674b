// The parser's output: one reusable object per thread whose numeric fields are overwritten for
// every packet, so parsing allocates nothing. Addresses are kept as uint32 words (IPv4: one word
// in src4/dst4; IPv6: four words each) so lookups never build strings.

/** Why a packet could not be judged. 0 = parsed. Every code is counted by the classifier. */
export const INVALID = {
  OK: 0,
  TRUNCATED_L3: 1,
  BAD_VERSION: 2,
  BAD_IHL: 3,
  BAD_TOTAL_LENGTH: 4,
  TRUNCATED_L4: 5,
  BAD_EXT_CHAIN: 6,
  EXT_CHAIN_TOO_LONG: 7,
  BAD_L4_HEADER: 8,
  BAD_ICMP_INNER: 9,
  /** A TCP flag combination Linux conntrack also rejects (tcp_valid_flags): SYN+FIN, SYN+RST, no flags... */
  BAD_TCP_FLAGS: 10,
  /**
   * A fragment that can hide the L4 header: RFC 1858 tiny first fragment (L4 header cut off) or a
   * TCP fragment at offset 1 (overwrites the flags on reassembly), or an IPv6 first fragment that
   * does not hold the whole header chain (RFC 7112).
   */
  BAD_FRAGMENT: 11,
  /** off/len do not describe bytes inside the buffer (caller bug, still never a throw). */
  BAD_BUFFER: 12,
} as const;
export const INVALID_NAMES: readonly string[] = [
  'ok', 'truncated-l3', 'bad-version', 'bad-ihl', 'bad-total-length', 'truncated-l4',
  'bad-ext-chain', 'ext-chain-too-long', 'bad-l4-header', 'bad-icmp-inner', 'bad-tcp-flags',
  'bad-fragment', 'bad-buffer',
];
/** Number of INVALID codes (size of per-reason counter arrays). */
export const INVALID_COUNT = INVALID_NAMES.length;

export class PacketInfo {
  /** 0 when parsing stopped before the IP header was understood, else 4 or 6. */
  family = 0;
  /** INVALID.* code; 0 when the packet parsed. */
  invalid = 0;
  /** L4 protocol number after IPv6 extension headers (6 TCP, 17 UDP, 132 SCTP, 1/58 ICMP). */
  proto = 0;
  src4 = 0;
  dst4 = 0;
  src6a = 0; src6b = 0; src6c = 0; src6d = 0;
  dst6a = 0; dst6b = 0; dst6c = 0; dst6d = 0;
  /** IPv4 TTL / IPv6 hop limit (neighbour discovery must arrive with 255, RFC 4861 7.1.1). */
  hopLimit = 0;
  /** True when the packet is part of a fragmented datagram (MF set, offset != 0, or an IPv6 fragment header that is not atomic). */
  fragment = false;
  /** True for a fragment other than the first: it carries no L4 header. */
  laterFragment = false;
  /** IPv4 identification (16 bits) or IPv6 fragment identification (32 bits) when `fragment`. */
  fragId = 0;
  /** Offset of the L4 header in the buffer, or -1. */
  l4Offset = -1;
  /** Bytes from l4Offset to the end of the IP payload (per the IP header), 0 when no L4. */
  l4Length = 0;
  /** TCP/UDP/SCTP ports; 0 when absent. */
  srcPort = 0;
  dstPort = 0;
  /** TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10). */
  tcpFlags = 0;
  /** ICMP / ICMPv6 type and code, -1 when not ICMP; echo identifier or -1. */
  icmpType = -1;
  icmpCode = -1;
  icmpId = -1;
  /**
   * ICMP errors (unreachable, time exceeded, packet too big, parameter problem) quote the packet
   * that caused them; they belong to that packet's connection. When `inner` is true the inner*
   * fields hold the quoted packet's tuple, as sent by its original sender.
   */
  inner = false;
  innerProto = 0;
  innerSrc4 = 0;
  innerDst4 = 0;
  innerSrc6a = 0; innerSrc6b = 0; innerSrc6c = 0; innerSrc6d = 0;
  innerDst6a = 0; innerDst6b = 0; innerDst6c = 0; innerDst6d = 0;
  innerSrcPort = 0;
  innerDstPort = 0;
  /** Type and echo identifier of a quoted ICMP echo, or -1. */
  innerIcmpType = -1;
  innerIcmpId = -1;
}
