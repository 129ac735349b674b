// Source-address validation as native nftables tables: the layout the agent uses when `nft`
// runs on the node (enforce/spoof-guard.ts holds the iptables/ipset layout it falls back to, the
// same verdicts). One table per family, `ip palisade-guard` and `ip6 palisade-guard`, each with
// its base chain in PREROUTING at raw priority (-300: before conntrack, as the raw table); for
// IPv6 (f = 6, `ip6`; IPv4 the same without the link-local returns):
//
//   chain prerouting (hook prerouting priority raw; policy accept)
//     iif . ip6 saddr @src6 accept             honest (interface index, address) pairs: nearly every packet
//     jump check
//   chain check
//     ip6 saddr fe80::/10 return; ip6 saddr :: return      link-local, DAD and ND keep working
//     ip6 saddr @noif6 drop                               a local pod whose interface is not known
//                                                         yet: fail-closed (absent with --fail-open)
//     iifname @podif6 jump spoofed                        any other source from a pod interface
//   chain spoofed
//     update @forged6 { iifname . ip6 saddr }; drop
//
// Why native: the iptables layout's honest check is an xt_set match that iptables-nft runs
// through nft_compat on every packet; here it is one concatenated-key lookup in nft's own hash
// set. Keyed by interface index (`iif`, 4 bytes, where `iifname` copies and compares 16) and in a
// table per family (an inet table's `ip saddr` carries a `meta nfproto` check, and IPv4 packets
// traverse the IPv6 hook too), it costs a little over half of the iptables layout's share of
// the forwarding path's CPU (README, "Cost of source-address validation";
// bench/e2e/guard-layouts.sh, layouts `new`, `nft`, `nft-iif`, `nft-ip-iif`). podif holds every
// guarded interface in both tables, whatever its pod's families (a single-stack pod's interface
// still drops the other family's forged sources), and per-element counters in both (summed).
// Not on each pod veth's netdev ingress hook, though that costs about a third less when alone
// (`netdev` in the bench): a veth deleted under a bound chain unregisters its hook, which flushes
// every NFQUEUE of the namespace (bench/e2e/netdev-queue-flush.sh), and fail-closed for a pod
// whose interface is not found still needs a PREROUTING chain, which costs more than this table.
//
// Exactness with indexes: an index changes when a veth is recreated under the same name. The
// pairs are written with the indexes the route lookup's `link show` gave; nft lists an index by
// the name it has at listing time (a number when no interface has it), and the agent lists the
// tables every watchdog tick anyway, so stale() sees a pair whose index went stale (it lists as
// `17 . 10.0.0.1`, or under another interface's name) in the next tick, at no cost of its own,
// and the agent looks the routes up and updates the pairs in that tick (agent/source-guard.ts;
// the interface names in sysfs cannot show it, and an index read per guarded interface per
// tick cost ~19 us each: 1.9 ms a second at 100 pods). Meanwhile that pod's packets miss
// src4/6 and are dropped by the name-keyed podif rule (fail-closed, never unguarded); that
// rule, the counters and the forged records stay keyed by name, as only non-honest packets
// reach them. verify() compares names the same way: a stale pair left after the update is put
// back from a fresh lookup.
//
// The state is in the sets, so a pod add, delete or address change is `add/delete element`
// lines in one nft transaction. podif4/6 and noif4/6 carry per-element counters (updated by the
// lookup that matched: the drops per interface); forged4/6 record (interface, forged source)
// for the verdict log with a timeout and a size cap (when full, `update` fails, the rule stops
// there and the next one drops anyway). The agent reads everything back with one
// `list table` per family per watchdog tick, written to a long-lived `nft -j -i` (enforce/tool-session.ts;
// a process per tick cost 3-5 ms of CPU a second at rest): verify() compares chains, sets and
// members with what it wrote, poll() takes the counters and forged records from the same
// listing.

import { mustRun, runCommand, type CommandPrefix } from './command.ts';
import type { Family } from './iptables.ts';
import type { ForgedSource, GuardEntries, KernelGuard, PollResult } from './spoof-guard.ts';
import { NftSession } from './tool-session.ts';
import { canonicalIP } from '../net/address.ts';

export const NFT_GUARD_TABLE = 'palisade-guard';
/** One table per family: `ip palisade-guard`, `ip6 palisade-guard`. */
const T = (f: Family): string => `${f === 4 ? 'ip' : 'ip6'} ${NFT_GUARD_TABLE}`;
/** Where the table's JSON listing says it is (`family` of its objects). */
const FAMILY_NAME = { 4: 'ip', 6: 'ip6' } as const;
/** The single inet table older agents installed: removed with the guard. */
const INET = `inet ${NFT_GUARD_TABLE}`;
/** Every table this layout installs or ever did ("FAMILY NAME"): what remove() deletes. */
export const NFT_GUARD_TABLES: readonly string[] = [T(4), T(6), INET];
const FORGED_TIMEOUT = 300;
const FORGED_MAX = 4096;

/**
 * An interface name nft can take quoted in a set element. Linux allows nearly any byte in a
 * name; one outside this is not bound (its pod's addresses count as having no interface, so
 * they are dropped: fail-closed, like a pod whose interface is not found).
 */
const IFNAME_RE = /^[A-Za-z0-9_.:@+=-]{1,15}$/;
export function nftIfaceOk(name: string): boolean {
  return IFNAME_RE.test(name);
}

/** What one family contributes to the table: honest pairs, guarded interfaces, addresses without one. */
export interface NftMembers {
  /** "iface index address" per honest pair, sorted (written by index, listed by name). */
  readonly src: Record<Family, string[]>;
  /** Guarded interface names, whatever the family of their pod's addresses: each family's table drops what else comes from them. */
  readonly podIf: string[];
  readonly noIface: Record<Family, string[]>;
}

export function nftMembers(families: readonly Family[], entries: ReadonlyMap<Family, GuardEntries>): NftMembers {
  const src: Record<Family, string[]> = { 4: [], 6: [] };
  const noIface: Record<Family, string[]> = { 4: [], 6: [] };
  const podIf = new Set<string>();
  for (const f of families) {
    const e = entries.get(f);
    if (!e) continue;
    for (const [iface, ips] of e.bound) {
      const index = e.index?.get(iface);
      // No index (the interface went before `link show`): as no interface, fail-closed.
      if (!nftIfaceOk(iface) || index === undefined || !Number.isInteger(index) || index <= 0) {
        noIface[f].push(...ips);
        continue;
      }
      podIf.add(iface);
      for (const ip of ips) src[f].push(`${iface} ${index} ${ip}`);
    }
    noIface[f].push(...e.noIface);
  }
  for (const f of [4, 6] as const) {
    src[f].sort();
    noIface[f] = [...new Set(noIface[f])].sort();
  }
  return { src, podIf: [...podIf].sort(), noIface };
}

/** An (interface name, address) pair as nft takes it: a forged record. */
const pair = (p: string): string => {
  const [iface, ip] = p.split(' ') as [string, string];
  return `"${iface}" . ${ip}`;
};

/** An honest pair, "iface index address", as nft takes it: by index. */
const honest = (p: string): string => {
  const [, index, ip] = p.split(' ') as [string, string, string];
  return `${index} . ${ip}`;
};

/** An honest pair as nft lists it: "iface address" (the index shown by its current name). */
const listed = (p: string): string => {
  const [iface, , ip] = p.split(' ') as [string, string, string];
  return `${iface} ${ip}`;
};

/** The sets of each family's table (name without the family digit). */
const GUARD_SETS = ['src', 'podif', 'noif', 'forged'] as const;

/** Set declarations and chains of the tables, nft syntax (one per line), for `families`. */
export function nftGuardRuleset(families: readonly Family[], failOpen: boolean): string[] {
  const lines: string[] = [];
  for (const f of families) {
    const t = T(f);
    const a = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
    const ip = f === 4 ? 'ip' : 'ip6';
    lines.push(
      `add set ${t} src${f} { type iface_index . ${a}; }`,
      `add set ${t} podif${f} { type ifname; counter; }`,
      `add set ${t} noif${f} { type ${a}; counter; }`,
      `add set ${t} forged${f} { type ifname . ${a}; size ${FORGED_MAX}; flags dynamic,timeout; timeout ${FORGED_TIMEOUT}s; }`,
      `add chain ${t} prerouting { type filter hook prerouting priority raw; policy accept; }`,
      `add chain ${t} check`,
      `add chain ${t} spoofed`,
      `add rule ${t} prerouting iif . ${ip} saddr @src${f} accept`,
      `add rule ${t} prerouting jump check`,
    );
    if (f === 6) lines.push(`add rule ${t} check ip6 saddr fe80::/10 return`, `add rule ${t} check ip6 saddr :: return`);
    if (!failOpen) lines.push(`add rule ${t} check ${ip} saddr @noif${f} drop`);
    lines.push(`add rule ${t} check iifname @podif${f} jump spoofed`, `add rule ${t} spoofed update @forged${f} { iifname . ${ip} saddr }`, `add rule ${t} spoofed drop`);
  }
  return lines;
}

/** `add element` lines that fill the sets with `m`. */
function elementLines(op: 'add' | 'delete', m: NftMembers, families: readonly Family[]): string[] {
  const lines: string[] = [];
  // Honest pairs before guarded interfaces (one transaction anyway; the order reads as intended).
  for (const f of families) {
    if (m.src[f].length > 0) lines.push(`${op} element ${T(f)} src${f} { ${m.src[f].map(honest).join(', ')} }`);
    if (m.podIf.length > 0) lines.push(`${op} element ${T(f)} podif${f} { ${m.podIf.map((i) => `"${i}"`).join(', ')} }`);
    if (m.noIface[f].length > 0) lines.push(`${op} element ${T(f)} noif${f} { ${m.noIface[f].join(', ')} }`);
  }
  return lines;
}

/** What the `nft -j list table` answers of a tick hold (one JSON line per table), as far as the guard reads them. */
interface Listing {
  /** Families whose table was listed ("ip", "ip6"). */
  readonly tables: Set<string>;
  /** "family chain" -> its definition and rules (JSON without handles), to compare. */
  readonly chains: Map<string, string[]>;
  /** Set name (unique across the tables: src4, podif6...) -> members: "iface address" pairs, names or addresses, with packet counters. */
  readonly sets: Map<string, { key: string; packets: number }[]>;
}

type Json = Record<string, unknown>;

function memberKey(v: unknown): string {
  if (typeof v === 'string') return canonicalIP(v) ?? v;
  const c = (v as { concat?: unknown[] } | null)?.concat;
  if (Array.isArray(c)) return c.map((x) => (typeof x === 'string' ? canonicalIP(x) ?? x : String(x))).join(' ');
  return JSON.stringify(v);
}

function withoutHandles(o: Json): string {
  return JSON.stringify(o, (k, v: unknown) => (k === 'handle' ? undefined : v));
}

/** Parses the JSON listings, one per line; a table missing is absent from `tables`. */
/** The objects of `nft -j` listings, one JSON document per line (a line that is not one is skipped). */
export function nftItems(text: string): Json[] {
  const out: Json[] = [];
  for (const line of text.split('\n')) {
    try {
      out.push(...(JSON.parse(line) as { nftables: Json[] }).nftables);
    } catch {
      continue;
    }
  }
  return out;
}

export function parseNftListing(text: string): Listing {
  const tables = new Set<string>();
  const chains = new Map<string, string[]>();
  const sets = new Map<string, { key: string; packets: number }[]>();
  for (const it of nftItems(text)) {
    if (it.table) tables.add(String((it.table as Json).family));
    else if (it.chain) {
      const c = it.chain as Json;
      chains.set(`${String(c.family)} ${String(c.name)}`, [withoutHandles(c)]);
    } else if (it.rule) {
      const r = it.rule as Json;
      chains.get(`${String(r.family)} ${String(r.chain)}`)?.push(withoutHandles(r));
    } else if (it.set) {
      const s = it.set as Json;
      const members: { key: string; packets: number }[] = [];
      for (const e of (s.elem as unknown[] | undefined) ?? []) {
        // {"elem": {"val": V, "counter": {...}, "expires": N}} when an element has more than its value.
        const inner = (e as { elem?: { val: unknown; counter?: { packets: number } } } | null)?.elem;
        members.push(inner ? { key: memberKey(inner.val), packets: inner.counter?.packets ?? 0 } : { key: memberKey(e), packets: 0 });
      }
      sets.set(String(s.name), members);
    }
  }
  return { tables, chains, sets };
}

/**
 * Deletes forged records read from a listing (`delete element` lines, one per family), in one
 * transaction. One that expired since the listing fails the transaction: then each line alone,
 * and a line that still fails is left to the set's timeout (a record may then be logged again).
 * Never one `nft` per record: a flood fills the sets with thousands, and a process each stalled
 * the tick for seconds, and the drop counts with it (spoof-flood.stress). Used by this layout and
 * the tc layout's sink.
 */
export async function deleteRecords(dels: readonly string[], prefix?: CommandPrefix): Promise<void> {
  if (dels.length === 0) return;
  const nft = (lines: readonly string[]) => mustRun(['nft', '-f', '-'], { input: lines.join('\n') + '\n', prefix });
  try {
    await nft(dels);
  } catch {
    if (dels.length > 1) for (const d of dels) await nft([d]).catch(() => undefined);
  }
}

export interface NftGuardOptions {
  readonly families: readonly Family[];
  readonly failOpen: boolean;
  readonly prefix?: CommandPrefix;
}

/** Does `nft` run here (the tool is installed and the kernel answers)? */
export async function nftAvailable(prefix?: CommandPrefix): Promise<boolean> {
  try {
    return (await runCommand(['nft', 'list', 'tables'], { prefix })).code === 0;
  } catch {
    return false;
  }
}

export class NftSpoofGuard implements KernelGuard {
  readonly layout = 'nft';
  private readonly o: NftGuardOptions;
  private current: NftMembers | undefined;
  /** Chains as listed right after install (verify compares). */
  private baseline = new Map<string, string[]>();
  /** The per-tick listing goes through one long-lived nft, not a process per tick. */
  private readonly session: NftSession;

  constructor(o: NftGuardOptions) {
    this.o = o;
    this.session = new NftSession(o.prefix);
  }

  /** Listings answered by the long-lived nft so far. */
  get sessionAnswers(): number {
    return this.session.answered;
  }

  private async nft(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await mustRun(['nft', '-f', '-'], { input: lines.join('\n') + '\n', prefix: this.o.prefix });
  }

  /**
   * The whole guard in one transaction, so no packet ever sees a half-built one. Counters and
   * forged records start over.
   *
   * A table that is there already (a restarted agent's, or one the watchdog repairs) is emptied
   * and refilled, not deleted: deleting it unregisters its base chain's hook, and the kernel then
   * drops every packet waiting in an NFQUEUE of the namespace (nf_queue_nf_hook_drop flushes the
   * queues on any hook unregistration), so each restart or repair lost the new connections in
   * flight and the agent's verdicts for them failed (ENOENT). Declarations are idempotent `add`s;
   * `flush table` empties every chain, and the sets are flushed one by one. Only when that is
   * refused (a declaration someone altered, e.g. a set of another type) is the table deleted and
   * declared anew.
   */
  async install(entries: ReadonlyMap<Family, GuardEntries>): Promise<void> {
    const m = nftMembers(this.o.families, entries);
    const fam = this.o.families;
    const ruleset = nftGuardRuleset(fam, this.o.failOpen);
    const declarations = ruleset.filter((l) => !l.startsWith('add rule '));
    const rules = ruleset.filter((l) => l.startsWith('add rule '));
    // An older agent's inet table goes in the same transaction (it is never this agent's own).
    const dropInet = [`add table ${INET}`, `delete table ${INET}`];
    const refill = [
      ...fam.map((f) => `add table ${T(f)}`),
      ...declarations,
      ...fam.flatMap((f) => [`flush table ${T(f)}`, ...GUARD_SETS.map((n) => `flush set ${T(f)} ${n}${f}`)]),
      ...rules,
      ...elementLines('add', m, fam),
    ];
    try {
      await this.nft([...dropInet, ...refill]);
    } catch {
      await this.nft([...dropInet, ...fam.flatMap((f) => [`add table ${T(f)}`, `delete table ${T(f)}`]), ...refill]);
    }
    this.baseline = parseNftListing(await this.read()).chains;
    this.current = m;
  }

  /** Brings the sets to `entries` in one transaction (counters of kept elements survive). */
  async update(entries: ReadonlyMap<Family, GuardEntries>): Promise<boolean> {
    if (!this.current) return false;
    const want = nftMembers(this.o.families, entries);
    const have = this.current;
    const gone = (w: string[], h: string[]): string[] => {
      const ws = new Set(w);
      return h.filter((x) => !ws.has(x));
    };
    const del: NftMembers = { src: { 4: gone(want.src[4], have.src[4]), 6: gone(want.src[6], have.src[6]) }, podIf: gone(want.podIf, have.podIf), noIface: { 4: gone(want.noIface[4], have.noIface[4]), 6: gone(want.noIface[6], have.noIface[6]) } };
    const add: NftMembers = { src: { 4: gone(have.src[4], want.src[4]), 6: gone(have.src[6], want.src[6]) }, podIf: gone(have.podIf, want.podIf), noIface: { 4: gone(have.noIface[4], want.noIface[4]), 6: gone(have.noIface[6], want.noIface[6]) } };
    const lines = [...elementLines('delete', del, this.o.families), ...elementLines('add', add, this.o.families)];
    if (lines.length === 0) return false;
    try {
      await this.nft(lines);
    } catch {
      // A delete of an element someone else removed fails the whole transaction (nft 1.0.6 has
      // no `destroy element`): write the table anew, with what is wanted.
      await this.install(entries);
      return true;
    }
    this.current = want;
    return true;
  }

  /** `nft -j list table` per family, one JSON line each: what verify() and poll() read (a table missing has no line); no `ipset save` needed. */
  async read(): Promise<string> {
    const a = await this.session.query(this.o.families.map((f) => `list table ${T(f)}`));
    if (a !== undefined) return a;
    const out: string[] = [];
    for (const f of this.o.families) {
      const r = await runCommand(['nft', '-j', 'list', 'table', ...T(f).split(' ')], { prefix: this.o.prefix });
      if (r.code === 0) out.push(r.stdout.trim());
    }
    return out.join('\n');
  }

  /** The last listing parsed: stale(), verify() and poll() read the same one each tick. */
  private parsed: { text: string; l: Listing } | undefined;
  private parse(text: string): Listing {
    if (this.parsed?.text !== text) this.parsed = { text, l: parseNftListing(text) };
    return this.parsed.l;
  }

  /** Does an honest pair list under another name than its interface's (an index gone stale, or altered)? */
  stale(listing: string): boolean {
    if (!this.current) return false;
    const l = this.parse(listing);
    return this.o.families.some((f) => {
      const have = l.sets.get(`src${f}`);
      const want = this.current!.src[f].map(listed);
      if (!have) return false; // a missing set is verify()'s
      const keys = new Set(have.map((x) => x.key));
      return keys.size !== want.length || want.some((x) => !keys.has(x));
    });
  }

  /** What is missing or altered: a table, a chain (definition or rules), a set or its members. */
  async verify(listing: string): Promise<string[]> {
    if (!this.current) return [];
    const l = this.parse(listing);
    const problems: string[] = [];
    for (const f of this.o.families) if (!l.tables.has(FAMILY_NAME[f])) problems.push(`table ${T(f)} missing`);
    if (problems.length > 0) return problems;
    for (const [name, want] of this.baseline) {
      const have = l.chains.get(name);
      if (!have) problems.push(`chain ${name} missing`);
      else if (have.length !== want.length || have.some((x, i) => x !== want[i])) problems.push(`chain ${name} altered (${have.length - 1} rules, expected ${want.length - 1})`);
    }
    if (l.chains.size !== this.baseline.size) problems.push(`${l.chains.size} chains, expected ${this.baseline.size}`);
    const m = this.current;
    const expect: [string, string[]][] = [];
    for (const f of this.o.families) expect.push([`src${f}`, m.src[f].map(listed)], [`podif${f}`, m.podIf], [`noif${f}`, m.noIface[f]]);
    for (const [name, members] of expect) {
      const have = l.sets.get(name);
      if (!have) {
        problems.push(`set ${name} missing`);
        continue;
      }
      const keys = new Set(have.map((x) => x.key));
      if (keys.size !== members.length || members.some((x) => !keys.has(x))) problems.push(`set ${name} altered (${keys.size} members, expected ${members.length})`);
    }
    for (const f of this.o.families) if (!l.sets.has(`forged${f}`)) problems.push(`set forged${f} missing`);
    return problems;
  }

  /**
   * The drop counters and the forged records of one listing; the records read are deleted (each
   * reported once; one the kernel records again later is reported again).
   */
  async poll(listing: string): Promise<PollResult> {
    const droppedByIface = new Map<string, number>();
    let droppedNoIface = 0;
    const forged: ForgedSource[] = [];
    if (!this.current) return { droppedByIface, droppedNoIface, forged };
    const l = this.parse(listing);
    const dels: string[] = [];
    for (const f of this.o.families) {
      for (const x of l.sets.get(`podif${f}`) ?? []) droppedByIface.set(x.key, (droppedByIface.get(x.key) ?? 0) + x.packets);
      for (const x of l.sets.get(`noif${f}`) ?? []) droppedNoIface += x.packets;
      const read = l.sets.get(`forged${f}`) ?? [];
      for (const x of read) {
        const [iface, src] = x.key.split(' ') as [string, string];
        forged.push({ family: f, src, iface });
      }
      if (read.length > 0) dels.push(`delete element ${T(f)} forged${f} { ${read.map((x) => pair(x.key)).join(', ')} }`);
    }
    await deleteRecords(dels, this.o.prefix);
    return { droppedByIface, droppedNoIface, forged };
  }

  /** Deletes the tables, both families and an older agent's inet one (nothing else is touched); fine when they are not there. */
  async remove(): Promise<void> {
    this.session.stop();
    for (const t of NFT_GUARD_TABLES) await runCommand(['nft', 'delete', 'table', ...t.split(' ')], { prefix: this.o.prefix });
    this.current = undefined;
    this.baseline = new Map();
  }
}
