// The one registry of object kinds Palisade reads. Decoding, the cluster state, the kube source
// (one informer per entry), the manifests reader and the files source all work from these
// entries instead of switching on kind names, so a new kind is: its model type in KindValues,
// one entry below, a decoder module in ./decoders/, and the map named by its `store` in
// ClusterView/ClusterState (the compiler then reads it; see KINDS_IN_APPLY_ORDER).

import type { ClusterPolicy, ClusterPolicyKind, Namespace, NetworkPolicy, Node, ObjectError, Pod } from './model.ts';
import { clusterPolicyId } from './model.ts';
import type { ClusterView } from './state.ts';
import type { Decoder } from './decoders/fields.ts';
import { decodeNamespace } from './decoders/namespace.ts';
import { decodePod } from './decoders/pod.ts';
import { decodeNode } from './decoders/node.ts';
import { decodeNetworkPolicy } from './decoders/network-policy.ts';
import { decodeClusterNetworkPolicy } from './decoders/cluster-network-policy.ts';
import { decodeAdminNetworkPolicy, decodeBaselineAdminNetworkPolicy } from './decoders/cluster-policy-v1alpha1.ts';

/** Kind name -> the model type its decoder produces. */
export interface KindValues {
  Namespace: Namespace;
  Pod: Pod;
  Node: Node;
  NetworkPolicy: NetworkPolicy;
  ClusterNetworkPolicy: ClusterPolicy;
  AdminNetworkPolicy: ClusterPolicy;
  BaselineAdminNetworkPolicy: ClusterPolicy;
}

export type ObjectKind = keyof KindValues;

/** A decoded object of a known kind, with what its decoder found valid but probably unmeant (Errs.warn). */
export type ValidDecoded = { [K in ObjectKind]: { kind: K; value: KindValues[K]; warnings?: readonly ObjectError[] } }[ObjectKind];

export type Decoded =
  | ValidDecoded
  | { kind: 'ignored'; note: string }
  | { kind: 'invalid'; objectKind: string; key: string; errors: ObjectError[] };

export interface KindEntry<K extends ObjectKind = ObjectKind> {
  readonly kind: K;
  /** API group; '' for the core group (served under /api instead of /apis). */
  readonly group: string;
  /**
   * Versions a manifest may name, most preferred first. The kube source watches the first one
   * the API server serves (a CRD may serve only some of them; see kube-source.ts).
   */
  readonly versions: readonly string[];
  /** Plural resource name in API paths. */
  readonly resource: string;
  /** Namespaced objects are keyed "namespace/name", cluster-scoped ones "name". */
  readonly namespaced: boolean;
  /** The ClusterView map that holds this kind. */
  readonly store: keyof ClusterView;
  /**
   * Position when a batch is applied (ascending for upserts, descending for deletes): a
   * namespace exists before what lives in it, and policies before the pods they select, so the
   * compiler needs no fix-ups.
   */
  readonly applyOrder: number;
  readonly decode: Decoder;
  /** A CRD that may be absent from a cluster (not an error; the kube source waits for it). */
  readonly optional?: boolean;
}

/** Every kind, in the order informers start and kinds are named in messages. */
export const KINDS: readonly KindEntry[] = [
  { kind: 'Namespace', group: '', versions: ['v1'], resource: 'namespaces', namespaced: false, store: 'namespaces', applyOrder: 0, decode: decodeNamespace },
  { kind: 'Pod', group: '', versions: ['v1'], resource: 'pods', namespaced: true, store: 'pods', applyOrder: 3, decode: decodePod },
  { kind: 'Node', group: '', versions: ['v1'], resource: 'nodes', namespaced: false, store: 'nodes', applyOrder: 1, decode: decodeNode },
  {
    kind: 'NetworkPolicy', group: 'networking.k8s.io', versions: ['v1'], resource: 'networkpolicies', namespaced: true,
    store: 'policies', applyOrder: 2, decode: decodeNetworkPolicy,
  },
  // The Network Policy API's CRDs (kubernetes-sigs/network-policy-api). They may not be
  // installed: the kube source then watches for their CRD (optional) instead of failing.
  {
    kind: 'ClusterNetworkPolicy', group: 'policy.networking.k8s.io', versions: ['v1beta1', 'v1alpha2'], resource: 'clusternetworkpolicies',
    namespaced: false, store: 'clusterPolicies', applyOrder: 2, decode: decodeClusterNetworkPolicy, optional: true,
  },
  {
    kind: 'AdminNetworkPolicy', group: 'policy.networking.k8s.io', versions: ['v1alpha1'], resource: 'adminnetworkpolicies',
    namespaced: false, store: 'clusterPolicies', applyOrder: 2, decode: decodeAdminNetworkPolicy, optional: true,
  },
  {
    kind: 'BaselineAdminNetworkPolicy', group: 'policy.networking.k8s.io', versions: ['v1alpha1'], resource: 'baselineadminnetworkpolicies',
    namespaced: false, store: 'clusterPolicies', applyOrder: 2, decode: decodeBaselineAdminNetworkPolicy, optional: true,
  },
];

/**
 * The kinds not read here that the API groups of the policy kinds serve (networking.k8s.io since
 * 1.19, the Network Policy API's CRDs): any other kind named with such a group is a slip for a
 * policy kind (the API server has no such kind), not an object to pass over.
 */
export const OTHER_KINDS_OF_POLICY_GROUPS: { readonly [group: string]: readonly string[] } = {
  'networking.k8s.io': ['ClusterCIDR', 'IPAddress', 'Ingress', 'IngressClass', 'ServiceCIDR'],
  'policy.networking.k8s.io': [],
};

/** The entry of each kind, by name. */
export const KIND = Object.fromEntries(KINDS.map((k) => [k.kind, k])) as { readonly [K in ObjectKind]: KindEntry<K> };

/** Every kind in apply order (see KindEntry.applyOrder). */
export const KINDS_IN_APPLY_ORDER: readonly KindEntry[] = [...KINDS].sort((a, b) => a.applyOrder - b.applyOrder);

export function kindEntry(name: string): KindEntry | undefined {
  return Object.hasOwn(KIND, name) ? KIND[name as ObjectKind] : undefined;
}

export function isObjectKind(k: string): k is ObjectKind {
  return kindEntry(k) !== undefined;
}

/** apiVersion as objects carry it ("v1", "networking.k8s.io/v1"); `version` defaults to the most preferred. */
export function apiVersionOf(k: KindEntry, version = k.versions[0]!): string {
  return k.group === '' ? version : `${k.group}/${version}`;
}

/** Every apiVersion a manifest of this kind may name. */
export function apiVersionsOf(k: KindEntry): string[] {
  return k.versions.map((v) => apiVersionOf(k, v));
}

/** The cluster-wide collection path of a version of this kind (the one the kube source lists and watches). */
export function resourcePath(k: KindEntry, version = k.versions[0]!): string {
  return k.group === '' ? `/api/${version}/${k.resource}` : `/apis/${k.group}/${version}/${k.resource}`;
}

/** The state key of an object of this kind: "namespace/name", "name", or a cluster policy's id (clusterPolicyId). */
export function keyOfObject(k: KindEntry, o: { readonly name: string; readonly namespace?: string }): string {
  if (k.namespaced) return `${o.namespace}/${o.name}`;
  return k.store === 'clusterPolicies' ? clusterPolicyId({ kind: k.kind as ClusterPolicyKind, name: o.name }) : o.name;
}

/** The state key of a decoded object. */
export function keyOfDecoded(d: ValidDecoded): string {
  return keyOfObject(KIND[d.kind], d.value as { name: string; namespace?: string });
}

/**
 * A decoded object's name as its decoder's errors give it (and lint's findings): "Kind ns/name",
 * "Kind name"; a cluster policy by its own kind and name, not its key ("AdminNetworkPolicy x",
 * keyed "AdminNetworkPolicy:x").
 */
export function objectNameOfDecoded(d: ValidDecoded): string {
  const k = KIND[d.kind];
  const v = d.value as { readonly name: string };
  return k.store === 'clusterPolicies' ? `${k.kind} ${v.name}` : objectId(d.kind, keyOfDecoded(d));
}

/** "Kind key", the id the state's rejections and the sources' bookkeeping use. */
export function objectId(kind: ObjectKind, key: string): string {
  return `${kind} ${key}`;
}
