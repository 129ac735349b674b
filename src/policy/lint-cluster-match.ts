// Comparing cluster policy rules for lint: cover (every connection rule r matches, rule s matches
// too: provable from the objects alone, so a shadowing finding is never wrong) and overlap (some
// connection could match both: the objects at hand show one, e.g. a pod both peers select today,
// or CIDRs that intersect). Matching one pod against a peer or subject uses the facts of
// cluster-facts.ts, as the evaluator does.

import type {
  ClusterPolicy, ClusterPolicyPeer, ClusterPolicyPort, ClusterPolicyRule, LabelSelector, NamespacedPod, Pod,
} from '../cluster/model.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import { cidrContains, cidrWithin, parseCIDR, parseIP, type ParsedCIDR } from '../net/address.ts';
import { clusterPolicySelectsPod, clusterRuleEffect, nodeSelected } from './cluster-facts.ts';
import { selectorIsEmpty, selectorKey, selectorMatches } from './selector.ts';
import { podIsSelectable } from './spec-facts.ts';

const ALL: LabelSelector = { matchLabels: {}, matchExpressions: [] };

/** Does selector s select at least what r selects? Provable shapes only: s empty, or the same selector. */
function selCovers(s: LabelSelector, r: LabelSelector): boolean {
  return selectorIsEmpty(s) || selectorKey(s) === selectorKey(r);
}

/** A `namespaces` or `pods` peer (or subject) as the pair of selectors it is: namespaces = every pod of the namespaces. */
function podSelectors(p: { readonly namespaces?: LabelSelector; readonly pods?: NamespacedPod }): NamespacedPod | undefined {
  if (p.namespaces) return { namespaceSelector: p.namespaces, podSelector: ALL };
  return p.pods;
}

/** Pods the policy's subject selects today. */
export function subjectPods(view: ClusterView, pol: ClusterPolicy): Pod[] {
  return [...view.pods.values()].filter((p) => clusterPolicySelectsPod(pol, p, namespaceLabels(view, p.namespace)));
}

/** Does policy q's subject select every pod p's subject selects (whatever pods exist)? */
export function subjectCovers(q: ClusterPolicy, p: ClusterPolicy): boolean {
  const a = podSelectors(q.subject), b = podSelectors(p.subject);
  return !!a && !!b && selCovers(a.namespaceSelector, b.namespaceSelector) && selCovers(a.podSelector, b.podSelector);
}

/** Could the two subjects select one pod: one covers the other, or a pod today is selected by both. */
export function subjectsOverlap(view: ClusterView, a: ClusterPolicy, b: ClusterPolicy): Pod[] | true | undefined {
  if (subjectCovers(a, b) || subjectCovers(b, a)) return true;
  const both = subjectPods(view, a).filter((p) => clusterPolicySelectsPod(b, p, namespaceLabels(view, p.namespace)));
  return both.length ? both : undefined;
}

function cidrs(peer: ClusterPolicyPeer): ParsedCIDR[] {
  return (peer.networks ?? []).map((n) => parseCIDR(n)).filter((c): c is ParsedCIDR => !!c);
}

/** Do the networks hold every IPv4 and every IPv6 address (0.0.0.0/0 and ::/0)? Then they match every peer. */
function everyAddress(nets: readonly ParsedCIDR[]): boolean {
  return nets.some((c) => c.family === 'IPv4' && c.prefix === 0) && nets.some((c) => c.family === 'IPv6' && c.prefix === 0);
}

/** Does peer s match at least every remote end peer r matches? */
function peerCovers(s: ClusterPolicyPeer, r: ClusterPolicyPeer, sNets: readonly ParsedCIDR[]): boolean {
  if (everyAddress(sNets)) return true;
  const sp = podSelectors(s), rp = podSelectors(r);
  if (sp && rp) return selCovers(sp.namespaceSelector, rp.namespaceSelector) && selCovers(sp.podSelector, rp.podSelector);
  if (s.nodes && r.nodes) return selCovers(s.nodes, r.nodes);
  // The CIDRs of r, each inside one CIDR of any of s's peers (a CIDR is one contiguous range).
  if (r.networks) return cidrs(r).every((c) => sNets.some((o) => cidrWithin(c, o)));
  return false;
}

function portCovers(s: ClusterPolicyPort, r: ClusterPolicyPort): boolean {
  if ('namedPort' in s || 'namedPort' in r) return 'namedPort' in s && 'namedPort' in r && s.namedPort === r.namedPort;
  if (s.protocol !== r.protocol) return false;
  if (s.port === undefined) return true;
  if (r.port === undefined) return false;
  return r.port >= s.port && (r.endPort ?? r.port) <= (s.endPort ?? s.port);
}

/**
 * Does rule s match every connection rule r matches (both as written, same direction, for pods
 * both apply to)? A rule that fails closed into a deny-all matches everything; one that matches
 * nothing covers nothing (and is not covered: it is reported on its own).
 */
export function ruleCovers(s: ClusterPolicyRule, r: ClusterPolicyRule): boolean {
  const se = clusterRuleEffect(s).kind, re = clusterRuleEffect(r).kind;
  if (se === 'deny-all') return re !== 'matches-nothing';
  if (se === 'matches-nothing' || re !== 'as-written') return false;
  const sNets = s.peers.flatMap(cidrs);
  const peersOk = r.peers.every((rp) => s.peers.some((sp) => peerCovers(sp, rp, sNets)));
  const portsOk = s.protocols.length === 0 || (r.protocols.length > 0 && r.protocols.every((rp) => s.protocols.some((sp) => portCovers(sp, rp))));
  return peersOk && portsOk;
}

/** Does a namespaces/pods peer select the pod (as a remote end)? Host-network pods never. */
function podPeerMatches(view: ClusterView, sel: NamespacedPod, pod: Pod): boolean {
  return podIsSelectable(pod) && selectorMatches(sel.namespaceSelector, namespaceLabels(view, pod.namespace)) && selectorMatches(sel.podSelector, pod.labels);
}

function inNets(nets: readonly ParsedCIDR[], ipText: string): boolean {
  const ip = parseIP(ipText);
  return !!ip && nets.some((c) => c.family === ip.family && cidrContains(c, ip));
}

/** Could one remote end match both peers? Shown by the objects: a pod or node both pick, intersecting CIDRs, or cover. */
function peersOverlap(view: ClusterView, a: ClusterPolicyPeer, b: ClusterPolicyPeer): boolean {
  if (peerCovers(a, b, cidrs(a)) || peerCovers(b, a, cidrs(b))) return true;
  const ap = podSelectors(a), bp = podSelectors(b);
  const an = cidrs(a), bn = cidrs(b);
  if (a.networks && b.networks) return an.some((x) => bn.some((y) => x.family === y.family && (cidrWithin(x, y) || cidrWithin(y, x))));
  const pods = [...view.pods.values()];
  const nodes = [...view.nodes.values()];
  if (ap && bp) return pods.some((p) => podPeerMatches(view, ap, p) && podPeerMatches(view, bp, p));
  if (a.nodes && b.nodes) return nodes.some((n) => nodeSelected(a.nodes!, n) && nodeSelected(b.nodes!, n));
  const net = a.networks ? an : b.networks ? bn : undefined;
  const other = a.networks ? b : a;
  if (!net) return false; // nodes and pods peers never pick the same address
  const op = podSelectors(other);
  if (op) return pods.some((p) => podPeerMatches(view, op, p) && p.ips.some((ip) => inNets(net, ip)));
  if (other.nodes) return nodes.some((n) => nodeSelected(other.nodes!, n) && n.addresses.some((ip) => inNets(net, ip)));
  return false;
}

function portsOverlap(view: ClusterView, a: ClusterPolicyPort, b: ClusterPolicyPort): boolean {
  if ('namedPort' in a && 'namedPort' in b) return a.namedPort === b.namedPort;
  if ('namedPort' in a || 'namedPort' in b) {
    // A named port overlaps a number when some pod today names that port number with that protocol.
    const [n, p] = 'namedPort' in a ? [a, b as Exclude<ClusterPolicyPort, { namedPort: string }>] : [b as { namedPort: string }, a];
    return [...view.pods.values()].some((pod) => pod.ports.some((cp) => cp.name === n.namedPort && cp.protocol === p.protocol &&
      (p.port === undefined || (cp.containerPort >= p.port && cp.containerPort <= (p.endPort ?? p.port)))));
  }
  if (a.protocol !== b.protocol) return false;
  if (a.port === undefined || b.port === undefined) return true;
  return a.port <= (b.endPort ?? b.port) && b.port <= (a.endPort ?? a.port);
}

/** Could one connection match both rules (same direction, for a pod both apply to)? */
export function rulesOverlap(view: ClusterView, a: ClusterPolicyRule, b: ClusterPolicyRule): boolean {
  const ae = clusterRuleEffect(a).kind, be = clusterRuleEffect(b).kind;
  if (ae === 'matches-nothing' || be === 'matches-nothing') return false;
  if (ae === 'deny-all' || be === 'deny-all') return true;
  const peers = a.peers.some((x) => b.peers.some((y) => peersOverlap(view, x, y)));
  const ports = a.protocols.length === 0 || b.protocols.length === 0 || a.protocols.some((x) => b.protocols.some((y) => portsOverlap(view, x, y)));
  return peers && ports;
}
