// Pods grouped the way people read a cluster: the replicas of one template together.
//
// Decision (the model has no ownerReferences): two pods are one group when they are in the same
// namespace with the same labels and the same container ports, i.e. when they look like copies
// of one pod template. A Deployment's pods share pod-template-hash, so each ReplicaSet is one
// group; a StatefulSet's pods differ only by the per-pod labels statefulset.kubernetes.io/pod-name
// and apps.kubernetes.io/pod-index, which are ignored unless some policy selector names them.
//
// Members of a group are judged alike except for their addresses: an ipBlock matches pod IPs,
// so a CIDR can tell two replicas apart. connectivity.ts splits a pair of groups by address
// where (and only where) the pair's rules have CIDRs (Edge.split). What else could tell members
// apart is part of the key: for the node endpoint, the policy CIDR block of the pod's node's
// address (the address itself when some pod holds it) and (only when a cluster policy has a
// `nodes` peer) its node's labels. `refine` lets
// diff split groups further (by the other side's grouping) so both sides have the same
// endpoints. Groups whose names collide get a "#2" suffix.

import type { Family, LabelSelector, Pod } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import type { ClusterView } from '../cluster/state.ts';
import { parseIP } from '../net/address.ts';
import { addressClaimWins, podIsSelectable } from '../policy/spec-facts.ts';

/** Labels a controller sets differently on each replica. */
const PER_POD_LABELS = ['statefulset.kubernetes.io/pod-name', 'apps.kubernetes.io/pod-index'];

export interface PodGroup {
  /** Stable id: "ns/name" for a lone pod, "ns/<common name prefix>*" for several (see groupName). */
  readonly id: string;
  readonly namespace: string;
  /** "namespace/name" of every member, sorted. */
  readonly pods: readonly string[];
  /** The members' labels (per-pod labels left out). */
  readonly labels: Readonly<Record<string, string>>;
  /** Address (of the family) of each member, in `pods` order. */
  readonly addresses: readonly string[];
  /** The members, in `pods` order. */
  readonly members: readonly Pod[];
  /** The first member, used to judge the group. */
  readonly rep: Pod;
  /** A second member, used to judge the group with itself (between two of its pods). */
  readonly rep2?: Pod;
  /** The address of the rep's own node in the family, when known. */
  readonly nodeAddress?: string;
}

export interface LeftOut {
  readonly pod: string;
  readonly reason: 'host-network' | 'finished' | 'no-address' | 'address-taken';
}

/**
 * Why a pod is no endpoint of a family's connectivity (connlist, matrix), or undefined when it is
 * one: `ip` is its address of the family, `taken` whether another pod wins that address.
 */
export function leftOutReason(p: Pod, ip: string | undefined, taken: boolean): LeftOut['reason'] | undefined {
  if (p.hostNetwork) return 'host-network';
  if (!podIsSelectable(p) && p.ips.length > 0) return 'finished';
  if (!ip) return 'no-address';
  return taken ? 'address-taken' : undefined;
}

function selectorKeys(s: LabelSelector | undefined, into: Set<string>): void {
  if (!s) return;
  for (const k of Object.keys(s.matchLabels)) into.add(k);
  for (const e of s.matchExpressions) into.add(e.key);
}

/** Every label key some pod selector of some policy names. */
export function selectedLabelKeys(view: ClusterView): Set<string> {
  const keys = new Set<string>();
  for (const p of view.policies.values()) {
    selectorKeys(p.podSelector, keys);
    for (const r of [...p.ingress, ...p.egress]) for (const peer of r.peers) selectorKeys(peer.podSelector, keys);
  }
  for (const cp of view.clusterPolicies.values()) {
    selectorKeys(cp.subject.pods?.podSelector, keys);
    for (const r of [...cp.ingress, ...cp.egress]) for (const peer of r.peers) selectorKeys(peer.pods?.podSelector, keys);
  }
  return keys;
}

function sortedJSON(o: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
}

export function addressOf(p: Pod, family: Family): string | undefined {
  return p.ips.find((a) => parseIP(a)?.family === family);
}

/** The pod owning each address for policy (the engines' tie-break), for one family. */
export function addressOwners(view: ClusterView, family: Family): Map<string, Pod> {
  const owners = new Map<string, Pod>();
  for (const p of view.pods.values()) {
    if (!podIsSelectable(p)) continue;
    const ip = addressOf(p, family);
    if (!ip) continue;
    const cur = owners.get(ip);
    if (!cur || addressClaimWins(p, podKey(p), cur, podKey(cur))) owners.set(ip, p);
  }
  return owners;
}

export interface GroupingFacts {
  readonly family: Family;
  /** The policy CIDR block of an address (for the node's address). */
  readonly blockOf: (address: string) => string;
  /** Whether node labels matter (a cluster policy has a `nodes` peer). */
  readonly nodeLabelsMatter: boolean;
  readonly refine?: (pod: Pod) => string;
}

export function nodeAddressOf(view: ClusterView, p: Pod, family: Family): string | undefined {
  const node = p.nodeName ? view.nodes.get(p.nodeName) : undefined;
  return node?.addresses.find((a) => parseIP(a)?.family === family);
}

/** The common prefix of the names, cut after its last '-' (or whole when that leaves nothing). */
function commonPrefix(names: readonly string[]): string {
  let p = names[0]!;
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  const dash = p.lastIndexOf('-');
  return dash >= 0 ? p.slice(0, dash + 1) : p;
}

export function groupPods(view: ClusterView, f: GroupingFacts): { groups: PodGroup[]; leftOut: LeftOut[] } {
  const keys = selectedLabelKeys(view);
  const owners = addressOwners(view, f.family);
  const leftOut: LeftOut[] = [];
  const byKey = new Map<string, Pod[]>();
  const groupLabels = new Map<string, Record<string, string>>();
  for (const p of view.pods.values()) {
    const ip = addressOf(p, f.family);
    const reason = leftOutReason(p, ip, ip !== undefined && owners.get(ip) !== p);
    if (reason) leftOut.push({ pod: podKey(p), reason });
    if (owners.get(ip ?? '') !== p) continue;
    const labels: Record<string, string> = {};
    for (const k of Object.keys(p.labels)) if (!PER_POD_LABELS.includes(k) || keys.has(k)) labels[k] = p.labels[k]!;
    const ports = p.ports.map((c) => `${c.name ?? ''}/${c.protocol}/${c.containerPort}`).sort().join(',');
    const node = p.nodeName ? view.nodes.get(p.nodeName) : undefined;
    const nodeIP = nodeAddressOf(view, p, f.family);
    // A node address that a pod holds too is a pod endpoint's address: between that pod and the
    // pods of that node traffic is exempt (spec-facts), for no other member, so such a node
    // enters the key by its address, not its block.
    const nodeKey = nodeIP ? `${owners.has(nodeIP) ? nodeIP : f.blockOf(nodeIP)}|${f.nodeLabelsMatter ? sortedJSON(node?.labels ?? {}) : ''}` : '-';
    const key = [p.namespace, sortedJSON(labels), ports, nodeKey, f.refine ? f.refine(p) : ''].join('\u0000');
    let list = byKey.get(key);
    if (!list) {
      byKey.set(key, (list = []));
      groupLabels.set(key, labels);
    }
    list.push(p);
  }
  const raw = [...byKey].map(([key, pods]) => {
    pods.sort((a, b) => (podKey(a) < podKey(b) ? -1 : 1));
    const base = pods.length === 1 ? podKey(pods[0]!) : `${pods[0]!.namespace}/${commonPrefix(pods.map((p) => p.name))}*`;
    return { key, pods, base };
  });
  // Same base name for several groups: suffix "#2", "#3"... in the order of their first member.
  raw.sort((a, b) => (a.base !== b.base ? (a.base < b.base ? -1 : 1) : podKey(a.pods[0]!) < podKey(b.pods[0]!) ? -1 : 1));
  const groups: PodGroup[] = [];
  let prev = '', n = 0;
  for (const r of raw) {
    n = r.base === prev ? n + 1 : 1;
    prev = r.base;
    const rep = r.pods[0]!;
    const nodeAddress = nodeAddressOf(view, rep, f.family);
    groups.push({
      id: n === 1 ? r.base : `${r.base}#${n}`,
      namespace: rep.namespace,
      pods: r.pods.map(podKey),
      labels: groupLabels.get(r.key)!,
      addresses: r.pods.map((p) => addressOf(p, f.family)!),
      members: r.pods,
      rep,
      ...(r.pods.length > 1 ? { rep2: r.pods[1]! } : {}),
      ...(nodeAddress ? { nodeAddress } : {}),
    });
  }
  leftOut.sort((a, b) => (a.pod < b.pod ? -1 : 1));
  return { groups, leftOut };
}
