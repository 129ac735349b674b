// The status file's `dns` section (issue 16): written by the agent (dns-wiring.ts), read back by
// `palisade explain|verify|matrix --dns-status FILE` and `palisade dns` (src/cli/dns-input.ts).
// Writer and reader live together so the format has one place; test/cli/explain-dns.test.ts runs
// the CLI on a file this writer produced.
//
// A record carries the time it was learned (learnedAt, ISO with milliseconds) and its clamped
// TTL: its expiry is learnedAt + TTL, computed by NameStore.learn on both sides. `at` is the
// time the section was written; expiresInSeconds and text are for people reading the file and
// are not read back. Kept light (no prom-client, no native addon): the CLI loads it.

import { NameStore, compareRecords, describeRecord, recordAge, recordWords, type NameRecord } from '../dataplane/name-store.ts';
import type { DnsLearner } from './dns-learner.ts';
import { filterInSteps, mergeInSteps, sortInSteps } from './sort-in-steps.ts';
import type { StatusRows } from './status-file.ts';

export interface DnsStatusRecord {
  readonly pod: string;
  readonly address: string;
  readonly names: readonly string[];
  readonly server: string;
  readonly ttl: number;
  readonly learnedAt: string;
  readonly expiresInSeconds: number;
  readonly text: string;
}

export interface DnsStatusSection {
  /** When the section was written (ISO). */
  readonly at: string;
  /** DnsStatusRecords: as JSON.stringify writes them, or row by row (the status file). */
  readonly records: DnsRecordRows;
  readonly counters: Record<string, unknown>;
}

/** The `dns` section at `now` (ms): the learner's live records and counters, and the DNS queue's. */
export function dnsStatusSection(learner: DnsLearner, queue: Record<string, unknown>, now: number): DnsStatusSection {
  const c = learner.counters;
  return {
    at: new Date(now).toISOString(),
    records: new DnsRecordRows(learner.store, now),
    counters: { answers: c.answers, parsed: c.parsed, partial: c.partial, errors: c.errors, republished: c.republished, ...learner.store.counters, tcp: learner.tcp.counters, queue },
  };
}

/** statusRecord's fields that do not change with the clock, in the order written. */
function recordFields(r: NameRecord) {
  return { pod: r.pod, address: r.address, names: r.names, server: r.server, ttl: r.ttl, learnedAt: new Date(r.learnedAt).toISOString() };
}

const expiresIn = (r: NameRecord, now: number): number => Math.max(0, Math.round((r.expiresAt - now) / 1000));

/** One record as the section writes it (explain -o json too). */
export function statusRecord(r: NameRecord, now: number): DnsStatusRecord {
  return { ...recordFields(r), expiresInSeconds: expiresIn(r, now), text: describeRecord(r, now) };
}

/**
 * The section's live records, taken when it is made (the store's snapshot: records are never
 * changed, only replaced). JSON.stringify writes them as statusRecord objects; the status file
 * asks for its rows (StatusRows), made a step at a time from the store's Rows (below).
 */
export class DnsRecordRows implements StatusRows {
  private readonly records: readonly NameRecord[];
  private readonly rows: Rows;

  constructor(store: NameStore, private readonly now: number) {
    this.records = store.snapshot();
    this.rows = rowsOf(store);
  }

  toJSON(): DnsStatusRecord[] {
    return this.records.filter((r) => r.expiresAt > this.now).sort(compareRecords).map((r) => statusRecord(r, this.now));
  }

  *statusRows(separator: string): Generator<string | undefined> {
    const now = this.now;
    const order = yield* this.rows.order(this.records);
    for (let i = 0; i < order.length; i += STEP) {
      // One join a step: the parts as they are, no string made per row.
      const parts: string[] = [];
      for (let k = i; k < Math.min(order.length, i + STEP); k++) {
        const x = order[k];
        if (x.r.expiresAt <= now) continue;
        if (parts.length > 0) parts.push(separator);
        rowParts(x, now, parts);
      }
      yield parts.join('');
    }
  }
}

/** Records a step (see sort-in-steps.ts): well under a millisecond of work. */
const STEP = 512;

/**
 * A record's row, JSON.stringify(statusRecord(r, now)), made once: `json` is it with
 * expiresInSeconds 0 and no age in its text, the two numbers that change with the clock, which
 * go at `zero` (for the 0) and `age`. The ISO time and the JSON of 65,536 records took about
 * 270 ms at each write; kept, the rows of that many hold about 45 MB.
 */
interface Row {
  readonly r: NameRecord;
  readonly json: string;
  readonly zero: number;
  readonly age: number;
  /** The listing (Rows.order) that last saw it in a snapshot. */
  seen: number;
  /** In a listing's order: it stays in the next ones until its record leaves the store (for good). */
  listed: boolean;
}

function rowOf(r: NameRecord): Row {
  const [before, after] = recordWords(r);
  // The text's JSON is that of its two parts, joined: they meet at ASCII characters.
  const json = JSON.stringify({ ...recordFields(r), expiresInSeconds: 0, text: before + after });
  const age = json.length - JSON.stringify(after).length;
  const zero = age - (JSON.stringify(before).length - 2) - ',"text":"'.length - 1;
  return { r, json, zero, age, seen: 0, listed: false };
}

/** The row of `x` at `now` (JSON.stringify(statusRecord(x.r, now))), in parts. */
function rowParts(x: Row, now: number, into: string[]): void {
  const e = expiresIn(x.r, now);
  into.push(x.json.slice(0, x.zero), Number.isFinite(e) ? String(e) : 'null', x.json.slice(x.zero + 1, x.age), String(recordAge(x.r, now)), x.json.slice(x.age));
}

const byRecord = (a: Row, b: Row): number => compareRecords(a.r, b.r);

/**
 * A store's rows, and their order as of its last listing: a listing makes rows for the records
 * new since (a record learned again is a new one), sorts those alone and merges them into the
 * last order without the records gone. Sorting all 65,536 records took about 50 ms.
 */
class Rows {
  private readonly rows = new WeakMap<NameRecord, Row>();
  private last: readonly Row[] = [];
  private ids = 0;
  /** A listing is running: its marks (seen, listed) are its own, so another sorts from scratch. */
  private busy = false;

  /** The rows of `records` (a snapshot), ordered by compareRecords; a step a yield. */
  *order(records: readonly NameRecord[]): Generator<undefined, readonly Row[]> {
    const own = !this.busy;
    if (own) this.busy = true;
    try {
      const id = ++this.ids;
      const fresh: Row[] = [];
      let work = 0;
      for (const r of records) {
        let x = this.rows.get(r);
        // A new row costs about what 20 looked up do (an ISO time and three JSON texts).
        if (!x) {
          this.rows.set(r, (x = rowOf(r)));
          work += 20;
        }
        if (own) x.seen = id;
        if (!own || !x.listed) fresh.push(x);
        if (++work >= STEP) {
          work = 0;
          yield undefined;
        }
      }
      const kept = own ? yield* filterInSteps(this.last, (x) => x.seen === id, STEP) : [];
      const order = yield* mergeInSteps(kept, yield* sortInSteps(fresh, byRecord, STEP), byRecord, STEP);
      if (own) {
        // At once: a listing left half way (a failed write) leaves the marks as they were.
        for (const x of fresh) x.listed = true;
        this.last = order;
      }
      return order;
    } finally {
      if (own) this.busy = false;
    }
  }
}

const storeRows = new WeakMap<NameStore, Rows>();

function rowsOf(store: NameStore): Rows {
  let r = storeRows.get(store);
  if (!r) storeRows.set(store, (r = new Rows()));
  return r;
}

/** A record as written: its expiry is NameStore.learn's to compute. */
export type RecordRead = Omit<NameRecord, 'expiresAt'>;

/** What a status file says about names. */
export interface DnsStatusRead {
  /** When the section was written (ms). */
  readonly at: number;
  /** The agent's node, when the whole status file was given. */
  readonly node?: string;
  /** The records as the file lists them (live when it was written), oldest learned first; storeOf makes them NameRecords. */
  readonly records: readonly RecordRead[];
  readonly counters: Record<string, unknown>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function time(v: unknown, where: string): number {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new Error(`${where}: expected an ISO time, got ${JSON.stringify(v)}`);
  return t;
}

/**
 * Reads the agent's whole status file (its `dns` section) or the section alone (parsed JSON).
 * Throws an Error naming the first bad field.
 */
export function readDnsStatus(json: unknown): DnsStatusRead {
  if (!isObj(json)) throw new Error('expected a JSON object: the agent status file or its dns section');
  let section: unknown = json, node: string | undefined;
  if (!('records' in json)) {
    if (!('dns' in json)) {
      throw new Error('no `dns` section: the agent writes one once its rules are in place, with either backend; is this an agent status file (--status-file)?');
    }
    section = json.dns;
    if (typeof json.node === 'string') node = json.node;
  }
  if (!isObj(section) || !Array.isArray(section.records)) throw new Error('dns.records: expected a list');
  const at = time(section.at, 'dns.at');
  const records = section.records.map((r, i): RecordRead => {
    const w = `dns.records[${i}]`;
    if (!isObj(r)) throw new Error(`${w}: expected an object`);
    for (const f of ['pod', 'address', 'server'] as const) if (typeof r[f] !== 'string') throw new Error(`${w}.${f}: expected a string`);
    if (!Array.isArray(r.names) || r.names.length === 0 || !r.names.every((n) => typeof n === 'string')) throw new Error(`${w}.names: expected a list of names`);
    if (typeof r.ttl !== 'number' || !(r.ttl >= 0)) throw new Error(`${w}.ttl: expected seconds`);
    const learnedAt = time(r.learnedAt, `${w}.learnedAt`);
    return { pod: r.pod as string, address: r.address as string, names: r.names as string[], server: r.server as string, ttl: r.ttl, learnedAt };
  });
  records.sort((a, b) => a.learnedAt - b.learnedAt);
  return { at, ...(node !== undefined ? { node } : {}), records, counters: isObj(section.counters) ? section.counters : {} };
}

/**
 * A store holding exactly the records read (no TTL clamping, no caps: the agent applied its own
 * when it learned them), learned oldest first so NameStore.about lists the newest first.
 */
export function storeOf(records: readonly RecordRead[], into?: NameStore): NameStore {
  const store = into ?? new NameStore(UNBOUNDED);
  for (const r of records) store.learn(r.pod, r.address, r.names, r.server, r.ttl, r.learnedAt);
  return store;
}

/** Options for a store that keeps what it is given as given. */
export const UNBOUNDED = { minTtl: 0, maxTtl: Infinity, perPod: Infinity, total: Infinity } as const;
