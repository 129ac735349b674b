// Pod and peer matching for sets of pods: the rules the evaluator applies to one connection,
// asked of every pod at once. The facts themselves (which pods policy sees, what a namespace's
// labels are, what an ipBlock contains, how a named port resolves) are in spec-facts.ts and
// cluster/namespace-labels.ts, shared with the evaluator and the compiler.

import type { NetworkPolicy, Pod, PolicyPeer, PolicyPort, PolicyRule, Protocol } from '../cluster/model.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import { parseIP } from '../net/address.ts';
import { selectorMatches } from './selector.ts';
import {
  ipBlockContains, parseIPBlock, podIsSelectable, policyAppliesToPod, policySelectsPod, resolveNamedPort, type ParsedIPBlock,
} from './spec-facts.ts';

/** Pods the policy's podSelector selects (pods still waiting for an IP included: they will get one). */
export function selectedPods(view: ClusterView, pol: NetworkPolicy): Pod[] {
  const out: Pod[] = [];
  for (const p of view.pods.values()) {
    if (policyAppliesToPod(p) && policySelectsPod(pol, p)) out.push(p);
  }
  return out;
}

/** Does the ipBlock contain this address (pod IPs are canonical text)? */
export function blockContainsIP(b: ParsedIPBlock, ipText: string): boolean {
  const ip = parseIP(ipText);
  return !!ip && ipBlockContains(b, ip);
}

/** Does one peer match a pod (as a source for ingress / destination for egress)? */
export function peerMatchesPod(view: ClusterView, policyNs: string, peer: PolicyPeer, p: Pod): boolean {
  if (!podIsSelectable(p)) return false;
  if (peer.ipBlock) {
    const b = parseIPBlock(peer.ipBlock);
    return !!b && p.ips.some((ip) => blockContainsIP(b, ip));
  }
  if (peer.namespaceSelector) {
    // A namespace without its Namespace object still has its automatic label, as in the evaluator.
    if (!selectorMatches(peer.namespaceSelector, namespaceLabels(view, p.namespace))) return false;
  } else if (p.namespace !== policyNs) {
    return false;
  }
  return !peer.podSelector || selectorMatches(peer.podSelector, p.labels);
}

/** Pods a rule's peers match (every selectable pod for a rule without peers). */
export function rulePeerPods(view: ClusterView, policyNs: string, rule: PolicyRule): Pod[] {
  const out: Pod[] = [];
  for (const p of view.pods.values()) {
    if (!podIsSelectable(p)) continue;
    if (rule.peers.length === 0 || rule.peers.some((peer) => peerMatchesPod(view, policyNs, peer, p))) out.push(p);
  }
  return out;
}

/** Does a port entry admit protocol/port on a destination pod (named ports resolve on that pod)? */
export function portAdmits(pp: PolicyPort, proto: Protocol, port: number, dst?: Pod): boolean {
  if (pp.protocol !== proto) return false;
  if (pp.port === undefined) return true;
  if (typeof pp.port === 'number') return port >= pp.port && port <= (pp.endPort ?? pp.port);
  if (!dst) return false;
  return resolveNamedPort(dst.ports, pp.port, proto).includes(port);
}
