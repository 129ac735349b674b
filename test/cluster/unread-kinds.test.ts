// Kinds Palisade does not read are passed over with a note (a Deployment, an Ingress, another
// CNI's policies), but a kind that can only be a slip for one it reads is an error: a policy
// whose kind is misspelt or wrongly cased ("NetworkPolcy", "networkpolicy") would otherwise be
// left out with a note (verify exits 0, an agent following a folder deletes the policy it was),
// where the API server refuses it. Table-driven: kind and apiVersion against the outcome.

import t from 'tap';
import { decodeObject } from '../../src/cluster/decode.ts';

// [kind, apiVersion, 'ignored' or the error's field and message]
const CASES: [string, string | undefined, 'ignored' | RegExp][] = [
  ['Deployment', 'apps/v1', 'ignored'],
  ['Job', 'batch/v1', 'ignored'],
  ['Role', 'rbac.authorization.k8s.io/v1', 'ignored'],
  ['Service', 'v1', 'ignored'],
  ['Ingress', 'networking.k8s.io/v1', 'ignored'],
  ['IngressClass', 'networking.k8s.io/v1', 'ignored'],
  ['IngressList', 'networking.k8s.io/v1', 'ignored'],
  ['ServiceCIDR', 'networking.k8s.io/v1', 'ignored'],
  ['IPAddress', 'networking.k8s.io/v1beta1', 'ignored'],
  ['CiliumNetworkPolicy', 'cilium.io/v2', 'ignored'],
  ['GlobalNetworkPolicy', 'projectcalico.org/v3', 'ignored'],
  ['Gateway', 'gateway.networking.k8s.io/v1', 'ignored'],
  ['NetworkPolcy', undefined, 'ignored'],
  ['NetworkPolcy', 'networking.k8s.io/v1', /^kind: no kind "NetworkPolcy" in networking\.k8s\.io \(its kinds: .*NetworkPolicy.*\)/],
  ['NetworkPolicies', 'networking.k8s.io/v1', /^kind: no kind "NetworkPolicies" in networking\.k8s\.io/],
  ['AdminNetworkPolcy', 'policy.networking.k8s.io/v1alpha1', /^kind: no kind "AdminNetworkPolcy" in policy\.networking\.k8s\.io \(its kinds: AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy\)/],
  ['ClusterNetworkPolicies', 'policy.networking.k8s.io/v1alpha2', /^kind: no kind "ClusterNetworkPolicies" in policy\.networking\.k8s\.io/],
  ['Networkpolicy', 'networking.k8s.io/v1', /^kind: unknown kind "Networkpolicy": kinds are case-sensitive; NetworkPolicy\?/],
  ['networkpolicy', 'v1', /^kind: unknown kind "networkpolicy": kinds are case-sensitive; NetworkPolicy\?/],
  ['pod', 'v1', /^kind: unknown kind "pod": kinds are case-sensitive; Pod\?/],
  ['NAMESPACE', undefined, /^kind: unknown kind "NAMESPACE": kinds are case-sensitive; Namespace\?/],
];

t.test('a kind not read is passed over, a slip for one that is read is refused', async (t) => {
  for (const [kind, apiVersion, want] of CASES) {
    const name = `${kind} ${apiVersion ?? '(no apiVersion)'}`;
    const d = decodeObject({ ...(apiVersion === undefined ? {} : { apiVersion }), kind, metadata: { name: 'deny', namespace: 'shop' }, spec: {} }, 'p.yaml:1');
    if (want === 'ignored') {
      t.equal(d.kind, 'ignored', name);
      continue;
    }
    t.equal(d.kind, 'invalid', name);
    const errs = d.kind === 'invalid' ? d.errors : [];
    t.equal(errs.length, 1, `${name}: one error`);
    t.equal(errs[0]?.object, `${kind} shop/deny`, `${name}: names the object`);
    t.match(`${errs[0]?.field}: ${errs[0]?.message}`, want, name);
  }
});
