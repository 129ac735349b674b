// What an idle agent does between two updates (src/agent/idle-converge.ts, idle-gc.ts), run at
// once by the benches that time updates back to back: the converge steps an update left, then a
// collection, and after a full one V8's sweeping, which an idle agent's helper threads finish
// before the next update comes (in a back-to-back sequence it fell in that update instead).
// The benches time this apart from the update (`converge` in their JSON).

import { finishSweeping, idleGc } from '../src/agent/idle-gc.ts';

export interface Converging {
  readonly pendingWork: number;
  converge(): unknown;
}

/** Runs the idle steps when the update left any; says whether there were some. */
export function runIdleSteps(engine: Converging): boolean {
  if (engine.pendingWork === 0) return false;
  while (engine.pendingWork > 0) engine.converge();
  if (idleGc()) finishSweeping();
  return true;
}
