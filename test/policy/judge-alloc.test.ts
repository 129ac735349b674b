// The per-connection path of the compiled engine allocates nothing: 2M judge4/judge6 calls on a
// random dual-stack cluster run in a child process (it needs --expose-gc) must leave the heap
// where it was and trigger no GC. Allocating even one boxed number per call would be ~32 MB and
// several scavenges. No timing is asserted (the child reports ns/call for information only).

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const probe = fileURLToPath(new URL('../../support/judge-alloc-probe.ts', import.meta.url));
const calls = 2_000_000;
// Also with every Admin and Baseline word a chain of per-policy tables (tier-tables.ts), and with
// the snapshot's WebAssembly copy judging (src/policy/wasm-snapshot.ts, the agent's default).
for (const [mode, judge] of [['tables', 'js'], ['chains', 'js'], ['tables', 'wasm'], ['chains', 'wasm']] as const) {
  t.test(`${mode}, ${judge}`, async (t) => {
    const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', probe, String(calls), '7', mode, judge], { encoding: 'utf8', timeout: 300_000 });
    t.equal(res.status, 0, `probe exited cleanly ${res.stderr}`);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { heapDelta: number; gcs: number; calls: number; nsPerJudge: number; tables: number; chains: number; judge: string };
    t.equal(out.judge, judge, `the ${judge} judge ran`);
    t.comment(JSON.stringify(out));
    t.equal(out.calls, calls);
    t.ok(out.tables > 0, 'the cluster compiled to real tables');
    if (mode === 'chains') t.ok(out.chains > 0, 'the snapshot walks chains');
    t.equal(out.gcs, 0, 'no GC ran during the judge loop');
    t.ok(out.heapDelta < 1_000_000, `heap grew ${out.heapDelta} bytes over ${calls} calls (< 0.5 byte a call)`);
  });
}
