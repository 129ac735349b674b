// `explain` with cluster policies: each side's walk through the tiers (tiers.ts: Admin,
// NetworkPolicy, Baseline, then the default), as data for -o json and as text. The walk is
// replayed with walkTiers itself, so explain follows the engines' tier order by construction;
// each cluster tier's answer is the evaluator's own (explainClusterTier), and the NetworkPolicy
// tier's is the side decision evaluate() made there.

import type { ClusterPolicy, ClusterPolicyPeer, ClusterPolicyPort, ClusterTier } from '../cluster/model.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import type { ClusterRuleCheck, ClusterTierWalk } from '../policy/cluster-evaluator.ts';
import { clusterPortMatches, clusterRules, peerClosedByField, peerFailsClosed } from '../policy/cluster-facts.ts';
import { ruleLabel, type RuleRef } from '../policy/decision.ts';
import { explainClusterTier, type EndpointInfo, type Explanation } from '../policy/evaluator.ts';
import { formatSelector, selectorMatches } from '../policy/selector.ts';
import type { Direction } from '../policy/spec-facts.ts';
import { PASS, walkTiers, type TierSet } from '../policy/tiers.ts';
import type { LiveDns } from './dns-input.ts';
import { domainPeerMatchText, domainPeerWhy } from './explain-dns.ts';
import { isolatedNoRuleText, outcomeText, TIER_TITLE } from './vocabulary.ts';

/** One cluster tier's part of a side's walk. */
export interface ClusterTierStep {
  readonly tier: 'admin' | 'baseline';
  /** The tier's policies selecting the pod, in evaluation order, with their priority. */
  readonly policies: readonly { readonly policy: string; readonly priority: number }[];
  /** Every rule looked at, in order, up to the deciding one. */
  readonly checks: readonly ClusterRuleCheck[];
  /** accept / deny end the walk; pass (a Pass rule) and no-match go on to the next tier. */
  readonly outcome: 'accept' | 'deny' | 'pass' | 'no-match';
  readonly rule?: RuleRef;
}

export interface NetworkPolicyTierStep {
  readonly tier: 'networkpolicy';
  /** "namespace/name" of the NetworkPolicies isolating the pod in the direction (none: the tier passes). */
  readonly policies: readonly string[];
  readonly outcome: 'allow' | 'deny' | 'pass';
  /** How the tier decided: the node exemption, a rule, or its implicit deny. */
  readonly reason?: 'node' | 'rule' | 'no-rule';
  readonly rule?: RuleRef;
}

export interface DefaultStep {
  readonly tier: 'default';
  readonly outcome: 'allow';
}

export type TierStep = ClusterTierStep | NetworkPolicyTierStep | DefaultStep;

export interface SideTierWalk {
  readonly direction: Direction;
  /** The side was decided before any tier: no pod judged here, or a pod talking to itself. */
  readonly exemption?: 'not-a-pod' | 'self';
  /** The tiers in the order they were asked, up to the one that decided (or the default). */
  readonly steps: readonly TierStep[];
}

export interface TierWalks {
  readonly egress: SideTierWalk;
  readonly ingress: SideTierWalk;
}

const CLUSTER_TIER: Readonly<Record<'admin' | 'baseline', ClusterTier>> = { admin: 'Admin', baseline: 'Baseline' };

function clusterStep(view: ClusterView, tier: 'admin' | 'baseline', w: ClusterTierWalk): ClusterTierStep {
  const policies = w.policies.map((id) => ({ policy: id, priority: view.clusterPolicies.get(id)?.priority ?? 0 }));
  const outcome = w.action === 'Accept' ? 'accept' : w.action === 'Deny' ? 'deny' : w.action === 'Pass' ? 'pass' : 'no-match';
  return w.rule ? { tier, policies, checks: w.checks, outcome, rule: w.rule } : { tier, policies, checks: w.checks, outcome };
}

function sideWalk(view: ClusterView, x: Explanation, dir: Direction): SideTierWalk {
  const d = dir === 'egress' ? x.decision.egress : x.decision.ingress;
  if (d.reason === 'not-a-pod' || d.reason === 'self') return { direction: dir, exemption: d.reason, steps: [] };
  const steps: TierStep[] = [];
  const cluster = (tier: 'admin' | 'baseline'): boolean | typeof PASS => {
    const w = explainClusterTier(view, CLUSTER_TIER[tier], x.connection, dir);
    const step = clusterStep(view, tier, w ?? { policies: [], checks: [] });
    steps.push(step);
    return step.outcome === 'accept' || step.outcome === 'deny' ? true : PASS;
  };
  const tiers: TierSet<null, boolean> = {
    admin: () => cluster('admin'),
    networkpolicy: () => {
      // The NetworkPolicy tier decides exactly when some NetworkPolicy isolates the pod in this
      // direction; its decision is the one evaluate() reported for the side.
      if (!d.isolated) {
        steps.push({ tier: 'networkpolicy', policies: [], outcome: 'pass' });
        return PASS;
      }
      const reason: NetworkPolicyTierStep['reason'] = d.reason === 'node' || d.reason === 'no-rule' ? d.reason : 'rule';
      const base = { tier: 'networkpolicy' as const, policies: d.policies, outcome: d.allowed ? ('allow' as const) : ('deny' as const), reason };
      steps.push(d.rule && d.rule.tier === undefined ? { ...base, rule: d.rule } : base);
      return true;
    },
    baseline: () => cluster('baseline'),
  };
  // true: a tier decided; false: every tier passed and the default answers.
  if (!walkTiers(tiers, null, false)) steps.push({ tier: 'default', outcome: 'allow' });
  return { direction: dir, steps };
}

/** Both sides' tier walks for an explanation of `view`. */
export function tierWalks(view: ClusterView, x: Explanation): TierWalks {
  return { egress: sideWalk(view, x, 'egress'), ingress: sideWalk(view, x, 'ingress') };
}

/** Did the walk end in an allow? (explain's tests hold it to the evaluator's verdict.) */
export function walkAllows(w: SideTierWalk): boolean {
  if (w.exemption) return true;
  const last = w.steps[w.steps.length - 1]!;
  return last.outcome === 'accept' || last.outcome === 'allow';
}

// ---------------------------------------------------------------------------------------------
// Text

function stepText(s: TierStep): string {
  const t = TIER_TITLE[s.tier];
  switch (s.tier) {
    // NetworkPolicy has no actions: its tier and the default end in a verdict, in the words of
    // sideText; only a cluster rule ends in its action (Accept, Deny, Pass).
    case 'default':
      return `${t}: ${outcomeText(true)}`;
    case 'networkpolicy':
      if (s.outcome === 'pass') return `${t}: not isolated`;
      if (s.reason === 'node') return `${t}: isolated, own node -> ${outcomeText(true)}`;
      if (s.reason === 'rule') return `${t}: ${s.rule ? ruleLabel(s.rule) : 'a rule'} -> ${outcomeText(true)}`;
      return `${t}: ${isolatedNoRuleText(s.policies)} -> ${outcomeText(false)}`;
    default: {
      if (s.outcome === 'no-match') return s.policies.length === 0 ? `${t}: no policy selects the pod` : `${t}: no rule matched`;
      const check = s.checks[s.checks.length - 1]!;
      if (s.outcome === 'pass') return `${t}: Pass by ${ruleLabel(s.rule!)}`;
      const how = check.effect === 'deny-all' ? 'fails closed' : 'matched';
      return `${t}: ${ruleLabel(s.rule!)} ${how} -> ${s.outcome === 'accept' ? 'Accept' : 'Deny'}`;
    }
  }
}

/** "Admin: Pass by admin/delegate/to-cluster -> NetworkPolicy: not isolated -> Baseline: baseline/default/egress[1] matched -> Deny". */
export function walkText(w: SideTierWalk): string {
  return w.steps.map(stepText).join(' -> ');
}

function labelsText(l: Readonly<Record<string, string>>): string {
  const parts = Object.keys(l).sort().map((k) => `${k}=${l[k]}`);
  return parts.length ? parts.join(',') : '<none>';
}

export function clusterPeerText(p: ClusterPolicyPeer): string {
  if (p.namespaces) return `namespaces ${formatSelector(p.namespaces)}`;
  if (p.pods) return `pods namespaceSelector ${formatSelector(p.pods.namespaceSelector)} AND podSelector ${formatSelector(p.pods.podSelector)}`;
  if (p.nodes) return `nodes ${formatSelector(p.nodes)}`;
  if (p.networks) return `networks ${p.networks.join(', ')}`;
  if (p.domainNames) return `domainNames ${p.domainNames.join(', ')}`;
  return '{} (no field this Palisade knows)';
}

export function clusterPortText(p: ClusterPolicyPort): string {
  if ('namedPort' in p) return `destinationNamedPort "${p.namedPort}"`;
  if (p.port === undefined) return `${p.protocol} (all ports)`;
  return p.endPort === undefined ? `${p.protocol} ${p.port}` : `${p.protocol} ${p.port}-${p.endPort}`;
}

/** Why a peer of a rule whose peers all failed did not match the remote end (the engine found none matching). */
function peerWhy(view: ClusterView, p: ClusterPolicyPeer, remote: EndpointInfo, dns: LiveDns | undefined): string {
  const pod = remote.pod ? view.pods.get(remote.pod) : undefined;
  if (p.namespaces || p.pods) {
    if (!pod) return `${remote.ip} is not a pod; namespaces and pods peers select pods only (never nodes or host-network pods)`;
    const nsl = namespaceLabels(view, pod.namespace);
    const nsSel = p.namespaces ?? p.pods!.namespaceSelector;
    if (!selectorMatches(nsSel, nsl)) return `namespace ${pod.namespace} (labels ${labelsText(nsl)}) is not selected`;
    return `pod ${remote.pod} (labels ${labelsText(pod.labels)}) does not match podSelector ${formatSelector(p.pods!.podSelector)}`;
  }
  if (p.nodes) {
    const nodes = remote.nodes.map((n) => `${n} (labels ${labelsText(view.nodes.get(n)?.labels ?? {})})`);
    return nodes.length ? `${remote.ip} belongs to node ${nodes.join(', ')}, which the selector does not pick` : `${remote.ip} is no node's address`;
  }
  if (p.networks) return `${remote.ip} is in none of these networks`;
  if (p.domainNames) return domainPeerWhy(dns, p, remote.ip);
  return 'fails closed';
}

function portWhy(p: ClusterPolicyPort, conn: Explanation['connection'], dst: EndpointInfo, view: ClusterView): string {
  if ('namedPort' in p) {
    const pod = dst.pod ? view.pods.get(dst.pod) : undefined;
    if (!pod) return 'a named port resolves on a destination pod, and the destination is not one';
    const cps = pod.ports.filter((cp) => cp.name === p.namedPort);
    if (cps.length === 0) return `destination pod ${dst.pod} has no container port named "${p.namedPort}"`;
    return `"${p.namedPort}" on ${dst.pod} is ${cps.map((cp) => `${cp.protocol}/${cp.containerPort}`).join(', ')}, not ${conn.protocol}/${conn.port}`;
  }
  if (p.protocol !== conn.protocol) return `protocol is ${conn.protocol}`;
  return p.endPort === undefined ? `port ${conn.port} is not ${p.port}` : `port ${conn.port} is outside ${p.port}-${p.endPort}`;
}

/**
 * When the protocols entry that matched the connection is a destinationNamedPort, what the name
 * resolved to on the destination pod: ` ("web" is x/srv's TCP/8080)`; else nothing.
 */
function namedPortHit(protocols: readonly ClusterPolicyPort[], x: Explanation, view: ClusterView): string {
  const conn = x.connection;
  const pod = x.dst.pod ? view.pods.get(x.dst.pod) : undefined;
  const hit = protocols.find((p) => clusterPortMatches(p, conn.protocol, conn.port, pod?.ports));
  return hit && 'namedPort' in hit ? ` ("${hit.namedPort}" is ${x.dst.pod}'s ${conn.protocol}/${conn.port})` : '';
}

function checkLines(view: ClusterView, x: Explanation, dir: Direction, pol: ClusterPolicy, c: ClusterRuleCheck, dns: LiveDns | undefined): string[] {
  const rule = clusterRules(pol, dir)[c.ref.index]!;
  const field = dir === 'egress' ? 'to' : 'from';
  const remote = dir === 'egress' ? x.dst : x.src;
  const head = `${dir}[${c.ref.index}]${rule.name ? ` \`${rule.name}\`` : ''} ${rule.action}`;
  const closed = rule.peers.map((p, j) => ({ p, j })).filter(({ p, j }) => peerFailsClosed(p) && !peerClosedByField(rule, j));
  const closedText = [
    ...closed.map(({ j }) => `${field}[${j}] has no field this Palisade knows`),
    ...(rule.failsClosed ?? []).map((f) => `${f.field}: ${f.problem}`),
  ].join('; ');
  if (c.effect === 'deny-all') return [`${head}: MATCHES everything: it fails closed (${closedText}), and a failed-closed ${rule.action} rule denies all traffic -> Deny`];
  if (c.effect === 'matches-nothing') return [`${head}: no match: it fails closed (${closedText}), and a failed-closed Accept rule matches nothing`];
  const protos = rule.protocols.length === 0 ? 'every protocol and port (no protocols)' : undefined;
  if (c.matched) {
    const p = rule.peers[c.peer!]!;
    const port = protos ?? `protocols ${rule.protocols.map(clusterPortText).join(', ')}${namedPortHit(rule.protocols, x, view)}`;
    const byName = domainPeerMatchText(dns, p, remote.ip);
    return [`${head}: MATCHES: ${field}[${c.peer}] ${clusterPeerText(p)}; ${port} -> ${rule.action}`, ...(byName ? [`    ${field}[${c.peer}]: ${byName}`] : [])];
  }
  if (c.failedClause === 'peers') {
    return [`${head}: no match: no ${field} entry matches ${remote.ip}${remote.pod ? ` (pod ${remote.pod})` : ''}`, ...missedEntries(view, x, dir, c, dns).map((l) => `    ${l}`)];
  }
  return [`${head}: no match: ${field}[${c.peer}] matches but no protocols entry does`, ...missedEntries(view, x, dir, c, dns).map((l) => `    ${l}`)];
}

/**
 * For a rule whose peers or protocols did not match (a check of a plain match, not failed
 * closed): each entry of the failed clause with why it missed, one string each.
 */
function missedEntries(view: ClusterView, x: Explanation, dir: Direction, c: ClusterRuleCheck, dns: LiveDns | undefined): string[] {
  const rule = clusterRules(view.clusterPolicies.get(c.ref.policy)!, dir)[c.ref.index]!;
  const field = dir === 'egress' ? 'to' : 'from';
  if (c.failedClause === 'peers') return rule.peers.map((p, j) => `${field}[${j}] ${clusterPeerText(p)}: ${peerWhy(view, p, dir === 'egress' ? x.dst : x.src, dns)}`);
  return rule.protocols.map((p, k) => `protocols[${k}] ${clusterPortText(p)}: ${portWhy(p, x.connection, x.dst, view)}`);
}

/**
 * Why a cluster policy rule checked on the walk did not match, on one line (explain's reasons,
 * as checkLines gives them under the rule): for `palisade demo`'s "why".
 */
export function ruleMissText(view: ClusterView, x: Explanation, dir: Direction, c: ClusterRuleCheck): string {
  if (c.effect === 'matches-nothing') return 'it fails closed, and a failed-closed Accept rule matches nothing';
  return missedEntries(view, x, dir, c, undefined).join('; ');
}

/** The lines of one cluster tier's step (indented by the caller). */
export function clusterStepLines(view: ClusterView, x: Explanation, dir: Direction, s: ClusterTierStep, who: string, dns?: LiveDns): string[] {
  const t = TIER_TITLE[s.tier];
  if (s.policies.length === 0) return [`${t} tier: no ${t} policy selects ${who}`];
  const out = [`${t} tier, policies selecting ${who} in order: ${s.policies.map((p) => `${p.policy} (priority ${p.priority})`).join(', ')}`];
  // "If two (or more) policies in the same tier with the same priority could match a connection,
  // then the implementation can apply any of the matching policies" (lint warns where rules overlap).
  for (let i = 0; i < s.policies.length; ) {
    let j = i + 1;
    while (j < s.policies.length && s.policies[j]!.priority === s.policies[i]!.priority) j++;
    if (j - i > 1) {
      const names = s.policies.slice(i, j).map((p) => p.policy);
      out.push(`  note: ${names.slice(0, -1).join(', ')} and ${names.at(-1)} share priority ${s.policies[i]!.priority}: the API leaves their order undefined (any of them may apply); Palisade takes them in id order`);
    }
    i = j;
  }
  for (const { policy } of s.policies) {
    const pol = view.clusterPolicies.get(policy)!;
    const checks = s.checks.filter((c) => c.ref.policy === policy);
    if (clusterRules(pol, dir).length === 0) out.push(`  ${policy}: no ${dir} rules`);
    else if (checks.length === 0) out.push(`  ${policy}: not reached (an earlier rule decided)`);
    else {
      out.push(`  ${policy}:`);
      for (const c of checks) for (const line of checkLines(view, x, dir, pol, c, dns)) out.push(`    ${line}`);
    }
  }
  return out;
}
