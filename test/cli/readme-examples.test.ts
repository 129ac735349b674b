// The README's console examples are what a new user types first: each `$ npx palisade ...`
// whose paths exist in the checkout is run, and its stdout must be what the README shows.
// Whitespace runs compare as one space (`matrix` prints tabs, the README aligns with spaces);
// a line "..." stands for any number of lines the README leaves out, anywhere else the lines
// must follow each other exactly, from the first to the last.

import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './run-cli.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Example {
  readonly line: number;
  readonly args: string[];
  readonly expected: string[];
}

/** Every `$ npx palisade` command of a ```console block, with the lines up to the next command. */
function examples(readme: string): Example[] {
  const out: Example[] = [];
  const lines = readme.split('\n');
  let inConsole = false;
  let cur: Example | undefined;
  lines.forEach((l, i) => {
    if (l.startsWith('```')) {
      inConsole = !inConsole && l.trim() === '```console';
      cur = undefined;
      return;
    }
    if (!inConsole) return;
    const m = /^\$ npx palisade (.*?)\s*(#.*)?$/.exec(l);
    if (m) {
      cur = { line: i + 1, args: m[1]!.split(/\s+/), expected: [] };
      out.push(cur);
    } else if (cur) cur.expected.push(l);
  });
  // The blank line between two commands of one block belongs to neither.
  for (const e of out) while (e.expected.length > 0 && e.expected.at(-1)!.trim() === '') e.expected.pop();
  return out;
}

/** The values of the flags that take paths (--manifests a b, --probes f ...). */
function pathArgs(args: string[]): string[] {
  const out: string[] = [];
  let inPaths = false;
  for (const a of args) {
    if (a.startsWith('-')) inPaths = ['--manifests', '--before', '--after', '--probes'].includes(a);
    else if (inPaths) out.push(a);
  }
  return out;
}

const norm = (s: string) => s.trim().replace(/\s+/g, ' ');

/** Where `expected` (with "..." gaps) fails to match `actual`, or undefined when it matches. */
function mismatch(expected: string[], actual: string[]): string | undefined {
  const match = (ei: number, ai: number): boolean => {
    if (ei === expected.length) return ai === actual.length;
    if (norm(expected[ei]!) === '...') {
      for (let k = ai; k <= actual.length; k++) if (match(ei + 1, k)) return true;
      return false;
    }
    return ai < actual.length && norm(expected[ei]!) === norm(actual[ai]!) && match(ei + 1, ai + 1);
  };
  return match(0, 0) ? undefined : `README shows:\n${expected.join('\n')}\n\nthe command printed:\n${actual.join('\n')}`;
}

t.test('mismatch: "..." skips lines, elsewhere every line must be there in order', async (t) => {
  const cases: [string[], string[], boolean][] = [
    [['a', 'b'], ['a', 'b'], true],
    [['a  b'], ['a\tb'], true],
    [['a', '...', 'z'], ['a', 'b', 'c', 'z'], true],
    [['...', 'c'], ['a', 'b', 'c'], true],
    [['a', '...'], ['a', 'b'], true],
    [['b', '...'], ['a', 'b'], false],
    [['a', 'c'], ['a', 'b', 'c'], false],
    [['a'], ['a', 'b'], false],
    [['a', 'b'], ['a'], false],
  ];
  for (const [expected, actual, ok] of cases) t.equal(mismatch(expected, actual) === undefined, ok, `${JSON.stringify(expected)} vs ${JSON.stringify(actual)}`);
});

t.test('every runnable README console example prints what the README shows', async (t) => {
  const all = examples(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  // Paths the checkout does not have (DIR, shop-before) are placeholders: those examples are not run.
  const runnable = all.filter((e) => pathArgs(e.args).every((a) => existsSync(join(ROOT, a))));
  t.ok(runnable.length >= 5, `found the README's examples (${runnable.length} of ${all.length} runnable)`);
  for (const e of runnable) {
    const r = runCli(e.args);
    const actual = r.stdout.replace(/\n+$/, '').split('\n');
    t.equal(mismatch(e.expected, actual), undefined, `README.md:${e.line}: palisade ${e.args.join(' ')}`);
  }
});

t.test('a README console example runs in a checkout unless its paths are named placeholders', async (t) => {
  // A new user copies the examples: one whose folders are not in the checkout (and not written
  // as an obvious placeholder) cannot be tried, and is not checked by the test above either.
  const PLACEHOLDERS = ['DIR', 'policies.yaml'];
  for (const e of examples(readFileSync(join(ROOT, 'README.md'), 'utf8'))) {
    const missing = pathArgs(e.args).filter((a) => !PLACEHOLDERS.includes(a) && !existsSync(join(ROOT, a)));
    t.same(missing, [], `README.md:${e.line}: palisade ${e.args.join(' ')}: its paths are in the checkout`);
  }
});

t.test('"What you get" names every command `palisade --help` lists', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## What you get');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const listed = [...runCli(['--help']).stdout.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]!);
  t.ok(listed.length >= 10, `the help lists the commands (${listed.join(', ')})`);
  for (const cmd of listed) t.match(section, new RegExp(`palisade ([a-z]+ \\| )*${cmd}\\b`), `${cmd} is in "What you get"`);
});
