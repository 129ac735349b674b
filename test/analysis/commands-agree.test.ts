// The analysis commands against each other and against the plain evaluator, on random clusters
// (every NetworkPolicy and cluster policy feature, replicas an ipBlock can tell apart, both
// families): for sampled connections between pods (and from pods to outside addresses), the
// evaluator's verdict must be `verify`'s (the compiled engine's whole decision), `explain`'s
// (its verdict line and each side's tier walk), the `matrix` cell ('.', 'X', and with --why the
// tier that denied), and `connlist`'s (the pair listed with the port, in the address case of the
// two pods when the edge is split); `diff` of the folder with itself reports no change; the
// `report`'s cells and their click texts say what the evaluator says. Each command is driven
// through the library functions its run() calls. Also: connlist --focus lists the unfocused
// pairs with an end in focus, a pod with its own node ("node") and with another node (an
// external block) as the evaluator judges them, and
// diff of a cluster with a changed copy names exactly the sampled connections whose verdict
// changed. PALISADE_SEED=<n> reproduces a run.

import t from 'tap';
import type { Family, Pod } from '../../src/cluster/model.ts';
import { PROTOCOLS } from '../../src/cluster/model.ts';
import { podIsSelectable } from '../../src/policy/spec-facts.ts';
import type { ClusterState } from '../../src/cluster/state.ts';
import { parseIP } from '../../src/net/address.ts';
import { CompiledEngine, decideOn } from '../../src/policy/compiler.ts';
import { evaluate, explain } from '../../src/policy/evaluator.ts';
import { ConnectivityAnalysis, computeConnectivity, type Connectivity, type Endpoint } from '../../src/analysis/connectivity.ts';
import { portSetText } from '../../src/analysis/ports.ts';
import { diffConnectivity } from '../../src/analysis/diff.ts';
import { formatExplanation } from '../../src/cli/explain-format.ts';
import { tierWalks, walkAllows } from '../../src/cli/explain-tiers.ts';
import { matrixCell, matrixPods } from '../../src/cli/commands/matrix.ts';
import { buildReport, reportFamily } from '../../src/cli/report/report-data.ts';
import { verdictText } from '../../src/cli/vocabulary.ts';
import { canonical } from '../../support/differential.ts';
import { Rng, randomCluster, randomMutation, randomProbePort, stateOf, withReplicas, type RandomCluster } from '../../support/random-cluster.ts';
import { connlistAllows, deniedTier, endpointIdOf, twinState, inPorts, outsideAddresses, sampleConnections } from '../support/command-answers.ts';

const CLUSTERS = Number(process.env.PALISADE_CLUSTERS ?? 16);
const TUPLES = 160;
const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`commands-agree seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

function addressIn(p: Pod | undefined, family: Family): string | undefined {
  return p?.ips.find((a) => parseIP(a)?.family === family);
}

/** Every disagreement on one cluster and family (empty: all commands agree). */
function checkCluster(r: Rng, state: ClusterState, cluster: RandomCluster, family: Family, counts: Record<string, number>): string[] {
  const bad: string[] = [];
  const { pods } = matrixPods(state, family);
  const outside = outsideAddresses(state, cluster.outside, family);
  const snap = new CompiledEngine(state).snapshot();
  const model = new ConnectivityAnalysis(state, { family }).result;
  counts.splitEdges! += model.edges.filter((e) => e.split).length;
  for (const s of sampleConnections(r, pods, outside, TUPLES)) {
    const { conn, src, dst } = s;
    counts.tuples!++;
    const what = `${family} ${src ?? conn.src} -> ${dst ?? conn.dst} ${conn.protocol}/${conn.port}`;
    const d = evaluate(state, conn);
    if (d.allowed) counts.allowed!++;
    // verify: both engines, the whole decision.
    const compiled = decideOn(snap, conn);
    if (canonical(compiled) !== canonical(d)) bad.push(`${what}: verify: evaluator ${canonical(d)}, compiled ${canonical(compiled)}`);
    // explain: the verdict line, and each side's tier walk ends where the side's decision does.
    const x = explain(state, conn);
    const walks = tierWalks(state, x);
    const head = formatExplanation(x, { view: state, walks })[0]!;
    if (x.decision.allowed !== d.allowed || !head.endsWith(`: ${verdictText(d.allowed)}`)) bad.push(`${what}: explain says "${head}", evaluator ${d.allowed}`);
    for (const dir of ['egress', 'ingress'] as const) {
      if (walkAllows(walks[dir]) !== d[dir].allowed) bad.push(`${what}: explain's ${dir} tier walk ends ${walkAllows(walks[dir]) ? 'allowed' : 'denied'}, evaluator's ${dir} ${d[dir].allowed}`);
    }
    // matrix: pod to pod only.
    if (src !== undefined && dst !== undefined) {
      const plain = matrixCell(snap, conn, false), why = matrixCell(snap, conn, true);
      const want = d.allowed ? '.' : 'X', wantWhy = d.allowed ? '.' : deniedTier(d);
      if (plain !== want || why !== wantWhy) bad.push(`${what}: matrix cell "${plain}" (--why "${why}"), evaluator wants "${want}" ("${wantWhy}")`);
    }
    // connlist: a pod with itself is no pair of the model (always allowed: the evaluator must say so).
    if (src !== undefined && src === dst) {
      if (!d.allowed) bad.push(`${what}: a pod to itself denied by the evaluator`);
      continue;
    }
    const listed = connlistAllows(model, s);
    if (listed !== d.allowed) bad.push(`${what}: connlist ${typeof listed === 'string' ? listed : listed ? 'lists it' : 'does not list it'}, evaluator ${d.allowed}`);
    else counts.connlist!++;
  }
  // A pod with its own node ("node" in connlist): the node exemption, judged per member's node.
  const held = new Set([...state.pods.values()].filter(podIsSelectable).flatMap((p) => p.ips));
  for (let i = 0; i < 20 && pods.length; i++) {
    const p = r.pick(pods);
    const node = state.nodes.get(state.pods.get(p.key)!.nodeName ?? '')?.addresses.find((a) => parseIP(a)?.family === family);
    // An address a pod holds is that pod's for policy, not its node's (the generator allows it).
    if (!node || held.has(node)) continue;
    const conn = { protocol: r.pick(PROTOCOLS), port: randomProbePort(r) || 1, ...(r.chance(0.5) ? { src: p.ip, dst: node } : { src: node, dst: p.ip }) };
    const d = evaluate(state, conn);
    const id = endpointIdOf(model, p.key, p.ip)!;
    const e = model.edges.find((x) => (conn.src === p.ip ? x.from === id && x.to === 'node' : x.from === 'node' && x.to === id));
    counts.nodes!++;
    if (inPorts(e, conn.protocol, conn.port) !== d.allowed) bad.push(`${family} ${conn.src === p.ip ? `${p.key} -> its node ${node}` : `its node ${node} -> ${p.key}`} ${conn.protocol}/${conn.port}: connlist ${inPorts(e, conn.protocol, conn.port)}, evaluator ${d.allowed}`);
  }
  // connlist --focus: the pairs with an end holding the pod (or in the namespace), as listed unfocused.
  if (pods.length) {
    const p = r.pick(pods);
    for (const focus of [p.key, p.key.split('/')[0]!]) {
      const inFocus = (id: string) => model.endpoints.find((e) => e.id === id)?.pods?.some((q) => q === focus || q.startsWith(`${focus}/`)) === true;
      const text = (edges: Connectivity['edges']) => edges.map((e) => `${e.from} => ${e.to} : ${portSetText(e.ports)}`).join('\n');
      const want = text(model.edges.filter((e) => inFocus(e.from) || inFocus(e.to)));
      const got = text(new ConnectivityAnalysis(state, { family, focus }).result.edges);
      if (got !== want) bad.push(`${family}: connlist --focus ${focus} lists\n${got}\nunfocused, its pairs are\n${want}`);
    }
  }
  // A pod with another node: that node is an outside address for the pod (its external block).
  for (let i = 0; i < 20 && pods.length; i++) {
    const p = r.pick(pods);
    const own = state.pods.get(p.key)!.nodeName;
    const others = [...state.nodes.values()].filter((x) => x.name !== own).flatMap((x) => x.addresses).filter((a) => parseIP(a)?.family === family && !held.has(a));
    if (!others.length) continue;
    const a = r.pick(others), protocol = r.pick(PROTOCOLS), port = randomProbePort(r) || 1;
    const s = r.chance(0.5) ? { conn: { src: p.ip, dst: a, protocol, port }, src: p.key } : { conn: { src: a, dst: p.ip, protocol, port }, dst: p.key };
    const d = evaluate(state, s.conn);
    const listed = connlistAllows(model, s);
    counts.nodes!++;
    if (listed !== d.allowed) bad.push(`${family} ${s.conn.src} -> ${s.conn.dst} (another node) ${protocol}/${port}: connlist ${listed}, evaluator ${d.allowed}`);
  }
  // diff: the folder against itself (as another copy of every object) changes nothing.
  const diff = diffConnectivity(state, twinState(state), { family });
  counts.diffs!++;
  if (diff.changes.length) bad.push(`${family}: diff of the cluster with itself reports ${diff.changes.length} change(s), first ${diff.changes[0]!.kind} ${diff.changes[0]!.from} => ${diff.changes[0]!.to}`);
  return bad;
}

/** The report's cells (the share of a pair's address cases allowed) and the verdict of each cell's text, against the evaluator. */
function checkReport(state: ClusterState, family: Family, counts: Record<string, number>): string[] {
  const bad: string[] = [];
  // The report draws IPv4 unless only IPv6 pods are there; IPv6 is drawn here as it would be then.
  const rep = buildReport(state, { input: 'random', ...(family !== reportFamily(state) ? { connectivity: computeConnectivity(state, { family }) } : {}) });
  if (rep.aggregated) return bad;
  counts.reports!++;
  const eps = rep.connectivity.endpoints;
  const edges = new Map(rep.connectivity.edges.map((e) => [`${e.from}\u0000${e.to}`, e]));
  const podEnd = (e: Endpoint) => e.kind === 'pod' || e.kind === 'group';
  const addr = (pod: string) => addressIn(state.pods.get(pod), family);
  // An edge's click text ends with one connection of it explained: one the edge allows.
  rep.connectivity.edges.forEach((e, i) => {
    const heads = rep.texts[rep.edgeText[i]!]!.split('\n').filter((l) => / -> .* (TCP|UDP|SCTP)\/\d+: (allowed|DENIED)$/.test(l));
    for (const h of heads) if (!h.endsWith(': allowed')) bad.push(`report edge ${e.from} => ${e.to} : ${portSetText(e.ports)}: its text explains "${h}"`);
  });
  eps.forEach((a, i) => eps.forEach((b, j) => rep.ports.forEach((p, k) => {
    if ((!podEnd(a) && !podEnd(b)) || a.kind === 'node' || b.kind === 'node') return;
    const cell = rep.cells[i]![j]![k]!;
    const text = rep.texts[rep.cellText[i]![j]![k]!]!.split('\n')[0]!;
    const what = `report ${a.id} -> ${b.id} ${p.protocol}/${p.port}`;
    const e = edges.get(`${a.id}\u0000${b.id}`);
    // The pairs a cell stands for: each address case's first pods, or the endpoints' own addresses.
    const cases = e?.split
      ? e.split.map((v) => {
        // Two different pods of the case (a group with itself is judged between two of its pods).
        const from = v.fromPods.find((x) => v.toPods.some((y) => y !== x))!;
        return { src: addr(from)!, dst: addr(v.toPods.find((y) => y !== from)!)!, listed: inPorts(v, p.protocol, p.port) };
      })
      : [{ src: a.address!, dst: a.id === b.id && b.kind === 'group' ? addr(b.pods![1]!)! : b.address!, listed: inPorts(e, p.protocol, p.port) }];
    if (e?.split) counts.reportSplitCells!++;
    let allowedCases = 0;
    for (const c of cases) {
      counts.reportCells!++;
      const d = evaluate(state, { src: c.src, dst: c.dst, protocol: p.protocol, port: p.port });
      if (d.allowed) allowedCases++;
      const selfPod = a.id === b.id && a.kind === 'pod';
      if (!selfPod && d.allowed !== c.listed) bad.push(`${what} (${c.src} -> ${c.dst}): the model ${c.listed ? 'allows' : 'denies'}, the evaluator ${d.allowed ? 'allows' : 'denies'}`);
    }
    const share = allowedCases / cases.length;
    // A split cell's text explains each case with one connection of it, in the cases' order.
    if (e?.split && share > 0 && share < 1) {
      const said = rep.texts[rep.cellText[i]![j]![k]!]!.split('\n').slice(1).filter((l) => l.endsWith(` ${p.protocol}/${p.port}: allowed`) || l.endsWith(` ${p.protocol}/${p.port}: ${verdictText(false)}`));
      const verdicts = said.map((l) => l.endsWith(': allowed'));
      if (verdicts.join() !== cases.map((c) => c.listed).join()) bad.push(`${what}: the cases are ${cases.map((c) => (c.listed ? 'allowed' : 'denied')).join(', ')}, the cell's text explains them ${verdicts.map((v) => (v ? 'allowed' : 'denied')).join(', ')}`);
    }
    if (Math.abs(cell - share) > 1e-9) bad.push(`${what}: cell ${cell}, evaluator allows ${allowedCases} of ${cases.length} case(s)`);
    if (share === 1 && !text.endsWith(': allowed')) bad.push(`${what}: cell allowed, its text says "${text}"`);
    if (share === 0 && podEnd(a) && podEnd(b) && !text.endsWith(`: ${verdictText(false)}`)) bad.push(`${what}: cell denied, its text says "${text}"`);
  })));
  return bad;
}

/**
 * diff of the cluster with a changed copy against the evaluator on both: a sampled connection
 * whose verdict changed is in a change (opened or closed on its port, for its two pods); one
 * whose verdict did not is in none.
 */
function checkDiff(r: Rng, before: ClusterState, cluster: RandomCluster, family: Family, counts: Record<string, number>): string[] {
  const bad: string[] = [];
  const after = twinState(before);
  const extra = [...cluster.outside];
  const made = Array.from({ length: r.range(1, 3) }, () => randomMutation(r, after, extra));
  const d = diffConnectivity(before, after, { family });
  const pb = matrixPods(before, family).pods, pa = new Map(matrixPods(after, family).pods.map((p) => [p.key, p.ip]));
  // Pods that are the same endpoint on both sides: present, seen by policy, at the same address.
  const both = pb.filter((p) => pa.get(p.key) === p.ip);
  const outside = outsideAddresses(before, cluster.outside, family).filter((a) => outsideAddresses(after, cluster.outside, family).includes(a));
  for (const s of sampleConnections(r, both, outside, 60)) {
    if (s.src !== undefined && s.src === s.dst) continue;
    counts.diffChecks!++;
    const was = evaluate(before, s.conn).allowed, now = evaluate(after, s.conn).allowed;
    if (was !== now) counts.changed!++;
    const from = endpointIdOf(d.after, s.src, s.conn.src), to = endpointIdOf(d.after, s.dst, s.conn.dst);
    const covering = d.changes.filter((c) => c.from === from && c.to === to
      && (!c.pods || ((s.src === undefined || c.pods.from.includes(s.src)) && (s.dst === undefined || c.pods.to.includes(s.dst)))));
    const opened = covering.some((c) => inPorts({ ports: c.opened }, s.conn.protocol, s.conn.port));
    const closed = covering.some((c) => inPorts({ ports: c.closed }, s.conn.protocol, s.conn.port));
    if (opened !== (!was && now) || closed !== (was && !now)) {
      bad.push(`${family} after ${made.join('; ')}: ${s.src ?? s.conn.src} -> ${s.dst ?? s.conn.dst} ${s.conn.protocol}/${s.conn.port}: evaluator ${was} then ${now}, diff ${opened ? 'opened' : closed ? 'closed' : 'no change'} (${from} => ${to})`);
    }
  }
  return bad;
}

t.test('diff of a cluster and a changed copy agrees with the evaluator on both', async (t) => {
  const counts: Record<string, number> = { diffChecks: 0, changed: 0 };
  const mismatches: string[] = [];
  for (let c = 0; c < CLUSTERS && mismatches.length < 5; c++) {
    const r = new Rng((seed + c * 7919 + 1) >>> 0);
    const cluster = randomCluster(r);
    const state = stateOf(cluster);
    withReplicas(r, state);
    for (const family of ['IPv4', 'IPv6'] as const) mismatches.push(...checkDiff(r, state, cluster, family, counts).map((m) => `cluster ${c}: ${m}`));
  }
  t.comment(`${CLUSTERS} clusters: ${counts.diffChecks} connections judged before and after a change, ${counts.changed} of them changed`);
  for (const m of mismatches.slice(0, 8)) t.fail(`seed ${seed}: ${m}`);
  t.equal(mismatches.length, 0, 'no disagreement');
  t.ok(counts.changed! > 0, 'some connection changed');
});

t.test('verify, explain, matrix, connlist, diff and report agree with the evaluator', async (t) => {
  const counts: Record<string, number> = { tuples: 0, allowed: 0, connlist: 0, nodes: 0, diffs: 0, reports: 0, reportCells: 0, splitEdges: 0, reportSplitCells: 0 };
  const mismatches: string[] = [];
  // Edges split by address are rare in random clusters; a seed short of them draws more clusters
  // (a report checked for each) rather than leave the cases the commands differ most on unchecked.
  const covered = () => counts.splitEdges! >= 5 && counts.reportSplitCells! >= 10;
  let c = 0;
  for (; (c < CLUSTERS || (!covered() && c < CLUSTERS * 3)) && mismatches.length < 5; c++) {
    const r = new Rng((seed + c * 7919) >>> 0);
    const cluster = randomCluster(r);
    const state = stateOf(cluster);
    withReplicas(r, state);
    for (const family of ['IPv4', 'IPv6'] as const) mismatches.push(...checkCluster(r, state, cluster, family, counts).map((m) => `cluster ${c}: ${m}`));
    if (c % 2 === 0 || c >= CLUSTERS) mismatches.push(...checkReport(state, c % 4 === 0 ? 'IPv4' : 'IPv6', counts).map((m) => `cluster ${c}: ${m}`));
  }
  t.comment(`${c} clusters: ${counts.tuples} connections (${counts.allowed} allowed), ${counts.connlist} checked against connlist (and ${counts.nodes} with a node), ${counts.splitEdges} split edges, ${counts.diffs} self-diffs, ${counts.reports} reports with ${counts.reportCells} cell cases (${counts.reportSplitCells} split cells)`);
  for (const m of mismatches.slice(0, 8)) t.fail(`seed ${seed}: ${m}`);
  t.equal(mismatches.length, 0, 'no disagreement');
  t.ok(counts.allowed! > counts.tuples! / 20 && counts.allowed! < counts.tuples!, 'both verdicts were exercised');
  t.ok(counts.reports! > 0, 'some report was checked cell by cell');
});
