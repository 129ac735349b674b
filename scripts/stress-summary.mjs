#!/usr/bin/env node
// Prints the stress suite's figures (rows written by test/stress/support/results.ts) as one table:
// what load was held, which faults were survived, how many hostile inputs were tried, and that
// nothing was lost or wrongly passed.
//
//   node scripts/stress-summary.mjs [RESULTS_DIR]   print the table of an earlier run
//   node scripts/stress-summary.mjs --run [FILES]   clear the results, run test/stress/*.stress.ts
//                                                   one file at a time with tap, then print the
//                                                   table and the total run time (npm run test:stress)
//
// Exit code: tap's when --run (a failing check fails the run), else 1 when a row failed.

import { readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const runMode = args[0] === '--run';
const dir = process.env.PALISADE_STRESS_RESULTS ?? (!runMode && args[0] ? args[0] : join(ROOT, 'tmp', 'stress-results'));

let tapCode = 0;
let seconds;
if (runMode) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = args.length > 1
    ? args.slice(1)
    : readdirSync(join(ROOT, 'test', 'stress')).filter((f) => f.endsWith('.stress.ts')).sort().map((f) => join('test', 'stress', f));
  const t0 = Date.now();
  // One file at a time: the load and fault files measure a real agent on a 2-core machine, and
  // parallel files would measure each other. tap's per-file timeout bounds a hung file.
  const r = spawnSync('npx', ['tap', '--jobs', '1', '--timeout', '600', '--disable-coverage', '--allow-empty-coverage', ...files], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, PALISADE_STRESS_RESULTS: dir },
  });
  tapCode = r.status ?? 1;
  seconds = (Date.now() - t0) / 1000;
}

let rows = [];
try {
  rows = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
} catch {
  // no results directory: nothing ran
}
const AREAS = { load: 'Load', faults: 'Faults', hostile: 'Hostile input' };
const order = Object.keys(AREAS);
rows.sort((a, b) => order.indexOf(a.area) - order.indexOf(b.area) || a.file.localeCompare(b.file) || a.item.localeCompare(b.item));

const fmt = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-US') : String(v)) : String(v));
const width = Math.max(80, Math.min(process.stdout.columns || 120, 140));

/** Words joined with ", ", wrapped at the width, every line indented. */
function wrap(pieces, indent) {
  const lines = [];
  let line = indent;
  for (const p of pieces) {
    if (line !== indent && line.length + 2 + p.length > width) {
      lines.push(line + ',');
      line = indent + p;
    } else line += (line === indent ? '' : ', ') + p;
  }
  if (line !== indent) lines.push(line);
  return lines;
}

const out = [];
out.push('', 'Palisade stress summary', '=======================');
const tried = (r) => (r.tried ? `${fmt(r.tried.n)} ${r.tried.what}` : '-');
const res = (r) => (r.result === 'held' ? 'HELD' : r.result === 'todo' ? 'TODO' : 'FAILED');
// The table: one line per item.
const itemW = Math.min(58, Math.max(4, ...rows.map((r) => r.item.length)));
const triedW = Math.max(5, ...rows.map((r) => tried(r).length));
out.push('');
out.push(`${'AREA'.padEnd(13)}  ${'ITEM'.padEnd(itemW)}  ${'RESULT'.padEnd(6)}  ${'TRIED'.padEnd(triedW)}  WRONG`);
for (const r of rows) {
  const item = r.item.length > itemW ? r.item.slice(0, itemW - 1) + '~' : r.item;
  out.push(`${AREAS[r.area].padEnd(13)}  ${item.padEnd(itemW)}  ${res(r).padEnd(6)}  ${tried(r).padEnd(triedW)}  ${r.wrong === undefined ? '-' : fmt(r.wrong)}`);
}
out.push('', 'WRONG = packets or connections wrongly passed, verdicts misjudged, inputs lost or uncounted, crashes.');
// The figures of every item.
for (const area of order) {
  const group = rows.filter((r) => r.area === area);
  if (group.length === 0) continue;
  out.push('', AREAS[area], '-'.repeat(AREAS[area].length));
  for (const r of group) {
    out.push(`  ${res(r).padEnd(6)}  ${r.item}`);
    out.push(...wrap(Object.entries(r.figures).map(([k, v]) => `${k}: ${fmt(v)}`), '          '));
    if (r.note) {
      const lines = wrap(r.note.split('; '), '                ');
      lines[0] = '          note: ' + lines[0].trimStart();
      out.push(...lines);
    }
  }
}
const count = (area, result) => rows.filter((r) => r.area === area && (result === undefined || r.result === result)).length;
const held = rows.filter((r) => r.result === 'held').length;
const failed = rows.filter((r) => r.result === 'failed').length;
const todo = rows.filter((r) => r.result === 'todo').length;
const wrong = rows.reduce((n, r) => n + (r.wrong ?? 0), 0);
const inputs = rows.filter((r) => r.area === 'hostile').reduce((n, r) => n + (r.tried?.n ?? 0), 0);
out.push('');
out.push(`load held: ${count('load', 'held')}/${count('load')}; faults survived: ${count('faults', 'held')}/${count('faults')}; hostile inputs tried: ${fmt(inputs)} (${count('hostile', 'held')}/${count('hostile')} held); lost or wrongly passed: ${fmt(wrong)}`);
out.push(`${rows.length} items: ${held} held, ${failed} failed, ${todo} todo${seconds !== undefined ? `; total run time ${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : ''}`);
if (rows.length === 0) out.push(`(no results in ${dir})`);
process.stdout.write(out.join('\n') + '\n');
process.exit(runMode ? tapCode : failed > 0 ? 1 : 0);
