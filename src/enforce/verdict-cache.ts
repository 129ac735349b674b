// The verdict cache (NFQUEUE, on by default, `--no-verdict-cache` to turn it off): new
// connections whose verdict the agent already gave in the current rule generation are accepted by
// the kernel without a trip to userspace.
//
// Why it is exact: a new connection's verdict is a function of (source address, destination
// address, protocol, destination port) and the rule generation alone (engine-api.ts judge4/6; the
// source port never matters to NetworkPolicy). So once the agent allowed a SYN from A to B:80,
// every later connection A -> B:80 gets the same answer until the rules change. The agent records
// each allowed tuple (from its second connection: see Admission below) in an ipset of type
// hash:ip,port,ip (src, proto:port, dst; one set per family); PALISADE-QUEUE matches the set
// before the queue (iptables.ts) and accepts with the allow connmark, so strict mode and the
// rest of the flow treat such connections exactly like ones the agent accepted itself.
//
// When the rules change, the live sets are emptied BEFORE the new snapshot is used (flush()
// returns once the kernel has done it: netlink requests run inside sendmsg), so no verdict of an
// older generation admits a packet afterwards. Only allows are cached: denials keep going to the
// agent, which logs and counts them.
//
// Counting (cache-counters.ts): the sets count packets per entry, and the agent reads the counts
// every readIntervalMs and hands them, with the decision that created the entry, to onCounted,
// so per-policy allow counts and --log-allowed include the connections the kernel admitted.
// Entries leave the live set only by an atomic swap with an empty spare set (flush() for a new
// generation; a rotation, for entries older than timeoutSeconds), and the spare is read before
// it is emptied, so no count is lost. The kernel's own timeout (timeoutSeconds + a quarter + 5 s)
// only matters when the agent is gone: it bounds how long a dead agent's entries admit anything.
//
// Admission (cache-admission.ts): a tuple is cached only the second time it is judged allowed
// within timeoutSeconds, so connections that never repeat their tuple cost no kernel add, no
// ledger entry and no counter reads.

import { loadNative, type NativeAddon } from './native.ts';
import { CACHE_SETS, type Family } from './iptables.ts';
import { runCommand, type CommandPrefix } from './command.ts';
import { Ledger, tupleKey, type CountSink, type LedgerEntry } from './cache-counters.ts';
import { CountedSets, countedSetNames, type CountedSetsLayout } from './counted-sets.ts';
import { destroyExistingSets } from './ipset-save.ts';
import type { PacketInfo } from '../dataplane/packet-info.ts';
import { protocolHasPorts } from '../net/ip-protocols.ts';
import { CacheAdmission, tupleHash4, tupleHash6 } from './cache-admission.ts';

const ENTRY = 10;

export interface VerdictCacheOptions {
  /** Seconds an entry lives (default 30): rotated out between this and 1.25 times this after the agent added it. */
  readonly timeoutSeconds?: number;
  /** Most entries per set (ipset maxelem; default 65536). A full set refuses adds: those connections are judged in userspace. */
  readonly maxEntries?: number;
  /** Prefix for the ipset tool (tests: ['ip', 'netns', 'exec', NS]). The netlink socket is in this process's namespace. */
  readonly prefix?: CommandPrefix;
  readonly families?: readonly Family[];
  /** Receives the connections each entry admitted, with the decision that created it (exact allow counts). */
  readonly onCounted?: CountSink;
  /** What the first generation's decisions mean something in (the agent's rule snapshot); flush() takes the next. */
  readonly context?: unknown;
  /** How often the live counters are read, in ms (default 1000; rotations are checked every second regardless). */
  readonly readIntervalMs?: number;
}

/** Spare sets per family: each holds one swapped-out epoch until it has been read. */
const SPARES = 4;
/** The live set of each family and its spares `<live>-S<k>` (counted-sets.ts). */
const layout = (families: readonly Family[], prefix?: CommandPrefix): CountedSetsLayout => ({ families, live: CACHE_SETS, spares: SPARES, prefix });

/**
 * Destroys the cache's sets where they are, with no cache open (a killed agent's: `palisade
 * cleanup`); close({ destroy }) removes the same ones. Remove the rules that name them first.
 */
export function destroyVerdictCacheSets(families: readonly Family[], prefix?: CommandPrefix, run: typeof runCommand = runCommand): Promise<unknown> {
  return destroyExistingSets(cacheSetNames(families), run, prefix);
}

/** Every set of the cache, spares first. */
export function cacheSetNames(families: readonly Family[]): string[] {
  return countedSetNames(layout(families));
}

/** The kernel timeout of entries: longer than the agent keeps them (see the header), so only a dead agent's entries expire there. */
export function kernelTimeout(seconds: number): number {
  return seconds + Math.ceil(seconds / 4) + 5;
}

export class VerdictCache {
  /** Seconds the agent keeps an entry (at least; see rotate()). */
  readonly timeoutSeconds: number;
  /** Seconds an entry lives in the kernel after its last (re)add: what a dead agent's entries are bounded by. */
  get kernelTimeoutSeconds(): number {
    return kernelTimeout(this.timeoutSeconds);
  }
  /** Entries handed to the kernel, flushes (generation changes), and adds the kernel refused (full set, ...). */
  added = 0;
  flushes = 0;
  addFailures = 0;
  /** Connections the kernel admitted from the cache, as read from the counters. */
  counted = 0;
  /** Counter reads, failed reads, rotations (swaps that keep young entries). */
  reads = 0;
  readErrors = 0;
  rotations = 0;
  /** Generation flushes done without a free spare set: what the entries counted since the last read is lost (reads pile up). */
  uncountedFlushes = 0;
  /** Packets counted by entries the agent did not know (none expected). */
  unknownPackets = 0;
  /** Allowed connections whose tuple was not cached: its first sighting in the window (cache-admission.ts). */
  get deferred(): number {
    return this.admission.deferred;
  }
  private readonly admission: CacheAdmission;
  private readonly pending: { readonly 4: Int32Array; readonly 6: Int32Array };
  private readonly tags: { readonly 4: Int32Array; readonly 6: Int32Array };
  private n4 = 0;
  private n6 = 0;
  private readonly cap: number;
  /** The live sets, their spares and the live epoch's ledger (counted-sets.ts). */
  private readonly sets: CountedSets;
  private lastRotation = Date.now();
  private closed = false;

  private constructor(
    private readonly native: NativeAddon,
    private readonly fd: number,
    readonly families: readonly Family[],
    timeoutSeconds: number,
    private readonly maxEntries: number,
    private readonly o: VerdictCacheOptions,
    cap = 256,
  ) {
    this.timeoutSeconds = timeoutSeconds;
    this.cap = cap;
    this.pending = { 4: new Int32Array(cap * ENTRY), 6: new Int32Array(cap * ENTRY) };
    this.tags = { 4: new Int32Array(cap * 2), 6: new Int32Array(cap * 2) };
    this.sets = new CountedSets(native, fd, {
      ...layout(families, o.prefix), onCounted: o.onCounted, readIntervalMs: o.readIntervalMs ?? 1000, counters: this, ledger: new Ledger(o.context, maxEntries),
    });
    this.admission = new CacheAdmission(timeoutSeconds * 1000);
  }

  /** Creates (or takes over, emptied) the sets and opens the netlink socket. */
  static async open(o: VerdictCacheOptions = {}): Promise<VerdictCache> {
    const timeout = o.timeoutSeconds ?? 30;
    if (!(Number.isInteger(timeout) && timeout >= 1 && timeout <= 86400)) throw new RangeError(`verdict cache timeout must be 1-86400 s, got ${timeout}`);
    const max = o.maxEntries ?? 65536;
    if (!(Number.isInteger(max) && max >= 16 && max <= 1 << 24)) throw new RangeError(`verdict cache size must be 16-16777216 entries, got ${max}`);
    const families = o.families ?? [4, 6];
    await CountedSets.create(layout(families, o.prefix), kernelTimeout(timeout), max, 'hash:ip,port,ip');
    const native = loadNative();
    const c = new VerdictCache(native, native.ipsetOpen(), families, timeout, max, o);
    // Entries of an earlier run were judged by rules this run has not seen.
    c.emptyAll();
    if (o.onCounted) c.sets.every(Math.min(o.readIntervalMs ?? 1000, 1000), () => c.tick());
    return c;
  }

  /**
   * Remembers an allowed new connection (the classifier's parsed packet) and the decision's two
   * side codes; sent to the kernel by commit() if the tuple was admitted (its second sighting,
   * cache-admission.ts). TCP, UDP and SCTP only. Allocates nothing.
   */
  record(info: PacketInfo, egress: number, ingress: number): void {
    const p = info.proto;
    if (!protocolHasPorts(p)) return;
    if (info.family === 4) {
      if (!this.admission.admit(tupleHash4(info.src4, info.dst4, p, info.dstPort))) return;
      if (this.n4 === this.cap) this.commit();
      const a = this.pending[4], k = this.n4++, o = k * ENTRY;
      a[o] = info.src4 | 0; a[o + 4] = info.dst4 | 0; a[o + 8] = p; a[o + 9] = info.dstPort;
      this.tags[4][2 * k] = egress; this.tags[4][2 * k + 1] = ingress;
    } else {
      if (!this.admission.admit(tupleHash6(info.src6a, info.src6b, info.src6c, info.src6d, info.dst6a, info.dst6b, info.dst6c, info.dst6d, p, info.dstPort))) return;
      if (this.n6 === this.cap) this.commit();
      const a = this.pending[6], k = this.n6++, o = k * ENTRY;
      a[o] = info.src6a | 0; a[o + 1] = info.src6b | 0; a[o + 2] = info.src6c | 0; a[o + 3] = info.src6d | 0;
      a[o + 4] = info.dst6a | 0; a[o + 5] = info.dst6b | 0; a[o + 6] = info.dst6c | 0; a[o + 7] = info.dst6d | 0;
      a[o + 8] = p; a[o + 9] = info.dstPort;
      this.tags[6][2 * k] = egress; this.tags[6][2 * k + 1] = ingress;
    }
  }

  /**
   * Sends what record() collected (the enforcer calls this after each batch). With counting, each
   * entry also goes into the ledger: that allocates, once per cached tuple (on its second judged
   * connection, see record()), never for the connections the cache admits. Also ages the
   * admission table (once per batch: a clock read).
   */
  commit(): void {
    this.admission.age(Date.now());
    if (this.n4 > 0 && this.families.includes(4)) this.send(4, this.n4);
    if (this.n6 > 0 && this.families.includes(6)) this.send(6, this.n6);
    this.n4 = 0;
    this.n6 = 0;
  }

  private send(f: Family, n: number): void {
    // With counting, only entries the ledger holds go to the kernel (see remember()).
    const m = this.o.onCounted ? this.remember(f, n) : n;
    if (m === 0) return;
    this.addFailures += this.native.ipsetAdd(this.fd, CACHE_SETS[f], f, this.pending[f], m, kernelTimeout(this.timeoutSeconds));
    this.added += m;
  }

  /**
   * Puts the pending entries into the ledger and returns how many of them to send, moved to the
   * front of the pending rows. A tuple the ledger already holds is sent again (the kernel may
   * have refused it before) without a new entry; one it has no room for (the ledger holds both
   * families, each kernel set one: it can fill up while a set has room) is not sent: the kernel
   * would admit connections on it that no count could name. Those go on being judged here.
   */
  private remember(f: Family, n: number): number {
    const a = this.pending[f], t = this.tags[f], now = Date.now(), w = f === 4 ? 1 : 4, ledger = this.sets.ledger;
    let kept = 0;
    for (let k = 0; k < n; k++) {
      const o = k * ENTRY;
      const src: number[] = [], dst: number[] = [];
      for (let i = 0; i < w; i++) {
        src.push(a[o + i]! >>> 0);
        dst.push(a[o + 4 + i]! >>> 0);
      }
      const proto = a[o + 8]!, port = a[o + 9]!;
      const key = tupleKey(f, src, proto, port, dst);
      if (!ledger.entries.has(key)) {
        if (ledger.full) continue;
        ledger.add(key, {
          tuple: { family: f, src, dst, proto, port }, decision: { context: ledger.context, egress: t[2 * k]!, ingress: t[2 * k + 1]! }, addedAt: now, counted: 0,
        });
      }
      if (kept !== k) {
        a.copyWithin(kept * ENTRY, o, o + ENTRY);
        t[2 * kept] = t[2 * k]!; t[2 * kept + 1] = t[2 * k + 1]!;
      }
      kept++;
    }
    return kept;
  }

  /**
   * Forgets every cached verdict, synchronously (call before new rules take effect; `context` is
   * what the next generation's decisions mean something in). Throws if the kernel refused. With
   * counting, the live sets are swapped with empty spares and read afterwards (nothing lost).
   */
  flush(context?: unknown): void {
    this.n4 = 0;
    this.n6 = 0;
    const old = this.sets.ledger;
    this.sets.ledger = new Ledger(context ?? old.context, this.maxEntries);
    this.flushes++;
    // With counting, an empty ledger means empty live sets (only the agent adds entries): nothing
    // to count. Without, the ledger stays empty: the sets are flushed.
    this.sets.empty(old, () => this.uncountedFlushes++);
  }

  /** Adds family f's `carried` entries (the next epoch's) to `spare`, before it is swapped in. */
  private addCarried(f: Family, spare: string, carried: readonly LedgerEntry[]): void {
    const mine = carried.filter((e) => e.tuple.family === f);
    if (mine.length === 0) return;
    const a = new Int32Array(mine.length * ENTRY);
    mine.forEach((e, i) => {
      const o = i * ENTRY, t = e.tuple;
      for (let j = 0; j < t.src.length; j++) { a[o + j] = t.src[j]! | 0; a[o + 4 + j] = t.dst[j]! | 0; }
      a[o + 8] = t.proto; a[o + 9] = t.port;
    });
    this.addFailures += this.native.ipsetAdd(this.fd, spare, f, a, mine.length, kernelTimeout(this.timeoutSeconds));
  }

  /** Each second: a rotation when entries are due to leave, else (every readIntervalMs) a read of the live sets' counters. */
  private tick(): void {
    if (this.closed || this.sets.ledger.entries.size === 0) return;
    const now = Date.now(), life = this.timeoutSeconds * 1000;
    let due = false;
    for (const e of this.sets.ledger.entries.values()) if (now - e.addedAt >= life) { due = true; break; }
    if (due && now - this.lastRotation >= life / 4) {
      this.rotate(now);
      return;
    }
    this.sets.readWhenDue(now);
  }

  /** Swaps out every entry; those younger than timeoutSeconds go on in the new live set, counted from zero. */
  private rotate(now: number): void {
    const old = this.sets.ledger;
    const next = new Ledger(old.context, this.maxEntries);
    const carried: LedgerEntry[] = [];
    for (const [key, e] of old.entries) {
      if (now - e.addedAt >= this.timeoutSeconds * 1000) continue;
      const c = { tuple: e.tuple, decision: e.decision, addedAt: e.addedAt, counted: 0 };
      next.add(key, c);
      carried.push(c);
    }
    this.sets.ledger = next;
    let swapped = false;
    try {
      // The young entries go into the spare that becomes the live set.
      swapped = this.sets.trySwap(old, (f, spare) => this.addCarried(f, spare, carried));
    } finally {
      // Every spare busy (or the kernel refused): the entries stay where they are, to be rotated
      // at a later tick (the kernel keeps them longer than that, see kernelTimeout).
      if (!swapped) this.sets.ledger = old;
    }
    if (!swapped) return;
    this.lastRotation = now;
    this.rotations++;
  }

  /** Waits for the reads queued so far (tests, close). */
  async settled(): Promise<void> {
    await this.sets.settled();
  }

  /** Reads the live counters now and waits for every queued read (metrics want them fresh; tests). */
  async readNow(): Promise<void> {
    await this.sets.readNow();
  }

  private emptyAll(): void {
    this.sets.flushAll();
    this.flushes++;
  }

  /**
   * Closes the socket; with `destroy`, removes the sets (after the iptables rules that use them
   * are gone). Without it the rules stay (--keep-rules): the sets are emptied first, so while no
   * agent listens nothing is admitted on an old verdict (fail-closed, as without the cache).
   * The last counts are read first.
   */
  async close(o: { destroy: boolean; prefix?: CommandPrefix }): Promise<void> {
    this.closed = true;
    this.sets.stop();
    await this.readNow().catch(() => {});
    if (!o.destroy) {
      try {
        this.emptyAll();
      } finally {
        this.sets.closeSocket();
      }
      return;
    }
    this.sets.closeSocket();
    await this.sets.destroy(runCommand, o.prefix);
  }
}
