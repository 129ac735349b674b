// `palisade connlist --manifests PATH... [--focus ns/pod|ns] [-o text|json|csv|md|dot|svg]`: every
// allowed (source, destination) with its exact allowed ports per protocol, from the connectivity
// model (src/analysis/connectivity.ts): pods grouped by template, external CIDR blocks and the
// node as endpoints.

import { AnalysisInputError, ConnectivityAnalysis } from '../../analysis/connectivity.ts';
import { CliError, parseArgs, type FlagSpec } from '../args.ts';
import { connectivityCSV, connectivityDot, connectivityJSON, connectivityMarkdown, connectivityText, leftOutText } from '../connectivity-format.ts';
import { INPUT_FLAGS, loadClusterInput } from '../cluster-input.ts';
import { familyFlag, otherFamilyHint, rejectPositional } from '../manifest-input.ts';
import { dotToSvg } from '../report/graph-svg.ts';
import { LEFT_OUT } from '../vocabulary.ts';
import { outputColumns } from '../text-table.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { ...INPUT_FLAGS, focus: 'string', family: 'string', why: 'bool', output: 'string', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade connlist --manifests PATH...|--kubeconfig FILE [--context NAME] [--focus ns/pod|ns] [--family IPv4|IPv6] [--why] [-o text|json|csv|md|dot|svg]

Lists every allowed connection (source => destination : ports), exactly: each source's egress
AND each destination's ingress, all tiers (Admin, NetworkPolicy, Baseline), every port of TCP,
UDP and SCTP ("TCP 80,8080-8090; UDP 53", "all" = every port of every protocol).
Endpoints: pods; pods of one template (same namespace, labels and container ports, e.g. the
replicas of a Deployment) as one group "ns/<common name prefix>*", judged between two of its
pods when it appears on both ends; external address blocks every policy CIDR judges alike
("0.0.0.0/0 except 10.0.0.0/8"); "node" = each pod's own node.
  --focus X  only connections from or to pod X ("ns/name") or namespace X
  --family   the address family judged (default IPv4)
  --why      text: under each line, each allowed run of ports with the rule that allowed it
             on each side
  -o         text (default), json (the whole model, with every run's deciding rules), csv
             (src,dst,conn,split), md (a Markdown table: from, to, ports, split), dot
             (Graphviz, one box per namespace), svg (the dot graph laid out by Graphviz in
             WebAssembly: no graphviz install needed). split: where an ipBlock tells the pods
             of a group apart, each case ("a, b => c : TCP 80"), the ports being their union;
             empty where every pod of both ends is judged alike
Exit status: 0 ok; 1 some manifest documents were invalid (left out); 2 bad flags.`;

const OUTPUTS = ['text', 'json', 'csv', 'md', 'dot', 'svg'];

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
  if (!OUTPUTS.includes(output)) throw new CliError(`-o must be one of ${OUTPUTS.join(', ')}, got "${output}"`);
  const family = familyFlag(flags.family) ?? 'IPv4';
  const { state, errorCount } = await loadClusterInput('connlist', flags);
  let an: ConnectivityAnalysis;
  try {
    an = new ConnectivityAnalysis(state, { family, ...(flags.focus !== undefined ? { focus: flags.focus as string } : {}) });
  } catch (e) {
    if (e instanceof AnalysisInputError) throw new CliError(e.message);
    throw e;
  }
  const c = an.result;
  // Every pod left out is named, a pod whose address another pod wins included (as matrix and
  // verify do): it would otherwise vanish from the listing without a word.
  const left = c.leftOut.map((l) => leftOutText(l, family));
  const noAddress = c.leftOut.filter((l) => l.reason === 'no-address').map((l) => l.pod);
  if (left.length) process.stderr.write(`palisade connlist: note: ${LEFT_OUT}: ${left.join(', ')}${otherFamilyHint(state, family, noAddress)}\n`);
  const text = output === 'json' ? connectivityJSON(c)
    : output === 'csv' ? connectivityCSV(c)
      : output === 'md' ? connectivityMarkdown(c)
        : output === 'dot' ? connectivityDot(c)
          : output === 'svg' ? await dotToSvg(connectivityDot(c))
          : connectivityText(c, flags.why === true, outputColumns());
  process.stdout.write(text);
  return errorCount > 0 ? 1 : 0;
}
