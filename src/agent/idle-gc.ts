// Garbage collection in idle time, after the converge steps that follow an update
// (idle-converge.ts), so that the collections V8 would otherwise run inside the next update
// run here instead. Collections change no answer: they only move a pause.
//
// - A scavenge (minor) every time: those steps build the combined tier tables and the per-policy
//   tables, megabytes of objects that live on, still in the young generation when they finish.
//   Left there, they were copied by a scavenge of 10-40 ms inside the next update on the large
//   cluster.
// - A full collection (major) at the first call, then when the heap has grown by MAJOR_GROWTH since
//   the last full one:
//   shortly before V8 would start its own. V8's own lands in whichever update allocates when its
//   incremental marking is done, and its final pause was 190-700 ms inside a cluster policy add
//   on the large cluster (`--trace-gc`: one per run, in every run). V8 set its next limit at
//   about 1.25 times what a full collection left there, but not always: at 1.15, V8 marked on its
//   own twice in each of three runs of `node --trace-gc --expose-gc --import tsx
//   scripts/relabel-phases.ts 20` (the cluster-large bench's changes; the slowest relabel 23-36
//   ms), at 1.1 twice in one run of three and never in the others (the slowest 18-21 ms), for
//   24-26 idle full collections in the 160 updates instead of 16 (docs/speed-history.md, "The
//   slow relabels of a longer run"). Their sweeper threads sweep after them, in the agent's idle
//   time (a bench waits for them: finishSweeping). On a
//   heap where V8 starts marking sooner (the scale bench: at 7-12 % of growth) this never fires
//   and V8's marking steps still fall in updates (docs/speed-history.md, scale bench). The full collection is
//   one atomic pause (200-430 ms on the large cluster's heap; V8's own final pause there was
//   190-700 ms): packets queued meanwhile wait, as they do in an update.
//
// `gc` exists only with --expose-gc; the flag can be set at run time, and a new context then has
// the function (the global of the running one was made before the flag). Where neither works
// (another runtime, or PALISADE_IDLE_GC=0) this does nothing and V8 collects as it would anyway.

import v8 from 'node:v8';
import vm from 'node:vm';

// Without options a full collection: V8 11 (Node 20) reads any options object, `type: 'major'`
// included, as a scavenge.
type Gc = (options?: { type: 'minor' }) => void;

/** Heap growth since the last full collection past which idleGc runs one. */
export const MAJOR_GROWTH = 1.1;

let gc: Gc | undefined | null = null;
/**
 * Heap used after the last full collection, ours or V8's (0 before the first call, which runs
 * one: V8 sets its limit from what its last full collection left, and a base taken from the heap
 * as the first call finds it (with the garbage promoted since) put our 1.15 past V8's limit, so
 * V8's own marking started anyway, once a run, in the cluster-large bench's first measured
 * updates; docs/speed-history.md, "What the p99 spikes are").
 */
let base = 0;
/** Heap used at the last idleGc, after its scavenge. */
let last = 0;

function gcFunction(): Gc | undefined {
  if (gc === null) {
    gc = undefined;
    if (process.env.PALISADE_IDLE_GC === '0') return gc;
    gc = (globalThis as { gc?: Gc }).gc;
    if (!gc) {
      try {
        v8.setFlagsFromString('--expose-gc');
        gc = vm.runInNewContext('gc') as Gc;
      } catch {
        gc = undefined;
      }
    }
  }
  return gc;
}

function heapUsed(): number {
  return v8.getHeapStatistics().used_heap_size;
}

/**
 * Collects now: a scavenge, then a full collection on the first call and when the heap grew
 * MAJOR_GROWTH since the last one. A no-op where the runtime gives no gc function. True when it
 * ran the full collection.
 */
export function idleGc(): boolean {
  const collect = gcFunction();
  if (!collect) return false;
  collect({ type: 'minor' });
  // After the scavenge the young generation is empty, and the rest only shrinks in a full
  // collection: less than last time means V8 ran one of its own, whose result is the new base.
  let used = heapUsed();
  let major = false;
  if (used < last) base = used;
  else if (base === 0 || used > base * MAJOR_GROWTH) {
    collect();
    base = used = heapUsed();
    major = true;
  }
  last = used;
  return major;
}

/**
 * For benches whose updates come back to back: waits, on the main thread, for the sweeping that
 * V8 leaves to its helper threads after a full collection. In the agent those threads sweep while
 * the event loop is idle; in a bench they swept during the next update, 30-75 ms of CPU on four
 * threads (Node's default `--v8-pool-size`, before the agent's flags took it to one,
 * node-flags.ts) taking the VM's two cores from it: its wall time was 2-5
 * times its own CPU (docs/speed-history.md, "With cluster policies"). The main thread joins the sweep here: 70-80
 * ms on the large cluster's heap, so the agent does not call it (it would lengthen the idle
 * collection's pause, during which packets wait). `v8.getHeapCodeStatistics` makes V8's heap
 * iterable first, which completes sweeping; it changes nothing else.
 */
export function finishSweeping(): void {
  v8.getHeapCodeStatistics();
}
