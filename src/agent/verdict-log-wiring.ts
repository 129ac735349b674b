// The agent's verdict log as one part: where its lines go (openSinks: a file with its size cap,
// or stdout), the VerdictLog that writes the connections, its flush every 10 s, and its close.
// A file that cannot be written or a closed stdout is reported through `report` and its lines
// are counted as dropped; enforcement never waits on the log (verdict-log.ts says how).

import { VerdictLog, openSinks, type Sinks, type VerdictLogOptions } from './verdict-log.ts';

export interface VerdictLogWiringOptions {
  /** 'stdout' or a file path (--verdict-log). */
  readonly dest: string;
  /** The file's size cap in bytes (--verdict-log-max-mb; default in verdict-log.ts). */
  readonly maxBytes?: number;
  readonly logAllowed: boolean;
  readonly dstName?: VerdictLogOptions['dstName'];
  readonly report: (level: 'error' | 'info', message: string) => void;
}

export class VerdictLogWiring {
  readonly sinks: Sinks;
  readonly log: VerdictLog;
  private readonly timer: NodeJS.Timeout;

  constructor(o: VerdictLogWiringOptions) {
    this.sinks = openSinks(o.dest === 'stdout' ? { stdout: true, report: o.report } : { file: o.dest, report: o.report, maxBytes: o.maxBytes });
    this.log = new VerdictLog({ write: this.sinks.write, logAllowed: o.logAllowed, dstName: o.dstName });
    this.timer = setInterval(() => this.log.flush(), 10_000);
    this.timer.unref();
  }

  /** A line of another writer (flow cuts, the source guard's drops), as written. */
  write(line: string): void {
    this.sinks.write(line);
  }

  /** The log's counters with the lines its destinations dropped (metrics). */
  stats(): VerdictLog['stats'] & { readonly dropped: number } {
    return { ...this.log.stats, dropped: this.sinks.dropped() };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.log.flush();
    await this.sinks.close().catch(() => {});
  }
}
