// Policy lint: mistakes that are valid API objects but do not do what their author most likely
// meant. Pure: it reads a ClusterView and returns findings; the CLI does the I/O.
//
// Every check is conservative: a finding must be provable from the objects at hand (a selector
// that matches nothing today, a rule that is a subset of another rule applying to the same
// pods). Two checks read intent and say so in their reason: the "deny" check (a policy NAMED
// like a deny whose rules allow) and the typo check (a selector that matches nothing, one or two
// edits away from a label that exists), which is worded as a question.
//
// Severity: "error" only when a part of a policy provably matches nothing it could ever apply
// to today (a named port none of the destination pods defines, an Accept rule that fails closed);
// everything else is a warning,
// since the cluster may be about to change (pods still to be created, DNS elsewhere).
//
// The checks live in one module per family (lint-isolation, lint-selectors, lint-destinations,
// lint-shadow, lint-typos, and lint-cluster for the Admin and Baseline tiers' cluster policies);
// this module runs them in a fixed order and sorts the findings.

import type { ClusterView } from '../cluster/state.ts';
import { parseCIDR, type ParsedCIDR } from '../net/address.ts';
import { checkClusterPolicies } from './lint-cluster.ts';
import { checkDNS, checkIPBlocks, checkNamedPorts, ipBlockPodIndex } from './lint-destinations.ts';
import type { Finding, LintOptions } from './lint-findings.ts';
import { checkDefaultDeny, checkDenyAllows, checkIgnoredRules, checkOverriddenDeny } from './lint-isolation.ts';
import { checkSelectors } from './lint-selectors.ts';
import { checkShadowed } from './lint-shadow.ts';
import { comparePolicies } from './spec-facts.ts';

export { LINT, type Finding, type LintCode, type LintOptions, type Severity } from './lint-findings.ts';
export { editDistance } from './lint-typos.ts';

export function lint(view: ClusterView, opts: LintOptions = {}): Finding[] {
  const out: Finding[] = [];
  const pols = [...view.policies.values()].sort(comparePolicies);
  const podCIDRs = (opts.podCIDRs ?? []).map((c) => parseCIDR(c)).filter((c): c is ParsedCIDR => !!c);
  const podIndex = ipBlockPodIndex(view);
  checkDefaultDeny(view, out);
  for (const pol of pols) {
    checkIgnoredRules(pol, out);
    checkDenyAllows(pol, out);
    checkSelectors(view, pol, out);
    checkNamedPorts(view, pol, out);
    checkIPBlocks(view, pol, podCIDRs, out, podIndex);
  }
  checkDNS(view, pols, opts, out);
  checkShadowed(pols, out);
  checkOverriddenDeny(view, pols, out);
  checkClusterPolicies(view, out);
  return out.sort(
    (a, b) =>
      cmp(a.object, b.object) || cmp(a.field ?? '', b.field ?? '') || cmp(a.code, b.code) || cmp(a.reason, b.reason),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Text report: one block per finding. */
export function formatFindings(findings: readonly Finding[]): string {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${f.source ? `${f.source}: ` : ''}${f.severity}: ${f.object}${f.field ? ` ${f.field}` : ''} [${f.code}]`);
    lines.push(`  why: ${f.reason}`);
    lines.push(`  fix: ${f.fix}`);
  }
  const e = findings.filter((f) => f.severity === 'error').length;
  lines.push(`${findings.length} finding(s): ${e} error(s), ${findings.length - e} warning(s)`);
  return lines.join('\n');
}
