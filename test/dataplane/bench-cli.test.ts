// `palisade bench --json` prints exactly one JSON object with results and env (shape only: no
// timing is asserted), --out FILE writes the same object to a file, `npm run -s bench` (the
// README's command) prints nothing but that JSON, and bad flags exit 2 with a one-line message.

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/palisade.js', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const small = ['--only', 'classify-small', '--packets', '20000', '--no-bjs'];
const dir = mkdtempSync(join(tmpdir(), 'palisade-bench-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** The report's shape, whatever the figures. */
function checkReport(t: Test, text: string): void {
  const report = JSON.parse(text) as { results: Record<string, unknown>[]; env: Record<string, unknown> };
  t.same(report.results.map((x) => x.name), ['classify-small']);
  t.type(report.results[0]!.pps, 'number');
  t.ok('node' in report.env, 'env.node');
}

t.test('bench --json prints one JSON object', async (t) => {
  const r = spawnSync(process.execPath, [bin, 'bench', '--json', '--only', 'classify-small', '--packets', '20000', '--no-bjs'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines.length, 1, 'one line of stdout');
  const report = JSON.parse(lines[0]!) as { results: Record<string, unknown>[]; env: Record<string, unknown> };
  t.same(report.results.map((x) => x.name), ['classify-small']);
  const res = report.results[0]!;
  for (const k of ['pps', 'ns_per_packet', 'heap_delta_bytes', 'pps_cpu', 'gcs']) t.type(res[k], 'number', `results[0].${k}`);
  t.ok((res.pps as number) > 0);
  t.equal(res.packets, 20000);
  t.ok((res.accepted_fraction as number) > 0 && (res.accepted_fraction as number) < 1, 'the small model mixes allowed and denied probes');
  for (const k of ['node', 'cpu', 'kernel', 'cores', 'loadavg']) t.ok(k in report.env, `env.${k}`);
});

t.test('--out FILE writes the JSON report; the table still goes to stdout', async (t) => {
  const out = join(dir, 'bench.json');
  const r = spawnSync(process.execPath, [bin, 'bench', '--out', out, ...small], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, r.stderr);
  checkReport(t, readFileSync(out, 'utf8'));
  t.match(r.stdout, /^classify-small +[\d.]+ Mpps/, 'the table on stdout');
  t.match(r.stderr, new RegExp(`bench: wrote ${out}`));
});

t.test('npm run -s bench prints only the JSON object', async (t) => {
  const r = spawnSync('npm', ['run', '-s', 'bench', '--', ...small], { encoding: 'utf8', cwd: root, timeout: 180_000 });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim().split('\n').length, 1, 'one line, no npm banner');
  checkReport(t, r.stdout);
});

t.test('bad flags: exit 2 with a message naming the flag', async (t) => {
  const r1 = spawnSync(process.execPath, [bin, 'bench', '--only', 'warp-drive'], { encoding: 'utf8' });
  t.equal(r1.status, 2);
  t.match(r1.stderr, /--only: unknown benchmark "warp-drive"/);
  const r2 = spawnSync(process.execPath, [bin, 'bench', '--packets', '12x'], { encoding: 'utf8' });
  t.equal(r2.status, 2);
  t.match(r2.stderr, /--packets must be a whole number/);
  const r3 = spawnSync(process.execPath, [bin, 'bench', '--out', join(dir, 'no-such-folder', 'f.json'), ...small], { encoding: 'utf8' });
  t.equal(r3.status, 2);
  t.match(r3.stderr, /^palisade bench: --out: folder \S+no-such-folder does not exist\n$/);
});
