// The order one side of a connection is judged in, written once for both engines.
//
//   1. Exemptions, before any tier (sideExemption): the side is not judged here (no pod, or a
//      pod of another node), then a pod talking to itself ("A Pod connecting to its own Pod IP
//      is not subject to CNP", and NetworkPolicy cannot block it either).
//   2. Tiers, in TIERS order. Each answers accept or deny (a decision, which ends the walk) or
//      pass (the next tier decides). The order is the Network Policy API's: "Policy tiers are
//      evaluated in the following order: Admin tier, NetworkPolicy tier, Baseline tier".
//      - admin, baseline: the cluster policies of the tier whose subject selects the pod, by
//        ascending priority ("Policies with lower priority values have higher precedence"),
//        rules in written order; the first matching rule decides: Accept and Deny are final
//        for the direction, Pass "Skips all further ClusterNetworkPolicy rules in the current
//        tier ... and passes evaluation to the next tier". No matching rule: pass.
//      - networkpolicy: passes for a pod no NetworkPolicy isolates in the direction and
//        otherwise always decides ("v1.NetworkPolicy always makes a final decision for selected
//        pods"): the pod's own node is allowed (the node exemption, a NetworkPolicy fact: it
//        sits inside this tier, so cluster policy rules do apply to node traffic), then its
//        first matching rule accepts, else its implicit deny.
//   3. The default: allow (TIER_DEFAULT): "If a given connection wasn't allowed or denied by any
//      of the tiers, the default kubernetes policy is applied".
//
// A connection: its egress side (the source pod's) and its ingress side (the destination pod's)
// must both let it through ("both the egress policy on the source pod and the ingress policy on
// the destination pod need to allow the connection", Network Policies concept page). The
// classifier's new connections stop at an egress denial and leave the ingress side SKIPPED
// (engine-api.ts): between pods of two nodes the packet dropped at the source never reaches the
// destination's node, so the same connection on one node now counts and logs the same way, and
// the judge skips a side on most denied connections (docs/speed-history.md, "Stop at the egress
// denial"). Every other caller judges both sides.
//
// The plain evaluator walks this per question (evaluator.ts). The compiled engine folds each
// tier at build time into tables of its own (table-verdicts.ts): per side, one table per tier that
// has a word on it (the Admin and Baseline tables are shared by every pod the same cluster
// policies select, the NetworkPolicy table by the pods the same NetworkPolicies isolate). A cell
// of a tier table holds the tier's decision or TIER_NEXT (no rule of the tier decided: no match,
// or an Admin Pass). The hot path (snapshot.ts) walks a side's tables in TIERS order, the first
// decision wins, TIER_NEXT after the last one is the default. A side no tier has a word on holds
// no table at all. Only the node exemption depends on something a cell cannot know (whether the
// peer address is the owner's own node; tables are shared by pods of several nodes), so it is
// applied after the walk, to NetworkPolicy-tier codes only (nodeExemptionApplies).

import { SIDE, sideFromNetworkPolicyTier } from './engine-api.ts';

/** The tiers, first to last. */
export const TIERS = ['admin', 'networkpolicy', 'baseline'] as const;
export type Tier = (typeof TIERS)[number];

/** A tier's answer when it leaves the side to the next tier. */
export const PASS: unique symbol = Symbol('pass');
export type Pass = typeof PASS;

/**
 * One engine's implementation of every tier: given that engine's question about a side, the
 * decision (accept or deny, in the engine's vocabulary) or PASS.
 */
export type TierSet<Q, D> = { readonly [T in Tier]: (q: Q) => D | Pass };

/** Walks the tiers in order: the first decision wins; when every tier passes, `fallback` (the default allow). */
export function walkTiers<Q, D>(tiers: TierSet<Q, D>, q: Q, fallback: D): D {
  for (const name of TIERS) {
    const d = tiers[name](q);
    if (d !== PASS) return d;
  }
  return fallback;
}

/** The side code of the default step: allowed, no tier decided. */
export const TIER_DEFAULT = SIDE.NOT_ISOLATED;

/** Tiers a side is walked through (the slot record holds one word per tier per direction, in TIERS order). */
export const TIER_COUNT = TIERS.length;

/** A tier's position in TIERS (its word in a slot record's side, see snapshot.ts). */
export function tierIndex(t: Tier): number {
  return TIERS.indexOf(t);
}

/**
 * A compiled tier table's code for a cell where its tier passes (no rule matched, or an Admin
 * Pass) and a slot's word for a tier with no table: the next tier answers, and after the last
 * one the default (TIER_DEFAULT). Internal to the compiled engine: it is never a side code.
 */
export const TIER_NEXT = -(1 << 29);

/**
 * A per-policy table's code for a cell its policy's Pass rule matches (tier-tables.ts, chains):
 * unlike TIER_NEXT (no rule of the policy matched: the next policy of the chain answers), it ends
 * the tier. A chain walk turns it into TIER_NEXT; it is never a side code either.
 */
export const TIER_PASS = TIER_NEXT + 1;

/** sideExemption's answer when no exemption applies: the tiers decide. */
export const TIERS_DECIDE = -(1 << 30);

// sideExemption's answers as a const enum, which the compiler writes as numbers: as module-level
// consts, the optimized hot path it is inlined into (snapshot.ts) loaded each from its module cell
// and checked it for every packet (see table-arena.ts). Checked against SIDE and TIERS_DECIDE
// when the module loads.
const enum X {
  NOT_JUDGED = -5,
  SELF = -4,
  TIERS_DECIDE = -(1 << 30),
}
if (X.NOT_JUDGED !== SIDE.NOT_JUDGED || X.SELF !== SIDE.SELF || X.TIERS_DECIDE !== TIERS_DECIDE) {
  throw new Error('tiers.ts: sideExemption\'s constants differ from SIDE / TIERS_DECIDE');
}

/**
 * Step 1: the exemption that decides a side, as a side code, or TIERS_DECIDE. `self` is only
 * read for a judged side. Small enough for V8 to inline into the compiled engine's hot path.
 */
export function sideExemption(judged: boolean, self: boolean): number {
  // A pod talking to itself: "Pods cannot currently block localhost access", the e2e suite
  // expects every pod to reach itself on its own IP too, and "A Pod connecting to its own Pod IP
  // is not subject to CNP" (network-policy-api, api-overview).
  return !judged ? X.NOT_JUDGED : self ? X.SELF : X.TIERS_DECIDE;
}

/**
 * The NetworkPolicy tier's node exemption, for an engine that decided the side without knowing
 * whether the peer is the pod's own node: a NetworkPolicy-tier decision becomes NODE when it is.
 * [DOCS] "traffic to and from the node where a Pod is running is always allowed, regardless of
 * the IP address of the Pod or the node"; it is part of NetworkPolicy isolation, so a decision
 * of the Admin or Baseline tier (or the default) stands. `ownNode` is only called when the code
 * is the NetworkPolicy tier's, since it may scan the node's addresses.
 */
export function nodeExemptionApplies(code: number): boolean {
  return sideFromNetworkPolicyTier(code);
}
