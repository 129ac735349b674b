// The verdict cache's counter bookkeeping (src/enforce/cache-counters.ts): `ipset save` lines are
// parsed into tuple keys equal to the ones built from the agent's address words, and each read
// hands on only what an entry counted since the last one, with the decision that created it.

import t from 'tap';
import { applyCounts, Ledger, normalizeKey, parseSavedCounters, QUIET_DOUBLINGS, readSpacingMs, tupleKey, type CachedDecision } from '../../src/enforce/cache-counters.ts';
import { parseIP } from '../../src/net/address.ts';

const SAVE = `create PALISADE-CACHE4 hash:ip,port,ip family inet hashsize 1024 maxelem 65536 timeout 42 counters bucketsize 12 initval 0x1
add PALISADE-CACHE4 10.77.1.2,tcp:8080,10.77.2.2 timeout 29 packets 7 bytes 420
add PALISADE-CACHE4 10.77.1.3,udp:53,10.77.2.2 timeout 12 packets 0 bytes 0
add PALISADE-CACHE6 fd77:1::2,sctp:9,fd77:2::2 timeout 3 packets 2 bytes 120
`;

const words = (ip: string) => parseIP(ip)!.words;

t.test('parsing ipset save output', async (t) => {
  const got = parseSavedCounters(SAVE);
  t.same(got, [
    { key: tupleKey(4, words('10.77.1.2'), 6, 8080, words('10.77.2.2')), packets: 7 },
    { key: tupleKey(6, words('fd77:1::2'), 132, 9, words('fd77:2::2')), packets: 2 },
  ], 'entries that counted nothing are left out; protocols by name');
  t.same(parseSavedCounters('add S 10.0.0.1,tcp:80,10.0.0.2 timeout 3\n'), [], 'a set without counters yields nothing');
  t.equal(got[0]!.key, '10.77.1.2,tcp:8080,10.77.2.2', 'keys are the member text as ipset prints it');
  t.equal(normalizeKey('FD77:1:0:0::2,sctp:9,fd77:2::2'), tupleKey(6, words('fd77:1::2'), 132, 9, words('fd77:2::2')), 'another spelling normalizes to the same key');
});

t.test('each read hands on the new count only, with the entry\'s decision', async (t) => {
  const ledger = new Ledger('snap-1', 16);
  const decision: CachedDecision = { context: 'snap-1', egress: -1, ingress: 8 };
  const key = tupleKey(4, words('10.77.1.2'), 6, 8080, words('10.77.2.2'));
  ledger.add(key, { tuple: { family: 4, src: words('10.77.1.2'), dst: words('10.77.2.2'), proto: 6, port: 8080 }, decision, addedAt: 0, counted: 0 });
  const seen: [CachedDecision, number][] = [];
  const sink = (d: CachedDecision, _t: unknown, n: number) => seen.push([d, n]);
  const unknown = applyCounts(ledger, parseSavedCounters(SAVE), sink);
  t.same(seen, [[decision, 7]]);
  t.equal(unknown, 2, 'the IPv6 entry is not in this ledger: reported, not attributed');
  applyCounts(ledger, parseSavedCounters(SAVE), sink);
  t.equal(seen.length, 1, 'the same counter read again adds nothing');
  applyCounts(ledger, parseSavedCounters(SAVE.replace('packets 7 bytes 420', 'packets 10 bytes 600')), sink);
  t.same(seen[1], [decision, 3], 'three more since the last read');
});

t.test('a ledger is bounded and keeps a tuple\'s first decision', async (t) => {
  const ledger = new Ledger(undefined, 2);
  const e = (ingress: number) => ({ tuple: { family: 4 as const, src: [1], dst: [2], proto: 6, port: ingress }, decision: { context: undefined, egress: 0, ingress }, addedAt: 0, counted: 0 });
  ledger.add('a', e(1));
  ledger.add('a', e(2));
  ledger.add('b', e(3));
  ledger.add('c', e(4));
  t.equal(ledger.entries.size, 2);
  t.equal(ledger.entries.get('a')!.decision.ingress, 1);
});

t.test('read spacing: the interval, slow reads spaced to about 5 %, doubled after quiet reads up to QUIET_DOUBLINGS times', async (t) => {
  // [interval ms, last read ms, quiet reads in a row, spacing ms]
  const cases: [number, number, number, number][] = [
    [1000, 0, 0, 1000],
    [1000, 10, 0, 1000],
    [1000, 200, 0, 4000], // a read of 200 ms: at most 5 % of the time
    [1000, 0, 1, 2000],
    [1000, 0, 2, 4000],
    [1000, 0, 3, 8000],
    [1000, 0, 4, 8000], // capped
    [1000, 0, 50, 8000],
    [1000, 600, 3, 12000], // the slower of the two rules decides
    [100, 0, 3, 800],
  ];
  t.equal(QUIET_DOUBLINGS, 3);
  for (const [interval, last, quiet, want] of cases) t.equal(readSpacingMs(interval, last, quiet), want, `${interval} ms, last read ${last} ms, ${quiet} quiet`);
  t.equal(readSpacingMs(1000, 0), 1000, 'no quiet reads by default');
});
