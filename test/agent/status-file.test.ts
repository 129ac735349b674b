// The status file: atomic rewrites, and failures reported once, not once a second.

import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatusFile } from '../../src/agent/status-file.ts';

function logged() {
  const lines: string[] = [];
  return { lines, log: (level: string, msg: string) => void lines.push(`${level} ${msg}`) };
}

t.test('written whole through a temporary file, nothing left beside it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-status-'));
  const file = join(dir, 'status.json');
  const { lines, log } = logged();
  const sf = new StatusFile(file, log);
  for (let i = 0; i < 3; i++) void sf.write(() => ({ generation: i }));
  await sf.write(() => ({ generation: 3 }));
  t.same(JSON.parse(readFileSync(file, 'utf8')), { generation: 3 });
  t.same(readdirSync(dir), ['status.json']);
  t.same(lines, []);
});

t.test('a path that cannot be written: one warning for the run of failures, one line when it works again', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'palisade-status-')), 'later');
  const file = join(dir, 'status.json');
  const { lines, log } = logged();
  const sf = new StatusFile(file, log);
  for (let i = 0; i < 5; i++) await sf.write(() => ({ generation: i }));
  t.equal(lines.length, 1, 'one warning, not one per second');
  t.match(lines[0], /^warn cannot write status file .*status\.json: ENOENT/);
  mkdirSync(dir);
  await sf.write(() => ({ generation: 5 }));
  t.equal(lines.length, 2);
  t.match(lines[1], /^info status file .*status\.json written again/);
  t.same(JSON.parse(readFileSync(file, 'utf8')), { generation: 5 });
});

t.test('a failed rename leaves no temporary file behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-status-'));
  const file = join(dir, 'status.json');
  mkdirSync(file); // a directory where the file should be: the rename fails
  const { lines, log } = logged();
  const sf = new StatusFile(file, log);
  await sf.write(() => ({ generation: 1 }));
  await sf.write(() => ({ generation: 2 }));
  t.equal(lines.length, 1);
  t.match(lines[0], /EISDIR/);
  t.same(readdirSync(dir), ['status.json'], 'no status.json.PID.tmp');
});

t.test('a list of objects is written one object per line; the rest as before', async (t) => {
  // The dns section lists every live name record: pretty-printed, 65,536 of them made a 25 MB
  // file rewritten every second. One line per record is about 28 % smaller and reads the same.
  const dir = mkdtempSync(join(tmpdir(), 'palisade-status-'));
  const file = join(dir, 'status.json');
  const sf = new StatusFile(file, logged().log);
  const records = Array.from({ length: 1000 }, (_, i) => ({ pod: '10.0.0.1', address: `192.0.${i >> 8}.${i & 255}`, names: ['api.example.com', 'edge.cdn.net'], ttl: 30, text: 'words' }));
  const rows: { name: string; status: unknown; lines?: string[] }[] = [
    { name: 'the dns records', status: { node: 'n1', dns: { at: 'now', records, counters: { answers: 3 } } }, lines: records.map((r, i) => `      ${JSON.stringify(r)}${i < records.length - 1 ? ',' : ''}`) },
    { name: 'no list of objects: as JSON.stringify(v, null, 2) writes it', status: { a: 1, b: undefined, c: null, d: [], e: {}, f: ['x', 1, null], g: [[1], [2]], h: new Date(0), i: { j: [true] }, k: () => 1 } },
    { name: 'a list mixing objects and other values', status: { l: [{ a: 1 }, 2] } },
  ];
  for (const r of rows) {
    await sf.write(() => r.status, { force: true });
    const text = readFileSync(file, 'utf8');
    t.same(JSON.parse(text), JSON.parse(JSON.stringify(r.status)), `${r.name}: reads back the same`);
    if (r.lines) {
      const lines = text.split('\n');
      for (const l of r.lines) if (!lines.includes(l)) { t.fail(`${r.name}: no line ${l}`); break; }
      const bound = records.reduce((a, x) => a + JSON.stringify(x).length + 8, 0) + 200;
      t.ok(text.length <= bound, `${r.name}: ${text.length} bytes, at most a row's JSON and its indent per record (${bound})`);
    } else t.equal(text, JSON.stringify(r.status, null, 2) + '\n', `${r.name}: the same text`);
  }
});

t.test('a large file is rewritten at most at bytesPerSecond; later requests are coalesced into one write', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-status-'));
  const file = join(dir, 'status.json');
  // About 6,000 bytes at 6,000 bytes/s: the next write waits about a second.
  const sf = new StatusFile(file, logged().log, { bytesPerSecond: 6000, maxDelayMs: 5000 });
  const big = (generation: number) => ({ generation, pad: 'x'.repeat(6000) });
  let asked = 0;
  await sf.write(() => (asked++, big(1)));
  const requests = [2, 3, 4].map((g) => sf.write(() => (asked++, big(g))));
  t.equal(JSON.parse(readFileSync(file, 'utf8')).generation, 1, 'not rewritten yet');
  await Promise.all(requests);
  t.equal(asked, 1, 'the requests returned at once, none written yet');
  // Written once the wait is over (about a second; polled, so a slow host cannot make it flaky).
  const until = Date.now() + 15_000;
  while (JSON.parse(readFileSync(file, 'utf8')).generation === 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.equal(JSON.parse(readFileSync(file, 'utf8')).generation, 4, 'then written once, with the status as it is then');
  t.equal(asked, 2, 'one write for the three requests');
  await sf.write(() => (asked++, big(5)), { force: true });
  t.equal(JSON.parse(readFileSync(file, 'utf8')).generation, 5, 'a forced write (the agent stopping) goes at once');
  // A small file (an agent with few records) waits a few microseconds: every request is written.
  const small = new StatusFile(join(dir, 'small.json'), logged().log);
  for (let g = 1; g <= 3; g++) {
    await small.write(() => ({ generation: g }));
    await new Promise((r) => setTimeout(r, 5));
  }
  t.equal(JSON.parse(readFileSync(join(dir, 'small.json'), 'utf8')).generation, 3, 'written each time');
});
