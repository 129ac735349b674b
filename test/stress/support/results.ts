// Figures of the stress suite. Each *.stress.ts file records one row per item it checks (what was
// tried, whether Palisade held, the measured figures) into $PALISADE_STRESS_RESULTS (default
// tmp/stress-results), one JSON file per row; scripts/stress-summary.mjs prints them as a table.
// A row is written when its check finished, so a failing item shows up as "FAILED" with the
// figures gathered so far rather than vanishing from the table.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const RESULTS_DIR = process.env.PALISADE_STRESS_RESULTS ?? join(ROOT, 'tmp', 'stress-results');

/** PALISADE_STRESS_FULL=1: the full durations of the issue (a minute of storm, a minute of outage...). */
export const FULL = process.env.PALISADE_STRESS_FULL === '1';

export type Figure = number | string | boolean;

export interface Row {
  /** Load, Faults or Hostile input. */
  readonly area: 'load' | 'faults' | 'hostile';
  /** Short name of the item, e.g. "connection flood (NFQUEUE)". */
  readonly item: string;
  /** held: every check passed; failed: some did; todo: could not be checked (reason in note). */
  result: 'held' | 'failed' | 'todo';
  /** What Palisade withstood, in numbers (ordered as inserted). */
  readonly figures: Record<string, Figure>;
  note?: string;
  /** How many things were thrown at it (inputs, connections, updates...), and what they were. */
  tried?: { n: number; what: string };
  /** Packets/verdicts wrongly passed, misjudged, lost or uncounted, and crashes: 0 when it held. */
  wrong?: number;
  readonly file: string;
}

/** Integer env override with a default (e.g. STRESS_FUZZ_INPUTS). */
export function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

let seq = 0;

/**
 * Starts a row; call done() (or pass the tap test to bind it) when its checks are over. The row
 * is "held" only if the test that owns it has no failures.
 */
export function row(area: Row['area'], item: string, file: string): Row & { save(failed: boolean): void } {
  const r: Row = { area, item, result: 'held', figures: {}, file };
  const id = `${process.pid}-${++seq}`;
  return Object.assign(r, {
    save(failed: boolean) {
      if (r.result !== 'todo') r.result = failed ? 'failed' : 'held';
      mkdirSync(RESULTS_DIR, { recursive: true });
      writeFileSync(join(RESULTS_DIR, `${file.replace(/[^A-Za-z0-9_.-]/g, '_')}-${id}.json`), JSON.stringify(r, null, 2) + '\n');
    },
  });
}

/** Minimal view of a tap Test for binding rows: a passing state and a teardown hook. */
interface TapLike {
  passing(): boolean;
  teardown(fn: () => void | Promise<void>): void;
}

/** A row saved when the given tap (sub)test ends; held iff that test passed. */
export function bindRow(t: TapLike, area: Row['area'], item: string, file: string): Row {
  const r = row(area, item, file);
  t.teardown(() => r.save(!t.passing()));
  return r;
}

/** Rounds for display: 3 significant figures for small numbers, integers for large ones. */
export function round(n: number): number {
  if (!Number.isFinite(n)) return n;
  const a = Math.abs(n);
  if (a >= 100) return Math.round(n);
  if (a >= 1) return Math.round(n * 100) / 100;
  return Math.round(n * 1000) / 1000;
}

/** VmRSS (bytes) of a process, from /proc/PID/status; undefined when it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process used so far, from /proc/PID/stat. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

export const MB = 1024 * 1024;
