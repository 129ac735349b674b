// `palisade agent` refuses bad strict-mode and watchdog flags with one line naming the flag,
// before touching the kernel.

import t from 'tap';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { run, ROOT } from '../../support/netns.ts';

const dir = mkdtempSync(join(tmpdir(), 'pal-sflags-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const cases: { args: string[]; err: RegExp }[] = [
  { args: ['--strict', '--no-strict'], err: /--strict and --no-strict contradict each other/ },
  { args: ['--rules-check-ms', '50'], err: /--rules-check-ms must be 0 \(off\) or between 100 and 600000, got 50/ },
  { args: ['--rules-check-ms', '600001'], err: /--rules-check-ms must be between 0 and 600000/ },
  { args: ['--rules-check-ms', 'soon'], err: /--rules-check-ms must be a whole number, got "soon"/ },
  { args: ['--no-strict=maybe'], err: /flag --no-strict takes no value/ },
];

for (const c of cases) {
  t.test(c.args.join(' '), async (t) => {
    const r = await run(['node', join(ROOT, 'bin', 'palisade.js'), 'agent', '--node', 'n1', '--manifests', dir, ...c.args]);
    t.equal(r.code, 2, 'exit code');
    t.match(r.stderr, c.err);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}

t.test('help lists the flags', async (t) => {
  const r = await run(['node', join(ROOT, 'bin', 'palisade.js'), 'agent', '--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /--strict, --no-strict/);
  t.match(r.stdout, /--rules-check-ms N/);
});
