// `palisade report --manifests PATH...|--kubeconfig FILE -o report.html`: one self-contained
// HTML page with the allowed-connections graph (Graphviz layout done here, embedded as SVG), the
// per-port matrix as a heat map, the lint findings, and the explain text of every cell and edge.

import { writeFileSync } from 'node:fs';
import { connectivityDot } from '../connectivity-format.ts';
import { CliError, fileProblem, parseArgs, type FlagSpec } from '../args.ts';
import { INPUT_FLAGS, loadClusterInput } from '../cluster-input.ts';
import { rejectPositional } from '../manifest-input.ts';
import { dotToSvg } from '../report/graph-svg.ts';
import { DETAIL_LIMIT, LABEL_LIMIT, MAX_PORTS, buildReport, drawnConnectivity } from '../report/report-data.ts';
import { reportHTML } from '../report/report-html.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { ...INPUT_FLAGS, output: 'string', title: 'string', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade report --manifests PATH...|--kubeconfig FILE [--context NAME] -o FILE.html [--title TEXT]

Writes one HTML file that needs nothing else when opened (no network, no WebAssembly): the
graph of allowed connections (namespaces as boxes, pods and groups of one template inside,
external blocks and the node outside, edges labelled with their ports; click an edge for why),
the matrix of every endpoint pair as a heat map for each of the ${MAX_PORTS} ports most named by
container ports and rules (click a cell for the \`palisade explain\` text), and the lint findings.
IPv4 connections, or IPv6 ones when no pod has an IPv4 address.
Above ${DETAIL_LIMIT} endpoints the graph and matrix show namespaces (edges merged) instead of pods;
above ${LABEL_LIMIT} edges the graph draws the ${LABEL_LIMIT} standing for most pod pairs (the matrix has all).
Exit status: 0 written; 1 written, but some input objects were invalid (left out); 2 bad flags.`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS, { '-o': 'output', '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  rejectPositional(positional, '--manifests');
  const out = flags.output as string | undefined;
  if (!out) throw new CliError('-o FILE.html is required');
  const input = await loadClusterInput('report', flags);
  const data = buildReport(input.state, { input: input.description, ...(flags.title !== undefined ? { title: flags.title as string } : {}) });
  const drawn = drawnConnectivity(data);
  const svg = await dotToSvg(connectivityDot(drawn.connectivity));
  try {
    writeFileSync(out, reportHTML(data, svg));
  } catch (e) {
    throw new CliError(`-o ${out}: ${fileProblem(e, 'no such directory')}`);
  }
  const c = data.connectivity;
  process.stderr.write(`palisade report: wrote ${out}: ${c.endpoints.length} endpoints, ${c.edges.length} edges${drawn.capped ? ` (${drawn.connectivity.edges.length} drawn)` : ''}${data.aggregated ? ' (by namespace)' : ''}, ${data.findings.length} finding(s)\n`);
  return input.errorCount > 0 ? 1 : 0;
}
