// The table keys of the Admin and Baseline tier words (tier-tables.ts): a word's list of cluster
// policies, and for ingress the signature of what its rules' port names resolve to on the owner.
//
// Why memoized: a change reaching every identity derives a key per (identity, word), and each
// one joined the ids of ~50 policies, gathered and deduplicated their port names and resolved
// them on the owner again. Here a list is derived once per selection array, its names once per
// list until one of its policies' rules change, and a signature once per (names, owner ports).

import type { ClusterPolicy, Pod } from '../cluster/model.ts';
import { clusterPolicyId } from '../cluster/model.ts';
import type { ClusterPolicyIndex } from './cluster-index.ts';
import { clusterRules } from './cluster-facts.ts';
import { distinctNamed, namedKey, resolutionSignature, type NamedPort } from './named-ports.ts';
import type { Direction } from './spec-facts.ts';

/** Memo bound: lists only a reorder made, and name arrays, stay until the next rule change. */
const MEMO_MAX = 4096;

/** A word's list of policies (listOf) and its key before the ingress resolution signature (namedOfList's key). */
export interface WordList {
  readonly list: readonly ClusterPolicy[];
  readonly base: string;
}

/** An ingress word's last key (keyOf). */
interface KeyMemo {
  readonly base: string;
  readonly named: readonly NamedPort[];
  readonly key: string;
}

function sameNames(a: readonly NamedPort[], b: readonly NamedPort[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (namedKey(a[i]!) !== namedKey(b[i]!)) return false;
  return true;
}

export class TierKeys {
  /**
   * The distinct named ports of the ingress rules of a list of policies (by its key before the
   * signature), for as long as none of its policies' rules change: a change reaching every identity
   * gathered and deduplicated the names of every policy of each identity's list again.
   */
  private readonly namedOfList = new Map<string, readonly NamedPort[]>();
  /** Arrays namedOfList dropped, until their list's names are gathered again (keyOf). */
  private readonly staleNamed = new Map<string, readonly NamedPort[]>();
  /** The namedOfList lists each policy is in (a rule change of the policy drops them). */
  private readonly namedListsOf = new Map<string, Set<string>>();
  /** Per (identity, word): its last ingress key and what it was made of (keyOf). */
  private readonly memo: (KeyMemo | undefined)[] = [];
  /** namedOfList's arrays by content (keyOf). */
  private readonly namedByContent = new Map<string, readonly NamedPort[]>();
  /** Per names array (namedByContent) and owner ports array: the resolution signature (keyOf). */
  private readonly sigs = new WeakMap<readonly NamedPort[], WeakMap<Pod['ports'], string>>();
  /** Per word list, its ingress keys by resolution signature (keyOf). */
  private readonly keysOfList = new WeakMap<WordList, Map<string, string>>();
  /** Per selection array, its word lists (listOf). */
  private readonly wordLists = new WeakMap<readonly ClusterPolicy[], (WordList | null | undefined)[]>();

  constructor(private readonly clusters: ClusterPolicyIndex) {}

  /** Policy `id`'s rules changed: the names of the lists holding it are gathered again. */
  rulesChanged(id: string): void {
    for (const base of this.namedListsOf.get(id) ?? []) {
      const named = this.namedOfList.get(base);
      if (named && this.staleNamed.size < MEMO_MAX) this.staleNamed.set(base, named);
      this.namedOfList.delete(base);
    }
    this.namedListsOf.delete(id);
  }

  /**
   * A word's list of a selection list (ClusterPolicyIndex.selectingByIdentity), null when
   * empty: only policies with rules for the direction have a word on it. Derived once per
   * selection array, which identities selected alike share (cluster-index.ts): a change reaching
   * every identity joined the ids of each one's ~50 policies, most of such an update's time once
   * chains took the builds out.
   */
  listOf(sel: readonly ClusterPolicy[], w: number, dir: Direction): WordList | null {
    let per = this.wordLists.get(sel);
    if (!per) this.wordLists.set(sel, (per = [undefined, undefined, undefined, undefined]));
    let li = per[w];
    if (li === undefined) {
      const list = sel.filter((p) => clusterRules(p, dir).length > 0);
      li = list.length === 0 ? null : { list, base: `${w}${list.map(clusterPolicyId).join('\n')}` };
      per[w] = li;
    }
    return li;
  }

  /** The table key of word `at` (identity * TIER_WORDS + word) for its list. */
  keyOf(at: number, li: WordList, dir: Direction, ports: Pod['ports']): string {
    if (dir !== 'ingress') return li.base;
    // Named ports of ingress rules resolve on the owner: owners share a table only when
    // every name resolves the same on them.
    let named = this.namedOfList.get(li.base);
    if (!named) {
      const all: NamedPort[] = [];
      for (const p of li.list) all.push(...this.clusters.ingressNamedPorts(p));
      // Lists only a reorder made stay until the next rule change: bounded here.
      if (this.namedOfList.size >= MEMO_MAX) {
        this.namedOfList.clear();
        this.namedListsOf.clear();
        this.staleNamed.clear();
      }
      named = distinctNamed(all);
      // A rule change that kept the list's names keeps its array, and so every owner's
      // signature (memo): resolving the names on each of thousands of owners was the next cost.
      const stale = this.staleNamed.get(li.base);
      if (stale !== undefined) {
        this.staleNamed.delete(li.base);
        if (sameNames(stale, named)) named = stale;
      }
      // Lists with the same names share one array, so an owner's signature (sigs) outlives its
      // list: adding or deleting a guardrail gives every identity a new list, and resolving
      // the names again on each was most of such an update once it built no table.
      const content = named.map(namedKey).join('\u0001');
      const same = this.namedByContent.get(content);
      if (same !== undefined) named = same;
      else {
        if (this.namedByContent.size >= MEMO_MAX) this.namedByContent.clear();
        this.namedByContent.set(content, named);
      }
      this.namedOfList.set(li.base, named);
      for (const p of li.list) {
        const pid = clusterPolicyId(p);
        let s = this.namedListsOf.get(pid);
        if (!s) this.namedListsOf.set(pid, (s = new Set()));
        s.add(li.base);
      }
    }
    if (named.length === 0) return li.base;
    // The identity's last signature stands while its list's names are the same array
    // (namedOfList drops a list's array when one of its policies' rules change).
    const memo = this.memo[at];
    if (memo !== undefined && memo.named === named && memo.base === li.base) return memo.key;
    let per = this.sigs.get(named);
    if (!per) this.sigs.set(named, (per = new WeakMap()));
    let sig = per.get(ports);
    if (sig === undefined) per.set(ports, (sig = resolutionSignature(named, ports)));
    // One key string per (list, signature): identities of one list share it, so the table cache
    // hashes it once, not once per identity (a guardrail change gives ~600 identities new lists).
    let keys = this.keysOfList.get(li);
    if (!keys) this.keysOfList.set(li, (keys = new Map()));
    let key = keys.get(sig);
    if (key === undefined) keys.set(sig, (key = `${li.base}\u0002${sig}`));
    this.memo[at] = { base: li.base, named, key };
    return key;
  }
}
