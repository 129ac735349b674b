// What both engines answer about one connection. The plain evaluator fills every field (it is
// the oracle and feeds `explain`); the compiled engine answers the same shape off the hot path
// (for the differential test and verify) and a packed integer on it.

import type { Protocol } from '../cluster/model.ts';
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
  /** No policy selects the pod for this direction. */
  | 'not-isolated'
  /** Traffic to/from the pod's own node is always allowed. */
  | 'node'
  /** A pod talking to itself. */
  | 'self'
  /** Some rule allowed it (see `rule`). */
  | 'rule'
  /** Isolated, and no rule of any policy selecting the pod matched. */
  | 'no-rule';

export interface RuleRef {
  /** "namespace/name" of the policy. */
  readonly policy: string;
  readonly direction: Direction;
  /** Index into spec.ingress / spec.egress. */
  readonly index: number;
}

export interface SideDecision {
  readonly allowed: boolean;
  readonly reason: SideReason;
  /** Whether a policy selects the pod for this direction. */
  readonly isolated: boolean;
  /** "namespace/name" of every policy isolating the pod in this direction, sorted. */
  readonly policies: readonly string[];
  /** The first allowing rule (policies in key order, rules in spec order) when reason is 'rule'. */
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
