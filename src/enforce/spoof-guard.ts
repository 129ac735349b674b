// Source-address validation: a packet that enters the node from a pod's interface must carry one
// of that pod's addresses as its source. This file holds the iptables/ipset layout, the fallback
// where `nft` does not run (enforce/nft-guard.ts holds the native tables the agent prefers, the
// same verdicts at a little over half the CPU per packet), and what both share (KernelGuard, the entries,
// the interface lookup). Checked in the raw table's PREROUTING (before conntrack
// creates or updates an entry and before any judging), IPv4 and IPv6, with a fixed number of
// rules per family; the per-pod state lives in ipsets, so a pod add, delete or address change is
// a few `ipset add/del` lines, never a rule rewrite.
//
//   raw PREROUTING: -m set ! --match-set PALISADE-SRC<f> src,src -j PALISADE-SPOOF
//   PALISADE-SPOOF (every packet that is not an honest (pod address, its interface) pair)
//     (IPv6) -s fe80::/10 -j RETURN; -s ::/128 -j RETURN     link-local, DAD and ND keep working
//     -m set --match-set PALISADE-NOIF<f> src -j DROP         a local pod whose interface is not known
//                                                             yet: fail-closed (rule absent with --fail-open)
//     -m set --match-set PALISADE-PODIF<f> src,src -> PALISADE-SPOOFED   any other source from a pod interface
//   PALISADE-SPOOFED: SET --add-set PALISADE-FORGED<f> src,src --exist; DROP
//
// Every packet entering the node pays for the hook, so the honest pair is checked in the hook
// rule itself: nearly every packet is one, and it then costs one set lookup, with no jump and no
// comment match (iptables-nft runs `-m comment` as an xtables match on every packet): a quarter
// less than a commented jump into a chain starting with the honest-pair RETURN, with the same
// verdicts (README, "Cost of source-address validation"; bench/e2e/guard-layouts.sh). NOIF
// after the honest check changes no verdict either: an address the agent puts in NOIF has no
// interface, so no honest pair holds it (unless two pods claim one address). verify() compares
// the hook rule whole: without its `!` it would drop every honest packet and pass forged ones.
//
// PALISADE-SRC<f> (hash:net,iface) holds (address, iface) for every address of every local pod
// whose interface is known; PALISADE-PODIF<f> (hash:net,iface) holds a catch-all (0.0.0.0/0 or
// ::/0, iface) per guarded interface, with counters: packets dropped per interface. Packets from
// other interfaces (the node's uplink, a TUN judge, lo) match neither and are untouched, as is
// traffic the node itself sends (OUTPUT). One set with `nomatch` host entries under the
// catch-alls would save a lookup, but the kernel (6.18) lets a nomatch entry of another
// interface hide the catch-all (`ipset test` says (c's address, va) is not in a set holding
// (0.0.0.0/0, va) and (c's address, vc) nomatch), so a pod could forge exactly its neighbours'
// addresses: two sets. PALISADE-FORGED<f> (with a timeout) records (forged source, iface) pairs
// for the agent's verdict log; poll() reads and removes them.

import { readdirSync } from 'node:fs';
import { mustRun, runCommand, type CommandPrefix } from './command.ts';
import { hasSet, saveAllSets, setMembersOf } from './ipset-save.ts';
import { palisadeLines, restoreTable, type Family, type IptablesBackend, type PalisadeLines } from './iptables.ts';
import { canonicalIP, parseIP } from '../net/address.ts';

export const SPOOF_CHAINS = { CHECK: 'PALISADE-SPOOF', DROP: 'PALISADE-SPOOFED' } as const;
export const SPOOF_SETS = {
  src: { 4: 'PALISADE-SRC4', 6: 'PALISADE-SRC6' },
  podIf: { 4: 'PALISADE-PODIF4', 6: 'PALISADE-PODIF6' },
  noIface: { 4: 'PALISADE-NOIF4', 6: 'PALISADE-NOIF6' },
  forged: { 4: 'PALISADE-FORGED4', 6: 'PALISADE-FORGED6' },
} as const;
/** Seconds a recorded (forged source, iface) pair lives if the agent never reads it. */
const FORGED_TIMEOUT = 300;
/** Recorded pairs at most: a flood of random sources fills the set, the drops go on regardless. */
const FORGED_MAX = 4096;

/** What the kernel should hold for one family: guarded interfaces with their pods' addresses, and addresses without an interface. */
export interface GuardEntries {
  /** iface -> addresses (canonical, this family) allowed as source from it. */
  readonly bound: ReadonlyMap<string, readonly string[]>;
  /** Addresses of local pods whose interface is not found yet. */
  readonly noIface: readonly string[];
  /** iface -> its index at the lookup (the native table keys honest pairs by index); the iptables layout matches names. */
  readonly index?: ReadonlyMap<string, number>;
  /** iface -> its MAC at the lookup (the tc layout's forged records name the interface by it). */
  readonly mac?: ReadonlyMap<string, string>;
}

export interface Members {
  readonly src: string[];
  readonly podIf: string[];
  readonly noIface: string[];
}

/** The members of one family's sets, as `ipset save` prints them (verify compares). */
export function setMembers(family: Family, e: GuardEntries): Members {
  const all = family === 4 ? '0.0.0.0/0' : '::/0';
  // Host members without a prefix length: the form `ipset save` prints them in.
  const src: string[] = [];
  const podIf: string[] = [];
  for (const [iface, ips] of [...e.bound].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    podIf.push(`${all},${iface}`);
    for (const ip of [...ips].sort()) src.push(`${ip},${iface}`);
  }
  return { src, podIf, noIface: [...e.noIface].sort() };
}

const SET_KINDS = [['src', 'hash:net,iface', ''], ['podIf', 'hash:net,iface', ' counters'], ['noIface', 'hash:net', ' counters']] as const;

/** The raw PREROUTING rule of one family, as `iptables -S` prints it (after `-A PREROUTING `). */
export function hookRule(family: Family): string {
  return `-m set ! --match-set ${SPOOF_SETS.src[family]} src,src -j ${SPOOF_CHAINS.CHECK}`;
}

/** The rules of both chains for one family, as iptables-restore lines. */
export function guardRules(family: Family, failOpen: boolean): string[] {
  const c = SPOOF_CHAINS.CHECK;
  return [
    ...(family === 6 ? [`-A ${c} -s fe80::/10 -j RETURN`, `-A ${c} -s ::/128 -j RETURN`] : []),
    ...(failOpen ? [] : [`-A ${c} -m set --match-set ${SPOOF_SETS.noIface[family]} src -j DROP`]),
    `-A ${c} -m set --match-set ${SPOOF_SETS.podIf[family]} src,src -j ${SPOOF_CHAINS.DROP}`,
    `-A ${SPOOF_CHAINS.DROP} -j SET --add-set ${SPOOF_SETS.forged[family]} src,src --exist`,
    `-A ${SPOOF_CHAINS.DROP} -j DROP`,
  ];
}

/** A forged packet the kernel recorded: its source, the interface it came in on. */
export interface ForgedSource {
  readonly family: Family;
  readonly src: string;
  readonly iface: string;
}

export interface PollResult {
  /** Packets dropped per interface since the catch-all entry was created (kernel counters). */
  readonly droppedByIface: ReadonlyMap<string, number>;
  /** Packets dropped because their source is a local pod with no known interface. */
  readonly droppedNoIface: number;
  readonly forged: readonly ForgedSource[];
}

/** One layout of the guard in the kernel: this file's iptables/ipset one, enforce/nft-guard.ts or enforce/tc-guard.ts. */
export interface KernelGuard {
  readonly layout: 'iptables' | 'nft' | 'tc';
  install(entries: ReadonlyMap<Family, GuardEntries>): Promise<void>;
  update(entries: ReadonlyMap<Family, GuardEntries>): Promise<boolean>;
  /** What verify() and poll() read, once per tick; `ipsetListing`: the tick's shared `ipset save`, if one was made. */
  read(ipsetListing?: string): Promise<string>;
  /**
   * Whether the listing shows an honest pair keyed by an interface index that is no longer its
   * interface's (a veth recreated under the same name): the routes are looked up again. Only the
   * native table keys by index.
   */
  stale?(listing: string): boolean;
  /**
   * A layout without a PREROUTING hook of its own (tc): the families whose no-interface set has
   * members after the last install or update, for the agent's drop rule (PodMatch.noIfaceFamilies).
   */
  readonly noIfaceFamilies?: readonly Family[];
  /** Problems found (empty: intact); `tables` false: the rules are known unchanged, check the rest. */
  verify(listing: string, o?: { tables?: boolean }): Promise<string[]>;
  poll(listing: string): Promise<PollResult>;
  remove(): Promise<void>;
}

export interface SpoofGuardOptions {
  readonly backend: IptablesBackend;
  readonly families: readonly Family[];
  readonly failOpen: boolean;
  readonly prefix?: CommandPrefix;
}

export class SpoofGuard implements KernelGuard {
  readonly layout = 'iptables';
  private readonly o: SpoofGuardOptions;
  /** Members last written, per family (what verify() expects). */
  private readonly current = new Map<Family, Members>();
  private readonly baseline = new Map<Family, PalisadeLines>();
  private installed = false;

  constructor(o: SpoofGuardOptions) {
    this.o = o;
  }

  private ipt(f: Family): string {
    return `${f === 4 ? 'iptables' : 'ip6tables'}-${this.o.backend}`;
  }

  private async ipset(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await mustRun(['ipset', '-exist', 'restore'], { input: lines.join('\n') + '\n', prefix: this.o.prefix });
  }

  /**
   * Creates the sets (filled through a swap, so a reinstall never leaves a moment without the
   * catch-all entries) and (re)declares both chains and the hook jump, one transaction per family.
   */
  async install(entries: ReadonlyMap<Family, GuardEntries>): Promise<void> {
    for (const f of this.o.families) {
      const m = setMembers(f, entries.get(f) ?? { bound: new Map(), noIface: [] });
      const fam = f === 4 ? 'inet' : 'inet6';
      const lines: string[] = [`create ${SPOOF_SETS.forged[f]} hash:net,iface family ${fam} timeout ${FORGED_TIMEOUT} maxelem ${FORGED_MAX}`];
      for (const [kind, type, opts] of SET_KINDS) {
        const set = SPOOF_SETS[kind][f];
        const tmp = `${set}-N`;
        lines.push(`create ${set} ${type} family ${fam}${opts}`, `create ${tmp} ${type} family ${fam}${opts}`, `flush ${tmp}`);
        for (const x of m[kind]) lines.push(`add ${tmp} ${x}`);
        lines.push(`swap ${tmp} ${set}`, `destroy ${tmp}`);
      }
      await this.ipset(lines);
      const cur = palisadeLines(await this.listRaw(f));
      const rules = [`:${SPOOF_CHAINS.CHECK} - [0:0]`, `:${SPOOF_CHAINS.DROP} - [0:0]`, ...guardRules(f, this.o.failOpen)];
      // Any other jump into the chain goes: an altered hook, or an older agent's plain jump,
      // which would now drop honest packets (the chain no longer lets them through).
      const hook = `-A PREROUTING ${hookRule(f)}`;
      const jumps = cur.jumps.filter((j) => j.includes(`-j ${SPOOF_CHAINS.CHECK}`));
      for (const j of jumps) if (j !== hook) rules.push(j.replace(/^-A /, '-D '));
      if (!jumps.includes(hook)) rules.push(`-I PREROUTING 1 ${hookRule(f)}`);
      await restoreTable(this.o.backend, f, 'raw', rules, this.o.prefix);
      this.baseline.set(f, palisadeLines(await this.listRaw(f)));
      this.current.set(f, m);
    }
    this.installed = true;
  }

  /** Brings the sets to `entries` with add/del lines only (counters of kept entries survive). */
  async update(entries: ReadonlyMap<Family, GuardEntries>): Promise<boolean> {
    let changed = false;
    for (const f of this.o.families) {
      const want = setMembers(f, entries.get(f) ?? { bound: new Map(), noIface: [] });
      const have = this.current.get(f) ?? { src: [], podIf: [], noIface: [] };
      const lines: string[] = [];
      // Honest pairs first: a new pod's interface is never guarded before its addresses are in.
      for (const kind of ['src', 'podIf', 'noIface'] as const) {
        const set = SPOOF_SETS[kind][f];
        const w = want[kind];
        const h = have[kind];
        const ws = new Set(w);
        const hs = new Set(h);
        for (const x of h) if (!ws.has(x)) lines.push(`del ${set} ${x}`);
        for (const x of w) if (!hs.has(x)) lines.push(`add ${set} ${x}`);
      }
      if (lines.length === 0) continue;
      await this.ipset(lines);
      this.current.set(f, want);
      changed = true;
    }
    return changed;
  }

  private async listRaw(f: Family): Promise<string> {
    return (await mustRun([this.ipt(f), '-w', '5', '-t', 'raw', '-S'], { prefix: this.o.prefix })).stdout;
  }

  /** `ipset save` of every set (enforce/ipset-save.ts): one process per watchdog tick, shared by verify(), poll() and the agent's other sets. */
  read(ipsetListing?: string): Promise<string> {
    return ipsetListing !== undefined ? Promise.resolve(ipsetListing) : saveAllSets(this.o.prefix);
  }

  /**
   * What is missing or altered (chains and hook unless `tables` is false, set members), per
   * family; empty when intact or not installed.
   */
  async verify(saved: string, o: { tables?: boolean } = {}): Promise<string[]> {
    if (!this.installed) return [];
    const problems: string[] = [];
    for (const f of this.o.families) {
      this.setProblems(f, saved, problems);
      if (o.tables === false) continue;
      const r = await runCommand([this.ipt(f), '-w', '5', '-t', 'raw', '-S'], { prefix: this.o.prefix });
      if (r.code !== 0) {
        problems.push(`IPv${f}: cannot list table raw`);
        continue;
      }
      const cur = palisadeLines(r.stdout);
      const base = this.baseline.get(f);
      for (const c of [SPOOF_CHAINS.CHECK, SPOOF_CHAINS.DROP]) {
        const have = cur.rules.get(c) ?? [];
        const want = base?.rules.get(c) ?? [];
        if (!cur.chains.includes(c)) problems.push(`IPv${f}: chain ${c} missing`);
        else if (have.length !== want.length || have.some((l, i) => l !== want[i])) problems.push(`IPv${f}: chain ${c} altered (${have.length} rules, expected ${want.length})`);
      }
      const hook = `-A PREROUTING ${hookRule(f)}`;
      const jumps = cur.jumps.filter((j) => j.includes(`-j ${SPOOF_CHAINS.CHECK}`));
      if (!jumps.includes(hook)) problems.push(`IPv${f}: jump raw PREROUTING -> ${SPOOF_CHAINS.CHECK} missing`);
      else if (jumps.length > 1) problems.push(`IPv${f}: jump raw PREROUTING -> ${SPOOF_CHAINS.CHECK} altered (${jumps.length} jumps, expected 1)`);
    }
    return problems;
  }

  /** The sets of family `f` against what was last written (from one `ipset save`). */
  private setProblems(f: Family, saved: string, problems: string[]): void {
    const want = this.current.get(f)!;
    for (const kind of ['src', 'podIf', 'noIface'] as const) {
      const set = SPOOF_SETS[kind][f];
      const members = want[kind];
      if (!hasSet(saved, set)) {
        problems.push(`IPv${f}: set ${set} missing`);
        continue;
      }
      const have = new Set(setMembersOf(saved, set).map((m) => m.key));
      if (have.size !== members.length || members.some((x) => !have.has(x))) problems.push(`IPv${f}: set ${set} altered (${have.size} members, expected ${members.length})`);
    }
    if (!hasSet(saved, SPOOF_SETS.forged[f])) problems.push(`IPv${f}: set ${SPOOF_SETS.forged[f]} missing`);
  }

  /**
   * Reads the drop counters and the recorded forged sources, and removes the records read (so
   * each is reported once; one the kernel records again later is reported again).
   */
  async poll(saved: string): Promise<PollResult> {
    const droppedByIface = new Map<string, number>();
    let droppedNoIface = 0;
    const forged: ForgedSource[] = [];
    if (!this.installed) return { droppedByIface, droppedNoIface, forged };
    for (const f of this.o.families) {
      const sets = [SPOOF_SETS.podIf[f], SPOOF_SETS.noIface[f], SPOOF_SETS.forged[f]];
      for (const m of setMembersOf(saved, sets[0]!)) {
        const iface = m.key.slice(m.key.indexOf(',') + 1);
        droppedByIface.set(iface, (droppedByIface.get(iface) ?? 0) + m.packets);
      }
      for (const m of setMembersOf(saved, sets[1]!)) droppedNoIface += m.packets;
      const read = setMembersOf(saved, sets[2]!);
      for (const m of read) {
        const comma = m.key.indexOf(',');
        const ip = m.key.slice(0, comma).replace(/\/\d+$/, '');
        forged.push({ family: f, src: canonicalIP(ip) ?? ip, iface: m.key.slice(comma + 1) });
      }
      await this.ipset(read.map((m) => `del ${sets[2]} ${m.key}`));
    }
    return { droppedByIface, droppedNoIface, forged };
  }

  /** Removes the hook, both chains and the sets, every family. Nothing else is touched. */
  async remove(): Promise<void> {
    for (const f of this.o.families) {
      const cur = palisadeLines(await this.listRaw(f).catch(() => ''));
      const lines = [
        ...cur.jumps.filter((j) => j.includes(`-j ${SPOOF_CHAINS.CHECK}`)).map((j) => j.replace(/^-A /, '-D ')),
        ...[SPOOF_CHAINS.CHECK, SPOOF_CHAINS.DROP].filter((c) => cur.chains.includes(c)).flatMap((c) => [`:${c} - [0:0]`]),
        ...[SPOOF_CHAINS.CHECK, SPOOF_CHAINS.DROP].filter((c) => cur.chains.includes(c)).map((c) => `-X ${c}`),
      ];
      if (lines.length > 0) await restoreTable(this.o.backend, f, 'raw', lines, this.o.prefix);
      for (const set of [SPOOF_SETS.src[f], SPOOF_SETS.podIf[f], SPOOF_SETS.noIface[f], SPOOF_SETS.forged[f]]) {
        await runCommand(['ipset', 'destroy', set], { prefix: this.o.prefix });
      }
    }
    this.current.clear();
    this.baseline.clear();
    this.installed = false;
  }
}

/**
 * The agent's network interfaces by name, as one string, read from sysfs without spawning a
 * process: the watchdog looks routes up again only when this changes (a pod's veth appears,
 * goes or is recreated under a new name; one recreated under the same name keeps the name and
 * gets a new index, which the native table's listing shows: KernelGuard.stale). Undefined when
 * sysfs cannot say: commands run under a prefix (another namespace) or /sys/class/net is
 * missing; the caller then looks up every time.
 */
export function linkFingerprint(prefix?: CommandPrefix): string | undefined {
  if (prefix && prefix.length > 0) return undefined;
  try {
    return readdirSync('/sys/class/net').sort().join(' ');
  } catch {
    return undefined;
  }
}

/** What findInterfaces() found: the host-side interface per address, and each interface's index and MAC. */
export interface FoundInterfaces {
  readonly dev: Map<string, string>;
  readonly index: Map<string, number>;
  readonly mac: Map<string, string>;
}

/**
 * The host-side interface of each address: what `ip route get` says, as routed CNIs (kindnet,
 * Calico, the lab) install a route per pod or per pod subnet through the pod's veth. An address
 * routed via a gateway, or to a local/unreachable/blackhole route, has no pod interface here.
 * One `ip -batch` for all addresses, ending with `link show` for the interfaces' indexes (the
 * same moment as the routes, and no second process).
 */
export async function findInterfaces(addresses: readonly string[], prefix?: CommandPrefix): Promise<FoundInterfaces> {
  const dev = new Map<string, string>();
  const index = new Map<string, number>();
  const mac = new Map<string, string>();
  const ips = addresses.filter((a) => parseIP(a) !== undefined);
  if (ips.length === 0) return { dev, index, mac };
  // -force: one address without a route must not stop the batch.
  const r = await runCommand(['ip', '-o', '-force', '-batch', '-'], { input: ips.map((a) => `route get ${a}\n`).join('') + 'link show\n', prefix });
  for (const line of r.stdout.split('\n')) {
    // `17: va@if2: <...` (a link; names never hold ':' or spaces); route lines start with the address.
    const link = /^(\d+): ([^:@\s]+)[@:]/.exec(line);
    if (link) {
      // A name holding '@' reads ambiguously: one seen twice has no index (its pod: fail-closed).
      index.set(link[2]!, index.has(link[2]!) ? NaN : Number(link[1]));
      const ether = / link\/ether ([0-9a-f:]{17}) /.exec(line);
      if (ether) mac.set(link[2]!, ether[1]!);
      continue;
    }
    const w = line.trim().split(/\s+/);
    if (w.length < 3) continue;
    if (['local', 'unreachable', 'blackhole', 'prohibit', 'broadcast', 'multicast', 'throw'].includes(w[0]!)) continue;
    if (w.includes('via')) continue;
    const d = w.indexOf('dev');
    const name = d >= 0 ? w[d + 1] : undefined;
    const ip = canonicalIP(w[0]!);
    if (!ip || !name || name === 'lo') continue;
    dev.set(ip, name);
  }
  return { dev, index, mac };
}
