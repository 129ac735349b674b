// What the HTML report shows, computed up front (the page runs no analysis): the connectivity
// model (connlist's), aggregated by namespace above a size, the per-port matrix over the ports
// the cluster's pods and rules name, lint findings, and for every matrix cell and every edge
// the text `palisade explain` prints for it (texts deduplicated into one table).

import type { Family, Protocol } from '../../cluster/model.ts';
import { podIsSelectable } from '../../policy/spec-facts.ts';
import type { ClusterView } from '../../cluster/state.ts';
import { aggregateByNamespace } from '../../analysis/aggregate.ts';
import { computeConnectivity, type Connectivity, type Edge, type EdgeVariant, type Endpoint } from '../../analysis/connectivity.ts';
import { portSetText } from '../../analysis/ports.ts';
import { parseIP } from '../../net/address.ts';
import { explain } from '../../policy/evaluator.ts';
import { lint } from '../../policy/lint.ts';
import type { Finding } from '../../policy/lint-findings.ts';
import { formatExplanation } from '../explain-format.ts';
import { tierWalks } from '../explain-tiers.ts';
import { whyLines } from '../connectivity-format.ts';
import { verdictText } from '../vocabulary.ts';

/** Above this many endpoints the report draws namespaces instead of pods (see README). */
export const DETAIL_LIMIT = 40;
/** Above this many edges the graph draws only this many, the ones standing for most pairs (the matrix keeps all). */
export const LABEL_LIMIT = 300;
/** At most this many ports get a matrix of their own. */
export const MAX_PORTS = 8;

export interface ReportPort {
  readonly protocol: Protocol;
  readonly port: number;
}

export interface ReportData {
  readonly title: string;
  readonly input: string;
  readonly aggregated: boolean;
  readonly podCount: number;
  /** The full model's size (connlist's), whether or not it is drawn by namespace. */
  readonly modelEndpoints: number;
  readonly modelEdges: number;
  /** The connectivity drawn (aggregated or not): endpoints are the graph's nodes and the matrix axes. */
  readonly connectivity: Connectivity;
  readonly ports: readonly ReportPort[];
  /** cells[i][j][k]: 1 when endpoints[i] -> endpoints[j] is allowed on ports[k]; between 0 and 1 the share of an edge's address cases allowed. */
  readonly cells: number[][][];
  /** texts index per cell and port: cellText[i][j][k]; per edge: edgeText[e]. */
  readonly cellText: number[][][];
  readonly edgeText: number[];
  /** Per edge: how many endpoint pairs it stands for (1 unless aggregated), to pick the edges drawn. */
  readonly edgeWeight: number[];
  readonly texts: string[];
  readonly findings: readonly Finding[];
}

function isPodEnd(e: Endpoint): boolean {
  return e.kind === 'pod' || e.kind === 'group';
}

function inRanges(e: Pick<Edge, 'ports'> | undefined, p: ReportPort): boolean {
  return !!e && e.ports[p.protocol].some((r) => r.from <= p.port && p.port <= r.to);
}

/** The ports worth a matrix: container ports and the ports allowed rules name, most used first. */
function pickPorts(view: ClusterView, c: Connectivity): ReportPort[] {
  const count = new Map<string, number>();
  const add = (protocol: Protocol, port: number) => count.set(`${protocol}/${port}`, (count.get(`${protocol}/${port}`) ?? 0) + 1);
  for (const pod of view.pods.values()) for (const cp of pod.ports) add(cp.protocol, cp.containerPort);
  for (const e of c.edges) {
    for (const proto of ['TCP', 'UDP', 'SCTP'] as const) {
      for (const r of e.ports[proto]) if (!(r.from === 1 && r.to === 65535)) add(proto, r.from);
    }
  }
  const top = [...count].sort((a, b) => b[1] - a[1]).slice(0, MAX_PORTS).map(([k]) => {
    const [protocol, port] = k.split('/');
    return { protocol: protocol as Protocol, port: Number(port) };
  });
  if (top.length === 0) top.push({ protocol: 'TCP', port: 80 });
  return top.sort((a, b) => (a.protocol === b.protocol ? a.port - b.port : a.protocol < b.protocol ? -1 : 1));
}

export interface ReportOptions {
  readonly input: string;
  readonly title?: string;
  /** The view's connectivity when the caller has it already (computing it is most of the cost on a large cluster). */
  readonly connectivity?: Connectivity;
}

/**
 * The family the report draws: IPv4, as connlist, unless no pod policy sees has an IPv4 address
 * and some has an IPv6 one (a single-stack IPv6 cluster would otherwise draw no pod at all).
 */
export function reportFamily(view: ClusterView): Family {
  const has = (f: Family) => [...view.pods.values()].some((p) => podIsSelectable(p) && p.ips.some((ip) => parseIP(ip)?.family === f));
  return !has('IPv4') && has('IPv6') ? 'IPv6' : 'IPv4';
}

export function buildReport(view: ClusterView, opts: ReportOptions): ReportData {
  const full = opts.connectivity ?? computeConnectivity(view, { family: reportFamily(view) });
  const aggregated = full.endpoints.length > DETAIL_LIMIT;
  const agg = aggregated ? aggregateByNamespace(full) : undefined;
  const c = agg ? agg.connectivity : full;
  const ports = pickPorts(view, full);
  const texts: string[] = [];
  const textIndex = new Map<string, number>();
  const intern = (s: string): number => {
    let i = textIndex.get(s);
    if (i === undefined) {
      i = texts.length;
      texts.push(s);
      textIndex.set(s, i);
    }
    return i;
  };
  const edgeOf = new Map<string, Edge>();
  for (const e of c.edges) edgeOf.set(`${e.from}\u0000${e.to}`, e);
  // The address a cell judges `b` at: for a group with itself, another of its pods (the edge
  // means "between two of its pods"; its first member with itself is a pod talking to itself).
  const dstAddress = (a: Endpoint, b: Endpoint): string | undefined => {
    if (a.id !== b.id || a.kind !== 'group') return b.address;
    const other = view.pods.get(b.pods![1]!)?.ips.find((ip) => parseIP(ip)?.family === full.family);
    return other ?? b.address;
  };
  const explainText = (a: Endpoint, b: Endpoint, p: ReportPort): string => {
    // The model judges no pair without a pod (two outside blocks): say so, not "allowed" under
    // a cell the report counts as no connection.
    if (!isPodEnd(a) && !isPodEnd(b)) return `${a.id} -> ${b.id} ${p.protocol}/${p.port}: not judged: neither end is a pod, so no policy applies (the report lists connections with a pod at one end)`;
    const dst = dstAddress(a, b);
    if (!a.address || !dst) return `${a.id} -> ${b.id} ${p.protocol}/${p.port}: ${verdictText(inRanges(edgeOf.get(`${a.id}\u0000${b.id}`), p))} (the node is each pod's own: see the edge's rules)`;
    const x = explain(view, { src: a.address, dst, protocol: p.protocol, port: p.port });
    return formatExplanation(x, { view, walks: tierWalks(view, x) }).join('\n');
  };
  const addressOf = (pod: string | undefined) => (pod === undefined ? undefined : view.pods.get(pod)?.ips.find((ip) => parseIP(ip)?.family === full.family));
  // An edge split by address (an ipBlock tells a group's pods apart): on a port some cases allow
  // and others do not, the cell is the share of cases allowed and its text explains each case
  // with one pair of its pods; the union alone painted it allowed over a denied explanation.
  const splitShare = (e: Edge | undefined, p: ReportPort): number | undefined => {
    if (!e?.split) return undefined;
    const share = e.split.filter((v) => inRanges(v, p)).length / e.split.length;
    return share > 0 && share < 1 ? share : undefined;
  };
  /** One connection of an address case explained (none when a pod of it has no address of the family). */
  const caseExplanation = (v: EdgeVariant, p: ReportPort): string[] => {
    // Two different pods of the case: a case of a group with itself may go from both replicas
    // to one of them, and its first pod with itself would be a pod talking to itself (allowed).
    const from = v.fromPods.find((x) => v.toPods.some((y) => y !== x)) ?? v.fromPods[0]!;
    const src = addressOf(from), dst = addressOf(v.toPods.find((q) => q !== from) ?? v.toPods[0]);
    if (!src || !dst) return [];
    const x = explain(view, { src, dst, protocol: p.protocol, port: p.port });
    return formatExplanation(x, { view, walks: tierWalks(view, x) });
  };
  const splitText = (a: Endpoint, b: Endpoint, e: Edge, p: ReportPort): string => {
    const variants = e.split!;
    const lines = [`${a.id} -> ${b.id} ${p.protocol}/${p.port}: allowed for some pods only (an ipBlock of their rules tells them apart): ${variants.filter((v) => inRanges(v, p)).length} of ${variants.length} cases`];
    for (const v of variants) {
      lines.push('', `${v.fromPods.join(', ')} => ${v.toPods.join(', ')}:`);
      lines.push(...caseExplanation(v, p));
    }
    return lines.join('\n');
  };
  const cells: number[][][] = [];
  const cellText: number[][][] = [];
  for (const a of c.endpoints) {
    const row: number[][] = [];
    const trow: number[][] = [];
    for (const b of c.endpoints) {
      const e = edgeOf.get(`${a.id}\u0000${b.id}`);
      // A lone pod with itself is no pair of the model, and always allowed (palisade matrix: '.').
      const self = a.id === b.id && a.kind === 'pod';
      row.push(ports.map((p) => (self ? 1 : agg ? (inRanges(e, p) ? 1 : 0) : splitShare(e, p) ?? (inRanges(e, p) ? 1 : 0))));
      if (agg) {
        const members = agg.memberEdges.get(`${a.id}\u0000${b.id}`) ?? [];
        const head = `${a.id} => ${b.id}: ${members.length} allowed pair(s) between their pods and groups`;
        const t = members.length ? [head, ...members.slice(0, 20).map((m) => `  ${m.from} => ${m.to} : ${portSetText(m.ports)}`), ...(members.length > 20 ? [`  ... ${members.length - 20} more (palisade connlist --focus ${a.namespace ?? a.id})`] : [])] : [`${a.id} => ${b.id}: nothing allowed`];
        trow.push(ports.map(() => intern(t.join('\n'))));
      } else trow.push(ports.map((p) => intern(splitShare(e, p) !== undefined ? splitText(a, b, e!, p) : explainText(a, b, p))));
    }
    cells.push(row);
    cellText.push(trow);
  }
  const byId = new Map(c.endpoints.map((e) => [e.id, e]));
  const edgeText = c.edges.map((e) => {
    const lines = [`${e.from} => ${e.to} : ${portSetText(e.ports)}`];
    if (agg) {
      const members = agg.memberEdges.get(`${e.from}\u0000${e.to}`) ?? [];
      lines.push(...members.slice(0, 20).map((m) => `  ${m.from} => ${m.to} : ${portSetText(m.ports)}`));
    } else {
      if (e.split) for (const v of e.split) lines.push('', `${v.fromPods.join(', ')} => ${v.toPods.join(', ')} : ${portSetText(v.ports)}`, ...whyLines(v).map((l) => `  ${l}`));
      else lines.push('', 'allowed because:', ...whyLines(e).map((l) => `  ${l}`));
      const first = ports.find((p) => inRanges(e, p));
      const a = byId.get(e.from);
      const b = byId.get(e.to);
      // A split edge's union holds ports some of its cases deny: the connection explained is one
      // of a case allowing the port (the endpoints' first pods may be a case that does not).
      const allowing = first && e.split?.find((v) => inRanges(v, first));
      if (first && allowing) lines.push('', ...caseExplanation(allowing, first));
      else if (first && a && b) lines.push('', explainText(a, b, first));
    }
    return intern(lines.join('\n'));
  });
  return {
    title: opts.title ?? 'Palisade connectivity report', input: opts.input, aggregated, podCount: view.pods.size,
    modelEndpoints: full.endpoints.length, modelEdges: full.edges.length,
    connectivity: c, ports, cells, cellText, edgeText, texts, findings: lint(view),
    edgeWeight: c.edges.map((e) => agg?.memberEdges.get(`${e.from}\u0000${e.to}`)?.length ?? 1),
  };
}

/**
 * What the graph draws: every edge, or above LABEL_LIMIT the LABEL_LIMIT standing for most pod
 * pairs (Graphviz needs minutes for thousands of labelled edges; the matrix and the click texts
 * keep all of them).
 */
export function drawnConnectivity(d: ReportData): { connectivity: Connectivity; capped: boolean } {
  const c = d.connectivity;
  if (c.edges.length <= LABEL_LIMIT) return { connectivity: c, capped: false };
  const order = c.edges.map((_, i) => i).sort((a, b) => d.edgeWeight[b]! - d.edgeWeight[a]! || a - b);
  const keep = new Set(order.slice(0, LABEL_LIMIT));
  return { connectivity: { ...c, edges: c.edges.filter((_, i) => keep.has(i)) }, capped: true };
}
