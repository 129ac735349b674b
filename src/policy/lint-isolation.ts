// Checks on what isolates which pods: namespaces without a default deny, "deny" policies whose
// rules allow, rules for a direction policyTypes leaves out, and isolation-only policies another
// policy's allow-all rule makes a no-op.

import type { NetworkPolicy, Pod, PolicyRule } from '../cluster/model.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import { clusterPolicySelectsPod, clusterRules } from './cluster-facts.ts';
import { LINT, listPods, polObject, type Finding } from './lint-findings.ts';
import { selectedPods } from './lint-match.ts';
import { selectorIsEmpty } from './selector.ts';
import {
  DIRECTIONS, PEERS_FIELD, POLICY_TYPE, policyAppliesToPod, policyHasType, policyIsolatesPod, policySelectsPod, type Direction,
} from './spec-facts.ts';

/** Does a cluster policy (Admin or Baseline) selecting the pod have rules for the direction? */
function clusterRulesFor(view: ClusterView, pod: Pod, d: Direction): boolean {
  const labels = namespaceLabels(view, pod.namespace);
  for (const p of view.clusterPolicies.values()) if (clusterRules(p, d).length > 0 && clusterPolicySelectsPod(p, pod, labels)) return true;
  return false;
}

export function checkDefaultDeny(view: ClusterView, out: Finding[]): void {
  for (const ns of [...view.namespaces.keys()].sort()) {
    const pods = [...view.pods.values()].filter((p) => p.namespace === ns && policyAppliesToPod(p));
    if (pods.length === 0) continue;
    const missing: Direction[] = [];
    const open: string[] = [];
    for (const d of DIRECTIONS) {
      const pols = [...view.policies.values()].filter((p) => p.namespace === ns && policyHasType(p, d));
      // "Default deny" = a policy with an empty podSelector for the direction: it isolates every
      // pod of the namespace, including pods created or relabelled later.
      if (pols.some((p) => selectorIsEmpty(p.podSelector))) continue;
      missing.push(d);
      const unisolated = pods.filter((pod) => !pols.some((p) => policySelectsPod(p, pod)));
      // A pod some cluster policy has rules for in this direction does not allow ALL traffic:
      // its Admin/Baseline rules still decide what they match.
      const open_ = unisolated.filter((pod) => !clusterRulesFor(view, pod, d));
      const ruled = unisolated.length - open_.length;
      const also = ruled ? `${open_.length ? '; ' : ''}${ruled} pod(s) only have cluster policy rules, which decide what they match` : '';
      if (open_.length || ruled) open.push(`${d}: ${open_.length ? `${listPods(open_)} allow${open_.length === 1 ? 's' : ''} all traffic` : ''}${also}`);
    }
    if (missing.length === 0) continue;
    const types = missing.map((d) => POLICY_TYPE[d]).join(', ');
    out.push({
      code: LINT.NO_DEFAULT_DENY,
      severity: 'warning',
      object: `Namespace ${ns}`,
      reason:
        `namespace has ${pods.length} pod(s) but no default-deny for ${missing.join(' and ')}: ` +
        `a pod no policy selects is not isolated and allows everything` +
        (open.length ? ` (now ${open.join('; ')})` : ' (every pod is selected today, but new or relabelled pods will not be)'),
      fix:
        `apply {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: default-deny, namespace: ${ns}}, ` +
        `spec: {podSelector: {}, policyTypes: [${types}]}} and allow the wanted traffic with further policies` +
        (missing.includes('egress') ? '; an egress default-deny also needs a DNS allowance (UDP and TCP 53 to kube-dns)' : ''),
    });
  }
}

const DENY_NAME = /(^|[-_.])(deny|block|lockdown|isolate)([-_.]|$)/i;

export function checkDenyAllows(pol: NetworkPolicy, out: Finding[]): void {
  if (!DENY_NAME.test(pol.name)) return;
  for (const d of DIRECTIONS) {
    if (!policyHasType(pol, d)) continue;
    pol[d].forEach((rule, i) => {
      const field = `spec.${d}[${i}]`;
      if (rule.peers.length === 0) {
        out.push({
          code: LINT.DENY_ALLOWS,
          severity: 'warning',
          object: polObject(pol),
          field,
          reason:
            `the name says deny, but this rule has no ${PEERS_FIELD[d]} and ${rule.ports.length ? 'allows every peer on its ports' : 'allows all ' + d + ' traffic'}: ` +
            `NetworkPolicy rules only ever allow ("${d}: [{}]" allows all, "${d}: []" allows nothing)`,
          fix: `to deny all ${d}, remove the rules: "${d}: []" (with policyTypes including ${POLICY_TYPE[d]}); if allowing is intended, rename the policy`,
        });
        return;
      }
      rule.peers.forEach((peer, j) => {
        if (peer.podSelector && !peer.namespaceSelector && !peer.ipBlock && selectorIsEmpty(peer.podSelector)) {
          out.push({
            code: LINT.DENY_ALLOWS,
            severity: 'warning',
            object: polObject(pol),
            field: `${field}.${PEERS_FIELD[d]}[${j}]`,
            reason:
              `the name says deny, but "${PEERS_FIELD[d]}: [{podSelector: {}}]" selects every pod in namespace ${pol.namespace}, ` +
              `so this rule ALLOWS all same-namespace ${d} traffic${rule.ports.length ? ' on its ports' : ''}; only other namespaces are denied`,
          fix:
              `for a real deny-all use "${d}: []" (no rules); if same-namespace traffic is meant to pass, rename the policy (e.g. allow-same-namespace)`,
          });
        }
      });
    });
  }
}

export function checkIgnoredRules(pol: NetworkPolicy, out: Finding[]): void {
  for (const d of DIRECTIONS) {
    if (policyHasType(pol, d) || pol[d].length === 0) continue;
    const T = POLICY_TYPE[d];
    out.push({
      code: LINT.IGNORED_RULES,
      severity: 'warning',
      object: polObject(pol),
      field: `spec.${d}`,
      reason: `the policy has ${pol[d].length} ${d} rule(s) but policyTypes does not list ${T}, so they are never enforced and the pods are not ${d}-isolated by it`,
      fix: `add ${T} to spec.policyTypes, or delete spec.${d}`,
    });
  }
}

function allowsAll(rule: PolicyRule): boolean {
  return rule.peers.length === 0 && rule.ports.length === 0;
}

export function checkOverriddenDeny(view: ClusterView, pols: readonly NetworkPolicy[], out: Finding[]): void {
  for (const pol of pols) {
    for (const d of DIRECTIONS) {
      if (!policyHasType(pol, d) || pol[d].length !== 0) continue;
      const pods = selectedPods(view, pol);
      if (pods.length === 0) continue;
      // Policies are additive: one rule allowing everything, in any policy selecting the pod,
      // makes an isolation-only policy for the same pod a no-op.
      const by = new Map<string, string>();
      const covered = pods.every((pod) =>
        pols.some((q) => {
          if (q === pol || !policyIsolatesPod(q, pod, d)) return false;
          const i = q[d].findIndex(allowsAll);
          if (i === -1) return false;
          by.set(`${q.namespace}/${q.name} spec.${d}[${i}]`, '');
          return true;
        }),
      );
      if (!covered) continue;
      const others = [...by.keys()].join(', ');
      out.push({
        code: LINT.DENY_OVERRIDDEN,
        severity: 'warning',
        object: polObject(pol),
        field: `spec.${d}`,
        reason:
          `this policy only isolates (${d}: []), but every pod it selects (${listPods(pods)}) is also selected by ${others}, which allows all ${d}; ` +
          `policies are additive, so this deny has no effect`,
        fix: `delete or narrow the allow-all rule (${others}) if the deny is meant to hold; otherwise delete this policy`,
      });
    }
  }
}
