// Denied new connections seen recently, so that one connection counts (and logs) once however
// many packets of it are judged. A dropped packet leaves no conntrack entry, so the kernel queues
// every retransmitted SYN of a denied connection again (tcp(7): tcp_syn_retries, default 6,
// "retrying for up to approximately 127 seconds"), and every datagram of a denied UDP flow.
//
// A fixed direct-mapped table of 5-tuples with the time each was last seen: no allocation per
// packet (the deny path can be flooded). A slot holds one tuple; another tuple hashing to the
// same slot replaces it. So a repeat can occasionally be counted as a new connection, but a new
// connection is never taken for a repeat: that needs the whole tuple to match.

import type { PacketInfo } from '../dataplane/packet-info.ts';

/** Linux gives up on an unanswered SYN after about 127 s (tcp_syn_retries = 6); a little more. */
export const DEFAULT_REPEAT_WINDOW_MS = 130_000;

/** Words per slot: family << 8 | protocol (0 = empty), source 4, destination 4, ports. */
const W = 10;

export class RecentFlows {
  private readonly keys: Int32Array;
  private readonly seenAt: Float64Array;
  private readonly mask: number;

  /** `slots` is rounded up to a power of two (default 4096: 160 KiB). */
  constructor(readonly windowMs: number = DEFAULT_REPEAT_WINDOW_MS, slots = 4096) {
    if (!(windowMs >= 0) || !Number.isFinite(windowMs)) throw new RangeError(`repeat window must be a number of ms >= 0, got ${windowMs}`);
    if (!(Number.isInteger(slots) && slots >= 1 && slots <= 1 << 20)) throw new RangeError(`slots must be an integer in 1..1048576, got ${slots}`);
    let n = 1;
    while (n < slots) n *= 2;
    this.mask = n - 1;
    this.keys = new Int32Array(n * W);
    this.seenAt = new Float64Array(n);
  }

  /**
   * True when the packet's 5-tuple (ICMP: addresses, type and echo id) with this `tag` (0..255,
   * e.g. audit or not) was seen within the window before `now` (ms): a repeat of that
   * connection. Records it as seen now either way. A window of 0 reports no repeats.
   */
  repeat(info: PacketInfo, now: number, tag = 0): boolean {
    if (this.windowMs === 0) return false;
    const v4 = info.family === 4;
    const meta = ((tag & 0xff) << 16) | (info.family << 8) | info.proto;
    const s0 = v4 ? info.src4 | 0 : info.src6a | 0, s1 = v4 ? 0 : info.src6b | 0, s2 = v4 ? 0 : info.src6c | 0, s3 = v4 ? 0 : info.src6d | 0;
    const d0 = v4 ? info.dst4 | 0 : info.dst6a | 0, d1 = v4 ? 0 : info.dst6b | 0, d2 = v4 ? 0 : info.dst6c | 0, d3 = v4 ? 0 : info.dst6d | 0;
    const ports = info.icmpType >= 0 ? (info.icmpId & 0xffff) | ((info.icmpType & 0xff) << 16) : ((info.srcPort & 0xffff) << 16) | (info.dstPort & 0xffff);
    let h = Math.imul(meta ^ ports, 0x9e3779b1);
    h = Math.imul(h ^ s0 ^ (h >>> 15), 0x85ebca77);
    h = Math.imul(h ^ d0 ^ (h >>> 13), 0xc2b2ae3d);
    h = Math.imul(h ^ s1 ^ s2 ^ s3 ^ (h >>> 16), 0x27d4eb2f);
    h = Math.imul(h ^ d1 ^ d2 ^ d3 ^ (h >>> 15), 0x165667b1);
    h ^= h >>> 16;
    const slot = h & this.mask;
    const k = this.keys, o = slot * W;
    const same = k[o] === meta && k[o + 1] === s0 && k[o + 2] === s1 && k[o + 3] === s2 && k[o + 4] === s3 &&
      k[o + 5] === d0 && k[o + 6] === d1 && k[o + 7] === d2 && k[o + 8] === d3 && k[o + 9] === ports;
    const last = this.seenAt[slot]!;
    this.seenAt[slot] = now;
    if (same) return now - last <= this.windowMs;
    k[o] = meta; k[o + 1] = s0; k[o + 2] = s1; k[o + 3] = s2; k[o + 4] = s3;
    k[o + 5] = d0; k[o + 6] = d1; k[o + 7] = d2; k[o + 8] = d3; k[o + 9] = ports;
    return false;
  }
}
