// Child process for the verdict cache admission's zero-allocation check (run with --expose-gc):
//   node --expose-gc --import tsx test/support/admission-alloc-probe.ts [sightings]
// Hashes and admits IPv4 and IPv6 tuples (half of them repeats, so both answers are taken) and
// ages the table, as VerdictCache.record() and commit() do per allowed new connection and per
// batch. Prints heap growth and GC count as JSON.

import { CacheAdmission, tupleHash4, tupleHash6 } from '../../src/enforce/cache-admission.ts';
import { exposedGc, measureHeap } from '../../support/heap-measure.ts';

const total = Number(process.argv[2] ?? 1_000_000);
exposedGc();
const a = new CacheAdmission(1000, 1 << 16, 0);

function run(n: number, t0: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) {
    const k = i >>> 1; // each tuple twice in a row
    const h = (i & 2) === 0
      ? tupleHash4(0x0a000000 + (k >>> 10), 0x0a010002, 6, k & 1023)
      : tupleHash6(0xfd000000 | 0, 0, 0, k >>> 10, 0xfd000000 | 0, 0, 1, 2, 17, k & 1023);
    if (a.admit(h)) admitted++;
    if ((i & 63) === 0) a.age(t0 + i);
  }
  return admitted;
}

run(total / 2, 0); // warm-up
const { value: admitted, heapDelta, gcs } = await measureHeap(() => run(total, 1_000_000));
console.log(JSON.stringify({ sightings: total, admitted, heapDelta, gcs }));
