// What the large cluster's tables are made of: for each kind of table (NetworkPolicy, and the
// Admin and Baseline tiers' combined tables per word: egress Admin, egress Baseline, ingress
// Admin, ingress Baseline), how many there are and the KB of each section of their images
// (table-arena.ts's layout: header, port starts and IPv4 trie, IPv4 combine rows, verdict rows,
// IPv6 trie, IPv6 combine rows, node address matrices, selector classes), after the full compile
// and converge(). A table lookup touches a line or two of most sections; what a kind's tables
// hold together says how much of them the CPU caches can keep.
//   node --import tsx scripts/tier-table-sections.ts
//
// It reads the engine's tables through private fields (a development probe, not an API), as
// scripts/tier-lookups-cpu.ts does: a change of those fields must be mirrored here.

import { buildLargeCluster, LARGE } from '../bench/large-cluster.ts';
import { largeClusterPolicies } from '../bench/large-cluster-policies.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import type { RuleTable } from '../src/policy/rule-table.ts';
import { H_COMBINE4, H_COMBINE6, H_NODECOMB4, H_NPORT, H_PORTS, H_SEL, H_VERDICT, HEADER_WORDS, verdictCapacity } from '../src/policy/table-arena.ts';

const SECTIONS = ['header', 'ports+trie4', 'combine4', 'verdict', 'trie6', 'combine6', 'nodes', 'selClass'] as const;
const WORD_NAMES = ['egress Admin', 'egress Baseline', 'ingress Admin', 'ingress Baseline'];

/**
 * Words of each section of an image, in SECTIONS order: the boundaries follow encodeTable's
 * order of sections (table-arena.ts), which the header does not say in full; a section that
 * comes out negative means that order changed, and this probe must follow it.
 */
function sections(img: Int32Array): number[] {
  const verdictWords = (verdictCapacity.get(img) ?? 0) * img[H_NPORT]!;
  const trie6 = img[H_VERDICT]! + verdictWords;
  const nodes = img[H_NODECOMB4]! >= 0 ? img[H_NODECOMB4]! : img[H_SEL]!;
  const words = [
    HEADER_WORDS,
    img[H_COMBINE4]! - img[H_PORTS]!,
    img[H_VERDICT]! - img[H_COMBINE4]!,
    verdictWords,
    img[H_COMBINE6]! - trie6,
    nodes - img[H_COMBINE6]!,
    img[H_SEL]! - nodes,
    img.length - img[H_SEL]!,
  ];
  if (words.some((w) => w < 0)) throw new Error(`tier-table-sections: image sections ${words.join(', ')}: encodeTable's layout changed`);
  return words;
}

const st = buildLargeCluster(LARGE, largeClusterPolicies());
const engine = new CompiledEngine(st);
const e = engine as unknown as {
  pendingWork: number;
  tables: { values(): Iterable<{ table: RuleTable }> };
  tiers: { cache: Map<string, { word: number; table?: RuleTable }> };
};
while (e.pendingWork > 0) engine.converge(64);

const kinds = new Map<string, RuleTable[]>();
const add = (kind: string, t: RuleTable) => {
  let l = kinds.get(kind);
  if (!l) kinds.set(kind, (l = []));
  if (!l.includes(t)) l.push(t);
};
for (const x of e.tables.values()) add('NetworkPolicy', x.table);
for (const x of e.tiers.cache.values()) if (x.table) add(WORD_NAMES[x.word]!, x.table);

const rows = [...kinds].map(([kind, tables]) => {
  const words = SECTIONS.map(() => 0);
  for (const t of tables) sections(t.image).forEach((w, i) => (words[i]! += w));
  const total = words.reduce((a, b) => a + b, 0);
  return {
    kind,
    tables: tables.length,
    kb: +((total * 4) / 1024).toFixed(1),
    kb_per_table: +((total * 4) / 1024 / tables.length).toFixed(1),
    kb_by_section: Object.fromEntries(SECTIONS.map((s, i) => [s, +((words[i]! * 4) / 1024).toFixed(1)])),
  };
});
console.log(JSON.stringify({ identities: engine.stats().identities, kinds: rows }, null, 1));
