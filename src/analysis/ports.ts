// Port sets of the connectivity model: sorted, disjoint, inclusive ranges per protocol, and the
// port intervals a connection is judged on. Exactness rests on one fact: a rule's port clause
// (a number, a range, every port, or a name resolved on the destination pod) matches either
// every port of an interval between two consecutive boundaries or none of it, when the
// boundaries are the starts and ends+1 of every numeric port and range of every rule of every
// policy, plus every container port of the destination (the numbers any name can resolve to).
// So judging one port per interval (its first) judges the whole interval.

import type { ClusterView } from '../cluster/state.ts';
import type { ClusterPolicy, ContainerPort, NetworkPolicy, Protocol } from '../cluster/model.ts';
import { PROTOCOLS } from '../cluster/model.ts';

export const MIN_PORT = 1;
export const MAX_PORT = 65535;

/** An inclusive range of ports. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** Allowed ports per protocol: sorted, disjoint, non-adjacent ranges (empty: none). */
export type PortSet = { readonly [P in Protocol]: readonly PortRange[] };

export const EMPTY_PORTS: PortSet = { TCP: [], UDP: [], SCTP: [] };

/** Sorts and merges overlapping or adjacent ranges. */
export function normaliseRanges(ranges: readonly PortRange[]): PortRange[] {
  const s = [...ranges].sort((a, b) => a.from - b.from);
  const out: PortRange[] = [];
  for (const r of s) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) {
      if (r.to > last.to) out[out.length - 1] = { from: last.from, to: r.to };
    } else out.push({ from: r.from, to: r.to });
  }
  return out;
}

export function isAllPorts(ranges: readonly PortRange[]): boolean {
  return ranges.length === 1 && ranges[0]!.from === MIN_PORT && ranges[0]!.to === MAX_PORT;
}

/** Every port of every protocol? */
export function portSetIsAll(p: PortSet): boolean {
  return PROTOCOLS.every((proto) => isAllPorts(p[proto]));
}

export function portSetIsEmpty(p: PortSet): boolean {
  return PROTOCOLS.every((proto) => p[proto].length === 0);
}

export function samePortSet(a: PortSet, b: PortSet): boolean {
  return PROTOCOLS.every((proto) => {
    const x = a[proto], y = b[proto];
    return x.length === y.length && x.every((r, i) => r.from === y[i]!.from && r.to === y[i]!.to);
  });
}

/** a minus b, per protocol. */
export function subtractPortSet(a: PortSet, b: PortSet): PortSet {
  const one = (xs: readonly PortRange[], ys: readonly PortRange[]): PortRange[] => {
    const out: PortRange[] = [];
    for (const x of xs) {
      let from = x.from;
      for (const y of ys) {
        if (y.to < from || y.from > x.to) continue;
        if (y.from > from) out.push({ from, to: y.from - 1 });
        from = Math.max(from, y.to + 1);
        if (from > x.to) break;
      }
      if (from <= x.to) out.push({ from, to: x.to });
    }
    return out;
  };
  return { TCP: one(a.TCP, b.TCP), UDP: one(a.UDP, b.UDP), SCTP: one(a.SCTP, b.SCTP) };
}

export function rangesText(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(',');
}

/** "TCP 80,8080-8090; UDP 53", "all" (every port of every protocol), "TCP all; UDP 53", "none". */
export function portSetText(p: PortSet): string {
  if (portSetIsAll(p)) return 'all';
  const parts: string[] = [];
  for (const proto of PROTOCOLS) {
    const r = p[proto];
    if (r.length === 0) continue;
    parts.push(`${proto} ${isAllPorts(r) ? 'all' : rangesText(r)}`);
  }
  return parts.length ? parts.join('; ') : 'none';
}

/**
 * The numeric boundaries every policy of the view puts into each protocol's port space (see the
 * file header): for each numeric port or range, its start and its end + 1. Cluster policy
 * ports without a protocol and "every port" clauses add none (they match whole protocols).
 */
export function policyPortBoundaries(view: ClusterView): Record<Protocol, Set<number>> {
  return portBoundaries(view.policies.values(), view.clusterPolicies.values());
}

/**
 * The boundaries of some policies' rules, of one direction or both. A side of a connection is
 * decided by the rules of the policies selecting its pod only, so the boundaries of those (for
 * the source's egress and the destination's ingress) already cut the port space of a pair into
 * intervals of equal decision.
 */
export function portBoundaries(policies: Iterable<NetworkPolicy>, clusterPolicies: Iterable<ClusterPolicy>, dir?: 'ingress' | 'egress'): Record<Protocol, Set<number>> {
  const out: Record<Protocol, Set<number>> = { TCP: new Set(), UDP: new Set(), SCTP: new Set() };
  const add = (proto: Protocol, from: number, to: number) => {
    out[proto].add(from);
    out[proto].add(to + 1);
  };
  for (const pol of policies) {
    for (const rule of dir === 'ingress' ? pol.ingress : dir === 'egress' ? pol.egress : [...pol.ingress, ...pol.egress]) {
      for (const p of rule.ports) if (typeof p.port === 'number') add(p.protocol, p.port, p.endPort ?? p.port);
    }
  }
  for (const cp of clusterPolicies) {
    for (const rule of dir === 'ingress' ? cp.ingress : dir === 'egress' ? cp.egress : [...cp.ingress, ...cp.egress]) {
      for (const p of rule.protocols) if (!('namedPort' in p) && p.port !== undefined) add(p.protocol, p.port, p.endPort ?? p.port);
    }
  }
  return out;
}

/**
 * The first port of each interval of one protocol for a destination: the policy boundaries plus
 * the destination's named container ports of that protocol (every number a named port can
 * resolve to on it). Ascending, starting at MIN_PORT;
 * interval i runs from starts[i] to starts[i+1]-1 (the last one to MAX_PORT).
 */
export function intervalStarts(bounds: Iterable<number>, dstPorts: readonly ContainerPort[] | undefined, protocol: Protocol): Int32Array {
  const all = new Set<number>([MIN_PORT]);
  for (const b of bounds) if (b > MIN_PORT && b <= MAX_PORT) all.add(b);
  if (dstPorts) {
    for (const cp of dstPorts) {
      // Only a named container port can be named by a rule, and a name resolves for its own
      // protocol only (NetworkPolicy ports and cluster policy namedPort alike).
      if (cp.name === undefined || cp.protocol !== protocol) continue;
      if (cp.containerPort >= MIN_PORT) all.add(cp.containerPort);
      if (cp.containerPort + 1 <= MAX_PORT) all.add(cp.containerPort + 1);
    }
  }
  return Int32Array.from([...all].sort((a, b) => a - b));
}
