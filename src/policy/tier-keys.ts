// The table keys of the Admin and Baseline tier words (tier-tables.ts): a word's list of cluster
// policies, and for ingress the signature of what its rules' port names resolve to on the owner.
//
// Why memoized: a change reaching every identity derives a key per (identity, word), and each
// one joined the ids of ~50 policies, gathered and deduplicated their port names and resolved
// them on the owner again. Here a list is derived once per selection array, its names once per
// list until one of its policies' rules change, a signature once per (names, owner ports), and
// an identity's four lists and keys once per (selection pair, owner ports content) (wordKeys).

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

/** An identity's TIER_WORDS words (tier-tables.ts): each one's list (null: no word) and table key. */
export interface WordKeys {
  readonly lists: readonly (WordList | null)[];
  readonly keys: readonly (string | undefined)[];
}

/** A selection of both tiers (ClusterPolicyIndex.selectingByIdentity). */
export interface TierSelection {
  readonly Admin: readonly ClusterPolicy[];
  readonly Baseline: readonly ClusterPolicy[];
}

/** The words in TIER_WORDS order (tier-tables.ts tierWord): egress Admin, egress Baseline, ingress Admin, ingress Baseline. */
const WORD_TIERS = ['Admin', 'Baseline', 'Admin', 'Baseline'] as const;
const WORD_DIRS: readonly Direction[] = ['egress', 'egress', 'ingress', 'ingress'];

/** What a named port resolves to on an owner depends on these fields alone (resolveNamedPort). */
function portsContent(ports: Pod['ports']): string {
  let k = '';
  for (const p of ports) k += `${p.name ?? ''}:${p.containerPort}/${p.protocol}\u0001`;
  return k;
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
  /**
   * Per (Admin selection, Baseline selection) and owner ports (portsOf): the four words' lists and
   * keys (wordKeys). A first-time guardrail delete gives ~600 identities new lists; ~90 distinct
   * (selection, ports) among them: deriving each identity's four lists and keys on its own was the
   * flush's main work per identity (and runs in code V8 has not optimized yet: such deletes are rare).
   */
  private readonly groups = new WeakMap<readonly ClusterPolicy[], WeakMap<readonly ClusterPolicy[], Map<Pod['ports'], WordKeys>>>();
  /** Owner ports arrays by content (portsContent), and each array's (portsOf). */
  private readonly portsByContent = new Map<string, Pod['ports']>();
  private readonly sharedPorts = new WeakMap<Pod['ports'], Pod['ports']>();
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

  /**
   * An array equal to `ports` in what named ports resolve on (portsContent), one per content:
   * identities (each with its own array) that resolve alike share the memos keyed by it (groups,
   * sigs here, the per-policy tables' in tier-links.ts).
   */
  portsOf(ports: Pod['ports']): Pod['ports'] {
    let shared = this.sharedPorts.get(ports);
    if (shared === undefined) {
      const content = portsContent(ports);
      shared = this.portsByContent.get(content);
      if (shared === undefined) {
        if (this.portsByContent.size >= MEMO_MAX) this.portsByContent.clear();
        this.portsByContent.set(content, (shared = ports));
      }
      this.sharedPorts.set(ports, shared);
    }
    return shared;
  }

  /**
   * The lists and keys of the four words of an identity selected by `sel` with owner ports
   * `ports` (portsOf's). Kept per (selection arrays, ports): a selection array holds policy
   * versions, and a key is a function of the versions' ids and rules and of the ports' content
   * alone, so a kept one stays what keyOf would give (rulesChanged only lets keyOf share arrays
   * again).
   */
  wordKeys(sel: TierSelection, ports: Pod['ports']): WordKeys {
    let byBaseline = this.groups.get(sel.Admin);
    if (!byBaseline) this.groups.set(sel.Admin, (byBaseline = new WeakMap()));
    let byPorts = byBaseline.get(sel.Baseline);
    if (!byPorts) byBaseline.set(sel.Baseline, (byPorts = new Map()));
    let wk = byPorts.get(ports);
    if (wk === undefined) {
      const lists: (WordList | null)[] = [], keys: (string | undefined)[] = [];
      for (let w = 0; w < WORD_TIERS.length; w++) {
        const li = this.listOf(sel[WORD_TIERS[w]!], w, WORD_DIRS[w]!);
        lists.push(li);
        keys.push(li ? this.keyOf(li, WORD_DIRS[w]!, ports) : undefined);
      }
      // Bounded as the other memos: owner ports contents are few, but new ones keep coming.
      if (byPorts.size >= MEMO_MAX) byPorts.clear();
      byPorts.set(ports, (wk = { lists, keys }));
    }
    return wk;
  }

  /** The table key of a word's list for an owner with `ports`. */
  keyOf(li: WordList, dir: Direction, ports: Pod['ports']): string {
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
      // signature (sigs): resolving the names on each of thousands of owners was the next cost.
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
    return key;
  }
}
