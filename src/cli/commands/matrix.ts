// `palisade matrix --manifests PATH... --port N [--protocol P] [--family F]`: the pod-to-pod
// truth table in the style of the upstream e2e suite's reachability tables: a header row of pod
// names, then one row per client pod (from), one column per server pod (to), '.' = a new
// connection is allowed, 'X' = denied; numbered columns when that is too wide (matrix-table.ts).
// Pods are the ones policy can see (not host-network, not finished, with an address of the
// family), sorted by namespace/name. With --why a denied cell
// names the tier that denied it: A (an Admin rule), N (NetworkPolicy isolation), B (a Baseline
// rule); the source's egress is named when it denies, else the destination's ingress.

import { parseIP } from '../../net/address.ts';
import type { Connection, Decision, SideDecision } from '../../policy/decision.ts';
import { podForIP } from '../../policy/evaluator.ts';
import { CompiledEngine } from '../../policy/compiler.ts';
import { decideOn, judgeOn } from '../../policy/decide.ts';
import type { RuleSnapshot } from '../../policy/engine-api.ts';
import { leftOutReason } from '../../analysis/pod-groups.ts';
import { podKey, type Family } from '../../cluster/model.ts';
import type { ClusterView } from '../../cluster/state.ts';
import { parseArgs, type FlagSpec } from '../args.ts';
import { INPUT_FLAGS, loadClusterInput } from '../cluster-input.ts';
import { DNS_FLAGS, DNS_HELP, DNS_USAGE, applyDnsStatus, dnsStatusFlag } from '../dns-input.ts';
import { familyFlag, otherFamilyHint, portFlag, protocolFlag, rejectPositional } from '../manifest-input.ts';
import { matrixLines } from '../matrix-table.ts';
import { outputColumns } from '../text-table.ts';
import { leftOutText } from '../connectivity-format.ts';
import { LEFT_OUT, TIER_TITLE } from '../vocabulary.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { ...INPUT_FLAGS, ...DNS_FLAGS, port: 'string', protocol: 'string', family: 'string', why: 'bool', 'full-names': 'bool', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade matrix --manifests PATH...|--kubeconfig FILE [--context NAME] --port N [--protocol TCP|UDP|SCTP] [--family IPv4|IPv6] [--why] [--full-names] ${DNS_USAGE}

Prints the pod-to-pod truth table: rows = from, columns = to, '.' allowed, 'X' denied.
Host-network pods are left out (they are their node for policy: probe them with verify).
The header names each column's pod, tab-separated. When that table is wider than the
terminal (120 columns when stdout is not a terminal), the columns are numbered instead:
row N is "N namespace/name", column N is row N's pod (its number written downwards, tens
above ones), a space every 5 columns, and the columns in blocks that fit, each with all rows.
  --why         a denied cell names the tier that denied it instead of 'X': A = an Admin
                cluster policy rule, N = NetworkPolicy isolation, B = a Baseline cluster
                policy rule (the source's egress when it denies, else the destination's ingress)
  --full-names  always the table with the names as header, however wide (for scripts that
                split it on tabs)
${DNS_HELP}
Exit status: 0 ok; 1 some manifest documents were invalid (left out); 2 bad flags.`;

/** The first letter of the tier's name (vocabulary.ts): A, N or B. */
function denyingTier(s: SideDecision): string {
  return TIER_TITLE[s.rule?.tier ?? 'networkpolicy'][0]!;
}

function tierCell(d: Decision): string {
  return denyingTier(d.egress.allowed ? d.ingress : d.egress);
}

/**
 * One cell, judged by the compiled engine (the code that enforces; the differential tests hold
 * it to the evaluator): the evaluator walks every pod and policy per question, 15 minutes of
 * CPU for the 4 million cells of 2,000 pods and 500 policies. The denied cells of --why are
 * decided in full for their tier.
 */
export function matrixCell(snap: RuleSnapshot, conn: Connection, why: boolean): string {
  if (judgeOn(snap, conn)) return '.';
  return why ? tierCell(decideOn(snap, conn)) : 'X';
}

/**
 * The table's pods (the ones policy sees with an address of the family, sorted by
 * namespace/name, each with that address) and the others with connlist's words for why not.
 */
export function matrixPods(state: ClusterView, family: Family): { pods: { key: string; ip: string }[]; left: string[]; noAddress: string[] } {
  const pods: { key: string; ip: string }[] = [];
  const left: string[] = [];
  const noAddress: string[] = [];
  for (const p of state.pods.values()) {
    const ip = p.ips.find((a) => parseIP(a)?.family === family);
    // A pod whose address another pod wins (evaluator.ts's contract) would get a row and a
    // column of the winner's verdicts under its own name: it is left out and said so.
    const owner = ip ? podForIP(state, ip) : undefined;
    const reason = leftOutReason(p, ip, owner !== undefined && owner !== p);
    if (reason) {
      // Each pod's reason, in connlist's words; whose address it is for a pod that lost it.
      left.push(leftOutText({ pod: podKey(p), reason }, family, reason === 'address-taken' ? `${ip} is ${podKey(owner!)}'s` : undefined));
      if (reason === 'no-address') noAddress.push(podKey(p));
    } else pods.push({ key: podKey(p), ip: ip! });
  }
  pods.sort((a, b) => (a.key < b.key ? -1 : 1));
  return { pods, left, noAddress };
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(
    argv,
    FLAGS,
    { '-h': 'help' },
  );
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  rejectPositional(positional, '--manifests');
  const port = portFlag(flags.port);
  const protocol = protocolFlag(flags.protocol);
  const family = familyFlag(flags.family) ?? 'IPv4';
  const dnsRead = dnsStatusFlag(flags);
  const { state, errorCount } = await loadClusterInput('matrix', flags);
  if (dnsRead) await applyDnsStatus('matrix', dnsRead, state);

  const { pods, left, noAddress } = matrixPods(state, family);
  if (left.length) process.stderr.write(`palisade matrix: note: ${LEFT_OUT}: ${left.sort().join(', ')}${otherFamilyHint(state, family, noAddress)}\n`);
  if (pods.length === 0) process.stderr.write(`palisade matrix: note: no pods with an ${family} address\n`);

  const snap = new CompiledEngine(state).snapshot();
  const cells = pods.map((from) => pods.map((to) => matrixCell(snap, { src: from.ip, dst: to.ip, protocol, port }, flags.why === true)));
  process.stdout.write(matrixLines(pods.map((p) => p.key), cells, flags['full-names'] === true ? Infinity : outputColumns()).join('\n') + '\n');
  return errorCount > 0 ? 1 : 0;
}
