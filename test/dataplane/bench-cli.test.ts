// `palisade bench --json` prints exactly one JSON object with results and env (shape only: no
// timing is asserted), and rejects bad flags with exit code 2 and a one-line message.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/palisade.js', import.meta.url));

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

t.test('bad flags: exit 2 with a message naming the flag', async (t) => {
  const r1 = spawnSync(process.execPath, [bin, 'bench', '--only', 'warp-drive'], { encoding: 'utf8' });
  t.equal(r1.status, 2);
  t.match(r1.stderr, /--only: unknown benchmark "warp-drive"/);
  const r2 = spawnSync(process.execPath, [bin, 'bench', '--packets', '12x'], { encoding: 'utf8' });
  t.equal(r2.status, 2);
  t.match(r2.stderr, /--packets must be a whole number/);
});
