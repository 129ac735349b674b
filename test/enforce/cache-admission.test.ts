// Admission to the verdict cache (src/enforce/cache-admission.ts): a tuple is admitted on its
// second sighting in a window, never on its first; the table is emptied every window; two tuples
// sharing a slot evict each other; and the hash tells families apart. That a hash collision
// caches the judged tuple with its own decision (never another's) is proved on the kernel in
// verdict-cache-ledger.test.ts (support/verdict-cache-probe.ts). And it allocates nothing
// (test/support/admission-alloc-probe.ts, a fresh heap; no timing is measured).

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CacheAdmission, tupleHash4, tupleHash6 } from '../../src/enforce/cache-admission.ts';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/net/ip-protocols.ts';
import { COLLIDING } from '../../support/admission-collision.ts';

const A = 0x0a000001, B = 0x0a000002;

t.test('first sighting defers, second admits, later ones too', async (t) => {
  const a = new CacheAdmission(30_000, 1 << 10, 0);
  const h = tupleHash4(A, B, IPPROTO_TCP, 80);
  t.equal(a.admit(h), false, 'first: not cached');
  t.equal(a.admit(h), true, 'second: cached');
  t.equal(a.admit(h), true, 'third (the kernel refused it, or it was rotated out): cached again');
  t.equal(a.deferred, 1);
  t.equal(a.admitted, 2);
});

t.test('each tuple is its own: another port, protocol, source or destination starts over', async (t) => {
  const a = new CacheAdmission(30_000, 1 << 16, 0);
  t.equal(a.admit(tupleHash4(A, B, IPPROTO_TCP, 80)), false);
  for (const h of [tupleHash4(A, B, IPPROTO_TCP, 81), tupleHash4(A, B, IPPROTO_UDP, 80), tupleHash4(B, A, IPPROTO_TCP, 80), tupleHash4(A, A, IPPROTO_TCP, 80)]) {
    t.equal(a.admit(h), false, 'another tuple: first sighting');
  }
  t.not(tupleHash6(0, 0, 0, A, 0, 0, 0, B, IPPROTO_TCP, 80), tupleHash4(A, B, IPPROTO_TCP, 80), 'the families hash apart');
  t.equal(a.admit(tupleHash6(0, 0, 0, A, 0, 0, 0, B, IPPROTO_TCP, 80)), false, 'the IPv6 tuple with the same words is new');
  t.equal(a.admit(tupleHash4(A, B, IPPROTO_TCP, 80)), true, 'the first one is still remembered');
});

t.test('aging: the table is emptied once a window has passed, not before', async (t) => {
  const a = new CacheAdmission(1000, 1 << 10, 0);
  const h = tupleHash4(A, B, IPPROTO_TCP, 80), g = tupleHash4(A, B, IPPROTO_TCP, 443);
  t.equal(a.admit(h), false);
  a.age(999);
  t.equal(a.admit(h), true, 'within the window: admitted');
  t.equal(a.admit(g), false);
  a.age(1000);
  t.equal(a.admit(h), false, 'after the window: a first sighting again');
  t.equal(a.admit(g), false, 'every tuple forgotten');
  a.age(1999);
  t.equal(a.admit(h), true, 'the window restarts at the clear');
});

t.test('a slot holds the last tuple that hashed there', async (t) => {
  const a = new CacheAdmission(30_000, 1, 0);
  const h = tupleHash4(A, B, IPPROTO_TCP, 80), g = tupleHash4(A, B, IPPROTO_TCP, 443);
  t.equal(a.admit(h), false);
  t.equal(a.admit(g), false, 'another tuple in the same slot is not admitted (its hash differs)');
  t.equal(a.admit(h), false, 'and pushed the first out: it starts over');
  t.equal(a.admit(h), true);
  t.equal(a.admit(0), false, 'a hash of 0 (the empty mark) is stored, not taken for an empty slot');
  t.equal(a.admit(0), true);
});

t.test('a full hash collision admits the second tuple on its first sighting (and nothing else)', async (t) => {
  const [x, y] = COLLIDING.map((c) => tupleHash4(c.src, c.dst, IPPROTO_TCP, c.port));
  t.equal(x, y, 'the two tuples collide');
  const a = new CacheAdmission(30_000, 1 << 16, 0);
  t.equal(a.admit(x!), false);
  t.equal(a.admit(y!), true, 'admitted one connection early: what is cached is still the tuple just judged (probe)');
});

t.test('slots must be a power of two', async (t) => {
  t.throws(() => new CacheAdmission(1000, 3), RangeError);
});

t.test('admission allocates nothing: 1M sightings in a fresh heap, no growth, no GC', async (t) => {
  const probe = fileURLToPath(new URL('../support/admission-alloc-probe.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', probe, '1000000'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `probe exited cleanly: ${r.stderr.slice(0, 2000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sightings: number; admitted: number; heapDelta: number; gcs: number };
  t.ok(out.admitted > 0 && out.admitted < out.sightings, `both answers taken (${out.admitted} admitted)`);
  t.ok(out.heapDelta < 1024 * 1024, `heap growth ${out.heapDelta} bytes over ${out.sightings} sightings`);
  t.ok(out.gcs <= 1, `${out.gcs} GCs during the loop`);
});
