// `palisade verify --manifests DIR` with the Network Policy API's cluster-scoped objects in the
// folder: they load like any manifest (no error, exit 0), and a bad one is reported at its
// file:line:col with the object and field, exit 1, no stack trace.

import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasStackTrace, runCli, tmpDir } from './run-cli.ts';

const cluster = `apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
status: {podIP: 10.0.0.1}
`;
const policies = `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-db}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: x}}}
  egress:
  - {name: no-ten, action: Deny, to: [{networks: [10.9.0.0/16]}], protocols: [{tcp: {destinationPort: {number: 80}}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: deny-db}
spec: {priority: 5, subject: {namespaces: {}}, ingress: [{action: Pass, from: [{namespaces: {}}]}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec: {subject: {namespaces: {}}, egress: [{action: Allow, to: [{networks: [0.0.0.0/0]}], ports: [{portNumber: {protocol: TCP, port: 80}}]}]}
`;
const probes = '- {from: x/a, to: 10.9.0.1, port: 80}\n';

function folder(files: Record<string, string>): string {
  const dir = tmpDir();
  mkdirSync(join(dir, 'm'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

t.test('cluster policies in the manifests folder load without error', async (t) => {
  const dir = folder({ 'm/cluster.yaml': cluster, 'm/policies.yaml': policies, 'probes.yaml': probes });
  const r = runCli(['verify', '--manifests', join(dir, 'm'), '--probes', join(dir, 'probes.yaml')]);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /error|ignored/, 'nothing reported, nothing ignored');
  t.match(r.stdout, /x\/a \(10\.0\.0\.1\)(\s+| -> )10\.9\.0\.1/);
});

t.test('a bad ClusterNetworkPolicy: file:line:col, object and field; exit 1; no stack trace', async (t) => {
  const bad = policies.replace('priority: 10', 'priority: 1001').replace('10.9.0.0/16', '10.9.0.0/99');
  const dir = folder({ 'm/cluster.yaml': cluster, 'm/policies.yaml': bad, 'probes.yaml': probes });
  const r = runCli(['verify', '--manifests', join(dir, 'm'), '--probes', join(dir, 'probes.yaml')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /policies\.yaml:6:3: ClusterNetworkPolicy deny-db: spec\.priority: must be between 0 and 1000, got 1001/);
  t.match(r.stderr, /policies\.yaml:9:\d+: ClusterNetworkPolicy deny-db: spec\.egress\[0\]\.to\[0\]\.networks\[0\]: invalid CIDR "10\.9\.0\.0\/99"/);
  t.notOk(hasStackTrace(r.stderr + r.stdout));
});
