// The kube source tells what the decoder warned about, as it tells rejections: an object the API
// server stored and Palisade enforces, but not as written (a cluster policy rule that fails closed
// on a field no traffic matches, a CIDR with host bits). The manifests reader prints the same
// warnings with their line; without this the agent would enforce a Deny all in silence.
// Table: [name, raw object, the warning's field], each logged once per object version.

import t from 'tap';
import { KubeApplier } from '../../src/sources/kube-apply.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import type { ObjectKind } from '../../src/cluster/kinds.ts';

type O = Record<string, unknown>;
const anp = (rv: string, egress: O[]): O => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: 'guard', resourceVersion: rv },
  spec: { priority: 10, subject: { namespaces: {} }, egress },
});
const cnp = (rv: string, egress: O[]): O => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'guard', resourceVersion: rv },
  spec: { tier: 'Admin', priority: 10, subject: { namespaces: {} }, egress },
});

const rows: [string, ObjectKind, string, (rv: string) => O, string][] = [
  ['v1alpha1 protocol "ICMP": the rule fails closed', 'AdminNetworkPolicy', 'AdminNetworkPolicy:guard',
    (rv) => anp(rv, [{ action: 'Deny', to: [{ namespaces: {} }], ports: [{ portNumber: { protocol: 'ICMP', port: 8 } }] }]), 'spec.egress[0].ports[0].portNumber.protocol'],
  ['domainNames in a Deny rule: the rule fails closed', 'ClusterNetworkPolicy', 'guard',
    (rv) => cnp(rv, [{ action: 'Deny', to: [{ domainNames: ['example.com'] }] }]), 'spec.egress[0].to[0].domainNames'],
  ['a peer selector with an unknown operator: the rule fails closed', 'ClusterNetworkPolicy', 'guard',
    (rv) => cnp(rv, [{ action: 'Deny', to: [{ pods: { podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['db'] }] } } }] }]), 'spec.egress[0].to[0].pods.podSelector.matchExpressions[0].operator'],
  ['a ports entry of a newer API version: the rule fails closed', 'AdminNetworkPolicy', 'AdminNetworkPolicy:guard',
    (rv) => anp(rv, [{ action: 'Deny', to: [{ namespaces: {} }], ports: [{ portSet: { ports: [1] } }] }]), 'spec.egress[0].ports[0].portSet'],
  ['a network with host bits', 'ClusterNetworkPolicy', 'guard',
    (rv) => cnp(rv, [{ action: 'Deny', to: [{ networks: ['10.1.2.3/8'] }] }]), 'spec.egress[0].to[0].networks[0]'],
];

for (const [name, kind, key, raw, field] of rows) {
  t.test(name, async (t) => {
    const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const applier = new KubeApplier((level, msg, fields) => logs.push({ level, msg, fields }));
    const state = new ClusterState();
    applier.enqueue({ kind, key, raw: raw('1') as never });
    applier.applyAll(state);
    t.ok(state.clusterPolicies.get(key), 'the policy is in force');
    const warned = () => logs.filter((l) => l.level === 'warn' && (l.fields?.warnings as string[] | undefined)?.some((w) => w.includes(`: ${field}: `)));
    t.equal(warned().length, 1, `one warning naming ${field}: ${JSON.stringify(logs)}`);
    t.equal(warned()[0]?.fields?.object, `${kind} ${key}`, 'it names the object');
    // A resync re-delivers the same version: not decoded again, not logged again.
    applier.enqueue({ kind, key, raw: raw('1') as never });
    applier.applyAll(state);
    t.equal(warned().length, 1, 'logged once per version');
  });
}
