// Reads tap outputs and prints the plain closing line "N passed, N failed" (", N skipped")
// summed over them. A log with no tap summary counts as one failure. Above that line it lists
// every failed assertion with the files that hold it, because CI shows only the tail of its log
// and a failure nobody can name cannot be fixed.
import { readFileSync } from 'node:fs';

let pass = 0, fail = 0, skip = 0;
const failures = [];
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  // tap prints a subtest's assertions before its own "not ok" line, so the innermost failures
  // come first; the path of enclosing subtest names is the trail of open "# Subtest:" lines.
  const open = [];
  for (const line of text.split('\n')) {
    const sub = /^(\s*)# Subtest: (.*)$/.exec(line);
    if (sub) {
      const depth = sub[1].length / 4;
      open.length = depth;
      open[depth] = sub[2];
      continue;
    }
    const bad = /^(\s*)not ok \d+ - (.*?)(?: # time=.*)?$/.exec(line);
    if (bad) {
      const depth = bad[1].length / 4;
      // Only leaves: a subtest's own summary line sits at its "# Subtest:" line's depth, after
      // its children, and repeats their failure.
      if (open[depth] !== bad[2]) {
        failures.push(`${file}: ${[...open.slice(0, depth), bad[2]].filter(Boolean).join(' > ')}`);
      }
      open.length = depth;
    }
  }
  const m = [...text.matchAll(/^# \{ total: (\d+)([^}]*)\}/gm)].pop();
  if (!m) {
    failures.push(`${file}: no tap summary (the run ended early)`);
    fail++;
    continue;
  }
  const field = (name) => Number(new RegExp(`${name}: (\\d+)`).exec(m[2])?.[1] ?? 0);
  pass += field('pass');
  fail += field('fail');
  skip += field('skip');
}
if (failures.length) {
  console.log('failed:');
  for (const f of failures.slice(0, 40)) console.log(`  ${f}`);
  if (failures.length > 40) console.log(`  ... and ${failures.length - 40} more`);
}
console.log(`${pass} passed, ${fail} failed` + (skip ? `, ${skip} skipped` : ''));
