// Text, CSV, Markdown, DOT and JSON renderings of the connectivity model (src/analysis) for
// `palisade connlist`; each side's decision is worded by vocabulary.ts, as in every command.

import type { Connectivity, Edge, EdgePart, EdgeVariant, Endpoint, LeftOut } from '../analysis/connectivity.ts';
import type { Family } from '../cluster/model.ts';
import { normaliseRanges, portSetText, rangesText, type PortRange } from '../analysis/ports.ts';
import { sideText } from './vocabulary.ts';
import { wrappedList } from './text-table.ts';

/**
 * A pod that is no endpoint, with its reason: "x/a (no IPv6 address)" (connlist's and matrix's
 * notes); `detail` follows the reason ("x/b (its address is another pod's for policy: 10.1.0.1
 * is x/a's)").
 */
export function leftOutText(l: LeftOut, family: Family, detail?: string): string {
  const why = { 'address-taken': 'its address is another pod\'s for policy', 'no-address': `no ${family} address`, 'host-network': 'host network', finished: 'finished' } as const;
  return `${l.pod} (${why[l.reason]}${detail ? `: ${detail}` : ''})`;
}

/** "TCP 80,8080-8090: egress ..., ingress ..." for one run of ports. */
export function partText(p: EdgePart): string {
  const ports = p.ranges.length === 1 && p.ranges[0]!.from === 1 && p.ranges[0]!.to === 65535 ? 'all' : rangesText(p.ranges);
  return `${p.protocol} ${ports}: egress ${sideText(p.egress)}; ingress ${sideText(p.ingress)}`;
}

/** The allowed runs of an edge (or of one of its address cases) grouped by their two sides' decisions: "TCP 53; UDP 53: egress ...; ingress ...". */
export function whyLines(e: Pick<Edge, 'parts'>, allowed = true): string[] {
  const byWhy = new Map<string, { TCP: PortRange[]; UDP: PortRange[]; SCTP: PortRange[] }>();
  for (const p of e.parts) {
    if (p.allowed !== allowed) continue;
    const key = `egress ${sideText(p.egress)}; ingress ${sideText(p.ingress)}`;
    let set = byWhy.get(key);
    if (!set) byWhy.set(key, (set = { TCP: [], UDP: [], SCTP: [] }));
    set[p.protocol].push(...p.ranges);
  }
  return [...byWhy].map(([why, s]) => `${portSetText({ TCP: normaliseRanges(s.TCP), UDP: normaliseRanges(s.UDP), SCTP: normaliseRanges(s.SCTP) })}: ${why}`);
}

/** A group's line(s) in the legend: "  ns/web-* = 3 pods: web-a, web-b, web-c", wrapped to `limit` columns. */
function membersLines(e: Endpoint, limit: number): string[] {
  if (e.kind !== 'group') return [];
  const names = e.pods!.map((k) => k.slice(k.indexOf('/') + 1));
  return wrappedList(`  ${e.id} = ${names.length} pods: `, names, limit, '    ');
}

/**
 * One address case of a split edge: "    a, b => c : TCP 80", its words wrapped to `limit`
 * columns (continuation lines indented 6): a case of a Deployment's replicas names many pods.
 */
function caseLines(v: EdgeVariant, limit: number): string[] {
  const words = [
    ...v.fromPods.map((p, i) => (i < v.fromPods.length - 1 ? `${p},` : `${p} =>`)),
    ...v.toPods.map((p, i) => (i < v.toPods.length - 1 ? `${p},` : `${p} :`)),
    portSetText(v.ports),
  ];
  const out: string[] = [];
  let line = '    ' + words[0]!;
  for (const w of words.slice(1)) {
    if (line.length + 1 + w.length <= limit) line += ` ${w}`;
    else {
      out.push(line);
      line = `      ${w}`;
    }
  }
  out.push(line);
  return out;
}

/** netpol-analyzer's line shape: "from => to : TCP 80; UDP 53". With `why`, each allowed run and its deciding rules below. */
export function connectivityText(c: Connectivity, why = false, limit = 120): string {
  // Said, as diff says "no connection changed": a blank line reads as output lost.
  if (c.edges.length === 0) return 'no allowed connection\n';
  const out: string[] = [];
  for (const e of c.edges) {
    // A split edge's ports are the union of its address cases: each case is said below it, or
    // the line would read as every pod of the group allowed on all of them.
    out.push(`${e.from} => ${e.to} : ${portSetText(e.ports)}${e.split ? ' (not for every pod: by address below)' : ''}`);
    for (const v of e.split ?? []) {
      out.push(...caseLines(v, limit));
      if (why) for (const line of whyLines(v)) out.push(`        ${line}`);
    }
    if (why && !e.split) for (const line of whyLines(e)) out.push(`    ${line}`);
  }
  const legend = c.endpoints.flatMap((e) => membersLines(e, limit));
  if (legend.length) out.push('', 'groups (pods of one template, judged alike):', ...legend);
  return out.join('\n') + '\n';
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * A split edge's address cases as the text words them ("a, b => c : TCP 80"), one string each;
 * none for an edge every pod of both ends shares. The machine formats' `split` column: their
 * ports column keeps the union (what scripts read), which alone reads as every pod's.
 */
function splitCases(e: Edge): string[] {
  return (e.split ?? []).map((v) => `${v.fromPods.join(', ')} => ${v.toPods.join(', ')} : ${portSetText(v.ports)}`);
}

export function connectivityCSV(c: Connectivity): string {
  // src, dst, conn as they were (scripts read them by place); split last, cases apart by " | "
  // (conn's own separator is "; ").
  const rows = ['src,dst,conn,split'];
  for (const e of c.edges) rows.push([e.from, e.to, portSetText(e.ports), splitCases(e).join(' | ')].map(csvField).join(','));
  return rows.join('\n') + '\n';
}

export function connectivityMarkdown(c: Connectivity): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\*/g, '\\*');
  // Columns named as the JSON's fields and the text's words; the CSV keeps its first names (src,
  // dst, conn) for the scripts reading it.
  const rows = ['| from | to | ports | split |', '|------|----|-------|-------|'];
  for (const e of c.edges) rows.push(`| ${esc(e.from)} | ${esc(e.to)} | ${esc(portSetText(e.ports))} | ${splitCases(e).map(esc).join('<br>')} |`);
  return rows.join('\n') + '\n';
}

function dotId(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Graphviz: one cluster box per namespace, pods as boxes (groups as stacked boxes), external blocks and the node as ellipses. */
export function connectivityDot(c: Connectivity): string {
  const out = ['digraph connectivity {', '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  const byNs = new Map<string, Endpoint[]>();
  const loose: Endpoint[] = [];
  for (const e of c.endpoints) {
    if (e.namespace) {
      let l = byNs.get(e.namespace);
      if (!l) byNs.set(e.namespace, (l = []));
      l.push(e);
    } else loose.push(e);
  }
  let i = 0;
  for (const [ns, eps] of byNs) {
    out.push(`  subgraph cluster_${i++} {`, `    label=${dotId(ns)};`, '    style=rounded; color=gray;');
    for (const e of eps) {
      const label = e.id.slice(ns.length + 1) + (e.kind === 'group' ? `\\n(${e.pods!.length} pods)` : '');
      out.push(`    ${dotId(e.id)} [label=${dotId(label).replace(/\\\\n/g, '\\n')}, shape=${e.kind === 'group' ? 'box3d' : 'box'}];`);
    }
    out.push('  }');
  }
  for (const e of loose) out.push(`  ${dotId(e.id)} [shape=${e.kind === 'node' ? 'hexagon' : 'ellipse'}${e.kind === 'external' ? ', style=dashed' : ''}];`);
  for (const e of c.edges) out.push(`  ${dotId(e.from)} -> ${dotId(e.to)} [label=${dotId(portSetText(e.ports))}];`);
  out.push('}');
  return out.join('\n') + '\n';
}

/** The model as JSON (endpoints, edges with every run of ports and both sides' decisions, left-out pods). */
export function connectivityJSON(c: Connectivity): string {
  return JSON.stringify(c, null, 2) + '\n';
}

export type { Edge };
