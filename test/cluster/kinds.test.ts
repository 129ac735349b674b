// The kinds registry: every kind Palisade reads is one entry, and decode, the state and the
// sources find the kind's API path, apiVersion, scope, decoder and store through it.

import t from 'tap';
import { KIND, KINDS, KINDS_IN_APPLY_ORDER, apiVersionOf, apiVersionsOf, keyOfObject, kindEntry, resourcePath } from '../../src/cluster/kinds.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { ClusterState, type Change } from '../../src/cluster/state.ts';

// One minimal valid object of each kind, as a manifest would hold it, and its state key.
// The cluster policies share one store, keyed by clusterPolicyId: a v1alpha1 kind's key carries the kind.
const keys: Record<string, string> = {
  Namespace: 'x', Pod: 'x/a', Node: 'n1', NetworkPolicy: 'x/p',
  ClusterNetworkPolicy: 'c', AdminNetworkPolicy: 'AdminNetworkPolicy:c', BaselineAdminNetworkPolicy: 'BaselineAdminNetworkPolicy:default',
};
const cpSpec = { subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] };
const samples: Record<string, Record<string, unknown>> = {
  Namespace: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } },
  Pod: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'x' }, status: { podIP: '10.0.0.1' } },
  Node: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'x' }, spec: {} },
  ClusterNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'c' }, spec: { tier: 'Admin', priority: 1, ...cpSpec } },
  AdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: 'c' }, spec: { priority: 1, ...cpSpec } },
  BaselineAdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec: cpSpec },
};

t.test('entries: API paths, apiVersions and scope as the API server serves them', async (t) => {
  t.same(
    KINDS.map((k) => [k.kind, apiVersionOf(k), resourcePath(k), k.namespaced, k.store]),
    [
      ['Namespace', 'v1', '/api/v1/namespaces', false, 'namespaces'],
      ['Pod', 'v1', '/api/v1/pods', true, 'pods'],
      ['Node', 'v1', '/api/v1/nodes', false, 'nodes'],
      ['NetworkPolicy', 'networking.k8s.io/v1', '/apis/networking.k8s.io/v1/networkpolicies', true, 'policies'],
      ['ClusterNetworkPolicy', 'policy.networking.k8s.io/v1beta1', '/apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies', false, 'clusterPolicies'],
      ['AdminNetworkPolicy', 'policy.networking.k8s.io/v1alpha1', '/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies', false, 'clusterPolicies'],
      ['BaselineAdminNetworkPolicy', 'policy.networking.k8s.io/v1alpha1', '/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies', false, 'clusterPolicies'],
    ],
  );
  t.same(KINDS.filter((k) => k.optional).map((k) => k.kind), ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'], 'the CRD kinds may be absent');
  t.same(
    KINDS_IN_APPLY_ORDER.map((k) => k.kind),
    ['Namespace', 'Node', 'NetworkPolicy', 'ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy', 'Pod'],
    'namespaces first, pods after the policies that select them',
  );
  t.equal(kindEntry('Pod'), KIND.Pod);
  t.equal(kindEntry('ConfigMap'), undefined);
  t.equal(kindEntry('toString'), undefined, 'not fooled by Object.prototype');
  t.same(apiVersionsOf({ ...KIND.NetworkPolicy, versions: ['v1', 'v2'] }), ['networking.k8s.io/v1', 'networking.k8s.io/v2']);
  // ClusterNetworkPolicy is read in both versions of its one schema, the newer preferred (the kube
  // source falls back in this order; test/kube/kube-crd.test.ts).
  t.same(apiVersionsOf(KIND.ClusterNetworkPolicy), ['policy.networking.k8s.io/v1beta1', 'policy.networking.k8s.io/v1alpha2']);
  t.equal(resourcePath(KIND.ClusterNetworkPolicy, 'v1alpha2'), '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies');
});

t.test('each entry decodes its kind into its store, keyed by its scope, with change events', async (t) => {
  for (const k of KINDS) {
    const s = new ClusterState();
    const seen: Change[] = [];
    s.onChange((cs) => seen.push(...cs));
    const d = decodeObject(samples[k.kind]);
    t.equal(d.kind, k.kind, `${k.kind}: decoded by its entry`);
    if (d.kind === 'ignored' || d.kind === 'invalid') continue;
    applyDecoded(s, d);
    const key = keyOfObject(k, d.value);
    t.equal(key, keys[k.kind], `${k.kind}: keyed by its scope`);
    t.equal(s.get(k.kind, key), d.value, `${k.kind}: in the state`);
    t.equal((s[k.store] as ReadonlyMap<string, unknown>).get(key), d.value, `${k.kind}: in the ${k.store} map`);
    s.upsert(k.kind, d.value);
    s.delete(k.kind, key);
    t.same(
      seen.map((c) => [c.kind, c.key, c.before !== undefined, c.after !== undefined]),
      [[k.kind, key, false, true], [k.kind, key, true, true], [k.kind, key, true, false]],
      `${k.kind}: add, update, delete`,
    );
    t.equal(s.get(k.kind, key), undefined);
  }
});

t.test('a rejected update keeps the last good version; a delete clears the rejection', async (t) => {
  const s = new ClusterState();
  const seen: Change[] = [];
  s.onChange((cs) => seen.push(...cs));
  applyDecoded(s, decodeObject(samples.Pod));
  applyDecoded(s, decodeObject({ ...samples.Pod, status: { podIP: 'not-an-ip' } }));
  t.equal(s.get('Pod', 'x/a')?.ips[0], '10.0.0.1', 'last good version kept');
  t.match(s.rejected.get('Pod x/a'), [{ field: 'status.podIP' }]);
  t.equal(seen.length, 1, 'a rejection is no change');
  applyDecoded(s, decodeObject(samples.Pod));
  t.notOk(s.rejected.has('Pod x/a'), 'a valid version clears it');
  applyDecoded(s, decodeObject({ ...samples.Pod, metadata: { name: 'b', namespace: 'x' }, status: { podIP: 'nope' } }));
  s.delete('Pod', 'x/b');
  t.notOk(s.rejected.has('Pod x/b'), 'deleting an object that was never valid clears its rejection');
  t.equal(seen.length, 2, 'and emits nothing');
});

t.test('apiVersion is checked against the entry, with the same message for every kind', async (t) => {
  for (const k of KINDS) {
    const d = decodeObject({ ...samples[k.kind], apiVersion: 'v9' });
    t.equal(d.kind, 'invalid');
    if (d.kind !== 'invalid') continue;
    const want = apiVersionsOf(k).length === 1 ? `"${apiVersionOf(k)}"` : `one of ${apiVersionsOf(k).map((v) => `"${v}"`).join(', ')}`;
    t.same(d.errors.map((e) => [e.field, e.message]), [['apiVersion', `unsupported apiVersion string "v9" for ${k.kind}: expected ${want}`]]);
    t.equal(d.key, keys[k.kind], `${k.kind}: the rejection names the object`);
  }
});
