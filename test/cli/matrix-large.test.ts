// `palisade matrix` on 1,500 pods and 250 policies: the table has 2.25 million cells, and each
// was judged by the plain evaluator, which walks every pod to find an address's owner and every
// policy for each side (about 0.2 ms a cell: 2,000 pods and 500 policies took 15 minutes of CPU).
// The compiled engine that enforces (same answers, checked by the differential tests) judges a
// cell in a microsecond once it is built: this file takes seconds where it took minutes. Tests
// do not assert on time, so the figure is the README's (with its command); here the table is
// checked cell by cell on a sample of rows against the evaluator.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate } from '../../src/policy/evaluator.ts';
import { loadManifests } from '../../src/sources/manifests.ts';
import { runCli, tmpDir } from './run-cli.ts';

const NS = 25, PODS = 1500;

function cluster(): string {
  const docs: unknown[] = [];
  for (let n = 0; n < NS; n++) docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}`, labels: { 'kubernetes.io/metadata.name': `ns-${n}`, team: `t${n % 7}` } } });
  for (let i = 0; i < PODS; i++) {
    const app = Math.floor(i / NS) % 8;
    docs.push({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { namespace: `ns-${i % NS}`, name: `app${app}-${i}`, labels: { app: `app${app}`, tier: ['web', 'api', 'db'][app % 3] } },
      spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: app % 2 ? 8080 : 8081 }] }] },
      status: { phase: 'Running', podIPs: [{ ip: `10.64.${i >> 8}.${i & 255}` }] },
    });
  }
  for (let n = 0; n < NS; n++) {
    for (let k = 0; k < 10; k++) {
      docs.push({
        apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: `ns-${n}`, name: `pol-${k}` },
        spec: {
          podSelector: { matchLabels: { app: `app${k % 8}` } },
          ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'web' } } }, { namespaceSelector: { matchLabels: { team: `t${k % 7}` } } }, { ipBlock: { cidr: `10.64.${k % 4}.0/24`, except: [`10.64.${k % 4}.128/26`] } }], ports: [{ port: 'http' }, { port: 8000, endPort: 8000 + k * 20 }] }],
        },
      });
    }
  }
  const dir = tmpDir('palisade-matrix-large-');
  writeFileSync(join(dir, 'cluster.yaml'), docs.map((d) => JSON.stringify(d)).join('\n---\n') + '\n');
  return dir;
}

t.test('1,500 pods: the matrix equals the evaluator on sampled rows', async (t) => {
  const dir = cluster();
  const r = runCli(['matrix', '--manifests', dir, '--port', '8080', '--full-names']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n').map((l) => l.split('\t').map((c) => c.trim()));
  const cols = lines[0]!.slice(1);
  t.equal(cols.length, PODS);
  const { state } = loadManifests([dir]);
  const ip = (key: string) => state.pods.get(key)!.ips[0]!;
  const wrong: string[] = [];
  for (let row = 1; row < lines.length; row += 97) {
    const from = lines[row]![0]!;
    cols.forEach((to, j) => {
      const want = evaluate(state, { src: ip(from), dst: ip(to), protocol: 'TCP', port: 8080 }).allowed ? '.' : 'X';
      if (lines[row]![j + 1] !== want) wrong.push(`${from} -> ${to}: ${lines[row]![j + 1]}, evaluator ${want}`);
    });
  }
  t.same(wrong.slice(0, 5), [], 'sampled rows equal the evaluator');
});
