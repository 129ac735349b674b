// The name store (issue 16): which names the addresses in DNS answers to this node's pods stand
// for, and until when. Filled from dns-parser.ts results by the agent's DNS learner; read by
// domain-names.ts (through the learner) to give domainNames peers their addresses, and by
// explain, the verdict log and `palisade dns`.
//
// One record per (pod address, learned address, question name): the names the answer said it
// has (the question name and the CNAME chain to it), the server that answered, when, and the TTL
// after clamping. The question name is part of the key because names share addresses (CDNs,
// load balancers, virtual hosts): an answer for another name giving the same address must not
// take the address away from the first name before that name's own TTL runs out.
// - TTL: clamped to [minTtl, maxTtl] (flags --dns-min-ttl, --dns-max-ttl; defaults below). The
//   floor exists because a pod connects right after its lookup: an answer with TTL 0 or 1 would
//   otherwise expire before the connection it was looked up for. The ceiling bounds how long one
//   answer keeps an address open (a TTL of 2^31 - 1 is legal DNS).
// - Memory: at most perPod records per pod address and total records overall. A new record over
//   a cap evicts one (of that pod, or overall), counted in `evictions`: the least recently
//   learned or refreshed record none of whose names is wanted (setWanted: the learner's
//   "some domainNames entry matches it"), else the least recently learned of all (over the
//   total cap: of the pod holding the most records, the learning pod itself on a tie, so no pod
//   pushes out the records of a pod with fewer); but a new record with no wanted name, when
//   every record it would push out has one, is itself dropped (counted too). Without that
//   preference a pod resolving many unrelated names pushed out the one a policy allows, and its
//   next connection was denied. Maps and sets keep insertion order, and a refresh re-inserts,
//   so the least recently learned is the first key.
// - Expiry: expire(now) drops records past their time; the agent runs it every second and
//   republishes the policies whose address sets changed, which flushes the verdict cache.
// - Expired addresses are remembered (at most `total`, oldest forgotten first) with the names
//   they had, until learned again: NPEP-133 ("When the TTL for a DNS record expires, the
//   implementor should stop allowing new connections to that IP. Existing connection will
//   still be allowed"), so strict mode asks expiredNames() before it cuts a flow to one.
// - Lookups: addressesFor runs for every domainNames peer the learner re-stores, after every
//   answer that taught something, on the agent's loop while the answer waits. So records are
//   indexed by canonical name (an exact pattern is one map lookup) and names by each suffix that
//   starts at a label boundary (a wildcard is one lookup too), and the store keeps the names
//   whose records came or went since the learner last asked (takeChangedNames), so only the
//   policies covering one of them are re-stored. A scan of all records per peer took about 36 ms
//   at 8,192 records and 10 policies.
//
// Times are milliseconds given by the caller (no clock here: tests drive it).

import { canonicalName } from '../policy/domain-names.ts';

export const NAME_STORE_DEFAULTS = { minTtl: 10, maxTtl: 3600, perPod: 512, total: 65536 } as const;

export interface NameStoreOptions {
  /** Seconds; an answer's TTL below this is raised to it. */
  readonly minTtl?: number;
  /** Seconds; an answer's TTL above this is lowered to it. */
  readonly maxTtl?: number;
  readonly perPod?: number;
  readonly total?: number;
}

export interface NameRecord {
  /** The pod the answer went to (its address). */
  readonly pod: string;
  /** The learned address (canonical text). */
  readonly address: string;
  /** The question name first, then the CNAME chain up to the name owning the address. */
  readonly names: readonly string[];
  /** Address of the DNS server that answered. */
  readonly server: string;
  readonly learnedAt: number;
  /** TTL after clamping, seconds. */
  readonly ttl: number;
  readonly expiresAt: number;
}

export interface NameStoreCounters {
  records: number;
  learned: number;
  refreshed: number;
  expired: number;
  evictions: number;
}

export class NameStore {
  readonly minTtl: number;
  readonly maxTtl: number;
  readonly perPod: number;
  readonly total: number;
  /** key pod + " " + address + " " + question name, in least recently learned order. */
  private readonly records = new Map<string, NameRecord>();
  /** pod -> keys of its records, same order. */
  private readonly byPod = new Map<string, Set<string>>();
  /** Address -> the names of its expired records, oldest expiry first (see the header). */
  private readonly expiredAddresses = new Map<string, Set<string>>();
  /** Canonical name -> keys of the records holding it (any position of the chain). */
  private readonly byName = new Map<string, Set<string>>();
  /** Suffix (".example.com": a label boundary to the end) -> the indexed names ending with it after a non-empty label. */
  private readonly bySuffix = new Map<string, Set<string>>();
  /** Learned address -> keys of its records, least recently learned first: about(), for each verdict log line. */
  private readonly byAddress = new Map<string, Set<string>>();
  /** Canonical names of records learned, changed or removed since takeChangedNames. */
  private changedNames = new Set<string>();
  /** Is a (canonical) name wanted (setWanted)? Undefined: none is, eviction is by age alone. */
  private wanted?: (name: string) => boolean;
  /** Canonical name -> wanted, for the indexed names (asked once per name, not per record). */
  private readonly nameWanted = new Map<string, boolean>();
  /** Keys of the records with no wanted name, overall and per pod, in least recently learned order. */
  private readonly unwanted = new Set<string>();
  private readonly unwantedByPod = new Map<string, Set<string>>();
  readonly counters: NameStoreCounters = { records: 0, learned: 0, refreshed: 0, expired: 0, evictions: 0 };

  constructor(o: NameStoreOptions = {}) {
    this.minTtl = o.minTtl ?? NAME_STORE_DEFAULTS.minTtl;
    this.maxTtl = o.maxTtl ?? NAME_STORE_DEFAULTS.maxTtl;
    this.perPod = o.perPod ?? NAME_STORE_DEFAULTS.perPod;
    this.total = o.total ?? NAME_STORE_DEFAULTS.total;
    if (!(this.minTtl >= 0 && this.maxTtl >= this.minTtl)) throw new RangeError(`dns TTL bounds: need 0 <= min (${this.minTtl}) <= max (${this.maxTtl})`);
    if (!(this.perPod >= 1 && this.total >= 1)) throw new RangeError(`dns record caps must be at least 1 (per pod ${this.perPod}, total ${this.total})`);
  }

  /** The TTL a record gets for an answer's TTL (seconds). */
  clampTtl(ttl: number): number {
    return Math.min(this.maxTtl, Math.max(this.minTtl, ttl));
  }

  /**
   * Records that `address` is `names` for `pod`, told by `server` at `now` with TTL `ttl` (the
   * answer's). Returns true when the names of some address changed (a new record, or another
   * chain for the same question), false for a mere refresh: only the former changes what a
   * domainNames peer matches.
   */
  learn(pod: string, address: string, names: readonly string[], server: string, ttl: number, now: number): boolean {
    const key = `${pod} ${address} ${names[0] ?? ''}`;
    const old = this.records.get(key);
    let podKeys = this.byPod.get(pod);
    if (!old) {
      // Over a cap with no unwanted record to give way, an unwanted newcomer is the one that
      // goes: it would otherwise push out a record a policy allows (an unrelated lookup denying
      // the next connection to an allowed name).
      const full = (podKeys?.size ?? 0) >= this.perPod ? this.unwantedByPod.get(pod)?.size ?? 0 : -1;
      const fullAll = this.records.size >= this.total ? this.unwanted.size : -1;
      if ((full === 0 || fullAll === 0) && !this.isWanted(names)) {
        this.counters.evictions++;
        return false;
      }
    }
    const t = this.clampTtl(ttl);
    const rec: NameRecord = { pod, address, names, server, learnedAt: now, ttl: t, expiresAt: now + t * 1000 };
    this.expiredAddresses.delete(address);
    if (old) {
      this.records.delete(key);
      podKeys!.delete(key);
      this.unindex(key, old);
    } else {
      if (!podKeys) this.byPod.set(pod, (podKeys = new Set()));
      if (podKeys.size >= this.perPod) this.evict(this.unwantedByPod.get(pod)?.values().next().value ?? podKeys.values().next().value!);
      if (this.records.size >= this.total) this.evict(this.unwanted.values().next().value ?? this.largestPodOldest(podKeys));
    }
    // Re-inserted at the end: eviction takes the least recently learned first.
    this.records.set(key, rec);
    this.byPod.get(pod) ?? this.byPod.set(pod, podKeys!);
    podKeys!.add(key);
    this.index(key, rec);
    this.counters.records = this.records.size;
    // An old record past its expiry (expire() has not run yet) may already be out of the
    // policies (any re-store since filtered it): learning it again is a change, not a refresh.
    const sameNames = old !== undefined && old.expiresAt > now && old.names.length === names.length && old.names.every((n, i) => n === names[i]);
    if (sameNames) this.counters.refreshed++;
    else {
      this.counters.learned++;
      this.noteChanged(rec);
      if (old) this.noteChanged(old);
    }
    return !sameNames;
  }

  private noteChanged(r: NameRecord): void {
    for (const n of r.names) this.changedNames.add(canonicalName(n));
  }

  /** The canonical names whose records came, changed or went since the last call (then forgotten). */
  takeChangedNames(): ReadonlySet<string> {
    const c = this.changedNames;
    this.changedNames = new Set();
    return c;
  }

  /**
   * Which names the records to keep have: eviction takes records with none of them first. Asked
   * once per distinct name (now, for the names held, and as new names come); the learner calls
   * it again when the cluster policies' domainNames entries change.
   */
  setWanted(wanted: (canonicalName: string) => boolean): void {
    this.wanted = wanted;
    this.nameWanted.clear();
    for (const n of this.byName.keys()) this.nameWanted.set(n, wanted(n));
    this.unwanted.clear();
    this.unwantedByPod.clear();
    for (const [k, r] of this.records) this.classify(k, r);
  }

  /**
   * The total cap's victim when every record is wanted: the least recently learned record of the
   * pod holding the most (`own`, the learning pod's keys, on a tie; else the first such pod). The oldest
   * record of all would let a pod below its own cap push out the one record of a quiet pod.
   */
  private largestPodOldest(own: Set<string>): string {
    let best = own;
    for (const keys of this.byPod.values()) if (keys.size > best.size) best = keys;
    return best.values().next().value!;
  }

  /** Is one of the names wanted (true while no setWanted: eviction is by age alone)? */
  private isWanted(names: readonly string[]): boolean {
    const w = this.wanted;
    if (!w) return true;
    return names.some((raw) => {
      const n = canonicalName(raw);
      return this.nameWanted.get(n) ?? w(n);
    });
  }

  /** Puts the record in the unwanted sets when none of its names is wanted (its names are indexed). */
  private classify(key: string, r: NameRecord): void {
    if (!this.wanted || r.names.some((n) => this.nameWanted.get(canonicalName(n)))) return;
    this.unwanted.add(key);
    let keys = this.unwantedByPod.get(r.pod);
    if (!keys) this.unwantedByPod.set(r.pod, (keys = new Set()));
    keys.add(key);
  }

  private index(key: string, r: NameRecord): void {
    let same = this.byAddress.get(r.address);
    if (!same) this.byAddress.set(r.address, (same = new Set()));
    same.add(key);
    for (const raw of r.names) {
      const n = canonicalName(raw);
      let keys = this.byName.get(n);
      if (!keys) {
        this.byName.set(n, (keys = new Set()));
        if (this.wanted) this.nameWanted.set(n, this.wanted(n));
        for (const s of suffixes(n)) {
          let names = this.bySuffix.get(s);
          if (!names) this.bySuffix.set(s, (names = new Set()));
          names.add(n);
        }
      }
      keys.add(key);
    }
    this.classify(key, r);
  }

  private unindex(key: string, r: NameRecord): void {
    const same = this.byAddress.get(r.address);
    same?.delete(key);
    if (same?.size === 0) this.byAddress.delete(r.address);
    if (this.unwanted.delete(key)) {
      const keys = this.unwantedByPod.get(r.pod)!;
      keys.delete(key);
      if (keys.size === 0) this.unwantedByPod.delete(r.pod);
    }
    for (const raw of r.names) {
      const n = canonicalName(raw);
      const keys = this.byName.get(n);
      if (!keys) continue;
      keys.delete(key);
      if (keys.size > 0) continue;
      this.byName.delete(n);
      this.nameWanted.delete(n);
      for (const s of suffixes(n)) {
        const names = this.bySuffix.get(s);
        names?.delete(n);
        if (names?.size === 0) this.bySuffix.delete(s);
      }
    }
  }

  private evict(key: string): void {
    this.remove(key);
    this.counters.evictions++;
  }

  private remove(key: string): void {
    const r = this.records.get(key);
    if (!r) return;
    this.records.delete(key);
    this.unindex(key, r);
    this.noteChanged(r);
    const s = this.byPod.get(r.pod);
    s?.delete(key);
    if (s && s.size === 0) this.byPod.delete(r.pod);
    this.counters.records = this.records.size;
  }

  /** Drops the records past their expiry; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [k, r] of this.records) {
      if (r.expiresAt <= now) {
        this.remove(k);
        this.rememberExpired(r);
        n++;
      }
    }
    this.counters.expired += n;
    return n;
  }

  private rememberExpired(r: NameRecord): void {
    const names = this.expiredAddresses.get(r.address) ?? new Set<string>();
    for (const n of r.names) names.add(n);
    // Re-inserted at the end: the first key is the address that expired longest ago.
    this.expiredAddresses.delete(r.address);
    this.expiredAddresses.set(r.address, names);
    if (this.expiredAddresses.size > this.total) this.expiredAddresses.delete(this.expiredAddresses.keys().next().value!);
  }

  /**
   * The names an address had when its last record expired, or undefined when it has a live
   * record, never had one, or was forgotten (learned again, or over the cap).
   */
  expiredNames(address: string): ReadonlySet<string> | undefined {
    return this.expiredAddresses.get(address);
  }

  /** Drops a pod's records (the pod is gone); returns how many. */
  dropPod(pod: string): number {
    const keys = [...(this.byPod.get(pod) ?? [])];
    for (const k of keys) this.remove(k);
    return keys.length;
  }

  /** The pods (addresses) that have records. */
  pods(): string[] {
    return [...this.byPod.keys()];
  }

  /**
   * Live addresses (canonical text) with a name matching one of the DomainName patterns, at
   * `now` (domainNameMatches, through the indexes: an exact pattern is its name's records, and
   * "*." + suffix the records of the names indexed under "." + suffix).
   */
  addressesFor(patterns: readonly string[], now: number): string[] {
    const out = new Set<string>();
    const add = (name: string): void => {
      for (const k of this.byName.get(name) ?? []) {
        const r = this.records.get(k)!;
        if (r.expiresAt > now) out.add(r.address);
      }
    };
    for (const raw of patterns) {
      const p = canonicalName(raw);
      if (p.startsWith('*.')) for (const n of this.bySuffix.get(p.slice(1)) ?? []) add(n);
      else add(p);
    }
    return [...out];
  }

  /** Live records of an address (any pod), newest first: explain and the verdict log. */
  about(address: string, now: number): NameRecord[] {
    const out: NameRecord[] = [];
    for (const k of this.byAddress.get(address) ?? []) {
      const r = this.records.get(k)!;
      if (r.expiresAt > now) out.push(r);
    }
    return out.reverse();
  }

  /** Every live record, by pod, address, then question name (compareRecords). */
  list(now: number): NameRecord[] {
    return [...this.records.values()].filter((r) => r.expiresAt > now).sort(compareRecords);
  }

  /**
   * Every record, live or past its expiry (expire() not run yet), in no particular order: a copy,
   * so it stays as it is while the store changes (the status file lists it over several turns of
   * the loop; records are never changed, a new one replaces them).
   */
  snapshot(): NameRecord[] {
    return [...this.records.values()];
  }

  get size(): number {
    return this.records.size;
  }
}

/**
 * The suffixes a wildcard can match `n` by (canonical): from each "." that follows a non-empty
 * label to the end ("a.b.c" -> ".b.c", ".c"), as domainNameMatches asks of "*." + suffix.
 */
function suffixes(n: string): string[] {
  const out: string[] = [];
  for (let i = n.indexOf('.', 1); i > 0; i = n.indexOf('.', i + 1)) if (n[i - 1] !== '.') out.push(n.slice(i));
  return out;
}

const cmpText = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

/** The order list() gives: by pod, address, then question name (no two records tie: that is the key). */
export function compareRecords(a: NameRecord, b: NameRecord): number {
  return cmpText(a.pod, b.pod) || cmpText(a.address, b.address) || cmpText(a.names[0] ?? '', b.names[0] ?? '');
}

/** "10.0.3.7 is api.example.com (learned 12 s ago from 10.96.0.10, TTL 30 s)" */
export function describeRecord(r: NameRecord, now: number): string {
  const [before, after] = recordWords(r);
  return `${before}${recordAge(r, now)}${after}`;
}

/** Seconds since the record was learned, as describeRecord says it. */
export const recordAge = (r: NameRecord, now: number): number => Math.max(0, Math.round((now - r.learnedAt) / 1000));

/**
 * describeRecord's words before and after the age, the only part that changes with the clock:
 * the status file keeps them per record rather than wording 65,536 records at every write.
 */
export function recordWords(r: NameRecord): readonly [string, string] {
  const names = r.names.length > 1 ? `${r.names[r.names.length - 1]} (via ${r.names.slice(0, -1).join(' -> ')})` : r.names[0];
  return [`${r.address} is ${names} (learned `, ` s ago from ${r.server}, TTL ${r.ttl} s)`];
}
