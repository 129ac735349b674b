// Exact address maps: table-driven edge cases and a randomized comparison with a Map.

import t from 'tap';
import { AddressMap4, AddressMap6 } from '../../src/policy/address-map.ts';
import { Rng } from '../../support/random-cluster.ts';

t.test('table', async (t) => {
  const m = new AddressMap4([[0, 1], [0xffffffff, 2], [0x0a000001, 3], [0x0a000001, 4]]);
  t.equal(m.get(0), 1, '0.0.0.0 is a key like any other');
  t.equal(m.get(0xffffffff), 2);
  t.equal(m.get(-1), 2, 'int32 and uint32 spellings are the same address');
  t.equal(m.get(0x0a000001), 4, 'repeated address keeps the last value');
  t.equal(m.size, 3);
  t.equal(m.get(0x0a000002), -1);
  t.equal(new AddressMap4([]).get(5), -1, 'empty map');
  const m6 = new AddressMap6([[[0, 0, 0, 0], 7], [[0xfd000000, 0, 0, 1], 8]]);
  t.equal(m6.get(0, 0, 0, 0), 7, ':: is a key');
  t.equal(m6.get(0xfd000000, 0, 0, 1), 8);
  t.equal(m6.get(0xfd000000 | 0, 0, 0, 1), 8, 'signed words');
  t.equal(m6.get(0xfd000000, 0, 1, 0), -1);
  t.throws(() => new AddressMap4([[1, -1]]), 'negative value rejected');
  t.throws(() => new AddressMap6([[[1, 2], 1]]), 'short IPv6 key rejected');
});

t.test('randomized against Map', async (t) => {
  const r = new Rng(99);
  let bad = 0;
  for (let round = 0; round < 50; round++) {
    const n = r.int(3000);
    const ref4 = new Map<number, number>();
    const ref6 = new Map<string, number>();
    const e4: [number, number][] = [], e6: [number[], number][] = [];
    // Sequential addresses (like pod CIDRs) and random ones.
    const base = r.word();
    for (let i = 0; i < n; i++) {
      const a = r.chance(0.7) ? (base + i) >>> 0 : r.word();
      e4.push([a, i]); ref4.set(a, i);
      const w = [0xfd000000, 0, r.int(4), r.chance(0.5) ? i : r.word()];
      e6.push([w, i]); ref6.set(w.join(), i);
    }
    const m4 = new AddressMap4(e4), m6 = new AddressMap6(e6);
    for (let q = 0; q < 2000; q++) {
      const a = r.chance(0.5) && e4.length ? r.pick(e4)[0] : r.word();
      if (m4.get(a) !== (ref4.get(a) ?? -1)) bad++;
      const w = r.chance(0.5) && e6.length ? r.pick(e6)[0] : [0xfd000000, 0, r.int(4), r.word()];
      if (m6.get(w[0]!, w[1]!, w[2]!, w[3]!) !== (ref6.get(w.join()) ?? -1)) bad++;
    }
  }
  t.equal(bad, 0, 'every lookup agrees');
});

t.test('with(): edited copies agree with a Map and leave the original alone', async (t) => {
  const r = new Rng(4242);
  let bad = 0;
  for (let round = 0; round < 40; round++) {
    // Small key space so sets, overwrites and removals collide and probe chains wrap around.
    const space = r.range(8, 400);
    const ref4 = new Map<number, number>();
    const ref6 = new Map<string, number>();
    let m4 = new AddressMap4([]);
    let m6 = new AddressMap6([]);
    for (let step = 0; step < 60; step++) {
      const before4 = new Map(ref4);
      const old4 = m4;
      const e4: [number, number][] = [], e6: [number[], number][] = [];
      for (let i = 0, n = r.range(1, 12); i < n; i++) {
        const a = (0x0a000000 + r.int(space)) >>> 0;
        const v = r.chance(0.4) ? -1 : r.int(1000);
        e4.push([a, v]);
        if (v >= 0) ref4.set(a | 0, v); else ref4.delete(a | 0);
        const w = [0xfd000000, 0, 0, r.int(space)];
        e6.push([w, v]);
        if (v >= 0) ref6.set(w.join(), v); else ref6.delete(w.join());
      }
      m4 = m4.with(e4);
      m6 = m6.with(e6);
      if (m4.size !== ref4.size) bad++;
      if (m6.size !== ref6.size) bad++;
      for (let a = 0; a < space; a++) {
        const k = (0x0a000000 + a) | 0;
        if (m4.get(k) !== (ref4.get(k) ?? -1)) bad++;
        if (old4.get(k) !== (before4.get(k) ?? -1)) bad++;
        if (m6.get(0xfd000000, 0, 0, a) !== (ref6.get([0xfd000000, 0, 0, a].join()) ?? -1)) bad++;
      }
    }
  }
  t.equal(bad, 0, 'every lookup agrees after random edit sequences');
});
