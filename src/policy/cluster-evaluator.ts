// The plain evaluator's Admin and Baseline tiers: the cluster policy rules of one tier, walked for
// one side of one connection, sentence by sentence and with no precomputation (the compiled
// engine folds the same walk into its tables; the differential test compares the two).
//
// Sources quoted: kubernetes-sigs/network-policy-api apis/v1alpha2/clusternetworkpolicy_types.go
// field comments (the v1alpha1 kinds decode into the same model, see cluster/model.ts).

import type { ClusterPolicy, ClusterPolicyPeer, ClusterPolicyRule, ClusterTier, Pod } from '../cluster/model.ts';
import { clusterPolicyId } from '../cluster/model.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import { cidrContains, formatIP, parseCIDR, parseIP, type ParsedIP } from '../net/address.ts';
import {
  clusterPolicySelectsPod, clusterPortMatches, clusterRuleEffect, clusterRuleRef, clusterRules, compareClusterPolicies,
  nodeSelected, type RuleEffect,
} from './cluster-facts.ts';
import type { Connection, RuleRef } from './decision.ts';
import { selectorMatches } from './selector.ts';
import type { Direction } from './spec-facts.ts';

/** The far end of the connection, as this side's rules see it. */
export interface ClusterRemote {
  readonly ip: ParsedIP | undefined;
  readonly ipText: string;
  /** The selectable pod owning the address (never a host-network pod). */
  readonly pod: Pod | undefined;
}

/** One rule looked at, for explain. */
export interface ClusterRuleCheck {
  readonly ref: RuleRef;
  readonly matched: boolean;
  /** How the rule was applied (fail closed, see cluster-facts.ts). */
  readonly effect: RuleEffect['kind'];
  /** Index of the first matching peer when the peers matched. */
  readonly peer?: number;
  /** For a rule that did not match, the clause that failed. */
  readonly failedClause?: 'peers' | 'protocols';
}

/** What one tier said about one side. */
export interface ClusterTierWalk {
  /** Policies of the tier whose subject selects the pod, in evaluation order (ids). */
  readonly policies: readonly string[];
  /** Every rule checked, in order, up to the deciding one. */
  readonly checks: readonly ClusterRuleCheck[];
  /** The first matching rule's effective action, or undefined when no rule matched (the tier passes). */
  readonly action?: 'Accept' | 'Deny' | 'Pass';
  readonly rule?: RuleRef;
}

/** The tier's policies selecting the pod, in evaluation order. */
export function clusterPoliciesFor(view: ClusterView, pod: Pod, tier: ClusterTier): ClusterPolicy[] {
  const labels = namespaceLabels(view, pod.namespace);
  const out: ClusterPolicy[] = [];
  for (const p of view.clusterPolicies.values()) if (p.tier === tier && clusterPolicySelectsPod(p, pod, labels)) out.push(p);
  return out.sort(compareClusterPolicies);
}

function peerMatches(view: ClusterView, peer: ClusterPolicyPeer, remote: ClusterRemote): boolean {
  if (peer.namespaces || peer.pods) {
    // "Namespaces defines a way to select all pods within a set of Namespaces"; "Pods defines a
    // way to select a set of pods in a set of namespaces. Note that host-networked pods are not
    // included in this type of peer." (remote.pod is never one).
    const pod = remote.pod;
    if (!pod) return false;
    const nsLabels = namespaceLabels(view, pod.namespace);
    if (peer.namespaces) return selectorMatches(peer.namespaces, nsLabels);
    return selectorMatches(peer.pods!.namespaceSelector, nsLabels) && selectorMatches(peer.pods!.podSelector, pod.labels);
  }
  if (peer.nodes) {
    // "It selects the nodeIPs as the peer type by matching on the IPs present in the
    // node.Status.Addresses field of the node ... if present but empty, it selects all Nodes."
    for (const n of view.nodes.values()) if (nodeSelected(peer.nodes, n) && n.addresses.includes(remote.ipText)) return true;
    return false;
  }
  if (peer.networks) {
    // "Networks defines a way to select peers via CIDR blocks ... cluster-internal traffic will
    // be checked against the rule as well." A CIDR of one family never holds the other's addresses.
    for (const n of peer.networks) {
      const c = parseCIDR(n);
      if (c && remote.ip && c.family === remote.ip.family && cidrContains(c, remote.ip)) return true;
    }
    return false;
  }
  // domainNames: the addresses a live DNS record maps to one of the names (domain-names.ts).
  if (peer.domainNames) return remote.ip !== undefined && (peer.learned ?? []).some((a) => { const ip = parseIP(a); return ip !== undefined && formatIP(ip) === formatIP(remote.ip!); });
  return false;
}

function checkRule(view: ClusterView, rule: ClusterPolicyRule, ref: RuleRef, conn: Connection, remote: ClusterRemote, dstPod: Pod | undefined): ClusterRuleCheck {
  const effect = clusterRuleEffect(rule);
  // Fail closed: an Accept rule matches nothing, a Deny or Pass rule denies everything.
  if (effect.kind === 'matches-nothing') return { ref, matched: false, effect: effect.kind, failedClause: 'peers' };
  if (effect.kind === 'deny-all') return { ref, matched: true, effect: effect.kind };
  // "If any element matches the source of incoming traffic then the specified action is applied."
  const peer = rule.peers.findIndex((p) => peerMatches(view, p, remote));
  if (peer < 0) return { ref, matched: false, effect: effect.kind, failedClause: 'peers' };
  // Protocols: "If unspecified, protocol-specific attributes will not be used to match traffic."
  // A named port resolves on the destination pod: the subject on ingress, the peer on egress.
  const ok = rule.protocols.length === 0 || rule.protocols.some((p) => clusterPortMatches(p, conn.protocol, conn.port, dstPod?.ports));
  return ok ? { ref, matched: true, effect: effect.kind, peer } : { ref, matched: false, effect: effect.kind, peer, failedClause: 'protocols' };
}

/**
 * Walks one cluster tier for the side of `pod` in direction `dir`: policies by priority, rules in
 * written order ("a rule that appears at the top of the ingress rules would take the highest
 * precedence"), the first matching rule decides.
 */
export function walkClusterTier(
  view: ClusterView, tier: ClusterTier, pod: Pod, dir: Direction, conn: Connection, remote: ClusterRemote, dstPod: Pod | undefined,
): ClusterTierWalk {
  const pols = clusterPoliciesFor(view, pod, tier);
  const ids = pols.map(clusterPolicyId);
  const checks: ClusterRuleCheck[] = [];
  for (const p of pols) {
    const rules = clusterRules(p, dir);
    for (let i = 0; i < rules.length; i++) {
      const c = checkRule(view, rules[i]!, clusterRuleRef(p, dir, i), conn, remote, dstPod);
      checks.push(c);
      if (c.matched) return { policies: ids, checks, action: c.effect === 'deny-all' ? 'Deny' : rules[i]!.action, rule: c.ref };
    }
  }
  return { policies: ids, checks };
}
