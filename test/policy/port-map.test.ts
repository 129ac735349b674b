// Port classes: table-driven cases and a randomized check that two ports share a class only
// when every inserted range treats them alike (and that classes report their own interval).

import t from 'tap';
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/cluster/model.ts';
import { OTHER_PROTOCOL_CLASS, PortMap } from '../../src/policy/port-map.ts';
import { Rng } from '../../support/random-cluster.ts';

function rangesMap(ranges: [number, number, number][]): PortMap {
  const cuts = new Map<number, number[]>();
  for (const [proto, lo, hi] of ranges) {
    const c = cuts.get(proto) ?? [];
    c.push(lo, hi + 1);
    cuts.set(proto, c);
  }
  return new PortMap(cuts);
}

t.test('table', async (t) => {
  const m = rangesMap([[IPPROTO_TCP, 80, 80], [IPPROTO_TCP, 8000, 8080], [IPPROTO_UDP, 53, 53], [IPPROTO_SCTP, 1, 65535]]);
  const cls = (proto: number, port: number) => m.lookup(proto, port);
  t.equal(cls(IPPROTO_ICMP, 0), OTHER_PROTOCOL_CLASS, 'ICMP has no port class');
  t.equal(cls(58, 0), OTHER_PROTOCOL_CLASS, 'ICMPv6 has no port class');
  t.not(cls(IPPROTO_TCP, 80), cls(IPPROTO_TCP, 79));
  t.not(cls(IPPROTO_TCP, 80), cls(IPPROTO_TCP, 81));
  t.equal(cls(IPPROTO_TCP, 79), cls(IPPROTO_TCP, 0), 'below 80 is one interval');
  t.equal(cls(IPPROTO_TCP, 8000), cls(IPPROTO_TCP, 8080), 'endPort inclusive: 8000..8080 one class');
  t.not(cls(IPPROTO_TCP, 8080), cls(IPPROTO_TCP, 8081), '8081 is past the range');
  t.not(cls(IPPROTO_TCP, 7999), cls(IPPROTO_TCP, 8000));
  t.equal(cls(IPPROTO_TCP, 8081), cls(IPPROTO_TCP, 65535));
  t.not(cls(IPPROTO_UDP, 53), cls(IPPROTO_TCP, 53), 'protocols never share a class');
  t.not(cls(IPPROTO_SCTP, 0), cls(IPPROTO_SCTP, 1));
  t.equal(cls(IPPROTO_SCTP, 1), cls(IPPROTO_SCTP, 65535), 'SCTP 1..65535');
  const c = cls(IPPROTO_TCP, 8040);
  t.same([m.classProto[c], m.classLo[c], m.classHi[c]], [IPPROTO_TCP, 8000, 8080], 'class knows its interval');
  const empty = new PortMap(new Map());
  t.equal(empty.classCount, 4, 'other + one interval per protocol');
  t.equal(empty.lookup(IPPROTO_UDP, 0), empty.lookup(IPPROTO_UDP, 65535));
});

t.test('randomized: same class iff same membership in every range', async (t) => {
  const seed = 777;
  const r = new Rng(seed);
  let bad = 0, checks = 0;
  for (let round = 0; round < 100; round++) {
    const ranges: [number, number, number][] = [];
    const n = r.int(12);
    for (let i = 0; i < n; i++) {
      const proto = r.pick([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP]);
      const lo = r.chance(0.1) ? 0 : r.int(65536);
      const hi = r.chance(0.5) ? lo : Math.min(65535, lo + r.int(3000));
      ranges.push([proto, lo, hi]);
    }
    const m = rangesMap(ranges);
    const sig = (proto: number, port: number) => ranges.map(([p, lo, hi]) => (p === proto && port >= lo && port <= hi ? 1 : 0)).join('');
    const points: [number, number][] = [];
    for (let i = 0; i < 200; i++) {
      const proto = r.pick([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP]);
      const near = ranges.length && r.chance(0.6) ? r.pick(ranges)[r.pick([1, 2])] + r.pick([-1, 0, 1]) : r.int(65536);
      points.push([proto, Math.max(0, Math.min(65535, near))]);
    }
    for (let i = 0; i < points.length; i++) {
      const [pa, a] = points[i]!;
      const ca = m.lookup(pa, a);
      checks++;
      if (m.classProto[ca] !== pa || a < m.classLo[ca]! || a > m.classHi[ca]!) bad++;
      for (let j = i + 1; j < Math.min(points.length, i + 20); j++) {
        const [pb, b] = points[j]!;
        const same = m.lookup(pb, b) === ca;
        const should = pa === pb && sig(pa, a) === sig(pb, b);
        // Same class must imply same membership; different classes are fine only when some
        // range boundary separates them (classes are maximal intervals between cuts).
        if (same && !should) bad++;
        if (!same && pa === pb) {
          const [x, y] = a < b ? [a, b] : [b, a];
          const cutBetween = ranges.some(([p, lo, hi]) => p === pa && ((lo > x && lo <= y) || (hi + 1 > x && hi + 1 <= y)));
          if (!cutBetween) bad++;
        }
        checks++;
      }
    }
  }
  t.equal(bad, 0, `${checks} random comparisons (seed ${seed})`);
});
