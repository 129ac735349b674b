// Each command's --help against the flag table its parser takes (the module's FLAGS): a flag
// the parser takes that the help never names is one a user cannot find, and a flag the help
// offers that the parser refuses is an error the help leads to. Demo, lab and agent are asked
// for their help only: nothing here runs them.

import t from 'tap';
import type { FlagSpec } from '../../src/cli/args.ts';
import { runCli } from './run-cli.ts';

const COMMANDS = ['verify', 'explain', 'matrix', 'connlist', 'diff', 'lint', 'report', 'dns', 'logs', 'bench', 'demo', 'cleanup', 'agent', 'version'];

/** `--name` as a whole word: `--verdict-cache` is not named by `--verdict-cache-s`. */
const names = (text: string, flag: string) => new RegExp(`(?<![\\w-])--${flag}(?![\\w-])`).test(text);

/** The help's words for the flag: `-o` stands for --output in every command's help. */
const helpNames = (text: string, flag: string) => names(text, flag) || (flag === 'output' && /(?<![\w-])-o\b/.test(text));

/**
 * The flags the help offers as the command's own: those of its usage lines (the first paragraph,
 * less a trailing remark) and those that start a line of its flag list ("  --why  ...",
 * "--strict, --no-strict ..."). A flag the prose mentions (`agent --status-file`) is another
 * command's.
 */
function offered(help: string): Set<string> {
  const out = new Set<string>();
  const [usage, ...rest] = help.split('\n\n');
  for (const m of usage!.replace(/\s{2,}\(.*\)$/gm, '').matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)) out.add(m[1]!);
  for (const line of rest.join('\n\n').split('\n')) {
    const lead = /^\s{2,}(--[a-z][a-z0-9-]*)(?: [A-Z][\w.|[\]]*)?(?:, (--[a-z][a-z0-9-]*))?/.exec(line);
    if (lead) for (const f of [lead[1], lead[2]]) if (f) out.add(f.slice(2));
  }
  return out;
}

t.test('offered: usage and flag-list lines, not prose', async (t) => {
  const help = 'usage: palisade x --a N [--b] [-o text]    (or palisade --version)\n\nProse naming agent --status-file.\n  --c FILE  what c does\n  --d, --no-d   on or off\n          --e: continues the line above\n';
  t.same([...offered(help)].sort(), ['a', 'b', 'c', 'd', 'e', 'no-d']);
});

t.test('every flag a command takes is named by its --help, and every flag its --help offers is taken', async (t) => {
  for (const cmd of COMMANDS) {
    const { FLAGS } = (await import(`../../src/cli/commands/${cmd}.ts`)) as { FLAGS: FlagSpec };
    const r = runCli([cmd, '--help']);
    t.equal(r.code, 0, `${cmd} --help`);
    const unnamed = Object.keys(FLAGS).filter((f) => f !== 'help' && !helpNames(r.stdout, f));
    t.same(unnamed, [], `${cmd}: flags its parser takes that --help never names`);
    const refused = [...offered(r.stdout)].filter((f) => !Object.hasOwn(FLAGS, f));
    t.same(refused, [], `${cmd}: flags --help offers that its parser refuses`);
  }
});

t.test('lab: each subcommand\'s usage line shows exactly the flags it takes', async (t) => {
  const { FLAGS } = (await import('../../src/cli/commands/lab.ts')) as { FLAGS: Record<string, FlagSpec> };
  const usage = runCli(['lab', '--help']).stdout.split('\n\n')[0]!;
  // A usage line and the lines indented under it, up to the next `palisade lab`.
  const lines = new Map<string, string>();
  for (const m of usage.matchAll(/palisade lab ([a-z]+)([\s\S]*?)(?=palisade lab |$)/g)) lines.set(m[1]!, m[2]!);
  t.same([...lines.keys()].sort(), Object.keys(FLAGS).sort(), 'a usage line per subcommand');
  for (const [sub, spec] of Object.entries(FLAGS)) {
    const line = lines.get(sub) ?? '';
    const shown = [...line.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!).concat(/(?<![\w-])-o\b/.test(line) ? ['output'] : []);
    t.same([...new Set(shown)].sort(), Object.keys(spec).filter((f) => f !== 'help').sort(), `lab ${sub}: the usage line's flags`);
  }
});
