// Model objects back to the API server's JSON (the inverse of src/cluster/decoders), for the
// benchmarks and tests that build a cluster as model objects and then serve it from the fake API
// server. test/bench/raw-objects.test.ts proves decode(encode(x)) == x over the benchmark
// clusters, so a benchmark measures exactly the cluster its generator describes;
// test/policy/random-cluster-policies.test.ts reads the random cluster policies back through it.

import type {
  ClusterPolicy, ClusterPolicyPeer, ClusterPolicyPort, ClusterPolicyRule, LabelSelector, Namespace, NetworkPolicy, Node, Pod, PolicyPeer, PolicyPort, PolicyRule,
} from '../src/cluster/model.ts';
import { decodeObject } from '../src/cluster/decode.ts';
import type { RawObject } from './fake-apiserver.ts';

function selector(s: LabelSelector): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (Object.keys(s.matchLabels).length) out.matchLabels = { ...s.matchLabels };
  if (s.matchExpressions.length) out.matchExpressions = s.matchExpressions.map((r) => ({ key: r.key, operator: r.operator, ...(r.values.length ? { values: [...r.values] } : {}) }));
  return out;
}

export function rawNamespace(n: Namespace): RawObject {
  return { kind: 'Namespace', apiVersion: 'v1', metadata: { name: n.name, labels: { ...n.labels } } };
}

export function rawNode(n: Node): RawObject {
  return {
    kind: 'Node', apiVersion: 'v1',
    metadata: { name: n.name, labels: { ...(n.labels ?? {}) } },
    spec: n.podCIDRs ? { podCIDRs: [...n.podCIDRs] } : {},
    status: { addresses: n.addresses.map((address) => ({ type: 'InternalIP', address })) },
  };
}

export function rawPod(p: Pod): RawObject {
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { namespace: p.namespace, name: p.name, labels: { ...p.labels } },
    spec: {
      ...(p.nodeName ? { nodeName: p.nodeName } : {}),
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'main', image: 'app', ports: p.ports.map((c) => ({ ...(c.name ? { name: c.name } : {}), containerPort: c.containerPort, protocol: c.protocol })) }],
    },
    status: { phase: p.phase ?? 'Running', ...(p.ips.length ? { podIP: p.ips[0], podIPs: p.ips.map((ip) => ({ ip })) } : {}) },
  };
}

function npPort(p: PolicyPort): Record<string, unknown> {
  return { protocol: p.protocol, ...(p.port !== undefined ? { port: p.port } : {}), ...(p.endPort !== undefined ? { endPort: p.endPort } : {}) };
}

function npPeer(p: PolicyPeer): Record<string, unknown> {
  return {
    ...(p.podSelector ? { podSelector: selector(p.podSelector) } : {}),
    ...(p.namespaceSelector ? { namespaceSelector: selector(p.namespaceSelector) } : {}),
    ...(p.ipBlock ? { ipBlock: { cidr: p.ipBlock.cidr, ...(p.ipBlock.except.length ? { except: [...p.ipBlock.except] } : {}) } } : {}),
  };
}

function npRule(r: PolicyRule, peersField: 'from' | 'to'): Record<string, unknown> {
  return { ...(r.peers.length ? { [peersField]: r.peers.map(npPeer) } : {}), ...(r.ports.length ? { ports: r.ports.map(npPort) } : {}) };
}

export function rawNetworkPolicy(p: NetworkPolicy): RawObject {
  const policyTypes = [...(p.policyTypes.ingress ? ['Ingress'] : []), ...(p.policyTypes.egress ? ['Egress'] : [])];
  return {
    kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1',
    metadata: { namespace: p.namespace, name: p.name },
    spec: {
      podSelector: selector(p.podSelector),
      policyTypes,
      ...(p.policyTypes.ingress ? { ingress: p.ingress.map((r) => npRule(r, 'from')) } : {}),
      ...(p.policyTypes.egress ? { egress: p.egress.map((r) => npRule(r, 'to')) } : {}),
    },
  };
}

function cnpPeer(p: ClusterPolicyPeer): Record<string, unknown> {
  return {
    ...(p.namespaces ? { namespaces: selector(p.namespaces) } : {}),
    ...(p.pods ? { pods: { namespaceSelector: selector(p.pods.namespaceSelector), podSelector: selector(p.pods.podSelector) } } : {}),
    ...(p.nodes ? { nodes: selector(p.nodes) } : {}),
    ...(p.networks ? { networks: [...p.networks] } : {}),
    ...(p.domainNames ? { domainNames: [...p.domainNames] } : {}),
  };
}

function cnpProtocol(p: ClusterPolicyPort): Record<string, unknown> {
  if ('namedPort' in p) return { destinationNamedPort: p.namedPort };
  const key = p.protocol.toLowerCase();
  // v1alpha2 has no "every port of one protocol" (destinationPort is required); the full range
  // says the same, and decodes back as { port: 1, endPort: 65535 } (see sameAfterEncoding).
  if (p.port === undefined) return { [key]: { destinationPort: { range: { start: 1, end: 65535 } } } };
  return { [key]: { destinationPort: p.endPort !== undefined ? { range: { start: p.port, end: p.endPort } } : { number: p.port } } };
}

/** A v1alpha1 ports entry; "every port of one protocol" is the full range here too. */
function v1alpha1Port(p: ClusterPolicyPort): Record<string, unknown> {
  if ('namedPort' in p) return { namedPort: p.namedPort };
  if (p.port === undefined) return { portRange: { protocol: p.protocol, start: 1, end: 65535 } };
  return p.endPort !== undefined ? { portRange: { protocol: p.protocol, start: p.port, end: p.endPort } } : { portNumber: { protocol: p.protocol, port: p.port } };
}

/**
 * How a rule's failsClosed fields are written (the random draws use these two): a peer whose
 * `namespaces` selector has an operator no selector can be built with (the peer decodes as {}),
 * and a port-list entry of one field of a newer API version, after the rule's ports.
 */
export const UNBUILDABLE_SELECTOR = { matchExpressions: [{ key: 'tier', operator: 'Bogus' }] } as const;
export const NEWER_PORT_FIELD = { v1alpha2: 'icmp', v1alpha1: 'portSet' } as const;

function cnpRule(r: ClusterPolicyRule, peersField: 'from' | 'to', v1alpha1: boolean): Record<string, unknown> {
  const action = v1alpha1 && r.action === 'Accept' ? 'Allow' : r.action;
  const closed = r.failsClosed ?? [];
  const unbuilt = (j: number) => closed.some((f) => f.field.startsWith(`${peersField}[${j}].namespaces.`));
  const peers = r.peers.map((p, j) => (unbuilt(j) ? { namespaces: structuredClone(UNBUILDABLE_SELECTOR) } : cnpPeer(p)));
  const newer = closed.some((f) => /^(protocols|ports)\[/.test(f.field)) ? [{ [NEWER_PORT_FIELD[v1alpha1 ? 'v1alpha1' : 'v1alpha2']]: {} }] : [];
  const entries = [...(v1alpha1 ? r.protocols.map(v1alpha1Port) : r.protocols.map(cnpProtocol)), ...newer];
  return { name: r.name, action, [peersField]: peers, ...(entries.length ? { [v1alpha1 ? 'ports' : 'protocols']: entries } : {}) };
}

/**
 * v1alpha2 ClusterNetworkPolicy (the benchmarks' kind), and the v1alpha1 AdminNetworkPolicy and
 * BaselineAdminNetworkPolicy (Accept written "Allow", no tier, the Baseline one without priority).
 */
export function rawClusterPolicy(p: ClusterPolicy): RawObject {
  const v1alpha1 = p.kind !== 'ClusterNetworkPolicy';
  const subject = p.subject.namespaces
    ? { namespaces: selector(p.subject.namespaces) }
    : { pods: { namespaceSelector: selector(p.subject.pods!.namespaceSelector), podSelector: selector(p.subject.pods!.podSelector) } };
  return {
    kind: p.kind, apiVersion: `policy.networking.k8s.io/${v1alpha1 ? 'v1alpha1' : 'v1alpha2'}`,
    metadata: { name: p.name },
    spec: {
      ...(v1alpha1 ? {} : { tier: p.tier }),
      ...(p.kind === 'BaselineAdminNetworkPolicy' ? {} : { priority: p.priority }),
      subject,
      ...(p.ingress.length ? { ingress: p.ingress.map((r) => cnpRule(r, 'from', v1alpha1)) } : {}),
      ...(p.egress.length ? { egress: p.egress.map((r) => cnpRule(r, 'to', v1alpha1)) } : {}),
    },
  };
}

/** What the decoder gives back for a model port after rawClusterPolicy (the one lossy spelling). */
export function encodedClusterPort(p: ClusterPolicyPort): ClusterPolicyPort {
  return 'namedPort' in p || p.port !== undefined ? p : { protocol: p.protocol, port: 1, endPort: 65535 };
}

/**
 * A cluster policy as a source gives it to the state: its API JSON, decoded. A change applied to
 * a state loaded this way must be decoded too: a model object spells "every port of a protocol"
 * unlike a decoded one (encodedClusterPort), which makes a priority change a rule change as well.
 */
export function decodedClusterPolicy(p: ClusterPolicy): ClusterPolicy {
  const d = decodeObject(JSON.parse(JSON.stringify(rawClusterPolicy(p))));
  if (d.kind !== p.kind) throw new Error(`cluster policy ${p.name} does not decode`);
  return d.value;
}

type Encodable =
  | { readonly kind: 'Node'; readonly object: Node }
  | { readonly kind: 'Namespace'; readonly object: Namespace }
  | { readonly kind: 'Pod'; readonly object: Pod }
  | { readonly kind: 'NetworkPolicy'; readonly object: NetworkPolicy }
  | { readonly kind: 'ClusterNetworkPolicy'; readonly object: ClusterPolicy };

export function rawObject(o: Encodable): RawObject {
  switch (o.kind) {
    case 'Node': return rawNode(o.object);
    case 'Namespace': return rawNamespace(o.object);
    case 'Pod': return rawPod(o.object);
    case 'NetworkPolicy': return rawNetworkPolicy(o.object);
    case 'ClusterNetworkPolicy': return rawClusterPolicy(o.object);
  }
}
