// Reading sets back (src/enforce/ipset-save.ts) in a namespace of its own: saveSets() lists the
// named sets and no other (the judged-sets check must not print the verdict cache's big sets
// every second), and when one of them is missing it reads the full listing, so hasSet() still
// tells which ones are there.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { hasSet, saveSets, setMembersOf } from '../../src/enforce/ipset-save.ts';

const NS = `palisade-ipsave-${process.pid}`;
const prefix = ['ip', 'netns', 'exec', NS];
const sh = (argv: string[]) => execFileSync(prefix[0]!, [...prefix.slice(1), ...argv], { encoding: 'utf8' });

t.before(() => {
  execFileSync('ip', ['netns', 'add', NS]);
  sh(['ipset', 'create', 'T-A', 'hash:ip']);
  sh(['ipset', 'add', 'T-A', '10.0.0.1']);
  sh(['ipset', 'create', 'T-B', 'hash:ip,port,ip', 'counters']);
  sh(['ipset', 'add', 'T-B', '10.0.0.2,tcp:80,10.0.0.3']);
  sh(['ipset', 'create', 'T-BIG', 'hash:ip']);
  sh(['ipset', 'add', 'T-BIG', '10.0.0.9']);
});
t.teardown(() => execFileSync('ip', ['netns', 'del', NS]));

t.test('only the named sets, as the full listing prints them', async (t) => {
  const s = await saveSets(['T-A', 'T-B'], prefix);
  t.ok(hasSet(s, 'T-A') && hasSet(s, 'T-B'));
  t.notOk(hasSet(s, 'T-BIG'), 'a set not asked for is not printed');
  t.same(setMembersOf(s, 'T-A').map((m) => m.key), ['10.0.0.1']);
  t.same(setMembersOf(s, 'T-B'), [{ key: '10.0.0.2,tcp:80,10.0.0.3', packets: 0 }]);
});

t.test('a missing set: the full listing, so hasSet() tells', async (t) => {
  const s = await saveSets(['T-A', 'T-GONE', 'T-B'], prefix);
  t.notOk(hasSet(s, 'T-GONE'));
  t.ok(hasSet(s, 'T-A') && hasSet(s, 'T-B'), 'the sets after the missing one are there too');
});
