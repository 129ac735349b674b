// What both engines answer about one connection. The plain evaluator fills every field (it is
// the oracle and feeds `explain`); the compiled engine answers the same shape off the hot path
// (for the differential test and verify) and a packed integer on it.

import type { ClusterAction, Protocol } from '../cluster/model.ts';
import type { Direction } from './spec-facts.ts';

/** A new connection: policy is judged on pod IPs and the destination (pod) port. */
export interface Connection {
  /** Source IP, canonical text. */
  readonly src: string;
  /** Destination IP, canonical text. */
  readonly dst: string;
  readonly protocol: Protocol;
  readonly port: number;
}

export type SideReason =
  /** This end is not a pod we judge (an outside host, a node, a host-network or finished pod). */
  | 'not-a-pod'
  /**
   * No tier decided: no NetworkPolicy isolates the pod in this direction and no cluster policy
   * rule decided (none matched, or Pass all the way down), so the default allows.
   */
  | 'not-isolated'
  /** NetworkPolicy isolates the pod, and traffic to/from the pod's own node is always allowed. */
  | 'node'
  /** A pod talking to itself. */
  | 'self'
  /** A rule decided (see `rule`): a NetworkPolicy rule allowed, or a cluster policy rule accepted or denied. */
  | 'rule'
  /** Isolated, and no rule of any policy selecting the pod matched. */
  | 'no-rule';

/** The cluster policy tiers, as reports name them (the NetworkPolicy tier has no RuleRef.tier). */
export type ClusterTierName = 'admin' | 'baseline';

export interface RuleRef {
  /** "namespace/name" of a NetworkPolicy, or a cluster policy's id (clusterPolicyId: never has a "/"). */
  readonly policy: string;
  readonly direction: Direction;
  /** Index into spec.ingress / spec.egress. */
  readonly index: number;
  /** Cluster policy rules only: the tier, the rule's action as written, and its name when it has one. */
  readonly tier?: ClusterTierName;
  readonly action?: ClusterAction;
  readonly name?: string;
}

/**
 * How reports name a rule: "ns/name ingress[0]" for a NetworkPolicy rule,
 * "admin/<policy>/<rule name or index>" for a cluster policy rule.
 */
export function ruleLabel(r: RuleRef): string {
  if (r.tier === undefined) return `${r.policy} ${r.direction}[${r.index}]`;
  return `${r.tier}/${r.policy}/${r.name ? r.name : `${r.direction}[${r.index}]`}`;
}

export interface SideDecision {
  readonly allowed: boolean;
  readonly reason: SideReason;
  /** Whether a policy selects the pod for this direction. */
  readonly isolated: boolean;
  /** "namespace/name" of every policy isolating the pod in this direction, sorted. */
  readonly policies: readonly string[];
  /**
   * The rule that decided when reason is 'rule': a cluster policy rule (Accept or Deny, or a
   * fail-closed rule), else the first allowing NetworkPolicy rule (policies in key order, rules in spec order).
   */
  readonly rule?: RuleRef;
}

export interface Decision {
  readonly allowed: boolean;
  /** The source pod's egress side. */
  readonly egress: SideDecision;
  /** The destination pod's ingress side. */
  readonly ingress: SideDecision;
  /** "namespace/name" of the pod owning the source / destination IP, when one does. */
  readonly srcPod?: string;
  readonly dstPod?: string;
}
