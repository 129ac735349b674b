// The files source the agent follows: diffs applied as one batch, broken files and invalid
// objects keep the last good state, deletions delete, and edits are picked up by fs.watch.

import t from 'tap';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterState, type Change } from '../../src/cluster/state.ts';
import { FilesSource } from '../../src/sources/files-source.ts';
import type { SyncInfo } from '../../src/sources/source.ts';

const pod = (name: string, ip: string, labels = 'app: web') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: {${labels}}}
spec: {nodeName: n1, containers: [{name: c, image: i}]}
status: {phase: Running, podIP: ${ip}}
`;
const policy = (name: string, port: number | string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: ${port}}]}]
`;

function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'pal-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const logs: string[] = [];
  const state = new ClusterState();
  const batches: Change[][] = [];
  state.onChange((c) => batches.push([...c]));
  const src = new FilesSource({ paths: [dir], rescanMs: 0, log: (_l, m) => logs.push(m) });
  t.teardown(() => src.stop());
  return { dir, state, batches, logs, src, write: (f: string, text: string) => writeFileSync(join(dir, f), text) };
}

t.test('first sync, then diffs as single batches', async (t) => {
  const { state, batches, src, write } = setup(t);
  write('pods.yaml', pod('a', '10.0.0.1') + '---\n' + pod('b', '10.0.0.2'));
  write('pol.yaml', policy('p1', 80));
  await src.start(state);
  t.same([...state.pods.keys()].sort(), ['shop/a', 'shop/b']);
  t.ok(state.namespaces.has('shop'), 'implicit namespace for pods without a Namespace object');
  t.equal(batches.length, 1, 'the first sync is one batch');

  write('pods.yaml', pod('a', '10.0.0.1') + '---\n' + pod('b', '10.0.0.9') + '---\n' + pod('c', '10.0.0.3'));
  src.syncNow();
  t.equal(batches.length, 2, 'one more batch');
  t.same(batches[1]!.map((c) => `${c.kind} ${c.key} ${c.before ? 'u' : 'a'}`).sort(), ['Pod shop/b u', 'Pod shop/c a'], 'only what changed');
  src.syncNow();
  t.equal(batches.length, 2, 'no change, no batch');

  unlinkSync(join(src['paths'][0]!, 'pol.yaml'));
  src.syncNow();
  t.notOk(state.policies.has('shop/p1'), 'deleting a file deletes its objects');
});

t.test('broken file: reported, skipped, last good objects kept', async (t) => {
  const { state, logs, src, write } = setup(t);
  write('pods.yaml', pod('a', '10.0.0.1'));
  write('pol.yaml', policy('p1', 80));
  await src.start(state);
  write('pol.yaml', policy('p1', 443) + 'x: [\n');
  const info = src.syncNow();
  t.match(info.errors.join('\n'), /pol\.yaml.*bad YAML.*keeping the objects it held/);
  t.equal(state.policies.get('shop/p1')!.ingress[0]!.ports[0]!.port, 80, 'the last good version stays');
  t.equal(logs.filter((l) => l.includes('bad YAML')).length, 1, 'reported');
  src.syncNow();
  t.equal(logs.filter((l) => l.includes('bad YAML')).length, 1, 'reported once, not on every pass');
  write('pol.yaml', policy('p1', 443));
  t.same(src.syncNow().errors, []);
  t.equal(state.policies.get('shop/p1')!.ingress[0]!.ports[0]!.port, 443, 'fixed file applied');
});

t.test('invalid object: rejected with its errors, last good version kept, rejection cleared later', async (t) => {
  const { state, src, write } = setup(t);
  write('pol.yaml', policy('p1', 80) + '---\n' + policy('p2', 81));
  await src.start(state);
  write('pol.yaml', policy('p1', 70000) + '---\n' + policy('p2', 82));
  const info = src.syncNow();
  t.match(info.errors.join('\n'), /NetworkPolicy shop\/p1.*port/, 'the error names the object and field');
  // The agent's log and its rejected list point at the line and column, as the CLI does.
  t.match(info.errors.join('\n'), /pol\.yaml:6:23: NetworkPolicy shop\/p1: spec\.ingress\[0\]\.ports\[0\]\.port: .* \(document 1\)/);
  t.match(state.rejected.get('NetworkPolicy shop/p1')?.[0]?.source, /pol\.yaml:6:23$/);
  t.equal(state.policies.get('shop/p1')!.ingress[0]!.ports[0]!.port, 80, 'p1 keeps its last good version');
  t.equal(state.policies.get('shop/p2')!.ingress[0]!.ports[0]!.port, 82, 'the rest of the file is applied');
  t.ok(state.rejected.has('NetworkPolicy shop/p1'));
  write('pol.yaml', policy('p2', 82));
  src.syncNow();
  t.notOk(state.policies.has('shop/p1'), 'removed from the file: deleted');
  t.notOk(state.rejected.has('NetworkPolicy shop/p1'), 'and no longer reported as rejected');
  write('pol.yaml', policy('p2', 82) + '---\n' + policy('p3', 'bad name!'));
  src.syncNow();
  t.ok(state.rejected.has('NetworkPolicy shop/p3'), 'never-valid object rejected');
  write('pol.yaml', policy('p2', 82));
  src.syncNow();
  t.notOk(state.rejected.has('NetworkPolicy shop/p3'), 'its rejection clears when it leaves the file');
});

t.test('edits are picked up without a manual pass (fs.watch)', async (t) => {
  const { state, src, write } = setup(t);
  write('pol.yaml', policy('p1', 80));
  await src.start(state);
  const synced = new Promise<SyncInfo>((resolve) => src.onSync((i) => {
    if (state.policies.get('shop/p1')?.ingress[0]?.ports[0]?.port === 8443) resolve(i);
  }));
  write('pol.yaml', policy('p1', 8443));
  const info = await synced;
  t.same(info.errors, []);
  t.pass('applied');
});

t.test('a missing path fails the start clearly', async (t) => {
  const src = new FilesSource({ paths: ['/nonexistent/palisade-manifests'], rescanMs: 0 });
  await t.rejects(src.start(new ClusterState()), /manifests path \/nonexistent\/palisade-manifests: no such file or directory/);
});

// Cluster-scoped policies (ClusterNetworkPolicy, and the v1alpha1 kinds keyed "Kind:name") flow
// through the same diff: replace, delete with the file, invalid keeps the last good version.
const cnp = (name: string, priority: number | string) => `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: ${name}}
spec:
  tier: Admin
  priority: ${priority}
  subject: {namespaces: {}}
  ingress: [{name: no-web, action: Deny, from: [{pods: {podSelector: {matchLabels: {app: web}}}}]}]
`;
const anp = (name: string) => `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: ${name}}
spec: {priority: 1, subject: {namespaces: {}}, egress: [{action: Allow, to: [{networks: [10.0.0.0/8]}]}]}
`;

t.test('cluster policies: added, replaced, deleted with their file; an invalid version keeps the last good one', async (t) => {
  const { state, batches, src, write, dir } = setup(t);
  write('pods.yaml', pod('a', '10.0.0.1'));
  write('cnp.yaml', cnp('guard', 10) + '---\n' + anp('guard'));
  await src.start(state);
  t.same([...state.clusterPolicies.keys()].sort(), ['AdminNetworkPolicy:guard', 'guard'], 'both, each under its own key');
  t.equal(state.clusterPolicies.get('guard')!.priority, 10);

  write('cnp.yaml', cnp('guard', 20) + '---\n' + anp('guard'));
  src.syncNow();
  t.same(batches.at(-1)!.map((c) => `${c.kind} ${c.key} ${c.before ? 'u' : 'a'}`), ['ClusterNetworkPolicy guard u'], 'replaced, nothing else touched');
  t.equal(state.clusterPolicies.get('guard')!.priority, 20);

  write('cnp.yaml', cnp('guard', 1001) + '---\n' + anp('guard'));
  const info = src.syncNow();
  t.match(info.errors.join('\n'), /cnp\.yaml:6:\d+: ClusterNetworkPolicy guard: spec\.priority: must be between 0 and 1000, got 1001/);
  t.equal(state.clusterPolicies.get('guard')!.priority, 20, 'last good version kept');

  write('cnp.yaml', anp('guard'));
  src.syncNow();
  t.same([...state.clusterPolicies.keys()], ['AdminNetworkPolicy:guard'], 'removed from the file: deleted (the ANP of the same name stays)');
  t.equal(state.rejected.size, 0, 'its rejection went with it');
  unlinkSync(join(dir, 'cnp.yaml'));
  src.syncNow();
  t.equal(state.clusterPolicies.size, 0, 'deleting the file deletes them');
});
