// The load-time check of hot-path mirrors. Per-packet modules copy other modules' constants
// into a module-local const enum (the compiler writes its members as numbers, which the JIT
// folds; an imported const is loaded from its module cell and checked on every use). This
// checks each copy against its source once, when the mirroring module loads, so a changed
// source fails at startup instead of misjudging packets. It imports nothing, so any layer may
// use it.

/** One mirror: the module-local copy, the source's value, and the source's name for the message. */
export type Mirror = readonly [mirror: number, source: number, name: string];

/** Throws naming the module, the constant and both values at the first mirror that differs. */
export function checkMirrors(module: string, mirrors: readonly Mirror[]): void {
  for (const [mirror, source, name] of mirrors) {
    if (mirror !== source) throw new Error(`${module}: the hot path's ${name} is ${mirror}, its source says ${source}`);
  }
}
