// A ticker on the event loop (setImmediate, once a turn) around an async task: how many turns the
// loop had while it ran and the longest time between two of them, on the clock (what a busy
// host's other processes took included) and in the process's CPU (GC threads included): the
// longest the task held the loop at once, give or take the ticker's own turn. Used by the status
// file's tests and by scripts/dns-status-cpu.ts.

export interface LoopTurns {
  readonly turns: number;
  /** Milliseconds. */
  readonly longest: number;
  readonly longestCpu: number;
}

/** Runs `f` with the ticker; `onTurn` is called at each turn of the loop. */
export async function onTheLoop(f: () => Promise<void>, onTurn?: () => void): Promise<LoopTurns> {
  let turns = 0, longest = 0, longestCpu = 0, last = performance.now(), lastCpu = process.cpuUsage(), on = true;
  const tick = (): void => {
    const t = performance.now(), c = process.cpuUsage();
    longest = Math.max(longest, t - last);
    longestCpu = Math.max(longestCpu, (c.user + c.system - lastCpu.user - lastCpu.system) / 1000);
    last = t;
    lastCpu = c;
    turns++;
    onTurn?.();
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  // From the ticker's first turn: what ran before it is not the task's.
  await new Promise((r) => setImmediate(r));
  longest = longestCpu = 0;
  await f();
  on = false;
  return { turns, longest, longestCpu };
}
