// `palisade <command> [flags]`. Each command lives in its own module under commands/ and is
// loaded only when asked for, so `palisade verify` does not load the netlink addon.

import { CliError, closestWord } from './args.ts';
import { finishOnClosedStdout } from './closed-stdout.ts';

/** The exit status of an unexpected error (an exception that is not bad input): a bug, mostly. */
export const INTERNAL_ERROR = 70;

interface Command {
  summary: string;
  /** `subcommands`: the words after the command that name one (`lab probe`), for the error prefix. */
  load: () => Promise<{ run(argv: string[]): Promise<number>; readonly subcommands?: readonly string[] }>;
}

const COMMANDS: Record<string, Command> = {
  demo: { summary: 'build a lab, show its real connection matrix with no policy, NetworkPolicies, cluster policies', load: () => import('./commands/demo.ts') },
  verify: { summary: 'judge probes against manifests (both engines)', load: () => import('./commands/verify.ts') },
  explain: { summary: 'explain why one connection is allowed or denied', load: () => import('./commands/explain.ts') },
  matrix: { summary: 'pod-to-pod table: can each row (from) reach each column (to)? . allowed, X denied', load: () => import('./commands/matrix.ts') },
  lab: { summary: 'lab up | probe | down | status: pods as network namespaces on this machine', load: () => import('./commands/lab.ts') },
  agent: { summary: 'run the per-node enforcement agent', load: () => import('./commands/agent.ts') },
  cleanup: { summary: 'remove what Palisade agents left in this node\'s kernel (after a killed agent or the DaemonSet)', load: () => import('./commands/cleanup.ts') },
  bench: { summary: 'development only (a source checkout): per-packet and compile benchmarks', load: () => import('./commands/bench.ts') },
  connlist: { summary: 'list every allowed connection with its exact ports', load: () => import('./commands/connlist.ts') },
  diff: { summary: 'connections a policy change opens or closes (exit 1 if any)', load: () => import('./commands/diff.ts') },
  lint: { summary: 'find mistakes in a policy set', load: () => import('./commands/lint.ts') },
  report: { summary: 'one self-contained HTML page: graph, port matrix, lint, explanations', load: () => import('./commands/report.ts') },
  dns: { summary: 'list a node agent\'s live DNS name records (from its status file)', load: () => import('./commands/dns.ts') },
  logs: { summary: 'follow the agent verdict log, human-readable', load: () => import('./commands/logs.ts') },
  version: { summary: 'print Palisade\'s version and Node\'s', load: () => import('./commands/version.ts') },
};

function usage(): string {
  const lines = ['usage: palisade <command> [flags]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)} ${c.summary}`);
  lines.push('', 'Run `palisade <command> --help` for its flags.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  // `palisade help CMD` is `palisade CMD --help`: the help of the command, not the list again.
  if (argv[0] === 'help' && argv.length > 1) argv = [argv[1]!, '--help'];
  // The spelling most tools take; `palisade version` is the command.
  if (argv[0] === '--version') argv = ['version', ...argv.slice(1)];
  const [name, ...rest] = argv;
  // Asked for, the list is the answer (stdout, exit 0); with no command at all the command line
  // is wrong, so it goes to stderr like every other usage error and stdout stays empty.
  if (!name) {
    process.stderr.write(usage() + '\n');
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  // Own keys only: `palisade constructor` is an unknown command, not Object.prototype's.
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) {
    const near = closestWord(name, [...Object.keys(COMMANDS), '--version', '--help']);
    process.stderr.write(`palisade: unknown command "${name}"${near ? ` (did you mean ${near}?)` : ''}\n\n${usage()}\n`);
    return 2;
  }
  // closed-stdout.ts; the agent's verdict log handles a closed stdout itself.
  if (name !== 'agent') finishOnClosedStdout();
  // Errors name what was run: `palisade lab probe: ...`, as the subcommand's own messages do.
  let label = name;
  try {
    const mod = await cmd.load();
    if (rest[0] !== undefined && mod.subcommands?.includes(rest[0])) label = `${name} ${rest[0]}`;
    return await mod.run(rest);
  } catch (e) {
    // Bad input is reported as one clear line, never a stack trace (CliError and our
    // validation errors); anything else is a bug and keeps its stack.
    if (!(e instanceof CliError)) {
      // An install that stopped half way (bin/palisade.js says it when nothing is installed).
      const pkg = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' ? /Cannot find package '([^']+)'/.exec((e as Error).message)?.[1] : undefined;
      if (pkg) {
        process.stderr.write(`palisade ${label}: the dependencies are not all installed (no package "${pkg}"): run \`bash scripts/bootstrap.sh\` (or \`npm ci\`) in the checkout\n`);
        return INTERNAL_ERROR;
      }
      // Exit 70 (sysexits' internal software error), not Node's 1: 1 means findings, an unmet
      // expect or changed connections, and a CI gate would take the crash for that answer.
      const what = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
      // Not always a bug in the code: a lab or agent command can meet a machine it cannot use.
      process.stderr.write(`palisade ${label}: unexpected error (unless it is about this machine, a bug in Palisade: please report it with the command and its input): ${what}\n`);
      return INTERNAL_ERROR;
    }
    // Several problems (every bad probe of a file) come as several lines, each prefixed so
    // every line names the command; an indented line continues the one above (a fix, a list
    // item) and stays as written.
    for (const line of e.message.split('\n')) process.stderr.write(/^\s/.test(line) ? `${line}\n` : `palisade ${label}: ${line}\n`);
    // The command alone (`palisade verify`) is a first try: naming one missing flag at a time
    // would take as many tries as it has required flags.
    if (rest.length === 0 && e.exitCode === 2) process.stderr.write(`Run \`palisade ${name} --help\` for its flags.\n`);
    return e.exitCode;
  }
}
