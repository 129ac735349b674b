// What a policy change does to connectivity: the connectivity of two views (before, after)
// compared pair by pair. Both sides are computed on the same endpoints: pods are grouped by
// both sides' groupings at once (a group of either side never straddles a group of the other)
// and external blocks are cut by both sides' CIDRs. A pair changes when its allowed port set
// changes; each change carries the runs of ports that opened or closed with the decisions of
// both sides before and after, i.e. the policy and rule responsible on each side.

import { podKey } from '../cluster/model.ts';
import type { ClusterView } from '../cluster/state.ts';
import { policyCIDRs } from './address-blocks.ts';
import { ConnectivityAnalysis, podEndpointIds, type Connectivity, type Edge, type EdgePart, type ConnectivityOptions } from './connectivity.ts';
import { EMPTY_PORTS, normaliseRanges, portSetIsEmpty, samePortSet, subtractPortSet, type PortRange, type PortSet } from './ports.ts';
import { formatCIDR } from '../net/address.ts';

export type ChangeKind =
  /** Nothing was allowed before, something is now. */
  | 'added'
  /** Something was allowed before, nothing is now. */
  | 'removed'
  /** Allowed before and after, on other ports. */
  | 'changed';

export interface ConnectionChange {
  readonly kind: ChangeKind;
  readonly from: string;
  readonly to: string;
  readonly before: PortSet;
  readonly after: PortSet;
  readonly opened: PortSet;
  readonly closed: PortSet;
  /** The after side's runs over the opened ports (why they are allowed now). */
  readonly openedBy: readonly EdgePart[];
  /** The after side's runs over the closed ports (who denies them now; empty when an endpoint is gone). */
  readonly closedBy: readonly EdgePart[];
  /** The before side's runs over the closed ports (what allowed them). */
  readonly closedWere: readonly EdgePart[];
  /** An endpoint exists on one side only (a pod added or removed). */
  readonly endpoint?: 'new' | 'gone';
  /**
   * Present when the change holds between some members of the two endpoints only (an ipBlock
   * tells a group's pods apart on one side or both, see Edge.split): "ns/name" of those members.
   */
  readonly pods?: { readonly from: readonly string[]; readonly to: readonly string[] };
}

export interface ConnectivityDiff {
  readonly before: Connectivity;
  readonly after: Connectivity;
  /** Sorted by from, then to. */
  readonly changes: readonly ConnectionChange[];
}

/** The runs of `parts` restricted to `ports` (empty runs dropped). */
export function clipParts(parts: readonly EdgePart[], ports: PortSet): EdgePart[] {
  const out: EdgePart[] = [];
  for (const p of parts) {
    const keep: PortRange[] = [];
    for (const r of p.ranges) {
      for (const q of ports[p.protocol]) {
        const from = Math.max(r.from, q.from), to = Math.min(r.to, q.to);
        if (from <= to) keep.push({ from, to });
      }
    }
    if (keep.length) out.push({ ...p, ranges: normaliseRanges(keep) });
  }
  return out;
}

function key(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

/** One address case of a pair: its pods (undefined: every member) and what it allows. */
interface Case {
  readonly fromPods: readonly string[] | undefined;
  readonly toPods: readonly string[] | undefined;
  readonly ports: PortSet;
  readonly parts: readonly EdgePart[];
}

function casesOf(e: Edge | undefined): readonly Case[] {
  if (!e) return [{ fromPods: undefined, toPods: undefined, ports: EMPTY_PORTS, parts: [] }];
  return e.split ?? [{ fromPods: undefined, toPods: undefined, ports: e.ports, parts: e.parts }];
}

function meet(x: readonly string[] | undefined, y: readonly string[] | undefined): readonly string[] | undefined {
  if (!x) return y;
  if (!y) return x;
  const ys = new Set(y);
  return x.filter((p) => ys.has(p));
}

/**
 * The pair's cases on both sides cut by each other, where the allowed ports differ. A split edge's
 * ports are the union of its cases: comparing unions would miss a connection closed for one
 * replica while another keeps it, and say a port opened for one replica opened for all.
 */
function changedPieces(b: Edge | undefined, c: Edge | undefined, self: boolean): { before: Case; after: Case; fromPods: readonly string[] | undefined; toPods: readonly string[] | undefined }[] {
  const out = [];
  for (const x of casesOf(b)) {
    for (const y of casesOf(c)) {
      const fromPods = meet(x.fromPods, y.fromPods), toPods = meet(x.toPods, y.toPods);
      if (fromPods?.length === 0 || toPods?.length === 0) continue;
      // A group with itself: one pod on both ends is no pair (the model judges two of its pods).
      if (self && fromPods?.length === 1 && toPods?.length === 1 && fromPods[0] === toPods[0]) continue;
      if (!samePortSet(x.ports, y.ports)) out.push({ before: x, after: y, fromPods, toPods });
    }
  }
  return out;
}

export function diffConnectivity(before: ClusterView, after: ClusterView, opts: Pick<ConnectivityOptions, 'family'> = {}): ConnectivityDiff {
  const family = opts.family ?? 'IPv4';
  const idsBefore = podEndpointIds(before, { family });
  const idsAfter = podEndpointIds(after, { family });
  const cidrs = (v: ClusterView) => policyCIDRs(v, family).map(formatCIDR);
  const a0 = new ConnectivityAnalysis(before, { family, refine: (p) => idsAfter.get(podKey(p)) ?? '', extraCIDRs: cidrs(after) });
  const a1 = new ConnectivityAnalysis(after, { family, refine: (p) => idsBefore.get(podKey(p)) ?? '', extraCIDRs: cidrs(before) });
  const e0 = new Map(a0.result.edges.map((e) => [key(e.from, e.to), e]));
  const e1 = new Map(a1.result.edges.map((e) => [key(e.from, e.to), e]));
  const changes: ConnectionChange[] = [];
  for (const k of new Set([...e0.keys(), ...e1.keys()])) {
    const x = e0.get(k), y = e1.get(k);
    if (x && y && !x.split && !y.split && samePortSet(x.ports, y.ports)) continue;
    const [from, to] = k.split('\u0000') as [string, string];
    const b: Edge | undefined = x ?? a0.pair(from, to);
    const c: Edge | undefined = y ?? a1.pair(from, to);
    const known0 = a0.endpoint(from) && a0.endpoint(to), known1 = a1.endpoint(from) && a1.endpoint(to);
    const pieces = changedPieces(b, c, from === to);
    // The members are named only where a piece is not the whole pair.
    const whole = pieces.length === 1 && !pieces[0]!.fromPods && !pieces[0]!.toPods;
    for (const piece of pieces) {
      const bp = piece.before.ports, cp = piece.after.ports;
      const opened = subtractPortSet(cp, bp), closed = subtractPortSet(bp, cp);
      const kind: ChangeKind = portSetIsEmpty(bp) ? 'added' : portSetIsEmpty(cp) ? 'removed' : 'changed';
      const all = (id: string) => a1.endpoint(id)?.pods ?? a0.endpoint(id)?.pods ?? [];
      changes.push({
        kind, from, to, before: bp, after: cp, opened, closed,
        openedBy: c ? clipParts(piece.after.parts, opened) : [],
        closedBy: c ? clipParts(piece.after.parts, closed) : [],
        closedWere: b ? clipParts(piece.before.parts, closed) : [],
        ...(!known0 ? { endpoint: 'new' as const } : !known1 ? { endpoint: 'gone' as const } : {}),
        ...(whole ? {} : { pods: { from: piece.fromPods ?? all(from), to: piece.toPods ?? all(to) } }),
      });
    }
  }
  // Endpoint order of the after side, then the before side's for endpoints that are gone.
  const order = new Map<string, number>();
  for (const e of [...a1.result.endpoints, ...a0.result.endpoints]) if (!order.has(e.id)) order.set(e.id, order.size);
  changes.sort((p, q) => order.get(p.from)! - order.get(q.from)! || order.get(p.to)! - order.get(q.to)!);
  return { before: a0.result, after: a1.result, changes };
}
