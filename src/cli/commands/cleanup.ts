// `palisade cleanup`: removes what Palisade agents left in this node's kernel (src/enforce/cleanup.ts
// lists what and how), for a node whose agent was killed, or after the --keep-rules DaemonSet was
// deleted, when no agent will come back to bind its queue: until then the node drops every new
// connection of the pods it judged.

import { CliError, intFlag, parseArgs } from '../args.ts';
import { agentSigns, findPalisade, removePalisade, type CleanupOptions, type Found } from '../../enforce/cleanup.ts';
import { DEFAULT_TUN_DEVICE, DEFAULT_TUN_TABLE, tunTableProblem } from '../../enforce/tun-routing.ts';

const HELP = `usage: palisade cleanup [--dry-run | --yes] [--force] [--tun-name NAME] [--tun-table N]

Removes every kernel object a Palisade agent installs in this network namespace (run it on the
node, or in a pod with hostNetwork and NET_ADMIN): the PALISADE-* iptables chains and the jumps
into them (filter, mangle and raw; legacy and nft backends; IPv4 and IPv6), the PALISADE-* ipsets,
the source guard's nftables tables, tc filters and sink veth pair, and the TUN backend's devices
and policy routing. Nothing else is touched. It lists what it finds first; a second run finds
nothing and exits 0.

Removing them opens the node: its pods' connections are no longer judged. So it acts only with
--yes (whether or not a terminal is attached: there is no prompt, which a Job could not answer),
and refuses while an agent runs here: a palisade agent process in this network namespace, an
NFQUEUE Palisade's rules send to with a program bound to it, or a Palisade TUN device being read.
An agent in another container is seen through its queue or device only (its process is hidden
without the host's PID namespace).

  --dry-run             list what would be removed, remove nothing
  --yes, -y             remove it
  --force               remove it even while an agent seems to run here (that agent's watchdog
                        puts its rules back within a second; stop it first)
  --tun-name NAME       the TUN backend's device, if the agent was given --tun-name (default palisade0)
  --tun-table N         its routing table, if the agent was given --tun-table (default 7077)

Exit status: 0 removed, nothing there, or a dry run; 1 an agent runs here, or something could
not be removed (listed); 2 bad flags, or --yes missing (nothing removed).`;

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { 'dry-run': 'bool', yes: 'bool', force: 'bool', 'tun-name': 'string', 'tun-table': 'string', help: 'bool' } as const;

export interface CleanupInvocation {
  readonly dryRun: boolean;
  readonly yes: boolean;
  readonly force: boolean;
  readonly options: CleanupOptions;
}

/** Reads and checks a `palisade cleanup` command line (the words after `cleanup`) without touching the kernel. */
export function parseCleanupArgs(argv: string[]): CleanupInvocation | 'help' {
  const { flags, positional } = parseArgs(argv, FLAGS, { '-h': 'help', '-y': 'yes' });
  if (flags.help) return 'help';
  if (positional.length > 0) throw new CliError(`unexpected argument "${positional[0]}"`);
  const dryRun = flags['dry-run'] === true;
  const yes = flags.yes === true;
  if (dryRun && yes) throw new CliError('--dry-run and --yes contradict each other');
  const tunDevice = (flags['tun-name'] as string | undefined) ?? DEFAULT_TUN_DEVICE;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tunDevice)) throw new CliError(`--tun-name must be 1-15 characters of A-Z a-z 0-9 _ . -, got "${tunDevice}"`);
  const tunTable = intFlag(flags['tun-table'], 'tun-table', 1, 0xfffffffe, DEFAULT_TUN_TABLE);
  const tableProblem = tunTableProblem(tunTable);
  if (tableProblem) throw new CliError(`--tun-table ${tunTable}: ${tableProblem}`);
  return { dryRun, yes, force: flags.force === true, options: { tunDevice, tunTable } };
}

function listing(found: readonly Found[]): string {
  return found.map((f) => `  ${f.kind.padEnd(8)} ${f.what}\n`).join('');
}

export async function run(argv: string[]): Promise<number> {
  const inv = parseCleanupArgs(argv);
  if (inv === 'help') {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  let found: Found[];
  try {
    found = await findPalisade(inv.options);
  } catch (e) {
    throw new CliError((e as Error).message, 1);
  }
  if (found.length === 0) {
    process.stdout.write('nothing of Palisade\'s in this network namespace: nothing to do\n');
    return 0;
  }
  process.stdout.write(`${inv.dryRun ? 'would remove' : 'found'} ${found.length} kernel object(s) of Palisade's:\n${listing(found)}`);
  if (inv.dryRun) {
    process.stdout.write('dry run: nothing removed\n');
    return 0;
  }
  const signs = await agentSigns(found, inv.options);
  if (signs.length > 0 && !inv.force) {
    throw new CliError(`a Palisade agent runs here, nothing removed (stop it first, or --force):\n${signs.map((s) => `  ${s}`).join('\n')}`, 1);
  }
  if (!inv.yes) throw new CliError('nothing removed: pass --yes to remove them (the node\'s pods are then no longer judged)', 2);
  const problems = await removePalisade(inv.options);
  const left = await findPalisade(inv.options);
  if (left.length > 0) {
    const why = problems.length > 0 ? `\n${problems.map((p) => `  ${p}`).join('\n')}` : '';
    throw new CliError(`${left.length} object(s) could not be removed:\n${listing(left).trimEnd()}${why}`, 1);
  }
  process.stdout.write(`removed ${found.length} kernel object(s) of Palisade's\n`);
  return 0;
}
