// The status file's `dns` section (issue 16): written by the agent (dns-wiring.ts), read back by
// `palisade explain|verify|matrix --dns-status FILE` and `palisade dns` (src/cli/dns-input.ts).
// Writer and reader live together so the format has one place; test/cli/explain-dns.test.ts runs
// the CLI on a file this writer produced.
//
// A record carries the time it was learned (learnedAt, ISO with milliseconds) and its clamped
// TTL: its expiry is learnedAt + TTL, computed by NameStore.learn on both sides. `at` is the
// time the section was written; expiresInSeconds and text are for people reading the file and
// are not read back. Kept light (no prom-client, no native addon): the CLI loads it.

import { NameStore, describeRecord, type NameRecord } from '../dataplane/name-store.ts';
import type { DnsLearner } from './dns-learner.ts';

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
  readonly records: readonly DnsStatusRecord[];
  readonly counters: Record<string, unknown>;
}

/** The `dns` section at `now` (ms): the learner's live records and counters, and the DNS queue's. */
export function dnsStatusSection(learner: DnsLearner, queue: Record<string, unknown>, now: number): DnsStatusSection {
  const c = learner.counters;
  return {
    at: new Date(now).toISOString(),
    records: learner.store.list(now).map((r) => statusRecord(r, now)),
    counters: { answers: c.answers, parsed: c.parsed, partial: c.partial, errors: c.errors, republished: c.republished, ...learner.store.counters, tcp: learner.tcp.counters, queue },
  };
}

/** One record as the section writes it (explain -o json too). */
export function statusRecord(r: NameRecord, now: number): DnsStatusRecord {
  return {
    pod: r.pod, address: r.address, names: r.names, server: r.server, ttl: r.ttl,
    learnedAt: new Date(r.learnedAt).toISOString(),
    expiresInSeconds: Math.max(0, Math.round((r.expiresAt - now) / 1000)),
    text: describeRecord(r, now),
  };
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
