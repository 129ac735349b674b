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

async function deleteRules(fam: string, pref: number, prefix?: CommandPrefix): Promise<void> {
  // `ip rule del pref P` removes one rule per call; loop until none is left.
  for (let i = 0; i < 16; i++) {
    const r = await runCommand(['ip', fam, 'rule', 'del', 'pref', String(pref)], { prefix });
    if (r.code !== 0) return;
  }
}

/** Brings the device up and installs (idempotently: replaced, not duplicated) rules and routes. */
export async function installTunRouting(o: TunRoutingOptions): Promise<void> {
  const table = String(o.table ?? DEFAULT_TUN_TABLE);
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
    await deleteRules(fam, pref, p);
    await mustRun(['ip', fam, 'rule', 'add', 'pref', String(pref), 'fwmark', `${hex(o.divertMark)}/${hex(o.divertMark)}`, 'lookup', table], { prefix: p });
  }
}

/** Removes the rules and the table's routes. The device itself goes when the enforcer closes it. */
export async function removeTunRouting(o: TunRoutingOptions): Promise<void> {
  const table = String(o.table ?? DEFAULT_TUN_TABLE);
  const pref = o.priority ?? DEFAULT_TUN_PRIORITY;
  for (const f of o.families ?? [4, 6]) {
    const fam = f === 4 ? '-4' : '-6';
    await deleteRules(fam, pref, o.prefix);
    await runCommand(['ip', fam, 'route', 'flush', 'table', table], { prefix: o.prefix });
  }
}

/**
 * What is missing from the policy routing (for the rule watchdog): the fwmark rule and the
 * table's default route, per family. Empty when intact.
 */
export async function tunRoutingProblems(o: TunRoutingOptions): Promise<string[]> {
  const table = String(o.table ?? DEFAULT_TUN_TABLE);
  const pref = String(o.priority ?? DEFAULT_TUN_PRIORITY);
  const mark = `${hex(o.divertMark)}/${hex(o.divertMark)}`;
  const problems: string[] = [];
  for (const f of o.families ?? [4, 6]) {
    const fam = f === 4 ? '-4' : '-6';
    const rules = await runCommand(['ip', fam, 'rule', 'show', 'pref', pref], { prefix: o.prefix });
    // `ip rule` prints the table by name or number ("lookup 7077").
    if (rules.code !== 0 || !rules.stdout.split('\n').some((l) => l.includes(`fwmark ${mark}`) && l.includes(`lookup ${table}`))) {
      problems.push(`IPv${f}: ip rule pref ${pref} fwmark ${mark} lookup ${table} missing`);
    }
    const routes = await runCommand(['ip', fam, 'route', 'show', 'table', table], { prefix: o.prefix });
    if (routes.code !== 0 || !routes.stdout.split('\n').some((l) => l.startsWith(`default dev ${o.device}`))) {
      problems.push(`IPv${f}: default route via ${o.device} in table ${table} missing`);
    }
  }
  return problems;
}
