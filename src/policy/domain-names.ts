// Domain names as egress peers (ClusterNetworkPolicy `domainNames`, issue 16): how a name the
// agent learned from a DNS answer matches a DomainName entry, and how a policy's domainNames
// peers get the addresses learned for them. The names themselves are learned by the agent
// (src/dataplane/name-store.ts); this module does no I/O.
//
// Matching, from the DomainName type comment (apis/v1alpha2/clusternetworkpolicy_types.go):
// - "DomainName can be an exact match, or use the wildcard specifier '*' to match one or more
//   labels": `kubernetes.io` matches only kubernetes.io (not www.kubernetes.io, not
//   my-kubernetes.io).
// - "'*', the wildcard specifier, matches one or more entire labels. It does not support partial
//   matches. '*' may only be specified as a prefix": `*.kubernetes.io` matches www.kubernetes.io
//   and latest.blog.kubernetes.io, never kubernetes.io itself.
// - Case: DNS names compare without regard to ASCII case (RFC 4343), so both sides are lowered.
// - Trailing dot: the pattern allows one ("example.com." is the fully qualified form of the same
//   name); it is dropped on both sides, so `example.com.` and `example.com` are the same entry.

import type { ClusterPolicy, ClusterPolicyPeer } from '../cluster/model.ts';
import type { ClusterView } from '../cluster/state.ts';

/** The canonical form of a name or pattern: lower case, no trailing dot. */
export function canonicalName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Does the (learned) name match the DomainName pattern? Both may be in any case, with or without a trailing dot. */
export function domainNameMatches(pattern: string, name: string): boolean {
  const p = canonicalName(pattern), n = canonicalName(name);
  if (!p.startsWith('*.')) return p === n;
  // "*." + suffix: at least one whole label before ".suffix" (the suffix starts at a label boundary).
  const suffix = p.slice(1);
  return n.length > suffix.length && n.endsWith(suffix) && n[n.length - suffix.length - 1] !== '.';
}

/** Does any of the peer's entries match the name? */
export function peerNamesMatch(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => domainNameMatches(p, name));
}

/** Does the policy have a domainNames peer? */
export function clusterPolicyUsesDomainNames(p: ClusterPolicy): boolean {
  return p.egress.some((r) => r.peers.some((q) => q.domainNames !== undefined));
}

/**
 * The policy with each domainNames peer's `learned` set to the addresses `lookup` gives for its
 * entries (sorted canonical IP texts; `before`: the peer's addresses now), or the policy itself
 * when nothing changed (so the caller can tell whether to recompile). Other peers are untouched.
 */
export function withLearnedAddresses(p: ClusterPolicy, lookup: (patterns: readonly string[], before: readonly string[]) => readonly string[]): ClusterPolicy {
  let changed = false;
  const egress = p.egress.map((r) => {
    let ruleChanged = false;
    const peers = r.peers.map((q): ClusterPolicyPeer => {
      if (!q.domainNames) return q;
      const learned = [...new Set(lookup(q.domainNames, q.learned ?? []))].sort();
      const before = q.learned ?? [];
      if (before.length === learned.length && before.every((a, i) => a === learned[i])) return q;
      ruleChanged = true;
      return { ...q, learned };
    });
    if (!ruleChanged) return r;
    changed = true;
    return { ...r, peers };
  });
  return changed ? { ...p, egress } : p;
}

/**
 * The cluster as it would be if `address`'s expired record for `names` were live again: every
 * domainNames peer whose entries match one of the names also holds the address. What
 * DnsLearner.spares judges an established flow with: an expiry stops new connections only
 * (NPEP-133), so a flow is kept only while the record's expiry is all that now denies it.
 */
export function withRecordRevived(view: ClusterView, address: string, names: Iterable<string>): ClusterView {
  const list = [...names];
  const clusterPolicies = new Map<string, ClusterPolicy>();
  for (const [id, p] of view.clusterPolicies) {
    clusterPolicies.set(id, clusterPolicyUsesDomainNames(p)
      ? withLearnedAddresses(p, (patterns, before) => (list.some((n) => peerNamesMatch(patterns, n)) ? [...before, address] : before))
      : p);
  }
  return { namespaces: view.namespaces, pods: view.pods, nodes: view.nodes, policies: view.policies, clusterPolicies };
}
