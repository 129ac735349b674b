// Pod identities: the compiler's unit of "who is this peer".
//
// Every selector in a NetworkPolicy peer looks only at a pod's namespace name (podSelector alone
// means "pods in the policy's namespace"), its namespace's labels and its own labels; named
// ports look only at its containerPorts. Pods equal in those four things are indistinguishable
// to every rule, so rule tables map identities (not pods) to peer classes. Replicas of one
// workload share an identity, which keeps tables small: a table stores one class per identity.
//
// Identities are interned and append-only: an identity's attributes never change (a relabelled
// pod moves to another identity), so anything computed for an identity stays true, and a rule
// table built when there were N identities stays exact for newer ones as long as none of them is
// matched by its selectors (see extendRuleTable in rule-table.ts). Identity 0 is "not a pod": it
// matches no selector and resolves no port name.

import type { ContainerPort, Labels, PolicyPeer } from '../cluster/model.ts';
import { namespaceLabelsOr } from '../cluster/namespace-labels.ts';
import { selectorIsEmpty, selectorMatches } from './selector.ts';

export interface Identity {
  readonly id: number;
  /** '' for identity 0 (not a pod). */
  readonly namespace: string;
  /** Labels of the pod's Namespace object; undefined when that object is unknown. */
  readonly nsLabels: Labels | undefined;
  readonly labels: Labels;
  readonly ports: readonly ContainerPort[];
}

export const OUTSIDE_IDENTITY = 0;

/** The identities one selector peer selects, kept up to date lazily (see IdentityRegistry.matched). */
export interface PeerMatcher {
  readonly peer: PolicyPeer;
  readonly ns: string;
  /** 0, 1, 2, ... in creation order (per registry): an index for per-matcher arrays (new-identity-refs.ts). */
  readonly serial: number;
  /** Identities [0, upTo) have been examined. */
  upTo: number;
  /** Matching identity ids, ascending. */
  ids: number[];
  /** setOf's answer, valid while ids.length is setLen (ids only grow). */
  setLen: number;
  setId: number;
  /**
   * Written to select every pod: an empty namespaceSelector, with no podSelector or an empty one
   * ("an empty namespaceSelector selects all namespaces"). A hint for extendRuleTable, which checks
   * that it did pick each new identity before relying on it.
   */
  readonly universal: boolean;
}

function labelsKey(l: Labels | undefined): string {
  if (l === undefined) return '!';
  const keys = Object.keys(l).sort();
  let s = '';
  for (const k of keys) s += `${k}=${l[k]}\u0001`;
  return s;
}

function strHash(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/** Independent of the keys' order (a sum over the entries). */
function labelsHash(l: Labels): number {
  let acc = 0;
  for (const k of Object.keys(l)) {
    const e = strHash(l[k]!, strHash(k, 0x811c9dc5) ^ 0x3d);
    acc = (acc + Math.imul(e ^ (e >>> 16), 0x7feb352d)) | 0;
  }
  return acc;
}

function portsHash(ports: readonly ContainerPort[]): number {
  let h = 0x2545f491;
  for (const p of ports) h = Math.imul(strHash(p.protocol, strHash(p.name ?? '', h)) ^ p.containerPort, 0x01000193);
  return h;
}

/** Equal as maps (what labelsKey compares). */
function sameLabels(a: Labels, b: Labels): boolean {
  // for-in: no key arrays (label objects are plain data, nothing enumerable inherited).
  let n = 0;
  for (const k in a) {
    if (b[k] !== a[k]) return false;
    n++;
  }
  for (const k in b) if (k !== undefined) n--;
  return n === 0;
}

function sameNsLabels(a: Labels | undefined, b: Labels | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && sameLabels(a, b));
}

/** Equal as portsKey spells them (in order; no name reads as ''). */
export function samePorts(a: readonly ContainerPort[], b: readonly ContainerPort[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if ((x.name ?? '') !== (y.name ?? '') || x.containerPort !== y.containerPort || x.protocol !== y.protocol) return false;
  }
  return true;
}

function portsKey(ports: readonly ContainerPort[]): string {
  let s = '';
  for (const p of ports) s += `${p.name ?? ''}:${p.containerPort}/${p.protocol}\u0001`;
  return s;
}

export class IdentityRegistry {
  private readonly list: Identity[] = [
    { id: OUTSIDE_IDENTITY, namespace: '', nsLabels: undefined, labels: {}, ports: [] },
  ];
  /** Identity ids by intern's hash. */
  private readonly byHash = new Map<number, number[]>();
  /** labelsHash per Namespace labels object (every pod of a namespace shares it). */
  private readonly nsLabelHashes = new WeakMap<Labels, number>();
  /** Identity ids per namespace, ascending (podSelector-only peers look only here). */
  private readonly byNamespace = new Map<string, number[]>();
  private readonly peerCache = new WeakMap<PolicyPeer, Map<string, PeerMatcher>>();
  /**
   * Matchers by what they select with (see peerMatcher), held weakly: the peer objects holding
   * one (peerCache) keep it alive, and a dead one's key goes with it.
   */
  private readonly byContent = new Map<string, WeakRef<PeerMatcher>>();
  private readonly contentGone = new FinalizationRegistry<string>((key) => {
    if (this.byContent.get(key)?.deref() === undefined) this.byContent.delete(key);
  });
  /** setOf's numbering: matched sets by content. */
  private readonly setIds = new Map<number, { readonly ids: readonly number[]; readonly id: number }[]>();
  private setCount = 0;
  private matcherCount = 0;
  /** Label keys some matcher's podSelector looks at (peerMatcher adds them; only grows). */
  private readonly selectorLabelKeys = new Set<string>();
  /** twinOf's answers for identities [0, twins.length), valid while selectorLabelKeys.size is twinKeys. */
  private twins: number[] = [];
  private twinByProfile = new Map<string, number>();
  private twinKeys = -1;

  get count(): number {
    return this.list.length;
  }

  /** Matchers made so far (serials are below this). */
  get matchers(): number {
    return this.matcherCount;
  }

  get(id: number): Identity {
    return this.list[id]!;
  }

  intern(namespace: string, nsLabels: Labels | undefined, labels: Labels, ports: readonly ContainerPort[]): number {
    // By a hash of the four things, then compared field by field: a full compile interns every
    // pod, and building a key string per pod (labels sorted, ports spelled out) was most of
    // that and a large part of its garbage.
    let nsHash = nsLabels === undefined ? 1 : this.nsLabelHashes.get(nsLabels);
    if (nsHash === undefined) this.nsLabelHashes.set(nsLabels!, (nsHash = labelsHash(nsLabels!)));
    const h = Math.imul(strHash(namespace, 0x811c9dc5) ^ nsHash, 0x9e3779b1) ^ Math.imul(labelsHash(labels), 0x85ebca6b) ^ portsHash(ports);
    let bucket = this.byHash.get(h);
    if (bucket) {
      for (const id of bucket) {
        const x = this.list[id]!;
        if (x.namespace === namespace && sameNsLabels(x.nsLabels, nsLabels) && sameLabels(x.labels, labels) && samePorts(x.ports, ports)) return id;
      }
    } else this.byHash.set(h, (bucket = []));
    const id = this.list.length;
    this.list.push({ id, namespace, nsLabels, labels, ports });
    bucket.push(id);
    let ids = this.byNamespace.get(namespace);
    if (!ids) this.byNamespace.set(namespace, (ids = []));
    ids.push(id);
    return id;
  }

  /**
   * Ids of every identity the selector peer selects, ascending. Cached per peer object and
   * extended when identities were added since (identities never change, so old answers stand).
   */
  peerMatches(peer: PolicyPeer, policyNs: string): readonly number[] {
    return this.matched(this.peerMatcher(peer, policyNs));
  }

  /** The shared matcher of a selector peer of a policy in policyNs (hold it to skip the lookups). */
  peerMatcher(peer: PolicyPeer, policyNs: string): PeerMatcher {
    let byNs = this.peerCache.get(peer);
    if (!byNs) {
      byNs = new Map();
      this.peerCache.set(peer, byNs);
    }
    let c = byNs.get(policyNs);
    if (!c) {
      // Peers written alike share one matcher: a namespaceSelector peer selects the same
      // identities whatever the policy's namespace, and the same shapes recur in the policies of
      // every namespace and in every cluster policy (at the scale limits, thousands of peer
      // objects with a few hundred distinct answers each walked every identity).
      // (The selectors' JSON: texts written in another order just do not share.)
      const key = `${peer.namespaceSelector ? `N${JSON.stringify(peer.namespaceSelector)}` : `S${policyNs}`}\u0000${peer.podSelector ? JSON.stringify(peer.podSelector) : ''}`;
      c = this.byContent.get(key)?.deref();
      if (!c) {
        const universal = peer.namespaceSelector !== undefined && selectorIsEmpty(peer.namespaceSelector) &&
          (peer.podSelector === undefined || selectorIsEmpty(peer.podSelector));
        c = { peer, ns: policyNs, serial: this.matcherCount++, upTo: 0, ids: [], setLen: -1, setId: -1, universal };
        this.byContent.set(key, new WeakRef(c));
        this.contentGone.register(c, key);
        const sel = peer.podSelector;
        if (sel) {
          for (const k of Object.keys(sel.matchLabels)) this.selectorLabelKeys.add(k);
          for (const e of sel.matchExpressions) this.selectorLabelKeys.add(e.key);
        }
      }
      byNs.set(policyNs, c);
    }
    return c;
  }

  /**
   * The first identity every matcher (peerMatcher) and every port name treats as this one, or -1:
   * same namespace, same namespace labels, same ports, and the same labels on every key a
   * podSelector of a matcher looks at. A table's class for one is its class for the other
   * (extendRuleTable), so a new identity with a twin costs a table no selector work: a rollout's
   * or a relabel's new identity differs from an old one in labels no policy reads (a
   * pod-template-hash, a version nobody selects). Recomputed for every identity when a matcher
   * with a new label key appears (that key may tell former twins apart).
   */
  twinOf(id: number): number {
    if (this.twinKeys !== this.selectorLabelKeys.size) {
      this.twins = [];
      this.twinByProfile = new Map();
      this.twinKeys = this.selectorLabelKeys.size;
    }
    // In id order, so a twin is always an earlier identity.
    for (let i = this.twins.length; i <= id && i < this.list.length; i++) {
      if (i === OUTSIDE_IDENTITY) {
        this.twins.push(-1);
        continue;
      }
      const x = this.list[i]!;
      let own = '';
      for (const k of Object.keys(x.labels).sort()) if (this.selectorLabelKeys.has(k)) own += `${k}=${x.labels[k]}\u0001`;
      const profile = `${x.namespace}\u0000${labelsKey(x.nsLabels)}\u0000${own}\u0000${portsKey(x.ports)}`;
      const t = this.twinByProfile.get(profile);
      if (t === undefined) this.twinByProfile.set(profile, i);
      this.twins.push(t ?? -1);
    }
    return this.twins[id] ?? -1;
  }

  /**
   * A number naming the set of identities the matcher's peer selects (matched): equal sets, equal
   * numbers, whatever the peers. Tables of cluster policies hold many rules whose peers, written
   * alike in different policies, select the same identities; a table classifies by each set once.
   */
  setOf(c: PeerMatcher): number {
    const ids = this.matched(c);
    if (c.setLen !== ids.length) {
      // Interned by a hash of the ids, then compared (joining the ids into a key string was
      // most of the cost for sets of hundreds of identities).
      let h = ids.length;
      for (let i = 0; i < ids.length; i++) h = Math.imul(h ^ ids[i]!, 0x9e3779b1) ^ (h >>> 15);
      let bucket = this.setIds.get(h);
      if (!bucket) this.setIds.set(h, (bucket = []));
      let id = -1;
      for (const e of bucket) {
        if (e.ids.length !== ids.length) continue;
        let same = true;
        for (let i = 0; i < ids.length && same; i++) same = e.ids[i] === ids[i];
        if (same) {
          id = e.id;
          break;
        }
      }
      if (id < 0) bucket.push({ ids: ids.slice(), id: (id = this.setCount++) });
      c.setId = id;
      c.setLen = ids.length;
    }
    return c.setId;
  }

  /** Ids of every identity the matcher's peer selects, ascending; examines identities added since last time. */
  matched(c: PeerMatcher): readonly number[] {
    const peer = c.peer, policyNs = c.ns;
    const n = this.list.length;
    if (c.upTo < n && !peer.namespaceSelector) {
      // podSelector alone: only identities of the policy's namespace can match.
      const ids = this.byNamespace.get(policyNs) ?? [];
      let j = ids.length;
      while (j > 0 && ids[j - 1]! >= c.upTo) j--;
      for (; j < ids.length; j++) {
        const i = ids[j]!;
        if (!peer.podSelector || selectorMatches(peer.podSelector, this.list[i]!.labels)) c.ids.push(i);
      }
      c.upTo = n;
    }
    if (c.upTo < n) {
      // Namespace label matches are memoised per labels object: every identity interned from one
      // Namespace object version shares it.
      const nsMemo = new Map<Labels | undefined, boolean>();
      for (let i = Math.max(c.upTo, 1); i < n; i++) {
        const id = this.list[i]!;
        if (peer.namespaceSelector) {
          let ok = nsMemo.get(id.nsLabels);
          if (ok === undefined) {
            // An unknown Namespace object: its automatic label only (namespace-labels.ts).
            ok = selectorMatches(peer.namespaceSelector, namespaceLabelsOr(id.namespace, id.nsLabels));
            nsMemo.set(id.nsLabels, ok);
          }
          if (!ok) continue;
        } else if (id.namespace !== policyNs) continue;
        if (!peer.podSelector || selectorMatches(peer.podSelector, id.labels)) c.ids.push(i);
      }
      c.upTo = n;
    }
    return c.ids;
  }
}
