// The tc source guard's pure parts (enforce/tc-guard.ts runs them): which filters an interface
// gets, the lines that bring an interface to them, how `tc -s -j filter show` lists them back in
// a comparable form, and the sink's nft table and its listing. No I/O here, so the table-driven
// tests read real captured listings.

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
 * Filter preferences. Every honest address of a family is a key node under one preference. Up to
 * LINEAR_MAX addresses, u32 walks the nodes in the order written (a pod's first address first),
 * so a pod with one address per family costs one compare. Above it (an interface several pods
 * share: a bridge port, or the e2e bench's 200 client addresses on one veth) the nodes sit in a
 * hash table of 256 buckets keyed by the address's last byte, and the preference's root holds
 * one node that links there: a packet costs the link, the hash and its bucket's few compares
 * instead of a walk that grows with the interface (each key node a compare on every packet the
 * pods send: with the e2e bench's 201 addresses on one veth, u32_classify took 0.64 us of a
 * connection's ~38 us of CPU walking, 0.19-0.21 us hashed; bench/e2e/tuple-profile.ts, README
 * "Cost of source-address validation"). A source no node of its bucket holds falls out of the table
 * and on to the next preferences, down to the catch-all (tc's u32: after a link that matches
 * nothing, the walk goes on from the linking node).
 */
export const PREF = { v4: 1, v6: 2, linkLocal: 3, unspecified: 4, catch4: 201, catch6: 202 } as const;
/** Addresses of a family an interface's honest preference walks one by one; more are hashed. */
export const LINEAR_MAX = 4;
/**
 * The hash tables' u32 ids (hex). Ids are shared by every u32 filter of a qdisc (tc_u_common),
 * and tc numbers the ones it makes itself (each preference's root) from 0x800, so ids below that
 * are free for ours: tcFilters writes PLACEHOLDER_TABLE, and the guard gives each table it writes
 * an id of its own (chooseTables). Why not one fixed id: a table outlives its preference while the
 * qdisc holds other u32 filters (deleting a preference frees its root only), cannot be deleted
 * while a node links to it, and cannot be named once no preference of its priority is there. So a
 * rewrite deletes the preference (its root and the link), writes a new table, its nodes and the
 * link, and deletes the old table through the new preference at the next ticks, once the kernel
 * has let go of it (syncLines and retireTables in tc-guard.ts). A table left behind (its preference removed for good while another program's filters keep the
 * qdisc) classifies nothing, since no path reaches it; a new id never meets it but by a
 * 1-in-2000 chance, and then its write fails and the next one takes another id (fail-closed).
 */
export const PLACEHOLDER_TABLE = '10';
export const TABLE_IDS = { first: 0x10, last: 0x7ff } as const;
const USER_TABLE = (id: string): boolean => /^[0-9a-f]{1,3}$/.test(id) && parseInt(id, 16) < 0x800;
/** Where the last byte of the source address is, as the offset of its 32-bit word in the IP header. */
const LAST_WORD = { 4: 12, 6: 20 } as const;
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
  /**
   * A hashed preference (more than LINEAR_MAX addresses): the table's handle (hex) and each
   * node's bucket (hex, the address's last byte), `nodes` in tc's listing order (by bucket,
   * then as written); the root's link node is part of the comparable form (sig).
   */
  readonly hash?: { readonly table: string; readonly at: number; readonly buckets: readonly string[] };
  /** The `tc filter add` arguments after `dev X ingress pref P`, one per node. */
  readonly args: readonly string[];
}

const hx = (n: number): string => (n >>> 0).toString(16);
const keysOf = (words: readonly number[], masks: readonly number[], off: number): string[] => words.map((w, i) => `${hx(w & masks[i]!)}/${hx(masks[i]!)}@${off + 4 * i}`);
const ALL = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];

/** The filters of one interface, by preference: its pods' addresses of `families` (in the order given), link-local, the catch-alls. */
export function tcFilters(families: readonly Family[], ips: readonly string[]): TcFilter[] {
  const v4: HonestAddress[] = [];
  const v6: HonestAddress[] = [];
  for (const ip of new Set(ips)) {
    const p = parseIP(ip);
    if (!p) continue;
    const last = hx(p.words[p.words.length - 1]! & 0xff);
    if (p.family === 'IPv4' && families.includes(4)) v4.push({ keys: keysOf(p.words, ALL, 12), match: `match ip src ${ip}/32`, last });
    else if (p.family === 'IPv6' && families.includes(6)) v6.push({ keys: keysOf(p.words, ALL, 8), match: `match ip6 src ${ip}/128`, last });
  }
  const out: TcFilter[] = [];
  if (v4.length > 0) out.push(honest(4, v4));
  if (v6.length > 0) out.push(honest(6, v6));
  if (families.includes(6)) {
    out.push({ pref: PREF.linkLocal, proto: 'ipv6', nodes: [['fe800000/ffc00000@8']], pass: true, args: ['protocol ipv6 u32 match ip6 src fe80::/10 classid :1'] });
    out.push({ pref: PREF.unspecified, proto: 'ipv6', nodes: [keysOf([0, 0, 0, 0], ALL, 8)], pass: true, args: ['protocol ipv6 u32 match ip6 src ::/128 classid :1'] });
  }
  const redirect = `u32 match u32 0 0 action mirred ingress redirect dev ${TC_SINK.dev}`;
  if (families.includes(4)) out.push({ pref: PREF.catch4, proto: 'ip', nodes: [['0/0@0']], pass: false, args: [`protocol ip ${redirect}`] });
  if (families.includes(6)) out.push({ pref: PREF.catch6, proto: 'ipv6', nodes: [['0/0@0']], pass: false, args: [`protocol ipv6 ${redirect}`] });
  return out;
}

interface HonestAddress {
  readonly keys: string[];
  /** The address's u32 match (`match ip src A/32`). */
  readonly match: string;
  /** Its last byte in hex: its bucket in a hashed preference. */
  readonly last: string;
}

/** A family's honest preference: the addresses' key nodes, walked in order or hashed (PREF). */
function honest(family: Family, list: readonly HonestAddress[]): TcFilter {
  const proto = family === 4 ? 'ip' : 'ipv6';
  const pref = family === 4 ? PREF.v4 : PREF.v6;
  if (list.length <= LINEAR_MAX) return { pref, proto, nodes: list.map((x) => x.keys), pass: true, args: list.map((x) => `protocol ${proto} u32 ${x.match} classid :1`) };
  const table = PLACEHOLDER_TABLE;
  const at = LAST_WORD[family];
  // tc lists a table's nodes by bucket, and within one in the order written (a stable sort keeps it).
  const sorted = [...list].sort((a, b) => parseInt(a.last, 16) - parseInt(b.last, 16));
  return {
    pref, proto, pass: true, nodes: sorted.map((x) => x.keys), hash: { table, at, buckets: sorted.map((x) => x.last) },
    // The table and its nodes before the link: a packet never follows the link into a table
    // still being filled (it would fall through to the catch-all: fail-closed, but avoidable).
    args: [
      `handle ${table}: protocol ${proto} u32 divisor 256`,
      ...list.map((x) => `protocol ${proto} u32 ht ${table}:${x.last}: ${x.match} classid :1`),
      `protocol ${proto} u32 match u32 0 0 hashkey mask 0x000000ff at ${at} link ${table}:`,
    ],
  };
}

/** The same hashed preference with its table's id `to` (hex); a linear one as it is. */
export function withTable(f: TcFilter, to: string): TcFilter {
  if (!f.hash || f.hash.table === to) return f;
  const re = new RegExp(`\\b(handle|ht|link) ${f.hash.table}:`, 'g');
  return { ...f, hash: { ...f.hash, table: to }, args: f.args.map((a) => a.replace(re, `$1 ${to}:`)) };
}

/** The table a preference's comparable form (sig, or a listing's) links to, if any. */
export function linkedTable(s: string | undefined): string | undefined {
  return s === undefined ? undefined : / link ([0-9a-f]+): hash /.exec(s)?.[1];
}

/**
 * `want` as it is to be written over `have` (preference -> comparable form, as listed or as last
 * written): a hashed preference that is unchanged keeps the table it has; one that changes (or is
 * new) is written into a table of id `next()`, never the one it had (see PLACEHOLDER_TABLE).
 */
export function chooseTables(want: readonly TcFilter[], have: ReadonlyMap<number, string> | undefined, next: () => string): TcFilter[] {
  return want.map((f) => {
    if (!f.hash) return f;
    const h = have?.get(f.pref);
    const had = linkedTable(h);
    if (had !== undefined && sig(withTable(f, had)) === h) return withTable(f, had);
    let id = next();
    while (id === had) id = next();
    return withTable(f, id);
  });
}

export const nodeSig = (proto: string, mode: string, keys: readonly string[]): string => `${proto} ${mode} ${keys.join(' ')}`;
/** A hashed preference's node: its keys and its table and bucket. */
const bucketSig = (s: string, table: string, bucket: string): string => `${s} in ${table}:${bucket}`;
/** The root node that links to a hashed preference's table (its keys: match-all), hashing the byte at `at` (mask ff). */
const linkSig = (proto: string, table: string, mask: string, at: number, keys: readonly string[]): string => `${proto} link ${table}: hash ${mask}@${at} ${keys.join(' ')}`;
export const sig = (f: TcFilter): string => {
  const nodes = f.nodes.map((k, i) => {
    const s = nodeSig(f.proto, f.pass ? 'pass' : 'sink', k);
    return f.hash ? bucketSig(s, f.hash.table, f.hash.buckets[i]!) : s;
  });
  if (f.hash) nodes.push(linkSig(f.proto, f.hash.table, 'ff', f.hash.at, ['0/0@0']));
  return nodes.join(' | ');
};

/** One interface's filters as `tc -s -j filter show` lists them: comparable form, and the catch-alls' packet counts. */
export interface ListedFilters {
  readonly filters: Map<number, string>;
  /** Packets the catch-alls took (forged), summed. */
  readonly sunk: number;
  /** The same per catch-all preference (each restarts at 0 when written anew). */
  readonly sunkBy: Map<number, number>;
  /** Preferences held by filters this layout did not write (another program's). */
  readonly foreign: number[];
  /** Per preference of ours, hash tables (ids) no node links to: left by a rewrite that stopped half way (PLACEHOLDER_TABLE). */
  readonly strayTables: Map<number, string[]>;
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
  // Per preference: the nodes of its root (as listed) and of each of its hash tables, and the
  // table its root links to; the comparable form is the linked table's nodes, then the root's.
  const root = new Map<number, string[]>();
  const tables = new Map<number, Map<string, string[]>>();
  const links = new Map<number, string>();
  const add = (pref: number, table: string | undefined, s: string) => {
    if (table === undefined) root.set(pref, [...(root.get(pref) ?? []), s]);
    else {
      const t = tables.get(pref) ?? new Map<string, string[]>();
      t.set(table, [...(t.get(table) ?? []), s]);
      tables.set(pref, t);
    }
  };
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
    const proto = it.protocol === 'ipv6' ? 'ipv6' : 'ip';
    if (typeof o.link === 'string') {
      // A node linking to a hash table (a hashed preference's root, or another program's).
      const table = o.link.replace(/:$/, '');
      if (!links.has(pref)) links.set(pref, table);
      add(pref, undefined, linkSig(proto, table, String(o.hash_mask ?? ''), Number(o.hash_off ?? NaN), keys));
      continue;
    }
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
    const plain = nodeSig(proto, pass ? 'pass' : sink ? 'sink' : 'other', keys);
    // A node in a hash table says which, and its bucket (a node in a preference's root does not:
    // tc numbers roots itself, in the order they were made).
    const table = typeof o.key_ht === 'string' && USER_TABLE(o.key_ht) ? o.key_ht : undefined;
    add(pref, table, table ? bucketSig(plain, table, String(o.bkt ?? '')) : plain);
  }
  const strayTables = new Map<number, string[]>();
  for (const pref of [...new Set([...root.keys(), ...tables.keys()])].sort((a, b) => a - b)) {
    const linked = links.get(pref);
    const nodes = [...(linked === undefined ? [] : tables.get(pref)?.get(linked) ?? []), ...(root.get(pref) ?? [])];
    if (nodes.length > 0) filters.set(pref, nodes.join(' | '));
    const stray = [...(tables.get(pref)?.keys() ?? [])].filter((x) => x !== linked);
    if (stray.length > 0) strayTables.set(pref, stray);
  }
  return { filters, sunk, sunkBy, foreign: [...foreign].sort((a, b) => a - b), strayTables };
}

/** A hash table a rewrite left unlinked, to delete once the kernel lets go of it. */
export interface RetiredTable {
  readonly iface: string;
  readonly pref: number;
  readonly table: string;
}

export interface SyncLines {
  readonly lines: string[];
  readonly written: TcFilter[];
  readonly retire: RetiredTable[];
}

/**
 * Lines that bring one interface from `have` (preference -> listed form; undefined: nothing of
 * ours there) to `wanted`: stale honest filters go before new ones are added (never a moment a
 * stale address passes), a catch-all already right is left in place (never a moment unguarded).
 * Hash tables get ids from `next` (chooseTables); the tables a rewrite unlinks are returned to
 * retire, and `written` is what the interface holds once the lines ran.
 */
export function syncLines(iface: string, wanted: readonly TcFilter[], have: ReadonlyMap<number, string> | undefined, next: () => string): SyncLines {
  const lines: string[] = [];
  const retire: RetiredTable[] = [];
  const want = chooseTables(wanted, have, next);
  // The ingress qdisc, not clsact: clsact also hooks the device's egress, which every packet
  // sent to the pod then runs through for nothing. A clsact another program put there takes
  // the same filters (`ingress` is its ingress side).
  if (!have) lines.push(`qdisc add dev ${iface} ingress`);
  const w = new Map(want.map((f) => [f.pref, f]));
  for (const [pref, s] of have ?? []) {
    const f = w.get(pref);
    if (!f || sig(f) !== s) lines.push(`filter del dev ${iface} ingress pref ${pref}`);
  }
  // A preference whose addresses changed is rewritten whole: its honest packets are dropped
  // for that moment (fail-closed), never a stale address passed.
  for (const f of want) if (have?.get(f.pref) !== sig(f)) for (const a of f.args) lines.push(`filter add dev ${iface} ingress pref ${f.pref} ${a}`);
  // A hash table the rewritten preference no longer links to is deleted later (TcSpoofGuard.retireTables):
  // the kernel drops the link's hold on it only after an RCU grace period (cls_u32 frees a
  // deleted node, and releases the table it linked to, in deferred work), so a delete in the
  // same batch is refused as "in use".
  for (const f of want) {
    const old = linkedTable(have?.get(f.pref));
    if (old !== undefined && have?.get(f.pref) !== sig(f) && f.hash?.table !== old) retire.push({ iface, pref: f.pref, table: old });
  }
  return { lines, written: want, retire };
}

/** Preference -> comparable form of filters as written (what a listing of them reads back as). */
export function writtenForms(filters: readonly TcFilter[]): Map<number, string> {
  return new Map(filters.map((f) => [f.pref, sig(f)]));
}

/** Lines that take this layout's filters off an interface (and its qdisc when nothing else is on it). */
export function removeLines(iface: string, have: ListedFilters | undefined): string[] {
  if (!have) return [];
  const dels = [...have.filters.keys()].map((p) => `filter del dev ${iface} ingress pref ${p}`);
  // The qdisc too when nothing else is on it (a clsact an older agent wrote refuses `del
  // ingress` and stays, empty).
  return have.foreign.length > 0 ? dels : [...dels, `qdisc del dev ${iface} ingress`];
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
