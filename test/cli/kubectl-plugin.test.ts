// `kubectl palisade explain ...`: kubectl finds an executable named kubectl-palisade on PATH and
// runs it with the words after "palisade". The test does exactly that (execve through PATH, the
// shebang picks node), from a folder holding a symlink as `npm install -g` would make, and gets
// the same answer as `palisade explain`.

import t from 'tap';
import { spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { clusterPolicyDir } from './cluster-policy-fixture.ts';
import { hasStackTrace, runCliAsync, tmpDir, type CliResult } from './run-cli.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

function runPlugin(args: string[], path: string): Promise<CliResult> {
  return new Promise((res, rej) => {
    // No shell and no node on the command line: the plugin is found on PATH by name, as kubectl does.
    const child = spawn('kubectl-palisade', args, { cwd: tmpDir(), env: { ...process.env, PATH: path } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

t.test('kubectl-palisade on PATH runs palisade with the remaining args', async (t) => {
  const bin = tmpDir('palisade-plugin-');
  symlinkSync(join(ROOT, 'bin', 'kubectl-palisade.js'), join(bin, 'kubectl-palisade'));
  const path = [bin, process.env.PATH ?? ''].join(delimiter);
  const dir = clusterPolicyDir();
  const args = ['explain', '--manifests', dir, '--from', 'app/batch', '--to', 'db/pg', '--port', '5432'];
  const plugin = await runPlugin(args, path);
  const direct = await runCliAsync(args);
  t.equal(plugin.code, 0, plugin.stderr);
  t.match(plugin.stdout, /DENY|denied/i, 'an explanation was printed');
  t.equal(plugin.stdout, direct.stdout, 'same output as palisade explain');
  const bad = await runPlugin(['explain', '--manifests', dir, '--port', '80'], path);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^palisade explain: --from is required/);
  t.notOk(hasStackTrace(bad.stderr));
  const usage = await runPlugin([], path);
  // No command is a usage error: the list goes to stderr, with exit 2.
  t.equal(usage.code, 2);
  t.match(usage.stderr, /^usage: palisade <command>/);
});
