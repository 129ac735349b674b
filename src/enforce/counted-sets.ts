// Counted set epochs: the kernel sets the verdict cache (verdict-cache.ts) and kernel admission
// (admit-sets.ts) keep alike. Per family, a live ipset with per-entry counters, which the rules
// match, and spare sets `<live>-S<k>`, which no rule names.
//
// The live sets' entries between two swaps are an epoch, and its ledger (cache-counters.ts) names
// the decision behind each entry. An epoch ends with an exchange of every family's live set with
// spare k (ipsetSwap: one netlink request, run inside sendmsg, so when it returns the kernel has
// done it). The swapped-out epoch then sits in the spare, which no rule matches any more: its
// counters are read at leisure, and only then is the spare flushed and free again, so no count
// is lost. A plain flush of the live sets, which loses what was counted since their last read, is
// the fallback when every spare still waits for its read or the kernel refused the swap.
//
// Reads (the live sets' every readIntervalMs, spaced out by readSpacingMs; a swapped-out epoch's
// once) run one after another on a promise chain, off the packet path; a failed one is counted.

import type { NativeAddon } from './native.ts';
import { CommandError, mustRun, runCommand, type CommandPrefix, type CommandResult } from './command.ts';
import { applyCounts, parseSavedCounters, readSpacingMs, type CountSink, type Ledger } from './cache-counters.ts';
import { ipsetModuleHint, withHint } from './kernel-modules.ts';
import { destroyExistingSets } from './ipset-save.ts';

/** As rule-plan.ts's (a module above this one: it names the judged sets, which create theirs here). */
type Family = 4 | 6;

/**
 * A counting set: created, or taken over when a set of that name exists with other options (an
 * older agent's, still named by kept rules): a new set is swapped into its place (the kernel
 * only swaps sets of the same type and family). The verdict cache's and the admission sets'.
 */
export async function createCountingSet(name: string, family: Family, timeout: number, max: number, prefix?: CommandPrefix, type = 'hash:ip,port,ip'): Promise<void> {
  const opts = ['family', family === 4 ? 'inet' : 'inet6', 'timeout', String(timeout), 'maxelem', String(max), 'counters'];
  try {
    await createSet(name, type, opts, prefix);
  } catch (e) {
    if (!(e instanceof CommandError) || !/already exists/.test(e.stderr)) throw e;
    const tmp = takeoverName(name);
    await runCommand(['ipset', 'destroy', tmp], { prefix });
    await createSet(tmp, type, opts, prefix);
    await mustRun(['ipset', 'swap', name, tmp], { prefix });
    await mustRun(['ipset', 'destroy', tmp], { prefix });
  }
}

/** The set createCountingSet builds a takeover in: left behind only by an agent killed half way. */
const takeoverName = (name: string): string => `${name}-N`;

/** `ipset create -exist`; when the kernel lacks the set type, the error names its module (kernel-modules.ts). */
export async function createSet(name: string, type: string, options: readonly string[], prefix?: CommandPrefix): Promise<void> {
  try {
    await mustRun(['ipset', 'create', '-exist', name, type, ...options], { prefix });
  } catch (e) {
    throw e instanceof CommandError ? withHint(e, ipsetModuleHint(e.stderr, type)) : e;
  }
}

/** The owner's counters (its own fields or stats object), kept up to date here. */
export interface ReadCounters {
  /** Connections handed to onCounted. */
  counted: number;
  /** Sets whose counters were read (one `ipset save` each). */
  reads: number;
  /** Queued jobs that failed (a read, a spare's flush), and timer ticks that threw. */
  readErrors: number;
  /** When the owner keeps it: packets counted by entries the ledger did not know. */
  unknownPackets?: number;
}

/** Where the sets are; the owner picks the type, timeout and size when it creates them. */
export interface CountedSetsLayout {
  readonly families: readonly Family[];
  /** Each family's live set: the one the rules match. */
  readonly live: Readonly<Record<Family, string>>;
  /** Spare sets per family. */
  readonly spares: number;
  /** Prefix for the ipset tool (tests: ['ip', 'netns', 'exec', NS]). The netlink socket is the owner's. */
  readonly prefix?: CommandPrefix;
}

export interface CountedSetsOptions extends CountedSetsLayout {
  /** Receives the connections each entry admitted, with its decision; without it nothing is read. */
  readonly onCounted?: CountSink;
  /** How often the live sets' counters are read, in ms (before readSpacingMs spaces it out). */
  readonly readIntervalMs: number;
  readonly counters: ReadCounters;
  /** The first epoch's ledger. */
  readonly ledger: Ledger;
}

const spareName = (live: string, k: number): string => `${live}-S${k}`;

/**
 * Every set of a layout, spares first (the order they can be destroyed in: a rule names only the
 * live ones), with the takeover sets a killed agent may have left (never named by a rule).
 */
export function countedSetNames(layout: Pick<CountedSetsLayout, 'families' | 'live' | 'spares'>): string[] {
  const { families, live, spares } = layout;
  const kept = [...families.flatMap((f) => Array.from({ length: spares }, (_, k) => spareName(live[f], k))), ...families.map((f) => live[f])];
  return [...kept.map(takeoverName), ...kept];
}

export class CountedSets {
  /**
   * The live sets' epoch. The owner replaces it when the epoch ends (a swap or a flush) and adds
   * entries as it sends them to the kernel (only with onCounted: an empty ledger means nothing
   * to count).
   */
  ledger: Ledger;
  /** A spare is busy from when a swap fills it (or the owner claims it) until it is read and flushed. */
  private readonly busy: boolean[];
  private chain: Promise<void> = Promise.resolve();
  private liveReadQueued = false;
  private lastLiveRead = 0;
  private lastReadMs = 0;
  /** Live reads in a row that counted nothing (readSpacingMs backs off after them). */
  private quietReads = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly native: NativeAddon,
    private readonly fd: number,
    private readonly o: CountedSetsOptions,
  ) {
    this.ledger = o.ledger;
    this.busy = new Array<boolean>(o.spares).fill(false);
  }

  /** Creates (or takes over) every live and spare set of `layout` as counting sets of `type`. */
  static async create(layout: CountedSetsLayout, timeout: number, max: number, type: string): Promise<void> {
    for (const f of layout.families) {
      for (const name of [layout.live[f], ...Array.from({ length: layout.spares }, (_, k) => spareName(layout.live[f], k))]) {
        await createCountingSet(name, f, timeout, max, layout.prefix, type);
      }
    }
  }

  /** Family f's spare set k. */
  spare(f: Family, k: number): string {
    return spareName(this.o.live[f], k);
  }

  /** A free spare, now busy (the owner builds in it; release() or swap() hands it back), or -1. */
  claim(): number {
    const k = this.busy.indexOf(false);
    if (k >= 0) this.busy[k] = true;
    return k;
  }

  /** Empties spare k's sets and frees it (left busy if the flush fails: it must not go live). */
  release(k: number): void {
    this.flushSpare(k);
    this.busy[k] = false;
  }

  flushSpare(k: number): void {
    for (const f of this.o.families) this.native.ipsetFlush(this.fd, this.spare(f, k));
  }

  flushLive(): void {
    for (const f of this.o.families) this.native.ipsetFlush(this.fd, this.o.live[f]);
  }

  flushAll(): void {
    for (const f of this.o.families) {
      this.native.ipsetFlush(this.fd, this.o.live[f]);
      for (let k = 0; k < this.o.spares; k++) this.native.ipsetFlush(this.fd, this.spare(f, k));
    }
  }

  /**
   * Exchanges every family's live set with spare k, `fill`ing each family's spare just before its
   * swap (what goes on in the next epoch), then queues the read of what the spare now holds into
   * `old` (the epoch that ends), and the spare's flush. Throws if the kernel refused.
   */
  swap(k: number, old: Ledger, fill?: (f: Family, spare: string) => void): void {
    this.busy[k] = true;
    try {
      for (const f of this.o.families) {
        fill?.(f, this.spare(f, k));
        this.native.ipsetSwap(this.fd, this.o.live[f], this.spare(f, k));
      }
    } finally {
      // Whatever made it into the spare is read, then the spare is emptied and free again.
      this.queue(async () => {
        try {
          if (old.entries.size > 0) await this.read(this.o.families.map((f) => this.spare(f, k)), old);
        } finally {
          this.release(k);
        }
      });
    }
  }

  /** swap() with a free spare; false when every spare is still being read. */
  trySwap(old: Ledger, fill?: (f: Family, spare: string) => void): boolean {
    const k = this.busy.indexOf(false);
    if (k < 0) return false;
    this.swap(k, old, fill);
    return true;
  }

  /**
   * Empties the live sets, synchronously (netlink requests run inside sendmsg): swapped with a
   * free spare when `old`, the epoch that ends, holds entries (read afterwards: nothing lost),
   * else flushed. Throws if the kernel refused even the flush.
   */
  empty(old: Ledger, uncounted: () => void): void {
    // An empty ledger: no entries, or none counted (no onCounted): nothing to read, a flush does.
    if (old.entries.size > 0) {
      try {
        if (this.trySwap(old)) return;
      } catch {
        // Fall back to the plain flush below: emptying the live sets is what must not fail.
      }
      // Every spare busy, or the kernel refused: what was counted since the last read is lost.
      uncounted();
    }
    this.flushLive();
  }

  /** A timer tick's live read: queued when none is and readSpacingMs has passed since the last one. */
  readWhenDue(now: number): void {
    if (this.ledger.entries.size === 0 || this.liveReadQueued) return;
    if (now - this.lastLiveRead < readSpacingMs(this.o.readIntervalMs, this.lastReadMs, this.quietReads)) return;
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
      const counted = await this.read(this.o.families.map((f) => this.o.live[f]), ledger, () => this.ledger === ledger);
      this.lastReadMs = Date.now() - t0;
      this.quietReads = counted > 0 ? 0 : this.quietReads + 1;
    });
  }

  private queue(job: () => Promise<void>): void {
    this.chain = this.chain.then(job).catch(() => {
      this.o.counters.readErrors++;
    });
  }

  /**
   * Reads sets' counters into `ledger` (unless `still()` turned false meanwhile: the read may have
   * seen another epoch); returns the connections it counted. One `ipset save NAME` per set, so a
   * listing holds that set's members only: not saveSets (ipset-save.ts), which returns every set
   * should one be missing, where a verdict cache member can read like one of kernel admission's
   * (parseSavedCounters takes every `add` line it is given).
   */
  private async read(names: readonly string[], ledger: Ledger, still: () => boolean = () => true): Promise<number> {
    const c = this.o.counters, sink = this.o.onCounted!;
    let counted = 0;
    for (const name of names) {
      if (!still()) return counted;
      const r = await runCommand(['ipset', 'save', name], { prefix: this.o.prefix });
      if (r.code !== 0) throw new Error(`ipset save ${name}: ${r.stderr.trim()}`);
      c.reads++;
      if (!still()) return counted;
      const unknown = applyCounts(ledger, parseSavedCounters(r.stdout), (d, t, n) => {
        c.counted += n;
        counted += n;
        sink(d, t, n);
      });
      if (c.unknownPackets !== undefined) c.unknownPackets += unknown;
    }
    return counted;
  }

  /** Waits for the reads queued so far (tests, close). */
  async settled(): Promise<void> {
    await this.chain;
  }

  /** Reads the live counters now and waits for every queued read (metrics want them fresh; tests). */
  async readNow(): Promise<void> {
    // A live read queued and not started yet reads after this call anyway.
    if (this.o.onCounted && this.ledger.entries.size > 0 && !this.liveReadQueued) this.queueLiveRead();
    await this.chain;
  }

  /** Calls `tick` every `ms` (the timer keeps no process alive); a tick that throws counts as a read error. */
  every(ms: number, tick: () => void): void {
    this.timer = setInterval(() => {
      try {
        tick();
      } catch {
        this.o.counters.readErrors++; // a refused swap: the entries stay where they are and are read next time
      }
    }, ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  closeSocket(): void {
    this.native.ipsetClose(this.fd);
  }

  /**
   * Destroys every set in one tool run (a stop should be quick); spares first: a live set a rule
   * still names cannot be destroyed, and restore stops at the first failure. `run`: mustRun
   * throws on a failure, runCommand does not.
   */
  destroy(run: typeof runCommand, prefix = this.o.prefix): Promise<CommandResult> {
    return destroyExistingSets(countedSetNames(this.o), run, prefix);
  }
}
