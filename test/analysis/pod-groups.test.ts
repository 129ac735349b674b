// Grouping replicas: members of a group must be judged alike. The node exemption (traffic between
// a pod and its own node is always allowed) tells two replicas apart when a pod endpoint holds
// one replica's node address (found by a seed of connectivity-differential.test.ts, 1120069853):
// such a replica is a group of its own, and only it reaches that pod past an egress deny-all.

import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeConnectivity } from '../../src/analysis/connectivity.ts';
import { loadManifests } from '../../src/sources/manifests.ts';

const node = (name: string, ip: string) => `---
apiVersion: v1
kind: Node
metadata: {name: ${name}}
status: {addresses: [{type: InternalIP, address: ${ip}}]}
`;
const pod = (name: string, app: string, ip: string, nodeName: string) => `---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: ${name}, labels: {app: ${app}}}
spec: {nodeName: ${nodeName}, containers: [{name: c, image: x}]}
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;

function connectivity(oddIP: string) {
  const yaml = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
${node('n1', '192.168.0.1')}${node('n2', '192.168.0.2')}${node('n3', '192.168.0.3')}${pod('web-a', 'web', '10.0.0.1', 'n1')}${pod('web-b', 'web', '10.0.0.2', 'n2')}${pod('odd', 'odd', oddIP, 'n3')}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: web-no-egress}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Egress]}
`;
  const dir = mkdtempSync(join(tmpdir(), 'palisade-groups-'));
  writeFileSync(join(dir, 'cluster.yaml'), yaml);
  const { state } = loadManifests([dir]);
  rmSync(dir, { recursive: true });
  return computeConnectivity(state);
}

t.test('a pod holding a replica\'s node address splits the group', async (t) => {
  const c = connectivity('192.168.0.2');
  const ids = c.endpoints.map((e) => e.id);
  t.ok(ids.includes('shop/web-a') && ids.includes('shop/web-b'), `web-a and web-b are endpoints of their own (${ids.join(', ')})`);
  t.ok(c.edges.some((e) => e.from === 'shop/web-b' && e.to === 'shop/odd'), 'web-b reaches odd: odd holds its node\'s address');
  t.notOk(c.edges.some((e) => e.from === 'shop/web-a' && e.to === 'shop/odd'), 'web-a does not: its egress is denied');
});

t.test('otherwise the replicas stay one group', async (t) => {
  const c = connectivity('10.0.9.9');
  t.ok(c.endpoints.some((e) => e.id === 'shop/web-*'), 'one group for web-a and web-b');
  t.notOk(c.edges.some((e) => e.from === 'shop/web-*' && e.to === 'shop/odd'), 'no edge to odd');
});
