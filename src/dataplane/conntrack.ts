// Userspace connection tracking: a bounded flow table so replies of an allowed connection pass
// without a rule lookup ("Reply traffic for those allowed connections will also be implicitly
// allowed", NetworkPolicy docs) while a new connection in the reverse direction is judged anew.
//
// Storage is preallocated: one 64-byte record per flow in a single Int32Array (a Float64Array view
// of the same memory holds the expiry time), so a lookup touches the bucket head and one cache
// line per candidate instead of a dozen parallel arrays; plus a chained hash index (bucket heads
// + a next link in each record). Lookups, inserts and removals allocate nothing.
// One entry serves both directions: the hash of a tuple is symmetric in its two endpoints and a
// lookup compares the stored original tuple both ways, reporting which way matched. The key and
// its hash are flow-key.ts's.
//
// Time is passed in (milliseconds, any monotonic origin) so tests are deterministic. Expired
// entries are reclaimed lazily (on lookup), by an incremental sweep (expire()), and by the
// eviction clock when the table is full.

import type { PacketInfo } from './packet-info.ts';

import { DEFAULT_TIMEOUTS, TCP_STATE, type ConntrackOptions, type ConntrackTimeouts } from './conntrack-settings.ts';
import { FlowKey, PROTO_FRAGMENT, dstKeyPort, flowHash, srcKeyPort } from './flow-key.ts';
import { checkMirrors } from '../net/mirrored-constants.ts';

export { DEFAULT_TIMEOUTS, FLOW_ACCEPT, FLOW_DROP, TCP_STATE, TCP_STATE_NAMES, type ConntrackOptions, type ConntrackTimeouts } from './conntrack-settings.ts';

// The record layout and flags are a const enum, which the compiler writes as numbers: the
// optimized code would otherwise load each module-level (or imported) const from its module
// cell and check it on every use, a dozen times a lookup (see policy/table-arena.ts). tsx
// (esbuild, one file at a time) inlines a const enum only within its own file, so the layout
// stays here; the TCP states of conntrack-settings.ts (S) and flow-key.ts's fragment marker are
// mirrored and checked against their sources when the module loads.
const enum C {
  /** Record layout: REC int32 words (64 bytes, one cache line) per flow. */
  REC = 16,
  /** proto (| PROTO_FRAGMENT) | family << 16 */
  R_KEY = 0,
  /** 4 words */
  R_SRC = 1,
  /** 4 words */
  R_DST = 5,
  R_SPORT = 9,
  R_DPORT = 10,
  /** Next entry in the bucket chain, or -1. */
  R_NEXT = 11,
  /** state (bits 0-7) | verdict (8-15) | M_* flags (16-23) */
  R_META = 12,
  /** Snapshot generation of the verdict (int32). */
  R_GEN = 13,
  /** Expiry time (ms): float64 at Float64Array index e * 8 + F_EXPIRES (int32 words 14-15). */
  F_EXPIRES = 7,

  M_LIVE = 1 << 16,
  /** Clock "referenced" bit: set on every hit, cleared as the eviction hand passes. */
  M_REF = 2 << 16,
  /** Seen traffic both ways (TCP handshake completed, UDP answered): never evicted early (as Linux "assured"). */
  M_ASSURED = 4 << 16,
  M_SEEN_REPLY = 8 << 16,

  /** PROTO_FRAGMENT (flow-key.ts): marks fragment-id entries in R_KEY's protocol. */
  PROTO_FRAGMENT = 0x100,
}
/** TCP_STATE (conntrack-settings.ts). */
const enum S {
  NONE = 0,
  SYN_SENT = 1,
  SYN_RECV = 2,
  ESTABLISHED = 3,
  FIN = 4,
  CLOSED = 5,
}
checkMirrors('conntrack.ts', [
  [S.NONE, TCP_STATE.NONE, 'TCP_STATE.NONE'], [S.SYN_SENT, TCP_STATE.SYN_SENT, 'TCP_STATE.SYN_SENT'],
  [S.SYN_RECV, TCP_STATE.SYN_RECV, 'TCP_STATE.SYN_RECV'], [S.ESTABLISHED, TCP_STATE.ESTABLISHED, 'TCP_STATE.ESTABLISHED'],
  [S.FIN, TCP_STATE.FIN, 'TCP_STATE.FIN'], [S.CLOSED, TCP_STATE.CLOSED, 'TCP_STATE.CLOSED'],
  [C.PROTO_FRAGMENT, PROTO_FRAGMENT, 'PROTO_FRAGMENT'],
]);

/**
 * Which way the record at word o holds a tuple of its protocol and family: 0 as its original
 * direction, 1 reversed, -1 neither. Inlined into find(); lookup() has its own copy (see there).
 */
function direction(rec: Int32Array, o: number, s0: number, s1: number, s2: number, s3: number,
  d0: number, d1: number, d2: number, d3: number, sp: number, dp: number): number {
  if (rec[o + C.R_SRC] === s0 && rec[o + C.R_DST] === d0 && rec[o + C.R_SPORT] === sp && rec[o + C.R_DPORT] === dp &&
      rec[o + C.R_SRC + 1] === s1 && rec[o + C.R_SRC + 2] === s2 && rec[o + C.R_SRC + 3] === s3 &&
      rec[o + C.R_DST + 1] === d1 && rec[o + C.R_DST + 2] === d2 && rec[o + C.R_DST + 3] === d3) return 0;
  if (rec[o + C.R_SRC] === d0 && rec[o + C.R_DST] === s0 && rec[o + C.R_SPORT] === dp && rec[o + C.R_DPORT] === sp &&
      rec[o + C.R_SRC + 1] === d1 && rec[o + C.R_SRC + 2] === d2 && rec[o + C.R_SRC + 3] === d3 &&
      rec[o + C.R_DST + 1] === s1 && rec[o + C.R_DST + 2] === s2 && rec[o + C.R_DST + 3] === s3) return 1;
  return -1;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class Conntrack {
  readonly capacity: number;
  readonly timeouts: ConntrackTimeouts;

  // One record of C.REC int32 words per flow (see the C.R_* offsets). The tuple is the ORIGINAL
  // direction: the packet that created the flow. Address words are stored as int32 bit
  // patterns; IPv4 uses word 0 (others 0).
  private readonly rec: Int32Array;
  private readonly recF: Float64Array;
  /**
   * Side codes of the judgement (a SIDE.* constant or a rule code, i.e. rule id and action; read
   * them with the side* functions of policy/engine-api.ts): egress at 2e, ingress at 2e + 1.
   * The classifier reports both on every hit, so they share one cache line (two parallel arrays
   * cost two misses per hit on a table larger than the caches).
   */
  private readonly codes: Int32Array;

  private readonly head: Int32Array;
  private readonly bucketOf: Int32Array;
  private readonly mask: number;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private hand = 0;
  private sweepHand = 0;
  private readonly evictScan: number;
  private readonly seed: number;
  // Timeouts copied to fields (read on every update).
  private readonly tHandshake: number;
  private readonly tEstablished: number;
  private readonly tClosing: number;
  private readonly tClosed: number;
  private readonly tUdp: number;
  private readonly tUdpStream: number;
  private readonly tIcmp: number;
  private readonly tOther: number;
  private readonly tFragment: number;

  // Counters (plain numbers: read by metrics off the hot path).
  /** Live entries. */
  entries = 0;
  inserts = 0;
  /** Entries removed early to make room (never assured ones). */
  evictions = 0;
  /** Inserts refused because the table was full of assured flows. */
  fullDrops = 0;
  /** Entries removed because their timeout passed. */
  expirations = 0;

  /** Set by every lookup: true when the packet matched its flow in the reply direction. */
  lastReply = false;

  /** Scratch key of the current lookup / insert. */
  private readonly k = new FlowKey();

  constructor(opts: ConntrackOptions) {
    const cap = opts.capacity;
    if (!Number.isInteger(cap) || cap < 1 || cap > 1 << 24) {
      throw new RangeError(`conntrack capacity must be an integer in 1..16777216, got ${cap}`);
    }
    this.capacity = cap;
    const t = (this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts });
    for (const [k, v] of Object.entries(t)) {
      if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new RangeError(`conntrack timeout ${k} must be a positive number of ms, got ${v}`);
    }
    this.tHandshake = t.tcpHandshake; this.tEstablished = t.tcpEstablished; this.tClosing = t.tcpClosing;
    this.tClosed = t.tcpClosed; this.tUdp = t.udp; this.tUdpStream = t.udpStream; this.tIcmp = t.icmp;
    this.tOther = t.other; this.tFragment = t.fragment;
    this.evictScan = Math.max(1, Math.min(cap, opts.evictScan ?? 64));
    this.seed = (opts.seed ?? Math.floor(Math.random() * 0x7fffffff)) | 0;
    const ab = new ArrayBuffer(cap * C.REC * 4);
    this.rec = new Int32Array(ab);
    this.recF = new Float64Array(ab);
    this.codes = new Int32Array(cap * 2);
    // About one bucket per entry: chains stay short (load <= 1) and the head array, touched once
    // per lookup at a random place, stays small enough to sit in cache.
    const buckets = nextPow2(cap);
    this.mask = buckets - 1;
    this.head = new Int32Array(buckets).fill(-1);
    this.bucketOf = new Int32Array(cap);
    this.freeStack = new Int32Array(cap);
    // Hand out low indexes first (stack pops from the top).
    for (let i = 0; i < cap; i++) this.freeStack[i] = cap - 1 - i;
    this.freeTop = cap;
  }

  // ---- record accessors (inlined by the JIT) ------------------------------------------------

  /** 4 or 6. */
  family(e: number): number {
    return this.rec[(e << 4) + C.R_KEY]! >>> 16;
  }
  /** IP protocol of a flow (without the fragment marker). */
  protocol(e: number): number {
    return this.rec[(e << 4) + C.R_KEY]! & 0xff;
  }
  isFragmentEntry(e: number): boolean {
    return (this.rec[(e << 4) + C.R_KEY]! & C.PROTO_FRAGMENT) !== 0;
  }
  /** Word i (0..3) of the original source / destination address, as int32 bits (IPv4: word 0). */
  srcWord(e: number, i: number): number {
    return this.rec[(e << 4) + C.R_SRC + i]!;
  }
  dstWord(e: number, i: number): number {
    return this.rec[(e << 4) + C.R_DST + i]!;
  }
  /** Key ports of the original direction (TCP/UDP/SCTP ports; echo keys for ICMP). */
  srcPort(e: number): number {
    return this.rec[(e << 4) + C.R_SPORT]!;
  }
  dstPort(e: number): number {
    return this.rec[(e << 4) + C.R_DPORT]!;
  }
  /** The port policy judges for the flow's original direction (0 for port-less protocols, as engine-api requires). */
  judgedPort(e: number): number {
    const p = this.rec[(e << 4) + C.R_KEY]! & 0x1ff;
    return p === 6 || p === 17 || p === 132 ? this.rec[(e << 4) + C.R_DPORT]! : 0;
  }
  /** TCP_STATE.* */
  state(e: number): number {
    return this.rec[(e << 4) + C.R_META]! & 0xff;
  }
  /** FLOW_ACCEPT / FLOW_DROP. */
  verdict(e: number): number {
    return (this.rec[(e << 4) + C.R_META]! >>> 8) & 0xff;
  }
  /** Snapshot generation that produced verdict() (int32). */
  generation(e: number): number {
    return this.rec[(e << 4) + C.R_GEN]!;
  }
  egressCode(e: number): number {
    return this.codes[e << 1]!;
  }
  ingressCode(e: number): number {
    return this.codes[(e << 1) + 1]!;
  }
  /** Time (ms) at which the entry expires. */
  expires(e: number): number {
    return this.recF[(e << 3) + C.F_EXPIRES]!;
  }
  isLive(e: number): boolean {
    return (this.rec[(e << 4) + C.R_META]! & C.M_LIVE) !== 0;
  }
  isAssured(e: number): boolean {
    return (this.rec[(e << 4) + C.R_META]! & C.M_ASSURED) !== 0;
  }

  /** Finds the scratch key in the table; sets lastReply. Removes it when expired (miss). */
  private find(now: number): number {
    const rec = this.rec;
    const k = this.k;
    const key = k.proto | (k.fam << 16);
    const s0 = k.s0, d0 = k.d0, sp = k.sp, dp = k.dp;
    let e = this.head[k.hash(this.seed) & this.mask]!;
    while (e !== -1) {
      const o = e << 4;
      if (rec[o + C.R_KEY] === key) {
        const dir = direction(rec, o, s0, k.s1, k.s2, k.s3, d0, k.d1, k.d2, k.d3, sp, dp);
        if (dir !== -1) {
          if (this.recF[(e << 3) + C.F_EXPIRES]! <= now) {
            this.expirations++;
            this.remove(e);
            this.lastReply = false;
            return -1;
          }
          this.lastReply = dir === 1;
          return e;
        }
      }
      e = rec[o + C.R_NEXT]!;
    }
    this.lastReply = false;
    return -1;
  }

  // ---- lookups ----------------------------------------------------------------------------

  /**
   * The flow of a parsed packet (either direction), or -1. Sets lastReply. find() written out
   * over the packet's words in locals, without the scratch key's stores and loads (which only an
   * insert needs), and with direction() written out too: an IPv4 key compares only its first
   * address words (the others are 0 on both sides and the key word holds the family). Written
   * out, lookup is over V8's inlining limit (460 bytes of bytecode), so it is always one call
   * with the hash and compares inlined in it; small enough to be inlined into classify(), it
   * was inlined there or not depending on the order the JIT compiled things, and when it was,
   * its own inlinees and the state update no longer fit classify's inlining budget (920 bytes):
   * the conntrack-hit bench then ran about 10 % slower (docs/speed-history.md).
   */
  lookup(info: PacketInfo, now: number): number {
    const fam = info.family, proto = info.proto;
    let s0: number, s1 = 0, s2 = 0, s3 = 0, d0: number, d1 = 0, d2 = 0, d3 = 0;
    if (fam === 4) {
      s0 = info.src4 | 0; d0 = info.dst4 | 0;
    } else {
      s0 = info.src6a | 0; s1 = info.src6b | 0; s2 = info.src6c | 0; s3 = info.src6d | 0;
      d0 = info.dst6a | 0; d1 = info.dst6b | 0; d2 = info.dst6c | 0; d3 = info.dst6d | 0;
    }
    const sp = srcKeyPort(info), dp = dstKeyPort(info);
    const rec = this.rec;
    const key = proto | (fam << 16);
    let e = this.head[flowHash(this.seed, fam, proto, s0, s1, s2, s3, d0, d1, d2, d3, sp, dp) & this.mask]!;
    while (e !== -1) {
      const o = e << 4;
      if (rec[o + C.R_KEY] === key) {
        let dir = -1;
        if (fam === 4) {
          if (rec[o + C.R_SRC] === s0 && rec[o + C.R_DST] === d0 && rec[o + C.R_SPORT] === sp && rec[o + C.R_DPORT] === dp) dir = 0;
          else if (rec[o + C.R_SRC] === d0 && rec[o + C.R_DST] === s0 && rec[o + C.R_SPORT] === dp && rec[o + C.R_DPORT] === sp) dir = 1;
        } else if (rec[o + C.R_SRC] === s0 && rec[o + C.R_DST] === d0 && rec[o + C.R_SPORT] === sp && rec[o + C.R_DPORT] === dp &&
            rec[o + C.R_SRC + 1] === s1 && rec[o + C.R_SRC + 2] === s2 && rec[o + C.R_SRC + 3] === s3 &&
            rec[o + C.R_DST + 1] === d1 && rec[o + C.R_DST + 2] === d2 && rec[o + C.R_DST + 3] === d3) {
          dir = 0;
        } else if (rec[o + C.R_SRC] === d0 && rec[o + C.R_DST] === s0 && rec[o + C.R_SPORT] === dp && rec[o + C.R_DPORT] === sp &&
            rec[o + C.R_SRC + 1] === d1 && rec[o + C.R_SRC + 2] === d2 && rec[o + C.R_SRC + 3] === d3 &&
            rec[o + C.R_DST + 1] === s1 && rec[o + C.R_DST + 2] === s2 && rec[o + C.R_DST + 3] === s3) {
          dir = 1;
        }
        if (dir !== -1) {
          if (this.recF[(e << 3) + C.F_EXPIRES]! <= now) {
            this.expirations++;
            this.remove(e);
            this.lastReply = false;
            return -1;
          }
          this.lastReply = dir === 1;
          return e;
        }
      }
      e = rec[o + C.R_NEXT]!;
    }
    this.lastReply = false;
    return -1;
  }

  /** The flow of the packet quoted by an ICMP error (info.inner), or -1. */
  lookupInner(info: PacketInfo, now: number): number {
    this.k.fromInner(info);
    return this.find(now);
  }

  /** The fragment-id entry of a fragment (info.fragment), or -1. */
  lookupFragment(info: PacketInfo, now: number): number {
    this.k.fromFragment(info);
    return this.find(now);
  }

  // ---- insert / update / remove -------------------------------------------------------------

  /**
   * Records a new flow whose original direction is this packet. Returns its index, or -1 when
   * the table is full of assured flows (fullDrops counted). If the tuple is already tracked the
   * existing entry is updated and returned.
   */
  insert(info: PacketInfo, now: number, verdict: number, generation: number, egressCode = 0, ingressCode = 0): number {
    this.k.fromPacket(info);
    const found = this.find(now);
    if (found !== -1) {
      this.setVerdict(found, verdict, generation, egressCode, ingressCode);
      this.update(found, info, this.lastReply, now);
      return found;
    }
    const e = this.place(now);
    if (e === -1) return -1;
    let st: number = S.NONE;
    if (info.proto === 6) {
      // A SYN opens a handshake. Anything else is a connection already in progress that we did
      // not see start (agent restart, table eviction): picked up as established, like Linux with
      // nf_conntrack_tcp_loose=1, but not assured until the other side answers.
      st = (info.tcpFlags & 0x12) === 0x02 ? S.SYN_SENT : S.ESTABLISHED;
    }
    const o = e << 4;
    this.rec[o + C.R_META] = st | ((verdict & 0xff) << 8) | C.M_LIVE | C.M_REF;
    this.rec[o + C.R_GEN] = generation | 0;
    this.codes[e << 1] = egressCode;
    this.codes[(e << 1) + 1] = ingressCode;
    this.refresh(e, now);
    return e;
  }

  /** Records the fragment id of an accepted first fragment so its later fragments follow it. */
  insertFragment(info: PacketInfo, now: number, verdict: number, generation: number): number {
    this.k.fromFragment(info);
    let e = this.find(now);
    if (e === -1) {
      e = this.place(now);
      if (e === -1) return -1;
    }
    const o = e << 4;
    this.rec[o + C.R_META] = S.NONE | ((verdict & 0xff) << 8) | C.M_LIVE | C.M_REF;
    this.rec[o + C.R_GEN] = generation | 0;
    this.codes[e << 1] = 0;
    this.codes[(e << 1) + 1] = 0;
    this.recF[(e << 3) + C.F_EXPIRES] = now + this.tFragment;
    return e;
  }

  /** Takes a free entry for the scratch key (evicting if needed) and links it. */
  private place(now: number): number {
    let e: number;
    if (this.freeTop > 0) {
      e = this.freeStack[--this.freeTop]!;
    } else {
      e = this.reclaim(now);
      if (e === -1) {
        this.fullDrops++;
        return -1;
      }
    }
    const rec = this.rec;
    const k = this.k;
    const o = e << 4;
    rec[o + C.R_KEY] = k.proto | (k.fam << 16);
    rec[o + C.R_SRC] = k.s0; rec[o + C.R_SRC + 1] = k.s1; rec[o + C.R_SRC + 2] = k.s2; rec[o + C.R_SRC + 3] = k.s3;
    rec[o + C.R_DST] = k.d0; rec[o + C.R_DST + 1] = k.d1; rec[o + C.R_DST + 2] = k.d2; rec[o + C.R_DST + 3] = k.d3;
    rec[o + C.R_SPORT] = k.sp;
    rec[o + C.R_DPORT] = k.dp;
    rec[o + C.R_META] = C.M_LIVE | C.M_REF;
    const bucket = k.hash(this.seed) & this.mask;
    this.bucketOf[e] = bucket;
    rec[o + C.R_NEXT] = this.head[bucket]!;
    this.head[bucket] = e;
    this.entries++;
    this.inserts++;
    return e;
  }

  /**
   * The eviction clock (table full): walks entries from the hand, reclaiming the first expired
   * one, else the first non-assured entry whose referenced bit is clear (clearing bits as it
   * passes), else the first non-assured entry seen. Assured flows (answered connections) are
   * never evicted, as Linux early_drop spares them: a flood of new flows cannot push out
   * established ones. Returns a free index (already unlinked) or -1.
   */
  private reclaim(now: number): number {
    const cap = this.capacity;
    const rec = this.rec;
    let fallback = -1;
    for (let n = 0; n < this.evictScan; n++) {
      const e = this.hand;
      this.hand = e + 1 === cap ? 0 : e + 1;
      const o = (e << 4) + C.R_META;
      const m = rec[o]!;
      if ((m & C.M_LIVE) === 0) continue;
      if (this.recF[(e << 3) + C.F_EXPIRES]! <= now) {
        this.expirations++;
        this.unlink(e);
        return e;
      }
      if ((m & C.M_ASSURED) !== 0) continue;
      if ((m & C.M_REF) !== 0) {
        rec[o] = m & ~C.M_REF;
        if (fallback === -1) fallback = e;
        continue;
      }
      this.evictions++;
      this.unlink(e);
      return e;
    }
    if (fallback !== -1) {
      this.evictions++;
      this.unlink(fallback);
      return fallback;
    }
    return -1;
  }

  /**
   * Advances a flow's state for a packet that matched it (`reply` = lastReply of the lookup)
   * and extends its timeout.
   */
  update(e: number, info: PacketInfo, reply: boolean, now: number): void {
    const rec = this.rec;
    const o = e << 4;
    let m = rec[o + C.R_META]! | C.M_REF;
    if (reply) m |= C.M_SEEN_REPLY;
    const p = rec[o + C.R_KEY]! & 0x1ff;
    let ttl: number;
    if (p === 6) {
      let st = m & 0xff;
      if (info.proto === 6) {
        const tf = info.tcpFlags;
        if ((tf & 0x04) !== 0) st = S.CLOSED;
        else if ((tf & 0x01) !== 0) { if (st !== S.CLOSED) st = S.FIN; }
        else if (st === S.SYN_SENT) { if (reply && (tf & 0x12) === 0x12) st = S.SYN_RECV; }
        else if (st === S.SYN_RECV) { if (!reply && (tf & 0x10) !== 0) st = S.ESTABLISHED; }
      }
      if ((st === S.ESTABLISHED || st === S.SYN_RECV) && (m & C.M_SEEN_REPLY) !== 0) m |= C.M_ASSURED;
      m = (m & ~0xff) | st;
      ttl = st === S.ESTABLISHED ? this.tEstablished
        : st === S.FIN ? this.tClosing
        : st === S.CLOSED ? this.tClosed
        : this.tHandshake;
    } else {
      if ((m & C.M_SEEN_REPLY) !== 0) m |= C.M_ASSURED;
      ttl = this.ttlFor(p, m);
    }
    rec[o + C.R_META] = m;
    this.recF[(e << 3) + C.F_EXPIRES] = now + ttl;
  }

  private ttlFor(p: number, m: number): number {
    if (p === 17) return (m & C.M_SEEN_REPLY) !== 0 ? this.tUdpStream : this.tUdp;
    if (p === 1 || p === 58) return this.tIcmp;
    if ((p & C.PROTO_FRAGMENT) !== 0) return this.tFragment;
    return this.tOther;
  }

  private refresh(e: number, now: number): void {
    const o = e << 4;
    const m = this.rec[o + C.R_META]!;
    const p = this.rec[o + C.R_KEY]! & 0x1ff;
    let ttl: number;
    if (p === 6) {
      const st = m & 0xff;
      ttl = st === S.ESTABLISHED ? this.tEstablished
        : st === S.FIN ? this.tClosing
        : st === S.CLOSED ? this.tClosed
        : this.tHandshake;
    } else {
      ttl = this.ttlFor(p, m);
    }
    this.recF[(e << 3) + C.F_EXPIRES] = now + ttl;
  }

  /** Records a (re-)judgement of a flow. */
  setVerdict(e: number, verdict: number, generation: number, egressCode: number, ingressCode: number): void {
    const o = e << 4;
    this.rec[o + C.R_META] = (this.rec[o + C.R_META]! & ~0xff00) | ((verdict & 0xff) << 8);
    this.rec[o + C.R_GEN] = generation | 0;
    this.codes[e << 1] = egressCode;
    this.codes[(e << 1) + 1] = ingressCode;
  }

  private unlink(e: number): void {
    const rec = this.rec;
    const b = this.bucketOf[e]!;
    let cur = this.head[b]!;
    const nextOfE = rec[(e << 4) + C.R_NEXT]!;
    if (cur === e) {
      this.head[b] = nextOfE;
    } else {
      while (cur !== -1) {
        const nx = rec[(cur << 4) + C.R_NEXT]!;
        if (nx === e) {
          rec[(cur << 4) + C.R_NEXT] = nextOfE;
          break;
        }
        cur = nx;
      }
    }
    rec[(e << 4) + C.R_NEXT] = -1;
    rec[(e << 4) + C.R_META] = 0;
    this.entries--;
  }

  /** Removes a live entry. */
  remove(e: number): void {
    if ((this.rec[(e << 4) + C.R_META]! & C.M_LIVE) === 0) return;
    this.unlink(e);
    this.freeStack[this.freeTop++] = e;
  }

  /** Incremental sweep: inspects up to `budget` entries from where the last sweep stopped; returns how many expired. */
  expire(now: number, budget = this.capacity): number {
    let n = 0;
    const cap = this.capacity;
    for (let i = 0; i < budget && i < cap; i++) {
      const e = this.sweepHand;
      this.sweepHand = e + 1 === cap ? 0 : e + 1;
      if ((this.rec[(e << 4) + C.R_META]! & C.M_LIVE) !== 0 && this.recF[(e << 3) + C.F_EXPIRES]! <= now) {
        this.remove(e);
        this.expirations++;
        n++;
      }
    }
    return n;
  }

  // ---- iteration (no allocation) ----------------------------------------------------------

  /** First live entry with index >= from, or -1: `for (let i = ct.nextLive(0); i !== -1; i = ct.nextLive(i + 1))`. */
  nextLive(from: number): number {
    const cap = this.capacity;
    const rec = this.rec;
    for (let i = from; i < cap; i++) if ((rec[(i << 4) + C.R_META]! & C.M_LIVE) !== 0) return i;
    return -1;
  }

  /** Removes every entry. */
  clear(): void {
    for (let e = 0; e < this.capacity; e++) this.remove(e);
  }
}
