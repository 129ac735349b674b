// (protocol, port) -> port class, for the per-packet path.
//
// A rule's ports are a union of ranges per protocol (a numeric port is [p, p], endPort gives
// [port, endPort] inclusive, a named port is the number(s) it resolves to, a missing port is
// [0, 65535]). Cutting 0..65535 at every range start and every range end + 1 gives intervals
// inside which every port is matched by exactly the same ranges, so one class per interval is
// exact. Protocols other than TCP/UDP/SCTP (ICMP, ...) get class 0: "If this field is empty or
// missing, this rule matches all ports" is the only way such packets can match, and that is
// decided by the rule, not by the port.
//
// Lookup is a binary search over a sorted Int32Array of interval starts; nothing is allocated.

import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../cluster/model.ts';

/** Class of every packet whose protocol has no ports in policy terms (ICMP, ICMPv6, GRE, ...). */
export const OTHER_PROTOCOL_CLASS = 0;
export const MAX_PORT = 65535;

/** Protocols that carry ports, in the order the map lays them out. */
const PORT_PROTOCOLS = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP] as const;

export class PortMap {
  /** Interval starts of all protocols, concatenated (TCP, UDP, SCTP); each block starts at 0. */
  private readonly starts: Int32Array;
  /** Offsets of each protocol's block in `starts`: [tcp, udp, sctp, end]. */
  private readonly blocks: Int32Array;
  /** Number of classes, including OTHER_PROTOCOL_CLASS. */
  readonly classCount: number;
  /** Per class: IP protocol number (0 for OTHER_PROTOCOL_CLASS), first and last port. */
  readonly classProto: Int32Array;
  readonly classLo: Int32Array;
  readonly classHi: Int32Array;

  /**
   * `cuts` maps an IP protocol number (6, 17, 132) to ports where a new interval begins (range
   * starts and range ends + 1). Values outside 1..65535 are ignored (0 always begins one).
   */
  constructor(cuts: ReadonlyMap<number, Iterable<number>>) {
    const starts: number[] = [];
    const blocks: number[] = [];
    for (const proto of PORT_PROTOCOLS) {
      blocks.push(starts.length);
      const set = new Set<number>([0]);
      for (const c of cuts.get(proto) ?? []) if (Number.isInteger(c) && c > 0 && c <= MAX_PORT) set.add(c);
      starts.push(...[...set].sort((a, b) => a - b));
    }
    blocks.push(starts.length);
    this.starts = Int32Array.from(starts);
    this.blocks = Int32Array.from(blocks);
    this.classCount = starts.length + 1;
    this.classProto = new Int32Array(this.classCount);
    this.classLo = new Int32Array(this.classCount);
    this.classHi = new Int32Array(this.classCount);
    for (let p = 0; p < PORT_PROTOCOLS.length; p++) {
      for (let i = blocks[p]!; i < blocks[p + 1]!; i++) {
        const cls = i + 1;
        this.classProto[cls] = PORT_PROTOCOLS[p]!;
        this.classLo[cls] = starts[i]!;
        this.classHi[cls] = i + 1 < blocks[p + 1]! ? starts[i + 1]! - 1 : MAX_PORT;
      }
    }
  }

  /**
   * The map as table-arena.ts stores it: the four block offsets [tcp, udp, sctp, end] (relative
   * to the first start), then the starts.
   */
  image(): Int32Array {
    const out = new Int32Array(4 + this.starts.length);
    out.set(this.blocks, 0);
    out.set(this.starts, 4);
    return out;
  }

  /** Class of a packet. Allocates nothing. Ports outside 0..65535 cannot come off the wire. */
  lookup(proto: number, port: number): number {
    let b: number;
    if (proto === IPPROTO_TCP) b = 0;
    else if (proto === IPPROTO_UDP) b = 1;
    else if (proto === IPPROTO_SCTP) b = 2;
    else return OTHER_PROTOCOL_CLASS;
    const starts = this.starts;
    // Largest i in [lo, hi) with starts[i] <= port; starts[lo] is 0 so one exists.
    let lo = this.blocks[b]!;
    let hi = this.blocks[b + 1]! - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= port) lo = mid; else hi = mid - 1;
    }
    return lo + 1;
  }
}
