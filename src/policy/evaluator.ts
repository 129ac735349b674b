// The plain NetworkPolicy evaluator: the spec, sentence by sentence, with no precomputation.
// It is the oracle the compiled engine is tested against and the source of `explain`. It walks
// every policy for every question, so it is slow on purpose: each step below is the smallest
// code that says what the quoted sentence says.
//
// Sources quoted (networking.k8s.io/v1):
//   [API]  the NetworkPolicy API reference (k8s.io/api/networking/v1 types.go field docs)
//   [DOCS] https://kubernetes.io/docs/concepts/services-networking/network-policies/
//
// Contract details both engines must share (the differential test compares whole Decisions):
// - IP -> pod: a pod owns an IP when the IP is in status.podIPs, the pod is not hostNetwork and
//   not in phase Succeeded/Failed. If several pods claim one IP (a stale object and its
//   replacement), the pod in phase Running wins, then the smallest "namespace/name" key.
// - Namespace labels of a pod whose Namespace object is unknown: { kubernetes.io/metadata.name:
//   <namespace> }, the one label the API server always sets.
// - Reason precedence per side (tiers.ts, shared with the compiled engine): 'not-a-pod' (no pod
//   owns the address, or opts.localNode is set and the pod runs elsewhere: its side is judged by
//   its own node), then 'self', then the Admin tier ('rule'), the NetworkPolicy tier ('node',
//   'rule' or 'no-rule' for an isolated pod), the Baseline tier ('rule'), then the default
//   'not-isolated'. `isolated` and `policies` (NetworkPolicy isolation) are filled for every
//   judged pod whatever the reason; for 'not-a-pod' they are false / [].
// - The Admin and Baseline tiers are walked by cluster-evaluator.ts.

import type { Labels, NetworkPolicy, Pod, PolicyPeer, PolicyPort, PolicyRule, Protocol } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import { canonicalIP, cidrContains, parseCIDR, parseIP } from '../net/address.ts';
import type { ParsedIP } from '../net/address.ts';
import type { Connection, Decision, RuleRef, SideDecision, SideReason } from './decision.ts';
import { formatSelector, selectorMatches } from './selector.ts';
import { addressClaimWins, comparePolicies, podIsSelectable, policyIsolatesPod, type Direction } from './spec-facts.ts';
import { sideAllows, sideReason } from './engine-api.ts';
import { PASS, TIERS_DECIDE, sideExemption, walkTiers, type TierSet } from './tiers.ts';
import { walkClusterTier, type ClusterTierWalk } from './cluster-evaluator.ts';
import type { ClusterTier } from '../cluster/model.ts';

export type { Direction };

export interface EvaluateOptions {
  /**
   * Judge only pods with this spec.nodeName (an agent enforces its own pods; the other end is
   * judged by its node). Without it every pod is judged (cluster-wide answers for verify/tests).
   */
  readonly localNode?: string;
}

// ---------------------------------------------------------------------------------------------
// Address resolution

/** Why a pod holding an address is not the owner policy sees (see podIsSelectable). */
export type SkippedPodReason = 'host-network' | 'finished';

/** The pod that owns an IP for policy purposes (see the tie-break in the file header). */
export function podForIP(view: ClusterView, ip: string): Pod | undefined {
  let best: Pod | undefined;
  let bestKey = '';
  for (const p of view.pods.values()) {
    if (!podIsSelectable(p) || !p.ips.includes(ip)) continue;
    const k = podKey(p);
    if (!best || addressClaimWins(p, k, best, bestKey)) { best = p; bestKey = k; }
  }
  return best;
}

/** Names of the nodes having this address (InternalIP/ExternalIP), sorted. */
export function nodesForIP(view: ClusterView, ip: string): string[] {
  const out: string[] = [];
  for (const n of view.nodes.values()) if (n.addresses.includes(ip)) out.push(n.name);
  return out.sort();
}

function isNodeAddressOf(view: ClusterView, pod: Pod, ip: string): boolean {
  if (!pod.nodeName) return false;
  const node = view.nodes.get(pod.nodeName);
  return node !== undefined && node.addresses.includes(ip);
}

/** The far end of a connection as one side's rules see it. */
interface Remote {
  readonly ip: ParsedIP | undefined;
  readonly ipText: string;
  readonly pod: Pod | undefined;
}

// ---------------------------------------------------------------------------------------------
// Clause checks, each returning undefined on a match or the reason it did not match.

export type PeerMismatch =
  /** A selector peer, but the remote address is no selectable pod. */
  | { readonly kind: 'not-a-pod'; readonly ip: string }
  /** podSelector without namespaceSelector: the remote pod is in another namespace. */
  | { readonly kind: 'other-namespace'; readonly namespace: string; readonly policyNamespace: string }
  | { readonly kind: 'namespace-labels'; readonly namespace: string; readonly selector: string; readonly labels: Labels }
  | { readonly kind: 'pod-labels'; readonly pod: string; readonly selector: string; readonly labels: Labels }
  | { readonly kind: 'ipblock-family'; readonly cidr: string; readonly ip: string }
  | { readonly kind: 'ipblock-outside'; readonly cidr: string; readonly ip: string }
  | { readonly kind: 'ipblock-except'; readonly cidr: string; readonly except: string; readonly ip: string };

export type PortMismatch =
  | { readonly kind: 'protocol'; readonly want: Protocol; readonly got: Protocol }
  | { readonly kind: 'port'; readonly port: number; readonly endPort?: number; readonly got: number }
  /** The destination is not a pod, so a named port cannot be resolved. */
  | { readonly kind: 'named-port-no-pod'; readonly name: string }
  /** The destination pod has no container port with that name and protocol. */
  | { readonly kind: 'named-port-missing'; readonly name: string; readonly pod: string; readonly protocol: Protocol }
  /** The name resolves on the destination pod, but to other port numbers. */
  | { readonly kind: 'named-port-other'; readonly name: string; readonly pod: string; readonly resolved: readonly number[]; readonly got: number };

function peerMismatch(view: ClusterView, policy: NetworkPolicy, peer: PolicyPeer, remote: Remote): PeerMismatch | undefined {
  if (peer.ipBlock) {
    // [API] IPBlock "describes a particular CIDR ... that is allowed to the pods matched by a
    // NetworkPolicySpec's podSelector. The except entry describes CIDRs that should not be
    // included within this rule." A CIDR of one family never contains an address of the other.
    const cidr = parseCIDR(peer.ipBlock.cidr)!;
    if (!remote.ip || remote.ip.family !== cidr.family) return { kind: 'ipblock-family', cidr: peer.ipBlock.cidr, ip: remote.ipText };
    if (!cidrContains(cidr, remote.ip)) return { kind: 'ipblock-outside', cidr: peer.ipBlock.cidr, ip: remote.ipText };
    for (const ex of peer.ipBlock.except) {
      if (cidrContains(parseCIDR(ex)!, remote.ip)) return { kind: 'ipblock-except', cidr: peer.ipBlock.cidr, except: ex, ip: remote.ipText };
    }
    // ipBlock is purely address based: it matches pod IPs too (the spec does not exempt them).
    return undefined;
  }
  // Selector peers pick pods only: host-network, finished and IP-less pods are never selected.
  const pod = remote.pod;
  if (!pod) return { kind: 'not-a-pod', ip: remote.ipText };
  if (peer.namespaceSelector) {
    // [API] namespaceSelector "selects namespaces using cluster-scoped labels. This field
    // follows standard label selector semantics; if present but empty, it selects all namespaces."
    // A namespace whose object is unknown has its automatic label only (namespace-labels.ts).
    const labels = namespaceLabels(view, pod.namespace);
    if (!selectorMatches(peer.namespaceSelector, labels)) {
      return { kind: 'namespace-labels', namespace: pod.namespace, selector: formatSelector(peer.namespaceSelector), labels };
    }
  } else if (pod.namespace !== policy.namespace) {
    // [API] podSelector: "If namespaceSelector is also set, then the NetworkPolicyPeer as a
    // whole selects the pods matching podSelector in the Namespaces selected by
    // NamespaceSelector. Otherwise it selects the pods matching podSelector in the policy's own
    // namespace."
    return { kind: 'other-namespace', namespace: pod.namespace, policyNamespace: policy.namespace };
  }
  if (peer.podSelector && !selectorMatches(peer.podSelector, pod.labels)) {
    // [API] namespaceSelector: "If podSelector is also set, then the NetworkPolicyPeer as a whole
    // selects the pods matching podSelector in the namespaces selected by namespaceSelector."
    // (both in one peer = AND; a namespaceSelector alone selects every pod of the namespaces).
    return { kind: 'pod-labels', pod: podKey(pod), selector: formatSelector(peer.podSelector), labels: pod.labels };
  }
  return undefined;
}

function portMismatch(port: PolicyPort, conn: Connection, dstPod: Pod | undefined): PortMismatch | undefined {
  // [API] protocol: "The protocol (TCP, UDP, or SCTP) which traffic must match. If not
  // specified, this field defaults to TCP." (defaulted in decode.ts)
  if (port.protocol !== conn.protocol) return { kind: 'protocol', want: port.protocol, got: conn.protocol };
  // [API] port: "If this field is not provided, this matches all port names and numbers."
  if (port.port === undefined) return undefined;
  if (typeof port.port === 'number') {
    // [API] endPort: "indicates that the range of ports from port to endPort if set, inclusive,
    // should be allowed by the policy."
    const end = port.endPort ?? port.port;
    if (conn.port >= port.port && conn.port <= end) return undefined;
    return port.endPort === undefined
      ? { kind: 'port', port: port.port, got: conn.port }
      : { kind: 'port', port: port.port, endPort: port.endPort, got: conn.port };
  }
  // [API] port: "The port on the given protocol. This can either be a numerical or named port on
  // a pod." A name is resolved against the containerPorts of the pod the traffic goes TO (the
  // selected pod for ingress, the peer for egress), with the same protocol.
  if (!dstPod) return { kind: 'named-port-no-pod', name: port.port };
  const resolved: number[] = [];
  for (const cp of dstPod.ports) if (cp.name === port.port && cp.protocol === port.protocol) resolved.push(cp.containerPort);
  if (resolved.includes(conn.port)) return undefined;
  if (resolved.length === 0) return { kind: 'named-port-missing', name: port.port, pod: podKey(dstPod), protocol: port.protocol };
  return { kind: 'named-port-other', name: port.port, pod: podKey(dstPod), resolved, got: conn.port };
}

function ruleMatches(view: ClusterView, policy: NetworkPolicy, rule: PolicyRule, conn: Connection, remote: Remote, dstPod: Pod | undefined): boolean {
  // [API] from/to: "If this field is empty or missing, this rule matches all sources/
  // destinations ... If this field is present and contains at least one item, this rule allows
  // traffic only if the traffic matches at least one item in the from/to list." (peers = OR)
  const peerOk = rule.peers.length === 0 || rule.peers.some((p) => peerMismatch(view, policy, p, remote) === undefined);
  if (!peerOk) return false;
  // [API] ports: "If this field is empty or missing, this rule matches all ports ... If this
  // field is present and contains at least one item, then this rule allows traffic only if the
  // traffic matches at least one port in the list." And: "traffic must match both ports and from".
  return rule.ports.length === 0 || rule.ports.some((p) => portMismatch(p, conn, dstPod) === undefined);
}

// ---------------------------------------------------------------------------------------------
// Isolation and sides

/** "namespace/name"-sorted policies of the pod's namespace selecting it for a direction. */
export function isolatingPolicies(view: ClusterView, pod: Pod, dir: Direction): NetworkPolicy[] {
  const out: NetworkPolicy[] = [];
  for (const pol of view.policies.values()) if (policyIsolatesPod(pol, pod, dir)) out.push(pol);
  return out.sort(comparePolicies);
}

interface SideInput {
  readonly view: ClusterView;
  readonly conn: Connection;
  readonly dir: Direction;
  /** The pod whose side this is (source for egress, destination for ingress). */
  readonly pod: Pod | undefined;
  /** The other end. */
  readonly remote: Remote;
  readonly dstPod: Pod | undefined;
  readonly localNode?: string;
}

function side(allowed: boolean, reason: SideReason, policies: readonly NetworkPolicy[], rule?: RuleRef): SideDecision {
  const keys = policies.map(podKey);
  return rule ? { allowed, reason, isolated: policies.length > 0, policies: keys, rule } : { allowed, reason, isolated: policies.length > 0, policies: keys };
}

// The side's walk is tiers.ts's: the exemptions, then each tier (here in the evaluator's words),
// then the default. What each step says is quoted where it is decided (tiers.ts, and below).
function judgeSide(s: SideInput): SideDecision {
  const { view, pod, remote } = s;
  // Traffic of addresses that are no (selectable) pod is not ours to judge on this side, nor
  // that of a pod another node judges.
  const judged = pod !== undefined && (s.localNode === undefined || pod.nodeName === s.localNode);
  const pols = judged ? isolatingPolicies(view, pod, s.dir) : [];
  const exempt = sideExemption(judged, judged && remote.pod === pod);
  if (exempt !== TIERS_DECIDE) return side(sideAllows(exempt), sideReason(exempt), pols);
  // [API] "Traffic is allowed to a pod if there are no NetworkPolicies selecting the pod".
  // [DOCS] "By default, a pod is non-isolated for egress; all outbound connections are allowed."
  return walkTiers(EVAL_TIERS, { s, pols }, side(true, 'not-isolated', pols));
}

interface TierQuestion {
  readonly s: SideInput;
  /** The NetworkPolicies isolating the side's pod in its direction. */
  readonly pols: readonly NetworkPolicy[];
}

/** A cluster tier's walk as a tier answer: its first matching rule's Accept or Deny, else PASS. */
function clusterTier(tier: ClusterTier, { s, pols }: TierQuestion): SideDecision | typeof PASS {
  const w = walkClusterTier(s.view, tier, s.pod!, s.dir, s.conn, s.remote, s.dstPod);
  // Pass: "Skips all further ClusterNetworkPolicy rules in the current tier for the selected
  // traffic, and passes evaluation to the next tier"; no matching rule passes too.
  if (w.action === undefined || w.action === 'Pass') return PASS;
  // Accept: "No further ingress ClusterNetworkPolicy or NetworkPolicy rules will be processed"
  // (egress: "but any ingress rules at the destination do apply"); Deny: "Drops the selected traffic".
  return side(w.action === 'Accept', 'rule', pols, w.rule);
}

const EVAL_TIERS: TierSet<TierQuestion, SideDecision> = {
  admin: (q) => clusterTier('Admin', q),
  networkpolicy: ({ s, pols }) => {
    if (pols.length === 0) return PASS;
    // [API] ingress: "OR if the traffic source is the pod's local node"; [DOCS] "traffic to and
    // from the node where a Pod is running is always allowed" (for an isolated pod: it is part
    // of NetworkPolicy isolation, see tiers.ts).
    if (isNodeAddressOf(s.view, s.pod!, s.remote.ipText)) return side(true, 'node', pols);
    // [DOCS] "When a pod is isolated for ingress, the only allowed connections into the pod are
    // those from the pod's node and those allowed by the ingress list of some NetworkPolicy that
    // applies to the pod for ingress." Policies are additive: the first allowing rule (policies
    // in key order, rules in spec order) is reported.
    for (const pol of pols) {
      const rules = s.dir === 'ingress' ? pol.ingress : pol.egress;
      for (let i = 0; i < rules.length; i++) {
        if (ruleMatches(s.view, pol, rules[i]!, s.conn, s.remote, s.dstPod)) {
          return side(true, 'rule', pols, { policy: podKey(pol), direction: s.dir, index: i });
        }
      }
    }
    // [API] ingress/egress: "If this field is empty then this NetworkPolicy does not allow any
    // traffic (and serves solely to ensure that the pods it selects are isolated by default)".
    return side(false, 'no-rule', pols);
  },
  baseline: (q) => clusterTier('Baseline', q),
};

/** The walk of one cluster tier for one side of a connection (explain shows it; evaluate uses its answer). */
export function explainClusterTier(view: ClusterView, tier: ClusterTier, conn: Connection, dir: Direction, opts: EvaluateOptions = {}): ClusterTierWalk | undefined {
  const c = normalise(conn);
  const srcPod = podForIP(view, c.src);
  const dstPod = podForIP(view, c.dst);
  const pod = dir === 'egress' ? srcPod : dstPod;
  if (!pod || (opts.localNode !== undefined && pod.nodeName !== opts.localNode)) return undefined;
  const remote = dir === 'egress' ? { ip: parseIP(c.dst), ipText: c.dst, pod: dstPod } : { ip: parseIP(c.src), ipText: c.src, pod: srcPod };
  return walkClusterTier(view, tier, pod, dir, c, remote, dstPod);
}

function normalise(conn: Connection): Connection {
  const src = canonicalIP(conn.src) ?? conn.src;
  const dst = canonicalIP(conn.dst) ?? conn.dst;
  return src === conn.src && dst === conn.dst ? conn : { ...conn, src, dst };
}

/**
 * Judges a new connection conn.src -> conn.dst:port. [DOCS] "for a connection from a source pod
 * to a destination pod to be allowed, both the egress policy on the source pod and the ingress
 * policy on the destination pod need to allow the connection."
 */
export function evaluate(view: ClusterView, conn: Connection, opts: EvaluateOptions = {}): Decision {
  const c = normalise(conn);
  const srcPod = podForIP(view, c.src);
  const dstPod = podForIP(view, c.dst);
  const srcIP = parseIP(c.src), dstIP = parseIP(c.dst);
  const egress = judgeSide({
    view, conn: c, dir: 'egress', pod: srcPod, dstPod, localNode: opts.localNode,
    remote: { ip: dstIP, ipText: c.dst, pod: dstPod },
  });
  const ingress = judgeSide({
    view, conn: c, dir: 'ingress', pod: dstPod, dstPod, localNode: opts.localNode,
    remote: { ip: srcIP, ipText: c.src, pod: srcPod },
  });
  const d: { -readonly [K in keyof Decision]: Decision[K] } = { allowed: egress.allowed && ingress.allowed, egress, ingress };
  if (srcPod) d.srcPod = podKey(srcPod);
  if (dstPod) d.dstPod = podKey(dstPod);
  return d;
}

// ---------------------------------------------------------------------------------------------
// explain: the same walk, keeping every intermediate answer.

export interface EndpointInfo {
  readonly ip: string;
  /** The pod owning the address for policy purposes. */
  readonly pod?: string;
  /** Nodes having the address. */
  readonly nodes: readonly string[];
  /** Pods holding the address that policy ignores, and why. */
  readonly skippedPods: readonly { readonly pod: string; readonly reason: SkippedPodReason }[];
}

export interface PeerCheck {
  readonly index: number;
  readonly peer: PolicyPeer;
  /** undefined when the peer matched. */
  readonly mismatch?: PeerMismatch;
}

export interface PortCheck {
  readonly index: number;
  readonly port: PolicyPort;
  readonly mismatch?: PortMismatch;
}

export interface RuleCheck {
  readonly index: number;
  readonly matched: boolean;
  /** True when from/to is empty (matches every peer). */
  readonly allPeers: boolean;
  readonly peers: readonly PeerCheck[];
  /** True when ports is empty (matches every port). */
  readonly allPorts: boolean;
  readonly ports: readonly PortCheck[];
  /** For a rule that did not match: the first clause that failed (peers are checked before ports). */
  readonly failedClause?: 'peers' | 'ports';
}

export interface PolicyCheck {
  readonly policy: string;
  /** The rules of this policy for the direction (empty list: the policy only isolates). */
  readonly rules: readonly RuleCheck[];
}

export interface SideExplanation {
  readonly direction: Direction;
  /** The pod whose side this is, when one owns the address. */
  readonly pod?: string;
  readonly decision: SideDecision;
  /** Each policy isolating the pod in this direction with each of its rules checked. */
  readonly policies: readonly PolicyCheck[];
}

export interface Explanation {
  readonly connection: Connection;
  readonly decision: Decision;
  readonly src: EndpointInfo;
  readonly dst: EndpointInfo;
  readonly egress: SideExplanation;
  readonly ingress: SideExplanation;
}

function endpointInfo(view: ClusterView, ip: string): EndpointInfo {
  const pod = podForIP(view, ip);
  const skippedPods: { pod: string; reason: SkippedPodReason }[] = [];
  for (const p of view.pods.values()) {
    if (!p.ips.includes(ip) || podIsSelectable(p)) continue;
    skippedPods.push({ pod: podKey(p), reason: p.hostNetwork ? 'host-network' : 'finished' });
  }
  skippedPods.sort((a, b) => (a.pod < b.pod ? -1 : 1));
  return pod ? { ip, pod: podKey(pod), nodes: nodesForIP(view, ip), skippedPods } : { ip, nodes: nodesForIP(view, ip), skippedPods };
}

function checkRule(view: ClusterView, pol: NetworkPolicy, rule: PolicyRule, index: number, conn: Connection, remote: Remote, dstPod: Pod | undefined): RuleCheck {
  const peers: PeerCheck[] = rule.peers.map((peer, i) => {
    const mismatch = peerMismatch(view, pol, peer, remote);
    return mismatch ? { index: i, peer, mismatch } : { index: i, peer };
  });
  const ports: PortCheck[] = rule.ports.map((port, i) => {
    const mismatch = portMismatch(port, conn, dstPod);
    return mismatch ? { index: i, port, mismatch } : { index: i, port };
  });
  const allPeers = rule.peers.length === 0, allPorts = rule.ports.length === 0;
  const peerOk = allPeers || peers.some((p) => !p.mismatch);
  const portOk = allPorts || ports.some((p) => !p.mismatch);
  const base = { index, matched: peerOk && portOk, allPeers, peers, allPorts, ports };
  if (!peerOk) return { ...base, failedClause: 'peers' };
  if (!portOk) return { ...base, failedClause: 'ports' };
  return base;
}

/** Structured detail of evaluate(): every isolating policy and every rule, checked. */
export function explain(view: ClusterView, conn: Connection, opts: EvaluateOptions = {}): Explanation {
  const c = normalise(conn);
  const decision = evaluate(view, c, opts);
  const srcPod = podForIP(view, c.src);
  const dstPod = podForIP(view, c.dst);
  const srcIP = parseIP(c.src), dstIP = parseIP(c.dst);
  const sideOf = (dir: Direction, pod: Pod | undefined, remote: Remote, d: SideDecision): SideExplanation => {
    const checks: PolicyCheck[] = [];
    if (pod && d.reason !== 'not-a-pod') {
      for (const pol of isolatingPolicies(view, pod, dir)) {
        const rules = dir === 'ingress' ? pol.ingress : pol.egress;
        checks.push({ policy: podKey(pol), rules: rules.map((r, i) => checkRule(view, pol, r, i, c, remote, dstPod)) });
      }
    }
    return pod ? { direction: dir, pod: podKey(pod), decision: d, policies: checks } : { direction: dir, decision: d, policies: checks };
  };
  return {
    connection: c,
    decision,
    src: endpointInfo(view, c.src),
    dst: endpointInfo(view, c.dst),
    egress: sideOf('egress', srcPod, { ip: dstIP, ipText: c.dst, pod: dstPod }, decision.egress),
    ingress: sideOf('ingress', dstPod, { ip: srcIP, ipText: c.src, pod: srcPod }, decision.ingress),
  };
}
