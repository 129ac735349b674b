// The kernel's connection tracking table, read and pruned with the `conntrack` tool
// (conntrack-tools). Off the packet path: strict mode (flow-cutter.ts) lists the connections
// Palisade allowed after every rule generation and deletes the ones the new rules deny.
//
// Listing: `conntrack -L -f ipv4|ipv6 -m MARK/MASK -o extended` prints one line per entry:
//
//   ipv4  2 tcp  6 431999 ESTABLISHED src=A dst=B sport=P dport=Q [ASSURED?] src=B' dst=A' sport=Q' dport=P' [ASSURED] mark=M zone=Z use=1
//
// The first src/dst/sport/dport group is the ORIGINAL direction (as the first packet was seen),
// the second the REPLY direction (what the kernel expects back, after NAT). Flags in brackets,
// the state word and unknown key=value pairs are skipped, so newer conntrack versions adding
// fields do not break parsing; a line that does not have both tuples is reported, not guessed.
//
// Deleting: one `conntrack -R -` child per batch, reading `-D <exact tuple> -m MARK/MASK` lines
// on stdin (conntrack-tools >= 1.4.6 "--load-file"), so thousands of flows cost one process, not
// thousands. When the tool cannot do that, it falls back to one `conntrack -D` per flow.

import { runCommand, type CommandPrefix } from './command.ts';
import type { Family } from './iptables.ts';

export interface KernelTuple {
  readonly src: string;
  readonly dst: string;
  /** TCP/UDP/SCTP/DCCP/UDP-Lite ports; undefined for other protocols. */
  readonly sport?: number;
  readonly dport?: number;
  /** ICMP/ICMPv6 type, code and id (echo). */
  readonly icmpType?: number;
  readonly icmpCode?: number;
  readonly icmpId?: number;
}

export interface KernelFlow {
  readonly family: Family;
  /** IP protocol number and the tool's name for it ("tcp", "udp", "icmp", "icmpv6", ...). */
  readonly proto: number;
  readonly protoName: string;
  readonly original: KernelTuple;
  readonly reply: KernelTuple;
  readonly mark: number;
  readonly zone?: number;
  /** TCP state word when the tool printed one (ESTABLISHED, TIME_WAIT, ...). */
  readonly state?: string;
}

const FAMILY_NAME = { 4: 'ipv4', 6: 'ipv6' } as const;

function tupleOf(kv: Map<string, string>): KernelTuple | undefined {
  const src = kv.get('src');
  const dst = kv.get('dst');
  if (!src || !dst) return undefined;
  const num = (k: string): number | undefined => {
    const v = kv.get(k);
    if (v === undefined || !/^\d{1,10}$/.test(v)) return undefined;
    return Number(v);
  };
  return { src, dst, sport: num('sport'), dport: num('dport'), icmpType: num('type'), icmpCode: num('code'), icmpId: num('id') };
}

/**
 * Parses `conntrack -L -o extended` output. Returns the entries and the lines it could not
 * read (for a log line: the agent must never delete a flow it did not understand).
 */
export function parseConntrackExtended(text: string): { flows: KernelFlow[]; bad: string[] } {
  const flows: KernelFlow[] = [];
  const bad: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('conntrack v')) continue;
    const tok = line.split(/\s+/);
    // family name, family number, protocol name, protocol number, timeout, ...
    const fam = tok[0] === 'ipv4' ? 4 : tok[0] === 'ipv6' ? 6 : 0;
    const proto = Number(tok[3]);
    if (fam === 0 || tok.length < 5 || !/^\d{1,3}$/.test(tok[3] ?? '') || proto > 255) {
      bad.push(line);
      continue;
    }
    const groups: Map<string, string>[] = [];
    let mark = 0;
    let zone: number | undefined;
    let state: string | undefined;
    for (let i = 5; i < tok.length; i++) {
      const t = tok[i]!;
      const eq = t.indexOf('=');
      if (eq <= 0) {
        if (/^[A-Z_]+$/.test(t) && groups.length === 0) state = t;
        continue; // [UNREPLIED], [ASSURED], [OFFLOAD], ...
      }
      const k = t.slice(0, eq);
      const v = t.slice(eq + 1);
      if (k === 'src') groups.push(new Map());
      if (k === 'mark') mark = Number(v) >>> 0;
      else if (k === 'zone') zone = Number(v);
      else if (groups.length > 0 && groups.length <= 2 && !groups[groups.length - 1]!.has(k)) groups[groups.length - 1]!.set(k, v);
    }
    const original = groups[0] ? tupleOf(groups[0]) : undefined;
    const reply = groups[1] ? tupleOf(groups[1]) : undefined;
    if (!original || !reply || groups.length !== 2) {
      bad.push(line);
      continue;
    }
    flows.push({ family: fam, proto, protoName: tok[2]!, original, reply, mark, zone, state });
  }
  return { flows, bad };
}

/** Marks: only entries with all bits of `mask` set to `mark`. */
export interface MarkFilter {
  readonly mark: number;
  readonly mask: number;
}

const hex = (m: number): string => '0x' + (m >>> 0).toString(16);

/** Lists the kernel's entries of one family (optionally only those whose connmark matches). */
export async function listKernelFlows(family: Family, filter?: MarkFilter, prefix?: CommandPrefix): Promise<{ flows: KernelFlow[]; bad: string[] }> {
  const argv = ['conntrack', '-L', '-f', FAMILY_NAME[family], '-o', 'extended'];
  if (filter) argv.push('-m', `${hex(filter.mark)}/${hex(filter.mask)}`);
  const r = await runCommand(argv, { prefix, timeoutMs: 60_000 });
  // Exit 0 with entries, or exit 0/1 with "0 flow entries" on an empty table; anything else is an error.
  if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) throw new Error(`${argv.join(' ')} failed (exit ${r.code}): ${r.stderr.trim().split('\n')[0] ?? ''}`);
  return parseConntrackExtended(r.stdout);
}

/** The conntrack arguments naming exactly one entry (its original tuple), as `-D` takes them. */
export function deleteArgs(f: KernelFlow, filter?: MarkFilter): string[] {
  const o = f.original;
  const a = ['-D', '-f', FAMILY_NAME[f.family], '-s', o.src, '-d', o.dst, '-p', f.protoName];
  if (o.sport !== undefined && o.dport !== undefined) a.push('--sport', String(o.sport), '--dport', String(o.dport));
  if (o.icmpType !== undefined && (f.proto === 1 || f.proto === 58)) {
    const p = f.proto === 1 ? '--icmp' : '--icmpv6';
    a.push(`${p}-type`, String(o.icmpType));
    if (o.icmpCode !== undefined) a.push(`${p}-code`, String(o.icmpCode));
    if (o.icmpId !== undefined) a.push(`${p}-id`, String(o.icmpId));
  }
  if (f.zone !== undefined) a.push('-w', String(f.zone));
  if (filter) a.push('-m', `${hex(filter.mark)}/${hex(filter.mask)}`);
  return a;
}

/** Characters conntrack's --load-file splits on or could misread; never present in our fields. */
const SAFE_ARG = /^[A-Za-z0-9:.\-/x_]+$/;

/**
 * Deletes the given entries (each by its exact original tuple, and only while its mark still
 * matches `filter`). Returns how many delete commands were issued without error. Entries that
 * are already gone (the flow ended meanwhile) are not an error.
 */
export async function deleteKernelFlows(flows: readonly KernelFlow[], filter?: MarkFilter, prefix?: CommandPrefix, batch = 2000): Promise<number> {
  let done = 0;
  for (let i = 0; i < flows.length; i += batch) {
    const chunk = flows.slice(i, i + batch).map((f) => deleteArgs(f, filter)).filter((a) => a.every((x) => SAFE_ARG.test(x)));
    if (chunk.length === 0) continue;
    const input = chunk.map((a) => a.join(' ')).join('\n') + '\n';
    const r = await runCommand(['conntrack', '-R', '-'], { input, prefix, timeoutMs: 60_000 });
    if (r.code === 0) {
      done += chunk.length;
      continue;
    }
    // Older tools (no -D in --load-file), or a batch that stopped at an entry that vanished:
    // one process per flow. A flow that ended meanwhile answers "0 flow entries have been deleted".
    for (const a of chunk) {
      const one = await runCommand(['conntrack', ...a], { prefix, timeoutMs: 10_000 });
      if (one.code === 0 || /0 flow entries/.test(one.stderr)) done++;
    }
  }
  return done;
}
