// `palisade lab up` reports what is wrong with its command line and its manifests before it asks
// anything of the machine: a mistake in them is found without root, and is not hidden behind
// "run it as root". The machine is made to lack every tool (an empty PATH; node is run by its
// full path), so a prerequisite check that came first would answer instead, with exit 3. Nothing
// is built: with the tools missing, nothing could be.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasStackTrace, runCliAsync, tmpDir } from './run-cli.ts';

const noTools = { ...process.env, PATH: tmpDir('palisade-empty-path-') };

const noNode = tmpDir();
writeFileSync(join(noNode, 'pod.yaml'), [
  'apiVersion: v1', 'kind: Pod', 'metadata: {name: a, namespace: x}',
  'spec: {containers: [{name: c, image: i}]}', 'status: {phase: Running, podIP: 10.244.1.5}', '',
].join('\n'));

t.test('lab up: flag and manifest mistakes before the prerequisites', async (t) => {
  const cases: { args: string[]; code: number; stderr: RegExp }[] = [
    { args: ['lab', 'up'], code: 2, stderr: /^palisade lab up: --manifests PATH\.\.\. is required/ },
    { args: ['lab', 'up', '--manifests', '/nonexistent-palisade-path'], code: 2, stderr: /^palisade lab up: .*\/nonexistent-palisade-path/ },
    { args: ['lab', 'up', '--manifests', noNode], code: 2, stderr: /^palisade lab up: the manifests hold no Node/m },
    { args: ['lab', 'up', '--manifests', 'examples/demo', '--external', 'bad name'], code: 2, stderr: /^palisade lab up: --external must be NAME=IP/ },
    // The manifests are good: now the machine is asked, and it lacks the tools.
    { args: ['lab', 'up', '--manifests', 'examples/demo'], code: 3, stderr: /^palisade lab up: missing prerequisites:\n(.*\n)*  - ip \(iproute2\): ip not found on PATH/ },
  ];
  for (const c of cases) {
    const r = await runCliAsync(c.args, { env: noTools });
    const name = c.args.join(' ');
    t.equal(r.code, c.code, `${name}: exit ${c.code}`);
    t.match(r.stderr, c.stderr, name);
    t.notOk(hasStackTrace(r.stderr), `${name}: no stack trace`);
    t.equal(r.stdout, '', `${name}: nothing on stdout`);
  }
});
