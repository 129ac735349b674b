// Timers wrapped around methods of an engine's classes, for the scripts that split an update
// into its parts (scripts/cnp-phases.ts, scripts/relabel-phases.ts). Each call adds its time to
// its label's total; nested timers include their callees.

export class PhaseTimers {
  readonly totals = new Map<string, number>();

  /** `now`: the clock (wall ms, or CPU ms of the process). */
  constructor(private readonly script: string, private readonly now: () => number) {}

  /** Times every call of proto[name] under `label`; says so when this tree's class lacks the method. */
  wrap(proto: object, name: string, label: string): void {
    const target = proto as Record<string, unknown>;
    const f = target[name] as (...a: unknown[]) => unknown;
    // An older tree (PALISADE_ROOT / PALISADE_THIS) may lack a method: say so rather than print a silent zero.
    if (typeof f !== 'function') {
      console.error(`${this.script}: no ${name} in this tree; its timer (${label.trim()}) is left out`);
      return;
    }
    const totals = this.totals, now = this.now;
    target[name] = function (this: unknown, ...a: unknown[]) {
      const t = now();
      try {
        return f.apply(this, a);
      } finally {
        totals.set(label, (totals.get(label) ?? 0) + now() - t);
      }
    };
  }
}
