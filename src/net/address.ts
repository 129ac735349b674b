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

/**
 * "a.b.c.d": four parts of 1-3 digits, each at most 255. Scanned by hand rather than matched
 * with a regex, which allocated a match array and four strings per address (every pod address
 * of the cluster is parsed).
 */
function parseV4(s: string): number | undefined {
  const len = s.length;
  if (len < 7 || len > 15) return undefined;
  let v = 0;
  let parts = 0;
  let i = 0;
  while (i < len) {
    const start = i;
    let n = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      n = n * 10 + c;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || n > 255) return undefined;
    // The API server (netip) rejects leading zeros such as "010.1.1.1": they are ambiguous (octal).
    if (digits > 1 && s.charCodeAt(start) === 48) return undefined;
    v = v * 256 + n;
    parts++;
    if (i === len) break;
    if (s.charCodeAt(i) !== 46 || parts === 4) return undefined;
    i++;
    if (i === len) return undefined; // a trailing '.'
  }
  return parts === 4 ? v >>> 0 : undefined;
}

function parseV6(s: string): number[] | undefined {
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
  const ip = parseIP(text.slice(0, slash));
  const pfx = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(pfx)) return undefined;
  if (ip.family === 'IPv6' && text.slice(0, slash).includes('.') && text.startsWith('::ffff:')) return undefined;
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
