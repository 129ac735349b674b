// `palisade dns --status-file FILE [--address IP] [-o text|json]`: a node agent's live name
// records (issue 16) in words, from its status file (the `dns` section, src/agent/dns-status.ts),
// judged at the current time: what `explain --dns-status FILE` would match domainNames peers with.

import { statusRecord } from '../../agent/dns-status.ts';
import { describeRecord } from '../../dataplane/name-store.ts';
import { canonicalIP } from '../../net/address.ts';
import { CliError, parseArgs, textOrJson, type FlagSpec } from '../args.ts';
import { ageText, liveDns, readDnsStatusFlag } from '../dns-input.ts';
import { rejectPositional } from '../manifest-input.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { 'status-file': 'string', address: 'string', output: 'string', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade dns --status-file FILE|- [--address IP] [-o text|json]

Lists the live name records of a node agent (the names its pods' DNS answers gave addresses,
which domainNames peers match), from its status file (agent --status-file; a lab's is
/run/palisade-lab/LAB/agent-status[.NODE].json), the file's dns section alone, or - for stdin.
Records are judged now: one that expired since the file was written is counted, not listed.
  --address IP   only the records of this address
Exit status: 0 ok; 2 bad flags or an unreadable file.`;

/** "answers 10, parsed 10, errors.truncated 1": the numeric counters, nested ones by path, zero errors left out. */
function countersText(c: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'number' && (v !== 0 || prefix === '')) out.push(`${prefix}${k} ${v}`);
    else if (typeof v === 'object' && v !== null) out.push(...countersText(v as Record<string, unknown>, `${prefix}${k}.`));
  }
  return out;
}

/**
 * The DNS queue's counters the text shows: what it saw and what went wrong. The rest (batches,
 * netlink receive calls, verdict messages) are the queue's own mechanics and stay in -o json.
 */
const QUEUE_SHOWN = ['packets', 'drops', 'errors'];

function shownCounters(c: Record<string, unknown>): Record<string, unknown> {
  const q = c.queue;
  if (typeof q !== 'object' || q === null) return c;
  const queue = Object.fromEntries(Object.entries(q).filter(([k]) => QUEUE_SHOWN.includes(k)));
  return { ...c, queue };
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS, { '-o': 'output', '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  rejectPositional(positional, '--status-file');
  const output = textOrJson(flags.output);
  if (flags['status-file'] === undefined) throw new CliError('--status-file FILE is required (the agent\'s --status-file, or - for stdin)');
  let address: string | undefined;
  if (flags.address !== undefined) {
    address = canonicalIP(flags.address as string);
    if (address === undefined) throw new CliError(`--address must be an IP address, got "${String(flags.address)}"`);
  }
  const dns = liveDns('dns', readDnsStatusFlag(flags['status-file'] as string, 'status-file'));
  const live = dns.store.list(dns.now).filter((r) => address === undefined || r.address === address);
  const expired = dns.records.filter((r) => r.expiresAt <= dns.now && (address === undefined || r.address === address)).length;
  if (output === 'json') {
    const out = { ...(dns.node !== undefined ? { node: dns.node } : {}), writtenAt: new Date(dns.at).toISOString(), records: live.map((r) => statusRecord(r, dns.now)), expiredSinceWritten: expired, counters: dns.counters };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  const lines = [`${dns.source}: ${live.length} live record(s)${address !== undefined ? ` of ${address}` : ''}${expired ? `, ${expired} expired since` : ''}`];
  let pod: string | undefined;
  for (const r of live) {
    if (r.pod !== pod) lines.push(`pod ${(pod = r.pod)}:`);
    lines.push(`  ${describeRecord(r, dns.now)}, expires in ${ageText(r.expiresAt - dns.now)}`);
  }
  const counters = countersText(shownCounters(dns.counters));
  if (counters.length) lines.push(`counters: ${counters.join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
