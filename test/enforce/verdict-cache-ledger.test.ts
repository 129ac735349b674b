// The verdict cache sends the kernel only entries its ledger holds (src/enforce/verdict-cache.ts
// remember()): the ledger is shared by both families and each kernel set has the same size, so
// it fills up while the sets have room; an entry the ledger has no room for would admit
// connections no count could name. Run in a namespace of its own (support/verdict-cache-probe.ts).

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../support/netns.ts';

const NS = `palisade-vledger-${process.pid}`;
t.before(() => void execFileSync('ip', ['netns', 'add', NS]));
t.teardown(() => void execFileSync('ip', ['netns', 'del', NS]));

t.test('a full ledger: the rest is not sent, so every kernel entry is counted', async (t) => {
  const out = execFileSync('ip', ['netns', 'exec', NS, 'node', '--import', 'tsx', join(ROOT, 'support', 'verdict-cache-probe.ts')], { encoding: 'utf8', cwd: ROOT });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { set4: number; set6: number; added: number; addFailures: number };
  t.equal(r.set4 + r.set6, 16, 'the sets hold what the ledger holds (16 of 20 connections)');
  t.equal(r.set4, 10, 'IPv4 first: all 10 (they were committed first)');
  t.equal(r.added, 16, 'the 4 IPv6 entries without room were not handed to the kernel');
  t.equal(r.addFailures, 0);
});
