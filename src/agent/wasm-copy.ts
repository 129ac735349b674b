// The agent's WebAssembly judge (src/policy/wasm-snapshot.ts): once an update and its idle-time
// steps (idle-converge.ts) are done, the snapshot in force is copied into the judge module's
// memory and the copy, with the same generation and answers, takes over the packets.
//
// Why in idle time: the copy is the snapshot's arrays (the large cluster: 4-8 MB, a millisecond
// or two; the scale bench's 150,000 pods: tens of MB), so making it inside each update would add
// that to every update's latency. Until it is made, the JavaScript snapshot judges, with the same
// answers. The wait (COPY_DELAY_MS) lets a burst of updates (an informer's relist, a rollout)
// end first, so the agent copies once per burst, not once per update.

import type { CompiledEngine } from '../policy/compiler.ts';
import type { RuleSnapshot } from '../policy/engine-api.ts';
import { Snapshot } from '../policy/snapshot.ts';
import { MAX_WORDS, WasmSnapshot } from '../policy/wasm-snapshot.ts';

/** Quiet time after the last update before the copy is made. */
export const COPY_DELAY_MS = 50;
/**
 * The wait is also at least this many times the last copy's time, so that under a steady trickle
 * of updates copying takes at most about 1/COPY_SHARE of a core (a 20 ms copy of a large
 * cluster: at most one a second, wherever the updates fall).
 */
export const COPY_SHARE = 20;

export interface WasmCopyHooks {
  /** The engine, or undefined (none yet, or the agent stopped): nothing to do. */
  engine(): CompiledEngine | undefined;
  /** The snapshot the classifier judges with now. */
  current(): RuleSnapshot | undefined;
  /** The copy of current(): into the classifier (and whatever binds to the snapshot). */
  publish(copy: RuleSnapshot): void;
  /** Making the copy failed: the JavaScript snapshot keeps judging. */
  failed(e: Error): void;
}

export class WasmCopier {
  private timer?: NodeJS.Timeout;
  /**
   * The last copy made: the next one takes its memory and module instance (WasmSnapshot's
   * `reuse`). It is never the one judging then: a copy is made only while the classifier holds a
   * JavaScript snapshot, i.e. after an update replaced the copy before.
   */
  private last?: WasmSnapshot;
  /** Copies made, and the last one's size and time (status, tests). */
  copies = 0;
  lastBytes = 0;
  lastMs = 0;

  /** `maxWords`: the largest copy to make (the module's limit, MAX_WORDS; tests pass less). */
  constructor(private readonly hooks: WasmCopyHooks, private readonly enabled: boolean, private readonly maxWords: number = MAX_WORDS) {}

  /**
   * (Re)starts the wait: the copy is made COPY_DELAY_MS (or COPY_SHARE times the last copy's
   * time) after the last call, if it is still needed then.
   */
  schedule(): void {
    if (!this.enabled) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.copyNow();
    }, Math.max(COPY_DELAY_MS, Math.ceil(COPY_SHARE * this.lastMs)));
    this.timer.unref();
  }

  /**
   * Copies the snapshot in force now, unless it is one already or idle-time steps are pending
   * (their last one schedules again). Returns whether a copy was published.
   */
  copyNow(): boolean {
    const engine = this.hooks.engine();
    const snap = this.hooks.current();
    // Only the engine's own snapshots are copied (not a copy, nor a test's stand-in).
    if (!this.enabled || !engine || !(snap instanceof Snapshot) || engine.pendingWork > 0) return false;
    const t0 = performance.now();
    try {
      // Throws a RangeError for a snapshot too large for the module: the JavaScript snapshot
      // judges on, and the agent says so (failed) instead of leaving the copy out unnoticed.
      const copy = new WasmSnapshot(snap, this.last, this.maxWords);
      this.last = copy;
      this.hooks.publish(copy);
      this.copies++;
      this.lastBytes = copy.bytes;
      this.lastMs = performance.now() - t0;
      return true;
    } catch (e) {
      this.hooks.failed(e as Error);
      return false;
    }
  }

  /** The status file's `wasmJudge` (agent-stats.ts): on, the copy judging now, copies made, the last one's size and time. */
  status(): { enabled: boolean; judging: boolean; copies: number; lastBytes: number; lastMs: number } {
    return { enabled: this.enabled, judging: this.hooks.current() instanceof WasmSnapshot, copies: this.copies, lastBytes: this.lastBytes, lastMs: +this.lastMs.toFixed(2) };
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
