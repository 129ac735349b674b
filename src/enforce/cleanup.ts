// Everything a Palisade agent leaves in the kernel of its network namespace, found and removed
// with no agent running (`palisade cleanup`): a killed agent's, or the --keep-rules DaemonSet's
// after it was deleted. Nothing here knows a name of its own: each part is removed by the
// function the agent's stop (or its start, for another layout's leftovers) uses, here for every
// backend, family and layout at once since nothing says which one the last agent used. This file
// only lists what is there and calls those functions in an order the kernel accepts: the rules
// first, then the sets they name (the kernel refuses to destroy a set a rule names).
//
// What is listed (findPalisade), and so what a dry run shows and what must be gone afterwards:
//   iptables   PALISADE-* chains and the jumps into them: filter, mangle and raw tables, both
//              backends (legacy, nft), both families
//   ipsets     every set named PALISADE-* (the judged sets, the verdict cache, kernel admission,
//              the source guard's)
//   nft        the source guard's tables (nft-guard.ts) and the tc layout's sink table
//   tc         ingress filters of the tc layout on any link (a catch-all into the sink)
//   links      the sink veth pair; the TUN devices (judge and DNS learner)
//   ip rules   the TUN backend's policy routing (judge and DNS learner): the rules at its preference
//              that look up its table (other programs' rules there stay), the table's routes

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { runCommand, type CommandPrefix } from './command.ts';
import { CHAIN_PREFIX, listPalisadeRules, listRules, removeAll, type Family, type IptablesBackend } from './iptables.ts';
import { toolFailure, unusableIptablesText, type ToolFailure } from './iptables-backend.ts';
import { existingSets } from './ipset-save.ts';
import { destroyJudgedSets } from './judged-sets.ts';
import { destroyVerdictCacheSets } from './verdict-cache.ts';
import { destroyAdmitSets } from './admit-sets.ts';
import { SpoofGuard } from './spoof-guard.ts';
import { NFT_GUARD_TABLES, NftSpoofGuard, nftAvailable } from './nft-guard.ts';
import { TC_SINK, TcSpoofGuard, tcAvailable } from './tc-guard.ts';
import { SINK_TABLE } from './tc-filters.ts';
import { dnsTunName } from './dns-rules.ts';
import { DEFAULT_TUN_DEVICE, DEFAULT_TUN_PRIORITY, DEFAULT_TUN_TABLE, deleteTunDevice, dnsTunRouting, isTunDevice, listTunRules, removeTunRouting, tunRuleArgs, type TunRoutingOptions } from './tun-routing.ts';

const BACKENDS: readonly IptablesBackend[] = ['legacy', 'nft'];
const FAMILIES: readonly Family[] = [4, 6];
const TABLES = ['filter', 'mangle', 'raw'] as const;

export interface CleanupOptions {
  /** The TUN backend's device and routing table as the agent was started with (--tun-name, --tun-table); defaults as the agent's. */
  readonly tunDevice?: string;
  readonly tunTable?: number;
  readonly tunPriority?: number;
  /** Tests only: run the tools in another namespace. The tc layout's filters are then found only on links of this namespace's names. */
  readonly prefix?: CommandPrefix;
}

/** One kernel object of Palisade's, in words a user can look up (`what` as the tool lists it). */
export interface Found {
  readonly kind: 'iptables' | 'ipset' | 'nft' | 'tc' | 'link' | 'ip rule' | 'route';
  readonly what: string;
}

/** The judge's and the DNS learner's policy routing (the mark is not needed to find or remove it). */
function tunRoutings(o: CleanupOptions): TunRoutingOptions[] {
  const judge: TunRoutingOptions = { device: o.tunDevice ?? DEFAULT_TUN_DEVICE, divertMark: 0, table: o.tunTable ?? DEFAULT_TUN_TABLE, priority: o.tunPriority ?? DEFAULT_TUN_PRIORITY, prefix: o.prefix };
  return [judge, dnsTunRouting(judge, dnsTunName(judge.device), 0)];
}

/**
 * Per backend, the families whose tables can be listed here (a tool missing, IPv6 off: left
 * out), and why each backend's IPv4 tool could not, for the error when none can.
 */
async function workingFamilies(prefix?: CommandPrefix): Promise<{ working: Map<IptablesBackend, Family[]>; failures: ToolFailure[] }> {
  const working = new Map<IptablesBackend, Family[]>();
  const failures: ToolFailure[] = [];
  for (const b of BACKENDS) {
    const fams: Family[] = [];
    for (const f of FAMILIES) {
      try {
        await listPalisadeRules(b, f, 'filter', prefix);
        fams.push(f);
      } catch (e) {
        if (f === 4) failures.push(toolFailure(`iptables-${b}`, e));
      }
    }
    working.set(b, fams);
  }
  return { working, failures };
}

/** The TUN routing of `r` that is there: the rules at its preference that look up its table (any mark: listTunRules), the table's routes. */
async function tunRoutingFound(r: TunRoutingOptions): Promise<Found[]> {
  const out: Found[] = [];
  const pref = r.priority ?? DEFAULT_TUN_PRIORITY, table = r.table ?? DEFAULT_TUN_TABLE;
  for (const f of FAMILIES) {
    const fam = f === 4 ? '-4' : '-6';
    for (const rule of await listTunRules(f, pref, table, r.prefix)) out.push({ kind: 'ip rule', what: `ip ${fam} rule ${tunRuleArgs(pref, table, rule).join(' ')}` });
    const routes = await runCommand(['ip', fam, 'route', 'show', 'table', String(table)], { prefix: r.prefix });
    for (const l of routes.code === 0 ? routes.stdout.split('\n') : []) if (l.trim()) out.push({ kind: 'route', what: `ip ${fam} route table ${table}: ${l.trim()}` });
  }
  return out;
}

/** Everything of Palisade's in this namespace's kernel (see the top of this file); empty when clean. */
export async function findPalisade(o: CleanupOptions = {}): Promise<Found[]> {
  const p = o.prefix;
  const out: Found[] = [];
  const { working, failures } = await workingFamilies(p);
  // Else "nothing found" would be a lie (not root, no iptables at all).
  if ([...working.values()].every((f) => f.length === 0)) throw new Error(unusableIptablesText(failures));
  for (const [b, fams] of working) {
    for (const f of fams) {
      const tool = `${f === 4 ? 'iptables' : 'ip6tables'}-${b}`;
      for (const tbl of TABLES) {
        const cur = await listPalisadeRules(b, f, tbl, p).catch(() => ({ jumps: [], chains: [] }));
        for (const j of cur.jumps) out.push({ kind: 'iptables', what: `${tool} -t ${tbl} ${j}` });
        for (const c of cur.chains) out.push({ kind: 'iptables', what: `${tool} -t ${tbl} -N ${c}` });
      }
    }
  }
  // Palisade's sets carry its chains' prefix.
  for (const s of await existingSets(p)) if (s.startsWith(CHAIN_PREFIX)) out.push({ kind: 'ipset', what: s });
  if (await nftAvailable(p)) {
    const ours = new Set([...NFT_GUARD_TABLES, SINK_TABLE]);
    const r = await runCommand(['nft', 'list', 'tables'], { prefix: p });
    for (const l of r.stdout.split('\n')) {
      const t = l.trim().replace(/^table /, '');
      if (ours.has(t)) out.push({ kind: 'nft', what: `table ${t}` });
    }
  }
  if (await tcAvailable(p)) {
    for (const iface of (await new TcSpoofGuard({ families: FAMILIES, failOpen: false, prefix: p }).guardedLinks()).keys()) out.push({ kind: 'tc', what: `ingress filters on ${iface}` });
  }
  for (const dev of [TC_SINK.dev, TC_SINK.peer]) {
    if ((await runCommand(['ip', 'link', 'show', 'dev', dev], { prefix: p })).code === 0) out.push({ kind: 'link', what: dev });
  }
  for (const r of tunRoutings(o)) {
    if (await isTunDevice(r.device, p)) out.push({ kind: 'link', what: `${r.device} (TUN)` });
    out.push(...(await tunRoutingFound(r)));
  }
  return out;
}

/**
 * Removes everything findPalisade lists, with the agent's own removal functions; never throws
 * for one part (the next parts still go): the problems are returned, and a findPalisade after it
 * says what is left.
 */
export async function removePalisade(o: CleanupOptions = {}): Promise<string[]> {
  const p = o.prefix;
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  const families = (await workingFamilies(p)).working;
  // Rules first: they name the sets. The agent's stop: iptables.remove(), then sourceGuard.remove().
  for (const [b, fams] of families) if (fams.length > 0) await step(`iptables-${b} rules`, () => removeAll(b, p, fams));
  for (const [b, fams] of families) if (fams.length > 0) await step(`source guard (iptables-${b} raw)`, () => new SpoofGuard({ backend: b, families: fams, failOpen: false, prefix: p }).remove());
  if (await nftAvailable(p)) await step('source guard (nft table)', () => new NftSpoofGuard({ families: FAMILIES, failOpen: false, prefix: p }).remove());
  if (await tcAvailable(p)) await step('source guard (tc filters and sink)', () => new TcSpoofGuard({ families: FAMILIES, failOpen: false, prefix: p }).remove());
  // Then the sets, as the agent's stop destroys them.
  await step('verdict cache sets', () => destroyVerdictCacheSets(FAMILIES, p));
  await step('judged sets', () => destroyJudgedSets(FAMILIES, p));
  await step('kernel admission sets', () => destroyAdmitSets(FAMILIES, p));
  // TUN: the routing where any of it is (removeTunRouting deletes only the rules that look up its table), then the devices.
  for (const r of tunRoutings(o)) {
    if ((await tunRoutingFound(r)).length > 0) await step(`TUN routing (table ${r.table})`, () => removeTunRouting(r));
    await step(`TUN device ${r.device}`, () => deleteTunDevice(r.device, p));
  }
  return problems;
}

/**
 * Signs that an agent runs in this network namespace (each a sentence), so cleanup would take
 * its rules from under it: a process whose command line is `palisade agent` in this namespace
 * (only those this process can see: another container's are hidden without the host's PID
 * namespace), an NFQUEUE that Palisade's rules send to with a program bound to it, a Palisade
 * TUN device with a program reading it (carrier up).
 */
export async function agentSigns(found: readonly Found[], o: CleanupOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (const pid of agentProcesses()) out.push(`process ${pid} is a palisade agent in this network namespace`);
  const queues = found.some((f) => f.kind === 'iptables') ? await palisadeQueues(o.prefix) : new Set<number>();
  for (const q of boundQueues()) if (queues.has(q)) out.push(`NFQUEUE ${q}, which Palisade's rules send to, has a program bound to it`);
  for (const r of tunRoutings(o)) {
    if (!(await isTunDevice(r.device, o.prefix))) continue;
    const carrier = await runCommand(['cat', `/sys/class/net/${r.device}/carrier`], { prefix: o.prefix }).catch(() => undefined);
    if (carrier?.code === 0 && carrier.stdout.trim() === '1') out.push(`TUN device ${r.device} has a program reading it`);
  }
  return out;
}

/** The queues Palisade's rules (its chains in the filter table, any backend and family) send packets to. */
async function palisadeQueues(prefix?: CommandPrefix): Promise<Set<number>> {
  const queues = new Set<number>();
  for (const [b, fams] of (await workingFamilies(prefix)).working) {
    for (const f of fams) {
      const text = await listRules(b, f, 'filter', prefix).catch(() => '');
      for (const line of text.split('\n')) {
        if (!line.startsWith(`-A ${CHAIN_PREFIX}`)) continue;
        for (const m of line.matchAll(/--queue-num (\d+)/g)) queues.add(Number(m[1]));
        for (const m of line.matchAll(/--queue-balance (\d+):(\d+)/g)) for (let q = Number(m[1]); q <= Number(m[2]); q++) queues.add(q);
      }
    }
  }
  return queues;
}

/** Queue numbers with a bound listener in this namespace (empty when the queue module is not loaded). */
function boundQueues(): number[] {
  try {
    return readFileSync('/proc/net/netfilter/nfnetlink_queue', 'utf8').split('\n').flatMap((l) => {
      const m = /^\s*(\d+)\s/.exec(l);
      return m ? [Number(m[1])] : [];
    });
  } catch {
    return [];
  }
}

/** Pids of `palisade agent` processes in this process's network namespace (this process excepted). */
function agentProcesses(): number[] {
  const out: number[] = [];
  let self: string;
  try {
    self = readlinkSync('/proc/self/ns/net');
  } catch {
    return out;
  }
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = argv.findIndex((a) => basename(a) === 'palisade.js' || basename(a) === 'palisade');
      if (i < 0 || argv[i + 1] !== 'agent') continue;
      if (readlinkSync(`/proc/${pid}/ns/net`) === self) out.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}
