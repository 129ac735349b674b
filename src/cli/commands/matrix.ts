// `palisade matrix --manifests PATH... --port N [--protocol P] [--family F]`: the pod-to-pod
// truth table in the style of the upstream e2e suite's reachability tables: a header row of pod
// names, then one row per client pod (from), one column per server pod (to), '.' = a new
// connection is allowed, 'X' = denied. Pods are the ones policy can see (not host-network, not
// finished, with an address of the family), sorted by namespace/name.

import { parseIP } from '../../net/address.ts';
import { evaluate } from '../../policy/evaluator.ts';
import { podIsSelectable } from '../../policy/spec-facts.ts';
import { podKey } from '../../cluster/model.ts';
import { parseArgs } from '../args.ts';
import { familyFlag, loadClusterForCli, portFlag, protocolFlag, rejectPositional } from '../manifest-input.ts';

const HELP = `usage: palisade matrix --manifests PATH... --port N [--protocol TCP|UDP|SCTP] [--family IPv4|IPv6]

Prints the pod-to-pod truth table: rows = from, columns = to, '.' allowed, 'X' denied.
Exit status: 0 ok; 1 some manifest documents were invalid (left out); 2 bad flags.`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(
    argv,
    { manifests: 'list', port: 'string', protocol: 'string', family: 'string', help: 'bool' },
    { '-h': 'help' },
  );
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  rejectPositional(positional);
  const port = portFlag(flags.port);
  const protocol = protocolFlag(flags.protocol);
  const family = familyFlag(flags.family) ?? 'IPv4';
  const { state, errorCount } = loadClusterForCli('matrix', flags.manifests);

  const pods: { key: string; ip: string }[] = [];
  const left: string[] = [];
  for (const p of state.pods.values()) {
    const ip = p.ips.find((a) => parseIP(a)?.family === family);
    if (podIsSelectable(p) && ip) pods.push({ key: podKey(p), ip });
    else left.push(podKey(p));
  }
  pods.sort((a, b) => (a.key < b.key ? -1 : 1));
  if (left.length) process.stderr.write(`palisade matrix: note: left out (host-network, finished, or no ${family} address): ${left.sort().join(', ')}\n`);
  if (pods.length === 0) process.stderr.write(`palisade matrix: note: no pods with an ${family} address\n`);

  const lines = [['-', ...pods.map((p) => p.key)].join('\t')];
  for (const from of pods) {
    const row = [from.key];
    for (const to of pods) row.push(evaluate(state, { src: from.ip, dst: to.ip, protocol, port }).allowed ? '.' : 'X');
    lines.push(row.join('\t'));
  }
  process.stdout.write(lines.join('\n') + '\n');
  return errorCount > 0 ? 1 : 0;
}
