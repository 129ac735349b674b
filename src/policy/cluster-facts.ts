// Cluster policy facts (policy.networking.k8s.io ClusterNetworkPolicy, and the v1alpha1
// Admin/BaselineAdminNetworkPolicy decoded into the same model) that more than one module needs:
// the evaluator, the compiler and its tables, lint, explain. Each is written here once, next to
// the sentence it comes from (apis/v1alpha2/clusternetworkpolicy_types.go unless said otherwise).
// The tier order itself lives in tiers.ts.

import type {
  ClusterPolicy, ClusterPolicyPeer, ClusterPolicyPort, ClusterPolicyRule, ClusterTier, ContainerPort, LabelSelector, Labels, Node, Pod,
  PolicyPeer, PolicyPort, PolicyRule, Protocol, UnmatchableField,
} from '../cluster/model.ts';
import { PROTOCOLS, clusterPolicyId } from '../cluster/model.ts';
import { formatCIDR, formatIP, parseCIDR, parseIP } from '../net/address.ts';
import type { ClusterTierName, RuleRef } from './decision.ts';
import { selectorMatches } from './selector.ts';
import { policyAppliesToPod, type Direction } from './spec-facts.ts';

/** A tier as reports name it. */
export const CLUSTER_TIER_NAME: Readonly<Record<ClusterTier, ClusterTierName>> = { Admin: 'admin', Baseline: 'baseline' };

/** The rules of a direction. "CNPs with no ingress rules do not affect ingress traffic" (and egress). */
export function clusterRules(p: ClusterPolicy, dir: Direction): readonly ClusterPolicyRule[] {
  return dir === 'ingress' ? p.ingress : p.egress;
}

/**
 * Evaluation order within a tier: "Policies with lower priority values have higher precedence,
 * and are checked before policies with higher priority values in the same tier." Two policies
 * with one priority: "the implementation can apply any of the matching policies"; Palisade takes
 * them by id so both engines (and every node) agree, and lint warns.
 */
export function compareClusterPolicies(a: ClusterPolicy, b: ClusterPolicy): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  const ia = clusterPolicyId(a), ib = clusterPolicyId(b);
  return ia < ib ? -1 : ia > ib ? 1 : 0;
}

/**
 * Subject: "Namespaces is used to select pods via namespace selectors", "Pods is used to select
 * pods via namespace AND pod selectors", and "host-networked pods are not included in subject
 * selection" (finished pods have no traffic either: policyAppliesToPod).
 */
export function clusterPolicySelectsPod(p: ClusterPolicy, pod: Pod, namespaceLabels: Labels): boolean {
  if (!policyAppliesToPod(pod)) return false;
  const s = p.subject;
  if (s.namespaces) return selectorMatches(s.namespaces, namespaceLabels);
  if (s.pods) return selectorMatches(s.pods.namespaceSelector, namespaceLabels) && selectorMatches(s.pods.podSelector, pod.labels);
  return false;
}

/**
 * A peer the engines cannot match: no field they know is set ("If an implementation sees no
 * fields are set then it can infer that the deployed CRD is of an incompatible version with an
 * unknown field. In that case it should fail closed."). A domainNames peer does not: it matches
 * the addresses learned for its names (`learned`, see domain-names.ts), nothing before any is.
 */
export function peerFailsClosed(peer: ClusterPolicyPeer): boolean {
  return !peer.namespaces && !peer.pods && !peer.nodes && !peer.networks && !peer.domainNames;
}

/**
 * Does the rule fail closed: some peer does (see peerFailsClosed), or the decoder found a field
 * the API server stores but no traffic can be matched by (rule.failsClosed, e.g. a v1alpha1 port
 * of protocol "ICMP", a peer selector with operator "Bogus"), which the API's rule for what an
 * implementation cannot read covers too.
 */
export function ruleFailsClosed(rule: ClusterPolicyRule): boolean {
  return (rule.failsClosed?.length ?? 0) > 0 || rule.peers.some(peerFailsClosed);
}

/**
 * The peer a failsClosed field lies in ("from[1].pods.podSelector..." -> 1: a selector that
 * cannot be built, the peer decoded as {}), or undefined for a port-list field. Reports name
 * such a peer by that field rather than as a peer with no known field.
 */
export function failClosedPeerIndex(f: UnmatchableField): number | undefined {
  const m = /^(?:from|to)\[(\d+)\]\./.exec(f.field);
  return m ? Number(m[1]) : undefined;
}

/** Is the rule's peer j {} because of a failsClosed field inside it (see failClosedPeerIndex)? */
export function peerClosedByField(rule: ClusterPolicyRule, j: number): boolean {
  return (rule.failsClosed ?? []).some((f) => failClosedPeerIndex(f) === j);
}

/**
 * What a rule does with the connections it matches, after failing closed: "For "Accept" rules,
 * "fail closed" means: "treat the rule as matching no traffic". For "Deny" and "Pass" rules,
 * "fail closed" means: "treat the rule as a 'Deny all' rule"." A fail-closed rule's other peers
 * and protocols no longer count, in either case.
 */
export type RuleEffect =
  | { readonly kind: 'as-written' }
  | { readonly kind: 'matches-nothing' }
  | { readonly kind: 'deny-all' };

export function clusterRuleEffect(rule: ClusterPolicyRule): RuleEffect {
  if (!ruleFailsClosed(rule)) return { kind: 'as-written' };
  return rule.action === 'Accept' ? { kind: 'matches-nothing' } : { kind: 'deny-all' };
}

/** Does a `nodes` selector pick the node? "if present but empty, it selects all Nodes". */
export function nodeSelected(sel: NonNullable<ClusterPolicyPeer['nodes']>, node: Node): boolean {
  return selectorMatches(sel, node.labels ?? {});
}

/**
 * Does a protocols entry match a connection's protocol and port? `dstPorts` are the container
 * ports of the destination pod (undefined when the destination is no pod): "DestinationNamedPort
 * selects a destination port on a pod based on the ContainerPort name"; the named container
 * port's protocol must be the connection's too, as for NetworkPolicy named ports.
 */
export function clusterPortMatches(p: ClusterPolicyPort, protocol: Protocol, port: number, dstPorts: readonly ContainerPort[] | undefined): boolean {
  if ('namedPort' in p) {
    if (!dstPorts) return false;
    return dstPorts.some((cp) => cp.name === p.namedPort && cp.protocol === protocol && cp.containerPort === port);
  }
  if (p.protocol !== protocol) return false;
  if (p.port === undefined) return true;
  // "PortRange defines an inclusive range of ports from the assigned Start value to End value."
  return port >= p.port && port <= (p.endPort ?? p.port);
}

/** The RuleRef of a cluster policy's rule, the one both engines report. */
export function clusterRuleRef(p: ClusterPolicy, dir: Direction, index: number): RuleRef {
  const rule = clusterRules(p, dir)[index]!;
  const ref = { policy: clusterPolicyId(p), direction: dir, index, tier: CLUSTER_TIER_NAME[p.tier], action: rule.action };
  return rule.name ? { ...ref, name: rule.name } : ref;
}

// ---------------------------------------------------------------------------------------------
// The compiled engine's view of a rule: the same peers and ports in NetworkPolicy's shape, so one
// kind of rule table holds the rules of every tier.

/** A cluster rule as the compiled engine's tables match it, or undefined when it matches nothing. */
export interface CompiledClusterRule {
  /** Peers and ports in NetworkPolicy shape (empty lists: everything). */
  readonly match: PolicyRule;
  /** Deny for a fail-closed Deny or Pass rule ("treat the rule as a 'Deny all' rule"). */
  readonly action: 'Accept' | 'Deny' | 'Pass';
  /** The `nodes` peers' selectors: matched by node class (node-classes.ts), not in `match`. */
  readonly nodes: readonly LabelSelector[];
}

function nodeHostCIDRs(sel: NonNullable<ClusterPolicyPeer['nodes']>, nodes: ReadonlyMap<string, Node>): string[] {
  // "It selects the nodeIPs as the peer type by matching on the IPs present in the
  // node.Status.Addresses field of the node": each address is one host block. (Host-network
  // pods have their node's addresses, so they are reached through this peer too.)
  const out: string[] = [];
  for (const n of nodes.values()) {
    if (!nodeSelected(sel, n)) continue;
    for (const a of n.addresses) {
      const ip = parseIP(a);
      if (ip) out.push(`${a}/${ip.family === 'IPv4' ? 32 : 128}`);
    }
  }
  return out;
}

/**
 * The CIDRs a cluster peer names by address: its `networks`, its `nodes`' addresses, and the addresses learned for its
 * `domainNames` as host blocks (what compileClusterRule matches them as). For tools that must
 * tell addresses apart the way the rules do (the connectivity model's address blocks).
 */
export function clusterPeerCIDRs(peer: ClusterPolicyPeer, nodes: ReadonlyMap<string, Node>): string[] {
  const out = [...(peer.networks ?? [])];
  // A `nodes` peer is its nodes' addresses (the tables match them by node class, the same set).
  if (peer.nodes) out.push(...nodeHostCIDRs(peer.nodes, nodes));
  for (const a of peer.learned ?? []) {
    const ip = parseIP(a);
    if (ip) out.push(`${formatIP(ip)}/${ip.family === 'IPv4' ? 32 : 128}`);
  }
  return out;
}

/**
 * Translates a rule for the rule tables. `namespaces` is a namespaceSelector alone (every pod of
 * the namespaces), `pods` both selectors (AND), `networks` ipBlocks; `nodes` selectors are kept
 * apart (the tables match node addresses by node class, node-classes.ts), so the compiled rule
 * does not depend on the nodes. A destination named
 * port becomes the name under each protocol: it matches when the destination pod names a
 * container port with the connection's protocol and port, exactly clusterPortMatches.
 */
export function compileClusterRule(rule: ClusterPolicyRule): CompiledClusterRule | undefined {
  const effect = clusterRuleEffect(rule);
  if (effect.kind === 'matches-nothing') return undefined;
  if (effect.kind === 'deny-all') return { match: { peers: [], ports: [] }, action: 'Deny', nodes: [] };
  const peers: PolicyPeer[] = [];
  const nodeSelectors: LabelSelector[] = [];
  for (const peer of rule.peers) {
    if (peer.namespaces) peers.push({ namespaceSelector: peer.namespaces });
    else if (peer.pods) peers.push({ namespaceSelector: peer.pods.namespaceSelector, podSelector: peer.pods.podSelector });
    else if (peer.nodes) nodeSelectors.push(peer.nodes);
    else if (peer.networks) {
      for (const n of peer.networks) {
        const c = parseCIDR(n);
        if (c) peers.push({ ipBlock: { cidr: formatCIDR(c), except: [] } });
      }
    } else if (peer.domainNames) {
      // Learned addresses are host blocks; the agent republishes the policy when they change.
      for (const a of peer.learned ?? []) {
        const ip = parseIP(a);
        if (ip) peers.push({ ipBlock: { cidr: `${formatIP(ip)}/${ip.family === 'IPv4' ? 32 : 128}`, except: [] } });
      }
    }
  }
  // Peers were given (the API requires at least one) but none can match (networks or learned
  // addresses that do not parse): the rule matches nothing. An empty list would mean "every peer".
  if (peers.length === 0 && nodeSelectors.length === 0) return undefined;
  const ports: PolicyPort[] = [];
  for (const p of rule.protocols) {
    if ('namedPort' in p) for (const protocol of PROTOCOLS) ports.push({ protocol, port: p.namedPort });
    else ports.push(p.port === undefined ? { protocol: p.protocol } : p.endPort === undefined ? { protocol: p.protocol, port: p.port } : { protocol: p.protocol, port: p.port, endPort: p.endPort });
  }
  return { match: { peers, ports }, action: rule.action, nodes: nodeSelectors };
}

/** The selectors of the policy's `nodes` peers, in rule order (the decoder admits them on egress only). */
export function clusterPolicyNodeSelectors(p: ClusterPolicy): LabelSelector[] {
  const out: LabelSelector[] = [];
  for (const r of p.egress) for (const peer of r.peers) if (peer.nodes) out.push(peer.nodes);
  return out;
}

/** Does any rule of the policy have a `nodes` peer (its compiled rules depend on the nodes)? */
export function clusterPolicyUsesNodes(p: ClusterPolicy): boolean {
  return clusterPolicyNodeSelectors(p).length > 0;
}

/**
 * Could the policy judge traffic between a pod and a node (its own included)? An egress rule
 * with a `nodes` or `networks` peer can match a node's address; a fail-closed Deny or Pass rule
 * denies everything, node traffic too. Namespaces and pods peers never match a node. The agent
 * only sends pod <-> own node connections to userspace while some policy could (iptables.ts).
 */
export function clusterPolicyMayJudgeNodeTraffic(p: ClusterPolicy): boolean {
  const denyAll = (r: ClusterPolicyRule) => clusterRuleEffect(r).kind === 'deny-all';
  return p.ingress.some(denyAll) || p.egress.some((r) => denyAll(r) || r.peers.some((q) => q.nodes !== undefined || q.networks !== undefined));
}

/**
 * Where a policy uses `domainNames` ("spec.egress[2].to[0].domainNames"): those peers match only
 * addresses learned from DNS answers to the node's pods, so lint and explain on files (no DNS)
 * report that they match nothing there.
 */
export function domainNameFields(p: ClusterPolicy): string[] {
  const out: string[] = [];
  p.egress.forEach((r, i) => r.peers.forEach((q, j) => {
    if (q.domainNames) out.push(`spec.egress[${i}].to[${j}].domainNames`);
  }));
  return out;
}
