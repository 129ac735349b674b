// `npm run build` in a copy of this checkout, then real commands from what it built:
//   - the image layout, made by following the runtime stage's `COPY --from=build` lines of the
//     Dockerfile (package.json, bin/, dist/src, the addon; no src/), runs dist/: verify on
//     examples/demo answers as the sources do, --version prints the same, the compiled
//     enforcer finds and loads the addon, `palisade demo` (as root) runs its lab with the
//     agent, and `palisade bench` says in one line that it is a development command;
//   - the checkout itself, with that dist/ now present, keeps running its sources: an edit made
//     after the build is what runs, not the stale dist/.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { labDown } from '../../src/lab/topology.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'palisade-build-'));
const checkout = join(work, 'checkout');
const image = join(work, 'image');
const LAB = `lt-build-${process.pid}`;
t.teardown(async () => {
  if (process.getuid?.() === 0) await labDown(LAB);
  rmSync(work, { recursive: true, force: true });
});

/** node <bin> args in `cwd`, with a PATH and env like the caller's. */
function palisade(dir: string, args: string[], timeout = 120_000) {
  return spawnSync(process.execPath, [join(dir, 'bin', 'palisade.js'), ...args], { encoding: 'utf8', cwd: dir, timeout });
}

// The copy: what tsconfig compiles plus package.json; node_modules and the built addon are links
// to this checkout's (copying them would take long and prove nothing).
mkdirSync(checkout);
const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
const tops = new Set(['bin', ...tsconfig.include.map((p) => p.split('/')[0]!)]);
for (const top of [...tops, 'package.json', 'tsconfig.json']) cpSync(join(ROOT, top), join(checkout, top), { recursive: true });
symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(checkout, 'node_modules'));
mkdirSync(join(checkout, 'native'));
symlinkSync(realpathSync(join(ROOT, 'native', 'build')), join(checkout, 'native', 'build'));

t.test('npm run build, then the image layout runs dist/', async (t) => {
  const build = spawnSync('npm', ['run', 'build'], { encoding: 'utf8', cwd: checkout, timeout: 600_000 });
  t.equal(build.status, 0, `npm run build: ${build.stdout}${build.stderr}`);
  t.ok(existsSync(join(checkout, 'dist', 'src', 'cli', 'main.js')), 'dist/src/cli/main.js built');

  // The runtime stage's copies, e.g. `COPY --from=build /src/dist/src ./dist/src`.
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const copies = [...runtime.matchAll(/^COPY --from=build \/src\/(\S+) (\S+)$/gm)].map((m) => ({ from: m[1]!, to: m[2]! }));
  t.ok(copies.length >= 4, `${copies.length} COPY --from=build lines in the runtime stage`);
  for (const { from, to } of copies) {
    const dest = join(image, to);
    mkdirSync(dirname(dest), { recursive: true });
    if (from === 'node_modules') symlinkSync(realpathSync(join(checkout, from)), dest);
    else cpSync(join(checkout, from), dest, { recursive: true });
  }
  t.notOk(existsSync(join(image, 'src')), 'the image has no sources, so bin/palisade.js must run dist/');

  const args = ['verify', '--manifests', join(ROOT, 'examples', 'demo'), '--probes', join(ROOT, 'examples', 'demo-probes.yaml'), '-o', 'json'];
  const fromImage = palisade(image, args);
  const fromSource = palisade(ROOT, args);
  t.equal(fromImage.status, 0, `verify from the image: ${fromImage.stderr}`);
  t.equal(fromImage.stdout, fromSource.stdout, 'the same verdicts as the sources');
  t.match(fromImage.stdout, /"allow"/);

  // The version comes from the image's package.json (there is no src/ to walk up from).
  const version = palisade(image, ['--version']);
  t.equal(version.status, 0, `--version from the image: ${version.stderr}`);
  t.equal(version.stdout, palisade(ROOT, ['--version']).stdout, 'the version the sources print');
  t.match(version.stdout, /^palisade \d+\.\d+\.\d+/);

  // What the enforcers do first: load the addon through the compiled native.js.
  const load = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `const m = await import(${JSON.stringify(join(image, 'dist', 'src', 'enforce', 'native.js'))}); const a = m.loadNative(); console.log(JSON.stringify({ path: m.ADDON_PATH, nfqOpen: typeof a.nfqOpen }));`],
    { encoding: 'utf8', cwd: image },
  );
  t.equal(load.status, 0, `loadNative from dist: ${load.stderr}`);
  t.same(JSON.parse(load.stdout), { path: join(image, 'native', 'build', 'Release', 'palisade_native.node'), nfqOpen: 'function' });

  const bench = palisade(image, ['bench', '--json', '--only', 'parse-only', '--packets', '1000', '--no-bjs']);
  t.equal(bench.status, 1);
  t.equal(bench.stdout, '');
  t.match(bench.stderr, /^palisade bench: development command only: [^\n]+\n$/, 'one line saying so');
});

t.test('palisade demo from the image layout: the lab gets its agent', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const r = palisade(image, ['demo', '--name', LAB], 300_000);
  t.equal(r.status, 0, `exit 0 (${r.stderr})`);
  t.match(r.stdout, /every real probe agreed with the spec/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('a checkout with a built dist/ runs its sources', async (t) => {
  t.ok(existsSync(join(checkout, 'dist', 'src', 'cli', 'main.js')), 'dist/ is there');
  // An edit after the build, visible whenever main.ts is loaded.
  appendFileSync(join(checkout, 'src', 'cli', 'main.ts'), "\nprocess.stderr.write('edited after the build\\n');\n");
  const r = palisade(checkout, ['verify', '--manifests', join(ROOT, 'examples', 'demo'), '--probes', join(ROOT, 'examples', 'demo-probes.yaml')]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /edited after the build/, 'the edited source ran, not dist/');
});
