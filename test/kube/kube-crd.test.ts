// The Network Policy API kinds are CRDs a cluster may not have. Against the fake API server: a
// CRD absent at start is not an error and does not hold up the first sync; installed later, its
// kind is picked up; removed, its objects leave the state and the source waits for it again.

import t from 'tap';
import { startHarness, waitFor, type Harness } from '../support/kube-fixtures.ts';
import type { FakeKind, RawObject } from '../../support/fake-apiserver.ts';

const CNP_PATH = '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies';
const CNP_BETA_PATH = '/apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies';
const ANP_PATH = '/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies';

const rule = { name: 'no-db', action: 'Deny', to: [{ namespaces: { matchLabels: { ns: 'y' } } }] };
const cnp = (name: string, priority = 10): RawObject => ({
  kind: 'ClusterNetworkPolicy', apiVersion: 'policy.networking.k8s.io/v1alpha2', metadata: { name },
  spec: { tier: 'Admin', priority, subject: { namespaces: { matchLabels: { ns: 'x' } } }, egress: [rule] },
});
const anp = (name: string): RawObject => ({
  kind: 'AdminNetworkPolicy', apiVersion: 'policy.networking.k8s.io/v1alpha1', metadata: { name },
  spec: { priority: 5, subject: { namespaces: {} }, egress: [{ ...rule, action: 'Allow' }] },
});
const banp = (): RawObject => ({
  kind: 'BaselineAdminNetworkPolicy', apiVersion: 'policy.networking.k8s.io/v1alpha1', metadata: { name: 'default' },
  spec: { subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] },
});

// Short re-check backoff so "installed later" is seen quickly; the default is 5 s up to 5 min.
const fast = { source: { crdRecheckInitialMs: 50, crdRecheckMaxMs: 200 } };

function lines(h: Harness, re: RegExp) {
  return h.logs.filter((l) => re.test(l.msg));
}

t.test('CRDs absent at start: synced and connected at once, one log line per kind, no error', async (t) => {
  const h = await startHarness(fast);
  t.teardown(() => h.close());
  const st = h.source.status();
  t.equal(st.synced, true, 'start() resolved: the first sync did not wait for the absent kinds');
  await waitFor('connected: an absent kind has nothing to watch and does not count as disconnected', () => h.source.status().connected);
  for (const k of ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'] as const) {
    t.match(st.resources[k], { listed: true, absent: true, errors: 0, objects: 0 }, `${k}: listed as absent`);
    t.notOk(st.resources[k].lastError, `${k}: no error recorded`);
  }
  t.equal(h.state.pods.size, 3, 'the rest of the cluster is there');
  // Several re-checks later, still exactly one line per kind, and nothing at warn level.
  await waitFor('re-checked', () => h.server.requests.filter((r) => r.path === CNP_PATH && r.status === 404).length >= 3);
  t.equal(lines(h, /ClusterNetworkPolicy is not served/).length, 1, 'one line, not one per re-check');
  t.match(lines(h, /ClusterNetworkPolicy is not served/)[0], { level: 'info', fields: { resource: CNP_PATH } });
  t.equal(lines(h, /is not served/).length, 3, 'one per kind');
  t.same(h.logs.filter((l) => l.level !== 'info').map((l) => l.msg), [], 'no warnings or errors');
  t.equal(h.source.status().relists, 0, '404 re-checks are not relists');
});

t.test('a CRD installed later is picked up; a v1alpha1 policy may share a ClusterNetworkPolicy\'s name', async (t) => {
  const h = await startHarness(fast);
  t.teardown(() => h.close());
  h.server.installCRD('ClusterNetworkPolicy');
  h.server.apply(cnp('guard'));
  await waitFor('ClusterNetworkPolicy picked up', () => h.state.clusterPolicies.has('guard'));
  t.match(h.state.clusterPolicies.get('guard'), { kind: 'ClusterNetworkPolicy', tier: 'Admin', priority: 10, egress: [{ name: 'no-db', action: 'Deny' }] });
  t.match(h.source.status().resources.ClusterNetworkPolicy, { absent: false, connected: true });
  t.equal(lines(h, /ClusterNetworkPolicy is served now/).length, 1);
  // From here on it is watched like any kind: update and delete arrive as events.
  await waitFor('watching', () => h.server.openWatches('ClusterNetworkPolicy') === 1);
  h.server.apply(cnp('guard', 20));
  await waitFor('update', () => h.state.clusterPolicies.get('guard')?.priority === 20);

  h.server.installCRD('AdminNetworkPolicy');
  h.server.installCRD('BaselineAdminNetworkPolicy');
  h.server.apply(anp('guard'));
  h.server.apply(banp());
  await waitFor('v1alpha1 kinds picked up', () => h.state.clusterPolicies.has('AdminNetworkPolicy:guard') && h.state.clusterPolicies.has('BaselineAdminNetworkPolicy:default'));
  t.match(h.state.clusterPolicies.get('AdminNetworkPolicy:guard'), { tier: 'Admin', egress: [{ action: 'Accept' }] });
  t.match(h.state.clusterPolicies.get('BaselineAdminNetworkPolicy:default'), { tier: 'Baseline', priority: 0 });
  h.server.remove('AdminNetworkPolicy', 'guard');
  await waitFor('ANP deleted', () => !h.state.clusterPolicies.has('AdminNetworkPolicy:guard'));
  t.ok(h.state.clusterPolicies.has('guard'), 'deleting the AdminNetworkPolicy guard leaves the ClusterNetworkPolicy guard alone');
  t.equal(h.source.status().connected, true);
});

t.test('an invalid ClusterNetworkPolicy from the API is rejected naming the field; the last good version stays', async (t) => {
  const h = await startHarness(fast);
  t.teardown(() => h.close());
  h.server.installCRD('ClusterNetworkPolicy');
  h.server.apply(cnp('guard'));
  await waitFor('applied', () => h.state.clusterPolicies.has('guard'));
  h.server.apply(cnp('guard', 1001));
  await waitFor('rejected', () => h.state.rejected.has('ClusterNetworkPolicy guard'));
  t.match(h.state.rejected.get('ClusterNetworkPolicy guard'), [{ object: 'ClusterNetworkPolicy guard', field: 'spec.priority', message: 'must be between 0 and 1000, got 1001', source: 'kube-apiserver' }]);
  t.equal(h.state.clusterPolicies.get('guard')?.priority, 10, 'last good version in force');
});

// The CRDs store a subject selector no selector can be built from (they run no label-selector
// validation); it has no safe meaning, so the update is rejected naming the field, and the
// last good version (its Deny rule) must stay in force, the log saying so. One row per kind.
const badSubject: [string, RawObject, string, string][] = [
  ['ClusterNetworkPolicy, unknown operator', { ...cnp('guard'), spec: { ...(cnp('guard').spec as object), subject: { namespaces: { matchExpressions: [{ key: 'ns', operator: 'Equals', values: ['x'] }] } } } },
    'guard', 'spec.subject.namespaces.matchExpressions[0].operator'],
  ['AdminNetworkPolicy, In without values', { ...anp('guard'), spec: { ...(anp('guard').spec as object), subject: { pods: { namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } } } } },
    'AdminNetworkPolicy:guard', 'spec.subject.pods.podSelector.matchExpressions[0].values'],
  ['BaselineAdminNetworkPolicy, bad label key', { ...banp(), spec: { ...(banp().spec as object), subject: { namespaces: { matchLabels: { 'bad key': 'x' } } } } },
    'BaselineAdminNetworkPolicy:default', 'spec.subject.namespaces.matchLabels[bad key]'],
];

t.test('a cluster policy updated to a subject selector that cannot be built: rejected naming the field, the last good version stays in force', async (t) => {
  const h = await startHarness(fast);
  t.teardown(() => h.close());
  for (const kind of ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'] as const) h.server.installCRD(kind);
  for (const [name, bad, id, field] of badSubject) {
    const good = bad.kind === 'ClusterNetworkPolicy' ? cnp('guard') : bad.kind === 'AdminNetworkPolicy' ? anp('guard') : banp();
    h.server.apply(good);
    await waitFor(`${name}: applied`, () => h.state.clusterPolicies.has(id));
    const before = h.state.clusterPolicies.get(id);
    h.server.apply(bad);
    const rejectedId = `${bad.kind} ${id}`;
    await waitFor(`${name}: rejected`, () => h.state.rejected.has(rejectedId));
    t.match(h.state.rejected.get(rejectedId), [{ object: `${bad.kind} ${(bad.metadata as { name: string }).name}`, field, message: /selects no safe set of pods, so the policy is rejected/, source: 'kube-apiserver' }], `${name}: the error names the object and field`);
    t.strictSame(h.state.clusterPolicies.get(id), before, `${name}: the last good version stays in force`);
    const line = h.logs.find((l) => l.msg.startsWith('object rejected') && (l.fields?.object as string) === rejectedId);
    t.match(line, { level: 'warn', msg: /the previous valid version \(if any\) stays in force/, fields: { keptPrevious: true } }, `${name}: the log says the last good version is kept`);
    h.server.remove(bad.kind as FakeKind, (bad.metadata as { name: string }).name);
    await waitFor(`${name}: deleted`, () => !h.state.clusterPolicies.has(id) && !h.state.rejected.has(rejectedId));
  }
});

t.test('a CRD removed: its objects leave the state, the source waits for it again, and picks it up when it is back', async (t) => {
  const h = await startHarness({
    ...fast,
    seed: (s) => {
      s.installCRD('ClusterNetworkPolicy');
      s.installCRD('AdminNetworkPolicy');
      s.apply(cnp('a'));
      s.apply(cnp('b'));
      s.apply(anp('c'));
    },
  });
  t.teardown(() => h.close());
  t.same([...h.state.clusterPolicies.keys()].sort(), ['AdminNetworkPolicy:c', 'a', 'b'], 'present at start');
  t.equal(h.source.status().resources.ClusterNetworkPolicy.absent, false);
  t.equal(lines(h, /ClusterNetworkPolicy is not served/).length, 0);
  await waitFor('watching', () => h.server.openWatches('ClusterNetworkPolicy') === 1 && h.server.openWatches('AdminNetworkPolicy') === 1);

  // As kube-apiserver does it: the CRD's finalizer deletes every object (DELETED events), the
  // watch ends, and the path is gone (404).
  h.server.removeCRD('ClusterNetworkPolicy');
  await waitFor('objects deleted', () => !h.state.clusterPolicies.has('a') && !h.state.clusterPolicies.has('b'));
  await waitFor('absent again', () => h.source.status().resources.ClusterNetworkPolicy.absent);
  t.equal(lines(h, /ClusterNetworkPolicy is not served/).length, 1, 'said once');
  t.ok(h.state.clusterPolicies.has('AdminNetworkPolicy:c'), 'other kinds untouched');

  // Without the DELETED events (a client that missed them): the 404 alone clears the kind.
  h.server.removeCRD('AdminNetworkPolicy', { silently: true });
  await waitFor('ANP cleared by the 404', () => !h.state.clusterPolicies.has('AdminNetworkPolicy:c'));
  t.match(lines(h, /^AdminNetworkPolicy is not served/), [{ level: 'info', fields: { resource: ANP_PATH, deleted: 1 } }]);
  t.equal(h.source.status().resources.AdminNetworkPolicy.objects, 0);
  t.equal(h.source.status().connected, true, 'an absent kind is no disconnection');
  t.equal(h.source.status().resources.AdminNetworkPolicy.errors, 0);

  // Back again.
  h.server.installCRD('ClusterNetworkPolicy');
  h.server.apply(cnp('d'));
  await waitFor('picked up again', () => h.state.clusterPolicies.has('d'));
  t.notOk(h.state.clusterPolicies.has('a'), 'nothing stale comes back');
  t.equal(h.source.status().resources.ClusterNetworkPolicy.absent, false);
});

t.test('a CRD removed while the source is disconnected: the relist\'s 404 clears the kind', async (t) => {
  const h = await startHarness({ ...fast, seed: (s) => { s.installCRD('ClusterNetworkPolicy'); s.apply(cnp('a')); } });
  t.teardown(() => h.close());
  t.ok(h.state.clusterPolicies.has('a'));
  await h.server.stop();
  h.server.removeCRD('ClusterNetworkPolicy', { silently: true });
  h.server.compact();
  await h.server.start();
  await waitFor('cleared', () => h.state.clusterPolicies.size === 0);
  await waitFor('absent', () => h.source.status().resources.ClusterNetworkPolicy.absent);
});

t.test('ClusterNetworkPolicy in whichever version its CRD serves: v1beta1 preferred, v1alpha2 otherwise, an upgrade that drops the watched version loses nothing', async (t) => {
  const h = await startHarness({ ...fast, seed: (s) => { s.installCRD('ClusterNetworkPolicy'); s.apply(cnp('a')); } });
  t.teardown(() => h.close());
  // A CRD of a release before v1beta1: its 404 sends the source to v1alpha2 at once, quietly.
  t.ok(h.state.clusterPolicies.has('a'), 'found through v1alpha2 at the first sync');
  t.match(h.source.status().resources.ClusterNetworkPolicy, { apiVersion: 'policy.networking.k8s.io/v1alpha2', absent: false, errors: 0 });
  t.same(h.server.requests.filter((r) => r.path === CNP_BETA_PATH).map((r) => r.status), [404], 'v1beta1 asked once');
  t.match(lines(h, /ClusterNetworkPolicy/), [{ level: 'info', msg: 'ClusterNetworkPolicy: watching policy.networking.k8s.io/v1alpha2', fields: { resource: CNP_PATH } }], 'one line: the version watched');
  await waitFor('watching v1alpha2', () => h.server.openWatches('ClusterNetworkPolicy') === 1);

  // Every change of the state from here on: the policy must never leave it.
  const deletes: string[] = [];
  h.state.onChange((cs) => { for (const c of cs) if (c.kind === 'ClusterNetworkPolicy' && c.after === undefined) deletes.push(c.key); });
  // The CRD upgraded to serve both: the source stays where it is.
  h.server.serveVersions('ClusterNetworkPolicy', ['v1alpha2', 'v1beta1']);
  h.server.apply(cnp('a', 20));
  await waitFor('update through v1alpha2', () => h.state.clusterPolicies.get('a')?.priority === 20);
  // Then v1alpha2 dropped: the watch ends, its relist 404s, and v1beta1 takes over with the same objects.
  h.server.serveVersions('ClusterNetworkPolicy', ['v1beta1']);
  await waitFor('watching v1beta1', () => h.source.status().resources.ClusterNetworkPolicy.apiVersion === 'policy.networking.k8s.io/v1beta1' && h.server.openWatches('ClusterNetworkPolicy') === 1);
  t.match(lines(h, /ClusterNetworkPolicy .* is not served/), [{ level: 'info', msg: 'ClusterNetworkPolicy policy.networking.k8s.io/v1alpha2 is not served any more; watching policy.networking.k8s.io/v1beta1', fields: { resource: CNP_BETA_PATH } }]);
  t.same(lines(h, /^ClusterNetworkPolicy is not served \(its CRD/), [], 'never absent');
  h.server.apply(cnp('b', 30));
  await waitFor('a new policy through v1beta1', () => h.state.clusterPolicies.get('b')?.priority === 30);
  t.same(deletes, [], 'the policy stayed in force through the switch');
  t.equal(h.state.clusterPolicies.get('a')?.priority, 20);
  t.match(h.source.status().resources.ClusterNetworkPolicy, { absent: false, connected: true, errors: 0 });

  // The CRD removed in every version: absent, objects out; back with v1beta1 alone: found there.
  h.server.removeCRD('ClusterNetworkPolicy');
  await waitFor('absent', () => h.source.status().resources.ClusterNetworkPolicy.absent && h.state.clusterPolicies.size === 0);
  h.server.installCRD('ClusterNetworkPolicy', ['v1beta1']);
  h.server.apply(cnp('c'));
  await waitFor('picked up through v1beta1', () => h.state.clusterPolicies.has('c'));
  t.equal(h.source.status().resources.ClusterNetworkPolicy.apiVersion, 'policy.networking.k8s.io/v1beta1');
});

t.test('a CRD serving both versions is watched in v1beta1 only', async (t) => {
  const h = await startHarness({ ...fast, seed: (s) => { s.installCRD('ClusterNetworkPolicy', ['v1alpha2', 'v1beta1']); s.apply(cnp('a')); } });
  t.teardown(() => h.close());
  t.ok(h.state.clusterPolicies.has('a'));
  await waitFor('watching', () => h.server.openWatches('ClusterNetworkPolicy') === 1);
  t.equal(h.source.status().resources.ClusterNetworkPolicy.apiVersion, 'policy.networking.k8s.io/v1beta1');
  t.same(h.server.requests.filter((r) => r.path === CNP_PATH), [], 'v1alpha2 never read');
});
