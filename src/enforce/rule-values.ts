// Values checked before they are written into a rule (interface names, addresses, marks): a
// bad one is an error naming it, never a rule that means something else.

import { canonicalIP, formatCIDR, parseCIDR, parseIP } from '../net/address.ts';
import type { Family } from './rule-plan.ts';

const IFACE_RE = /^[A-Za-z0-9_.:@-]{1,15}\+?$/;

/** Checks an interface pattern as iptables -i/-o takes it; throws naming the problem. */
export function checkIface(name: string): string {
  if (!IFACE_RE.test(name) || name.length > 16) throw new Error(`interface "${name}": must be 1-15 characters of A-Z a-z 0-9 _ . : @ -, optionally ending in + (a prefix)`);
  return name;
}

/** Canonical address or CIDR and its family; throws naming the value. */
export function checkAddress(text: string): { text: string; family: Family } {
  if (text.includes('/')) {
    const c = parseCIDR(text);
    if (!c) throw new Error(`"${text}" is not a valid CIDR`);
    return { text: formatCIDR(c), family: c.family === 'IPv4' ? 4 : 6 };
  }
  const a = parseIP(text);
  if (!a) throw new Error(`"${text}" is not a valid IP address`);
  return { text: canonicalIP(text)!, family: a.family === 'IPv4' ? 4 : 6 };
}

export function checkMark(m: number, what: string): number {
  if (!Number.isInteger(m) || m <= 0 || m > 0xffffffff) throw new Error(`${what} must be a non-zero 32-bit mask, got ${m}`);
  return m >>> 0;
}
