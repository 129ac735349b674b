// The words the analysis commands (verify, explain, matrix, connlist, diff, report, lab probe,
// demo) print for the same facts, written once: a user reading two commands side by side must
// see one word for one fact, so a phrase can be searched for in every output. The words are the
// Kubernetes API's: a NetworkPolicy isolates a pod and allows connections; a cluster policy rule
// has the action Accept, Deny or Pass. Machine formats (JSON, CSV) keep their own field names.

import type { LabVerdict } from '../lab/probe.ts';
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

// A side's phrase (outcomeText, sideText, isolatedNoRuleText) is the verdict log's too, so it is
// written in the policy layer, which the agent may import.
export { isolatedNoRuleText, outcomeText, sideText } from '../policy/side-words.ts';

/** The tiers by their API names, wherever a text names one (explain's walk, matrix --why's letters). */
export const TIER_TITLE: Readonly<Record<Tier | 'default', string>> = { admin: 'Admin', networkpolicy: 'NetworkPolicy', baseline: 'Baseline', default: 'default' };

/** The lead of the note naming the pods a command leaves out (connlist, matrix): "left out: x/a (host network)". */
export const LEFT_OUT = 'left out';

/** A probe's expect against its verdict (verify, lab probe): "allow ok", "deny MISMATCH". */
export function expectText(expect: string, met: boolean): string {
  return `${expect} ${met ? 'ok' : 'MISMATCH'}`;
}
