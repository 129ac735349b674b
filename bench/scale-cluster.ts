// A synthetic cluster at Kubernetes' published scale limits, seen from one node: 150,000 pods on
// 5,000 nodes (the limits of a cluster), 110 of them on this node (the per-node pod limit),
// 10,000 NetworkPolicies (10 per namespace in 1,000 namespaces) and 200 ClusterNetworkPolicies
// of 25 rules (120 Admin, 80 Baseline). Pods, namespaces and policies reuse the large
// cluster's shapes (large-cluster.ts, large-cluster-policies.ts), with addresses widened for
// 150,000 pods and 5,000 nodes. Model objects; support/raw-objects.ts turns them into the API
// server's JSON for the fake API server.

import type { ClusterPolicy, Namespace, NetworkPolicy, Node, Pod } from '../src/cluster/model.ts';
import { largeNamespace, largePod, largePolicy, nsName, type LargeClusterSpec } from './large-cluster.ts';
import { largeClusterPolicy, type ClusterPoliciesSpec } from './large-cluster-policies.ts';

export interface ScaleSpec extends LargeClusterSpec {
  /** Pods on `LOCAL_NODE` (spread over the namespaces). */
  readonly localPods: number;
  readonly clusterPolicies: ClusterPoliciesSpec;
}

export const SCALE: ScaleSpec = {
  pods: 150_000, namespaces: 1_000, policiesPerNamespace: 10, nodes: 5_000, localPods: 110,
  clusterPolicies: { admin: 120, baseline: 80, rulesPerPolicy: 25 },
};

/** A cluster of `pods` with SCALE's proportions (150 pods a namespace, 30 a node), for the scripts that time one part at a smaller size. */
export function scaleSpecFor(pods: number): ScaleSpec {
  return { ...SCALE, pods, namespaces: Math.max(20, Math.round(pods / 150)), nodes: Math.max(50, Math.round(pods / 30)) };
}

/**
 * The scale bench's incremental kinds, in the order a round applies them: its JSON keys, and
 * scripts/scale-updates-cpu.ts' names (which adds a node relabel).
 */
export const SCALE_UPDATE_KINDS = ['remote_pod_relabel', 'local_pod_add', 'policy_update', 'cnp_update', 'cnp_rule_edit', 'cnp_delete', 'cnp_add'] as const;
/** The key of each kind of ClusterPolicyChanges (large-cluster-policies.ts); cnp_update is the priority change. */
export const CNP_CHANGE_KEYS = { priority: 'cnp_update', rule_edit: 'cnp_rule_edit', delete: 'cnp_delete', add: 'cnp_add' } as const;

/** The node whose agent the scale benchmark runs. */
export const LOCAL_NODE = 'node-0';

export function scalePodIPv4(i: number): string {
  return `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}
export function scalePodIPv6(i: number): string {
  return `fd00:10:64::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
}

/** Every `stride`-th pod is local, so that `localPods` of them are. */
function localStride(spec: ScaleSpec): number {
  return Math.floor(spec.pods / spec.localPods);
}

export function isLocalPod(i: number, spec: ScaleSpec = SCALE): boolean {
  return i % localStride(spec) === 0 && i / localStride(spec) < spec.localPods;
}

export function scalePod(i: number, spec: ScaleSpec = SCALE, labels?: Record<string, string>): Pod {
  const p = largePod(i, spec, labels);
  return {
    ...p,
    nodeName: isLocalPod(i, spec) ? LOCAL_NODE : `node-${1 + (i % (spec.nodes - 1))}`,
    ips: p.ips.length === 2 ? [scalePodIPv4(i), scalePodIPv6(i)] : [scalePodIPv4(i)],
  };
}

export function scaleNode(k: number): Node {
  const a = k + 1;
  return {
    name: `node-${k}`,
    labels: { 'node-role': k < 3 ? 'infra' : 'worker', zone: `zone-${k % 3}` },
    addresses: [`192.168.${a >> 8}.${a & 255}`, `fd00:ffff::${a.toString(16)}`],
  };
}

export function scaleNamespace(n: number): Namespace {
  return largeNamespace(n);
}

/** The large cluster's policy j of namespace n; its per-namespace ipBlocks widened to 1,000 namespaces. */
export function scalePolicy(n: number, j: number, variant = 0): NetworkPolicy {
  const p = largePolicy(n, j, variant);
  if (j !== 3) return p;
  const rule = p.ingress[0]!;
  return {
    ...p,
    ingress: [{
      ...rule,
      peers: [
        { ipBlock: { cidr: `10.${64 + (n >> 8)}.${n & 255}.0/24`, except: [`10.${64 + (n >> 8)}.${n & 255}.128/25`] } },
        { ipBlock: { cidr: `fd00:10:64::${(n >> 8).toString(16)}:${((n & 255) * 256).toString(16)}/120`, except: [`fd00:10:64::${(n >> 8).toString(16)}:${((n & 255) * 256 + 128).toString(16)}/121`] } },
      ],
    }],
  };
}

export function scaleClusterPolicy(c: number, v: Parameters<typeof largeClusterPolicy>[1] = {}, spec: ScaleSpec = SCALE): ClusterPolicy {
  return largeClusterPolicy(c, v, spec.clusterPolicies);
}

export type ScaleObject =
  | { readonly kind: 'Node'; readonly object: Node }
  | { readonly kind: 'Namespace'; readonly object: Namespace }
  | { readonly kind: 'Pod'; readonly object: Pod }
  | { readonly kind: 'NetworkPolicy'; readonly object: NetworkPolicy }
  | { readonly kind: 'ClusterNetworkPolicy'; readonly object: ClusterPolicy };

/** Every object of the cluster, in the order a source would apply them. */
export function* scaleObjects(spec: ScaleSpec = SCALE): Generator<ScaleObject> {
  for (let k = 0; k < spec.nodes; k++) yield { kind: 'Node', object: scaleNode(k) };
  for (let n = 0; n < spec.namespaces; n++) yield { kind: 'Namespace', object: scaleNamespace(n) };
  for (let i = 0; i < spec.pods; i++) yield { kind: 'Pod', object: scalePod(i, spec) };
  for (let n = 0; n < spec.namespaces; n++) for (let j = 0; j < spec.policiesPerNamespace; j++) yield { kind: 'NetworkPolicy', object: scalePolicy(n, j) };
  const cnps = spec.clusterPolicies.admin + spec.clusterPolicies.baseline;
  for (let c = 0; c < cnps; c++) yield { kind: 'ClusterNetworkPolicy', object: scaleClusterPolicy(c, {}, spec) };
}

export { nsName };
