// The observer adds no allocation to the per-packet path of allowed traffic: a child process
// (fresh heap, --expose-gc) pushes 1,000,000 allowed packets through ObservedJudge after warm-up
// and reports heap growth and GCs. No timing is measured.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const probe = fileURLToPath(new URL('../support/observe-alloc-probe.ts', import.meta.url));

t.test('1M observed classify calls of allowed traffic: no heap growth, no GC', async (t) => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', probe, '1000000'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `probe exited cleanly: ${r.stderr.slice(0, 2000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { packets: number; heapDelta: number; gcs: number; ruleHits: number };
  t.equal(out.packets, 1_000_000);
  t.ok(out.ruleHits > 0, `per-rule hits were counted (${out.ruleHits})`);
  t.ok(out.heapDelta < 2 * 1024 * 1024, `heap growth ${out.heapDelta} bytes over ${out.packets} packets`);
  t.ok(out.gcs <= 1, `${out.gcs} GCs during the loop`);
});
