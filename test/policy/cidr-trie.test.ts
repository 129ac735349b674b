// Longest-prefix match: table-driven cases (/0, /32, /128, nested prefixes, duplicates, empty
// trie) and randomized comparison with a naive scan over every inserted prefix, both families.

import t from 'tap';
import { CidrTrie4, CidrTrie6, type TriePrefix } from '../../src/policy/cidr-trie.ts';
import { maskWords, parseCIDR, parseIP } from '../../src/net/address.ts';
import { Rng } from '../../support/random-cluster.ts';

function prefixes(list: [string, number][]): TriePrefix[] {
  return list.map(([c, value]) => {
    const p = parseCIDR(c)!;
    return { words: p.words, prefix: p.prefix, value };
  });
}

function look4(trie: CidrTrie4, ip: string): number {
  return trie.lookup(parseIP(ip)!.words[0]!);
}
function look6(trie: CidrTrie6, ip: string): number {
  const w = parseIP(ip)!.words;
  return trie.lookup(w[0]!, w[1]!, w[2]!, w[3]!);
}

t.test('IPv4 table', async (t) => {
  const trie = new CidrTrie4(prefixes([
    ['10.0.0.0/8', 1], ['10.1.0.0/16', 2], ['10.1.2.0/24', 3], ['10.1.2.3/32', 4],
    ['10.1.2.128/25', 5], ['192.168.0.0/16', 6], ['255.255.255.255/32', 7], ['0.0.0.0/32', 8],
    ['128.0.0.0/1', 9],
  ]), -1);
  const cases: [string, number][] = [
    ['10.0.0.1', 1], ['10.1.0.1', 2], ['10.1.2.1', 3], ['10.1.2.3', 4], ['10.1.2.4', 3],
    ['10.1.2.200', 5], ['10.2.0.0', 1], ['11.0.0.0', -1], ['192.168.255.255', 6],
    ['255.255.255.255', 7], ['255.255.255.254', 9], ['0.0.0.0', 8], ['0.0.0.1', -1], ['128.0.0.0', 9],
    ['127.255.255.255', -1],
  ];
  for (const [ip, want] of cases) t.equal(look4(trie, ip), want, ip);
  const all = new CidrTrie4(prefixes([['0.0.0.0/0', 0], ['10.0.0.0/8', 1]]), -1);
  t.equal(look4(all, '1.2.3.4'), 0, '/0 matches everything');
  t.equal(look4(all, '10.9.9.9'), 1, 'longer wins over /0');
  const empty = new CidrTrie4([], 42);
  t.equal(look4(empty, '1.2.3.4'), 42, 'empty trie gives the default');
  const dup = new CidrTrie4(prefixes([['10.0.0.0/8', 1], ['10.0.0.0/8', 2], ['10.9.0.0/8', 3]]), -1);
  t.equal(look4(dup, '10.0.0.1'), 3, 'same prefix again (host bits ignored): last value wins');
  t.equal(new CidrTrie4(prefixes([['1.2.3.4/32', 5]]), -1).lookup(-1), -1, 'signed input');
  t.equal(new CidrTrie4(prefixes([['255.255.255.255/32', 5]]), -1).lookup(-1), 5, 'signed int32 -1 is 255.255.255.255');
  t.throws(() => new CidrTrie4([{ words: [0, 0, 0, 0], prefix: 8, value: 1 }], -1), 'wrong width rejected');
  t.throws(() => new CidrTrie4([{ words: [0], prefix: 33, value: 1 }], -1), 'prefix out of range rejected');
  t.throws(() => new CidrTrie4([{ words: [0], prefix: 8, value: -1 }], -1), 'negative value rejected');
});

t.test('IPv6 table', async (t) => {
  const trie = new CidrTrie6(prefixes([
    ['fd00::/8', 1], ['fd00:10:244::/48', 2], ['fd00:10:244::11/128', 3], ['fd00:10:244::/120', 4],
    ['2001:db8::/32', 5], ['::/128', 6], ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128', 7],
    ['fd00:10:244:0:8000::/65', 8], ['fd00:10:244::1:0/112', 9],
  ]), -1);
  const cases: [string, number][] = [
    ['fd00::1', 1], ['fd00:10:244::11', 3], ['fd00:10:244::12', 4], ['fd00:10:244::1:5', 9],
    ['fd00:10:244:0:8000::1', 8], ['fd00:10:244:0:7fff::1', 2], ['fd00:10:244:1::', 2],
    ['2001:db8:ffff::', 5], ['2001:db9::', -1], ['::', 6], ['::1', -1],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 7], ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe', -1],
  ];
  for (const [ip, want] of cases) t.equal(look6(trie, ip), want, ip);
  const all = new CidrTrie6(prefixes([['::/0', 0]]), -1);
  t.equal(look6(all, '2001:db8::1'), 0, '::/0 matches everything');
});

/** Naive LPM: scan every prefix. */
function naive(list: TriePrefix[], words: number[], dflt: number): number {
  let best = -1, value = dflt;
  for (const p of list) {
    const m = maskWords(words, p.prefix);
    const k = maskWords(p.words, p.prefix);
    if (m.every((w, i) => w === k[i]) && p.prefix >= best) {
      best = p.prefix;
      value = p.value;
    }
  }
  return value;
}

t.test('randomized against a naive scan', async (t) => {
  const seed = 20261122;
  const r = new Rng(seed);
  let checks = 0, bad = 0;
  for (const width of [1, 4] as const) {
    const bits = width * 32;
    for (let round = 0; round < 60; round++) {
      // Prefixes clustered around a few bases so they nest and share paths.
      const bases = Array.from({ length: 4 }, () => Array.from({ length: width }, () => r.word()));
      const list: TriePrefix[] = [];
      const seen = new Set<string>();
      const n = r.int(60);
      for (let i = 0; i < n; i++) {
        const base = r.pick(bases).map((w) => (r.chance(0.3) ? (w ^ (1 << r.int(32))) >>> 0 : w));
        const prefix = r.chance(0.1) ? r.pick([0, bits]) : r.int(bits + 1);
        const key = maskWords(base, prefix).join('.') + '/' + prefix;
        if (seen.has(key)) continue; // the naive scan has no "last wins" rule
        seen.add(key);
        list.push({ words: base, prefix, value: i });
      }
      const trie4 = width === 1 ? new CidrTrie4(list, -7) : undefined;
      const trie6 = width === 4 ? new CidrTrie6(list, -7) : undefined;
      for (let q = 0; q < 400; q++) {
        const addr = r.chance(0.7)
          ? r.pick(bases).map((w) => (r.chance(0.5) ? (w ^ (1 << r.int(32))) >>> 0 : w))
          : Array.from({ length: width }, () => r.word());
        const want = naive(list, addr, -7);
        const got = trie4 ? trie4.lookup(addr[0]!) : trie6!.lookup(addr[0]!, addr[1]!, addr[2]!, addr[3]!);
        checks++;
        if (got !== want) {
          bad++;
          if (bad < 5) t.fail(`seed ${seed} width ${width} round ${round}: ${addr.join('.')} got ${got} want ${want}`);
        }
      }
    }
  }
  t.equal(bad, 0, `${checks} random lookups agree`);
});
