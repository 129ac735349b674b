// A large cluster's connectivity as a picture people can still read: every namespace becomes
// one endpoint ("ns/*", its pods and groups as members) and the edges between two namespaces
// merge into one whose ports are the union of its members' allowed ports. External blocks and
// the node stay as they are. The per-run decisions (parts) are dropped: an aggregated edge
// stands for many pairs, each with its own deciding rules.

import type { Protocol } from '../cluster/model.ts';
import { PROTOCOLS } from '../cluster/model.ts';
import type { Connectivity, Edge, Endpoint } from './connectivity.ts';
import { normaliseRanges, type PortRange, type PortSet } from './ports.ts';

export interface Aggregated {
  readonly connectivity: Connectivity;
  /** Aggregated endpoint id -> the ids of the endpoints it stands for. */
  readonly members: ReadonlyMap<string, readonly string[]>;
  /** Aggregated edge "from\u0000to" -> the member edges it merges. */
  readonly memberEdges: ReadonlyMap<string, readonly Edge[]>;
}

function aggregateId(e: Endpoint): string {
  return e.namespace !== undefined ? `${e.namespace}/*` : e.id;
}

export function aggregateByNamespace(c: Connectivity): Aggregated {
  const endpoints = new Map<string, { namespace?: string; pods: string[]; kind: Endpoint['kind']; base: Endpoint }>();
  const members = new Map<string, string[]>();
  for (const e of c.endpoints) {
    const id = aggregateId(e);
    let a = endpoints.get(id);
    if (!a) endpoints.set(id, (a = { ...(e.namespace !== undefined ? { namespace: e.namespace } : {}), pods: [], kind: e.namespace !== undefined ? 'group' : e.kind, base: e }));
    a.pods.push(...(e.pods ?? []));
    let m = members.get(id);
    if (!m) members.set(id, (m = []));
    m.push(e.id);
  }
  const byPair = new Map<string, { from: string; to: string; ports: Record<Protocol, PortRange[]>; edges: Edge[] }>();
  const aggOf = new Map(c.endpoints.map((e) => [e.id, aggregateId(e)]));
  for (const e of c.edges) {
    const from = aggOf.get(e.from) ?? e.from;
    const to = aggOf.get(e.to) ?? e.to;
    const key = `${from}\u0000${to}`;
    let a = byPair.get(key);
    if (!a) byPair.set(key, (a = { from, to, ports: { TCP: [], UDP: [], SCTP: [] }, edges: [] }));
    for (const p of PROTOCOLS) a.ports[p].push(...e.ports[p]);
    a.edges.push(e);
  }
  const outEndpoints: Endpoint[] = [...endpoints].map(([id, a]) => (a.namespace !== undefined
    ? { id, kind: 'group', namespace: a.namespace, pods: a.pods.sort() }
    : a.base));
  const edges: Edge[] = [...byPair.values()].map((a) => {
    const ports: PortSet = { TCP: normaliseRanges(a.ports.TCP), UDP: normaliseRanges(a.ports.UDP), SCTP: normaliseRanges(a.ports.SCTP) };
    return { from: a.from, to: a.to, ports, parts: [] };
  });
  const memberEdges = new Map<string, Edge[]>();
  for (const [k, a] of byPair) memberEdges.set(k, a.edges);
  return { connectivity: { family: c.family, endpoints: outEndpoints, edges, leftOut: c.leftOut }, members, memberEdges };
}
