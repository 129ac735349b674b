// The agent's status file (`--status-file`): rewritten atomically (a temporary file renamed over
// it, so a reader never sees half a file), one write at a time, each with the status as it is
// when that write runs.

import { rename, unlink, writeFile } from 'node:fs/promises';
import type { Log } from '../sources/log.ts';

export class StatusFile {
  private last: Promise<void> = Promise.resolve();
  /** The failure being reported, while writes fail. */
  private failing?: string;

  constructor(private readonly path: string, private readonly log: Log) {}

  /**
   * Queues a write of `status()` (called when the write runs); resolves once it is done. A failed
   * write is a warning, once per run of failures (the file is written every second: a warning
   * each time buried the agent's log under one line a second), and one info line when a write
   * works again.
   */
  write(status: () => unknown): Promise<void> {
    this.last = this.last.then(async () => {
      const tmp = `${this.path}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify(status(), null, 2) + '\n');
        await rename(tmp, this.path);
      } catch (e) {
        // A temporary file left by a failed write or rename (a full disk: part of one) goes.
        await unlink(tmp).catch(() => {});
        const message = `cannot write status file ${this.path}: ${(e as Error).message}`;
        if (this.failing !== message) this.log('warn', `${message} (said once until the error changes or a write works)`);
        this.failing = message;
        return;
      }
      if (this.failing !== undefined) this.log('info', `status file ${this.path} written again`);
      this.failing = undefined;
    });
    return this.last;
  }
}
