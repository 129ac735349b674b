// `lab down` where the namespaces cannot be deleted (run without root, the commonest case): one
// line saying what failed and what to do, no stack trace, and not the "unexpected error" exit 70
// kept for bugs. `ip` is a stand-in on PATH that lists a lab namespace and refuses to delete it as
// ip does for a user without the privilege, so nothing real is listed or deleted.

import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasStackTrace, runCliAsync, tmpDir } from './run-cli.ts';

function fakeIp(onDelete: string, code: number): string {
  const dir = tmpDir('palisade-fake-ip-');
  writeFileSync(join(dir, 'ip'), [
    '#!/bin/sh',
    'case "$*" in',
    '  "netns list") echo "plab.nu-refused.node (id: 7)";;',
    '  "netns pids"*) exit 0;;',
    `  "netns delete"*) echo "${onDelete}" >&2; exit ${code};;`,
    '  *) echo "stand-in ip: $*" >&2; exit 1;;',
    'esac', '',
  ].join('\n'));
  chmodSync(join(dir, 'ip'), 0o755);
  return dir;
}

t.test('lab down: a namespace that cannot be deleted is one line, not an internal error', async (t) => {
  const cases: { name: string; path: string; code: number; stderr: RegExp }[] = [
    {
      name: 'not root', path: fakeIp('Cannot remove namespace file \\"/run/netns/plab.nu-refused.node\\": Permission denied', 1), code: 3,
      stderr: /^palisade lab down: lab "nu-refused": ip netns delete plab\.nu-refused\.node failed \(exit 1\): Cannot remove namespace file "\/run\/netns\/plab\.nu-refused\.node": Permission denied: run it as root \(sudo palisade lab down\)\n$/,
    },
    {
      name: 'another failure', path: fakeIp('Device or resource busy', 2), code: 1,
      stderr: /^palisade lab down: lab "nu-refused": ip netns delete plab\.nu-refused\.node failed \(exit 2\): Device or resource busy\n$/,
    },
  ];
  for (const c of cases) {
    for (const args of [['lab', 'down', '--name', 'nu-refused'], ['lab', 'down', '--all']]) {
      const r = await runCliAsync(args, { env: { ...process.env, PATH: c.path, PALISADE_LAB_STATE_DIR: tmpDir() } });
      const name = `${c.name}: ${args.join(' ')}`;
      t.equal(r.code, c.code, `${name}: exit ${c.code}`);
      t.match(r.stderr, c.stderr, name);
      t.notOk(hasStackTrace(r.stderr), `${name}: no stack trace`);
    }
  }
});
