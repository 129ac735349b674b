// Bounded reassembly of DNS answers over TCP (RFC 1035 4.2.2, RFC 7766) for the DNS learner (issue
// 16). Over TCP each message is a two-byte length then the message, and a long answer (or a
// server that writes the prefix apart from the message) spans several segments. The learner sees
// the server -> pod direction of each connection segment by segment, before the pod does; this
// module follows that byte stream per flow and hands each complete message to `onMessage` while
// the segment that completes it is being judged, so the learner stores the names before that
// segment (and with it the answer) is let through.
//
// Rules (README "Egress to domain names"):
// - A flow is followed from its SYN-ACK (the server's initial sequence number): only then is the
//   first byte known to start a message. Data of a flow whose start was not seen (the agent
//   started mid-connection, the flow was evicted or idle-expired) is not read: counted
//   `unsynced`, never guessed at.
// - In order only: a segment wholly before the next expected byte is a retransmission (ignored,
//   counted); one that overlaps it contributes its new bytes; one after it leaves a gap (a lost or
//   reordered segment): the flow is given up (`gaps`) and stays given up until it ends. TCP will
//   retransmit, but reassembling out of order would need buffers per hole; a given-up answer goes
//   through unlearned, as any answer the learner cannot read.
// - FIN or RST ends the flow (a half-read message is counted `incomplete`).
// - Bounds: at most maxFlows flows (over it one is evicted, counted: the least recently used of
//   the pod following the most, so no pod pushes out the flows of a pod with fewer), each holding
//   at most one message of at most maxMessage bytes (65535, what the prefix can say: a longer
//   limit is meaningless, a shorter one gives the flow up as `oversize`); a flow idle for idleMs is
//   dropped (`expired`). Buffers are allocated per slot on first need and reused, so memory stays
//   under maxFlows * maxMessage and the steady state allocates nothing.
// - Hostile input never throws: every length is clamped to the buffer, sequence arithmetic is
//   modulo 2^32.

import type { PacketInfo } from './packet-info.ts';

export interface TcpDnsReassemblyOptions {
  /** Flows followed at once (default 64). */
  readonly maxFlows?: number;
  /** Largest message buffered (default and at most 65535). */
  readonly maxMessage?: number;
  /** A flow with no segment for this long is dropped (ms, default 30 000). */
  readonly idleMs?: number;
}

export interface TcpDnsReassemblyCounters {
  /** Flows followed from their SYN-ACK. */
  flows: number;
  /** Complete messages handed on. */
  messages: number;
  /** Messages that needed bytes from more than one segment. */
  reassembled: number;
  /** Segments wholly seen before (retransmissions), ignored. */
  retransmits: number;
  /** Flows given up because a segment came after a hole. */
  gaps: number;
  /** Data segments of flows whose start was not seen (not read). */
  unsynced: number;
  /** Flows given up because a message was longer than maxMessage. */
  oversize: number;
  /** Flows given up because the packet was cut short (capture shorter than the IP length). */
  truncated: number;
  /** Flows that ended (FIN/RST) in the middle of a message. */
  incomplete: number;
  /** Flows evicted by the flow cap. */
  evictions: number;
  /** Flows dropped after idleMs without a segment. */
  expired: number;
}

/** Reading state of a slot. */
const FREE = 0, PREFIX0 = 1, PREFIX1 = 2, BODY = 3, GIVEN_UP = 4;
/** Int32 words per flow key: family, source (4), destination (4), ports. */
const KEY = 10;
const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_ACK = 0x10;

export class TcpDnsReassembly {
  readonly counters: TcpDnsReassemblyCounters = { flows: 0, messages: 0, reassembled: 0, retransmits: 0, gaps: 0, unsynced: 0, oversize: 0, truncated: 0, incomplete: 0, evictions: 0, expired: 0 };
  private readonly maxFlows: number;
  private readonly maxMessage: number;
  private readonly idleMs: number;
  private readonly keys: Int32Array;
  private readonly phase: Uint8Array;
  private readonly isn: Uint32Array;
  private readonly nextSeq: Uint32Array;
  private readonly lastSeen: Float64Array;
  /** PREFIX1: the prefix's high byte; BODY: the message length. */
  private readonly need: Int32Array;
  private readonly have: Int32Array;
  private readonly bufs: (Buffer | undefined)[];

  constructor(
    /** A complete message at buf[off, off+len): valid only during the call. */
    private readonly onMessage: (buf: Buffer, off: number, len: number) => void,
    o: TcpDnsReassemblyOptions = {},
  ) {
    this.maxFlows = Math.max(1, Math.floor(o.maxFlows ?? 64));
    this.maxMessage = Math.max(12, Math.min(65535, Math.floor(o.maxMessage ?? 65535)));
    this.idleMs = o.idleMs ?? 30_000;
    const n = this.maxFlows;
    this.keys = new Int32Array(n * KEY);
    this.phase = new Uint8Array(n);
    this.isn = new Uint32Array(n);
    this.nextSeq = new Uint32Array(n);
    this.lastSeen = new Float64Array(n);
    this.need = new Int32Array(n);
    this.have = new Int32Array(n);
    this.bufs = new Array<Buffer | undefined>(n).fill(undefined);
  }

  /** Flows followed now (given-up ones included: they hold their slot until they end). */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.maxFlows; i++) if (this.phase[i] !== FREE) n++;
    return n;
  }

  /**
   * One TCP segment of the server -> client direction: the flow is `info`'s tuple, its flags
   * info.tcpFlags, its sequence number `seq`, and its payload buf[off, off+len). `whole` is false
   * when the capture holds less than the segment's payload. Calls onMessage for every message
   * this segment completes.
   */
  segment(info: PacketInfo, seq: number, buf: Buffer, off: number, len: number, whole: boolean, now: number): void {
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) { len = 0; whole = false; }
    const flags = info.tcpFlags;
    let s = this.find(info, now);
    if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) {
      // The server's SYN-ACK: the stream starts at its sequence number + 1. A retransmitted
      // SYN-ACK of a followed flow changes nothing; a new one (port reuse) starts over.
      if (s >= 0 && this.isn[s] === seq >>> 0) { this.lastSeen[s] = now; return; }
      if (s < 0) s = this.allocate(info, now);
      this.counters.flows++;
      this.phase[s] = PREFIX0;
      this.isn[s] = seq >>> 0;
      this.nextSeq[s] = (seq + 1) >>> 0;
      this.lastSeen[s] = now;
      return;
    }
    if (s < 0) {
      if (len > 0) this.counters.unsynced++;
      return;
    }
    this.lastSeen[s] = now;
    if ((flags & TCP_RST) !== 0) return this.end(s);
    if (this.phase[s] !== GIVEN_UP && len > 0) {
      const d = (seq - this.nextSeq[s]!) | 0;
      if (d > 0) {
        this.counters.gaps++;
        this.phase[s] = GIVEN_UP;
      } else if (d + len <= 0) {
        this.counters.retransmits++;
      } else {
        // Skip what was already read (an overlapping retransmission), read the rest.
        const from = off - d;
        const end = off + len;
        if (!whole) {
          this.counters.truncated++;
          this.phase[s] = GIVEN_UP;
        } else {
          this.read(s, buf, from, end);
          this.nextSeq[s] = (this.nextSeq[s]! + (end - from)) >>> 0;
        }
      }
    }
    if ((flags & TCP_FIN) !== 0) this.end(s);
  }

  /** Drops flows idle for idleMs; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (let i = 0; i < this.maxFlows; i++) {
      if (this.phase[i] !== FREE && now - this.lastSeen[i]! > this.idleMs) {
        this.phase[i] = FREE;
        this.counters.expired++;
        n++;
      }
    }
    return n;
  }

  private read(s: number, buf: Buffer, p: number, end: number): void {
    while (p < end) {
      const ph = this.phase[s]!;
      if (ph === GIVEN_UP) return;
      if (ph === PREFIX0 || ph === PREFIX1) {
        let m: number;
        if (ph === PREFIX1) m = (this.need[s]! << 8) | buf[p++]!;
        else if (end - p >= 2) { m = (buf[p]! << 8) | buf[p + 1]!; p += 2; }
        else { this.need[s] = buf[p++]!; this.phase[s] = PREFIX1; continue; }
        if (m > this.maxMessage) {
          this.counters.oversize++;
          this.phase[s] = GIVEN_UP;
          return;
        }
        // The common case, a message whole in one segment after its prefix: read in place.
        if (end - p >= m) {
          this.counters.messages++;
          this.phase[s] = PREFIX0;
          this.onMessage(buf, p, m);
          p += m;
          continue;
        }
        const b = this.bufs[s];
        if (b === undefined || b.length < m) this.bufs[s] = Buffer.allocUnsafe(Math.max(m, 512));
        this.need[s] = m;
        this.have[s] = 0;
        this.phase[s] = BODY;
      }
      const need = this.need[s]!;
      const have = this.have[s]!;
      const n = Math.min(need - have, end - p);
      buf.copy(this.bufs[s]!, have, p, p + n);
      p += n;
      this.have[s] = have + n;
      if (have + n === need) {
        this.counters.messages++;
        this.counters.reassembled++;
        this.phase[s] = PREFIX0;
        this.onMessage(this.bufs[s]!, 0, need);
      }
    }
  }

  private end(s: number): void {
    const ph = this.phase[s];
    if (ph === PREFIX1 || ph === BODY) this.counters.incomplete++;
    this.phase[s] = FREE;
  }

  /** The slot following info's flow, or -1 (an idle one found on the way is dropped). */
  private find(info: PacketInfo, now: number): number {
    const k = this.keys;
    const ports = ((info.srcPort << 16) | info.dstPort) | 0;
    for (let i = 0; i < this.maxFlows; i++) {
      if (this.phase[i] === FREE) continue;
      const o = i * KEY;
      if (k[o] !== info.family || k[o + 9] !== ports) continue;
      const match = info.family === 4
        ? k[o + 1] === (info.src4 | 0) && k[o + 5] === (info.dst4 | 0)
        : k[o + 1] === (info.src6a | 0) && k[o + 2] === (info.src6b | 0) && k[o + 3] === (info.src6c | 0) && k[o + 4] === (info.src6d | 0)
          && k[o + 5] === (info.dst6a | 0) && k[o + 6] === (info.dst6b | 0) && k[o + 7] === (info.dst6c | 0) && k[o + 8] === (info.dst6d | 0);
      if (!match) continue;
      if (now - this.lastSeen[i]! > this.idleMs) {
        this.phase[i] = FREE;
        this.counters.expired++;
        return -1;
      }
      return i;
    }
    return -1;
  }

  /**
   * A slot for a new flow: a free one, else an idle one, else (evicted) the least recently used
   * flow of the pod following the most flows, the new flow's own pod on a tie: the least recently
   * used of all let one pod opening connections push out another pod's answer half read.
   */
  private allocate(info: PacketInfo, now: number): number {
    let s = -1;
    let oldest = Infinity;
    for (let i = 0; i < this.maxFlows; i++) {
      if (this.phase[i] === FREE) { s = i; oldest = -Infinity; break; }
      if (this.lastSeen[i]! < oldest) { oldest = this.lastSeen[i]!; s = i; }
    }
    if (oldest !== -Infinity) {
      if (now - oldest > this.idleMs) this.counters.expired++;
      else {
        this.counters.evictions++;
        s = this.victim(info);
      }
    }
    const k = this.keys, o = s * KEY;
    k[o] = info.family;
    if (info.family === 4) {
      k[o + 1] = info.src4 | 0; k[o + 2] = 0; k[o + 3] = 0; k[o + 4] = 0;
      k[o + 5] = info.dst4 | 0; k[o + 6] = 0; k[o + 7] = 0; k[o + 8] = 0;
    } else {
      k[o + 1] = info.src6a | 0; k[o + 2] = info.src6b | 0; k[o + 3] = info.src6c | 0; k[o + 4] = info.src6d | 0;
      k[o + 5] = info.dst6a | 0; k[o + 6] = info.dst6b | 0; k[o + 7] = info.dst6c | 0; k[o + 8] = info.dst6d | 0;
    }
    k[o + 9] = ((info.srcPort << 16) | info.dstPort) | 0;
    return s;
  }

  /** Is slot i's flow to info's destination (the pod)? */
  private toPodOf(i: number, info: PacketInfo): boolean {
    const k = this.keys, o = i * KEY;
    if (k[o] !== info.family) return false;
    return info.family === 4
      ? k[o + 5] === (info.dst4 | 0)
      : k[o + 5] === (info.dst6a | 0) && k[o + 6] === (info.dst6b | 0) && k[o + 7] === (info.dst6c | 0) && k[o + 8] === (info.dst6d | 0);
  }

  /** Do slots i and j follow flows to the same pod? */
  private samePod(i: number, j: number): boolean {
    const k = this.keys, a = i * KEY, b = j * KEY;
    return k[a] === k[b] && k[a + 5] === k[b + 5] && k[a + 6] === k[b + 6] && k[a + 7] === k[b + 7] && k[a + 8] === k[b + 8];
  }

  /**
   * The slot to evict when every slot is busy (see allocate). Quadratic in maxFlows (64: a few
   * thousand integer comparisons), and only when the table is full.
   */
  private victim(info: PacketInfo): number {
    const n = this.maxFlows;
    // The new flow's pod: how many flows it has, and its least recently used one.
    let most = 0, s = -1;
    for (let i = 0; i < n; i++) {
      if (!this.toPodOf(i, info)) continue;
      most++;
      if (s < 0 || this.lastSeen[i]! < this.lastSeen[s]!) s = i;
    }
    const own = s;
    for (let i = 0; i < n; i++) {
      if (this.toPodOf(i, info)) continue;
      let c = 0;
      for (let j = 0; j < n; j++) if (this.samePod(i, j)) c++;
      // A pod with more flows takes over; one with as many only from another pod (not the new
      // flow's own), by least recent use.
      if (c > most || (c === most && s !== own && this.lastSeen[i]! < this.lastSeen[s]!)) { most = c; s = i; }
    }
    return s;
  }
}
