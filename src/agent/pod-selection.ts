// What the agent selects for judging on this node, from the cluster state: the PALISADE-PODS
// match (pod ranges, static selection, node traffic) and the local pods' own addresses, which go
// into the judged sets (enforce/judged-sets.ts) or, without them, straight into the match.

import type { ClusterView } from '../cluster/state.ts';
import type { PodMatch } from '../enforce/iptables.ts';
import { clusterPolicyMayJudgeNodeTraffic } from '../policy/cluster-facts.ts';

export interface SelectionOptions {
  readonly node: string;
  readonly podIfaces: readonly string[];
  readonly staticV4: readonly string[];
  readonly staticV6: readonly string[];
  /** Local pod addresses go into the judged sets instead of the match. */
  readonly judgedSets: boolean;
}

export interface Selection {
  readonly match: PodMatch;
  /** Addresses of this node's (non-hostNetwork) pods. */
  readonly localPodIPs: readonly string[];
  /** Distinct addresses and ranges selected in any way (status: managedAddresses). */
  readonly managed: number;
}

export function podSelection(state: ClusterView, o: SelectionOptions): Selection {
  const v4 = new Set(o.staticV4);
  const v6 = new Set(o.staticV6);
  // New traffic of any address in the node's pod ranges is selected, so a pod whose IP has not
  // reached us yet is judged (and, unknown, dropped per the fail mode) rather than passed.
  for (const c of state.nodes.get(o.node)?.podCIDRs ?? []) (c.includes(':') ? v6 : v4).add(c);
  const local: string[] = [];
  for (const p of state.pods.values()) {
    if (p.nodeName !== o.node || p.hostNetwork) continue;
    for (const ip of p.ips) local.push(ip);
  }
  const managed = new Set([...v4, ...v6, ...local]).size;
  if (!o.judgedSets) for (const ip of local) (ip.includes(':') ? v6 : v4).add(ip);
  // Pod <-> own node connections reach userspace only while a cluster policy could deny them.
  let nodeTraffic = false;
  for (const p of state.clusterPolicies.values()) if ((nodeTraffic = clusterPolicyMayJudgeNodeTraffic(p))) break;
  const match: PodMatch = {
    ifaces: o.podIfaces, v4: [...v4].sort(), v6: [...v6].sort(),
    ...(nodeTraffic ? { nodeTraffic } : {}), ...(o.judgedSets ? { judgedSets: true } : {}),
  };
  return { match, localPodIPs: local, managed };
}
