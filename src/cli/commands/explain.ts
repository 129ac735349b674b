// `palisade explain --manifests PATH... --from A --to B --port N [--protocol P] [--family F] [--dns-status FILE]`:
// why one new connection is allowed or denied: the verdict, the policies isolating each side,
// the rule that allowed it, or for a deny every candidate rule and the first clause that did
// not match; with cluster policies, each side's walk through the tiers (explain-tiers.ts).
// `-o json` prints the structured Explanation instead, with the tier walks under "tiers".
// --dns-status: a node agent's name records resolve domainNames peers (dns-input.ts), and the
// text says which name made each domainNames rule match or not (explain-dns.ts).

import { explain } from '../../policy/evaluator.ts';
import { CliError, parseArgs, textOrJson, type FlagSpec } from '../args.ts';
import { INPUT_FLAGS, loadClusterInput } from '../cluster-input.ts';
import { DNS_FLAGS, DNS_HELP, DNS_USAGE, applyDnsStatus, dnsStatusFlag } from '../dns-input.ts';
import { statusRecord } from '../../agent/dns-status.ts';
import { formatExplanation } from '../explain-format.ts';
import { tierWalks } from '../explain-tiers.ts';
import { familyFlag, portFlag, protocolFlag, rejectPositional } from '../manifest-input.ts';
import { checkProbe, resolveEndpoint } from '../probes.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { ...INPUT_FLAGS, ...DNS_FLAGS, from: 'string', to: 'string', port: 'string', protocol: 'string', family: 'string', output: 'string', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade explain --manifests PATH...|--kubeconfig FILE [--context NAME] --from A --to B --port N [--protocol TCP|UDP|SCTP] [--family IPv4|IPv6] ${DNS_USAGE} [-o text|json]

A and B are "namespace/pod" or an IP address. Prints the verdict for a new connection A -> B:N,
the policies isolating each side, and the rule that allowed it or, for a deny, each candidate
rule with the first clause that did not match. With cluster policies (ClusterNetworkPolicy,
AdminNetworkPolicy, BaselineAdminNetworkPolicy) each side walks the tiers in order: Admin,
NetworkPolicy, Baseline, then the default allow, with every cluster rule checked up to the one
that decided (Accept, Deny, or Pass to the next tier). -o json adds the walks under "tiers".
${DNS_HELP}
   explain then says what B is by DNS and, for each domainNames rule checked, the record
   that made it match ("allowed by admin/p/r: 10.0.3.7 is api.example.com (learned 12 s
   ago from 10.96.0.10, TTL 30 s)") or why none did; -o json adds "dns".
Exit status: 0 ok; 1 some manifest documents were invalid (left out); 2 bad flags.`;

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
  const output = textOrJson(flags.output);
  if (flags.from === undefined) throw new CliError('--from is required ("namespace/pod" or an IP address)');
  if (flags.to === undefined) throw new CliError('--to is required ("namespace/pod" or an IP address)');
  const port = portFlag(flags.port);
  const protocol = protocolFlag(flags.protocol);
  const family = familyFlag(flags.family);
  // Same checks as a probe-file entry, errors named after the flags.
  let probe;
  try {
    probe = checkProbe({ from: flags.from, to: flags.to, port, protocol, ...(family ? { family } : {}) }, 'flags');
  } catch (e) {
    if (e instanceof CliError) throw new CliError(e.message.replace(/^flags\./gm, '--'));
    throw e;
  }
  const dnsRead = dnsStatusFlag(flags);
  const { state, errorCount } = await loadClusterInput('explain', flags);
  const dns = dnsRead && (await applyDnsStatus('explain', dnsRead, state));
  const src = resolveEndpoint(state, probe.from, probe.family, '--from');
  const dst = resolveEndpoint(state, probe.to, probe.family, '--to');
  const x = explain(state, { src, dst, protocol: probe.protocol, port: probe.port });
  const walks = tierWalks(state, x);
  if (output === 'json') {
    // The destination's live records, as the status file words them.
    const records = dns?.store.about(dst, dns.now).map((r) => statusRecord(r, dns.now));
    const dnsJson = dns ? { dns: { source: dns.source, ...(dns.node !== undefined ? { node: dns.node } : {}), writtenAt: new Date(dns.at).toISOString(), records } } : {};
    process.stdout.write(JSON.stringify({ ...x, tiers: walks, ...dnsJson }, null, 2) + '\n');
  } else process.stdout.write(formatExplanation(x, { view: state, walks, ...(dns ? { dns } : {}) }).join('\n') + '\n');
  return errorCount > 0 ? 1 : 0;
}
