// How the zero-allocation probes measure a loop (child processes run with --expose-gc): collect
// garbage first, then read the used heap before and after the loop with no GC forced in between,
// and count the GCs that ran meanwhile. A loop that allocates even one heap number per iteration
// grows the heap by >= 16 bytes an iteration and triggers scavenges, so both numbers show it.

import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/** The `gc` function --expose-gc provides; throws when the probe was started without it. */
export function exposedGc(): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  return gc;
}

/** Runs `body` once (warm it up before) and reports what it returned, heap growth and GCs. */
export async function measureHeap<T>(body: () => T): Promise<{ value: T; heapDelta: number; gcs: number }> {
  const gc = exposedGc();
  let gcs = 0;
  const po = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
  po.observe({ entryTypes: ['gc'] });
  gc();
  // GC entries are delivered asynchronously: let those of the forced GC arrive before counting.
  await new Promise((r) => setTimeout(r, 10));
  gcs = 0;
  const before = v8.getHeapStatistics().used_heap_size;
  const value = body();
  const after = v8.getHeapStatistics().used_heap_size;
  await new Promise((r) => setTimeout(r, 10));
  po.disconnect();
  return { value, heapDelta: after - before, gcs };
}
