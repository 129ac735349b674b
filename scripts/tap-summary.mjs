// Reads tap's output and prints the plain closing line "N passed, N failed" (", N skipped").
import { readFileSync } from 'node:fs';
const text = readFileSync(process.argv[2], 'utf8');
const m = [...text.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?/gm)].pop();
if (!m) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const pass = Number(m[2] ?? 0), fail = Number(m[3] ?? 0), skip = Number(m[4] ?? 0);
console.log(`${pass} passed, ${fail} failed` + (skip ? `, ${skip} skipped` : ''));
