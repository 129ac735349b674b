// The live reads of a counted set back off while they count nothing (src/enforce/counted-sets.ts
// readWhenDue, cache-counters.ts readSpacingMs): a real `ipset save` of a real set with counters
// in a namespace of our own, on a clock the test drives, so each step says exactly whether a read
// was due. The interval is 10 s so that the "reads near 5 % of the time" rule (20 x the last
// read's duration) never decides here.

import t from 'tap';
import { CountedSets, type ReadCounters } from '../../src/enforce/counted-sets.ts';
import { Ledger, tupleKey, type CachedDecision, type CachedTuple } from '../../src/enforce/cache-counters.ts';
import type { NativeAddon } from '../../src/enforce/native.ts';
import { IPPROTO_TCP } from '../../src/net/ip-protocols.ts';
import { must, run } from '../../support/netns.ts';

const NS = `pal-t-${process.pid}-quiet`;
const X = ['ip', 'netns', 'exec', NS];
const SET = 'PALISADE-QUIET-T';
const MEMBER = '10.0.0.1,tcp:80,10.0.0.2';

if (process.getuid?.() !== 0) {
  t.test('quiet reads', { skip: 'needs root (a namespace and an ipset)' }, async () => {});
} else {
  t.before(async () => {
    await must(['ip', 'netns', 'add', NS]);
    await must([...X, 'ipset', 'create', SET, 'hash:ip,port,ip', 'timeout', '600', 'counters']);
    await must([...X, 'ipset', 'add', SET, MEMBER]);
  });
  t.teardown(async () => {
    await run([...X, 'ipset', 'destroy', SET]);
    await run(['ip', 'netns', 'del', NS]);
  });

  t.test('reads that count nothing double the spacing up to 8x; a count brings it back', async (t) => {
    const tuple: CachedTuple = { family: 4, src: [0x0a000001], dst: [0x0a000002], proto: IPPROTO_TCP, port: 80 };
    t.equal(tupleKey(4, tuple.src, tuple.proto, tuple.port, tuple.dst), MEMBER);
    const decision: CachedDecision = { context: 'g1', egress: 1, ingress: 2 };
    const ledger = new Ledger('g1', 16);
    ledger.add(MEMBER, { tuple, decision, addedAt: 0, counted: 0 });
    const counters: ReadCounters = { counted: 0, reads: 0, readErrors: 0 };
    let sunk = 0;
    // Live reads use no netlink call (only swaps and flushes do).
    const native = {} as NativeAddon;
    const sets = new CountedSets(native, -1, {
      families: [4], live: { 4: SET, 6: `${SET}6` }, spares: 0, prefix: X,
      onCounted: (_d, _t, n) => { sunk += n; }, readIntervalMs: 10_000, counters, ledger,
    });
    const at = async (now: number): Promise<number> => {
      sets.readWhenDue(now);
      await sets.settled();
      return counters.reads;
    };
    // [clock ms, reads so far]: read at 10 s (quiet), next due 20 s later, then 40, then 80 (the cap).
    const quiet: [number, number][] = [
      [10_000, 1], [20_000, 1], [29_999, 1], [30_000, 2], [69_999, 2], [70_000, 3],
      [149_999, 3], [150_000, 4], [229_999, 4], [230_000, 5], [309_999, 5], [310_000, 6],
    ];
    for (const [now, reads] of quiet) t.equal(await at(now), reads, `at ${now / 1000} s: ${reads} reads`);
    t.equal(counters.readErrors, 0);
    // The kernel counts three connections: the next due read finds them, and reads come every
    // interval again.
    await must([...X, 'ipset', 'add', '-exist', SET, MEMBER, 'packets', '3', 'bytes', '180']);
    t.equal(await at(389_999), 6, 'not due yet');
    t.equal(await at(390_000), 7, 'due 80 s after the last');
    t.equal(sunk, 3, 'the three connections counted');
    t.equal(await at(400_000), 8, 'after a read that counted, the interval again');
    // That read counted nothing: the backoff starts over.
    for (const [now, reads] of [[410_000, 8], [419_999, 8], [420_000, 9], [459_999, 9], [460_000, 10]] as const) {
      t.equal(await at(now), reads, `at ${now / 1000} s: ${reads} reads`);
    }
  });
}
