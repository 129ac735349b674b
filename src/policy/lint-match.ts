// Pod and peer matching for sets of pods: the rules the evaluator applies to one connection,
// asked of every pod at once. The facts themselves (which pods policy sees, what a namespace's
// labels are, what an ipBlock contains, how a named port resolves) are in spec-facts.ts and
// cluster/namespace-labels.ts, shared with the evaluator and the compiler.

import type { Family, NetworkPolicy, Pod, PolicyPeer, PolicyPort, PolicyRule, Protocol } from '../cluster/model.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import { parseIP, type ParsedIP } from '../net/address.ts';
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

function ipValue(ip: ParsedIP): bigint {
  let v = 0n;
  for (const w of ip.words) v = (v << 32n) | BigInt(w >>> 0);
  return v;
}

/**
 * The addresses of a list of pods sorted by value, per family: the pods an ipBlock contains are
 * one binary search and a walk over the block's range away, instead of a test of every address
 * of every pod per ipBlock (lint asks it for every ipBlock peer of every policy).
 */
export class PodAddressIndex {
  private readonly sorted: Record<Family, { readonly key: bigint; readonly ip: ParsedIP; readonly pod: number }[]> = { IPv4: [], IPv6: [] };

  constructor(private readonly pods: readonly Pod[]) {
    pods.forEach((p, pod) => {
      for (const text of p.ips) {
        const ip = parseIP(text);
        if (ip) this.sorted[ip.family].push({ key: ipValue(ip), ip, pod });
      }
    });
    for (const f of ['IPv4', 'IPv6'] as const) this.sorted[f].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.pod - b.pod));
  }

  /** The pods with an address the block contains, in the order of the list given. */
  podsIn(b: ParsedIPBlock): Pod[] {
    const list = this.sorted[b.cidr.family];
    const first = ipValue(b.cidr);
    const last = first + (1n << BigInt((b.cidr.family === 'IPv4' ? 32 : 128) - b.cidr.prefix)) - 1n;
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.key < first) lo = mid + 1;
      else hi = mid;
    }
    const hit = new Set<number>();
    for (let i = lo; i < list.length && list[i]!.key <= last; i++) if (ipBlockContains(b, list[i]!.ip)) hit.add(list[i]!.pod);
    return [...hit].sort((x, y) => x - y).map((i) => this.pods[i]!);
  }
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
