// BatchRunner: rounds never overlap, requests made during a round are merged into one next
// round, a round returning false stops the loop but keeps what was requested meanwhile, and
// nothing runs while mayRun() says no.

import t from 'tap';
import { BatchRunner } from '../../src/agent/batch-runner.ts';

/** A round that waits until the test releases it. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

t.test('requests during a round are merged into one next round', async (t) => {
  const rounds: number[][] = [];
  const gates = [gate(), gate(), gate()];
  let running = 0;
  let overlapped = false;
  const r = new BatchRunner<number[]>({
    round: async (req) => {
      if (running++ > 0) overlapped = true;
      rounds.push(req);
      await gates[rounds.length - 1]?.p;
      running--;
    },
    merge: (a, b) => [...a, ...b],
    mayRun: () => true,
  });
  r.request([1]);
  t.ok(r.busy);
  r.request([2]);
  r.request([3]);
  gates[0]!.open();
  await new Promise((res) => setImmediate(res));
  t.same(rounds, [[1], [2, 3]], 'one round for the burst');
  r.request([4]);
  r.request([5]);
  gates[1]!.open();
  gates[2]!.open();
  await r.settled();
  t.same(rounds, [[1], [2, 3], [4, 5]], 'and one for the next');
  t.notOk(overlapped, 'rounds never overlap');
  t.notOk(r.busy);
});

t.test('false stops the loop; the requests made meanwhile wait for the next request', async (t) => {
  const rounds: string[][] = [];
  let fail = true;
  let release!: () => void;
  const held = new Promise<void>((res) => (release = res));
  const r = new BatchRunner<string[]>({
    round: async (req) => {
      rounds.push(req);
      if (fail) {
        await held;
        return false;
      }
      return true;
    },
    merge: (a, b) => [...a, ...b],
    mayRun: () => true,
  });
  r.request(['a']);
  r.request(['b']);
  release();
  await r.settled();
  t.same(rounds, [['a']], 'stopped after the failed round');
  fail = false;
  r.request(['c']);
  await r.settled();
  t.same(rounds, [['a'], ['b', 'c']], 'the kept request runs with the next one');
});

t.test('nothing runs while mayRun() is false; requests are kept', async (t) => {
  const rounds: boolean[][] = [];
  let may = false;
  const r = new BatchRunner<boolean[]>({
    round: async (req) => {
      rounds.push(req);
    },
    merge: (a, b) => [...a, ...b],
    mayRun: () => may,
  });
  r.request([true]);
  t.notOk(r.busy);
  await r.settled();
  t.same(rounds, []);
  may = true;
  r.request([false]);
  await r.settled();
  t.same(rounds, [[true, false]]);
});
