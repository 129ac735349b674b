// `palisade matrix` on many pods, or on pods with long names (Deployment replicas): the
// full-name table would be wider than a terminal (120 columns when stdout is not one), so the
// columns are numbered instead: row N is "N ns/name", column N is row N's pod, one character a
// cell, in blocks of columns that fit. A table that fits is printed as it always was.

import t from 'tap';
import { manyPodsDir } from './many-pods-fixture.ts';
import { runCli } from './run-cli.ts';
import { matrixLines } from '../../src/cli/matrix-table.ts';

interface Parsed {
  readonly layout: 'names' | 'numbered';
  /** The pods of the rows, in order. */
  readonly rows: string[];
  /** The pods of the columns, in order (numbered: the pods of the rows their numbers name). */
  readonly cols: string[];
  /** 'from -> to' -> the cell. */
  readonly cells: Map<string, string>;
  /** The widest line once tabs are expanded to stops of 8. */
  readonly width: number;
  readonly blocks: number;
  readonly problems: string[];
}

const shown = (l: string) => l.replace(/[^\t]*\t/g, (s) => s.slice(0, -1).padEnd((Math.floor((s.length - 1) / 8) + 1) * 8));

function parse(text: string): Parsed {
  const lines = text.replace(/\n$/, '').split('\n');
  const width = Math.max(...lines.map((l) => shown(l).length));
  const problems: string[] = [];
  const cells = new Map<string, string>();
  if (/^-[ \t]/.test(lines[0]!)) {
    const f = lines.map((l) => l.split('\t').map((x) => x.trim()));
    const cols = f[0]!.slice(1);
    for (const row of f.slice(1)) row.slice(1).forEach((c, j) => cells.set(`${row[0]} -> ${cols[j]}`, c));
    return { layout: 'names', rows: f.slice(1).map((r) => r[0]!), cols, cells, width, blocks: 1, problems };
  }
  const rows: string[] = [];
  const colNums: number[] = [];
  const blocks = text.replace(/\n$/, '').split('\n\n');
  for (const [b, block] of blocks.entries()) {
    const bl = block.split('\n');
    const first = bl.findIndex((l) => /^ *\d+ [^ /]+\/\S+ /.test(l));
    const header = bl.slice(0, first);
    if (header.length === 0 || header.some((l) => !/^[ \d]+$/.test(l))) problems.push(`block ${b}: header lines of digits, got ${JSON.stringify(header)}`);
    // The number over each character position: the header lines' digits there, read downwards.
    const numberAt = (p: number) => Number(header.map((l) => l[p] ?? ' ').join('').trim() || NaN);
    bl.slice(first).forEach((l, i) => {
      const m = /^( *(\d+) (\S+) +)(\S.*)$/.exec(l);
      if (!m) return void problems.push(`block ${b}: not a row: ${JSON.stringify(l)}`);
      if (Number(m[2]) !== i + 1) problems.push(`block ${b}: row ${i + 1} is numbered ${m[2]}`);
      if (b === 0) rows.push(m[3]!);
      else if (rows[i] !== m[3]) problems.push(`block ${b}: row ${i + 1} is ${m[3]}, in block 0 ${rows[i]}`);
      const colsHere: number[] = [];
      [...m[4]!].forEach((c, k) => {
        const p = m[1]!.length + k;
        if (c === ' ') {
          if (!Number.isNaN(numberAt(p))) problems.push(`block ${b}: column ${numberAt(p)} has no cell in row ${i + 1}`);
          return;
        }
        colsHere.push(numberAt(p));
        cells.set(`${i + 1} -> ${numberAt(p)}`, c);
      });
      if (i === 0) colNums.push(...colsHere);
    });
  }
  // The cells by row number and column number, renamed to the pods the rows name.
  const named = new Map<string, string>();
  for (const [k, c] of cells) {
    const [r, col] = k.split(' -> ').map(Number);
    named.set(`${rows[r! - 1]} -> ${rows[col! - 1]}`, c);
  }
  if (colNums.join() !== rows.map((_, i) => i + 1).join()) problems.push(`columns numbered ${colNums.join(' ')}, rows 1 to ${rows.length}`);
  return { layout: 'numbered', rows, cols: colNums.map((n) => rows[n - 1]!), cells: named, width, blocks: blocks.length, problems };
}

// [what, pods, short names, extra flags, layout, blocks]
const CASES: [string, number, boolean, string[], 'names' | 'numbered', number][] = [
  ['45 pods named as replicas', 45, false, [], 'numbered', 1],
  ['5 pods named as replicas: five long names are too wide already', 5, false, [], 'numbered', 1],
  ['45 pods with short names: too many columns', 45, true, [], 'numbered', 1],
  ['120 pods named as replicas: the columns in blocks that fit', 120, false, [], 'numbered', 3],
  ['5 pods with short names: the table as it always was', 5, true, [], 'names', 1],
  ['45 pods named as replicas, --full-names: the table as it always was, however wide', 45, false, ['--full-names'], 'names', 1],
];

for (const [what, count, short, extra, layout, blocks] of CASES) {
  t.test(what, async (t) => {
    const m = manyPodsDir(count, short);
    for (const why of [false, true]) {
      const args = ['matrix', '--manifests', m.dir, '--port', '8080', ...extra, ...(why ? ['--why'] : [])];
      const r = runCli(args);
      const name = `${why ? '--why' : 'no --why'}`;
      t.equal(r.code, 0, `${name}: exit 0 (${r.stderr})`);
      const p = parse(r.stdout);
      t.equal(p.layout, layout, `${name}: layout`);
      t.same(p.problems, [], `${name}: the numbered layout reads back`);
      t.same(p.rows, m.keys, `${name}: a row per pod, sorted`);
      t.same(p.cols, m.keys, `${name}: a column per pod, column N the pod of row N`);
      if (layout === 'numbered') t.ok(p.width <= 120, `${name}: every line fits in 120 columns (widest ${p.width})`);
      t.equal(p.blocks, blocks, `${name}: blocks of columns`);
      const wrong = m.keys.flatMap((from) => m.keys.filter((to) => p.cells.get(`${from} -> ${to}`) !== m.verdict(from, to, why)).map((to) => `${from} -> ${to}: ${p.cells.get(`${from} -> ${to}`)}, want ${m.verdict(from, to, why)}`));
      t.same(wrong.slice(0, 5), [], `${name}: every cell (${wrong.length} wrong)`);
      // One denied cell by hand: a shipping pod to payments' ledger, denied by the NetworkPolicy.
      const from = m.keys.find((k) => /^(shipping|sh)\//.test(k))!;
      const to = m.keys.find((k) => /^(payments|pa)\/(ledger|p3$)/.test(k))!;
      t.equal(p.cells.get(`${from} -> ${to}`), why ? 'N' : 'X', `${name}: ${from} -> ${to} (row ${p.rows.indexOf(from) + 1}, column ${p.cols.indexOf(to) + 1})`);
      t.equal(p.cells.get(`${to} -> ${from}`), '.', `${name}: ${to} -> ${from}`);
    }
  });
}

// The width is the terminal's when stdout is one: the same table, laid out for 80 and 250 columns.
t.test('the limit decides the layout and the blocks', async (t) => {
  const keys = Array.from({ length: 30 }, (_, i) => `team-${i % 3}/worker-${i}`).sort();
  const cells = keys.map((from) => keys.map((to) => (from.slice(0, 6) === to.slice(0, 6) ? '.' : 'X')));
  // [limit, layout, blocks]
  const cases: [number, 'names' | 'numbered', number][] = [
    [Infinity, 'names', 1],
    [800, 'names', 1],
    [250, 'numbered', 1],
    // The labels ("30 team-0/worker-12", 2 spaces after) take 21: 60 leaves room for 6 groups of 5.
    [60, 'numbered', 1],
    [50, 'numbered', 2],
    [30, 'numbered', 6],
  ];
  for (const [limit, layout, blocks] of cases) {
    const p = parse(matrixLines(keys, cells, limit).join('\n') + '\n');
    t.equal(p.layout, layout, `limit ${limit}: layout`);
    t.same(p.problems, [], `limit ${limit}: reads back`);
    t.same(p.cols, keys, `limit ${limit}: columns`);
    if (layout === 'numbered') t.ok(p.width <= limit, `limit ${limit}: widest line ${p.width}`);
    t.equal(p.blocks, blocks, `limit ${limit}: blocks`);
    const wrong = keys.flatMap((from, i) => keys.filter((to, j) => p.cells.get(`${from} -> ${to}`) !== cells[i]![j]));
    t.same(wrong, [], `limit ${limit}: every cell`);
  }
});
