// The order one side of a connection is judged in, written once for both engines.
//
//   1. Exemptions, before any tier (sideExemption): the side is not judged here (no pod, or a
//      pod of another node), then a pod talking to itself, then the pod's own node.
//   2. Tiers, in TIERS order. Each answers accept or deny (a decision, which ends the walk) or
//      pass (the next tier decides). NetworkPolicy is today's only tier: it passes for a pod no
//      NetworkPolicy isolates in the direction and otherwise always decides ("v1.NetworkPolicy
//      always makes a final decision for selected pods"): its first matching rule accepts, else
//      its implicit deny.
//   3. The default: allow (TIER_DEFAULT).
//
// The plain evaluator walks this per question (evaluator.ts). The compiled engine walks it at
// build time: per table cell (rule-table-verdicts.ts) and, for a side no tier has a word on,
// once for the whole side (TIER_DEFAULT in the slot record); its hot path is then only the
// exemptions and one lookup per side (snapshot.ts).
//
// A new tier (ClusterNetworkPolicy's Admin before NetworkPolicy, Baseline after it) is one entry
// in TIERS: TierSet makes every engine that walks the tiers implement it before it compiles.

import { SIDE } from './engine-api.ts';

/** The tiers, first to last. */
export const TIERS = ['networkpolicy'] as const;
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

/** sideExemption's answer when no exemption applies: the tiers decide. */
export const TIERS_DECIDE = -(1 << 30);

/**
 * Step 1: the exemption that decides a side, as a side code, or TIERS_DECIDE. `self` and
 * `ownNode` are only read for a judged side (callers may pass anything otherwise). Small
 * enough for V8 to inline into the compiled engine's hot path.
 */
export function sideExemption(judged: boolean, self: boolean, ownNode: boolean): number {
  // A pod talking to itself: "Pods cannot currently block localhost access", and the e2e suite
  // expects every pod to reach itself on its own IP too. Then "traffic to and from the node
  // where a Pod is running is always allowed, regardless of the IP address of the Pod or the node".
  return !judged ? SIDE.NOT_JUDGED : self ? SIDE.SELF : ownNode ? SIDE.NODE : TIERS_DECIDE;
}
