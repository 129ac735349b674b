// The README's command list (section "Commands") against each command's own usage lines: a flag
// a command's help shows that the list leaves out is a flag a new user reading the README never
// hears of (demo --name, lab probe --concurrency and six agent flags were missing); a flag the
// list shows that the help's usage leaves out is one `--help` hides from a user at the terminal
// (agent --keep-rules, --metrics, --verdict-log and --audit were missing there).

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './run-cli.ts';

const COMMANDS = ['verify', 'explain', 'matrix', 'connlist', 'diff', 'lint', 'report', 'lab', 'agent', 'cleanup', 'dns', 'logs', 'bench', 'demo', 'version'];

/** Flags of usage lines, by invocation ("lab probe", "agent"): lines that start with `palisade CMD`, with their continuation lines. */
function flagsByInvocation(lines: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const raw of lines) {
    // A remark after the usage ("(development only)", "(or palisade --version)") names no flag of it.
    const line = raw.replace(/^usage:/, '').trim().replace(/\s{2,}\(.*\)$/, '');
    // "(each of verify, explain, ...: --kubeconfig FILE [--context NAME] instead of ...)": flags shared by several.
    const shared = /^\(each of ([a-z, ]+): (.*)/.exec(line);
    if (shared) {
      for (const cmd of shared[1]!.split(/,\s*/)) {
        const set = out.get(cmd) ?? new Set<string>();
        out.set(cmd, set);
        for (const m of shared[2]!.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*)\b/g)) set.add(m[1]!);
      }
      current = undefined;
      continue;
    }
    const head = /^palisade (\S+)(?: ([a-z]+)\b)?/.exec(line);
    if (head) {
      const key = head[2] !== undefined && COMMANDS.includes(head[1]!) && head[1] === 'lab' ? `${head[1]} ${head[2]}` : head[1]!;
      current = out.get(key) ?? new Set<string>();
      out.set(key, current);
    } else if (!/^[[-]/.test(line)) {
      current = undefined; // a comment line of the README's list, or the end of the usage
      continue;
    }
    for (const m of line.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*|-o)\b/g)) current?.add(m[1]!);
  }
  return out;
}

t.test('the README\'s command list and each command\'s usage show the same flags', async (t) => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Commands\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  const listed = flagsByInvocation(block.split('\n'));
  for (const cmd of COMMANDS) {
    const help = runCli(['help', cmd]);
    t.equal(help.code, 0, `help ${cmd}`);
    const usage = help.stdout.split('\n\n')[0]!.split('\n');
    const shown = flagsByInvocation(usage);
    t.ok(shown.size > 0, `${cmd}: its help has usage lines`);
    for (const [key, flags] of shown) {
      const inReadme = listed.get(key);
      t.ok(inReadme, `palisade ${key} is in the README's list`);
      const missing = [...flags].filter((f) => !inReadme?.has(f) && f !== '--help');
      t.same(missing, [], `palisade ${key}: flags the README's list leaves out`);
      const hidden = [...(inReadme ?? [])].filter((f) => !flags.has(f));
      t.same(hidden, [], `palisade ${key}: flags the README's list shows and its --help usage leaves out`);
    }
  }
  // Every invocation of the README's list is one some command's usage shows.
  for (const key of listed.keys()) t.ok(COMMANDS.includes(key.split(' ')[0]!), `palisade ${key} (README) is a command the test reads`);
});
