// A checkout whose dependencies were never installed (cloned, then `node bin/palisade.js` before
// `bash scripts/bootstrap.sh` or `npm ci`), or only partly (an interrupted install): one line
// saying so and what to run, not Node's ERR_MODULE_NOT_FOUND with its stack, and exit 70 as for
// any other unexpected error: a CI gate must not read 1 (findings, changed connections). The
// checkout is bin/ and package.json copied into a temporary folder, with no node_modules anywhere
// above it.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasStackTrace, tmpDir } from './run-cli.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

t.test('no node_modules: what to run, in one line', async (t) => {
  const checkout = tmpDir('palisade-no-deps-');
  // Packages are looked up in every folder above; the test means nothing if one has them.
  for (let d = checkout; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) t.fail(`${d} holds node_modules: this test cannot take them away`);
    if (dirname(d) === d) break;
  }
  mkdirSync(join(checkout, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'palisade.js'), join(checkout, 'bin', 'palisade.js'));
  copyFileSync(join(ROOT, 'package.json'), join(checkout, 'package.json'));
  symlinkSync(join(ROOT, 'src'), join(checkout, 'src'));
  for (const args of [['version'], ['demo'], []]) {
    const r = spawnSync(process.execPath, [join(checkout, 'bin', 'palisade.js'), ...args], { encoding: 'utf8', cwd: checkout, timeout: 60_000 });
    const name = `palisade ${args.join(' ')}`.trim();
    t.equal(r.status, 70, `${name}: exit 70`);
    t.equal(r.stdout, '', `${name}: nothing on stdout`);
    t.match(r.stderr, /^palisade: the dependencies are not installed \(no package "tsx" from .*\): run `bash scripts\/bootstrap\.sh` \(or `npm ci`\) in \S+\n$/, `${name}: says so and what to run`);
    t.notOk(hasStackTrace(r.stderr), `${name}: no stack trace`);
  }
});

t.test('some packages missing (tsx there, yaml not): what to run, in one line', async (t) => {
  // src/ is copied, not linked: packages are looked up from a module's real path.
  const checkout = tmpDir('palisade-some-deps-');
  mkdirSync(join(checkout, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'palisade.js'), join(checkout, 'bin', 'palisade.js'));
  copyFileSync(join(ROOT, 'package.json'), join(checkout, 'package.json'));
  cpSync(join(ROOT, 'src'), join(checkout, 'src'), { recursive: true });
  mkdirSync(join(checkout, 'node_modules'));
  symlinkSync(join(ROOT, 'node_modules', 'tsx'), join(checkout, 'node_modules', 'tsx'));
  const r = spawnSync(process.execPath, [join(checkout, 'bin', 'palisade.js'), 'verify', '--help'], { encoding: 'utf8', cwd: checkout, timeout: 60_000 });
  t.equal(r.status, 70, 'exit 70');
  t.equal(r.stdout, '');
  t.match(r.stderr, /^palisade verify: the dependencies are not all installed \(no package "yaml"\): run `bash scripts\/bootstrap\.sh` \(or `npm ci`\) in the checkout\n$/, 'says so and what to run');
  t.notOk(hasStackTrace(r.stderr), 'no stack trace');
});
