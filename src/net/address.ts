// Address text <-> numbers, off the hot path. The hot path never sees text: IPv4 addresses are
// one uint32 (network order read as big-endian), IPv6 addresses four uint32 words, so the
// classifier can read them straight from a packet buffer with readUInt32BE.

import type { Family } from '../cluster/model.ts';

export interface ParsedIP {
  readonly family: Family;
  /** IPv4: [addr]; IPv6: [w0, w1, w2, w3], each an unsigned 32-bit number. */
  readonly words: readonly number[];
}

export interface ParsedCIDR extends ParsedIP {
  readonly prefix: number;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * parseV4 and parseV6 without regular expressions or substrings for plain text (digits and
 * dots; hex digits and colons): a full compile parses every pod address (250,000 at the scale
 * limits), and the regex path was a sixth of it. Same answers: anything else takes the general
 * path below (address.test.ts compares both on random and edge-case text).
 */
function parseV4Fast(s: string): number | undefined {
  const n = s.length;
  let v = 0, part = 0, digits = 0, parts = 0, lead0 = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 46;
    if (c === 46) {
      // "010.1.1.1": leading zeros are rejected (octal ambiguity), as the API server does.
      if (digits === 0 || (lead0 && digits > 1) || part > 255 || ++parts > 4) return undefined;
      v = v * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 0) lead0 = c === 48;
      if (++digits > 3) return undefined;
      part = part * 10 + (c - 48);
    } else return undefined;
  }
  return parts === 4 ? v >>> 0 : undefined;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** IPv6 text of hex groups and colons only (no IPv4 tail): the words, or undefined. */
function parseV6Plain(s: string): number[] | undefined {
  const n = s.length;
  if (n < 2 || n > 45) return undefined;
  const g = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0, dbl = -1, i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return undefined;
    dbl = 0;
    i = 2;
  }
  while (i < n) {
    let v = 0, digits = 0;
    for (; i < n; i++) {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0) break;
      if (++digits > 4) return undefined;
      v = v * 16 + d;
    }
    if (digits === 0 || count === 8) return undefined;
    g[count++] = v;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (dbl >= 0) return undefined;
      dbl = count;
      i++;
    } else if (i === n) return undefined;
  }
  if (dbl < 0) {
    if (count !== 8) return undefined;
  } else {
    if (count > 7) return undefined;
    // Move the groups after "::" to the end.
    const right = count - dbl;
    for (let j = 0; j < right; j++) g[7 - j] = g[count - 1 - j]!;
    for (let j = dbl; j < 8 - right; j++) g[j] = 0;
  }
  return [((g[0]! << 16) | g[1]!) >>> 0, ((g[2]! << 16) | g[3]!) >>> 0, ((g[4]! << 16) | g[5]!) >>> 0, ((g[6]! << 16) | g[7]!) >>> 0];
}

/** Only hex digits and colons? */
function plainV6Text(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 58 && hexDigit(c) < 0) return false;
  }
  return true;
}

function parseV4(s: string): number | undefined {
  return parseV4Fast(s);
}

/** The regular-expression parse parseV4Fast replaces (kept for address.test.ts's comparison). */
export function parseV4Slow(s: string): number | undefined {
  const m = V4.exec(s);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // The API server (netip) rejects leading zeros such as "010.1.1.1": they are ambiguous (octal).
    if (part.length > 1 && part[0] === '0') return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

function parseV6(s: string): number[] | undefined {
  return plainV6Text(s) ? parseV6Plain(s) : parseV6Slow(s);
}

/** The general parse (IPv4 tails, anything not plain text); also what address.test.ts compares parseV6Plain with. */
export function parseV6Slow(s: string): number[] | undefined {
  if (s.length < 2 || s.length > 45 || s.includes('%')) return undefined;
  let head = s;
  let tailV4: number | undefined;
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    tailV4 = parseV4(s.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.indexOf('::');
  if (dbl !== -1 && head.indexOf('::', dbl + 1) !== -1) return undefined;
  const groups: number[] = [];
  let words16: number[];
  if (dbl === -1) {
    if (!parseGroups(head, groups) || groups.length !== 8) return undefined;
    words16 = groups;
  } else {
    const left = head.slice(0, dbl);
    const right = head.slice(dbl + 2);
    if (!parseGroups(left, groups)) return undefined;
    const nl = groups.length;
    if (!parseGroups(right, groups)) return undefined;
    const nr = groups.length - nl;
    if (nl + nr > 7) return undefined;
    words16 = [...groups.slice(0, nl), ...new Array<number>(8 - nl - nr).fill(0), ...groups.slice(nl)];
  }
  if (tailV4 !== undefined) {
    words16[6] = tailV4 >>> 16;
    words16[7] = tailV4 & 0xffff;
  }
  const w: number[] = [];
  for (let i = 0; i < 4; i++) w.push(((words16[2 * i]! << 16) | words16[2 * i + 1]!) >>> 0);
  return w;
}

// Module-level helpers rather than closures: the kube source parses and formats every pod's
// addresses (150,000 at the scale benchmark's size), and a closure made per call costs more than
// the parse (the TypeScript loader wraps each in a name-keeping call).

/** Appends the hex groups of `part` ("a:b:c", or "" for none) to `groups`; false on a bad group. */
function parseGroups(part: string, groups: number[]): boolean {
  if (part === '') return true;
  for (const g of part.split(':')) {
    if (!HEX_GROUP.test(g)) return false;
    groups.push(parseInt(g, 16));
  }
  return true;
}
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function hexGroups(g: readonly number[], from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += i === from ? g[i]!.toString(16) : `:${g[i]!.toString(16)}`;
  return s;
}

/** Parses an IPv4 or IPv6 address; undefined when it is not one. */
export function parseIP(text: string): ParsedIP | undefined {
  const s = text.trim();
  const v4 = parseV4(s);
  if (v4 !== undefined) return { family: 'IPv4', words: [v4] };
  const v6 = parseV6(s);
  if (v6 !== undefined) {
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address on the wire of a
    // dual-stack socket; Kubernetes stores pod IPs in their plain family, so we do too.
    if (v6[0] === 0 && v6[1] === 0 && v6[2] === 0xffff) return { family: 'IPv4', words: [v6[3]!] };
    return { family: 'IPv6', words: v6 };
  }
  return undefined;
}

/** Parses "addr/prefix". The host bits may be set (the API accepts "10.0.0.1/24"); they are cleared. */
export function parseCIDR(text: string): ParsedCIDR | undefined {
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const addr = text.slice(0, slash);
  const ip = parseIP(addr);
  const pfx = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(pfx)) return undefined;
  // An IPv4-mapped address (::ffff:10.0.0.0, ::ffff:a00:0, in any spelling) parses as the IPv4
  // address, but its prefix was written against 128 bits: "::ffff:0.0.0.0/0" is ::/0 to the API
  // server's CIDR parse, and reading it as 0.0.0.0/0 would match every IPv4 address. Refused
  // rather than read either way.
  if (ip.family === 'IPv4' && addr.includes(':')) return undefined;
  const prefix = Number(pfx);
  const bits = ip.family === 'IPv4' ? 32 : 128;
  if (prefix > bits) return undefined;
  return { family: ip.family, words: maskWords(ip.words, prefix), prefix };
}

export function maskWords(words: readonly number[], prefix: number): number[] {
  return words.map((w, i) => {
    const keep = Math.max(0, Math.min(32, prefix - 32 * i));
    if (keep === 0) return 0;
    if (keep === 32) return w >>> 0;
    return (w & (0xffffffff << (32 - keep))) >>> 0;
  });
}

/** Does the CIDR contain the address? Families must match. */
export function cidrContains(c: ParsedCIDR, ip: ParsedIP): boolean {
  if (c.family !== ip.family) return false;
  const m = maskWords(ip.words, c.prefix);
  for (let i = 0; i < m.length; i++) if (m[i] !== c.words[i]) return false;
  return true;
}

/** Is `inner` entirely inside `outer`? */
export function cidrWithin(inner: ParsedCIDR, outer: ParsedCIDR): boolean {
  return inner.family === outer.family && inner.prefix >= outer.prefix && cidrContains(outer, inner);
}

export function formatIP(ip: ParsedIP): string {
  if (ip.family === 'IPv4') {
    const v = ip.words[0]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const g: number[] = [];
  for (const w of ip.words) g.push(w >>> 16, w & 0xffff);
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  if (bestAt === -1) return hexGroups(g, 0, 8);
  return `${hexGroups(g, 0, bestAt)}::${hexGroups(g, bestAt + bestLen, 8)}`;
}

export function formatCIDR(c: ParsedCIDR): string {
  return `${formatIP(c)}/${c.prefix}`;
}

/** Canonical text of an address, or undefined when it is not one. */
export function canonicalIP(text: string): string | undefined {
  const p = parseIP(text);
  return p ? formatIP(p) : undefined;
}
