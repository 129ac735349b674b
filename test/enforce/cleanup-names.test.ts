// `palisade cleanup` finds Palisade's ipsets by the prefix of its chains (src/enforce/cleanup.ts)
// and removes them with each module's own list: a set named otherwise would be removed by an
// agent's stop but never reported by a dry run, nor checked gone after a cleanup. Every set any
// module creates must carry the prefix (no kernel needed).

import t from 'tap';
import { CHAIN_PREFIX } from '../../src/enforce/iptables.ts';
import { judgedSetNames } from '../../src/enforce/judged-sets.ts';
import { cacheSetNames } from '../../src/enforce/verdict-cache.ts';
import { admitSetNames } from '../../src/enforce/admit-sets.ts';
import { SPOOF_SETS } from '../../src/enforce/spoof-guard.ts';
import { TC_NOIF_SETS } from '../../src/enforce/tc-guard.ts';

const families = [4, 6] as const;
const sets: [string, string[]][] = [
  ['judged sets', judgedSetNames(families)],
  ['verdict cache', cacheSetNames(families)],
  ['kernel admission', admitSetNames(families)],
  ['source guard (iptables layout)', Object.values(SPOOF_SETS).flatMap((s) => families.map((f) => s[f]))],
  ['source guard (tc layout)', families.map((f) => TC_NOIF_SETS[f])],
];

t.test('every set of every module carries the Palisade prefix, both families', async (t) => {
  for (const [owner, names] of sets) {
    t.ok(names.length >= 2, `${owner}: some sets (${names.length})`);
    for (const n of names) t.ok(n.startsWith(CHAIN_PREFIX), `${owner}: ${n} starts with ${CHAIN_PREFIX}`);
    t.ok(names.some((n) => n.endsWith('4')) && names.some((n) => n.includes('6')), `${owner}: both families named`);
  }
  // One list per module, and no two modules claim a set.
  const all = sets.flatMap(([, n]) => n);
  t.equal(new Set(all).size, all.length, 'no set named by two modules');
});
