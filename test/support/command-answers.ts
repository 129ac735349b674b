// What each analysis command answers about one connection, read from its output or its model,
// for the tests holding the commands to each other and to the plain evaluator
// (test/analysis/commands-agree.test.ts, test/cli/commands-agree-cli.test.ts).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Family, Protocol } from '../../src/cluster/model.ts';
import { PROTOCOLS } from '../../src/cluster/model.ts';
import { ClusterState, type ClusterView } from '../../src/cluster/state.ts';
import { cidrContains, parseCIDR, parseIP } from '../../src/net/address.ts';
import type { Connection, Decision } from '../../src/policy/decision.ts';
import type { Connectivity, Edge, Endpoint } from '../../src/analysis/connectivity.ts';
import { TIER_TITLE } from '../../src/cli/vocabulary.ts';
import { rawObject } from '../../support/raw-objects.ts';
import { Rng, randomProbePort } from '../../support/random-cluster.ts';

/** One sampled connection: its addresses, and the pods at its ends (none: an outside address). */
export interface Sampled {
  readonly conn: Connection;
  readonly src?: string;
  readonly dst?: string;
}

/** Sampled connections: pod to pod (a few to itself), and a pod with an outside address either way. */
export function sampleConnections(r: Rng, pods: readonly { key: string; ip: string }[], outside: readonly string[], n: number): Sampled[] {
  const out: Sampled[] = [];
  if (pods.length === 0) return out;
  for (let i = 0; i < n; i++) {
    const a = r.pick(pods);
    const b = r.chance(0.04) ? a : r.pick(pods);
    const protocol = r.pick(PROTOCOLS);
    // Port 0 is no port of the connectivity model (1-65535).
    const port = randomProbePort(r) || 1;
    if (outside.length && r.chance(0.15)) {
      const o = r.pick(outside);
      out.push(r.chance(0.5) ? { conn: { src: a.ip, dst: o, protocol, port }, src: a.key } : { conn: { src: o, dst: b.ip, protocol, port }, dst: b.key });
    } else out.push({ conn: { src: a.ip, dst: b.ip, protocol, port }, src: a.key, dst: b.key });
  }
  return out;
}

/** The cluster's outside addresses of the family that no pod and no node holds. */
export function outsideAddresses(state: ClusterState, outside: readonly string[], family: Family): string[] {
  const used = new Set([...[...state.pods.values()].flatMap((p) => p.ips), ...[...state.nodes.values()].flatMap((n) => n.addresses)]);
  return outside.filter((a) => parseIP(a)?.family === family && !used.has(a));
}

/** The tier letter `matrix --why` owes a denied connection: the denying side's rule's tier (egress first). */
export function deniedTier(d: Decision): string {
  const s = d.egress.allowed ? d.ingress : d.egress;
  return TIER_TITLE[s.rule?.tier ?? 'networkpolicy'][0]!;
}

export function inPorts(e: Pick<Edge, 'ports'> | undefined, protocol: Protocol, port: number): boolean {
  return !!e && e.ports[protocol].some((r) => r.from <= port && port <= r.to);
}

function inBlock(e: Endpoint, ip: string): boolean {
  const a = parseIP(ip)!;
  return cidrContains(parseCIDR(e.cidr!)!, a) && !e.except!.some((x) => cidrContains(parseCIDR(x)!, a));
}

/** The endpoint id of a pod ("ns/name") or of an outside address in a connectivity model. */
export function endpointIdOf(c: Connectivity, pod: string | undefined, ip: string): string | undefined {
  if (pod !== undefined) return c.endpoints.find((e) => e.pods?.includes(pod))?.id;
  return c.endpoints.find((e) => e.kind === 'external' && inBlock(e, ip))?.id;
}

/**
 * What connlist's model says of a sampled connection: whether the pair is listed with the port, in
 * the address case holding the two pods when the edge is split; a string when it cannot say.
 */
export function connlistAllows(c: Connectivity, s: Sampled): boolean | string {
  const from = endpointIdOf(c, s.src, s.conn.src), to = endpointIdOf(c, s.dst, s.conn.dst);
  if (from === undefined || to === undefined) return `no endpoint for ${from === undefined ? s.src ?? s.conn.src : s.dst ?? s.conn.dst}`;
  const e = c.edges.find((x) => x.from === from && x.to === to);
  if (!e) return false;
  if (!e.split) return inPorts(e, s.conn.protocol, s.conn.port);
  const v = e.split.find((x) => (s.src === undefined || x.fromPods.includes(s.src)) && (s.dst === undefined || x.toPods.includes(s.dst)));
  if (!v) return `split edge ${from} -> ${to} has no case for ${s.src} -> ${s.dst}`;
  return inPorts(v, s.conn.protocol, s.conn.port);
}

/** Whether a port set as the commands print it ("TCP 80,8080-8090; UDP all", "all", "none") holds the port. */
export function portTextHolds(text: string, protocol: Protocol, port: number): boolean {
  if (text === 'all') return true;
  if (text === 'none') return false;
  for (const part of text.split('; ')) {
    const [proto, ranges] = part.split(' ') as [string, string];
    if (proto !== protocol) continue;
    if (ranges === 'all') return true;
    return ranges.split(',').some((x) => {
      const [a, b] = x.split('-').map(Number) as [number, number | undefined];
      return a <= port && port <= (b ?? a);
    });
  }
  return false;
}

/** A CSV text's rows (quoted fields with doubled quotes, as connlist writes them). */
export function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(field); field = ''; } else if (ch === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else field += ch;
  }
  return rows;
}

/**
 * What a connlist -o csv row says of a sampled connection between the two endpoints: its ports
 * when the split column is empty, else those of the case naming both pods (a string when none does).
 */
export function csvRowAllows(row: readonly string[], s: Sampled): boolean | string {
  const [, , conn, split] = row;
  if (!split) return portTextHolds(conn!, s.conn.protocol, s.conn.port);
  for (const c of split.split(' | ')) {
    const m = /^(.*) => (.*) : (.*)$/.exec(c);
    if (!m) return `split field case "${c}" is not "pods => pods : ports"`;
    const from = m[1]!.split(', '), to = m[2]!.split(', ');
    if ((s.src === undefined || from.includes(s.src)) && (s.dst === undefined || to.includes(s.dst))) return portTextHolds(m[3]!, s.conn.protocol, s.conn.port);
  }
  return `no case of the split field names ${s.src} -> ${s.dst}`;
}

/** Writes every object of a state as manifests (API JSON documents) to <dir>/cluster.yaml. */
export function writeManifests(state: ClusterState, dir: string): void {
  const docs = [
    ...[...state.namespaces.values()].map((object) => rawObject({ kind: 'Namespace', object })),
    ...[...state.nodes.values()].map((object) => rawObject({ kind: 'Node', object })),
    ...[...state.pods.values()].map((object) => rawObject({ kind: 'Pod', object })),
    ...[...state.policies.values()].map((object) => rawObject({ kind: 'NetworkPolicy', object })),
    ...[...state.clusterPolicies.values()].map((object) => rawObject({ kind: 'ClusterNetworkPolicy', object })),
  ];
  writeFileSync(join(dir, 'cluster.yaml'), docs.map((d) => JSON.stringify(d)).join('\n---\n') + '\n');
}

/** A second state with copies of every object: diff compares two views, not one view with itself. */
export function twinState(view: ClusterView): ClusterState {
  const s = new ClusterState();
  s.batch(() => {
    for (const n of view.namespaces.values()) s.upsertNamespace(structuredClone(n));
    for (const n of view.nodes.values()) s.upsertNode(structuredClone(n));
    for (const p of view.pods.values()) s.upsertPod(structuredClone(p));
    for (const p of view.policies.values()) s.upsertPolicy(structuredClone(p));
    for (const p of view.clusterPolicies.values()) s.upsert(p.kind, structuredClone(p));
  });
  return s;
}
