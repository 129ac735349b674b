// Policy routing for the TUN backend. PALISADE-DIVERT (mangle PREROUTING, see iptables.ts) marks
// new connections of managed pods with the divert mark; this module makes the kernel route
// marked packets into the TUN device:
//
//   ip rule  pref P fwmark D/D lookup T          (after the `local` rule, so traffic to the node
//                                                 itself is delivered locally: always allowed)
//   ip route table T: default dev TUN            (judge)
//                     blackhole default metric 4096  (if the device is gone: drop, never bypass)
//
// Packets the agent writes back arrive on the TUN device without the mark and follow the main
// table to their destination. The reverse-path filter would drop them (their source pod is not
// reachable through the TUN), so the device gets rp_filter=2 (loose: the source must be reachable
// through some interface), which wins over net.ipv4.conf.all.rp_filter because the kernel uses
// the larger of the two. Loose mode still rejects packets arriving on an interface without any
// IPv4 address (__fib_validate_source: "no_addr" -> reject whenever rp_filter is on), so the
// device also gets one host address from the link-local range (169.254.0.0/16 is never routed
// off a link). IPv6 has no rp_filter sysctl.

import { mustRun, runCommand, type CommandPrefix } from './command.ts';
import type { Family } from './iptables.ts';

export interface TunRoutingOptions {
  readonly device: string;
  readonly divertMark: number;
  /** Routing table number for diverted packets. */
  readonly table?: number;
  /** ip rule preference. */
  readonly priority?: number;
  readonly families?: readonly Family[];
  readonly prefix?: CommandPrefix;
  /** MTU given to the device; large, so diverted packets are never too big for it. */
  readonly mtu?: number;
  /** IPv4 host address given to the device (see above); link-local by default. */
  readonly address?: string;
}

export const DEFAULT_TUN_ADDRESS = '169.254.77.77';

export const DEFAULT_TUN_TABLE = 7077;

/**
 * Why a --tun-table cannot be Palisade's, or undefined when it can. The agent flushes its table
 * when it stops (removeTunRouting) and the DNS learner uses the next one (dnsTunRouting), so
 * neither may be one the kernel keeps for itself: 253 `default`, 254 `main` and 255 `local`
 * (rtnetlink(7), RT_TABLE_DEFAULT/MAIN/LOCAL). A flush of `main` would take the node's routes.
 */
export function tunTableProblem(table: number): string | undefined {
  const reserved = [253, 254, 255];
  if (reserved.includes(table)) return `table ${table} is the kernel's own (253 default, 254 main, 255 local) and Palisade flushes its table when it stops`;
  if (reserved.includes(table + 1)) return `table ${table + 1} (the DNS learner's, --tun-table + 1) is the kernel's own (253 default, 254 main, 255 local)`;
  return undefined;
}
export const DEFAULT_TUN_PRIORITY = 1000;
/** The judge's TUN device unless --tun-name says otherwise. */
export const DEFAULT_TUN_DEVICE = 'palisade0';
/** Host address of the DNS learner's TUN device, next to the judge's. */
const DNS_TUN_ADDRESS = '169.254.77.78';

/** TUN: the DNS learner's device gets its own table and rule, right after the judge's (table and preference + 1). */
export function dnsTunRouting(judge: TunRoutingOptions, device: string, divertMark: number): TunRoutingOptions {
  return { ...judge, device, divertMark, table: (judge.table ?? DEFAULT_TUN_TABLE) + 1, priority: (judge.priority ?? DEFAULT_TUN_PRIORITY) + 1, address: DNS_TUN_ADDRESS };
}

/**
 * Deletes a TUN device a stopped agent left (persistent: the agent's enforcer deletes its own on
 * close, unless --keep-rules). Only a TUN device of that name: false when there is none.
 */
export async function deleteTunDevice(name: string, prefix?: CommandPrefix): Promise<boolean> {
  if (!(await isTunDevice(name, prefix))) return false;
  await mustRun(['ip', 'link', 'del', 'dev', name], { prefix });
  return true;
}

/** Is there a TUN device of that name (not some other kind of link that happens to have it)? */
export async function isTunDevice(name: string, prefix?: CommandPrefix): Promise<boolean> {
  const r = await runCommand(['ip', '-d', '-o', 'link', 'show', 'dev', name], { prefix });
  return r.code === 0 && /\btun type tun\b/.test(r.stdout);
}

const hex = (m: number): string => '0x' + (m >>> 0).toString(16);

/**
 * A rule of Palisade's policy routing as the kernel lists it: its fwmark selector, if it has one
 * (mask 0xffffffff when `ip rule` shows none).
 */
export interface TunRule {
  readonly mark?: number;
  readonly mask?: number;
}

const HEX = /^0x[0-9a-f]{1,8}$/i;

/**
 * Palisade's rules out of `ip -N -j rule show pref P` (JSON, tables by number): those at `pref`
 * that look up `table`. The table is Palisade's by configuration (--tun-table), so a rule at its
 * preference that looks it up is ours whatever its mark (a killed agent's with another
 * --tun-mark too); any other rule at that preference is another program's (a CNI, a VPN, an
 * admin) and is left out. Throws, naming the rule and field, on output it cannot read.
 */
export function ownTunRules(json: string, pref: number, table: number): TunRule[] {
  if (json.trim() === '') return [];
  let rules: unknown;
  try {
    rules = JSON.parse(json);
  } catch (e) {
    throw new Error(`ip rule show pref ${pref}: output is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(rules)) throw new Error(`ip rule show pref ${pref}: expected a JSON array of rules`);
  const out: TunRule[] = [];
  rules.forEach((r: unknown, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error(`ip rule show pref ${pref}: rule ${i} is not an object`);
    const o = r as Record<string, unknown>;
    if (o.priority !== pref || o.table === undefined || String(o.table) !== String(table)) return;
    const hexField = (k: 'fwmark' | 'fwmask'): number | undefined => {
      const v = o[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !HEX.test(v)) throw new Error(`ip rule show pref ${pref}: rule ${i} (table ${table}): ${k} ${JSON.stringify(v)} is not a 32-bit hex number`);
      return Number(v);
    };
    const mark = hexField('fwmark');
    const mask = hexField('fwmask');
    if (mark === undefined && mask !== undefined) throw new Error(`ip rule show pref ${pref}: rule ${i} (table ${table}): fwmask without fwmark`);
    out.push(mark === undefined ? {} : { mark, mask: mask ?? 0xffffffff });
  });
  return out;
}

/** A rule of ours in the words `ip rule add` and `ip rule del` take. */
export function tunRuleArgs(pref: number, table: number, r: TunRule): string[] {
  const mark = r.mark === undefined ? [] : ['fwmark', `${hex(r.mark)}/${hex(r.mask ?? 0xffffffff)}`];
  return ['pref', String(pref), ...mark, 'lookup', String(table)];
}

/** Palisade's rules at `pref` for one family (ownTunRules); none when that family's rules cannot be listed (IPv6 off). */
export async function listTunRules(family: Family, pref: number, table: number, prefix?: CommandPrefix): Promise<TunRule[]> {
  const r = await runCommand(['ip', '-N', '-j', family === 4 ? '-4' : '-6', 'rule', 'show', 'pref', String(pref)], { prefix });
  return r.code === 0 ? ownTunRules(r.stdout, pref, table) : [];
}

async function deleteRules(family: Family, pref: number, table: number, prefix?: CommandPrefix): Promise<void> {
  // One exact delete per rule of ours, in the kernel's order: each spec's first match among the
  // rules left is then that rule itself, and a rule of another table never matches at all.
  for (const r of await listTunRules(family, pref, table, prefix)) {
    await runCommand(['ip', family === 4 ? '-4' : '-6', 'rule', 'del', ...tunRuleArgs(pref, table, r)], { prefix });
  }
}

/**
 * Brings the device up and installs (idempotently: replaced, not duplicated) rules and routes. The
 * rules of ours already at the preference (ownTunRules: any mark) are replaced; other programs' stay.
 */
export async function installTunRouting(o: TunRoutingOptions): Promise<void> {
  const tableNo = o.table ?? DEFAULT_TUN_TABLE;
  const table = String(tableNo);
  const pref = o.priority ?? DEFAULT_TUN_PRIORITY;
  const p = o.prefix;
  // No IPv6 link-local address: the device would otherwise send its own MLD reports into the judge.
  await runCommand(['ip', 'link', 'set', 'dev', o.device, 'addrgenmode', 'none'], { prefix: p });
  await mustRun(['ip', 'link', 'set', 'dev', o.device, 'mtu', String(o.mtu ?? 65535), 'up'], { prefix: p });
  await mustRun(['sysctl', '-qw', `net.ipv4.conf.${o.device}.rp_filter=2`], { prefix: p });
  await mustRun(['ip', '-4', 'addr', 'replace', `${o.address ?? DEFAULT_TUN_ADDRESS}/32`, 'dev', o.device, 'scope', 'link'], { prefix: p });
  for (const f of o.families ?? [4, 6]) {
    const fam = f === 4 ? '-4' : '-6';
    await mustRun(['ip', fam, 'route', 'replace', 'default', 'dev', o.device, 'table', table], { prefix: p });
    await mustRun(['ip', fam, 'route', 'replace', 'blackhole', 'default', 'metric', '4096', 'table', table], { prefix: p });
    await deleteRules(f, pref, tableNo, p);
    await mustRun(['ip', fam, 'rule', 'add', ...tunRuleArgs(pref, tableNo, { mark: o.divertMark, mask: o.divertMark })], { prefix: p });
  }
}

/**
 * Removes Palisade's rules (other programs' at the same preference stay) and the table's routes:
 * the whole table, which is Palisade's own by configuration (--tun-table). The device itself goes
 * when the enforcer closes it.
 */
export async function removeTunRouting(o: TunRoutingOptions): Promise<void> {
  const table = o.table ?? DEFAULT_TUN_TABLE;
  const pref = o.priority ?? DEFAULT_TUN_PRIORITY;
  for (const f of o.families ?? [4, 6]) {
    await deleteRules(f, pref, table, o.prefix);
    await runCommand(['ip', f === 4 ? '-4' : '-6', 'route', 'flush', 'table', String(table)], { prefix: o.prefix });
  }
}

/**
 * What is missing from the policy routing (for the rule watchdog): the fwmark rule and the
 * table's default route, per family. Empty when intact.
 */
export async function tunRoutingProblems(o: TunRoutingOptions): Promise<string[]> {
  const table = o.table ?? DEFAULT_TUN_TABLE;
  const pref = o.priority ?? DEFAULT_TUN_PRIORITY;
  const mark = o.divertMark >>> 0;
  const problems: string[] = [];
  for (const f of o.families ?? [4, 6]) {
    const fam = f === 4 ? '-4' : '-6';
    // Only a rule of ours counts: another program's at the preference, even with our mark, routes elsewhere.
    if (!(await listTunRules(f, pref, table, o.prefix)).some((r) => r.mark === mark && r.mask === mark)) {
      problems.push(`IPv${f}: ip rule ${tunRuleArgs(pref, table, { mark, mask: mark }).join(' ')} missing`);
    }
    const routes = await runCommand(['ip', fam, 'route', 'show', 'table', String(table)], { prefix: o.prefix });
    if (routes.code !== 0 || !routes.stdout.split('\n').some((l) => l.startsWith(`default dev ${o.device}`))) {
      problems.push(`IPv${f}: default route via ${o.device} in table ${table} missing`);
    }
  }
  return problems;
}
