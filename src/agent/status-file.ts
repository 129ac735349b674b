// The agent's status file (`--status-file`): rewritten atomically (a temporary file renamed over
// it, so a reader never sees half a file), one write at a time, each with the status as it is
// when that write runs.

import { rename, writeFile } from 'node:fs/promises';
import type { Log } from '../sources/log.ts';

export class StatusFile {
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly path: string, private readonly log: Log) {}

  /** Queues a write of `status()` (called when the write runs); resolves once it is done. A failed write is a warning. */
  write(status: () => unknown): Promise<void> {
    this.last = this.last.then(async () => {
      const tmp = `${this.path}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify(status(), null, 2) + '\n');
        await rename(tmp, this.path);
      } catch (e) {
        this.log('warn', `cannot write status file ${this.path}: ${(e as Error).message}`);
      }
    });
    return this.last;
  }
}
