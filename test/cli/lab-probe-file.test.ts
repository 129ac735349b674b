// `lab probe`'s probe file against a lab's recorded state: every problem names the probe index and
// field, as verify's do, a pod the lab lacks included (with the pods the lab has there). Only
// the file reading runs here, on a state record written by hand: no namespace is touched.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLabProbes } from '../../src/cli/commands/lab.ts';
import type { LabState } from '../../src/lab/lab-state.ts';
import { tmpDir } from './run-cli.ts';

const ports = { tcp: [8080], udp: [], sctp: [] };
const pod = (ns: string, name: string, ips: string[]) => ({
  key: `${ns}/${name}`, namespace: ns, name, netns: `plab.t.pod.${ns}_${name}`, hostIf: `v-${name}`, ips, ports,
});
const state: LabState = {
  version: 1, name: 't', dir: '/nonexistent', nodeNetns: 'plab.t.node', node: { name: 'n1', ips: ['10.0.0.1'] },
  manifestsDir: '/nonexistent', externals: [], endpoints: {}, nodePorts: ports, nextSocket: 0,
  pods: [pod('backend', 'api', ['10.244.2.10']), pod('backend', 'worker', ['10.244.2.11']), pod('frontend', 'web', ['10.244.1.10'])],
} as unknown as LabState;

t.test('a probe naming something the lab lacks: its index, field and what the lab has', async (t) => {
  const file = join(tmpDir(), 'probes.yaml');
  const cases: [string, RegExp][] = [
    ['{from: frontend/web, to: backend/apii, port: 8080}', /^\S+probes\.yaml: probe\[1\]\.to: no pod backend\/apii in the lab \(pods of namespace backend: api, worker; /],
    ['{from: frontend/wbe, to: backend/api, port: 8080}', /^\S+probes\.yaml: probe\[1\]\.from: no pod frontend\/wbe in the lab \(pods of namespace frontend: web; /],
    ['{from: frontend/web, to: db/postgres, port: 5432}', /^\S+probes\.yaml: probe\[1\]\.to: no pod db\/postgres in the lab \(no pod in namespace db; namespaces with pods: backend, frontend; /],
    ['{from: frontend/web, to: 10.9.9.9, port: 80}', /^\S+probes\.yaml: probe\[1\]\.to: 10\.9\.9\.9 belongs to nothing in the lab/],
    ['{from: frontend/web, to: backend/api, port: 8080, family: IPv6}', /^\S+probes\.yaml: probe\[1\]\.from: pod frontend\/web has no IPv6 address/],
  ];
  for (const [bad, re] of cases) {
    writeFileSync(file, `- {from: frontend/web, to: backend/api, port: 8080}\n- ${bad}\n`);
    let msg = '';
    try {
      readLabProbes(file, state);
    } catch (e) {
      msg = (e as Error).message;
    }
    t.match(msg.split('\n')[0] ?? '', re, bad);
  }
  writeFileSync(file, '- {from: frontend/web, to: backend/api, port: 8080}\n- {from: node, to: backend/worker, port: 8080, expect: deny}\n');
  t.same(readLabProbes(file, state).map((p) => `${p.from} ${p.to}`), ['frontend/web backend/api', 'node backend/worker'], 'probes the lab has: read as written');
});
