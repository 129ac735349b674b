// The tc source guard's pure parts (enforce/tc-guard.ts runs them): which filters an interface
// gets, how `tc -s -j filter show` lists them back in a comparable form, and the sink's nft
// table and its listing. No I/O here, so the table-driven tests read real captured listings.

import type { Family } from './iptables.ts';
import { parseIP } from '../net/address.ts';
import { nftItems } from './nft-guard.ts';

export const TC_SINK = { dev: 'palisade-sink', peer: 'palisade-sinkp' } as const;
/** Addresses of local pods whose interface is not found: dropped by the agent's filter chains (RulePlan.noIfaceSets). */
export const TC_NOIF_SETS = { 4: 'PALISADE-TCNOIF4', 6: 'PALISADE-TCNOIF6' } as const;
export const SINK_TABLE = `netdev ${TC_SINK.dev}`;
export const FORGED_TIMEOUT = 300;
export const FORGED_MAX = 4096;
/** Reads between full listings of the filters (the others list the catch-alls only). */
export const FULL_EVERY = 10;
/**
 * Filter preferences. Every honest address of a family is a key node under one preference (u32
 * walks them in the order written: a pod's first address first), so a pod with one address per
 * family costs one compare; an interface many pods share (a bridge) costs a walk of its nodes.
 */
export const PREF = { v4: 1, v6: 2, linkLocal: 3, unspecified: 4, catch4: 201, catch6: 202 } as const;
/** Every preference this layout writes (what remove() and a rewrite delete). */
export const OUR_PREF = (p: number): boolean => (p >= PREF.v4 && p <= PREF.unspecified) || p === PREF.catch4 || p === PREF.catch6;
/**
 * Another program's filter that runs before the catch-alls can end the classification (a
 * classid, an `ok` action) and pass forged packets: on a guarded interface it is tampering,
 * deleted by the next write. One after them only sees what the guard passed.
 */
export const BEFORE_CATCH = (p: number): boolean => p < PREF.catch4;

const IFNAME_RE = /^[A-Za-z0-9_.:+=-]{1,15}$/;
/** An interface name tc and the batch syntax take as one word; any other is not bound (fail-closed, as no interface). */
export function tcIfaceOk(name: string): boolean {
  return IFNAME_RE.test(name) && name !== TC_SINK.dev && name !== TC_SINK.peer;
}

/** The filter nodes of one preference as written, and the comparable form its listing gives. */
export interface TcFilter {
  readonly pref: number;
  readonly proto: 'ip' | 'ipv6';
  /** Per key node, its u32 keys, "value/mask@offset" in tc's hex (no leading zeros). */
  readonly nodes: readonly (readonly string[])[];
  /** Honest (classid :1, pass) or the catch-all (redirect into the sink). */
  readonly pass: boolean;
  /** The `tc filter add` arguments after `dev X ingress pref P`, one per node. */
  readonly args: readonly string[];
}

const hx = (n: number): string => (n >>> 0).toString(16);
const keysOf = (words: readonly number[], masks: readonly number[], off: number): string[] => words.map((w, i) => `${hx(w & masks[i]!)}/${hx(masks[i]!)}@${off + 4 * i}`);
const ALL = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];

/** The filters of one interface, by preference: its pods' addresses of `families` (in the order given), link-local, the catch-alls. */
export function tcFilters(families: readonly Family[], ips: readonly string[]): TcFilter[] {
  const v4: { keys: string[]; arg: string }[] = [];
  const v6: { keys: string[]; arg: string }[] = [];
  for (const ip of new Set(ips)) {
    const p = parseIP(ip);
    if (!p) continue;
    if (p.family === 'IPv4' && families.includes(4)) v4.push({ keys: keysOf(p.words, ALL, 12), arg: `protocol ip u32 match ip src ${ip}/32 classid :1` });
    else if (p.family === 'IPv6' && families.includes(6)) v6.push({ keys: keysOf(p.words, ALL, 8), arg: `protocol ipv6 u32 match ip6 src ${ip}/128 classid :1` });
  }
  const out: TcFilter[] = [];
  if (v4.length > 0) out.push({ pref: PREF.v4, proto: 'ip', nodes: v4.map((x) => x.keys), pass: true, args: v4.map((x) => x.arg) });
  if (v6.length > 0) out.push({ pref: PREF.v6, proto: 'ipv6', nodes: v6.map((x) => x.keys), pass: true, args: v6.map((x) => x.arg) });
  if (families.includes(6)) {
    out.push({ pref: PREF.linkLocal, proto: 'ipv6', nodes: [['fe800000/ffc00000@8']], pass: true, args: ['protocol ipv6 u32 match ip6 src fe80::/10 classid :1'] });
    out.push({ pref: PREF.unspecified, proto: 'ipv6', nodes: [keysOf([0, 0, 0, 0], ALL, 8)], pass: true, args: ['protocol ipv6 u32 match ip6 src ::/128 classid :1'] });
  }
  const redirect = `u32 match u32 0 0 action mirred ingress redirect dev ${TC_SINK.dev}`;
  if (families.includes(4)) out.push({ pref: PREF.catch4, proto: 'ip', nodes: [['0/0@0']], pass: false, args: [`protocol ip ${redirect}`] });
  if (families.includes(6)) out.push({ pref: PREF.catch6, proto: 'ipv6', nodes: [['0/0@0']], pass: false, args: [`protocol ipv6 ${redirect}`] });
  return out;
}

export const nodeSig = (proto: string, mode: string, keys: readonly string[]): string => `${proto} ${mode} ${keys.join(' ')}`;
export const sig = (f: TcFilter): string => f.nodes.map((k) => nodeSig(f.proto, f.pass ? 'pass' : 'sink', k)).join(' | ');

/** One interface's filters as `tc -s -j filter show` lists them: comparable form, and the catch-alls' packet counts. */
export interface ListedFilters {
  readonly filters: Map<number, string>;
  /** Packets the catch-alls took (forged), summed. */
  readonly sunk: number;
  /** The same per catch-all preference (each restarts at 0 when written anew). */
  readonly sunkBy: Map<number, number>;
  /** Preferences held by filters this layout did not write (another program's). */
  readonly foreign: number[];
}

export type Json = Record<string, unknown>;

/**
 * Parses one `tc -s -j filter show dev X ingress` line. tc writes each u32 key as a `"match"`
 * member of the same object (repeated keys, which JSON.parse would fold into the last), so they
 * are renamed match0, match1... before parsing.
 */
export function parseTcFilters(line: string): ListedFilters {
  let i = 0;
  const items = JSON.parse(line.replace(/"match":\{/g, () => `"match${i++}":{`)) as Json[];
  const filters = new Map<number, string>();
  const foreign = new Set<number>();
  const sunkBy = new Map<number, number>();
  let sunk = 0;
  for (const it of items) {
    const pref = Number(it.pref ?? NaN);
    const o = it.options as Json | undefined;
    if (!Number.isInteger(pref)) continue;
    if (!OUR_PREF(pref) || it.kind !== 'u32') {
      foreign.add(pref);
      continue;
    }
    if (!o || !('order' in o)) continue; // the u32 hash table headers tc lists before the key node
    const keys = Object.keys(o).filter((k) => /^match\d+$/.test(k)).map((k) => {
      const m = o[k] as { value: string; mask: string; off: number };
      return `${m.value}/${m.mask}@${m.off}`;
    });
    const actions = (o.actions as Json[] | undefined) ?? [];
    const a = actions[0];
    const pass = o.flowid === ':1' && actions.length === 0;
    const sink = actions.length === 1 && a?.kind === 'mirred' && a.mirred_action === 'redirect' && a.direction === 'ingress' && a.to_dev === TC_SINK.dev;
    if (sink) {
      const n = Number((a!.stats as Json | undefined)?.packets ?? 0);
      sunk += n;
      sunkBy.set(pref, (sunkBy.get(pref) ?? 0) + n);
    }
    // Key nodes in the order listed (their handles: the order written).
    const s = nodeSig(it.protocol === 'ipv6' ? 'ipv6' : 'ip', pass ? 'pass' : sink ? 'sink' : 'other', keys);
    filters.set(pref, filters.has(pref) ? `${filters.get(pref)} | ${s}` : s);
  }
  return { filters, sunk, sunkBy, foreign: [...foreign].sort((a, b) => a - b) };
}

/** The sink's nft table: the forged records and the drop. */
export function sinkRuleset(): string[] {
  const t = SINK_TABLE;
  return [
    `add table ${t}`,
    `add set ${t} forged4 { type ether_addr . ipv4_addr; size ${FORGED_MAX}; flags dynamic,timeout; timeout ${FORGED_TIMEOUT}s; }`,
    `add set ${t} forged6 { type ether_addr . ipv6_addr; size ${FORGED_MAX}; flags dynamic,timeout; timeout ${FORGED_TIMEOUT}s; }`,
    `add chain ${t} in { type filter hook ingress device "${TC_SINK.dev}" priority -500; policy drop; }`,
    `flush chain ${t} in`,
    `add rule ${t} in meta protocol ip update @forged4 { ether daddr . ip saddr } counter drop`,
    `add rule ${t} in meta protocol ip6 update @forged6 { ether daddr . ip6 saddr } counter drop`,
  ];
}

/**
 * Several `tc -j` listings of one interface as one array; `prefs[i]`: the preference line i was
 * asked for, which tc leaves out of the objects of a listing of one preference.
 */
export function merge(lines: readonly string[], prefs?: readonly number[]): string {
  const body = lines.map((l, i) => {
    const inner = l.trim().slice(1, -1);
    return prefs ? inner.replaceAll('{"protocol":', `{"pref":${prefs[i]},"protocol":`) : inner;
  });
  return `[${body.filter((x) => x.length > 0).join(',')}]`;
}

/** The sink table's JSON listing: whether its chain is as written, and the forged records per family. */
export function sinkState(text: string): { chain: boolean; forged: Map<Family, { mac: string; src: string }[]> } {
  const forged = new Map<Family, { mac: string; src: string }[]>();
  let rules = 0;
  let chain = false;
  for (const it of nftItems(text)) {
    if (it.chain) {
      const c = it.chain as Json;
      // nft 1.0.6 lists no device for a netdev chain: the sink's own existence is checked apart.
      chain ||= c.name === 'in' && c.hook === 'ingress' && c.policy === 'drop';
    } else if (it.rule && (it.rule as Json).chain === 'in') {
      const s = JSON.stringify(it.rule);
      if (s.includes('"update"') && s.includes('"drop"')) rules++;
    } else if (it.set) {
      const s = it.set as Json;
      const f = s.name === 'forged4' ? 4 : s.name === 'forged6' ? 6 : undefined;
      if (!f) continue;
      const list: { mac: string; src: string }[] = [];
      for (const e of (s.elem as unknown[] | undefined) ?? []) {
        const v = ((e as { elem?: { val: unknown } }).elem?.val ?? e) as { concat?: unknown[] };
        const c = v?.concat;
        if (Array.isArray(c) && c.length === 2) list.push({ mac: String(c[0]).toLowerCase(), src: String(c[1]) });
      }
      forged.set(f, list);
    }
  }
  return { chain: chain && rules === 2, forged };
}
