// What imports what, read statically from the import specifiers (from '...', import('...'),
// require('...'), new URL('...', import.meta.url)): product code (src/, bin/) never reaches test
// code, even through bench/ (`palisade bench` loads bench/suite.ts); the code it imports directly
// stays inside src/, which is all the image ships (dist/src), but for the bench command, a
// development command; bench/, scripts/ and support/ share support/ with the tests, never test/;
// and product code imports no devDependency, which the image prunes.

import t from 'tap';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*|\bnew URL\(\s*)(['"])([^'"\n]+)\1/g;

function filesUnder(dir: string): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts') && statSync(join(ROOT, f)).isFile());
}

/** The specifiers of a file: relative ones resolved to repo-relative paths, bare ones as package names. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  // Comments mention paths (`see test/...`) without importing them.
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const local: string[] = [];
  const packages: string[] = [];
  for (const m of text.matchAll(SPEC)) {
    const spec = m[2]!;
    if (spec.startsWith('.')) local.push(relative(ROOT, resolve(ROOT, dirname(file), spec)).split(sep).join('/'));
    else if (!spec.startsWith('node:') && !spec.startsWith('/')) packages.push(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return { local, packages };
}

const top = (p: string) => p.split('/')[0]!;
const product = [...filesUnder('src'), ...filesUnder('bin')];

t.test('product code never reaches test/, directly or through what it imports', async (t) => {
  t.ok(product.length > 50, `${product.length} product files scanned`);
  const via = new Map<string, string>(product.map((f) => [f, '']));
  const queue = [...product];
  while (queue.length > 0) {
    const f = queue.shift()!;
    if (!existsSync(join(ROOT, f))) continue;
    for (const dep of importsOf(f).local) {
      if (!/\.(ts|js|mjs)$/.test(dep) || via.has(dep)) continue;
      via.set(dep, f);
      queue.push(dep);
    }
  }
  const chain = (f: string): string => (via.get(f) ? `${chain(via.get(f)!)} -> ${f}` : f);
  const intoTest = [...via.keys()].filter((f) => top(f) === 'test').map(chain);
  t.same(intoTest, [], 'no test file is reachable from src/ or bin/');
});

t.test('product code imports only src/ (and bench/ from the bench command; bin/ its own entry points)', async (t) => {
  const outside: string[] = [];
  for (const f of product) {
    for (const dep of importsOf(f).local) {
      const ok = top(dep) === 'src' || (f === 'src/cli/commands/bench.ts' && top(dep) === 'bench') || (top(f) === 'bin' && (dep === 'package.json' || top(dep) === 'bin'));
      if (!ok) outside.push(`${f} -> ${dep}`);
    }
  }
  t.same(outside, []);
});

t.test('bench/, scripts/ and support/ never import test/; support/ imports neither bench/ nor scripts/', async (t) => {
  const bad: string[] = [];
  for (const dir of ['bench', 'scripts', 'support']) {
    for (const f of filesUnder(dir)) {
      for (const dep of importsOf(f).local) {
        if (top(dep) === 'test' || (dir === 'support' && (top(dep) === 'bench' || top(dep) === 'scripts'))) bad.push(`${f} -> ${dep}`);
      }
    }
  }
  t.ok(filesUnder('support').length > 0, 'support/ is scanned');
  t.same(bad, []);
});

t.test('product code imports no devDependency', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const dev = new Set(Object.keys(pkg.devDependencies));
  const bad: string[] = [];
  for (const f of product) for (const p of importsOf(f).packages) if (dev.has(p)) bad.push(`${f} -> ${p}`);
  t.same(bad, []);
});
