// `--dns-status FILE` (explain, verify, matrix) and `palisade dns`: a node agent's live name
// records (issue 16), read from its status file (agent --status-file; the format is
// src/agent/dns-status.ts's). With them, the analysis commands resolve domainNames peers exactly
// as that agent does: the agent's own DnsLearner installs the resolver on the state and
// re-stores the cluster policies (withLearnedAddresses over NameStore.addressesFor), at the
// current time, so a record that expired since the file was written matches nothing.

import { readFileSync } from 'node:fs';
import type { ClusterState } from '../cluster/state.ts';
import { readDnsStatus, storeOf, UNBOUNDED, type DnsStatusRead } from '../agent/dns-status.ts';
import type { NameRecord, NameStore } from '../dataplane/name-store.ts';
import { CliError, fileProblem, type FlagSpec } from './args.ts';

export const DNS_FLAGS: FlagSpec = { 'dns-status': 'string' };

export const DNS_USAGE = '[--dns-status FILE|-]';

export const DNS_HELP = `  --dns-status FILE  a node agent's status file (agent --status-file; a lab's is
          /run/palisade-lab/LAB/agent-status[.NODE].json), its dns section alone, or -
          for stdin: domainNames peers match the addresses its live records name, as that
          node's agent judges now (a record expired since the file was written matches
          nothing). Without it a domainNames peer matches nothing: its addresses are
          learned from DNS answers at run time (\`palisade dns\` lists a file's records).`;

/** A status file older than this gets a note: the agent rewrites it every second, a large one at least every 8 s (status-file.ts). */
const STALE_MS = 10_000;

/** A node's name records, as the analysis commands use them. */
export interface LiveDns {
  /** "agent status FILE, node n1, written 3 s ago", for titles. */
  readonly source: string;
  readonly node?: string;
  /** When the file was written, and the time records are judged at (ms). */
  readonly at: number;
  readonly now: number;
  /** The records, as the agent's learner holds them; live ones are those with expiresAt > now. */
  readonly store: NameStore;
  /** Every record the file lists, some maybe expired since (to say so). */
  readonly records: readonly NameRecord[];
  /** The agent's DNS counters, as written. */
  readonly counters: Record<string, unknown>;
}

/** A status file's names, and the file ("stdin" for -). */
export type StatusFileRead = DnsStatusRead & { readonly file: string };

/** Reads FILE (or stdin for "-") and its dns section; errors are bad-flag errors naming the file. */
export function readDnsStatusFlag(flag: string, name = 'dns-status'): StatusFileRead {
  const file = flag === '-' ? 'stdin' : flag;
  let text: string;
  try {
    text = readFileSync(flag === '-' ? 0 : flag, 'utf8');
  } catch (e) {
    throw new CliError(`--${name} ${file}: ${fileProblem(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`--${name} ${file}: not JSON (${(e as Error).message})`);
  }
  try {
    return { ...readDnsStatus(json), file };
  } catch (e) {
    throw new CliError(`--${name} ${file}: ${(e as Error).message}`);
  }
}

/** "3 s", "4 min", "2 h": how old a file is. */
export function ageText(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

/** The records of a status file read at `now`, with a note on stderr when the file is stale. */
export function liveDns(cmd: string, read: StatusFileRead, now = Date.now()): LiveDns {
  const store = storeOf(read.records);
  return liveDnsOf(cmd, read, store, now);
}

function liveDnsOf(cmd: string, read: StatusFileRead, store: NameStore, now: number): LiveDns {
  const age = now - read.at;
  if (age > STALE_MS) {
    process.stderr.write(`palisade ${cmd}: note: ${read.file} was written ${ageText(age)} ago (a running agent rewrites it every second); records are judged now, so those expired since match nothing\n`);
  } else if (age < -STALE_MS) {
    process.stderr.write(`palisade ${cmd}: note: ${read.file} was written ${ageText(-age)} in the future (clocks differ?); records are judged by this machine's clock\n`);
  }
  const node = read.node !== undefined ? `, node ${read.node}` : '';
  return {
    source: `agent status ${read.file}${node}, written ${age >= 0 ? `${ageText(age)} ago` : 'in the future'}`,
    ...(read.node !== undefined ? { node: read.node } : {}),
    at: read.at, now, store,
    // Every record read (list() keeps those live at a time: the file's).
    records: store.list(read.at),
    counters: read.counters,
  };
}

/**
 * The --dns-status flag's file, read (undefined without the flag). Read before the cluster, so a
 * bad file is a bad flag reported before anything is judged; applyDnsStatus applies it.
 */
export function dnsStatusFlag(flags: Record<string, unknown>): (StatusFileRead) | undefined {
  const flag = flags['dns-status'] as string | undefined;
  return flag === undefined ? undefined : readDnsStatusFlag(flag);
}

/**
 * Applies read records to `state` as the agent does: its DnsLearner installs the resolver and
 * re-stores the cluster policies, clocked at `now`.
 */
export async function applyDnsStatus(cmd: string, read: StatusFileRead, state: ClusterState, now = Date.now()): Promise<LiveDns> {
  // Loaded only with the flag (the DNS parser and packet reader come with it).
  const { DnsLearner } = await import('../agent/dns-learner.ts');
  // Every record is some pod's of that node: the learner's local-pod test only prunes on tick().
  const learner = new DnsLearner(state, () => true, UNBOUNDED, () => now);
  storeOf(read.records, learner.store);
  learner.republish();
  return liveDnsOf(cmd, read, learner.store, now);
}
