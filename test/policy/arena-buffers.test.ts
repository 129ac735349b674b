// Reuse of retired arena buffers (arena-buffers.ts): a buffer comes back only once every view a
// snapshot could read it through is collected, and then it does come back (so the first checks
// are not vacuous). TableLayout's compactions and growths must leave a published arena's words
// exactly as they were while it is held.

import t from 'tap';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ArenaBuffers, sizeClass } from '../../src/policy/arena-buffers.ts';
import { TableLayout } from '../../src/policy/table-layout.ts';
import type { RuleTable } from '../../src/policy/rule-table.ts';

v8.setFlagsFromString('--expose-gc');
const gc = ((globalThis as { gc?: () => void }).gc ?? vm.runInNewContext('gc')) as () => void;

/** Full collections, with event-loop turns for the finalization callbacks. */
async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('a retired buffer is not reused while one of its views lives, and is once none does', async (t) => {
  const pool = new ArenaBuffers();
  const words = sizeClass(50_000);
  let view: Int32Array | undefined = pool.take(words);
  view.fill(7);
  // A snapshot keeps only the byte view.
  let bytes: Uint8Array | undefined = new Uint8Array(view.buffer);
  pool.retire([view, bytes, new Uint16Array(view.buffer)]);
  const buffer = view.buffer;
  view = undefined;
  await collect();
  const other = pool.take(words);
  t.not(other.buffer, buffer, 'a buffer a live view reads is not handed out');
  t.equal(pool.reused, 0);
  t.ok(bytes.every((b, i) => b === (i % 4 === 0 ? 7 : 0)), 'the live view reads what was written');
  bytes = undefined;
  await collect();
  t.equal(pool.held.buffers, 1, 'freed once no view lives');
  const again = pool.take(words);
  t.equal(pool.reused, 1);
  t.ok(again.every((w) => w === 0), 'handed out zeroed');
});

t.test('a free buffer is taken for requests from 1/2 to 3/2 of its size only', async (t) => {
  const pool = new ArenaBuffers();
  pool.retire([pool.take(sizeClass(40_000))]);
  await collect();
  const n = pool.held.bytes / 4;
  t.equal(pool.take(2 * n).buffer.byteLength, sizeClass(2 * n) * 4, 'too small: a new one');
  t.equal(pool.take(Math.floor(n / 2) - 1).buffer.byteLength, sizeClass(Math.floor(n / 2) - 1) * 4, 'too large: a new one');
  t.equal(pool.reused, 0);
  t.equal(pool.take(Math.floor((3 * n) / 2)).buffer.byteLength, n * 4, 'from 2/3 of the request');
  t.equal(pool.reused, 1);
});

/** A stand-in table: only `image` and `parts.nodes` are read by TableLayout.place. */
function table(len: number, fill: number): RuleTable {
  return { image: new Int32Array(len).fill(fill), parts: {} } as unknown as RuleTable;
}

t.test('compaction and growth leave a held arena unchanged', async (t) => {
  const layout = new TableLayout();
  let live = [table(40_000, 1), table(40_000, 2)];
  for (const tb of live) layout.place(tb);
  const held = layout.publish();
  const copy = Int32Array.from(held.words.subarray(0, layout.used));
  for (let round = 0; round < 6; round++) {
    // Replace every table, then compact (as CompiledEngine.compactTables), then grow.
    for (const tb of live) layout.drop(tb);
    live = [table(40_000, 10 + round), table(40_000, 20 + round)];
    for (const tb of live) layout.place(tb);
    layout.publish();
    layout.reset(4 * 80_000);
    for (const tb of live) layout.place(tb);
    layout.publish();
    layout.makeRoom(4);
    layout.publish();
    await collect();
  }
  t.ok(layout.buffers.reused > 0, 'buffers were reused meanwhile');
  t.same(held.words.subarray(0, copy.length), copy, 'the held arena reads what it read when published');
});
