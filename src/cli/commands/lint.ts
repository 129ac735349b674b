// `palisade lint --manifests PATH... [-o json|text] [--pod-cidr CIDR...]`: finds policies that
// are valid but most likely wrong (see src/policy/lint.ts for the checks).
//
// Exit status, as for verify/explain/matrix: 0 nothing found; 1 something must be looked at:
// findings printed, or manifest documents the API server would refuse (reported on stderr and
// left out; the rest is still linted and printed, so one broken file does not hide the other
// findings); 2 bad flags, including a --manifests path that does not exist.

import { parseCIDR } from '../../net/address.ts';
import { formatFindings, lint } from '../../policy/lint.ts';
import { ManifestPositions } from '../../sources/manifest-positions.ts';
import { CliError, parseArgs, type FlagSpec } from '../args.ts';
import { INPUT_FLAGS, loadClusterInput } from '../cluster-input.ts';
import { rejectPositional } from '../manifest-input.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { ...INPUT_FLAGS, output: 'string', 'pod-cidr': 'list', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade lint --manifests PATH...|--kubeconfig FILE [--context NAME] [-o json|text] [--pod-cidr CIDR...]

Reads Namespace, Pod, Node, NetworkPolicy and cluster policy (ClusterNetworkPolicy,
AdminNetworkPolicy, BaselineAdminNetworkPolicy) objects (files or folders, YAML or JSON) and
reports policies that are valid but probably not what was meant: namespaces without a
default deny, a "deny" that allows its own namespace, selectors matching nothing (and label
typos), egress isolation without DNS, ipBlocks covering pods, undefined named ports, rules
shadowed by broader ones, denies made no-ops by an allow-all policy, rules of a direction
policyTypes leaves out. Cluster policies (Admin and Baseline tiers): two policies of one tier
and priority whose rules overlap, rules an earlier rule of the tier always decides first, a
Pass with nothing below it (it allows), domainNames peers (they match only addresses learned
from DNS answers at run time), peers with no known field (fail closed).

  --pod-cidr CIDR   the cluster's pod CIDR(s), for the ipBlock check (pod IPs are used anyway)
  -o json|text      output format (default text)

Exit status: 0 no findings; 1 findings, or invalid manifest documents (reported on stderr
and left out); 2 bad flags or a --manifests path that does not exist.`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(
    argv,
    FLAGS,
    { '-o': 'output', '-h': 'help' },
  );
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  rejectPositional(positional, '--manifests');
  const output = (flags.output as string | undefined) ?? 'text';
  if (output !== 'json' && output !== 'text') throw new CliError(`-o must be json or text, got "${output}"`);
  const podCIDRs = (flags['pod-cidr'] as string[] | undefined) ?? [];
  for (const c of podCIDRs) {
    if (!parseCIDR(c)) throw new CliError(`--pod-cidr must be a CIDR such as 10.244.0.0/16, got "${c}"`);
  }
  // Notes (ignored kinds, implicit namespaces) are not what lint is asked for; errors are.
  const { state, errorCount, sources } = await loadClusterInput('lint', flags, { quietNotes: true });

  // Each finding at its file:line:col when the input was manifests, as their errors are.
  const positions = new ManifestPositions();
  const findings = lint(state, { podCIDRs }).map((f) => {
    const from = sources?.get(f.object);
    const source = from === undefined ? undefined : positions.at(from, f.field);
    return source === undefined ? f : { ...f, source };
  });
  if (output === 'json') process.stdout.write(JSON.stringify(findings, null, 2) + '\n');
  else if (findings.length > 0) process.stdout.write(formatFindings(findings) + '\n');
  else if (errorCount === 0) {
    const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
    const cluster = state.clusterPolicies.size ? `, ${n(state.clusterPolicies.size, 'cluster policy', 'cluster policies')}` : '';
    process.stdout.write(`no findings (${n(state.policies.size, 'policy', 'policies')}${cluster}, ${n(state.pods.size, 'pod', 'pods')}, ${n(state.namespaces.size, 'namespace', 'namespaces')})\n`);
  }

  return findings.length > 0 || errorCount > 0 ? 1 : 0;
}
