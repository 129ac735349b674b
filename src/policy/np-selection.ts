// Which NetworkPolicies isolate a pod identity, per direction, and the cache key of the
// NetworkPolicy table it needs for each (compiler.ts keeps the tables under these keys, so
// owners with the same key share one table).

import type { NetworkPolicy, Pod } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import { resolutionSignature } from './named-ports.ts';
import type { NetworkPolicyRules } from './np-rules.ts';
import { NO_POLICIES } from './snapshot.ts';
import { policyHasType, policySelectsPod, type Direction } from './spec-facts.ts';

/** The NetworkPolicies isolating an identity, per direction, and their keys. */
export interface Selection {
  readonly ing: readonly NetworkPolicy[];
  readonly eg: readonly NetworkPolicy[];
  readonly ingKeys: readonly string[];
  readonly egKeys: readonly string[];
  /** The table keys (npTableKey), filled in on first use (also fixed by the identity: named ports resolve on its ports). */
  ingress?: string | null;
  egress?: string | null;
}

/** `pols`: the pod's namespace's policies in key order (the order rules are tried in). */
export function selectionOf(pols: readonly NetworkPolicy[], pod: Pod): Selection {
  const ing: NetworkPolicy[] = [];
  const eg: NetworkPolicy[] = [];
  for (const p of pols) {
    // The pod is isolated for a direction by each policy that selects it and has the type
    // (policyIsolatesPod); the selector is checked once for both directions.
    if (!policySelectsPod(p, pod)) continue;
    if (policyHasType(p, 'ingress')) ing.push(p);
    if (policyHasType(p, 'egress')) eg.push(p);
  }
  return { ing, eg, ingKeys: ing.length ? ing.map(podKey) : NO_POLICIES, egKeys: eg.length ? eg.map(podKey) : NO_POLICIES };
}

/** The key of the table of `np` (keys `npKeys`) for an owner with `ownerPorts`; null when no policy isolates the side. */
export function npTableKey(dir: Direction, np: readonly NetworkPolicy[], npKeys: readonly string[], npRules: NetworkPolicyRules, ownerPorts: Pod['ports']): string | null {
  if (np.length === 0) return null;
  let k = `${dir === 'ingress' ? 'I' : 'E'}${npKeys.join('\n')}`;
  if (dir === 'ingress') {
    // Named ports of ingress rules resolve on the owner: owners share a table only when
    // every name resolves the same on them.
    const named = [];
    for (const p of np) named.push(...npRules.ingressNamedPorts(p));
    if (named.length) k += `\u0002${resolutionSignature(named, ownerPorts)}`;
  }
  return k;
}
