// A bug in a command (an exception that is not bad input) must not exit 1: 1 means "findings",
// "an expect not met" or "connections changed", and a CI gate reading it would take a crash for
// an answer. It exits 70 with the stack trace, saying it is most likely a bug. The bug is simulated: a module
// loaded before the CLI makes every write to stdout throw.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from './run-cli.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const hook = join(tmpDir(), 'stdout-throws.mjs');
writeFileSync(hook, "process.stdout.write = () => { throw new TypeError('simulated bug'); };\n");

t.test('an unexpected error: exit 70, the stack, and that it is most likely a bug', async (t) => {
  const cases: string[][] = [
    ['connlist', '--manifests', 'examples/demo'],
    ['lint', '--manifests', 'examples/lint-mistakes.yaml'],
    ['verify', '--manifests', 'examples/demo', '--probes', 'examples/demo-probes.yaml'],
    ['diff', '--before', 'examples/demo', '--after', 'examples/lint-mistakes.yaml'],
  ];
  for (const args of cases) {
    const r = spawnSync(process.execPath, ['--import', hook, join(ROOT, 'bin', 'palisade.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
    t.equal(r.status, 70, `${args[0]}: exit 70`);
    t.match(r.stderr, new RegExp(`^palisade ${args[0]}: unexpected error \\(unless it is about this machine, a bug in Palisade: please report it with the command and its input\\): TypeError: simulated bug$`, 'm'), `${args[0]}: said to be a bug`);
    t.match(r.stderr, /^\s+at /m, `${args[0]}: the stack trace, for the report`);
  }
});
