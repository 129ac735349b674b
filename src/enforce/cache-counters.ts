// Exact counts for the verdict cache (verdict-cache.ts): which cached entry admitted how many
// connections, and on whose decision.
//
// The cache's sets are created with per-entry counters, and PALISADE-QUEUE only sees packets
// that open a connection (the connmark and ESTABLISHED rules before it take the rest of the
// flow), so an entry's packet counter is the number of connections it admitted (a retransmitted
// SYN already carries the allow connmark and never gets there). The agent keeps, per cached
// tuple, the decision that put it there (a ledger, bounded by the set size) and reads the
// counters off the packet path with `ipset save`: each new count is handed to a sink with that
// decision, so per-policy metrics and the verdict log count connections the agent never saw.
//
// Nothing counted may be lost when an entry leaves the kernel. Entries leave by being swapped
// out, never by a flush or a kernel timeout while the agent runs: the live set is exchanged
// atomically with an empty spare (ipsetSwap), and the spare, which no rule matches any more,
// is read at leisure and only then emptied. See VerdictCache for when swaps happen.

import { formatIP, parseIP } from '../net/address.ts';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ip-protocols.ts';

/** One cached (source, protocol:port, destination) as the kernel holds it. */
export interface CachedTuple {
  readonly family: 4 | 6;
  /** Address words as in src/net/address.ts (IPv4: one word). */
  readonly src: readonly number[];
  readonly dst: readonly number[];
  readonly proto: number;
  readonly port: number;
}

/**
 * The decision that created an entry: two opaque numbers (the agent's egress and ingress side
 * codes) and the context they mean something in (the agent's rule snapshot of that generation).
 */
export interface CachedDecision {
  readonly context: unknown;
  readonly egress: number;
  readonly ingress: number;
}

/** Receives the connections one entry admitted since its last read (off the packet path). */
export type CountSink = (decision: CachedDecision, tuple: CachedTuple, connections: number) => void;

export interface LedgerEntry {
  readonly tuple: CachedTuple;
  readonly decision: CachedDecision;
  /** When the agent put it in the cache (ms); it is not carried past the cache's lifetime. */
  readonly addedAt: number;
  /** Packets of the kernel counter already handed to the sink. */
  counted: number;
}

const PROTOS: Record<string, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };
/** Protocol names as ipset writes them in members (`tcp:80`). */
export const PROTO_NAMES: Record<number, string> = { [IPPROTO_TCP]: 'tcp', [IPPROTO_UDP]: 'udp', [IPPROTO_SCTP]: 'sctp' };

/**
 * Key of a tuple: the member as `ipset save` prints it ("10.0.0.1,tcp:80,10.0.0.2"; IPv6 in
 * RFC 5952 form, as both formatIP and the kernel's tool write it), so a read looks its lines up
 * without parsing addresses (a full set is 65536 lines a second). normalizeKey() is the fallback.
 */
export function tupleKey(family: 4 | 6, src: readonly number[], proto: number, port: number, dst: readonly number[]): string {
  const ip = (w: readonly number[]) => formatIP({ family: family === 4 ? 'IPv4' : 'IPv6', words: [...w] });
  return `${ip(src)},${PROTO_NAMES[proto] ?? proto}:${port},${ip(dst)}`;
}

/** A member text in canonical form (what tupleKey writes), or undefined when it is not one. */
export function normalizeKey(member: string): string | undefined {
  const m = /^(.+),([a-z0-9]+):(\d+),(.+)$/.exec(member);
  if (!m) return undefined;
  const src = parseIP(m[1]!), dst = parseIP(m[4]!);
  const proto = PROTOS[m[2]!] ?? Number(m[2]);
  if (!src || !dst || src.family !== dst.family || !Number.isInteger(proto)) return undefined;
  return tupleKey(src.family === 'IPv4' ? 4 : 6, src.words, proto, Number(m[3]), dst.words);
}

/**
 * The entries of one epoch of the live set: everything added between two swaps (or carried into
 * it at the last swap). An epoch belongs to one rule generation (context).
 */
export class Ledger {
  readonly entries = new Map<string, LedgerEntry>();
  constructor(readonly context: unknown, private readonly max: number) {}

  /** No room for another entry. */
  get full(): boolean {
    return this.entries.size >= this.max;
  }

  /** Remembers an entry just sent to the kernel. A tuple already there keeps its first decision (same generation: same verdict). */
  add(key: string, e: LedgerEntry): void {
    if (this.entries.has(key) || this.entries.size >= this.max) return;
    this.entries.set(key, e);
  }
}

/** Doublings of the read interval after reads that counted nothing (3: every 8 s at the default 1 s). */
export const QUIET_DOUBLINGS = 3;

/**
 * Milliseconds between two reads of a set's live counters: the interval asked for, spaced out so
 * that reads take at most about 5 % of the time (65536 entries are seconds of `ipset save` on a
 * busy host), and doubled after each of `quietReads` reads in a row that counted nothing, up to
 * QUIET_DOUBLINGS times. A read is a process start and a listing of every entry: kernel
 * admission's entries stay in their set at rest, and their two reads a second were most of an
 * idle agent's CPU (`agentIdleCpuMsPerSecond` of bench:e2e, 73-93 ms/s against 27 without
 * admission). The first connection after a quiet spell is counted that much later; a metrics
 * scrape reads first anyway. The verdict cache's and kernel admission's reads alike.
 */
export function readSpacingMs(intervalMs: number, lastReadMs: number, quietReads = 0): number {
  return Math.max(intervalMs * 2 ** Math.min(quietReads, QUIET_DOUBLINGS), 20 * lastReadMs);
}

export interface SavedEntry {
  readonly key: string;
  readonly packets: number;
}

/**
 * Parses `ipset save NAME` of a hash:ip,port,ip set with counters: lines like
 * `add NAME 10.0.0.1,tcp:80,10.0.0.2 timeout 29 packets 3 bytes 180`. Other lines (create) and
 * entries without a counter are skipped. Entries that counted nothing are left out.
 */
export function parseSavedCounters(text: string): SavedEntry[] {
  const out: SavedEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('add ')) continue;
    const at = line.indexOf(' packets ');
    if (at < 0) continue;
    const packets = parseInt(line.slice(at + 9), 10);
    if (!(packets > 0)) continue;
    const a = line.indexOf(' ', 4) + 1;
    const b = line.indexOf(' ', a);
    out.push({ key: line.slice(a, b < 0 ? undefined : b), packets });
  }
  return out;
}

/**
 * Hands each entry's new count to the sink. Returns the packets counted by entries the ledger
 * does not know (none while the agent alone fills the set).
 */
export function applyCounts(ledger: Ledger, saved: readonly SavedEntry[], sink: CountSink): number {
  let unknown = 0;
  for (const s of saved) {
    let e = ledger.entries.get(s.key);
    if (!e) {
      const k = normalizeKey(s.key);
      if (k !== undefined) e = ledger.entries.get(k);
    }
    if (!e) {
      unknown += s.packets;
      continue;
    }
    const d = s.packets - e.counted;
    if (d <= 0) continue;
    e.counted = s.packets;
    sink(e.decision, e.tuple, d);
  }
  return unknown;
}
