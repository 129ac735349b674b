// Flat table images (table-arena.ts) against the structures they are encoded from: the trie walk
// and the port search of an image must give exactly CidrTrie4/6.lookup and PortMap.lookup, and
// selector classes must read back at every storage width, wherever the image sits in an arena.
// The verdict matrix is filled with codes that spell out (peer class, port class), so one
// judgeImage call checks every step of the lookup. Verdict rows that answer every port alike
// take a shortcut (table-arena.ts rowCells), checked against the matrix read cell by cell.

import t from 'tap';
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/cluster/model.ts';
import { CidrTrie4, CidrTrie6, type TriePrefix } from '../../src/policy/cidr-trie.ts';
import { PortMap } from '../../src/policy/port-map.ts';
import { H_SEL_LEN, H_SEL_WIDTH, SEL_I32, SEL_U16, SEL_U8, TableArena, encodeTable, judgeImage4, judgeImage6, portBlock, type TableImageParts } from '../../src/policy/table-arena.ts';
import { appendSelClasses, withMoreSelClasses } from '../../src/policy/table-growth.ts';
import { TIER_NEXT } from '../../src/policy/tiers.ts';
import { Rng } from '../../support/random-cluster.ts';

const PROTOS = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, 47];

function randomPrefixes(r: Rng, width: 1 | 4, n: number): TriePrefix[] {
  const out: TriePrefix[] = [];
  // Few distinct top bits so prefixes nest and share paths.
  for (let i = 0; i < n; i++) {
    const words = width === 1 ? [(0x0a000000 | (r.word() & 0x00ffffff)) >>> 0] : [0xfd000000, 0, r.int(4), r.word()];
    out.push({ words, prefix: r.range(0, width * 32), value: r.int(n + 1) });
  }
  return out;
}

function randomPorts(r: Rng): PortMap {
  const cuts = new Map<number, number[]>();
  for (const p of [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP]) {
    const c: number[] = [];
    for (let i = 0, n = r.int(12); i < n; i++) {
      const lo = r.chance(0.5) ? r.range(1, 100) : r.range(1, 65535);
      c.push(lo, Math.min(65536, lo + r.int(50)));
    }
    cuts.set(p, c);
  }
  return new PortMap(cuts);
}

function addr4(r: Rng): number {
  return r.chance(0.8) ? (0x0a000000 | (r.word() & 0x00ffffff)) >>> 0 : r.word();
}

t.test('trie walk and port search match CidrTrie and PortMap', async (t) => {
  const r = new Rng(2024);
  let bad = 0, checks = 0;
  for (let round = 0; round < 200; round++) {
    const n4 = r.chance(0.3) ? 0 : r.int(40), n6 = r.chance(0.3) ? 0 : r.int(40);
    const trie4 = new CidrTrie4(randomPrefixes(r, 1, n4), n4 + 1);
    const trie6 = new CidrTrie6(randomPrefixes(r, 4, n6), n6 + 1);
    const ports = randomPorts(r);
    const nIp4 = n4 + 2, nIp6 = n6 + 2, nPort = ports.classCount;
    // nSel = 1: peer class = ip class; verdict = ip class * 100000 + port class.
    const combine4 = Int32Array.from({ length: nIp4 }, (_, i) => i);
    const combine6 = Int32Array.from({ length: nIp6 }, (_, i) => i);
    const nPeer = Math.max(nIp4, nIp6);
    const verdict = new Int32Array(nPeer * nPort);
    for (let pc = 0; pc < nPeer; pc++) for (let q = 0; q < nPort; q++) verdict[pc * nPort + q] = pc * 100000 + q;
    const image = encodeTable({
      nSel: 1, nPort, ports: ports.image(), trie4: trie4.image(), default4: trie4.defaultValue,
      trie6: trie6.image(), default6: trie6.defaultValue, combine4, combine6, verdict, selClass: new Uint16Array(0),
    });
    // Somewhere inside an arena, not at offset 0.
    const pad = r.int(37);
    const words = new Int32Array(pad + image.length + 3).fill(-7);
    words.set(image, pad);
    const arena = new TableArena(words);
    for (let q = 0; q < 300; q++) {
      const proto = r.pick(PROTOS);
      const port = r.chance(0.1) ? r.pick([0, 1, 65535]) : r.int(65536);
      const a = addr4(r);
      const want4 = trie4.lookup(a) * 100000 + ports.lookup(proto, port);
      if (judgeImage4(arena.words, arena.bytes, arena.halves, pad, a | 0, 0, portBlock(proto), port) !== want4) bad++;
      const w = [0xfd000000, 0, r.int(4), r.chance(0.5) ? r.int(8) : r.word()];
      const want6 = trie6.lookup(w[0]!, w[1]!, w[2]!, w[3]!) * 100000 + ports.lookup(proto, port);
      if (judgeImage6(arena.words, arena.bytes, arena.halves, pad, w[0]! | 0, w[1]! | 0, w[2]! | 0, w[3]! | 0, 0, portBlock(proto), port) !== want6) bad++;
      checks += 2;
    }
  }
  t.equal(bad, 0, `${checks} lookups agree`);
});

t.test('selector classes read back at every width; identities past the stored ones read class 0', async (t) => {
  const r = new Rng(77);
  for (const [nSel, width] of [[2, SEL_U8], [256, SEL_U8], [257, SEL_U16], [65536, SEL_U16], [65537, SEL_I32]] as const) {
    const ids = 1000;
    const sel = nSel <= 0x10000 ? new Uint16Array(ids) : new Int32Array(ids);
    for (let i = 1; i < ids; i++) sel[i] = r.chance(0.1) ? nSel - 1 : r.int(nSel);
    const empty4 = new CidrTrie4([], 0), empty6 = new CidrTrie6([], 0);
    const noPorts = new PortMap(new Map());
    const nPort = noPorts.classCount;
    const parts: TableImageParts = {
      nSel, nPort, ports: noPorts.image(), trie4: empty4.image(), default4: 0,
      trie6: empty6.image(), default6: 0,
      // One ip class: peer class = selector class; verdict = peer class.
      combine4: Int32Array.from({ length: nSel }, (_, i) => i), combine6: Int32Array.from({ length: nSel }, (_, i) => i),
      verdict: Int32Array.from({ length: nSel * nPort }, (_, i) => Math.floor(i / nPort)), selClass: sel,
    };
    const image = encodeTable(parts);
    t.equal(image[H_SEL_WIDTH], width, `nSel ${nSel}: width`);
    const pad = 1 + r.int(5);
    const words = new Int32Array(pad + image.length);
    words.set(image, pad);
    const arena = new TableArena(words);
    let bad = 0;
    for (let id = 0; id < ids + 10; id++) {
      const want = id < ids ? sel[id]! : 0;
      if (judgeImage4(arena.words, arena.bytes, arena.halves, pad, 0x0a000001, id, -1, 0) !== want) bad++;
      if (judgeImage6(arena.words, arena.bytes, arena.halves, pad, 1, 2, 3, 4, id, -1, 0) !== want) bad++;
    }
    t.equal(bad, 0, `nSel ${nSel}: every identity`);
  }
});

t.test('new identities: appended in place while there is room, else copied; earlier identities unchanged', async (t) => {
  const r = new Rng(78);
  for (const nSel of [3, 300, 70000]) {
    const ids = 100;
    const sel = nSel <= 0x10000 ? new Uint16Array(ids) : new Int32Array(ids);
    for (let i = 1; i < ids; i++) sel[i] = r.int(nSel);
    const empty4 = new CidrTrie4([], 0), empty6 = new CidrTrie6([], 0);
    const noPorts = new PortMap(new Map());
    const nPort = noPorts.classCount;
    let img = encodeTable({
      nSel, nPort, ports: noPorts.image(), trie4: empty4.image(), default4: 0, trie6: empty6.image(), default6: 0,
      combine4: Int32Array.from({ length: nSel }, (_, i) => i), combine6: Int32Array.from({ length: nSel }, (_, i) => i),
      verdict: Int32Array.from({ length: nSel * nPort }, (_, i) => Math.floor(i / nPort)), selClass: sel,
    });
    const classOf = (image: Int32Array, id: number) => {
      const a = new TableArena(image);
      return judgeImage4(a.words, a.bytes, a.halves, 0, 0x0a000001, id, -1, 0);
    };
    // A published copy of the image (what an older snapshot's arena holds).
    const published = img.slice();
    const want: number[] = Array.from(sel);
    let inPlace = 0, copied = 0;
    for (let round = 0; round < 40; round++) {
      const added = Int32Array.from({ length: 1 + r.int(5) }, () => r.int(nSel));
      const from = img[H_SEL_LEN]!;
      const before = img;
      const wordsBefore = img.slice();
      if (appendSelClasses(img, from, added)) {
        inPlace++;
        t.equal(img.length, before.length, 'in place: same length');
      } else {
        // Compared with a copy taken before the call: the refusal must not write anything.
        t.same(before, wordsBefore, 'no room: the image is left untouched');
        img = withMoreSelClasses(img, from, added);
        copied++;
      }
      want.push(...added);
    }
    let bad = 0;
    for (let id = 0; id < want.length + 5; id++) if (classOf(img, id) !== (want[id] ?? 0)) bad++;
    t.equal(bad, 0, `nSel ${nSel}: every identity reads its class after ${inPlace} in-place and ${copied} copied extensions`);
    t.ok(inPlace > 0 && copied > 0, `nSel ${nSel}: both paths ran`);
    let oldBad = 0;
    for (let id = 0; id < ids; id++) if (classOf(published, id) !== sel[id]) oldBad++;
    t.equal(oldBad, 0, 'the published copy answers as before');
    t.throws(() => appendSelClasses(img, img[H_SEL_LEN]! - 1, new Int32Array(1)), /extension starts at/, 'a stale starting point is refused');
  }
});

t.test('uniform verdict rows (TIER_NEXT or one code for every port) answer as the matrix does', async (t) => {
  const r = new Rng(79);
  let bad = 0, checks = 0;
  const seen = { pass: 0, uniform: 0, varies: 0 };
  for (let round = 0; round < 100; round++) {
    const ports = randomPorts(r);
    const nPort = ports.classCount;
    const nSel = 1 + r.int(6);
    const nPeer = 1 + r.int(12);
    const codes = [TIER_NEXT, -1, -2, 0, 5, 6, 4 * 1000 + 3];
    // Each row uniform in TIER_NEXT, uniform in another code, or varying (when nPort allows).
    const verdict = new Int32Array(nPeer * nPort);
    for (let pc = 0; pc < nPeer; pc++) {
      const kind = r.int(3);
      const first = kind === 0 ? TIER_NEXT : r.pick(codes);
      verdict.fill(first, pc * nPort, (pc + 1) * nPort);
      // A varying row differs in one cell only (anywhere, the last included): the hardest to tell.
      if (kind === 2) verdict[pc * nPort + r.int(nPort)] = first === 5 ? 6 : 5;
    }
    // Ports that land in every port class: the interval starts of each protocol's block (PortMap.image()).
    const img = ports.image();
    const startsOf = (b: number) => Array.from(img.subarray(4 + img[b]!, 4 + img[b + 1]!));
    const empty4 = new CidrTrie4([], 0), empty6 = new CidrTrie6([], 0);
    const combine4 = Int32Array.from({ length: nSel }, () => r.int(nPeer));
    const combine6 = Int32Array.from({ length: nSel }, () => r.int(nPeer));
    const sel = Uint16Array.from({ length: 50 }, () => r.int(nSel));
    const image = encodeTable({
      nSel, nPort, ports: ports.image(), trie4: empty4.image(), default4: 0, trie6: empty6.image(), default6: 0,
      combine4, combine6, verdict, selClass: sel,
    });
    const pad = r.int(9);
    const words = new Int32Array(pad + image.length);
    words.set(image, pad);
    const arena = new TableArena(words);
    for (let q = 0; q < 200; q++) {
      const id = r.int(50);
      const proto = r.pick(PROTOS);
      const b = portBlock(proto);
      const port = b >= 0 && r.chance(0.7) ? r.pick(startsOf(b)) : r.int(65536);
      const cell = (pc: number) => verdict[pc * nPort + ports.lookup(proto, port)]!;
      const row = (pc: number) => verdict.subarray(pc * nPort, (pc + 1) * nPort);
      const pc4 = combine4[nSel > 1 ? sel[id]! : 0]!;
      const kind = row(pc4).every((c) => c === TIER_NEXT) ? 'pass' : row(pc4).every((c) => c === row(pc4)[0]) ? 'uniform' : 'varies';
      seen[kind]++;
      if (judgeImage4(arena.words, arena.bytes, arena.halves, pad, 0x0a000001, id, portBlock(proto), port) !== cell(pc4)) bad++;
      const pc6 = combine6[nSel > 1 ? sel[id]! : 0]!;
      if (judgeImage6(arena.words, arena.bytes, arena.halves, pad, 1, 2, 3, 4, id, portBlock(proto), port) !== cell(pc6)) bad++;
      checks += 2;
    }
  }
  t.equal(bad, 0, `${checks} lookups agree`);
  t.ok(seen.pass > 0 && seen.uniform > 0 && seen.varies > 0, `every kind of row looked up: ${JSON.stringify(seen)}`);
});
