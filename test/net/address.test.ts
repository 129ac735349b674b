// Differential test of our address parsing against ip-num (an independent implementation):
// the hot path depends on net/address.ts turning text into exactly the right words.
import t from 'tap';
import ipnum from 'ip-num';
import { cidrContains, cidrWithin, formatIP, parseCIDR, parseIP, parseV4Slow, parseV6Slow } from '../../src/net/address.ts';

const { IPv4, IPv6, IPv4CidrRange, IPv6CidrRange } = ipnum;

// A small seeded generator (mulberry32) so a failure can be reproduced.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const seed = Number(process.env.PALISADE_SEED ?? 20261122);
const rand = rng(seed);
const u32 = () => Math.floor(rand() * 2 ** 32) >>> 0;
const wordsToBig = (w: readonly number[]) => w.reduce((acc, x) => (acc << 32n) | BigInt(x >>> 0), 0n);

t.comment(`seed ${seed} (PALISADE_SEED to reproduce)`);

t.test('IPv4 text -> word agrees with ip-num', async (t) => {
  let bad = 0;
  for (let i = 0; i < 5000; i++) {
    const v = u32();
    const text = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
    const ours = parseIP(text);
    if (!ours || ours.family !== 'IPv4' || BigInt(ours.words[0]!) !== IPv4.fromString(text).getValue()) bad++;
    if (ours && formatIP(ours) !== text) bad++;
  }
  t.equal(bad, 0);
});

t.test('IPv6 text (full and compressed, zero runs) -> words agree with ip-num', async (t) => {
  let bad = 0;
  for (let i = 0; i < 5000; i++) {
    // Zero out random groups so that "::" compression is exercised.
    const groups = Array.from({ length: 8 }, () => (rand() < 0.4 ? 0 : Math.floor(rand() * 65536)));
    if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) groups[5] = 1;
    const full = groups.map((g) => g.toString(16)).join(':');
    const ours = parseIP(full);
    if (!ours || ours.family !== 'IPv6') { bad++; continue; }
    const theirs = IPv6.fromString(full).getValue();
    if (wordsToBig(ours.words) !== theirs) bad++;
    const short = formatIP(ours);
    const again = parseIP(short);
    if (!again || wordsToBig(again.words) !== theirs || IPv6.fromString(short).getValue() !== theirs) bad++;
  }
  t.equal(bad, 0);
});

t.test('CIDR containment agrees with ip-num ranges', async (t) => {
  let bad = 0;
  for (let i = 0; i < 3000; i++) {
    const v6 = rand() < 0.5;
    const bits = v6 ? 128 : 32;
    const prefix = Math.floor(rand() * (bits + 1));
    const base = v6 ? formatIP({ family: 'IPv6', words: [u32(), u32(), u32(), u32()] }) : formatIP({ family: 'IPv4', words: [u32()] });
    const c = parseCIDR(`${base}/${prefix}`)!;
    // Probe near the block: copy the block's bits and flip one random bit.
    const probeWords = [...c.words];
    const bit = Math.floor(rand() * bits);
    probeWords[bit >> 5] = (probeWords[bit >> 5]! ^ (1 << (31 - (bit & 31)))) >>> 0;
    const probe = { family: c.family, words: probeWords } as const;
    const range = v6 ? IPv6CidrRange.fromCidr(`${formatIP(c)}/${prefix}`) : IPv4CidrRange.fromCidr(`${formatIP(c)}/${prefix}`);
    const single = v6 ? IPv6CidrRange.fromCidr(`${formatIP(probe)}/128`) : IPv4CidrRange.fromCidr(`${formatIP(probe)}/32`);
    // ip-num's contains() is typed per family; both sides here are of one family.
    const theirs = (range as { contains(o: unknown): boolean }).contains(single);
    if (cidrContains(c, probe) !== theirs) bad++;
    const inner = parseCIDR(`${formatIP(probe)}/${Math.min(bits, prefix + 1)}`)!;
    if (cidrWithin(inner, c) !== theirs) bad++;
  }
  t.equal(bad, 0);
});

t.test('what the API server rejects, we reject', async (t) => {
  for (const s of ['010.1.1.1', '1.2.3', '1.2.3.256', '::1::', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', '', 'abc']) {
    t.equal(parseIP(s), undefined, s);
  }
  // IPv4-mapped IPv6 with a prefix: the prefix counts 128 bits, so it is no IPv4 CIDR.
  for (const s of ['10.0.0.0/33', '10.0.0.0', 'fd00::/129', '10.0.0.0/-1', '10.0.0.0/8/8',
    '::ffff:10.0.0.0/8', '::ffff:0.0.0.0/0', '::FFFF:10.1.2.3/32', '0:0:0:0:0:ffff:10.0.0.0/8', '::ffff:a00:0/8', '::ffff:10.0.0.0/104']) {
    t.equal(parseCIDR(s), undefined, s);
  }
  t.same(parseIP('::ffff:10.1.2.3'), { family: 'IPv4', words: [0x0a010203] }, 'IPv4-mapped IPv6 is the IPv4 address');
  t.equal(formatIP(parseCIDR('10.1.2.3/8')!), '10.0.0.0', 'host bits are cleared');
  // Not mapped: IPv4-compatible and NAT64 forms stay IPv6.
  for (const [s, want] of [['::1.2.3.4/128', 'IPv6'], ['64:ff9b::1.2.3.4/96', 'IPv6'], ['::1:ffff:0:0/96', 'IPv6']] as const) t.equal(parseCIDR(s)?.family, want, s);
});

// parseIP takes a character scan for plain text (digits and dots; hex digits and colons) and the
// regular-expression parse for the rest: the two must agree on every text, valid or not.
t.test('the plain-text parse agrees with the general one', async (t) => {
  const slow = (s: string) => {
    const v4 = parseV4Slow(s);
    if (v4 !== undefined) return { family: 'IPv4', words: [v4] };
    const v6 = parseV6Slow(s);
    if (v6 === undefined) return undefined;
    if (v6[0] === 0 && v6[1] === 0 && v6[2] === 0xffff) return { family: 'IPv4', words: [v6[3]!] };
    return { family: 'IPv6', words: v6 };
  };
  const edge = [
    '', ':', '::', ':::', '::1', '1::', '1:::2', ':1::2', '1::2:', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8',
    '::1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'ffff::FFFF', '0000:0:00:000::', 'g::1', '1::2::3',
    '::ffff:0:0', '::ffff:1:2', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.1.1.1', '1.2.3', '1.2.3.4.', '.1.2.3', '1..2.3',
    '1.2.3.4.5', '1234.1.1.1', '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', 'fe80::1%eth0', ' 1.2.3.4', 'a.b.c.d',
    `${'0:'.repeat(22)}0`, `${'1'.repeat(46)}`,
  ];
  const alphabet = '0123456789abcdefABCDEF:.g% ';
  const texts = [...edge];
  for (let i = 0; i < 20000; i++) {
    let s = '';
    const len = Math.floor(rand() * 20);
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * (rand() < 0.7 ? 17 : alphabet.length))];
    texts.push(s);
    // Near-valid ones: a random address with one group or octet dropped, doubled or compressed.
    const w = [u32(), u32(), u32(), u32()];
    const groups = w.flatMap((x) => [x >>> 16, x & 0xffff]).map((g) => (rand() < 0.3 ? 0 : g).toString(16));
    const cut = Math.floor(rand() * 8);
    const v6 = rand() < 0.5 ? groups.join(':') : `${groups.slice(0, cut).join(':')}::${groups.slice(cut + Math.floor(rand() * 3)).join(':')}`;
    texts.push(v6, v6.replace(/:[0-9a-f]+$/, ''), `${v6}:1`);
    const o = [u32() & 255, u32() & 511, u32() & 255, u32() & 255];
    texts.push(o.join('.'), o.slice(0, 3).join('.'), `0${o.join('.')}`);
  }
  let bad = 0;
  for (const s of texts) {
    const a = parseIP(s), b = slow(s.trim());
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      bad++;
      if (bad <= 5) t.fail(`${JSON.stringify(s)}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  }
  t.equal(bad, 0, `${texts.length} texts agree`);
});
