// Checks on cluster policies (ClusterNetworkPolicy, and the v1alpha1 Admin/BaselineAdminNetworkPolicy
// decoded into the same model): a subject that selects no pod, a destinationNamedPort no destination
// pod names, two policies of one tier and priority whose rules overlap, rules
// shadowed by an earlier rule of the tier, a Pass with nothing below it, domainNames peers (they
// match only what the agent learns from DNS at run time), and peers that fail closed. The semantics are cluster-facts.ts's and
// tiers.ts's; the rule comparisons are in lint-cluster-match.ts.

import type { ClusterPolicy, ClusterPolicyRule, Pod } from '../cluster/model.ts';
import { clusterPolicyId } from '../cluster/model.ts';
import { namespaceLabels, namespaceNames } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import {
  clusterPolicySelectsPod, clusterRuleEffect, clusterRules, compareClusterPolicies, failClosedPeerIndex, peerClosedByField, peerFailsClosed,
} from './cluster-facts.ts';
import { LINT, definedPortNames, listPods, type Finding } from './lint-findings.ts';
import { ruleCovers, rulesOverlap, subjectCovers, subjectPods, subjectsOverlap } from './lint-cluster-match.ts';
import { DIRECTIONS, PEERS_FIELD, podIsSelectable, policyAppliesToPod, policyIsolatesPod, type Direction } from './spec-facts.ts';
import { pushTypos, typos, universe } from './lint-typos.ts';
import { formatSelector, selectorIsEmpty, selectorMatches } from './selector.ts';

/** "ClusterNetworkPolicy deny-db", as the decoder's errors name the object. */
export function clusterObject(p: ClusterPolicy): string {
  return `${p.kind} ${p.name}`;
}

function ruleField(d: Direction, i: number): string {
  return `spec.${d}[${i}]`;
}

function ruleName(p: ClusterPolicy, d: Direction, i: number): string {
  const r = clusterRules(p, d)[i]!;
  return `${ruleField(d, i)}${r.name ? ` (${r.name})` : ''}`;
}

/** What a rule does to the connections it matches, after failing closed. */
function effectiveAction(r: ClusterPolicyRule): string {
  return clusterRuleEffect(r).kind === 'deny-all' ? 'Deny (failed closed)' : r.action;
}

/**
 * "If two (or more) policies in the same tier with the same priority could match a connection,
 * then the implementation can apply any of the matching policies." Reported once per pair, on
 * the policy Palisade takes second.
 */
export function checkPriorityTies(view: ClusterView, pols: readonly ClusterPolicy[], out: Finding[]): void {
  for (let i = 0; i < pols.length; i++) {
    for (let j = i + 1; j < pols.length; j++) {
      const a = pols[i]!, b = pols[j]!;
      if (a.tier !== b.tier || a.priority !== b.priority) continue;
      const pods = subjectsOverlap(view, a, b);
      if (!pods) continue;
      let pair: string | undefined;
      for (const d of DIRECTIONS) {
        clusterRules(a, d).forEach((ra, ia) => {
          clusterRules(b, d).forEach((rb, ib) => {
            if (pair === undefined && rulesOverlap(view, ra, rb)) {
              pair = `${clusterPolicyId(a)} ${ruleName(a, d, ia)} (${effectiveAction(ra)}) and this policy's ${ruleName(b, d, ib)} (${effectiveAction(rb)})`;
            }
          });
        });
      }
      if (pair === undefined) continue;
      const who = pods === true ? 'pods both subjects select' : listPods(pods);
      out.push({
        code: LINT.CLUSTER_PRIORITY_TIE,
        severity: 'warning',
        object: clusterObject(b),
        field: 'spec.priority',
        reason:
          `${clusterObject(a)} is also ${a.tier} priority ${a.priority}, and their rules overlap: ${pair} can match the same connection of ${who}. ` +
          `The API leaves the result undefined ("the implementation can apply any of the matching policies"); ` +
          `Palisade takes policies of equal priority in id order (${clusterPolicyId(a)} first), other implementations may not`,
        fix: `give one of the two policies another priority (lower = checked first)`,
      });
    }
  }
}

/**
 * A rule no connection reaches: every connection it matches is matched first by an earlier rule
 * of the same policy, or by a rule of a policy with a lower priority in the same tier whose
 * subject selects every pod this one does (the first matching rule decides, and Pass leaves the
 * tier too). Policies of equal priority are the tie check's.
 */
export function checkClusterShadowed(pols: readonly ClusterPolicy[], out: Finding[]): void {
  for (const p of pols) {
    for (const d of DIRECTIONS) {
      clusterRules(p, d).forEach((r, i) => {
        if (clusterRuleEffect(r).kind === 'matches-nothing') return; // reported as failing closed
        let by: { pol: ClusterPolicy; i: number; rule: ClusterPolicyRule } | undefined;
        for (const q of pols) {
          if (by || q.tier !== p.tier || (q !== p && (q.priority >= p.priority || !subjectCovers(q, p)))) continue;
          const rules = clusterRules(q, d);
          const end = q === p ? i : rules.length;
          for (let k = 0; k < end && !by; k++) if (ruleCovers(rules[k]!, r)) by = { pol: q, i: k, rule: rules[k]! };
        }
        if (!by) return;
        const where = `${by.pol === p ? '' : `${clusterObject(by.pol)} (priority ${by.pol.priority}) `}${ruleName(by.pol, d, by.i)}`;
        const sAct = effectiveAction(by.rule);
        const same = sAct === r.action || (sAct.startsWith('Deny') && r.action === 'Deny');
        out.push({
          code: LINT.CLUSTER_RULE_SHADOWED,
          severity: 'warning',
          object: clusterObject(p),
          field: ruleField(d, i),
          reason:
            `this ${r.action} rule never decides anything: every connection it matches is matched first by ${where}, ` +
            (same
              ? `which does the same (${sAct}), so this rule is redundant`
              : `whose ${sAct} ${sAct === 'Pass' ? 'sends it to the next tier' : 'decides it'} instead`) +
            ` (the first matching rule of the tier decides; ${by.pol === p ? 'rules are taken in written order' : 'lower priorities are checked first'})`,
          fix: same
            ? `delete this rule`
            : `move this rule before ${where}${by.pol === p ? '' : ' (or give this policy a lower priority)'}, or narrow ${where} if this rule's ${r.action} is meant to hold`,
        });
      });
    }
  }
}

/** Could something below the Admin tier decide for this pod in this direction? */
function decidedBelow(view: ClusterView, pod: Pod, d: Direction, baselines: readonly ClusterPolicy[]): boolean {
  for (const np of view.policies.values()) if (policyIsolatesPod(np, pod, d)) return true;
  const labels = namespaceLabels(view, pod.namespace);
  // A Baseline Accept or Deny (or a rule failing closed into a deny) could decide; a Baseline Pass cannot.
  return baselines.some((b) => clusterPolicySelectsPod(b, pod, labels) && clusterRules(b, d).some((r) => r.action !== 'Pass' || clusterRuleEffect(r).kind === 'deny-all'));
}

/**
 * A Pass "passes evaluation to the next tier". From the Admin tier that is NetworkPolicy, then
 * Baseline; from the Baseline tier it is the default, which allows. A Pass with nothing below
 * it is an Accept in disguise.
 */
export function checkPassToDefault(view: ClusterView, pols: readonly ClusterPolicy[], out: Finding[]): void {
  const baselines = pols.filter((p) => p.tier === 'Baseline');
  for (const p of pols) {
    for (const d of DIRECTIONS) {
      clusterRules(p, d).forEach((r, i) => {
        if (r.action !== 'Pass' || clusterRuleEffect(r).kind !== 'as-written') return;
        if (p.tier === 'Baseline') {
          out.push({
            code: LINT.CLUSTER_PASS_TO_DEFAULT,
            severity: 'warning',
            object: clusterObject(p),
            field: ruleField(d, i),
            reason: `a Pass in the Baseline tier passes to the default, which allows: this rule accepts what it matches, like an Accept (NetworkPolicy was asked before the Baseline tier, not after)`,
            fix: `write action: Accept if allowing is meant, Deny if it is not`,
          });
          return;
        }
        const pods = subjectPods(view, p);
        if (pods.length === 0 || pods.some((pod) => decidedBelow(view, pod, d, baselines))) return;
        out.push({
          code: LINT.CLUSTER_PASS_TO_DEFAULT,
          severity: 'warning',
          object: clusterObject(p),
          field: ruleField(d, i),
          reason:
            `this Admin Pass hands ${d} of ${listPods(pods)} to the lower tiers, but no NetworkPolicy isolates ${pods.length === 1 ? 'it' : 'them'} for ${d} ` +
            `and no Baseline policy has ${d} rules for ${pods.length === 1 ? 'it' : 'them'}: the default allows, so today the Pass acts as an Accept`,
          fix: `write action: Accept if allowing is meant; otherwise add the NetworkPolicy (or Baseline policy) that should decide, or Deny here`,
        });
      });
    }
  }
}

/**
 * Peers that fail closed: peers with no field this Palisade knows (an unknown field of a newer
 * CRD, or {}): "For "Accept" rules, "fail closed" means: "treat the rule as matching no traffic".
 * For "Deny" and "Pass" rules, "fail closed" means: "treat the rule as a 'Deny all' rule"." And
 * domainNames peers, which do not fail closed but match only what the agent learns from DNS
 * answers at run time: lint sees no DNS, so it says what the peer depends on. And the fields the
 * decoder found a rule failing closed on (rule.failsClosed: a v1alpha1 protocol "ICMP", a peer
 * selector that cannot be built, a port field of a newer API version, ...); a peer that is {}
 * for such a field is reported by the field alone.
 */
export function checkFailClosed(pols: readonly ClusterPolicy[], out: Finding[]): void {
  for (const p of pols) {
    for (const d of DIRECTIONS) {
      clusterRules(p, d).forEach((r, i) => {
        // Fields the API server stores but no traffic matches (the decoder says which): fail closed.
        for (const f of r.failsClosed ?? []) {
          out.push({
            code: LINT.FAIL_CLOSED_FIELD,
            severity: r.action === 'Accept' ? 'error' : 'warning',
            object: clusterObject(p),
            field: `${ruleField(d, i)}.${f.field}`,
            reason: `${f.problem}: ${r.action === 'Accept' ? 'this Accept rule fails closed and matches no traffic (its other peers and ports do not count either)' : `this ${r.action} rule fails closed and denies ALL ${d} traffic of the subject pods, whatever its other peers and ports`}`,
            fix: failClosedPeerIndex(f) !== undefined
              ? 'write a selector the API server would build: operator In, NotIn, Exists or DoesNotExist (case-sensitive), values for In and NotIn only, label keys and values of the label syntax'
              : 'write a port Palisade can match: protocol "TCP", "UDP" or "SCTP" (case-sensitive), a range whose start is not above its end, a named port with a name, no field of a newer API version (or upgrade Palisade)',
          });
        }
        r.peers.forEach((peer, j) => {
          const field = `${ruleField(d, i)}.${PEERS_FIELD[d]}[${j}]`;
          if (peer.domainNames) {
            out.push({
              code: LINT.DOMAIN_NAMES_LEARNED,
              severity: 'warning',
              object: clusterObject(p),
              field: `${field}.domainNames`,
              reason: `matches only addresses the node's agent learns from DNS answers to the subject pods (${peer.domainNames.join(', ')}); a connection to an address the pod did not look up through DNS on its node is not accepted by this rule`,
              fix: `make sure the subject pods resolve these names through DNS before connecting (no hard-coded addresses, no DNS-over-HTTPS), or allow fixed addresses with a networks peer`,
            });
            return;
          }
          if (!peerFailsClosed(peer) || peerClosedByField(r, j)) return;
          const accept = r.action === 'Accept';
          const effect = accept
            ? `the rule fails closed (Accept matches nothing): none of its ${PEERS_FIELD[d]} entries is accepted by it, and the traffic goes on to later rules and tiers`
            : `the rule fails closed: this ${r.action} rule denies ALL ${d} traffic of the subject pods, whatever its other peers and protocols`;
          out.push({
            code: LINT.FAIL_CLOSED_PEER,
            severity: accept ? 'error' : 'warning',
            object: clusterObject(p),
            field,
            reason: `this peer sets no field this Palisade knows ({}, only a field of a newer API version, or domainNames outside an Accept rule); ${effect}`,
            fix: `set exactly one of namespaces, pods${d === 'egress' ? ', nodes, networks, domainNames' : ''}; or upgrade Palisade if the field is newer than it`,
          });
        });
      });
    }
  }
}

/**
 * A subject that selects no pod: the policy has no effect today, like a NetworkPolicy whose
 * podSelector selects nothing (lint-selectors.ts), and for an Admin guardrail a mistyped label
 * means the pods it was written to protect are not protected. Every-pod subjects are not reported
 * (a cluster with no pods yet), nor pods that are no subjects (host-network pods).
 */
export function checkSubjects(view: ClusterView, pols: readonly ClusterPolicy[], out: Finding[]): void {
  for (const p of pols) {
    const s = p.subject;
    const nsSel = s.namespaces ?? s.pods?.namespaceSelector;
    if (!nsSel || (selectorIsEmpty(nsSel) && (!s.pods || selectorIsEmpty(s.pods.podSelector)))) continue;
    if (subjectPods(view, p).length > 0) continue;
    const obj = clusterObject(p);
    const field = s.namespaces ? 'spec.subject.namespaces' : 'spec.subject.pods';
    const names = namespaceNames(view);
    const inNs = names.filter((n) => selectorMatches(nsSel, namespaceLabels(view, n)));
    const what = s.namespaces
      ? `namespaces "${formatSelector(nsSel)}"`
      : `pods namespaceSelector "${formatSelector(nsSel)}" AND podSelector "${formatSelector(s.pods!.podSelector)}"`;
    const hostNetwork = [...view.pods.values()].filter((q) => q.hostNetwork && inNs.includes(q.namespace) && (!s.pods || selectorMatches(s.pods.podSelector, q.labels)));
    const why = inNs.length === 0
      ? ' (the namespaceSelector matches no namespace)'
      : hostNetwork.length > 0 ? ` (it matches only host-network pods, ${listPods(hostNetwork)}, and host-network pods are never subjects)` : '';
    out.push({
      code: LINT.SELECTOR_MATCHES_NOTHING,
      severity: 'warning',
      object: obj,
      field,
      reason: `subject ${what} selects no pod${why}, so the policy has no effect today`,
      fix: `make the subject's selectors match the labels of the pods (kubectl get pods -A --show-labels) and namespaces (kubectl get ns --show-labels) it is meant for`,
    });
    if (inNs.length === 0) pushTypos(obj, typos(nsSel, universe(names.map((n) => namespaceLabels(view, n))), `${field}${s.pods ? '.namespaceSelector' : ''}`), 'namespace', out);
    else if (s.pods) {
      const pods = [...view.pods.values()].filter((q) => inNs.includes(q.namespace) && policyAppliesToPod(q));
      pushTypos(obj, typos(s.pods.podSelector, universe(pods.map((q) => q.labels)), `${field}.podSelector`), 'pod', out);
    }
  }
}

/**
 * A destinationNamedPort that none of the rule's destination pods names: it "resolves on the
 * destination pod" (cluster-facts.ts), so the entry matches nothing, as a NetworkPolicy named
 * port no destination defines (lint-destinations.ts, also an error). Destinations: for ingress
 * the subject's pods; for egress the pods of its peers (the decoder refuses networks, nodes and
 * domainNames peers next to a named port, so they are `namespaces` / `pods` ones).
 */
export function checkClusterNamedPorts(view: ClusterView, pols: readonly ClusterPolicy[], out: Finding[]): void {
  for (const p of pols) {
    for (const d of DIRECTIONS) {
      clusterRules(p, d).forEach((r, i) => {
        if (clusterRuleEffect(r).kind !== 'as-written') return;
        r.protocols.forEach((proto, k) => {
          if (!('namedPort' in proto)) return;
          let dsts: Pod[];
          if (d === 'ingress') dsts = subjectPods(view, p);
          else {
            if (r.peers.length === 0 || !r.peers.every((x) => x.namespaces || x.pods)) return;
            dsts = [...view.pods.values()].filter((q) => podIsSelectable(q) && r.peers.some((x) => {
              const nsl = namespaceLabels(view, q.namespace);
              return x.namespaces ? selectorMatches(x.namespaces, nsl) : selectorMatches(x.pods!.namespaceSelector, nsl) && selectorMatches(x.pods!.podSelector, q.labels);
            }));
          }
          if (dsts.length === 0 || dsts.some((q) => q.ports.some((cp) => cp.name === proto.namedPort))) return;
          out.push({
            code: LINT.NAMED_PORT_UNDEFINED,
            severity: 'error',
            object: clusterObject(p),
            field: `${ruleField(d, i)}.protocols[${k}].destinationNamedPort`,
            reason: `named port "${proto.namedPort}" is defined by none of the ${dsts.length} destination pod(s) (${listPods(dsts)}), so this protocols entry matches nothing`,
            fix: `use ${definedPortNames(dsts)}, or a port number`,
          });
        });
      });
    }
  }
}

/** Every cluster policy check, policies in evaluation order. */
export function checkClusterPolicies(view: ClusterView, out: Finding[]): void {
  const pols = [...view.clusterPolicies.values()].sort((a, b) => (a.tier === b.tier ? compareClusterPolicies(a, b) : a.tier < b.tier ? -1 : 1));
  checkSubjects(view, pols, out);
  checkPriorityTies(view, pols, out);
  checkClusterShadowed(pols, out);
  checkPassToDefault(view, pols, out);
  checkFailClosed(pols, out);
  checkClusterNamedPorts(view, pols, out);
}
