// The phrase for one side's decision, written once for every reader: the analysis commands
// (cli/vocabulary.ts, which re-exports these) and the agent's verdict log both print it, so a
// phrase from a log line can be searched for in `palisade explain` output and back. It lives
// here, beside the decision it words, because the agent may not import the CLI.

import { ruleLabel, type SideDecision } from './decision.ts';

/** A side's (or a tier's) outcome inside a phrase: "allowed" or "denied". */
export function outcomeText(allowed: boolean): string {
  return allowed ? 'allowed' : 'denied';
}

/** A side the NetworkPolicy tier (or the default) let through without a rule: what the exemption is. */
const EXEMPTION = {
  'not-a-pod': 'not a pod (no policy applies)',
  self: 'a pod to itself',
  node: 'own node (NetworkPolicy always allows it)',
  'not-isolated': 'not isolated',
} as const;

/** What sideText reads of a decision (the verdict log builds it from side codes). */
export type SideWords = Pick<SideDecision, 'allowed' | 'reason' | 'policies' | 'rule'>;

/**
 * One side's decision, the same phrase in every command and in the verdict log: "allowed by
 * ns/p ingress[0]", "denied by admin/deny-db/block-db", "denied: isolated by ns/p, no rule
 * allows", "allowed: not isolated", "allowed: own node (NetworkPolicy always allows it)",
 * "allowed: not a pod (no policy applies)", "allowed: a pod to itself". It starts with the
 * side's outcome; a rule is named as ruleLabel names it.
 */
export function sideText(d: SideWords): string {
  switch (d.reason) {
    case 'rule': return `${outcomeText(d.allowed)} by ${ruleLabel(d.rule!)}`;
    case 'no-rule': return `${outcomeText(false)}: ${isolatedNoRuleText(d.policies)}`;
    default: return `${outcomeText(true)}: ${EXEMPTION[d.reason]}`;
  }
}

/** "isolated by a, b, no rule allows": the NetworkPolicy tier's implicit deny. */
export function isolatedNoRuleText(policies: readonly string[]): string {
  return `isolated by ${policies.join(', ')}, no rule allows`;
}
