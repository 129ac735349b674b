// The cluster as Palisade sees it: plain, validated data decoded from Kubernetes objects
// (see decode.ts). Everything above this layer (policy compiler, classifier, enforcer) works on
// these types and never on raw API objects, so the kube and file sources are interchangeable.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** IP protocol numbers, as they appear in the IPv4 protocol / IPv6 next-header field. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

export function protocolNumber(p: Protocol): number {
  return p === 'TCP' ? IPPROTO_TCP : p === 'UDP' ? IPPROTO_UDP : IPPROTO_SCTP;
}

/** The inverse of protocolNumber: undefined for a protocol policies cannot name (ICMP...). */
export function protocolOfNumber(n: number): Protocol | undefined {
  return n === IPPROTO_TCP ? 'TCP' : n === IPPROTO_UDP ? 'UDP' : n === IPPROTO_SCTP ? 'SCTP' : undefined;
}

export type Family = 'IPv4' | 'IPv6';
export type Labels = Readonly<Record<string, string>>;

export interface Namespace {
  readonly name: string;
  readonly labels: Labels;
  /** Only Palisade's own `palisade.io/*` annotations are kept (e.g. palisade.io/audit). */
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

export interface Pod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  readonly nodeName?: string;
  /** spec.hostNetwork: the pod uses its node's addresses and is never selected as a peer. */
  readonly hostNetwork: boolean;
  /** status.phase; Succeeded and Failed pods match nothing. */
  readonly phase?: string;
  /** status.podIPs (or podIP), canonical text form (see net/address.ts), at most one per family. */
  readonly ips: readonly string[];
  /** Every containers[].ports entry of every container, protocol defaulted to TCP. */
  readonly ports: readonly ContainerPort[];
}

export interface Node {
  readonly name: string;
  /** metadata.labels (ClusterNetworkPolicy `nodes` peers select on them); absent = none. */
  readonly labels?: Labels;
  /** status.addresses of type InternalIP / ExternalIP, canonical text form. */
  readonly addresses: readonly string[];
  /** spec.podCIDRs (or the older single spec.podCIDR): the ranges pod IPs on this node come from, canonical CIDR text. */
  readonly podCIDRs?: readonly string[];
}

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

/** A metav1.LabelSelector. An empty selector (no labels, no expressions) selects everything. */
export interface LabelSelector {
  readonly matchLabels: Labels;
  readonly matchExpressions: readonly LabelSelectorRequirement[];
}

export interface IPBlock {
  /** Canonical CIDR text (address masked to the prefix is NOT required by the API; we keep it as given, canonicalised). */
  readonly cidr: string;
  readonly except: readonly string[];
}

/** One entry of from/to. Exactly one of the three shapes (podSelector and/or namespaceSelector, or ipBlock). */
export interface PolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: IPBlock;
}

export interface PolicyPort {
  /** Defaulted to TCP, as the API server does. */
  readonly protocol: Protocol;
  /** Absent: every port of the protocol. A string is a named port (IANA_SVC_NAME). */
  readonly port?: number | string;
  /** Inclusive end of a numeric range; only with a numeric port. */
  readonly endPort?: number;
}

export interface PolicyRule {
  /** from (ingress) or to (egress). Empty = every peer ("If this field is empty or missing, this rule matches all"). */
  readonly peers: readonly PolicyPeer[];
  /** Empty = every port. */
  readonly ports: readonly PolicyPort[];
}

export interface NetworkPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: LabelSelector;
  /** After API-server defaulting: Ingress always unless given; Egress when an egress section exists. */
  readonly policyTypes: { readonly ingress: boolean; readonly egress: boolean };
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
}

// ---------------------------------------------------------------------------------------------
// Cluster-scoped tiered policies (policy.networking.k8s.io): ClusterNetworkPolicy (v1beta1, v1alpha2) and
// the v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy it replaces. All three decode into
// ClusterPolicy (decoders/cluster-policy.ts and its version modules); the policy layer sees only this shape.

/** Which object a ClusterPolicy was decoded from (the kinds registry names the same three). */
export type ClusterPolicyKind = 'ClusterNetworkPolicy' | 'AdminNetworkPolicy' | 'BaselineAdminNetworkPolicy';
export type ClusterTier = 'Admin' | 'Baseline';
/** v1alpha1's Allow is decoded as Accept. */
export type ClusterAction = 'Accept' | 'Deny' | 'Pass';

/** `pods` subject or peer: "select pods via namespace AND pod selectors" (empty selects all). */
export interface NamespacedPod {
  readonly namespaceSelector: LabelSelector;
  readonly podSelector: LabelSelector;
}

/** spec.subject: exactly one of the two (validated). */
export interface ClusterPolicySubject {
  readonly namespaces?: LabelSelector;
  readonly pods?: NamespacedPod;
}

/**
 * One from/to entry. Exactly one field is set for a peer the API knows. A peer with none set
 * (the object carried only fields this Palisade does not know) is kept as {} so the engines can
 * "fail closed" as the API says. A `domainNames` peer matches the addresses in `learned`.
 */
export interface ClusterPolicyPeer {
  readonly namespaces?: LabelSelector;
  readonly pods?: NamespacedPod;
  /** Egress only: nodes by label; their status.addresses are the peer. */
  readonly nodes?: LabelSelector;
  /** Egress only: canonical CIDR text, IPv4 or IPv6. */
  readonly networks?: readonly string[];
  /** Egress only, Accept rules only. */
  readonly domainNames?: readonly string[];
  /**
   * With domainNames: the addresses this node's agent learned for those names from DNS answers
   * to its pods (src/policy/domain-names.ts); the peer matches exactly these. Absent (nothing
   * learned, or a tool that sees no DNS such as lint or explain on files): the peer matches nothing.
   */
  readonly learned?: readonly string[];
}

/** One protocols entry: a protocol with a port, a range, or every port; or a destination named port (any protocol). */
export type ClusterPolicyPort =
  | { readonly protocol: Protocol; readonly port?: number; readonly endPort?: number }
  | { readonly namedPort: string };

/** A field of a rule that the API server stores but that names no traffic Palisade can match. */
export interface UnmatchableField {
  /** Relative to the rule, e.g. "ports[1].portNumber.protocol". */
  readonly field: string;
  /** What is wrong with it ("unsupported protocol \"ICMP\" ..."); the decoder's warning adds what the rule does now. */
  readonly problem: string;
}

export interface ClusterPolicyRule {
  /** spec.*[].name; '' when unnamed (reports then use the index). */
  readonly name: string;
  readonly action: ClusterAction;
  /** from (ingress) / to (egress): never empty (validated). */
  readonly peers: readonly ClusterPolicyPeer[];
  /** Empty: "protocol-specific attributes will not be used to match traffic" (every protocol and port). */
  readonly protocols: readonly ClusterPolicyPort[];
  /**
   * Set when the rule has fields it cannot be matched by (a v1alpha1 port whose protocol is not
   * TCP, UDP or SCTP, ...): the rule fails closed as for a peer of an unknown field
   * (cluster-facts.ts). Absent on every other rule.
   */
  readonly failsClosed?: readonly UnmatchableField[];
}

export interface ClusterPolicy {
  readonly kind: ClusterPolicyKind;
  readonly name: string;
  readonly tier: ClusterTier;
  /** 0..1000, lower first. BaselineAdminNetworkPolicy (a singleton) has 0. */
  readonly priority: number;
  readonly subject: ClusterPolicySubject;
  readonly ingress: readonly ClusterPolicyRule[];
  readonly egress: readonly ClusterPolicyRule[];
}

/**
 * The id of a cluster policy in the cluster state and in reports: its name for a
 * ClusterNetworkPolicy, "Kind:name" for the v1alpha1 kinds (so an AdminNetworkPolicy may share a
 * ClusterNetworkPolicy's name). Never contains "/", unlike a NetworkPolicy's "namespace/name".
 */
export function clusterPolicyId(p: { readonly kind: ClusterPolicyKind; readonly name: string }): string {
  return p.kind === 'ClusterNetworkPolicy' ? p.name : `${p.kind}:${p.name}`;
}

/** A problem with one object, reported the way kubectl would: which object, which field, why. */
export interface ObjectError {
  /** e.g. "NetworkPolicy x/allow-web" */
  readonly object: string;
  /** e.g. "spec.ingress[0].from[1].ipBlock.except[0]" */
  readonly field: string;
  readonly message: string;
  /** Where it came from when known: "file:line:column" of the field for manifests, "kube-apiserver", ... */
  readonly source?: string;
}

export function formatObjectError(e: ObjectError): string {
  return `${e.source ? e.source + ': ' : ''}${e.object}: ${e.field}: ${e.message}`;
}

export function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}
export const policyKey = podKey;
