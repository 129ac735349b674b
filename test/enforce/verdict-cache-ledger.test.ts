// The verdict cache's kernel side without an agent (support/verdict-cache-probe.ts, run in a
// namespace of its own: the cache's netlink socket is the probe's).
// The cache sends the kernel only entries its ledger holds (src/enforce/verdict-cache.ts
// remember()): the ledger is shared by both families and each kernel set has the same size, so
// it fills up while the sets have room; an entry the ledger has no room for would admit
// connections no count could name.
// Admission (src/enforce/cache-admission.ts) only says "seen before": when two tuples share an
// admission hash, what goes into the kernel is still the tuple just judged, counted on its own
// decision; a tuple seen once is not cached.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../support/netns.ts';

const NS = `palisade-vledger-${process.pid}`;
t.before(() => void execFileSync('ip', ['netns', 'add', NS]));
t.teardown(() => void execFileSync('ip', ['netns', 'del', NS]));

const probe = (mode: string) => {
  const out = execFileSync('ip', ['netns', 'exec', NS, 'node', '--import', 'tsx', join(ROOT, 'support', 'verdict-cache-probe.ts'), mode], { encoding: 'utf8', cwd: ROOT });
  return JSON.parse(out.trim().split('\n').pop()!) as unknown;
};

t.test('a full ledger: the rest is not sent, so every kernel entry is counted', async (t) => {
  const r = probe('ledger') as { set4: number; set6: number; added: number; addFailures: number; deferred: number };
  t.equal(r.deferred, 20, 'each tuple\'s first sighting was not cached');
  t.equal(r.set4 + r.set6, 16, 'the sets hold what the ledger holds (16 of 20 tuples)');
  t.equal(r.set4, 10, 'IPv4 first: all 10 (they were committed first)');
  t.equal(r.added, 16, 'the 4 IPv6 entries without room were not handed to the kernel');
  t.equal(r.addFailures, 0);
});

t.test('an admission hash collision caches the judged tuple on its own decision', async (t) => {
  const r = probe('collision') as { set: string[]; counted: { egress: number; ingress: number; src: number; port: number; n: number }[]; added: number; deferred: number };
  t.same(r.set, ['10.0.0.120,tcp:63,10.0.0.2'], 'the kernel holds the tuple just judged (the colliding one), not the first one, nor the one seen once');
  t.same(r.counted, [{ egress: 3, ingress: 4, src: 0x0a000078, port: 63, n: 5 }], 'its count goes to its own decision');
  t.equal(r.added, 1);
  t.equal(r.deferred, 2);
});
