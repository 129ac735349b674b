// `palisade verify --manifests PATH... --probes FILE [-o text|json]`: judges each probe (a new
// connection) against the cluster described by the manifests with both engines: the plain
// evaluator (the spec oracle, whose answer is printed) and the compiled engine the agent
// enforces with. A disagreement is a Palisade bug; it is reported and exits 3, so verify in CI
// also guards the dataplane's tables. Other exit statuses: see manifest-input.ts.

import { CompiledEngine, decideOn } from '../../policy/compiler.ts';
import type { Decision, SideDecision } from '../../policy/decision.ts';
import { evaluate } from '../../policy/evaluator.ts';
import { CliError, parseArgs, textOrJson, type FlagSpec } from '../args.ts';
import { INPUT_FLAGS, loadClusterInput } from '../cluster-input.ts';
import { DNS_FLAGS, DNS_HELP, DNS_USAGE, applyDnsStatus, dnsStatusFlag } from '../dns-input.ts';
import { rejectPositional } from '../manifest-input.ts';
import { readProbeFile, resolveEndpoint, type Probe } from '../probes.ts';
import { alignedLines, outputColumns, shownWidth } from '../text-table.ts';
import { expectText, sideText, verdictText } from '../vocabulary.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { ...INPUT_FLAGS, ...DNS_FLAGS, probes: 'string', output: 'string', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade verify --manifests PATH...|--kubeconfig FILE [--context NAME] --probes FILE ${DNS_USAGE} [-o text|json]

Judges every probe of FILE against the cluster in the manifests (files or folders of
Namespace, Pod, Node, NetworkPolicy and ClusterNetworkPolicy (or v1alpha1 AdminNetworkPolicy /
BaselineAdminNetworkPolicy) objects, YAML or JSON).

FILE is a YAML or JSON list of probes:
  - {from: x/a, to: y/b, port: 80, protocol: TCP, family: IPv4, expect: allow}
from/to are "namespace/pod" or an IP address (an IP of no pod is a node's if a Node has it,
else an outside host). protocol defaults to TCP, family to IPv4 (or the family of a literal
IP), expect is optional.

Both engines judge every probe: the spec evaluator (whose answer is printed) and the compiled
engine the agent enforces with. -o text (the default) is a table, one row per probe, or, when
that is wider than the terminal (120 columns when stdout is not a terminal), a block per probe:
the connection and its verdict, then its egress and ingress reasons on lines of their own.
A probe's expect is shown beside its verdict ("deny ok", "allow MISMATCH"), as lab probe shows
it. -o table is the same as text (its older name).

${DNS_HELP}

Exit status: 0 ok; 1 some manifest documents were invalid (reported on stderr and left out)
or some probe did not meet its expect; 2 bad flags (a --manifests path that does not exist
too) or probe file (every problem is listed); 3 the two engines disagree
(a Palisade bug: please report it with the manifests and probe).`;

interface SideJSON {
  isolated: boolean;
  allowed: boolean;
  reason: string;
  policies: string[];
  /** A cluster policy rule also names its tier, its action as written and its name (as RuleRef does). */
  rule?: { policy: string; direction: string; index: number; tier?: string; action?: string; name?: string };
}

function sideJSON(s: SideDecision): SideJSON {
  const out: SideJSON = { isolated: s.isolated, allowed: s.allowed, reason: s.reason, policies: [...s.policies] };
  if (s.rule) {
    const r = s.rule;
    out.rule = { policy: r.policy, direction: r.direction, index: r.index };
    // Compared between the engines too: both must name the same tier and action.
    if (r.tier !== undefined) out.rule.tier = r.tier;
    if (r.action !== undefined) out.rule.action = r.action;
    if (r.name !== undefined) out.rule.name = r.name;
  }
  return out;
}

function decisionJSON(d: Decision) {
  return { allowed: d.allowed, egress: sideJSON(d.egress), ingress: sideJSON(d.ingress), srcPod: d.srcPod, dstPod: d.dstPod };
}

function sameDecision(a: Decision, b: Decision): boolean {
  return JSON.stringify(decisionJSON(a)) === JSON.stringify(decisionJSON(b));
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS, { '-o': 'output', '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  rejectPositional(positional, '--manifests');
  // Every command calls its human format text; table, the name verify had first, still works
  // so scripts written against it keep running.
  const output = textOrJson(flags.output === 'table' ? 'text' : flags.output);
  if (!flags.probes) throw new CliError('--probes FILE is required');
  const probeFile = flags.probes as string;
  const probes = readProbeFile(probeFile);
  const dnsRead = dnsStatusFlag(flags);
  const { state, errorCount } = await loadClusterInput('verify', flags);
  if (dnsRead) await applyDnsStatus('verify', dnsRead, state);

  // Every endpoint is resolved before judging anything, so all probes naming unknown pods (or
  // pods without an address of the family) are reported together.
  const problems: string[] = [];
  const resolve = (endpoint: string, p: Probe, where: string): string => {
    try {
      return resolveEndpoint(state, endpoint, p.family, where);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      problems.push(e.message);
      return '';
    }
  };
  const endpoints = probes.map((p, i) => [resolve(p.from, p, `${probeFile}: probe[${i}].from`), resolve(p.to, p, `${probeFile}: probe[${i}].to`)] as const);
  if (problems.length > 0) throw new CliError(problems.join('\n'));

  const snapshot = new CompiledEngine(state).snapshot();
  let disagreements = 0;
  const results = probes.map((p, i) => {
    const [src, dst] = endpoints[i]!;
    const conn = { src, dst, protocol: p.protocol, port: p.port };
    const d = evaluate(state, conn);
    const compiled = decideOn(snapshot, conn);
    if (!sameDecision(d, compiled)) {
      disagreements++;
      process.stderr.write(`palisade verify: BUG: engines disagree on probe[${i}] ${p.from} -> ${p.to} ${p.protocol}/${p.port}: ` +
        `evaluator ${JSON.stringify(decisionJSON(d))}, compiled ${JSON.stringify(decisionJSON(compiled))}\n`);
    }
    return { probe: p, src, dst, d };
  });

  let missed = 0;
  for (const [i, r] of results.entries()) {
    if (r.probe.expect && (r.probe.expect === 'allow') !== r.d.allowed) {
      missed++;
      process.stderr.write(`palisade verify: ${probeFile}: probe[${i}] ${r.probe.from} -> ${r.probe.to} ${r.probe.protocol}/${r.probe.port}: expected ${r.probe.expect}, got ${r.d.allowed ? 'allow' : 'deny'}\n`);
    }
  }

  if (output === 'json') {
    const out = results.map(({ probe, src, dst, d }) => ({
      from: probe.from,
      to: probe.to,
      port: probe.port,
      protocol: probe.protocol,
      family: probe.family,
      // What the table shows beside from and to: the addresses judged, and the pods holding them.
      src,
      ...(d.srcPod !== undefined ? { srcPod: d.srcPod } : {}),
      dst,
      ...(d.dstPod !== undefined ? { dstPod: d.dstPod } : {}),
      verdict: d.allowed ? 'allow' : 'deny',
      // The verdict as every other JSON output and each side here give it; "verdict" stays for
      // the scripts that read it.
      allowed: d.allowed,
      egress: sideJSON(d.egress),
      ingress: sideJSON(d.ingress),
    }));
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    const rows = results.map(({ probe, src, dst, d }, i) => {
      // "x/a (10.1.0.1)" for a pod named in the probe, "10.1.0.1 (x/a)" for a pod given by address.
      const from = probe.from !== src ? `${probe.from} (${src})` : d.srcPod ? `${src} (${d.srcPod})` : src;
      const to = probe.to !== dst ? `${probe.to} (${dst})` : d.dstPod ? `${dst} (${d.dstPod})` : dst;
      const expect = probe.expect ? expectText(probe.expect, (probe.expect === 'allow') === d.allowed) : '';
      return [String(i), from, to, `${probe.protocol}/${probe.port}`, probe.family, verdictText(d.allowed), sideText(d.egress), sideText(d.ingress), expect] as const;
    });
    process.stdout.write(probeLines(rows, outputColumns()).join('\n') + '\n');
  }
  if (disagreements > 0) return 3;
  return errorCount > 0 || missed > 0 ? 1 : 0;
}

/** A probe's row: index, from, to, protocol/port, family, verdict, egress reason, ingress reason, expect ('' for none). */
export type ProbeRow = readonly [string, string, string, string, string, string, string, string, string];

/**
 * The text output: a table with a header when it fits in `limit` columns, else a block per probe
 * (the connection and its verdict, then each side's reason on a line of its own, as explain words
 * them), blocks apart by a blank line: long pod names and two reasons made the README's own
 * example 220 columns wide, which any terminal wraps. An EXPECT column (a block's "expect ..."),
 * as lab probe has, when some probe has an expect.
 */
export function probeLines(rows: readonly ProbeRow[], limit: number): string[] {
  const expects = rows.some((r) => r[8] !== '');
  const header = ['#', 'FROM', 'TO', 'PORT', 'FAMILY', 'VERDICT', ...(expects ? ['EXPECT'] : []), 'EGRESS (source side)', 'INGRESS (destination side)'];
  const table = alignedLines([header, ...rows.map(([i, from, to, port, family, verdict, egress, ingress, expect]) => [i, from, to, port, family, verdict, ...(expects ? [expect] : []), egress, ingress])]);
  if (Math.max(...table.map(shownWidth)) <= limit) return table;
  return rows.flatMap(([i, from, to, port, family, verdict, egress, ingress, expect], k) => [
    ...(k > 0 ? [''] : []),
    `#${i}  ${from} -> ${to}  ${port}  ${family}  ${verdict}${expect ? `  (expect ${expect})` : ''}`,
    `    egress:  ${egress}`,
    `    ingress: ${ingress}`,
  ]);
}
