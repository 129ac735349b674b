// The agent's status file (`--status-file`): rewritten atomically (a temporary file renamed over
// it, so a reader never sees half a file), one write at a time, each with the status as it is
// when that write runs.
//
// Size: its `dns` section lists every live name record, up to 65,536 of them. Pretty-printed
// and rewritten every second that was about 25 MB/s of writes (and half a second of the agent's
// loop building and printing it). So a list of objects is written one object per line (compact:
// about 28 % smaller, still one record per line to read or grep), and the rewrites of a large
// file are spaced: after a write of S bytes the next one waits S / bytesPerSecond (2 MB/s), at
// most maxDelayMs (8 s, under the 10 s after which `palisade explain --dns-status` notes a
// stale file). Requests in between are coalesced into that one later write, with the status
// as it is then; a file of a few kilobytes (most agents) waits a few milliseconds at most.

import { rename, unlink, writeFile } from 'node:fs/promises';
import type { Log } from '../sources/log.ts';

export interface StatusFileOptions {
  /** Average write rate a large file is held to (bytes per second). */
  readonly bytesPerSecond?: number;
  /** The longest a write waits for the rate. */
  readonly maxDelayMs?: number;
}

export const STATUS_FILE_DEFAULTS = { bytesPerSecond: 2_000_000, maxDelayMs: 8000 } as const;

export class StatusFile {
  private last: Promise<void> = Promise.resolve();
  /** The failure being reported, while writes fail. */
  private failing?: string;
  /** When (ms) the next write may run (the rate above). */
  private nextAt = 0;
  /** A write waiting for nextAt, and the status it will write. */
  private timer?: NodeJS.Timeout;
  private waiting?: () => unknown;
  private readonly bytesPerSecond: number;
  private readonly maxDelayMs: number;

  constructor(private readonly path: string, private readonly log: Log, o: StatusFileOptions = {}) {
    this.bytesPerSecond = o.bytesPerSecond ?? STATUS_FILE_DEFAULTS.bytesPerSecond;
    this.maxDelayMs = o.maxDelayMs ?? STATUS_FILE_DEFAULTS.maxDelayMs;
  }

  /**
   * Queues a write of `status()` (called when the write runs); resolves once it is done, or at
   * once when it has to wait for the rate (see the header; `force`, the agent's last write when
   * it stops, does not wait). A failed write is a warning, once per run of failures (the file is
   * written every second: a warning each time buried the agent's log under one line a second),
   * and one info line when a write works again.
   */
  write(status: () => unknown, o: { readonly force?: boolean } = {}): Promise<void> {
    const wait = this.nextAt - Date.now();
    if (!o.force && wait > 0) {
      this.waiting = status;
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          const s = this.waiting!;
          this.waiting = undefined;
          void this.write(s, { force: true });
        }, wait);
        this.timer.unref();
      }
      return Promise.resolve();
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting = undefined;
    this.last = this.last.then(async () => {
      const tmp = `${this.path}.${process.pid}.tmp`;
      try {
        const text = statusJson(status()) + '\n';
        await writeFile(tmp, text);
        await rename(tmp, this.path);
        this.nextAt = Date.now() + Math.min(this.maxDelayMs, (text.length / this.bytesPerSecond) * 1000);
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

const isRow = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `v` as JSON.stringify(v, null, 2) writes it, except that a list whose items are all objects is
 * written one item per line, each compact (the dns records; see the header).
 */
export function statusJson(v: unknown, indent = ''): string | undefined {
  if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const rows = v.every(isRow);
    const items = v.map((x) => (rows ? JSON.stringify(x) : statusJson(x, inner)) ?? 'null');
    return `[\n${items.map((s) => inner + s).join(',\n')}\n${indent}]`;
  }
  const fields: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    const s = statusJson(x, inner);
    if (s !== undefined) fields.push(`${inner}${JSON.stringify(k)}: ${s}`);
  }
  return fields.length === 0 ? '{}' : `{\n${fields.join(',\n')}\n${indent}}`;
}
