// idleGc: callable at any time, whatever the heap does between calls (scavenges, and a full
// collection once the heap has grown past MAJOR_GROWTH), and it keeps nothing alive: objects
// only weakly held are gone after the full collection it runs, and it says when it ran one (the
// benches then finish V8's sweeping: finishSweeping). No timing is checked.

import t from 'tap';
import { MAJOR_GROWTH, finishSweeping, idleGc } from '../../src/agent/idle-gc.ts';

t.test('a full collection follows heap growth past MAJOR_GROWTH, and nothing is kept alive', async (t) => {
  t.ok(MAJOR_GROWTH > 1);
  t.equal(idleGc(), true, 'the first call collects fully: the base is what a full collection left');
  let kept: unknown[] = [];
  // Grow the heap well past the threshold with objects that outlive the scavenges.
  let ref: WeakRef<object> | undefined;
  for (let i = 0; i < 40; i++) {
    kept.push(Array.from({ length: 20_000 }, (_, k) => ({ k })));
    if (i === 0) ref = new WeakRef(kept[0] as object);
    idleGc();
  }
  // Drop them, and grow again: a later full collection frees what the first array was.
  kept = [];
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 40; i++) {
    kept.push(Array.from({ length: 20_000 }, (_, k) => ({ k })));
    idleGc();
  }
  t.equal(ref!.deref(), undefined, 'the dropped array was collected');
  t.ok(kept.length === 40);
});

t.test('idleGc reports its full collections; finishSweeping may follow at any time', async (t) => {
  idleGc();
  finishSweeping(); // also with no sweeping under way
  t.equal(idleGc(), false, 'no growth since the last call: a scavenge only');
  const kept: unknown[] = [];
  let majors = 0;
  for (let i = 0; i < 40; i++) {
    kept.push(Array.from({ length: 20_000 }, (_, k) => ({ k })));
    if (idleGc()) {
      majors++;
      finishSweeping();
      // The full collection set the base to what it left: nothing grew since.
      t.equal(idleGc(), false, 'right after a full collection, none again');
    }
  }
  t.ok(majors > 0, `the heap grew well past MAJOR_GROWTH: ${majors} full collections reported`);
  t.ok(kept.length === 40);
});
