// Edge.split lists the address variants of a group pair only when they are judged differently:
// an ipBlock that holds some replicas of a group cuts the group into cells, but when every rule
// decides those cells alike (here rule 0 admits the whole group before the ipBlock rule is
// reached) the edge is one, not a split whose variants say the same thing.

import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeConnectivity } from '../../src/analysis/connectivity.ts';
import { loadManifests } from '../../src/sources/manifests.ts';

const pod = (name: string, app: string, ip: string) => `---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: ${name}, labels: {app: ${app}}}
spec: {containers: [{name: c, image: x}]}
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;

const cluster = (secondRule: string) => `apiVersion: v1
kind: Namespace
metadata: {name: shop}
${pod('web-a', 'web', '10.0.0.1')}${pod('web-b', 'web', '10.0.1.1')}${pod('db', 'db', '10.0.2.1')}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - {from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}
  - ${secondRule}
`;

function dbEdge(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-split-'));
  writeFileSync(join(dir, 'cluster.yaml'), yaml);
  const { state } = loadManifests([dir]);
  rmSync(dir, { recursive: true });
  const c = computeConnectivity(state);
  return c.edges.find((e) => e.from === 'shop/web-*' && e.to === 'shop/db');
}

t.test('variants judged alike: one edge, no split', async (t) => {
  // web-a is in 10.0.0.0/24, web-b is not; both are admitted on 5432 by rule 0 either way.
  const e = dbEdge(cluster('{from: [{ipBlock: {cidr: 10.0.0.0/24}}], ports: [{port: 5432}]}'));
  t.ok(e, 'the group reaches db');
  t.equal(e!.split, undefined, 'not split');
  t.equal(e!.ports.TCP.map((r) => `${r.from}-${r.to}`).join(','), '5432-5432');
});

t.test('variants judged differently: split, each with its pods', async (t) => {
  // The ipBlock rule opens 6379 for web-a only.
  const e = dbEdge(cluster('{from: [{ipBlock: {cidr: 10.0.0.0/24}}], ports: [{port: 6379}]}'));
  t.ok(e?.split, 'split');
  t.same(e!.split!.map((v) => v.fromPods), [['shop/web-a'], ['shop/web-b']]);
  t.same(e!.split!.map((v) => v.ports.TCP.map((r) => `${r.from}-${r.to}`).join(',')), ['5432-5432,6379-6379', '5432-5432']);
});
