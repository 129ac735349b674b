// Reads tap outputs and prints the plain closing line "N passed, N failed" (", N skipped")
// summed over them. A log with no tap summary counts as one failure.
import { readFileSync } from 'node:fs';

let pass = 0, fail = 0, skip = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  const m = [...text.matchAll(/^# \{ total: (\d+)([^}]*)\}/gm)].pop();
  if (!m) {
    fail++;
    continue;
  }
  const field = (name) => Number(new RegExp(`${name}: (\\d+)`).exec(m[2])?.[1] ?? 0);
  pass += field('pass');
  fail += field('fail');
  skip += field('skip');
}
console.log(`${pass} passed, ${fail} failed` + (skip ? `, ${skip} skipped` : ''));
