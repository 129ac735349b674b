// scripts/bootstrap.sh's npm step, run against a stand-in npm (and apt-get, so nothing is
// installed) on PATH: it installs from npm's cache first, and a registry that cannot be reached
// ends in a failure that says so, not in a hang. Stop 44's CI hung for its whole 90 minutes in a
// plain `npm ci` while the machine could resolve no name (npm 11 retried every packument fetch and
// ignored TERM).

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** A copy of the script in a project folder of its own (no node_modules), with stand-ins first on PATH. */
function sandbox(t: Test, npmBody: string) {
  const dir = mkdtempSync(join(tmpdir(), 'bootstrap-'));
  t.teardown(() => {
    // A stand-in the script failed to kill (the limit broken) must not outlive the test.
    spawnSync('pkill', ['-KILL', '-f', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(join(dir, 'scripts'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'scripts', 'bootstrap.sh'), join(dir, 'scripts', 'bootstrap.sh'));
  writeFileSync(join(dir, 'package-lock.json'), '{}\n');
  const log = join(dir, 'calls.log');
  const tool = (name: string, body: string) =>
    writeFileSync(join(dir, 'bin', name), `#!/usr/bin/env bash\necho "${name} $*" >> "${log}"\n${body}\n`, { mode: 0o755 });
  tool('npm', npmBody);
  tool('apt-get', 'exit 0');
  const run = (env: Record<string, string> = {}) => {
    const r = spawnSync('bash', [join(dir, 'scripts', 'bootstrap.sh')], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, PALISADE_FORCE_APT: '', ...env },
      timeout: 60_000,
    });
    const calls = (() => { try { return readFileSync(log, 'utf8').trim().split('\n'); } catch { return []; } })();
    // The stand-ins still running (their command lines name the sandbox), before the teardown's pkill.
    const left = spawnSync('pgrep', ['-f', join(dir, 'bin')], { encoding: 'utf8' }).stdout.trim();
    return { status: r.status, stderr: r.stderr, calls, left };
  };
  return { run };
}

t.test('npm ci takes the cache first and skips the audit and fund calls', async (t) => {
  const { run } = sandbox(t, 'mkdir -p node_modules; exit 0');
  const r = run();
  t.equal(r.status, 0, r.stderr);
  const ci = r.calls.filter((c) => c.startsWith('npm '));
  t.same(ci, ['npm ci --prefer-offline --no-audit --no-fund'], 'one npm ci, cache first');
});

t.test('a failing npm ci stops the script with the reason', async (t) => {
  const { run } = sandbox(t, 'echo "npm error EAI_AGAIN" >&2; exit 1');
  const r = run();
  t.equal(r.status, 1);
  t.match(r.stderr, /bootstrap: npm ci failed or ran out of its 1200 seconds; can this machine resolve registry\.npmjs\.org\?/);
});

t.test('an npm ci that ignores TERM and never ends is killed at the limit', async (t) => {
  // As npm did: TERM ignored, retrying forever.
  const { run } = sandbox(t, "trap '' TERM; while :; do sleep 1; done");
  const r = run({ PALISADE_NPM_CI_SECONDS: '2' });
  t.equal(r.status, 1, 'failed rather than hung (the test\'s own 60 s would leave no status)');
  t.equal(r.left, '', 'the stand-in npm was killed, not left running');
  t.match(r.stderr, /ran out of its 2 seconds/);
});
