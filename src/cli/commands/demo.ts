// `palisade demo`: the whole thing in one command. Builds a lab (network namespaces on this
// machine, see src/lab) holding a three-tier app plus a DNS stand-in, starts the agent in the
// lab's node namespace, and shows the real TCP/UDP matrix before and after a set of policies:
// default-deny in every app namespace, then frontend -> backend:8080 -> db:5432 and DNS egress;
// then cluster policies: an Admin guardrail on the db namespace that no namespace's own policy
// can open, and a Baseline default-deny that namespaces override with their own NetworkPolicies.
// Every cell shows the REAL probe result next to what the spec says (the plain evaluator), with
// the policy that allowed it or the isolation that denied it; any disagreement is flagged and
// makes the exit status 1. The pods and the node are dual-stack, as on a dual-stack kind
// cluster: every connection is also made over IPv6 and checked the same way, summed up in a
// line under each act's IPv4 matrix (a policy without ipBlocks answers both families alike, so a
// second matrix would repeat the first). The lab is torn down at the end unless --keep.

import { stringify as stringifyYAML } from 'yaml';
import type { Protocol } from '../../cluster/model.ts';
import { formatObjectError } from '../../cluster/model.ts';
import { implicitNamespaceLabels } from '../../cluster/namespace-labels.ts';
import { ClusterState } from '../../cluster/state.ts';
import { applyDecoded, decodeObject } from '../../cluster/decode.ts';
import { ruleLabel, type Connection, type Decision, type SideDecision } from '../../policy/decision.ts';
import { evaluate, explain } from '../../policy/evaluator.ts';
import { ruleMissText, tierWalks, walkText } from '../explain-tiers.ts';
import { agentAvailable, startLabAgent, stopLabAgent, waitForEnforced, writeLabManifests, type LabBackend } from '../../lab/lab-agent.ts';
import type { LabState } from '../../lab/lab-state.ts';
import { mustRun, labNameProblem } from '../../lab/netns.ts';
import { checkLabPrereqs, missingReport } from '../../lab/prereqs.ts';
import { meetsExpectation, policyAllowed, runLabProbes, type LabProbe, type LabProbeResult } from '../../lab/probe.ts';
import { labDown, labSpecFromCluster, labUp } from '../../lab/topology.ts';
import { CliError, intFlag, parseArgs, type FlagSpec } from '../args.ts';
import { alignedLines } from '../text-table.ts';
import { probeVerdictText, sideText, verdictText } from '../vocabulary.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { keep: 'bool', name: 'string', backend: 'string', timeout: 'string', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade demo [--keep] [--name LAB] [--backend nfqueue|tun] [--timeout MS]

Builds a lab of network namespaces on this machine (root needed; nothing touches the host's
network): namespaces frontend, backend, db and kube-system with pods frontend/web (TCP 80),
backend/api (TCP 8080), db/postgres (TCP 5432) and kube-system/coredns (UDP+TCP 53), each with
an IPv4 and an IPv6 address, and the Palisade agent enforcing in the lab's node. Shows the real
connection matrix over IPv4 (an HTTP GET for TCP, a request/answer for UDP; the same
connections over IPv6 are checked too and summed up under it) with no policy, then applies
default-deny in frontend, backend and db plus the allow policies frontend -> backend:8080 ->
db:5432 and DNS egress, and shows the matrix again, every cell explained and checked against
the spec. Act 3 swaps those for cluster policies (ClusterNetworkPolicy): a Baseline
default-deny for ingress, which closes frontend (it has no policy of its own) and which backend
and db override with their own NetworkPolicies, and an Admin guardrail that lets only backend
into db, even though db's own NetworkPolicy admits everyone.

  --keep          leave the lab up afterwards (palisade lab status|probe|down --name LAB)
  --name LAB      lab name (default demo)
  --backend B     the agent's backend: nfqueue (default) or tun
  --timeout MS    how long a probe waits for its answer (default 1000)

Exit status: 0 every real probe agreed with the spec; 1 some did not (flagged with !!), or the
agent did not start;
2 bad flags; 3 missing prerequisites (listed, with how to install them).`;

const NODE = 'demo-node';
const NODE_IP = '10.0.0.1';
const NODE_IP6 = 'fd00:10::1';

interface DemoPod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly ip: string;
  readonly ip6: string;
  readonly ports: readonly { readonly port: number; readonly protocol: Protocol; readonly name: string }[];
}

const PODS: readonly DemoPod[] = [
  { namespace: 'frontend', name: 'web', labels: { app: 'web' }, ip: '10.244.1.10', ip6: 'fd00:10:244:1::10', ports: [{ port: 80, protocol: 'TCP', name: 'http' }] },
  { namespace: 'backend', name: 'api', labels: { app: 'api' }, ip: '10.244.2.10', ip6: 'fd00:10:244:2::10', ports: [{ port: 8080, protocol: 'TCP', name: 'http' }] },
  { namespace: 'db', name: 'postgres', labels: { app: 'postgres' }, ip: '10.244.3.10', ip6: 'fd00:10:244:3::10', ports: [{ port: 5432, protocol: 'TCP', name: 'postgres' }] },
  {
    namespace: 'kube-system', name: 'coredns', labels: { 'k8s-app': 'kube-dns' }, ip: '10.244.0.10', ip6: 'fd00:10:244::10',
    ports: [{ port: 53, protocol: 'UDP', name: 'dns' }, { port: 53, protocol: 'TCP', name: 'dns-tcp' }],
  },
];

type Obj = Record<string, unknown>;

function clusterObjects(): Obj[] {
  const out: Obj[] = [
    { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }, { type: 'InternalIP', address: NODE_IP6 }] } },
  ];
  for (const ns of [...new Set(PODS.map((p) => p.namespace))]) {
    out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: implicitNamespaceLabels(ns) } });
  }
  for (const p of PODS) {
    out.push({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
      spec: { nodeName: NODE, containers: [{ name: p.name, image: 'demo', ports: p.ports.map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol })) }] },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }, { ip: p.ip6 }] },
    });
  }
  return out;
}

const netpol = (namespace: string, name: string, spec: Obj): Obj => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec });
const nsSel = (ns: string) => ({ namespaceSelector: { matchLabels: implicitNamespaceLabels(ns) } });

/** The policies of the second act. */
function policyObjects(): Obj[] {
  const out: Obj[] = [];
  for (const ns of ['frontend', 'backend', 'db']) {
    out.push(netpol(ns, 'default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    out.push(netpol(ns, 'allow-dns', {
      podSelector: {}, policyTypes: ['Egress'],
      egress: [{ to: [{ ...nsSel('kube-system'), podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }],
    }));
  }
  out.push(netpol('frontend', 'web-to-api', {
    podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'],
    egress: [{ to: [{ ...nsSel('backend'), podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
  }));
  out.push(netpol('backend', 'api-from-web', {
    podSelector: { matchLabels: { app: 'api' } }, policyTypes: ['Ingress'],
    ingress: [{ from: [{ ...nsSel('frontend'), podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
  }));
  out.push(netpol('backend', 'api-to-db', {
    podSelector: { matchLabels: { app: 'api' } }, policyTypes: ['Egress'],
    egress: [{ to: [{ ...nsSel('db'), podSelector: { matchLabels: { app: 'postgres' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }],
  }));
  out.push(netpol('db', 'postgres-from-api', {
    podSelector: { matchLabels: { app: 'postgres' } }, policyTypes: ['Ingress'],
    ingress: [{ from: [{ ...nsSel('backend'), podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }],
  }));
  return out;
}

const cnp = (name: string, spec: Obj): Obj => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec });
const nsOnly = (ns: string) => ({ namespaces: { matchLabels: implicitNamespaceLabels(ns) } });

/** The policies of the third act: both cluster tiers around the namespaces' own NetworkPolicies. */
function tieredObjects(): Obj[] {
  return [
    // Baseline: ingress default-deny for the app namespaces (not kube-system: DNS must keep working).
    cnp('default-deny-ingress', {
      tier: 'Baseline', priority: 100,
      subject: { namespaces: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }] } },
      ingress: [{ name: 'deny-all', action: 'Deny', from: [{ namespaces: {} }] }],
    }),
    // frontend has no policy of its own, so the Baseline closes it; backend overrides the
    // Baseline with its own NetworkPolicy...
    netpol('backend', 'api-from-web', {
      podSelector: { matchLabels: { app: 'api' } }, policyTypes: ['Ingress'],
      ingress: [{ from: [{ ...nsSel('frontend'), podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
    }),
    // ...and db's owner opens db to everyone,
    netpol('db', 'allow-all', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] }),
    // which the Admin guardrail overrides: only backend gets as far as db's own policies.
    cnp('protect-db', {
      tier: 'Admin', priority: 10,
      subject: nsOnly('db'),
      ingress: [
        { name: 'backend-decides-below', action: 'Pass', from: [nsOnly('backend')] },
        { name: 'nobody-else', action: 'Deny', from: [{ namespaces: {} }] },
      ],
    }),
  ];
}

/** The cluster of the second act, which `examples/demo/` holds as manifests (a test keeps them equal). */
export function exampleObjects(): Obj[] {
  return [...clusterObjects(), ...policyObjects()];
}

function yamlOf(objs: Obj[]): string {
  // Quoted strings: YAML 1.1 readers would turn some label values into booleans.
  return objs.map((o) => stringifyYAML(o, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' })).join('---\n');
}

interface Target {
  readonly pod: DemoPod;
  readonly port: number;
  readonly protocol: Protocol;
}

const TARGETS: readonly Target[] = PODS.flatMap((pod) => pod.ports.map((p) => ({ pod, port: p.port, protocol: p.protocol })));
const SOURCES: readonly string[] = [...PODS.map((p) => `${p.namespace}/${p.name}`), 'node'];

const key = (p: DemoPod) => `${p.namespace}/${p.name}`;
const targetText = (t: Target) => `${key(t.pod)} ${t.protocol}/${t.port}`;

/** "egress of frontend/web: allowed by ...": the side as every command words it (vocabulary.ts). */
function sideLine(dir: 'egress' | 'ingress', who: string, s: SideDecision): string {
  return `${dir} of ${who}: ${sideText(s)}`;
}

/** One connection of the matrix: its IPv4 probe (the matrix and the "why"), and its IPv6 twin. */
interface Cell {
  readonly from: string;
  readonly target: Target;
  readonly real: LabProbeResult;
  readonly expected: Decision;
  readonly real6: LabProbeResult;
  readonly expected6: Decision;
  /** Per side left to the default allow though cluster policies selected the pod: its tier walk (passedTiers). */
  readonly passed: { readonly egress?: readonly string[]; readonly ingress?: readonly string[] };
}

/**
 * For a side left to the default allow though cluster policies select the pod: explain's walk of
 * the tiers and why each rule checked on it did not match (explain-tiers.ts). Act 3's Baseline
 * default-deny selects frontend, yet the node reaches it: the rule's peer is `namespaces`, which
 * selects pods, and the node is none. "No policy decides" alone would read, right after a
 * default-deny was applied, as a bug.
 */
function passedTiers(view: ClusterState, conn: Connection, dir: 'egress' | 'ingress', who: string): readonly string[] | undefined {
  const x = explain(view, conn);
  if ((dir === 'egress' ? x.decision.egress : x.decision.ingress).reason !== 'not-isolated') return undefined;
  const walk = tierWalks(view, x)[dir];
  const checks = walk.steps.flatMap((st) => (st.tier === 'admin' || st.tier === 'baseline' ? st.checks : []));
  if (checks.length === 0) return undefined;
  return [
    `${sideLine(dir, who, x.decision[dir])} (${walkText(walk)})`,
    ...checks.filter((c) => !c.matched).map((c) => `  ${ruleLabel(c.ref)}: ${ruleMissText(view, x, dir, c)}`),
  ];
}

const agrees = (real: LabProbeResult, expected: Decision) => meetsExpectation(real.verdict, expected.allowed ? 'allow' : 'deny');

function printAct(out: (s: string) => void, title: string, cells: readonly Cell[]): number {
  out(`\n${title}\n`);
  out(`rows: client, columns: server.  '.' answered, 'X' no answer, 'r' refused (let through, nobody listens), '?' probe error; '!!' = the real probe disagrees with the spec\n\n`);
  const head = ['FROM \\ TO', ...TARGETS.map(targetText)];
  const rows = [head];
  let mismatches = 0;
  for (const from of SOURCES) {
    const row = [from];
    for (const t of TARGETS) {
      const c = cells.find((x) => x.from === from && x.target === t)!;
      const real = policyAllowed(c.real.verdict);
      const bad = !meetsExpectation(c.real.verdict, c.expected.allowed ? 'allow' : 'deny');
      if (bad) mismatches++;
      row.push(`${c.real.verdict === 'refused' ? 'r' : c.real.verdict === 'error' ? '?' : real ? '.' : 'X'}${bad ? ` !! spec: ${verdictText(c.expected.allowed)}` : ''}`);
    }
    rows.push(row);
  }
  for (const line of alignedLines(rows)) out('  ' + line.trimEnd() + '\n');
  printWhy(out, cells);
  return mismatches + printIPv6(out, cells);
}

/**
 * The IPv6 line under an act: how many of the same connections over IPv6 met the spec, and
 * each one that did not (flagged like the matrix's) or that met it with another outcome than
 * over IPv4.
 */
function printIPv6(out: (s: string) => void, cells: readonly Cell[]): number {
  const bad = cells.filter((c) => !agrees(c.real6, c.expected6));
  const other = cells.filter((c) => agrees(c.real6, c.expected6) && policyAllowed(c.real6.verdict) !== policyAllowed(c.real.verdict));
  out(`\nIPv6: the same ${cells.length} connections between the IPv6 addresses: ${cells.length - bad.length} of ${cells.length} as the spec says`);
  out(other.length === 0 && bad.length === 0 ? ', every one with its IPv4 outcome\n' : '\n');
  for (const c of bad) {
    out(`  ${c.from} -> ${targetText(c.target)} over IPv6: real ${probeVerdictText(c.real6.verdict)} (${c.real6.detail}, ${c.real6.ms} ms), spec ${verdictText(c.expected6.allowed)}  !! MISMATCH\n`);
  }
  for (const c of other) out(`  ${c.from} -> ${targetText(c.target)} over IPv6: real ${probeVerdictText(c.real6.verdict)}, as the spec says (IPv4: ${probeVerdictText(c.real.verdict)})\n`);
  return bad.length;
}

/** The lines under a cell's entry: why the spec answers as it does. */
function reasonLines(c: Cell): string[] {
  const e = c.expected.egress.reason;
  const i = c.expected.ingress.reason;
  // Lines without pod names where many connections share the reason, so they share an entry.
  if (c.from === key(c.target.pod)) return [sideText(c.expected.ingress)];
  const side = (dir: 'egress' | 'ingress', who: string, s: SideDecision) => c.passed[dir] ?? [sideLine(dir, who, s)];
  if (c.from === 'node') {
    const nameless = i === 'node' || (i === 'not-isolated' && !c.passed.ingress);
    return [sideLine('egress', 'the node', c.expected.egress), ...(nameless ? [sideLine('ingress', 'the server', c.expected.ingress)] : side('ingress', key(c.target.pod), c.expected.ingress))];
  }
  if (e === 'not-isolated' && i === 'not-isolated' && !c.passed.egress && !c.passed.ingress) return [`egress of the client, ingress of the server: ${sideText(c.expected.egress)}`];
  return [...side('egress', c.from, c.expected.egress), ...side('ingress', key(c.target.pod), c.expected.ingress)];
}

/** Joins `items` with ", " into lines of about `width` columns, each after `indent`. */
function wrapList(items: readonly string[], indent: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const [k, item] of items.entries()) {
    const piece = item + (k < items.length - 1 ? ',' : '');
    if (line && indent.length + line.length + 1 + piece.length > width) {
      lines.push(indent + line);
      line = piece;
    } else line = line ? `${line} ${piece}` : piece;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/**
 * The "why" block: one entry per set of connections with the same outcome (real and spec) and
 * the same reasons, so act 1's fifteen cells between pods no policy selects read as one. A
 * connection alone in its entry keeps the probe's detail (answered or timed out, and how fast);
 * one whose real probe disagrees with the spec always stands alone, flagged.
 */
function printWhy(out: (s: string) => void, cells: readonly Cell[]): void {
  const groups = new Map<string, { cells: Cell[]; reasons: string[]; bad: boolean }>();
  for (const c of cells) {
    const spec = c.expected.allowed ? 'allow' : 'deny';
    const bad = !meetsExpectation(c.real.verdict, spec);
    const reasons = reasonLines(c);
    const k = bad ? `!${c.from} ${targetText(c.target)}` : `${c.real.verdict} ${spec}\n${reasons.join('\n')}`;
    const g = groups.get(k);
    if (g) g.cells.push(c);
    else groups.set(k, { cells: [c], reasons, bad });
  }
  out('\nwhy (connections with the same outcome and reasons share an entry):\n');
  for (const { cells: gc, reasons, bad } of groups.values()) {
    const c = gc[0]!;
    const spec = verdictText(c.expected.allowed);
    const names = gc.map((x) => `${x.from} -> ${targetText(x.target)}`);
    const outcome = gc.length === 1
      ? `real ${probeVerdictText(c.real.verdict)} (${c.real.detail}, ${c.real.ms} ms), spec ${spec}${bad ? '  !! MISMATCH' : ''}`
      : `real ${probeVerdictText(c.real.verdict)}, spec ${spec} (${gc.length} connections)`;
    const lines = wrapList(names, '  ', 110);
    lines[lines.length - 1] += `: ${outcome}`;
    for (const l of lines) out(l + '\n');
    for (const r of reasons) out(`      ${r}\n`);
  }
}

async function act(state: LabState, objs: Obj[], timeoutMs: number): Promise<Cell[]> {
  const writtenAt = writeLabManifests(state, yamlOf(objs));
  await waitForEnforced(state, writtenAt, 15_000);
  // New policy, new connections: forget connections the previous act's probes left in conntrack.
  await mustRun(['ip', 'netns', 'exec', state.nodeNetns, 'conntrack', '-F']);
  const view = clusterView(objs);
  const probes: { from: string; target: Target }[] = [];
  for (const from of SOURCES) for (const target of TARGETS) probes.push({ from, target });
  const labProbes: LabProbe[] = (['IPv4', 'IPv6'] as const).flatMap((family) => probes.map(({ from, target }) => ({ from, to: key(target.pod), port: target.port, protocol: target.protocol, family })));
  const results = await runLabProbes(state, labProbes, { timeoutMs, concurrency: 12 });
  const conn = (r: LabProbeResult, target: Target): Connection => ({ src: r.src, dst: r.dst, protocol: target.protocol, port: target.port });
  return probes.map(({ from, target }, i) => {
    const r = results[i]!, r6 = results[probes.length + i]!;
    const expected = evaluate(view, conn(r, target));
    const passed = { egress: passedTiers(view, conn(r, target), 'egress', from), ingress: passedTiers(view, conn(r, target), 'ingress', key(target.pod)) };
    return { from, target, real: r, expected, real6: r6, expected6: evaluate(view, conn(r6, target)), passed };
  });
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS, { '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positional.length) throw new CliError(`unexpected argument "${positional[0]}"`);
  const name = (flags.name as string | undefined) ?? 'demo';
  const problem = labNameProblem(name);
  if (problem) throw new CliError(`--name: ${problem}`);
  const backend = ((flags.backend as string | undefined) ?? 'nfqueue') as LabBackend;
  if (backend !== 'nfqueue' && backend !== 'tun') throw new CliError(`--backend must be nfqueue or tun, got "${String(backend)}"`);
  const timeoutMs = intFlag(flags.timeout, 'timeout', 50, 30_000, 1000);
  const out = (s: string) => process.stdout.write(s);

  const missing = missingReport(await checkLabPrereqs({ agent: true, backend }));
  if (missing) throw new CliError(missing, 3);
  if (!agentAvailable()) throw new CliError('this build has no `palisade agent` command', 3);

  out(`palisade demo: building lab "${name}" (network namespaces on this machine; nothing touches the host's network)\n`);
  const base = clusterObjects();
  const { spec } = labSpecFromCluster(clusterView(base));
  let state: LabState | undefined;
  let mismatches = 0;
  // Ctrl-C (or TERM) mid-demo: the lab goes as at the end, then the demo exits 130 (143). The
  // default action killed the demo alone, leaving the namespaces and the lab's agent running.
  // labDown works from the namespaces' names, so a lab half built goes too.
  let interrupted: Promise<void> | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    process.stderr.write(`\npalisade demo: ${sig}: ${flags.keep ? `the lab stays up (--keep): palisade lab down --name ${name}` : `tearing lab "${name}" down`}\n`);
    interrupted = (flags.keep ? Promise.resolve() : labDown(name).then(() => {}, () => {})).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    state = await labUp(spec, { name });
    writeLabManifests(state, yamlOf(base));
    if (state.agent) await stopLabAgent(state);
    try {
      await startLabAgent(state, { backend });
    } catch (e) {
      // The agent's own words (and its log's last lines) say why; `finally` tears the lab down.
      throw new CliError(`the agent did not start in lab "${name}": ${(e as Error).message}`, 1);
    }
    out(`  node ${NODE} (${NODE_IP}, ${NODE_IP6}) in namespace ${state.nodeNetns}; agent running there (backend ${backend}), following ${state.manifestsDir}\n`);
    for (const p of PODS) out(`  pod ${key(p).padEnd(20)} ${p.ip.padEnd(12)} ${p.ip6.padEnd(18)} serves ${p.ports.map((x) => `${x.protocol}/${x.port}`).join(', ')}\n`);

    mismatches += printAct(out, 'act 1: no NetworkPolicy: every pod reaches every pod', await act(state, base, timeoutMs));

    const policies = policyObjects();
    out('\napplying:\n');
    for (const p of policies) {
      const md = p.metadata as { namespace: string; name: string };
      out(`  networkpolicy ${md.namespace}/${md.name}\n`);
    }
    mismatches += printAct(out, 'act 2: default-deny in frontend, backend, db; allowed: web -> api:8080 -> postgres:5432, DNS to coredns', await act(state, [...base, ...policies], timeoutMs));

    const tiered = tieredObjects();
    out('\nreplacing them with cluster policies and the namespaces\' own policies:\n');
    for (const p of tiered) {
      const md = p.metadata as { namespace?: string; name: string };
      const spec = p.spec as { tier?: string };
      out(p.kind === 'ClusterNetworkPolicy' ? `  clusternetworkpolicy ${md.name} (${spec.tier} tier)\n` : `  networkpolicy ${md.namespace}/${md.name}\n`);
    }
    mismatches += printAct(out, 'act 3: Admin guardrail (only backend reaches db, whatever db allows); Baseline default-deny ingress, overridden by backend\'s and db\'s own policies', await act(state, [...base, ...tiered], timeoutMs));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // An interrupted demo's teardown ends the process; this one must not race it.
    if (interrupted) await interrupted;
    if (flags.keep && state) {
      out(`\nthe lab stays up (--keep): palisade lab status --name ${name}; palisade lab down --name ${name}\n`);
    } else {
      if (state?.agent) await stopLabAgent(state).catch(() => {});
      await labDown(name);
      out(`\nlab "${name}" torn down\n`);
    }
  }
  out(mismatches ? `\n${mismatches} real probe(s) disagreed with the spec (marked !!)\n` : '\nevery real probe agreed with the spec\n');
  return mismatches ? 1 : 0;
}

/** The demo cluster decoded through the same decoder as any manifest. */
function clusterView(objs: Obj[]): ClusterState {
  const state = new ClusterState();
  state.batch(() => {
    objs.forEach((o, i) => {
      const d = decodeObject(o, `demo[${i}]`);
      // The demo's own objects are valid; a failure here is a bug worth a stack trace.
      if (d.kind === 'invalid') throw new Error(d.errors.map(formatObjectError).join('; '));
      applyDecoded(state, d);
    });
  });
  return state;
}
