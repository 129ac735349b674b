// `palisade matrix` in a terminal: tab-separated (the e2e suite's truth-table style), and
// aligned, each column starting at the same place on every row once tabs are expanded (to
// stops of 8, a terminal's default, and of 4). Names of different lengths crossing a tab stop
// (backend/api, kube-system/coredns) used to shift the rows.

import t from 'tap';
import { runCli } from './run-cli.ts';

/** Where each tab-separated field starts once tabs are expanded to stops of `stop`. */
function fieldStarts(line: string, stop: number): number[] {
  const starts = [0];
  let col = 0;
  for (const ch of line) {
    if (ch === '\t') {
      col = (Math.floor(col / stop) + 1) * stop;
      starts.push(col);
    } else col++;
  }
  return starts;
}

t.test('the matrix lines up in a terminal and still splits on tabs', async (t) => {
  for (const port of ['80', '8080', '5432']) {
    const r = runCli(['matrix', '--manifests', 'examples/demo', '--port', port]);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    for (const stop of [8, 4]) {
      const starts = lines.map((l) => fieldStarts(l, stop).join(','));
      t.same(new Set(starts).size, 1, `port ${port}, tab stops of ${stop}: every row's columns start where the header's do (${[...new Set(starts)].join(' | ')})`);
    }
    const fields = lines.map((l) => l.split('\t').map((f) => f.trim()));
    t.same(fields[0], ['-', 'backend/api', 'db/postgres', 'frontend/web', 'kube-system/coredns'], `port ${port}: the header's fields, trimmed`);
    t.ok(fields.slice(1).every((row) => row.length === 5 && row.slice(1).every((c) => c === '.' || c === 'X')), `port ${port}: each row a pod and its cells`);
  }
});
