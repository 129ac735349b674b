// NetworkPolicy facts that more than one module needs (the evaluator, the compiler and its rule
// tables, the identities, lint). Each is written here once, next to the sentence it comes from,
// so the modules cannot drift apart; a new policy kind reuses them instead of restating them.
// Address maths (CIDR containment) lives in net/address.ts and the labels of a namespace in
// cluster/namespace-labels.ts, what a pod's phase means in cluster/pod-phase.ts; this module
// holds what is specific to NetworkPolicy.
//
// Sources quoted (networking.k8s.io/v1):
//   [API]  the NetworkPolicy API reference (k8s.io/api/networking/v1 types.go field docs)
//   [DOCS] https://kubernetes.io/docs/concepts/services-networking/network-policies/

import type { ContainerPort, IPBlock, NetworkPolicy, Pod, Protocol } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import { podIsFinished } from '../cluster/pod-phase.ts';
import { cidrContains, parseCIDR, type ParsedCIDR, type ParsedIP } from '../net/address.ts';
import { selectorMatches } from './selector.ts';

// ---------------------------------------------------------------------------------------------
// Directions

/** [API] policyTypes: "Valid options are ["Ingress"], ["Egress"], or ["Ingress", "Egress"]". */
export type Direction = 'ingress' | 'egress';
export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/** The policyTypes entry of a direction, as written in a manifest. */
export const POLICY_TYPE: Readonly<Record<Direction, 'Ingress' | 'Egress'>> = { ingress: 'Ingress', egress: 'Egress' };

/** [API] the peers of an ingress rule are its `from`, those of an egress rule its `to`. */
export const PEERS_FIELD: Readonly<Record<Direction, 'from' | 'to'>> = { ingress: 'from', egress: 'to' };

// ---------------------------------------------------------------------------------------------
// Which pods policy sees

/**
 * Pods a policy's podSelector can select (and so isolate). [DOCS] "NetworkPolicy ... behavior
 * for hostNetwork pods is undefined": we treat their traffic as node traffic and never select
 * them; finished pods match nothing. A pod still waiting for its IP is selected: it will get one.
 */
export function policyAppliesToPod(p: Pod): boolean {
  return !p.hostNetwork && !podIsFinished(p);
}

/**
 * Pods that selector peers can pick and whose traffic policy governs: those policy applies to
 * that have an IP (a pod without one sends and receives nothing and owns no address).
 */
export function podIsSelectable(p: Pod): boolean {
  return policyAppliesToPod(p) && p.ips.length > 0;
}

/**
 * Several pods can claim one IP (a stale object and its replacement): does claim `a` win over
 * `b`? The pod in phase Running wins, then the smallest "namespace/name" key. Callers pass the
 * keys (podKey) they already hold. Not from the spec: both engines must just agree on it.
 */
export function addressClaimWins(a: Pod, aKey: string, b: Pod, bKey: string): boolean {
  const ar = a.phase === 'Running', br = b.phase === 'Running';
  return (ar && !br) || (ar === br && aKey < bKey);
}

// ---------------------------------------------------------------------------------------------
// Which policies apply to a pod, and in which order

/**
 * Does the policy act on this direction? [DOCS] "a pod is isolated for egress if there is any
 * NetworkPolicy that both selects the pod and has "Egress" in its policyTypes" (likewise
 * ingress); rules of a direction policyTypes leaves out are kept by the API and never enforced.
 */
export function policyHasType(pol: NetworkPolicy, dir: Direction): boolean {
  return pol.policyTypes[dir];
}

/**
 * [API] podSelector "Selects the pods to which this NetworkPolicy object applies", in the
 * policy's own namespace only. The caller decides whether the pod is one policy applies to.
 */
export function policySelectsPod(pol: NetworkPolicy, pod: Pod): boolean {
  return pol.namespace === pod.namespace && selectorMatches(pol.podSelector, pod.labels);
}

/** Does this policy isolate the pod for the direction (the [DOCS] sentence above)? */
export function policyIsolatesPod(pol: NetworkPolicy, pod: Pod, dir: Direction): boolean {
  return policyHasType(pol, dir) && policySelectsPod(pol, pod);
}

/**
 * The order policies are walked in and reported in: by "namespace/name". Policies are additive
 * ([DOCS] "Network policies do not conflict; they are additive"), so the order never changes a
 * verdict, only which allowing rule is named; every engine must name the same one.
 */
export function comparePolicies(a: NetworkPolicy, b: NetworkPolicy): number {
  const ka = podKey(a), kb = podKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Named ports

/**
 * The numbers a port name resolves to on a pod, ascending and without repeats. [API] port:
 * "This can either be a numerical or named port on a pod"; the name is looked up among the
 * containerPorts of the pod the traffic goes to, with the same protocol.
 */
export function resolveNamedPort(ports: readonly ContainerPort[], name: string, protocol: Protocol): number[] {
  const out: number[] = [];
  for (const p of ports) {
    if (p.name === name && p.protocol === protocol && !out.includes(p.containerPort)) out.push(p.containerPort);
  }
  return out.sort((a, b) => a - b);
}

/** Does the name resolve at all on these containerPorts (resolveNamedPort non-empty, without the array)? */
export function definesNamedPort(ports: readonly ContainerPort[], name: string, protocol: Protocol): boolean {
  for (const p of ports) if (p.name === name && p.protocol === protocol) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// ipBlock

export interface ParsedIPBlock {
  readonly cidr: ParsedCIDR;
  /** Excepts of the cidr's family only. */
  readonly except: readonly ParsedCIDR[];
}

/**
 * Parses an ipBlock. The decoder has validated the text; should an unparsable cidr or except
 * ever get here, the block is undefined (matches nothing): dropping just the except would
 * silently open what it excludes. An except of the other family contains no address the cidr
 * contains, so it is left out.
 */
export function parseIPBlock(b: IPBlock): ParsedIPBlock | undefined {
  const cidr = parseCIDR(b.cidr);
  if (!cidr) return undefined;
  const except: ParsedCIDR[] = [];
  for (const e of b.except) {
    const pe = parseCIDR(e);
    if (!pe) return undefined;
    if (pe.family === cidr.family) except.push(pe);
  }
  return { cidr, except };
}

/**
 * [API] IPBlock "describes a particular CIDR ... that is allowed to the pods matched by a
 * NetworkPolicySpec's podSelector. The except entry describes CIDRs that should not be included
 * within this rule." A CIDR of one family never contains an address of the other. ipBlock is
 * purely address based: it matches pod IPs too (the spec does not exempt them).
 */
export function ipBlockContains(b: ParsedIPBlock, ip: ParsedIP): boolean {
  return cidrContains(b.cidr, ip) && !b.except.some((e) => cidrContains(e, ip));
}
