// The contract between the compiled policy engine (src/policy/compiler.ts) and the per-packet
// classifier (src/dataplane/classifier.ts). Everything here is numeric so a lookup allocates
// nothing: IPv4 addresses are one uint32, IPv6 addresses four uint32 words (see net/address.ts).
//
// A RuleSnapshot is one immutable generation of rule tables. The engine publishes a new snapshot
// after every (incremental) recompile and the classifier swaps its reference between packets, so
// a packet is judged entirely by one generation.

import type { RuleRef, SideReason } from './decision.ts';
import type { Direction } from './spec-facts.ts';

// ---------------------------------------------------------------------------------------------
// Side codes: one int32 per side saying what happened and who decided.
//
// A code >= 0 is a rule's decision: (rule id << 2) | (cluster tier << 1) | action, action ACCEPT
// or DENY, the middle bit set for a rule of a cluster policy tier (Admin, Baseline) and clear for
// a NetworkPolicy rule. So readers learn the outcome, the rule and whether the NetworkPolicy tier
// decided from the one integer (metrics count denials by rule, the verdict log names the rule
// either way, and the hot path applies NetworkPolicy's node exemption only to that tier's codes,
// see tiers.ts). A code < 0 is one of the SIDE constants below, none of which names a rule. Codes
// are written by the engines (and test doubles); everything that READS a code asks the functions
// below (sideAllows, sideRule, sideReason, ...), never compares it with a constant, so a new
// outcome is added here once.

/** Action bit of a rule code. */
export const ACTION = { ACCEPT: 0, DENY: 1 } as const;
export type Action = (typeof ACTION)[keyof typeof ACTION];

/** Tier bit of a rule code. */
const CLUSTER_TIER_BIT = 2;

/** The codes that name no rule. */
export const SIDE = {
  /** Allowed: no tier decided this side, the default answers (no NetworkPolicy isolates the pod in this direction, no cluster rule decided). */
  NOT_ISOLATED: -1,
  /** Denied: isolated by NetworkPolicies and none of their rules matched (the tier's implicit deny). */
  NO_RULE: -2,
  /** Allowed: isolated by NetworkPolicies, and the peer is the pod's own node ("traffic to and from the node ... is always allowed"). */
  NODE: -3,
  /** Allowed: a pod talking to itself. */
  SELF: -4,
  /** Not judged here: the address is no pod, or a pod whose tables live on another node. */
  NOT_JUDGED: -5,
  /**
   * Not judged: the connection's egress side had already denied it, and the judge was asked to
   * stop there (RuleSnapshot.judge4's `stopAtDenial`, the classifier's new connections). Lets
   * through like NOT_JUDGED: the denial is the egress side's alone.
   */
  SKIPPED: -6,
} as const;

// What the per-packet readers below compare a code with, as a const enum: the compiler writes its
// members as numbers, where the module-level objects and const above are loaded from their module
// cells and checked on every use by the optimized code they are inlined into (the hot path calls
// them for every packet; see table-arena.ts). Checked against ACTION and SIDE when the module loads.
const enum R {
  ACCEPT = 0,
  CLUSTER_TIER_BIT = 2,
  NO_RULE = -2,
}
if (R.ACCEPT !== ACTION.ACCEPT || R.CLUSTER_TIER_BIT !== CLUSTER_TIER_BIT || R.NO_RULE !== SIDE.NO_RULE) {
  throw new Error('engine-api.ts: the side readers\' constants differ from ACTION / SIDE');
}

/** The code of a rule's decision (rule ids below 2^29, so every code is a non-negative int32). `cluster`: the rule is a cluster policy's. */
export function ruleCode(ruleId: number, action: Action, cluster = false): number {
  return (ruleId << 2) | (cluster ? CLUSTER_TIER_BIT : 0) | action;
}

/** Distinct rule codes of `ruleCount` rule ids (codes 0 .. ruleCodeCount - 1): the size of an array indexed by rule code. */
export function ruleCodeCount(ruleCount: number): number {
  // Not a shift: 2^29 rules have 2^31 codes, past int32.
  return ruleCount * 4;
}

/** Did the NetworkPolicy tier produce this code (one of its rules, or its implicit deny)? */
export function sideFromNetworkPolicyTier(code: number): boolean {
  return code >= 0 ? (code & R.CLUSTER_TIER_BIT) === 0 : code === R.NO_RULE;
}

/** Does the side let the connection through (not judged counts as letting through)? */
export function sideAllows(code: number): boolean {
  return code >= 0 ? (code & 1) === R.ACCEPT : code !== R.NO_RULE;
}

/** Did the side stop the connection? */
export function sideDenies(code: number): boolean {
  return !sideAllows(code);
}

/** Does the code name a rule (then it indexes arrays of ruleCodeCount entries)? */
export function sideHasRule(code: number): boolean {
  return code >= 0;
}

/** The rule id behind a code (see RuleSnapshot.ruleRef), or -1 when no rule decided. */
export function sideRule(code: number): number {
  return code >= 0 ? code >> 2 : -1;
}

/** The reason of a code, in the words of decision.ts. */
export function sideReason(code: number): SideReason {
  if (code >= 0) return 'rule';
  switch (code) {
    case SIDE.NOT_ISOLATED: return 'not-isolated';
    case SIDE.NO_RULE: return 'no-rule';
    case SIDE.NODE: return 'node';
    case SIDE.SELF: return 'self';
    case SIDE.NOT_JUDGED: return 'not-a-pod';
    // A Decision is always judged in full (decide.ts): a skipped side has no reason to give.
    case SIDE.SKIPPED: throw new RangeError('side code SKIPPED: the judge stopped before this side (judge both sides for a decision)');
    default: throw new RangeError(`side code ${code} means nothing`);
  }
}

/** Was the side judged on this node (false: no pod, or another node's pod, or skipped after the egress side's denial)? */
export function sideJudged(code: number): boolean {
  return code !== SIDE.NOT_JUDGED && code !== SIDE.SKIPPED;
}

/** Did the judge stop before this side (SKIPPED: the egress side had denied the connection)? */
export function sideSkipped(code: number): boolean {
  return code === SIDE.SKIPPED;
}

export interface RuleSnapshot {
  /** Increases with every published snapshot. */
  readonly generation: number;

  /**
   * Judges a new IPv4 connection src -> dst:port (proto = IP protocol number; for ICMP and other
   * port-less protocols port is 0 and only rules without ports match). Returns true when allowed.
   * Sets egressCode/ingressCode (side codes, see above) and srcSlot/dstSlot (pod slots or -1).
   * Never allocates.
   *
   * `stopAtDenial` (the classifier's new connections): the judge may stop once the egress side
   * denies, leaving ingressCode SIDE.SKIPPED, as a connection between pods of two nodes never
   * meets the destination's ingress when the source's egress drops it (tiers.ts, "A
   * connection"). Without it (explain, verify, the differential tests, flows judged again) both
   * sides are always judged. The answer is the same either way.
   *
   * Address words may be given as uint32 or int32 (implementations compare them bitwise). Prefer
   * int32 (buf.readInt32BE, or `x | 0`): V8 boxes a number above 2^31 - 1 into a heap object
   * when it is passed to a function it did not inline, so uint32 words can allocate in the CALLER.
   */
  judge4(src: number, dst: number, proto: number, port: number, stopAtDenial?: boolean): boolean;
  judge6(
    s0: number, s1: number, s2: number, s3: number,
    d0: number, d1: number, d2: number, d3: number,
    proto: number, port: number, stopAtDenial?: boolean,
  ): boolean;

  /** Results of the last judge call (valid until the next call on this snapshot). */
  readonly egressCode: number;
  readonly ingressCode: number;
  readonly srcSlot: number;
  readonly dstSlot: number;

  /** Pod slot owning an address, or -1. Slots are stable within one snapshot only. */
  podSlot4(addr: number): number;
  podSlot6(a: number, b: number, c: number, d: number): number;
  /** True when the pod is managed by this node (its sides are judged here). */
  isLocal(slot: number): boolean;
  /**
   * Does some tier have a word on this local pod's side (a NetworkPolicy isolates it, or a cluster
   * policy with rules for the direction selects it)? False: every connection on that side gets
   * the default allow, whatever the peer. Optional: without it callers must assume true.
   */
  judgesSide?(slot: number, direction: Direction): boolean;
  /**
   * The pod identity of a slot (pods of one identity are alike to every selector; 0 is no pod's).
   * Optional (off the hot path): without it callers treat every pod as one of its own.
   */
  identityOf?(slot: number): number;
  /** "namespace/name" of a pod slot (off the hot path: builds no string, returns a stored one). */
  podName(slot: number): string;
  /** The rule with this id (sideRule of a code). */
  ruleRef(ruleId: number): RuleRef;
  /** "namespace/name" of every policy isolating the pod in that direction, sorted. */
  isolatingPolicies(slot: number, direction: Direction): readonly string[];
}
