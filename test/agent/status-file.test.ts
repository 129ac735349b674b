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
