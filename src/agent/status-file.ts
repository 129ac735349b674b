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
//
// Time on the loop: the agent's loop also answers NFQUEUE packets, so a write must not hold it.
// Made and printed at once, 65,536 records took about 270 ms of it, and every new connection
// queued meanwhile waited that long. So the text is made in steps (statusText; a long list,
// the dns records, as StatusRows, a bounded step at a time) and written to the temporary file
// a slice at a time: about SLICE_MS of steps, then the slice's write lets the loop run. The
// status is taken when the write starts (the dns records as they are then), so the file is the
// same as one made at once. Writes do not overlap: the requests made while one is made join
// one write after it (with the status as it is then; one a second, each its own 18 MB write,
// came back to back), which waits for the rate unless one of them was forced.

import { open, rename, unlink } from 'node:fs/promises';
import type { Log } from '../sources/log.ts';

export interface StatusFileOptions {
  /** Average write rate a large file is held to (bytes per second). */
  readonly bytesPerSecond?: number;
  /** The longest a write waits for the rate. */
  readonly maxDelayMs?: number;
}

export const STATUS_FILE_DEFAULTS = { bytesPerSecond: 2_000_000, maxDelayMs: 8000 } as const;

/**
 * How long (ms) a write makes text before it lets the loop run (see the header), and at most how
 * many steps (chunks; a dns step is 512 records, about a millisecond) it makes in one slice: the
 * clock bounds a slice on a slow host, the count on any host (and lets a test count the turns).
 */
const SLICE_MS = 4;
export const SLICE_STEPS = 4;

/**
 * A list too long to make in one turn of the loop (the dns records): written as a list of
 * objects, one a line (see statusJson), its rows taken a step at a time. Each step is a bounded
 * amount of work and gives the next rows (each one object's JSON, `separator` between them), or
 * undefined when it did work toward later ones.
 */
export interface StatusRows {
  statusRows(separator: string): Iterable<string | undefined>;
}

const isStatusRows = (v: unknown): v is StatusRows => typeof v === 'object' && v !== null && typeof (v as { statusRows?: unknown }).statusRows === 'function';

export class StatusFile {
  private last: Promise<void> = Promise.resolve();
  /** The write queued behind the one being made, which later requests join (see the header). */
  private queued?: { status: () => unknown; force: boolean; readonly done: Promise<void> };
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
   * Queues a write of `status()` (called when the write runs; a request made while a write is
   * queued joins it); resolves once it is done, or at once when it has to wait for the rate (see
   * the header; `force`, the agent's last write when it stops, does not wait). A failed write is a warning, once per run of failures (the file is
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
    if (this.queued) {
      this.queued.status = status;
      this.queued.force ||= o.force === true;
      return this.queued.done;
    }
    const done = this.last.then(() => {
      const q = this.queued!;
      this.queued = undefined;
      // Asked for while the one before was made: that one's rate holds, unless one was forced.
      if (!q.force && this.nextAt > Date.now()) return void this.write(q.status);
      return this.writeNow(q.status);
    });
    this.queued = { status, force: o.force === true, done };
    this.last = done;
    return done;
  }

  private async writeNow(status: () => unknown): Promise<void> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      const chunks = statusText(status());
      const size = await writeInSlices(tmp, chunks);
      await rename(tmp, this.path);
      this.nextAt = Date.now() + Math.min(this.maxDelayMs, (size / this.bytesPerSecond) * 1000);
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
  }
}

/**
 * Writes the chunks to a new file `path`, about SLICE_MS of making them at a time, each slice's
 * write letting the loop run (see the header); returns the text's length.
 */
async function writeInSlices(path: string, chunks: Iterator<string>): Promise<number> {
  const file = await open(path, 'w');
  let size = 0;
  try {
    for (let done = false; !done; ) {
      const parts: string[] = [];
      const t0 = performance.now();
      let steps = 0;
      do {
        const c = chunks.next();
        if (c.done) done = true;
        else if (c.value) parts.push(c.value);
      } while (!done && ++steps < SLICE_STEPS && performance.now() - t0 < SLICE_MS);
      const text = parts.join('');
      size += text.length;
      // Appends at the file's position (FileHandle.writeFile after writes: "from the current position").
      if (text) await file.writeFile(text);
      else if (!done) await new Promise((r) => setImmediate(r));
    }
  } finally {
    chunks.return?.();
    await file.close();
  }
  return size;
}

const isRow = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `v` after its toJSON, as JSON.stringify takes it (a StatusRows as it is). */
function jsonValue(v: unknown): unknown {
  if (isStatusRows(v)) return v;
  return typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function' ? (v as { toJSON: () => unknown }).toJSON() : v;
}

/** JSON.stringify leaves these out of an object (and writes null for them in a list). */
const omitted = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * `v` as JSON.stringify(v, null, 2) writes it, except that a list whose items are all objects is
 * written one item per line, each compact (the dns records; see the header); undefined where
 * JSON.stringify gives undefined.
 */
export function statusJson(v: unknown, indent = ''): string | undefined {
  const j = jsonValue(v);
  return omitted(j) ? undefined : [...chunksOf([...pieces(j, indent)])].join('');
}

/** Text, or a StatusRows to write at `indent`. */
type Piece = string | { readonly rows: StatusRows; readonly indent: string };

/**
 * The status file's text for `status` (statusJson's, then a newline), in chunks: all but the
 * StatusRows made now (the status as it is now, like the rows' own snapshot), the rows a step a
 * chunk as they are asked for ('' for a step that gave none).
 */
function statusText(status: unknown): Iterator<string> {
  const j = jsonValue(status);
  const all: Piece[] = omitted(j) ? [String(JSON.stringify(j))] : [...pieces(j, '')];
  all.push('\n');
  return chunksOf(all);
}

function* chunksOf(all: readonly Piece[]): Generator<string> {
  for (const p of all) {
    if (typeof p === 'string') yield p;
    else yield* rowsChunks(p.rows, p.indent);
  }
}

/** statusJson's text for `j` (jsonValue'd, not omitted) in pieces. */
function* pieces(j: unknown, indent: string): Generator<Piece> {
  if (isStatusRows(j)) {
    yield { rows: j, indent };
    return;
  }
  if (typeof j !== 'object' || j === null) {
    yield JSON.stringify(j);
    return;
  }
  const inner = indent + '  ';
  if (Array.isArray(j)) {
    if (j.length === 0) yield '[]';
    else if (j.every(isRow)) yield `[\n${j.map((x) => inner + (JSON.stringify(x) ?? 'null')).join(',\n')}\n${indent}]`;
    else {
      for (let i = 0; i < j.length; i++) {
        const x = jsonValue(j[i]);
        yield i === 0 ? `[\n${inner}` : `,\n${inner}`;
        if (omitted(x)) yield 'null';
        else yield* pieces(x, inner);
      }
      yield `\n${indent}]`;
    }
    return;
  }
  const fields = Object.entries(j).map(([k, x]) => [k, jsonValue(x)] as const).filter(([, x]) => !omitted(x));
  if (fields.length === 0) {
    yield '{}';
    return;
  }
  for (let i = 0; i < fields.length; i++) {
    yield `${i === 0 ? '{\n' : ',\n'}${inner}${JSON.stringify(fields[i][0])}: `;
    yield* pieces(fields[i][1], inner);
  }
  yield `\n${indent}}`;
}

/** A StatusRows as statusJson writes a list of objects: "[]" when it has no rows. */
function* rowsChunks(rows: StatusRows, indent: string): Generator<string> {
  const inner = indent + '  ', sep = `,\n${inner}`;
  let any = false;
  for (const step of rows.statusRows(sep)) {
    if (!step) {
      yield '';
      continue;
    }
    yield (any ? sep : `[\n${inner}`) + step;
    any = true;
  }
  yield any ? `\n${indent}]` : '[]';
}
