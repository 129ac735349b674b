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
import { ADMIT_RETURN_SETS, ADMIT_SETS, type Family } from './rule-plan.ts';
import { mustRun, runCommand, type CommandPrefix } from './command.ts';
import { destroyExistingSets } from './ipset-save.ts';
import { Ledger, PROTO_NAMES, type CachedDecision, type CountSink } from './cache-counters.ts';
import { CountedSets, countedSetNames, createSet, type CountedSetsLayout } from './counted-sets.ts';
import { formatIP, maskWords } from '../net/address.ts';

export { ADMIT_RETURN_SETS, ADMIT_SETS };

/** Each return set's spare: the next install's return set is built there, then swapped in. */
const returnSpare = (f: Family): string => `${ADMIT_RETURN_SETS[f]}-S`;
/** Most return set members per family (every pod and node address of the cluster's pod ranges, and the ranges). */
export const RETURN_MAX = 1 << 21;

/** Spare sets per family: one for an install being built, the others for swapped-out sets waiting for their read. */
const SPARES = 3;
/** The live set of each family and its spares `<live>-S<k>` (counted-sets.ts). */
const layout = (families: readonly Family[], prefix?: CommandPrefix): CountedSetsLayout => ({ families, live: ADMIT_SETS, spares: SPARES, prefix });

/** Every set of kernel admission, in the order they can be destroyed: spares first (counted-sets.ts), then what the rules name. */
export function admitSetNames(families: readonly Family[]): string[] {
  return [...countedSetNames(layout(families)), ...families.map(returnSpare), ...families.map((f) => ADMIT_RETURN_SETS[f])];
}

/**
 * Destroys kernel admission's sets that exist, with or without an AdmitSets open (close() and a
 * killed agent's `palisade cleanup`); the rules naming them must be gone first.
 */
export function destroyAdmitSets(families: readonly Family[], prefix?: CommandPrefix, run: typeof runCommand = runCommand): Promise<unknown> {
  return destroyExistingSets(admitSetNames(families), run, prefix);
}

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

/**
 * A member of a return set (hash:net, matched on the source): a network the queue judges, or,
 * `nomatch`, an address inside one that the entries judge (the kernel's most specific prefix
 * decides, as in the admission sets).
 */
export interface ReturnEntry {
  readonly family: Family;
  /** Address words as in src/net/address.ts (host bits clear). */
  readonly words: readonly number[];
  /** 1..32 (IPv4) / 1..128 (IPv6). */
  readonly prefix: number;
  readonly nomatch: boolean;
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

function checkReturn(e: ReturnEntry, families: readonly Family[]): void {
  const words = e.family === 4 ? 1 : 4, bits = e.family === 4 ? 32 : 128;
  const ok = families.includes(e.family) && e.words.length === words && e.words.every((w) => Number.isInteger(w) && w >= -0x80000000 && w <= 0xffffffff)
    && Number.isInteger(e.prefix) && e.prefix >= 1 && e.prefix <= bits;
  if (!ok) throw new RangeError(`not a return set member for families ${families.join(',')}: ${JSON.stringify(e)}`);
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
  /**
   * The live sets and their spares (counted-sets.ts); its ledger holds the live sets' positive
   * entries (only with onCounted). An install takes a spare to build in (claim()).
   */
  private readonly sets: CountedSets;
  private installs: Promise<unknown> = Promise.resolve();
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
    this.sets = new CountedSets(native, fd, {
      ...layout(families, o.prefix), onCounted: o.onCounted, readIntervalMs: o.readIntervalMs ?? 1000, counters: this.s, ledger: this.newLedger(),
    });
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
    await CountedSets.create(layout(families, o.prefix), timeout, max, 'hash:ip,port,net');
    for (const f of families) {
      for (const name of [ADMIT_RETURN_SETS[f], returnSpare(f)]) {
        await createSet(name, 'hash:net', ['family', f === 4 ? 'inet' : 'inet6', 'maxelem', String(RETURN_MAX)], o.prefix);
      }
    }
    const native = loadNative();
    const a = new AdmitSets(native, native.ipsetOpen(), families, max, o);
    try {
      // Entries of an earlier run were computed from rules this run has not seen.
      a.sets.flushAll();
      a.flushReturns();
    } catch (e) {
      a.sets.closeSocket();
      throw e;
    }
    if (o.onCounted) a.sets.every(every, () => a.tick());
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
    const old = this.sets.ledger;
    this.sets.ledger = this.newLedger();
    this.sets.empty(old, () => this.s.uncounted++);
  }

  /**
   * Makes `entries` the live sets' contents: built in a spare, then, if current() still says
   * they belong to the rules in force, swapped in for every family with no await in between.
   * 'stale': current() said no, nothing changed. 'too-many': a family's expanded count is over
   * maxEntries, nothing changed. Throws (live sets unchanged, or emptied if a swap failed
   * half-way) when the kernel refused.
   */
  install(entries: readonly AdmitEntry[], current: () => boolean, returns: readonly ReturnEntry[] = []): Promise<InstallResult> {
    // One at a time: each holds a spare while it builds, and the others stay free for empty().
    const p = this.installs.then(() => this.build(entries, current, returns));
    this.installs = p.catch(() => {});
    return p;
  }

  private async build(entries: readonly AdmitEntry[], current: () => boolean, returns: readonly ReturnEntry[]): Promise<InstallResult> {
    if (this.closed) throw new Error('admission sets are closed');
    const count = new Map<Family, number>(this.families.map((f) => [f, 0]));
    for (const e of entries) {
      checkEntry(e, this.families);
      count.set(e.family, count.get(e.family)! + e.portTo - e.portFrom + 1);
    }
    const returned = new Map<Family, number>(this.families.map((f) => [f, 0]));
    for (const e of returns) {
      checkReturn(e, this.families);
      returned.set(e.family, returned.get(e.family)! + 1);
    }
    if ([...count.values()].some((n) => n > this.maxEntries) || [...returned.values()].some((n) => n > RETURN_MAX)) {
      this.s.tooMany++;
      return 'too-many';
    }
    let k = this.sets.claim();
    // Every spare waits for its read (empties in a row): the queued reads free them.
    for (let i = 0; k < 0 && i < 3; i++) {
      await this.sets.settled();
      k = this.sets.claim();
    }
    if (k < 0) throw new Error('no free admission spare set (their flushes failed)');
    let swapped = false;
    try {
      const next = this.newLedger(), now = Date.now(), lines: string[] = [];
      for (const e of entries) {
        const src = maskWords(e.src, e.prefix), dst = e.dst.map((w) => w >>> 0);
        const ports = e.portFrom === e.portTo ? `${e.portFrom}` : `${e.portFrom}-${e.portTo}`;
        lines.push(`add ${this.sets.spare(e.family, k)} ${memberText(e.family, dst, e.proto, ports, src, e.prefix)}${e.nomatch ? ' nomatch' : ''}`);
        if (e.nomatch || !e.decision || !this.o.onCounted) continue;
        for (let port = e.portFrom; port <= e.portTo; port++) {
          next.add(memberText(e.family, dst, e.proto, String(port), src, e.prefix), { tuple: { family: e.family, src, dst, proto: e.proto, port }, decision: e.decision, addedAt: now, counted: 0 });
        }
      }
      for (const e of returns) {
        const bits = e.family === 4 ? 32 : 128, ip = formatIP({ family: e.family === 4 ? 'IPv4' : 'IPv6', words: maskWords(e.words, e.prefix) });
        lines.push(`add ${returnSpare(e.family)} ${ip}${e.prefix === bits ? '' : `/${e.prefix}`}${e.nomatch ? ' nomatch' : ''}`);
      }
      this.sets.flushSpare(k);
      this.flushReturnSpares();
      // -exist: an entry listed twice (overlapping ranges) is no error.
      if (lines.length > 0) await mustRun(['ipset', 'restore', '-exist'], { prefix: this.o.prefix, input: lines.join('\n') + '\n' });
      if (this.closed || !current()) {
        this.s.stale++;
        return 'stale';
      }
      const old = this.sets.ledger;
      swapped = true;
      try {
        // The return sets first: the entries swapped out were built for the same rules (a new
        // snapshot empties them, empty(), before its build), so for a moment new return sets
        // with old entries answer as the old pair did.
        for (const f of this.families) this.native.ipsetSwap(this.fd, ADMIT_RETURN_SETS[f], returnSpare(f));
        // What it held is read, then spare k is flushed and free again.
        this.sets.swap(k, old);
      } catch (e) {
        // Half swapped: one family may hold the new entries, another the old. Neither may stay.
        this.sets.ledger = this.newLedger();
        this.s.entries = 0;
        this.s.uncounted++;
        this.sets.flushLive();
        throw e;
      }
      this.sets.ledger = next;
      this.s.entries = [...count.values()].reduce((a, b) => a + b, 0);
      this.s.installs++;
      return 'installed';
    } finally {
      // Not swapped in: emptied and free again (left busy if the flush fails: it must not go live).
      if (!swapped) this.sets.release(k);
      // Swapped or not, the return spares hold nothing anyone matches (the last install's or this one's).
      this.flushReturnSpares();
    }
  }

  /** Every readIntervalMs: a read of the live sets' counters (spaced out when reads are slow: readSpacingMs). */
  private tick(): void {
    if (!this.closed) this.sets.readWhenDue(Date.now());
  }

  /** Reads the live counters now and waits for every queued read (metrics want them fresh; tests). */
  async readNow(): Promise<void> {
    await this.sets.readNow();
  }

  private flushReturns(): void {
    for (const f of this.families) this.native.ipsetFlush(this.fd, ADMIT_RETURN_SETS[f]);
    this.flushReturnSpares();
  }

  private flushReturnSpares(): void {
    for (const f of this.families) this.native.ipsetFlush(this.fd, returnSpare(f));
  }

  private newLedger(): Ledger {
    // Room for every positive entry of every family (each family's are at most maxEntries).
    return new Ledger(undefined, this.maxEntries * this.families.length);
  }

  /**
   * Stops the timer, reads the last counts and destroys the sets (remove the iptables rules that
   * name them first: the kernel refuses to destroy a set in use). They are emptied before, so if
   * the destroy fails nothing is admitted anyway.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sets.stop();
    await this.installs;
    await this.readNow().catch(() => {});
    try {
      this.sets.flushAll();
    } finally {
      this.released = true;
      this.sets.closeSocket();
    }
    this.s.entries = 0;
    await destroyAdmitSets(this.families, this.o.prefix, mustRun);
  }
}
