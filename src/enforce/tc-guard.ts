// Source-address validation on each pod veth's tc ingress: the layout the agent prefers where tc
// and nft both run (enforce/nft-guard.ts, a native table in PREROUTING, and
// enforce/spoof-guard.ts, iptables raw chains, hold the same verdicts in other places). Per
// guarded interface, an ingress qdisc whose filters run in this order (pref):
//
//   1        protocol ip   u32 match ip src <pod IPv4>/32 classid :1       honest: pass (TC_ACT_OK)
//   2        protocol ipv6 u32 match ip6 src <pod IPv6>/128 classid :1     (a key node per address;
//            above LINEAR_MAX addresses, in a hash table by last byte: tc-filters.ts, PREF)
//   3, 4     protocol ipv6 u32 match ip6 src fe80::/10, ::/128 classid :1   link-local, DAD and ND
//   201, 202 protocol ip / ipv6 u32 match u32 0 0 action mirred ingress redirect dev palisade-sink
//
// A u32 filter with a classid and no action ends the classification with TC_ACT_OK, so an honest
// packet costs one key compare; anything else of a guarded family is taken away (stolen) by the
// catch-all before the IP layer sees it: before PREROUTING, conntrack and any judging. So another
// program's filter before the catch-alls (pref 5-200, or one not u32 among ours) could pass
// forged packets: the watchdog counts it as tampering and the rewrite deletes it. One after them
// (tc's automatic preferences start at 49152) only sees what the guard passed and is left alone. Non-IP
// frames (ARP) match nothing and pass. Why here and not in PREROUTING: what a guard in PREROUTING
// costs is mostly running a netfilter base chain on every packet entering the node at all (an
// empty one too); this runs only on what pods send, and measured 0.41 of the native table's share
// of the forwarding path's CPU (README, "Cost of source-address validation";
// bench/e2e/guard-layouts.sh, layout `tc-sink`). The kernels Palisade meets have u32 and mirred
// (this VM's 6.18 has no flower, matchall or gact); removing a filter, the qdisc or a veth flushes
// no NFQUEUE (bench/e2e/tc-queue-flush.sh), unlike a netdev hook bound to a veth.
//
// The sink: a veth pair of the node, palisade-sink / palisade-sinkp, the one place forged packets
// go. A netdev table bound to palisade-sink's ingress (created once, never deleted while the agent
// runs: unregistering a netfilter hook drops every packet waiting in an NFQUEUE) records (the
// frame's destination MAC, forged source) in a dynamic set with a timeout and drops everything
// (policy drop). The destination MAC is the MAC of the host-side veth the pod sent to (its
// gateway), which names the interface; the count per interface is the catch-all's own action
// counter, exact whatever a pod writes into its frames. With the sink device gone mirred drops
// the packet; should only the table go (someone deleted it), the watchdog's next tick writes it
// back, and meanwhile the sink's sysctls (IPv6 off, IPv4 forwarding off, strict rp_filter), where
// the agent may set them (a container's /proc/sys is read-only unless privileged), keep what
// arrives from being delivered or routed.
//
// What the PREROUTING layouts do in the same hook and this one cannot (the decisions, README):
// - A local pod whose interface is not found: its addresses are dropped by a rule of the agent's
//   own filter chains (RulePlan.noIfaceSets: before new connections are queued, so they are never
//   judged and conntrack never confirms an entry for them), from the sets TC_NOIF_SETS; the rule
//   is there only while its family's set has members (noIfaceFamilies), written after the set.
// - A veth recreated under the same name comes without the qdisc: the watchdog's next tick sees
//   the name under another index (stale()) and writes the interface whole after a route lookup,
//   as an interface change, not tampering (the native table keeps such an interface fail-closed
//   by name until then; here it is unguarded for up to one tick).
// Each watchdog tick lists the catch-alls of every guarded interface (the counters, and that they
// are there) through a long-lived tc; every 10th tick, and after anything was missing, every
// preference: another program's filter put before the catch-alls is found within 10 ticks.

import { readdirSync, readFileSync } from 'node:fs';
import { mustRun, runCommand, type CommandPrefix } from './command.ts';
import type { Family } from './iptables.ts';
import { hasSet, setMembersOf, saveSets } from './ipset-save.ts';
import type { ForgedSource, GuardEntries, KernelGuard, PollResult } from './spoof-guard.ts';
import { NftSession, TcSession } from './tool-session.ts';
import { deleteRecords } from './nft-guard.ts';
import { BEFORE_CATCH, FULL_EVERY, PREF, SINK_TABLE, TABLE_IDS, TC_NOIF_SETS, TC_SINK, merge, parseTcFilters, removeLines, sinkRuleset, sinkState, syncLines, tcFilters, tcIfaceOk, writtenForms, type ListedFilters, type TcFilter } from './tc-filters.ts';

// The pure parts live in tc-filters.ts; the names callers and tests use are re-exported here.
export { TC_NOIF_SETS, TC_SINK, parseTcFilters, sinkRuleset, tcFilters, tcIfaceOk, type TcFilter } from './tc-filters.ts';
/** Ticks a retired hash table's delete is tried (the kernel's deferred release takes one RCU grace period). */
const RETIRE_TRIES = 10;

export interface TcGuardOptions {
  readonly families: readonly Family[];
  readonly failOpen: boolean;
  readonly prefix?: CommandPrefix;
}

/** What one watchdog tick read: per guarded interface its filters (undefined: the device is gone), the sink's table, the ipsets. */
interface TcListing {
  readonly ifaces: Record<string, string | null>;
  /**
   * The index now (sysfs) of each guarded interface listed without this layout's catch-alls: a
   * new one is the veth recreated under its name (read only for those: a sysfs read per
   * interface per tick cost ~19 us each).
   */
  readonly index: Record<string, number>;
  /** Every preference listed (else the catch-alls only). */
  readonly full: boolean;
  readonly sinkDev: boolean;
  readonly sink: string;
  /** Undefined: not read this tick. */
  readonly ipset?: string;
}

/** Does tc run here with what the layout needs (clsact, u32, mirred)? Checked on the sink, which the layout creates anyway. */
export async function tcAvailable(prefix?: CommandPrefix): Promise<boolean> {
  try {
    return (await runCommand(['tc', '-V'], { prefix })).code === 0;
  } catch {
    return false;
  }
}

export class TcSpoofGuard implements KernelGuard {
  readonly layout = 'tc';
  private readonly o: TcGuardOptions;
  /** iface -> filters last written. */
  private current = new Map<string, TcFilter[]>();
  /** Hash tables a rewrite left unlinked, to delete at the next ticks (retireTables). */
  private retired: { readonly iface: string; readonly pref: number; readonly table: string; readonly tries: number }[] = [];
  /**
   * The id of the next hash table written (tc-filters.ts, PLACEHOLDER_TABLE): from a random start,
   * so that an agent started again does not walk the ids the last one wrote.
   */
  private tableId = TABLE_IDS.first + Math.floor(Math.random() * (TABLE_IDS.last - TABLE_IDS.first + 1));
  private readonly nextTable = (): string => {
    const id = this.tableId;
    this.tableId = id >= TABLE_IDS.last ? TABLE_IDS.first : id + 1;
    return id.toString(16);
  };
  /** MAC of each guarded host-side interface (lower case): the forged records name it. */
  private macs = new Map<string, string>();
  private noIface: Record<Family, string[]> = { 4: [], 6: [] };

  get noIfaceFamilies(): Family[] {
    return this.o.families.filter((f) => this.noIface[f].length > 0);
  }
  /** Index of each guarded interface when its filters were written: another one now is a fresh device, without them. */
  private index = new Map<string, number>();
  private installed = false;
  private reads = 0;
  /** The no-interface sets' summed counters at their last read. */
  private lastNoIface = 0;
  /** Per-tick listings go through a long-lived nft (the sink table) and tc (the filters), not processes. */
  private readonly session: NftSession;
  private readonly tcSession: TcSession;
  /**
   * Per "iface pref" of a catch-all: its counter at the last poll (0 once this guard writes it),
   * and per iface what its catch-alls took in all. A catch-all written anew restarts at 0 while
   * its twin of the other family keeps counting: compared one by one, neither is counted twice.
   */
  private sunkLast = new Map<string, number>();
  private sunkTotal = new Map<string, number>();
  /**
   * Full listings (every preference of every guarded interface) are made every FULL_EVERY reads
   * and after anything was found missing; the reads between list the catch-alls only (their
   * counters, and that they are there). A settled node with many addresses on one interface (a
   * bridge, the e2e bench's tuple clients on a's veth) otherwise parsed hundreds of key nodes a
   * second: about 8 ms of the agent's CPU a second in bench:e2e.
   */
  private full = true;
  /** The last listing parsed: stale(), verify() and poll() read the same one each tick. */
  private parsed: { text: string; l: TcListing; filters: Map<string, ListedFilters> } | undefined;

  constructor(o: TcGuardOptions) {
    this.o = o;
    this.session = new NftSession(o.prefix);
    this.tcSession = new TcSession(o.prefix);
  }

  private want(entries: ReadonlyMap<Family, GuardEntries>): { filters: Map<string, TcFilter[]>; noIface: Record<Family, string[]>; macs: Map<string, string>; index: Map<string, number> } {
    const ips = new Map<string, string[]>();
    const noIface: Record<Family, string[]> = { 4: [], 6: [] };
    const macs = new Map<string, string>();
    const index = new Map<string, number>();
    for (const f of this.o.families) {
      const e = entries.get(f);
      if (!e) continue;
      for (const [iface, list] of e.bound) {
        // A name tc cannot take, or an interface without a MAC-less lookup: as no interface.
        if (!tcIfaceOk(iface)) {
          noIface[f].push(...list);
          continue;
        }
        ips.set(iface, [...(ips.get(iface) ?? []), ...list]);
        const mac = e.mac?.get(iface);
        if (mac) macs.set(iface, mac.toLowerCase());
        const i = e.index?.get(iface);
        if (i !== undefined && Number.isInteger(i)) index.set(iface, i);
      }
      noIface[f].push(...e.noIface);
    }
    const filters = new Map<string, TcFilter[]>();
    for (const [iface, list] of [...ips].sort((a, b) => (a[0] < b[0] ? -1 : 1))) filters.set(iface, tcFilters(this.o.families, list));
    for (const f of [4, 6] as const) noIface[f] = [...new Set(noIface[f])].sort();
    return { filters, noIface, macs, index };
  }

  private async tc(lines: readonly string[]): Promise<{ failed: Set<number>; stderr: string }> {
    if (lines.length === 0) return { failed: new Set(), stderr: '' };
    // -force: one interface gone (a pod deleted meanwhile) must not stop the rest.
    const r = await runCommand(['tc', '-force', '-batch', '-'], { input: lines.join('\n') + '\n', prefix: this.o.prefix });
    const failed = new Set<number>();
    for (const m of r.stderr.matchAll(/Command failed -:(\d+)/g)) failed.add(Number(m[1]));
    if (r.code !== 0 && failed.size === 0) throw new Error(`tc -batch failed: ${r.stderr.trim()}`);
    lines.forEach((l, i) => {
      const w = /^filter add dev (\S+) ingress pref (\d+) .* mirred /.exec(l);
      if (w && !failed.has(i + 1)) this.sunkLast.set(`${w[1]} ${w[2]}`, 0);
    });
    return { failed, stderr: r.stderr };
  }

  private async ipset(lines: readonly string[]): Promise<void> {
    if (lines.length > 0) await mustRun(['ipset', '-exist', 'restore'], { input: lines.join('\n') + '\n', prefix: this.o.prefix });
  }

  /** The sink pair, its sysctls and its table; what is there already is kept (its hook is never re-registered). */
  private async sink(): Promise<void> {
    const { dev, peer } = TC_SINK;
    if ((await runCommand(['ip', 'link', 'show', dev], { prefix: this.o.prefix })).code !== 0) {
      await runCommand(['ip', 'link', 'del', peer], { prefix: this.o.prefix });
      await mustRun(['ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', peer], { prefix: this.o.prefix });
    }
    // Defence behind the table, best effort (read-only /proc/sys in an unprivileged container).
    await runCommand(['sysctl', '-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`, `net.ipv6.conf.${peer}.disable_ipv6=1`, `net.ipv4.conf.${dev}.forwarding=0`, `net.ipv4.conf.${dev}.rp_filter=1`], { prefix: this.o.prefix });
    await mustRun(['ip', 'link', 'set', dev, 'up'], { prefix: this.o.prefix });
    await mustRun(['ip', 'link', 'set', peer, 'up'], { prefix: this.o.prefix });
    await mustRun(['nft', '-f', '-'], { input: sinkRuleset().join('\n') + '\n', prefix: this.o.prefix });
  }

  private noifLines(noIface: Record<Family, string[]>, swap: boolean): string[] {
    const lines: string[] = [];
    for (const f of this.o.families) {
      const set = TC_NOIF_SETS[f];
      const fam = f === 4 ? 'inet' : 'inet6';
      if (!swap) {
        const have = new Set(this.noIface[f]);
        const want = new Set(noIface[f]);
        for (const x of this.noIface[f]) if (!want.has(x)) lines.push(`del ${set} ${x}`);
        for (const x of noIface[f]) if (!have.has(x)) lines.push(`add ${set} ${x}`);
        continue;
      }
      lines.push(`create ${set} hash:net family ${fam} counters`, `create ${set}-N hash:net family ${fam} counters`, `flush ${set}-N`);
      for (const x of noIface[f]) lines.push(`add ${set}-N ${x}`);
      lines.push(`swap ${set}-N ${set}`, `destroy ${set}-N`);
    }
    return lines;
  }

  /**
   * The whole layout from a fresh listing: the sink, the no-interface sets, and every guarded
   * interface brought to its filters (an interface of ours no longer guarded loses them).
   */
  async install(entries: ReadonlyMap<Family, GuardEntries>): Promise<void> {
    const w = this.want(entries);
    await this.sink();
    await this.ipset(this.noifLines(w.noIface, true));
    const ifaces = [...new Set([...w.filters.keys(), ...this.current.keys()])];
    const listed = await this.listFilters(ifaces, true, false);
    const lines: string[] = [];
    // What each interface holds once the lines ran: what is wanted, in the tables chosen.
    const written = new Map(w.filters);
    for (const iface of ifaces) {
      const l = listed[iface];
      if (l === null) continue; // the device is gone
      const have = l === undefined ? undefined : parseTcFilters(l);
      const want = w.filters.get(iface) ?? [];
      if (want.length === 0) lines.push(...removeLines(iface, have));
      else {
        for (const p of have?.foreign.filter(BEFORE_CATCH) ?? []) lines.push(`filter del dev ${iface} ingress pref ${p}`);
        // Tables no node links to (a rewrite that stopped half way): deleted while their
        // preference is there to name them through.
        for (const [p, ids] of have?.strayTables ?? []) for (const id of ids) lines.push(`filter del dev ${iface} ingress pref ${p} handle ${id}: u32`);
        const sync = syncLines(iface, want, have && have.filters.size + have.foreign.length > 0 ? have.filters : undefined, this.nextTable);
        lines.push(...sync.lines);
        written.set(iface, sync.written);
        this.retired.push(...sync.retire.map((x) => ({ ...x, tries: 0 })));
      }
    }
    const r = await this.tc(lines);
    this.checkWrites(lines, r, w.filters);
    this.current = written;
    this.macs = w.macs;
    this.index = w.index;
    this.noIface = w.noIface;
    this.installed = true;
  }

  /** A failed write on an interface that still exists is an error (the generation must not count as enforced). */
  private checkWrites(lines: readonly string[], r: { failed: Set<number>; stderr: string }, want: ReadonlyMap<string, TcFilter[]>): void {
    for (const n of r.failed) {
      const line = lines[n - 1] ?? '';
      // `qdisc add` fails when a clsact is there already (another program's, or ours unlisted): fine.
      if (line.startsWith('qdisc add') || line.startsWith('filter del') || line.startsWith('qdisc del')) continue;
      const iface = /dev (\S+)/.exec(line)?.[1];
      if (iface && want.has(iface) && (linkNames(this.o.prefix)?.has(iface) ?? true)) throw new Error(`tc: "${line}" failed: ${r.stderr.trim().split('\n')[0]}`);
    }
  }

  /** Per-generation update from what was last written (no listing); a failed write is redone from a listing. */
  async update(entries: ReadonlyMap<Family, GuardEntries>): Promise<boolean> {
    if (!this.installed) return false;
    const w = this.want(entries);
    const lines: string[] = [];
    const written = new Map<string, TcFilter[]>();
    for (const [iface, want] of w.filters) {
      // A veth recreated under its name (another index) has none of what was written on the old one.
      const have = this.recreated(iface, w.index.get(iface)) ? undefined : this.current.get(iface);
      const sync = syncLines(iface, want, have ? writtenForms(have) : undefined, this.nextTable);
      lines.push(...sync.lines);
      written.set(iface, sync.written);
      this.retired.push(...sync.retire.map((x) => ({ ...x, tries: 0 })));
    }
    // An interface no longer guarded (its pod went; usually the veth went with it) loses our
    // filters only: the clsact may hold another program's.
    for (const [iface, had] of this.current) if (!w.filters.has(iface)) for (const f of had) lines.push(`filter del dev ${iface} ingress pref ${f.pref}`);
    const noif = this.noifLines(w.noIface, false);
    this.macs = w.macs;
    if (lines.length === 0 && noif.length === 0) return false;
    // New no-interface addresses before the filters: a pod losing its interface is never unguarded.
    try {
      await this.ipset(noif);
    } catch {
      await this.ipset(this.noifLines(w.noIface, true));
    }
    this.noIface = w.noIface;
    try {
      const r = await this.tc(lines);
      this.checkWrites(lines, r, w.filters);
      this.current = written;
      this.index = w.index;
    } catch {
      await this.install(entries);
    }
    return true;
  }

  /**
   * Deletes the hash tables rewrites left unlinked (syncLines), once a tick: one still held by the
   * kernel's deferred release is tried again at the next tick, up to RETIRE_TRIES times (a table
   * left is unreachable clutter, never a pass: tc-filters.ts, PLACEHOLDER_TABLE).
   */
  private async retireTables(): Promise<void> {
    if (this.retired.length === 0) return;
    const list = this.retired;
    this.retired = [];
    let failed: ReadonlySet<number> | undefined;
    try {
      failed = (await this.tc(list.map((x) => `filter del dev ${x.iface} ingress pref ${x.pref} handle ${x.table}: u32`))).failed;
    } catch {
      failed = undefined; // tc itself failed: every line again
    }
    for (const [i, x] of list.entries()) if ((failed === undefined || failed.has(i + 1)) && x.tries + 1 < RETIRE_TRIES) this.retired.push({ ...x, tries: x.tries + 1 });
  }

  private recreated(iface: string, now: number | undefined): boolean {
    const then = this.index.get(iface);
    return then !== undefined && now !== undefined && then !== now;
  }

  /**
   * Was a guarded veth recreated under its name since its filters were written (another index)?
   * The agent then looks the routes up and update() writes that interface whole, in this tick,
   * before verify() would count its missing filters as tampering.
   */
  stale(text: string): boolean {
    const { l } = this.parse(text);
    const stale = [...this.current.keys()].some((iface) => this.recreated(iface, l.index[iface]));
    if (stale) this.full = true;
    return stale;
  }

  /**
   * `tc -s -j filter show` per interface (`full`: every preference, else the catch-alls', one
   * array per interface either way); null for an interface that is gone. Through the long-lived
   * tc when it answered every interface with our catch-alls in place; else, and always for a
   * rewrite, one `tc -batch` of its own, whose failed lines stderr numbers. A tc maps a name to
   * an index once and keeps it (seen on 6.18 with iproute2 6.1.0): a veth recreated under its
   * name lists as "[]" there, no error, so a listing without the catch-alls is not believed
   * from the session, which is restarted.
   */
  private async listFilters(ifaces: readonly string[], full: boolean, viaSession = true): Promise<Record<string, string | null>> {
    const out: Record<string, string | null> = {};
    if (ifaces.length === 0) return out;
    const names = linkNames(this.o.prefix);
    const present = names ? ifaces.filter((i) => names.has(i)) : [...ifaces];
    const prefs = full ? undefined : this.catchPrefs;
    const cmds = (i: string): string[] => (prefs ? prefs.map((p) => `filter show dev ${i} ingress pref ${p}`) : [`filter show dev ${i} ingress`]);
    const per = prefs ? prefs.length : 1;
    if (viaSession && present.length > 0) {
      const a = await this.tcSession.query(present.flatMap(cmds));
      const got = a?.split('\n').filter((l) => l.startsWith('['));
      if (got && got.length === present.length * per) {
        for (const i of ifaces) out[i] = null;
        present.forEach((i, k) => (out[i] = merge(got.slice(k * per, (k + 1) * per), prefs)));
        if (present.every((i) => parseTcFilters(out[i]!).sunkBy.size === this.catchAlls)) return out;
      }
      this.tcSession.stop();
    }
    const list = present.length > 0 ? present : [...ifaces];
    const r = await runCommand(['tc', '-s', '-j', '-force', '-batch', '-'], { input: list.flatMap(cmds).map((c) => `${c}\n`).join(''), prefix: this.o.prefix });
    const failed = new Set([...r.stderr.matchAll(/Command failed -:(\d+)/g)].map((m) => Number(m[1])));
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('['));
    let k = 0;
    let n = 0;
    for (const i of ifaces) out[i] = null;
    for (const iface of list) {
      const mine: string[] = [];
      let gone = false;
      for (let c = 0; c < per; c++) {
        if (failed.has(++n)) gone = true;
        else mine.push(lines[k++] ?? '[]');
      }
      out[iface] = gone ? null : merge(mine, gone || mine.length < per ? undefined : prefs);
    }
    return out;
  }

  /** The catch-alls' preferences: one per family guarded. */
  private get catchPrefs(): number[] {
    return [...(this.o.families.includes(4) ? [PREF.catch4] : []), ...(this.o.families.includes(6) ? [PREF.catch6] : [])];
  }

  private get catchAlls(): number {
    return this.catchPrefs.length;
  }

  /** One tick's listing: the guarded interfaces' filters (all, or the catch-alls), the sink (device and table), the no-interface sets. */
  async read(): Promise<string> {
    const full = this.full || this.reads % FULL_EVERY === 0;
    const ifaces = await this.listFilters([...this.current.keys()], full);
    const sink = (await this.session.query([`list table ${SINK_TABLE}`])) ?? (await runCommand(['nft', '-j', 'list', 'table', ...SINK_TABLE.split(' ')], { prefix: this.o.prefix })).stdout;
    const index: Record<string, number> = {};
    for (const [iface, line] of Object.entries(ifaces)) {
      if (line === null || parseTcFilters(line).sunkBy.size === this.catchAlls) continue;
      const i = this.o.prefix && this.o.prefix.length > 0 ? undefined : ifindexOf(iface);
      if (i !== undefined) index[iface] = i; // else gone: the listing says so
    }
    // The no-interface sets only while they hold something (their counters move only then), and
    // every 10th read to check them: a tick spawns one process less on a settled node.
    const sets = this.o.families.some((f) => this.noIface[f].length > 0) || this.reads % FULL_EVERY === 0;
    this.reads++;
    const ipset = sets ? await saveSets(this.o.families.map((f) => TC_NOIF_SETS[f]), this.o.prefix) : undefined;
    const listing: TcListing = { ifaces, index, full, sinkDev: linkNames(this.o.prefix)?.has(TC_SINK.dev) ?? true, sink, ipset };
    const text = JSON.stringify(listing);
    this.full = false;
    return text;
  }

  /** The listing and its interfaces' filters, parsed once per tick. */
  private parse(text: string): { l: TcListing; filters: Map<string, ListedFilters> } {
    if (this.parsed?.text !== text) {
      const l = JSON.parse(text) as TcListing;
      const filters = new Map<string, ListedFilters>();
      for (const [iface, line] of Object.entries(l.ifaces)) if (line) filters.set(iface, parseTcFilters(line));
      this.parsed = { text, l, filters };
    }
    return this.parsed;
  }

  async verify(text: string): Promise<string[]> {
    if (!this.installed) return [];
    const { l, filters } = this.parse(text);
    const problems: string[] = [];
    for (const [iface, want] of this.current) {
      const parsed = filters.get(iface);
      if (!parsed) continue; // the device went: the next route lookup drops it
      const have = parsed.filters;
      // Between full listings only the catch-alls were listed: only they are compared.
      const w = [...writtenForms(want)].filter(([p]) => l.full || p === PREF.catch4 || p === PREF.catch6);
      if (have.size !== w.length || w.some(([p, s]) => have.get(p) !== s)) problems.push(`tc filters of ${iface} missing or altered (${have.size} of ours listed, expected ${w.length})`);
      const early = parsed.foreign.filter(BEFORE_CATCH);
      if (early.length > 0) problems.push(`tc filters of another program on ${iface} run before the catch-alls (pref ${early.join(', ')})`);
    }
    if (!l.sinkDev) problems.push(`sink device ${TC_SINK.dev} missing`);
    const sink = sinkState(l.sink);
    if (!sink.chain) problems.push(`table ${SINK_TABLE} or its chain missing or altered`);
    for (const f of l.ipset === undefined ? [] : this.o.families) {
      const set = TC_NOIF_SETS[f];
      if (!hasSet(l.ipset!, set)) {
        problems.push(`set ${set} missing`);
        continue;
      }
      const have = new Set(setMembersOf(l.ipset!, set).map((m) => m.key));
      if (have.size !== this.noIface[f].length || this.noIface[f].some((x) => !have.has(x))) problems.push(`set ${set} altered (${have.size} members, expected ${this.noIface[f].length})`);
    }
    if (problems.length > 0) this.full = true;
    return problems;
  }

  /** Counters (the catch-alls', the no-interface sets') and the sink's forged records, which are deleted once read. */
  async poll(text: string): Promise<PollResult> {
    const droppedByIface = new Map<string, number>();
    let droppedNoIface = 0;
    const forged: ForgedSource[] = [];
    if (!this.installed) return { droppedByIface, droppedNoIface, forged };
    await this.retireTables();
    const { l, filters } = this.parse(text);
    for (const iface of this.current.keys()) {
      const parsed = filters.get(iface);
      if (!parsed) continue;
      // An unlinked table a full listing shows (its link deleted by someone, or a delete of ours
      // that came too early) is retired as a rewrite's is.
      for (const [pref, ids] of parsed.strayTables) {
        for (const table of ids) if (!this.retired.some((x) => x.iface === iface && x.pref === pref && x.table === table)) this.retired.push({ iface, pref, table, tries: 0 });
      }
      let total = this.sunkTotal.get(iface) ?? 0;
      for (const [pref, n] of parsed.sunkBy) {
        const key = `${iface} ${pref}`;
        const last = this.sunkLast.get(key) ?? 0;
        total += n >= last ? n - last : n;
        this.sunkLast.set(key, n);
      }
      this.sunkTotal.set(iface, total);
      droppedByIface.set(iface, total);
    }
    // An interface no longer guarded (its pod gone) is forgotten: veth names come and go.
    for (const iface of this.sunkTotal.keys()) if (!this.current.has(iface)) this.sunkTotal.delete(iface);
    for (const key of this.sunkLast.keys()) if (!this.current.has(key.slice(0, key.indexOf(' ')))) this.sunkLast.delete(key);
    // Not read this tick: the sets were empty, so their counters are where they were.
    if (l.ipset === undefined) droppedNoIface = this.lastNoIface;
    else for (const f of this.o.families) for (const m of setMembersOf(l.ipset, TC_NOIF_SETS[f])) droppedNoIface += m.packets;
    this.lastNoIface = droppedNoIface;
    const byMac = new Map<string, string | undefined>();
    for (const [iface, mac] of this.macs) byMac.set(mac, byMac.has(mac) ? undefined : iface);
    const dels: string[] = [];
    for (const [f, records] of sinkState(l.sink).forged) {
      for (const r of records) {
        // A MAC shared by several interfaces (a CNI that gives every host veth one), or one no
        // guarded interface has (the pod wrote another): the counts above still say which interface.
        const iface = byMac.get(r.mac) ?? `mac ${r.mac}`;
        forged.push({ family: f, src: r.src, iface });
      }
      if (records.length > 0) dels.push(`delete element ${SINK_TABLE} forged${f} { ${records.map((r) => `${r.mac} . ${r.src}`).join(', ')} }`);
    }
    await deleteRecords(dels, this.o.prefix);
    return { droppedByIface, droppedNoIface, forged };
  }

  /**
   * The interfaces holding this layout's filters (a catch-all into the sink), with what each
   * holds: every link of the namespace is listed, so a previous run's are found too (under a
   * prefix, another namespace, only the ones this guard wrote).
   */
  async guardedLinks(): Promise<Map<string, ListedFilters>> {
    let links: string[] = [];
    try {
      links = this.o.prefix && this.o.prefix.length > 0 ? [...this.current.keys()] : readdirSync('/sys/class/net');
    } catch {
      links = [...this.current.keys()];
    }
    links = links.filter(tcIfaceOk);
    const listed = await this.listFilters(links, true, false);
    const out = new Map<string, ListedFilters>();
    for (const iface of links) {
      const l = listed[iface];
      if (!l) continue;
      const have = parseTcFilters(l);
      if ([...have.filters.values()].some((s) => s.includes(' sink '))) out.set(iface, have);
    }
    return out;
  }

  /**
   * Takes the filters off every interface that has this layout's (found by listing every link, so
   * a previous run's are found too), then the sink and the sets. Deleting the sink unregisters its
   * table's hook, which drops packets waiting in NFQUEUEs: only when the guard goes for good.
   */
  async remove(): Promise<void> {
    this.session.stop();
    const lines: string[] = [];
    for (const [iface, have] of await this.guardedLinks()) lines.push(...removeLines(iface, have));
    await this.tc(lines).catch(() => undefined);
    await runCommand(['nft', 'delete', 'table', ...SINK_TABLE.split(' ')], { prefix: this.o.prefix });
    await runCommand(['ip', 'link', 'del', TC_SINK.dev], { prefix: this.o.prefix });
    for (const f of [4, 6] as const) {
      // Still referenced by the agent's filter chains while they name it: emptied then, destroyed when free.
      await runCommand(['ipset', 'flush', TC_NOIF_SETS[f]], { prefix: this.o.prefix });
      await runCommand(['ipset', 'destroy', TC_NOIF_SETS[f]], { prefix: this.o.prefix });
    }
    this.tcSession.stop();
    this.current.clear();
    this.installed = false;
  }
}

/** A link's index from sysfs (this namespace), undefined when it is gone. */
function ifindexOf(name: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The names of this namespace's links (one sysfs read); undefined under a prefix (another namespace) or without sysfs: the tc listing says what is gone. */
function linkNames(prefix?: CommandPrefix): Set<string> | undefined {
  if (prefix && prefix.length > 0) return undefined;
  try {
    return new Set(readdirSync('/sys/class/net'));
  } catch {
    return undefined;
  }
}

