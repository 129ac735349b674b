// The words the analysis commands (verify, explain, matrix, connlist, diff, report, lab probe,
// demo) print for the same facts, written once: a user reading two commands side by side must
// see one word for one fact, so a phrase can be searched for in every output. The words are the
// Kubernetes API's: a NetworkPolicy isolates a pod and allows connections; a cluster policy rule
// has the action Accept, Deny or Pass. Machine formats (JSON, CSV) keep their own field names.

import type { LabVerdict } from '../lab/probe.ts';
import { ruleLabel, type SideDecision } from '../policy/decision.ts';
import type { Tier } from '../policy/tiers.ts';

/** A connection's verdict: "allowed", or "DENIED" (capitals, so a denial stands out in a table). */
export function verdictText(allowed: boolean): string {
  return allowed ? 'allowed' : 'DENIED';
}

/**
 * A lab probe's outcome: a verdict in verify's words; "refused" (let through, nobody listens)
 * and "error" (no verdict) as they are.
 */
export function probeVerdictText(v: LabVerdict): string {
  return v === 'allow' || v === 'deny' ? verdictText(v === 'allow') : v;
}

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

/**
 * One side's decision, the same phrase in every command: "allowed by ns/p ingress[0]", "denied
 * by admin/deny-db/block-db", "denied: isolated by ns/p, no rule allows", "allowed: not
 * isolated", "allowed: own node (NetworkPolicy always allows it)", "allowed: not a pod (no
 * policy applies)", "allowed: a pod to itself". It starts with the side's outcome; a rule is
 * named as ruleLabel names it (the verdict log too).
 */
export function sideText(d: SideDecision): string {
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

/** The tiers by their API names, wherever a text names one (explain's walk, matrix --why's letters). */
export const TIER_TITLE: Readonly<Record<Tier | 'default', string>> = { admin: 'Admin', networkpolicy: 'NetworkPolicy', baseline: 'Baseline', default: 'default' };

/** The lead of the note naming the pods a command leaves out (connlist, matrix): "left out: x/a (host network)". */
export const LEFT_OUT = 'left out';

/** A probe's expect against its verdict (verify, lab probe): "allow ok", "deny MISMATCH". */
export function expectText(expect: string, met: boolean): string {
  return `${expect} ${met ? 'ok' : 'MISMATCH'}`;
}
