// A reader that stops early (`palisade verify | head`) closes the pipe under the command. Node
// ignores SIGPIPE, so the next write fails with EPIPE, an 'error' event nobody handled: a stack
// trace and exit 1. Instead the command goes on printing to nobody and finishes as it would have
// (a lab is taken down, the exit status is the whole run's); a command that would print until
// stopped (`logs --follow`) listens with onStdoutClosed and stops.
// Not for the agent: its verdict log to stdout counts what a closed pipe drops (agent/verdict-log.ts).

const listeners = new Set<() => void>();

/** From now on, a closed stdout ends the printing, not the process. */
export function finishOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    for (const f of [...listeners]) f();
  });
}

/** Calls `f` when stdout's reader has gone; returns the unsubscribe. */
export function onStdoutClosed(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}
