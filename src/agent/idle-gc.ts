// A minor garbage collection (a scavenge) in idle time, after the converge steps that follow an
// update (Agent.scheduleConverge). Those steps build the combined tier tables and the per-policy
// tables: megabytes of objects that live on, still in the young generation when they finish. The
// next allocation-heavy moment then pays for copying them, and that was the next update: a
// cluster policy change's worst cases on the large cluster were scavenges of 10-40 ms inside
// the update. Scavenging right after the idle work pays it there instead, and the next update
// starts with an empty young generation. Not a full collection: one whenever the heap had grown
// a tenth (V8's own mark-compact, a 130 ms pause, had fallen inside an update) left the sweeper
// threads busy on the VM's two cores through the next updates, and the cluster-large bench's
// updates ran slower (namespace relabel p50 29-75 ms against 12-16, cnp edit p50 6-8 ms
// against 2-3 in the same minutes).
//
// `gc` exists only with --expose-gc; the flag can be set at run time, and a new context then
// has the function (the global of the running one was made before the flag).

import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (options?: { type?: 'minor' }) => void;

let gc: Gc | undefined | null = null;

function gcFunction(): Gc | undefined {
  if (gc === null) {
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

/** Scavenges the young generation now (a no-op where the runtime gives no gc function). */
export function idleGc(): void {
  gcFunction()?.({ type: 'minor' });
}
