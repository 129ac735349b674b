// `lab down` of a name with nothing behind it (a typo'd --name): it must not read as if a lab
// went down, while the one meant stays up. Nothing is created here; the names are unused, and
// the state root is a temporary folder, so only `ip netns list` is read.

import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCliAsync, tmpDir } from './run-cli.ts';

t.test('lab down: says when there was nothing of that name', async (t) => {
  const root = tmpDir();
  const env = { ...process.env, PALISADE_LAB_STATE_DIR: root };
  const cases: { name: string; state: boolean; want: string }[] = [
    { name: 'nu-none-1', state: false, want: 'lab "nu-none-1": nothing to take down (no namespace, process or state of that name; palisade lab status lists the labs)\n' },
    // A state folder a crashed run left: removing it is something done.
    { name: 'nu-none-2', state: true, want: 'lab "nu-none-2": stopped 0 process(es), deleted 0 namespace(s), removed its state\n' },
  ];
  for (const c of cases) {
    if (c.state) {
      mkdirSync(join(root, c.name));
      writeFileSync(join(root, c.name, 'note'), 'left behind');
    }
    const r = await runCliAsync(['lab', 'down', '--name', c.name], { env });
    t.equal(r.code, 0, `${c.name}: exit 0 (${r.stderr.trim()})`);
    t.equal(r.stdout, c.want, c.name);
  }
});
