// Kernel admission (NFQUEUE, RulePlan.kernelAdmit): the new connections the current rules allow,
// as (destination pod address, protocol:port, source network), precomputed by the agent for each
// rule generation and accepted by the kernel without the queue round trip (PALISADE-ADMIT,
// rule-plan.ts admitRules).
//
// The sets are hash:ip,port,net (this kernel has no hash:net,port,net), matched as
// `dst,dst,src`. The kernel tries the source prefixes present in the set from the most specific
// one down and the first entry found decides; a `nomatch` entry makes the lookup fail (ipset(8),
// "nomatch"), so a narrower exception inside a wider allowed network is one more entry. A port
// range is stored as one entry per port (ipset expands it on add), which is what maxEntries counts.
//
// A generation's entries never mix with another's: they are built in a spare set that no rule
// names, and the live set is exchanged with it in one netlink request per family (ipsetSwap runs
// inside sendmsg: when it returns, the kernel has done it). empty() does the same with an empty
// spare, synchronously, before the caller judges with new rules. The kernel's entry timeout only
// matters when the agent is gone: it bounds how long a dead agent's entries admit anything (the
// agent installs again well within it).
//
// Counting, as for the verdict cache (cache-counters.ts): each positive entry is a ledger key per
// port, exactly as `ipset save` prints the member, so the counts read from the sets' per-entry
// counters name the decision that admitted the connections. Only packets opening a connection
// reach PALISADE-ADMIT (the connmark rule accepts the rest of the flow earlier), so a packet count
// is a connection count. A swapped-out set is read once more before it is flushed: nothing is lost.
// A nomatch entry counts the packets it refused (checked on this kernel): those went on to the
// agent, which counts them itself; its key is never in the ledger, so applyCounts drops it.

import { loadNative, type NativeAddon } from './native.ts';
import { ADMIT_SETS, type Family } from './rule-plan.ts';
import { mustRun, type CommandPrefix } from './command.ts';
import { applyCounts, Ledger, PROTO_NAMES, readSpacingMs, type CachedDecision, type CountSink } from './cache-counters.ts';
import { saveSets, setMembersOf } from './ipset-save.ts';
import { createCountingSet } from './verdict-cache.ts';
import { formatIP, maskWords } from '../net/address.ts';

export { ADMIT_SETS };

/** Spare sets per family: one for an install being built, the others for swapped-out sets waiting for their read. */
const SPARES = 3;
const spareName = (f: Family, k: number): string => `${ADMIT_SETS[f]}-S${k}`;

export interface AdmitEntry {
  readonly family: 4 | 6;
  /** Local pod address words as in src/net/address.ts (IPv4: 1 word, IPv6: 4; uint32 or int32 bit patterns). */
  readonly dst: readonly number[];
  /** 6 tcp, 17 udp, 132 sctp only. */
  readonly proto: number;
  /** Inclusive, 1..65535. */
  readonly portFrom: number;
  /** Inclusive, >= portFrom. */
  readonly portTo: number;
  /** Source network address words (host bits are cleared, as the kernel does). */
  readonly src: readonly number[];
  /** 1..32 (IPv4) / 1..128 (IPv6): ipset refuses /0 in a net (callers split it into two /1). */
  readonly prefix: number;
  /** ipset `nomatch`: a more specific exception inside a wider positive entry. */
  readonly nomatch: boolean;
  /** Positive entries: the decision whose connections they admit (what their counts are handed on with). */
  readonly decision?: CachedDecision;
}

export interface AdmitSetsOptions {
  readonly families?: readonly Family[];
  /** Prefix for the ipset tool (tests: ['ip', 'netns', 'exec', NS]). The netlink socket is in this process's namespace. */
  readonly prefix?: CommandPrefix;
  /** Most entries per family, after port ranges are expanded (ipset maxelem; default 65536). */
  readonly maxEntries?: number;
  /** Kernel entry timeout in seconds (default 600): how long a dead agent's entries keep admitting. */
  readonly timeoutSeconds?: number;
  /** Receives the connections each positive entry admitted, with its decision. */
  readonly onCounted?: CountSink;
  /** How often the live sets' counters are read, in ms (default 1000). */
  readonly readIntervalMs?: number;
}

export interface AdmitStats {
  /** Entries in the live sets (all families, port ranges expanded, nomatch included). */
  entries: number;
  installs: number;
  stale: number;
  tooMany: number;
  empties: number;
  /** Connections handed to onCounted. */
  counted: number;
  reads: number;
  readErrors: number;
  /** Swaps that fell back to a flush (every spare busy, or the kernel refused): what was counted since the last read is lost. */
  uncounted: number;
}

export type InstallResult = 'installed' | 'stale' | 'too-many';

const PROTOS = new Set([6, 17, 132]);

/** The member text of one port, as `ipset save` prints it: hosts without /32 (/128), IPv6 per RFC 5952 (as formatIP). */
function memberText(f: Family, dst: readonly number[], proto: number, port: string, src: readonly number[], prefix: number): string {
  const ip = (w: readonly number[]) => formatIP({ family: f === 4 ? 'IPv4' : 'IPv6', words: w });
  return `${ip(dst)},${PROTO_NAMES[proto]}:${port},${ip(src)}${prefix === (f === 4 ? 32 : 128) ? '' : `/${prefix}`}`;
}

function checkEntry(e: AdmitEntry, families: readonly Family[]): void {
  const words = e.family === 4 ? 1 : 4, bits = e.family === 4 ? 32 : 128;
  const ok = families.includes(e.family) && e.dst.length === words && e.src.length === words && [...e.dst, ...e.src].every((w) => Number.isInteger(w) && w >= -0x80000000 && w <= 0xffffffff)
    && PROTOS.has(e.proto) && Number.isInteger(e.portFrom) && Number.isInteger(e.portTo) && e.portFrom >= 1 && e.portFrom <= e.portTo && e.portTo <= 65535
    && Number.isInteger(e.prefix) && e.prefix >= 1 && e.prefix <= bits;
  if (!ok) throw new RangeError(`not an admission entry for families ${families.join(',')}: ${JSON.stringify(e)}`);
}

export class AdmitSets {
  private readonly s: AdmitStats = { entries: 0, installs: 0, stale: 0, tooMany: 0, empties: 0, counted: 0, reads: 0, readErrors: 0, uncounted: 0 };
  /** The live sets' positive entries (only with onCounted). */
  private ledger: Ledger;
  /** A spare is busy from when an install takes it or a swap fills it until it is read and flushed. */
  private readonly busy = new Array<boolean>(SPARES).fill(false);
  private chain: Promise<void> = Promise.resolve();
  private installs: Promise<unknown> = Promise.resolve();
  private liveReadQueued = false;
  private lastLiveRead = 0;
  private lastReadMs = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** The socket is closed and the sets emptied (close()): nothing left to empty. */
  private released = false;

  private constructor(
    private readonly native: NativeAddon,
    private readonly fd: number,
    readonly families: readonly Family[],
    private readonly maxEntries: number,
    private readonly o: AdmitSetsOptions,
  ) {
    this.ledger = this.newLedger();
  }

  get stats(): Readonly<AdmitStats> {
    return this.s;
  }

  /** Creates (or takes over, emptied) the live and spare sets, and opens the netlink socket. */
  static async open(o: AdmitSetsOptions = {}): Promise<AdmitSets> {
    const timeout = o.timeoutSeconds ?? 600;
    if (!(Number.isInteger(timeout) && timeout >= 1 && timeout <= 2147483)) throw new RangeError(`admission timeout must be 1-2147483 s, got ${timeout}`);
    const max = o.maxEntries ?? 65536;
    if (!(Number.isInteger(max) && max >= 1 && max <= 1 << 24)) throw new RangeError(`admission set size must be 1-16777216 entries, got ${max}`);
    const every = o.readIntervalMs ?? 1000;
    if (!(every >= 10)) throw new RangeError(`admission read interval must be at least 10 ms, got ${every}`);
    const families = o.families ?? [4, 6];
    for (const f of families) {
      for (const name of [ADMIT_SETS[f], ...Array.from({ length: SPARES }, (_, k) => spareName(f, k))]) {
        await createCountingSet(name, f, timeout, max, o.prefix, 'hash:ip,port,net');
      }
    }
    const native = loadNative();
    const a = new AdmitSets(native, native.ipsetOpen(), families, max, o);
    try {
      // Entries of an earlier run were computed from rules this run has not seen.
      a.flushAll();
    } catch (e) {
      native.ipsetClose(a.fd);
      throw e;
    }
    if (o.onCounted) {
      a.timer = setInterval(() => {
        try {
          a.tick();
        } catch {
          a.s.readErrors++;
        }
      }, every);
      a.timer.unref();
    }
    return a;
  }

  /**
   * Nothing is admitted from when this returns (synchronous netlink requests): the live sets are
   * swapped with an empty spare, whose counters are read later, or flushed when no spare is free.
   * Throws if the kernel refused even the flush.
   */
  empty(): void {
    if (this.released) return;
    this.s.empties++;
    this.s.entries = 0;
    const old = this.ledger;
    this.ledger = this.newLedger();
    if (old.entries.size > 0) {
      const k = this.busy.indexOf(false);
      if (k >= 0) {
        try {
          this.swap(k, old);
          return;
        } catch {
          // Fall through: emptying the live sets is what must not fail.
        }
      }
      this.s.uncounted++;
    }
    for (const f of this.families) this.native.ipsetFlush(this.fd, ADMIT_SETS[f]);
  }

  /**
   * Makes `entries` the live sets' contents: built in a spare, then, if current() still says
   * they belong to the rules in force, swapped in for every family with no await in between.
   * 'stale': current() said no, nothing changed. 'too-many': a family's expanded count is over
   * maxEntries, nothing changed. Throws (live sets unchanged, or emptied if a swap failed
   * half-way) when the kernel refused.
   */
  install(entries: readonly AdmitEntry[], current: () => boolean): Promise<InstallResult> {
    // One at a time: each holds a spare while it builds, and the others stay free for empty().
    const p = this.installs.then(() => this.build(entries, current));
    this.installs = p.catch(() => {});
    return p;
  }

  private async build(entries: readonly AdmitEntry[], current: () => boolean): Promise<InstallResult> {
    if (this.closed) throw new Error('admission sets are closed');
    const count = new Map<Family, number>(this.families.map((f) => [f, 0]));
    for (const e of entries) {
      checkEntry(e, this.families);
      count.set(e.family, count.get(e.family)! + e.portTo - e.portFrom + 1);
    }
    if ([...count.values()].some((n) => n > this.maxEntries)) {
      this.s.tooMany++;
      return 'too-many';
    }
    let k = this.busy.indexOf(false);
    // Every spare waits for its read (empties in a row): the queued reads free them.
    for (let i = 0; k < 0 && i < 3; i++) {
      await this.chain;
      k = this.busy.indexOf(false);
    }
    if (k < 0) throw new Error('no free admission spare set (their flushes failed)');
    this.busy[k] = true;
    let swapped = false;
    try {
      const next = this.newLedger(), now = Date.now(), lines: string[] = [];
      for (const e of entries) {
        const src = maskWords(e.src, e.prefix), dst = e.dst.map((w) => w >>> 0);
        const ports = e.portFrom === e.portTo ? `${e.portFrom}` : `${e.portFrom}-${e.portTo}`;
        lines.push(`add ${spareName(e.family, k)} ${memberText(e.family, dst, e.proto, ports, src, e.prefix)}${e.nomatch ? ' nomatch' : ''}`);
        if (e.nomatch || !e.decision || !this.o.onCounted) continue;
        for (let port = e.portFrom; port <= e.portTo; port++) {
          next.add(memberText(e.family, dst, e.proto, String(port), src, e.prefix), { tuple: { family: e.family, src, dst, proto: e.proto, port }, decision: e.decision, addedAt: now, counted: 0 });
        }
      }
      for (const f of this.families) this.native.ipsetFlush(this.fd, spareName(f, k));
      // -exist: an entry listed twice (overlapping ranges) is no error.
      if (lines.length > 0) await mustRun(['ipset', 'restore', '-exist'], { prefix: this.o.prefix, input: lines.join('\n') + '\n' });
      if (this.closed || !current()) {
        this.s.stale++;
        return 'stale';
      }
      const old = this.ledger;
      swapped = true;
      try {
        this.swap(k, old);
      } catch (e) {
        // Half swapped: one family may hold the new entries, another the old. Neither may stay.
        this.ledger = this.newLedger();
        this.s.entries = 0;
        this.s.uncounted++;
        for (const f of this.families) this.native.ipsetFlush(this.fd, ADMIT_SETS[f]);
        throw e;
      }
      this.ledger = next;
      this.s.entries = [...count.values()].reduce((a, b) => a + b, 0);
      this.s.installs++;
      return 'installed';
    } finally {
      if (!swapped) {
        // Not swapped in: emptied and free again (left busy if the flush fails: it must not go live).
        for (const f of this.families) this.native.ipsetFlush(this.fd, spareName(f, k));
        this.busy[k] = false;
      }
    }
  }

  /** Exchanges the live sets with spare k (busy), then queues the read of what it now holds, and its flush. */
  private swap(k: number, old: Ledger): void {
    this.busy[k] = true;
    try {
      for (const f of this.families) this.native.ipsetSwap(this.fd, ADMIT_SETS[f], spareName(f, k));
    } finally {
      // Whatever was swapped out is read, then the spare is emptied and free again.
      this.queue(async () => {
        try {
          if (old.entries.size > 0) await this.read(this.families.map((f) => spareName(f, k)), old);
        } finally {
          for (const f of this.families) this.native.ipsetFlush(this.fd, spareName(f, k));
          this.busy[k] = false;
        }
      });
    }
  }

  /** Every readIntervalMs: a read of the live sets' counters (spaced out when reads are slow: readSpacingMs). */
  private tick(): void {
    const now = Date.now();
    if (this.closed || this.ledger.entries.size === 0 || this.liveReadQueued) return;
    if (now - this.lastLiveRead < readSpacingMs(this.o.readIntervalMs ?? 1000, this.lastReadMs)) return;
    this.lastLiveRead = now;
    this.queueLiveRead();
  }

  private queueLiveRead(): void {
    const ledger = this.ledger;
    this.liveReadQueued = true;
    this.queue(async () => {
      this.liveReadQueued = false;
      const t0 = Date.now();
      // A swap since this was queued: those entries are read from their spare instead.
      if (this.ledger === ledger) await this.read(this.families.map((f) => ADMIT_SETS[f]), ledger, () => this.ledger === ledger);
      this.lastReadMs = Date.now() - t0;
    });
  }

  private queue(job: () => Promise<void>): void {
    this.chain = this.chain.then(job).catch(() => {
      this.s.readErrors++;
    });
  }

  /**
   * Reads sets' counters into `ledger` (unless `still()` turned false meanwhile: the listing may
   * show another epoch). Members are taken per set name: should a set be missing, saveSets
   * returns every set, and a verdict cache member can read like one of ours.
   */
  private async read(names: readonly string[], ledger: Ledger, still: () => boolean = () => true): Promise<void> {
    const text = await saveSets(names, this.o.prefix);
    this.s.reads++;
    if (!still()) return;
    const sink = this.o.onCounted!;
    const saved = names.flatMap((n) => setMembersOf(text, n)).filter((m) => m.packets > 0);
    applyCounts(ledger, saved, (d, t, n) => {
      this.s.counted += n;
      sink(d, t, n);
    });
  }

  /** Reads the live counters now and waits for every queued read (metrics want them fresh; tests). */
  async readNow(): Promise<void> {
    if (this.o.onCounted && this.ledger.entries.size > 0 && !this.liveReadQueued) this.queueLiveRead();
    await this.chain;
  }

  private newLedger(): Ledger {
    // Room for every positive entry of every family (each family's are at most maxEntries).
    return new Ledger(undefined, this.maxEntries * this.families.length);
  }

  private flushAll(): void {
    for (const f of this.families) {
      this.native.ipsetFlush(this.fd, ADMIT_SETS[f]);
      for (let k = 0; k < SPARES; k++) this.native.ipsetFlush(this.fd, spareName(f, k));
    }
  }

  /**
   * Stops the timer, reads the last counts and destroys the sets (remove the iptables rules that
   * name them first: the kernel refuses to destroy a set in use). They are emptied before, so if
   * the destroy fails nothing is admitted anyway.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.installs;
    await this.readNow().catch(() => {});
    try {
      this.flushAll();
    } finally {
      this.released = true;
      this.native.ipsetClose(this.fd);
    }
    this.s.entries = 0;
    // Spares first: restore stops at the first failure, and a live set a rule still names fails.
    const names = [...this.families.flatMap((f) => Array.from({ length: SPARES }, (_, k) => spareName(f, k))), ...this.families.map((f) => ADMIT_SETS[f])];
    await mustRun(['ipset', 'restore'], { prefix: this.o.prefix, input: names.map((n) => `destroy ${n}\n`).join('') });
  }
}
