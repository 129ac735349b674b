// The contract between the compiled policy engine (src/policy/compiler.ts) and the per-packet
// classifier (src/dataplane/classifier.ts). Everything here is numeric so a lookup allocates
// nothing: IPv4 addresses are one uint32, IPv6 addresses four uint32 words (see net/address.ts).
//
// A RuleSnapshot is one immutable generation of rule tables. The engine publishes a new snapshot
// after every (incremental) recompile and the classifier swaps its reference between packets, so
// a packet is judged entirely by one generation.

import type { RuleRef } from './decision.ts';

/**
 * Side codes returned for each direction by judge4/judge6 (in egressCode / ingressCode).
 * A code >= 0 is the id of the rule that allowed the connection (see RuleSnapshot.ruleRef).
 */
export const SIDE = {
  /** This side allowed: the pod is not isolated in this direction. */
  NOT_ISOLATED: -1,
  /** This side denied: isolated and no rule matched. */
  DENY: -2,
  /** This side allowed: the peer is the pod's own node ("traffic to and from the node ... is always allowed"). */
  NODE: -3,
  /** This side allowed: a pod talking to itself. */
  SELF: -4,
  /** Not judged here: the address is no pod, or a pod whose tables live on another node. */
  NOT_JUDGED: -5,
} as const;

export function sideAllows(code: number): boolean {
  return code !== SIDE.DENY;
}

export interface RuleSnapshot {
  /** Increases with every published snapshot. */
  readonly generation: number;

  /**
   * Judges a new IPv4 connection src -> dst:port (proto = IP protocol number; for ICMP and other
   * port-less protocols port is 0 and only rules without ports match). Returns true when allowed.
   * Sets egressCode/ingressCode (SIDE.* or a rule id) and srcSlot/dstSlot (pod slots or -1).
   * Never allocates.
   *
   * Address words may be given as uint32 or int32 (implementations compare them bitwise). Prefer
   * int32 (buf.readInt32BE, or `x | 0`): V8 boxes a number above 2^31 - 1 into a heap object
   * when it is passed to a function it did not inline, so uint32 words can allocate in the CALLER.
   */
  judge4(src: number, dst: number, proto: number, port: number): boolean;
  judge6(
    s0: number, s1: number, s2: number, s3: number,
    d0: number, d1: number, d2: number, d3: number,
    proto: number, port: number,
  ): boolean;

  /** Results of the last judge call (valid until the next call on this snapshot). */
  readonly egressCode: number;
  readonly ingressCode: number;
  readonly srcSlot: number;
  readonly dstSlot: number;

  /** Pod slot owning an address, or -1. Slots are stable within one snapshot only. */
  podSlot4(addr: number): number;
  podSlot6(a: number, b: number, c: number, d: number): number;
  /** True when the pod is managed by this node (its sides are judged here). */
  isLocal(slot: number): boolean;
  /** "namespace/name" of a pod slot (off the hot path: builds no string, returns a stored one). */
  podName(slot: number): string;
  /** The rule behind a code >= 0. */
  ruleRef(code: number): RuleRef;
  /** "namespace/name" of every policy isolating the pod in that direction, sorted. */
  isolatingPolicies(slot: number, direction: 'ingress' | 'egress'): readonly string[];
}
