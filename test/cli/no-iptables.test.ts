// `palisade agent` and `palisade cleanup` on a machine where iptables cannot be used: the one line
// says which of the two causes it is (the tool is not installed, or it needs root) and what to
// do, not a question. The tools are stand-ins on an empty PATH (node is run by its full path), so
// nothing real is listed or changed whatever user runs the test.

import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasStackTrace, runCliAsync, tmpDir } from './run-cli.ts';

const TOOLS = ['iptables', 'ip6tables'].flatMap((base) => ['nft', 'legacy'].flatMap((b) => [`${base}-${b}`, `${base}-${b}-save`]));

/** A PATH whose iptables tools all print `said` on stderr and exit with `code`; none at all for undefined. */
function pathWith(said: string | undefined, code = 4): string {
  const dir = tmpDir('palisade-fake-iptables-');
  if (said !== undefined) {
    for (const tool of TOOLS) {
      writeFileSync(join(dir, tool), `#!/bin/sh\necho '${said}' >&2\nexit ${code}\n`);
      chmodSync(join(dir, tool), 0o755);
    }
  }
  return dir;
}

const cases: { name: string; path: string; stderr: RegExp }[] = [
  { name: 'not installed', path: pathWith(undefined), stderr: /iptables is not installed here \(neither iptables-nft nor iptables-legacy is on PATH\): install it \(apt-get install -y iptables\)\n$/ },
  {
    name: 'not root',
    path: pathWith('iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)'),
    stderr: /iptables needs root here: run it as root \(or with CAP_NET_ADMIN\) \(iptables-nft: .*Permission denied \(you must be root\)\)\n$/,
  },
  {
    name: 'another failure',
    path: pathWith('iptables: Table does not exist (do you need to insmod?)', 3),
    stderr: /neither iptables-nft nor iptables-legacy can list the filter table here: iptables-nft: iptables: Table does not exist \(do you need to insmod\?\); iptables-legacy: iptables: Table does not exist/,
  },
];

for (const [cmd, args] of [['agent', ['agent', '--node', 'n1', '--manifests', 'examples/demo']], ['cleanup', ['cleanup', '--dry-run']]] as const) {
  t.test(`${cmd}: why iptables cannot be used, in one line`, async (t) => {
    for (const c of cases) {
      const r = await runCliAsync([...args], { env: { ...process.env, PATH: c.path } });
      t.equal(r.code, 1, `${c.name}: exit 1`);
      const last = r.stderr.trimEnd().split('\n').pop() ?? '';
      t.match(last + '\n', new RegExp(`^palisade ${cmd}: `), `${c.name}: one line naming the command`);
      t.match(r.stderr, c.stderr, c.name);
      t.notOk(hasStackTrace(r.stderr), `${c.name}: no stack trace`);
    }
  });
}
