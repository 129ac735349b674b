// The agent's idle-time work after an update (CompiledEngine.converge): an update that reached
// Admin or Baseline tables published chains in their place (tier-tables.ts); their tables are
// built a few per event-loop turn after it, each step publishing a snapshot with the same answers:
// the verdict cache stays (nothing it holds changed) and packets queued meanwhile are judged
// between steps. The same steps then compact or grow the table arena and build the per-policy
// tables later chains walk, so updates need not. When nothing is left, garbage is collected
// (idle-gc.ts), not in the next update.

import type { CompiledEngine } from '../policy/compiler.ts';
import type { RuleSnapshot } from '../policy/engine-api.ts';
import { idleGc } from './idle-gc.ts';

export interface IdleConvergeHooks {
  /** The engine to step, or undefined (none yet, or the agent stopped): nothing to do. */
  engine(): CompiledEngine | undefined;
  /** A step's snapshot (same answers as the one before): into the classifier. */
  publish(snap: RuleSnapshot): void;
  /** A step threw: the chains keep answering exactly; the next update tries again. */
  failed(e: Error): void;
}

export class IdleConverge {
  /** The pending step, one at a time. */
  private timer?: NodeJS.Immediate;

  constructor(private readonly hooks: IdleConvergeHooks) {}

  /** Schedules the next step unless one is pending or nothing waits. */
  schedule(): void {
    const engine = this.hooks.engine();
    if (this.timer || !engine || engine.pendingWork === 0) return;
    this.timer = setImmediate(() => {
      this.timer = undefined;
      const engine = this.hooks.engine();
      if (!engine) return;
      try {
        const snap = engine.converge();
        if (snap) this.hooks.publish(snap);
      } catch (e) {
        this.hooks.failed(e as Error);
        return;
      }
      if (engine.pendingWork === 0) idleGc();
      else this.schedule();
    });
  }

  cancel(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
  }
}
