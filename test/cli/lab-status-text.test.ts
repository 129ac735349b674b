// `lab status` text from a lab's recorded state and its agent's status file: a manifest the
// agent left out of the followed folder (a typo'd field after an edit) shows there, not only
// in the agent's log. Only the text is built here, from records written by hand: no namespace
// is touched.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeLab } from '../../src/cli/commands/lab.ts';
import type { LabState } from '../../src/lab/lab-state.ts';
import { tmpDir } from './run-cli.ts';

const ports = { tcp: [8080], udp: [], sctp: [] };
const dir = tmpDir();

function lab(statusFiles: string[]): LabState {
  return {
    version: 1, name: 't', dir, nodeNetns: 'plab.t.node', node: { name: 'n1', ips: ['10.0.0.1'] },
    manifestsDir: join(dir, 'manifests'), externals: [], endpoints: {}, nodePorts: ports, nextSocket: 0,
    pods: [{ key: 'backend/api', namespace: 'backend', name: 'api', netns: 'plab.t.pod.backend_api', hostIf: 'v-api', ips: ['10.244.2.10'], ports }],
    // This process stands in for the agent: alive, so its status file is what is shown.
    agents: statusFiles.map((f, i) => ({ node: `n${i + 1}`, pid: process.pid, backend: 'nfqueue', statusFile: f, log: join(dir, `agent${i}.log`), argv: [] })),
  } as unknown as LabState;
}

const ERR1 = `${dir}/manifests/typo.yaml:12:7: NetworkPolicy frontend/web-ingress: spec.ingress[0].form: unknown field "form" (known fields: from, ports) (document 1)`;
const ERR2 = `${dir}/manifests/other.yaml:3:1: NetworkPolicy x/y: spec: required (document 1)`;

t.test('manifest errors the agent did not apply are named in lab status', async (t) => {
  const cases: { name: string; errors: string[]; want: RegExp | undefined }[] = [
    { name: 'none', errors: [], want: undefined },
    { name: 'one', errors: [ERR1], want: new RegExp(`^manifests: 1 error\\(s\\), not applied by the agent \\(a changed object keeps its last good version; the rest is enforced\\): ${ERR1.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm') },
    { name: 'two', errors: [ERR1, ERR2], want: /^manifests: 2 error\(s\), not applied by the agent \(a changed object keeps its last good version; the rest is enforced\): \S+typo\.yaml:12:7: .*; and 1 more, in the agent's log \S+agent0\.log$/m },
  ];
  for (const c of cases) {
    const f = join(dir, `status-${c.name}.json`);
    writeFileSync(f, JSON.stringify({ pid: process.pid, ready: true, stopped: false, generation: 3, sourceErrors: c.errors }));
    const text = describeLab(lab([f]));
    t.match(text, /ready, generation 3/, `${c.name}: the agent line as before`);
    if (c.want) t.match(text, c.want, `${c.name}: the left-out documents`);
    else t.notMatch(text, /not applied/, `${c.name}: nothing said`);
  }
  // Every agent of a multi-node lab follows the same folder: said once.
  const f = join(dir, 'status-one.json');
  t.equal(describeLab(lab([f, f])).match(/not applied by the agent/g)?.length, 1, 'multi-node: one line');
});
