// The per-packet path allocates nothing: a child process (fresh heap, --expose-gc) classifies
// 2,000,000 mixed packets (IPv4 + IPv6 with addresses >= 2^31 per word, TCP/UDP/SCTP/ICMP,
// replies, ICMP errors, invalid and fragment packets; stateless and with conntrack, each out of its
// own buffer, read in turn as two queues' buffers are; the real compiled engine) after warm-up
// and reports heap growth and GCs. One heap number per packet would be >= 32 MB and several
// scavenges. No timing is measured.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const probe = fileURLToPath(new URL('../support/alloc-probe.ts', import.meta.url));

// With the JavaScript snapshot judging and with its WebAssembly copy (the agent's default).
for (const judge of ['js', 'wasm']) t.test(`2M classify calls after warm-up (${judge} judge): no heap growth, no GC`, async (t) => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', probe, '2000000', judge], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `probe exited cleanly: ${r.stderr.slice(0, 2000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    packets: number; heapDelta: number; gcs: number; distinct: number; unknownLocalDrops: number; control: { heapDelta: number; gcs: number };
  };
  // The control loop allocates one small object per packet: the method must see that.
  t.ok(out.control.gcs >= 2 || out.control.heapDelta > 16 * 1024 * 1024, `control (one object per packet) detected: ${JSON.stringify(out.control)}`);
  t.equal(out.packets, 2_000_000);
  t.ok(out.unknownLocalDrops > 0, `the local-pod-range check ran on the measured path (${out.unknownLocalDrops} unknown-local-pod drops)`);
  t.ok(out.distinct > 1000, `${out.distinct} distinct packets in the stream`);
  t.ok(out.heapDelta < 4 * 1024 * 1024, `heap growth ${out.heapDelta} bytes over ${out.packets} packets (< 2 bytes/packet; one-time JIT artefacts only)`);
  t.ok(out.gcs <= 1, `${out.gcs} GCs during the loop`);
});
