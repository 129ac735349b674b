// Human text for an Explanation (src/policy/evaluator.ts keeps it as data).

import type { PolicyPeer, PolicyPort } from '../cluster/model.ts';
import type { ClusterView } from '../cluster/state.ts';
import type { SideDecision } from '../policy/decision.ts';
import type { EndpointInfo, Explanation, PeerMismatch, PortMismatch, RuleCheck, SideExplanation } from '../policy/evaluator.ts';
import { formatSelector } from '../policy/selector.ts';
import type { LiveDns } from './dns-input.ts';
import { dnsAddressLines, domainRuleLines } from './explain-dns.ts';
import { clusterStepLines, walkText, type TierWalks } from './explain-tiers.ts';
import { sideText, verdictText } from './vocabulary.ts';

function labelsText(l: Readonly<Record<string, string>>): string {
  const parts = Object.keys(l).sort().map((k) => `${k}=${l[k]}`);
  return parts.length ? parts.join(',') : '<none>';
}

export function endpointText(e: EndpointInfo): string {
  const what: string[] = [];
  if (e.pod) what.push(`pod ${e.pod}`);
  if (e.nodes.length) what.push(`node ${e.nodes.join(', ')}`);
  for (const s of e.skippedPods) what.push(`${s.reason === 'host-network' ? 'host-network' : 'finished'} pod ${s.pod}, ignored by policy`);
  if (!e.pod && e.nodes.length === 0) what.push('outside host');
  return `${e.ip} (${what.join('; ')})`;
}

export function peerText(p: PolicyPeer): string {
  if (p.ipBlock) return `ipBlock ${p.ipBlock.cidr}${p.ipBlock.except.length ? ` except ${p.ipBlock.except.join(', ')}` : ''}`;
  const parts: string[] = [];
  if (p.namespaceSelector) parts.push(`namespaceSelector ${formatSelector(p.namespaceSelector)}`);
  if (p.podSelector) parts.push(`podSelector ${formatSelector(p.podSelector)}`);
  return parts.join(' AND ');
}

export function portText(p: PolicyPort): string {
  if (p.port === undefined) return `${p.protocol} (all ports)`;
  if (p.endPort !== undefined) return `${p.protocol} ${p.port}-${p.endPort}`;
  return typeof p.port === 'string' ? `${p.protocol} port named "${p.port}"` : `${p.protocol} ${p.port}`;
}

export function peerMismatchText(m: PeerMismatch): string {
  switch (m.kind) {
    case 'not-a-pod': return `${m.ip} is not a pod, and selectors only select pods`;
    case 'other-namespace': return `pod is in namespace ${m.namespace}; a podSelector without namespaceSelector only selects pods of ${m.policyNamespace}`;
    case 'namespace-labels': return `namespace ${m.namespace} (labels ${labelsText(m.labels)}) does not match namespaceSelector ${m.selector}`;
    case 'pod-labels': return `pod ${m.pod} (labels ${labelsText(m.labels)}) does not match podSelector ${m.selector}`;
    case 'ipblock-family': return `${m.ip} is not of the same IP family as ${m.cidr}`;
    case 'ipblock-outside': return `${m.ip} is outside ${m.cidr}`;
    case 'ipblock-except': return `${m.ip} is inside ${m.cidr} but excluded by except ${m.except}`;
  }
}

export function portMismatchText(m: PortMismatch): string {
  switch (m.kind) {
    case 'protocol': return `protocol is ${m.got}, the rule port is ${m.want}`;
    case 'port': return m.endPort === undefined ? `port ${m.got} is not ${m.port}` : `port ${m.got} is outside ${m.port}-${m.endPort}`;
    case 'named-port-no-pod': return `named port "${m.name}" can only be resolved on a destination pod, and the destination is not one`;
    case 'named-port-missing': return `destination pod ${m.pod} has no ${m.protocol} container port named "${m.name}"`;
    case 'named-port-other': return `"${m.name}" on ${m.pod} is port ${m.resolved.join(', ')}, not ${m.got}`;
  }
}

function ruleLines(dir: string, r: RuleCheck, peerField: string, x: Explanation): string[] {
  const head = `${dir}[${r.index}]`;
  const out: string[] = [];
  if (r.matched) {
    const peer = r.allPeers ? `every ${peerField === 'from' ? 'source' : 'destination'} (no ${peerField})` : `${peerField}[${r.peers.find((p) => !p.mismatch)!.index}] ${peerText(r.peers.find((p) => !p.mismatch)!.peer)}`;
    const hit = r.ports.find((p) => !p.mismatch);
    // A name that matched resolved, on the destination pod, to the connection's own port.
    const resolved = hit && typeof hit.port.port === 'string' ? ` (${x.dst.pod}'s ${x.connection.protocol}/${x.connection.port})` : '';
    const port = r.allPorts ? 'every port (no ports)' : `ports[${hit!.index}] ${portText(hit!.port)}${resolved}`;
    out.push(`${head}: MATCHES: ${peer}; ${port}`);
    return out;
  }
  if (r.failedClause === 'peers') {
    out.push(`${head}: no match: no ${peerField} entry matches`);
    for (const p of r.peers) out.push(`    ${peerField}[${p.index}] ${peerText(p.peer)}: ${peerMismatchText(p.mismatch!)}`);
  } else {
    out.push(`${head}: no match: ${peerField} matches but no port does`);
    for (const p of r.ports) out.push(`    ports[${p.index}] ${portText(p.port)}: ${portMismatchText(p.mismatch!)}`);
  }
  return out;
}

/**
 * The side's first line: the phrase every command words the decision with (vocabulary.ts), and
 * for a side no tier decided, why nothing isolated it.
 */
function sideSummary(s: SideExplanation, d: SideDecision, ip: string, tiered: boolean): string {
  const who = `${s.direction} of ${s.pod ?? ip}`;
  const type = s.direction === 'egress' ? 'Egress' : 'Ingress';
  const why = d.reason !== 'not-isolated' ? '' : tiered ? ` (no NetworkPolicy selects the pod for ${type} and no cluster policy rule decided: the default allows)` : ` (no NetworkPolicy selects the pod for ${type})`;
  return `${who}: ${sideText(d)}${why}`;
}

function networkPolicyLines(x: Explanation, s: SideExplanation, d: SideDecision, showRules: boolean): string[] {
  const out: string[] = [];
  if (d.isolated) out.push(`isolating policies (${s.direction === 'egress' ? 'Egress' : 'Ingress'}): ${d.policies.join(', ')}`);
  // The node exemption is checked before the rules, so a node denied here is another node.
  const remote = s.direction === 'egress' ? x.dst : x.src;
  if (d.reason === 'no-rule' && remote.nodes.length > 0) out.push(`${remote.ip} is node ${remote.nodes.join(', ')}, not the node ${s.pod} runs on: the own-node exemption does not apply`);
  if (!showRules) return out;
  const peerField = s.direction === 'egress' ? 'to' : 'from';
  for (const pc of s.policies) {
    if (pc.rules.length === 0) {
      out.push(`policy ${pc.policy}: no ${s.direction} rules (it only isolates the pod)`);
      continue;
    }
    out.push(`policy ${pc.policy}:`);
    for (const r of pc.rules) for (const line of ruleLines(s.direction, r, peerField, x)) out.push(`  ${line}`);
  }
  return out;
}

/**
 * A side when cluster policies exist: the tier walk in one line, then each tier asked, in order:
 * the cluster tiers' policies and rules checked, the NetworkPolicy tier as without cluster
 * policies, the default.
 */
function tieredSideLines(view: ClusterView, x: Explanation, s: SideExplanation, d: SideDecision, walks: TierWalks, dns: LiveDns | undefined): string[] {
  const ip = s.direction === 'egress' ? x.src.ip : x.dst.ip;
  const who = s.pod ?? ip;
  const out = [sideSummary(s, d, ip, true)];
  const w = walks[s.direction];
  if (w.exemption) return out;
  if (s.direction === 'egress') for (const line of domainRuleLines(view, x, w, dns)) out.push(`  ${line}`);
  out.push(`  tiers: ${walkText(w)}`);
  for (const step of w.steps) {
    if (step.tier === 'admin' || step.tier === 'baseline') {
      for (const line of clusterStepLines(view, x, s.direction, step, who, dns)) out.push(`  ${line}`);
    } else if (step.tier === 'networkpolicy') {
      if (step.outcome === 'pass') {
        out.push(`  NetworkPolicy tier: no NetworkPolicy selects ${who} for ${s.direction === 'egress' ? 'Egress' : 'Ingress'} (not isolated): next tier`);
        continue;
      }
      out.push('  NetworkPolicy tier:');
      for (const line of networkPolicyLines(x, s, d, step.reason !== 'node')) out.push(`    ${line}`);
    } else {
      out.push('  default: allowed (no tier decided)');
    }
  }
  return out;
}

/**
 * The full answer, one line per entry, ready to print. With cluster policies in `view` (and
 * their walks) each side walks the tiers; without, the NetworkPolicy-only text. With a node's
 * name records (`dns`, explain --dns-status), what the destination is by DNS and which name
 * made each domainNames rule match or not.
 */
export function formatExplanation(x: Explanation, tiers?: { readonly view: ClusterView; readonly walks: TierWalks; readonly dns?: LiveDns }): string[] {
  const c = x.connection;
  const out: string[] = [];
  out.push(`${endpointText(x.src)} -> ${endpointText(x.dst)} ${c.protocol}/${c.port}: ${verdictText(x.decision.allowed)}`);
  if (tiers?.dns) out.push(...dnsAddressLines(tiers.view, x, tiers.dns));
  for (const s of [x.egress, x.ingress]) {
    const d = s.direction === 'egress' ? x.decision.egress : x.decision.ingress;
    out.push('');
    if (tiers && tiers.view.clusterPolicies.size > 0) {
      out.push(...tieredSideLines(tiers.view, x, s, d, tiers.walks, tiers.dns));
      continue;
    }
    out.push(sideSummary(s, d, s.direction === 'egress' ? x.src.ip : x.dst.ip, false));
    for (const line of networkPolicyLines(x, s, d, d.reason === 'rule' || d.reason === 'no-rule')) out.push(`  ${line}`);
  }
  return out;
}
