// The nftables change monitor (enforce/rule-monitor.ts) on the kernel: `xtables-monitor` in a
// namespace of its own, changed with the nft backend of iptables and ip6tables. It must report
// every transaction (the watchdog skips reading the rules on its word), vouch for nothing before
// its first event, and say when it is gone.

import t from 'tap';
import { RuleChangeMonitor } from '../../src/enforce/rule-monitor.ts';
import { must, run, waitFor } from '../../support/netns.ts';

const NS = `pal-t-${process.pid}-rmon`;
const inNs = (argv: string[]) => ['ip', 'netns', 'exec', NS, ...argv];

t.before(async () => {
  await must(['ip', 'netns', 'add', NS]);
});
t.teardown(async () => {
  await run(['ip', 'netns', 'del', NS]);
});

/** The mark once no event has come for 400 ms (at most 10 s). */
async function settledMark(m: RuleChangeMonitor): Promise<number> {
  let k = m.mark()!;
  for (let waited = 0; waited < 10_000; waited += 400) {
    await new Promise((r) => setTimeout(r, 400));
    const now = m.mark()!;
    if (now === k) return k;
    k = now;
  }
  return k;
}

t.test('every nftables transaction moves the mark', async (t) => {
  const m = RuleChangeMonitor.start(['ip', 'netns', 'exec', NS]);
  t.teardown(() => m.stop());
  t.equal(m.mark(), undefined, 'no event yet: vouches for nothing');
  // The child subscribes some time after it starts: change until it reports one.
  let i = 0;
  const first = await waitFor('first event', async () => {
    await must(inNs(['iptables-nft', '-w', '5', '-t', 'filter', '-N', `PROBE${i++}`]));
    return m.mark();
  }, 30_000, 200);
  t.ok(first > 0, `first event seen (after ${i} change(s))`);
  await new Promise((r) => setTimeout(r, 300));
  const settled = m.mark()!;
  const changes: [string, string[]][] = [
    ['IPv4 rule added to a chain', ['iptables-nft', '-w', '5', '-t', 'filter', '-A', 'PROBE0', '-j', 'RETURN']],
    ['IPv4 chain flushed', ['iptables-nft', '-w', '5', '-t', 'filter', '-F', 'PROBE0']],
    ['IPv6 raw chain created', ['ip6tables-nft', '-w', '5', '-t', 'raw', '-N', 'PROBE6']],
    ['IPv4 raw hook rule', ['iptables-nft', '-w', '5', '-t', 'raw', '-I', 'PREROUTING', '1', '-j', 'RETURN']],
  ];
  let last = settled;
  for (const [what, argv] of changes) {
    await must(inNs(argv));
    const now = await waitFor(what, () => {
      const k = m.mark();
      return k !== undefined && k > last ? k : undefined;
    }, 15_000);
    t.ok(now > last, `${what}: reported`);
    // One command can be several transactions (iptables-nft creating the raw table and chain
    // before the rule), whose events may straggle in on a loaded machine: wait for quiet.
    last = await settledMark(m);
  }
  // Reading the rules is no change.
  await must(inNs(['iptables-nft', '-w', '5', '-t', 'filter', '-S']));
  await new Promise((r) => setTimeout(r, 500));
  t.equal(m.mark(), last, 'listing the rules is not reported');
  m.stop();
  t.equal(m.running, false, 'stopped');
  t.equal(m.mark(), undefined, 'a stopped monitor vouches for nothing');
});

t.test('a monitor whose child dies says so', async (t) => {
  const m = RuleChangeMonitor.start(['ip', 'netns', 'exec', `${NS}-missing`]);
  t.teardown(() => m.stop());
  await waitFor('child gone', () => !m.running, 15_000);
  t.equal(m.mark(), undefined, 'nothing vouched');
});
