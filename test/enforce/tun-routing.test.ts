// The TUN backend's policy routing (src/enforce/tun-routing.ts) on the real kernel, in a namespace
// of our own: other programs' ip rules at the judge's and the DNS learner's preferences (a CNI's,
// a VPN's, an admin's) must outlive the agent's start, its stop and `palisade cleanup`, while a
// rule of Palisade's own at them (its table, whatever the mark: a killed agent's with another
// --tun-mark) goes; the watchdog and cleanup's listing count only Palisade's.

import t, { type Test } from 'tap';
import { must, run } from '../../support/netns.ts';
import { DEFAULT_TUN_DEVICE, dnsTunRouting, installTunRouting, removeTunRouting, tunRoutingProblems, type TunRoutingOptions } from '../../src/enforce/tun-routing.ts';
import { dnsTunName } from '../../src/enforce/dns-rules.ts';
import { findPalisade, removePalisade } from '../../src/enforce/cleanup.ts';

const NS = `pal-t-${process.pid}-tunrt`;
const prefix = ['ip', 'netns', 'exec', NS];
const X = (argv: string[]) => [...prefix, ...argv];
// The agent's defaults (cleanup looks for these names, tables and preferences).
const judge: TunRoutingOptions = { device: DEFAULT_TUN_DEVICE, divertMark: 0x4000000, prefix };
const dns = dnsTunRouting(judge, dnsTunName(DEFAULT_TUN_DEVICE), 0x8000000);

type Fam = '-4' | '-6';
/** A rule as `ip rule add` takes it and as `ip rule show` prints it. */
interface Rule {
  readonly fam: Fam;
  readonly add: string[];
  readonly shows: RegExp;
}
const rule = (fam: Fam, spec: string, shows: string): Rule => ({ fam, add: spec.split(' '), shows: new RegExp(`^${shows.replace(/[/.]/g, '\\$&')}$`, 'm') });

/** Other programs' rules at Palisade's preferences: other tables, some with Palisade's very marks. */
const FOREIGN: Rule[] = [
  rule('-4', 'pref 1000 fwmark 0x1/0x1 lookup 123', '1000:\tfrom all fwmark 0x1/0x1 lookup 123'),
  rule('-6', 'pref 1000 fwmark 0x1/0x1 lookup 123', '1000:\tfrom all fwmark 0x1/0x1 lookup 123'),
  // The judge's mark, and a table whose number starts with the judge's.
  rule('-4', 'pref 1000 fwmark 0x4000000/0x4000000 lookup 70770', '1000:\tfrom all fwmark 0x4000000/0x4000000 lookup 70770'),
  rule('-4', 'pref 1001 from 10.9.0.0/16 lookup main', '1001:\tfrom 10.9.0.0/16 lookup main'),
  rule('-6', 'pref 1001 fwmark 0x8000000/0x8000000 lookup 124', '1001:\tfrom all fwmark 0x8000000/0x8000000 lookup 124'),
];
/** Palisade's rules as the agent installs them, judge and DNS learner. */
const OURS: Rule[] = (['-4', '-6'] as const).flatMap((f) => [
  rule(f, 'pref 1000 fwmark 0x4000000/0x4000000 lookup 7077', '1000:\tfrom all fwmark 0x4000000/0x4000000 lookup 7077'),
  rule(f, 'pref 1001 fwmark 0x8000000/0x8000000 lookup 7078', '1001:\tfrom all fwmark 0x8000000/0x8000000 lookup 7078'),
]);
/** What a killed agent started with another --tun-mark leaves: Palisade's by its table. */
const LEFTOVERS: Rule[] = [
  rule('-4', 'pref 1000 fwmark 0x10/0x10 lookup 7077', '1000:\tfrom all fwmark 0x10/0x10 lookup 7077'),
  rule('-6', 'pref 1001 fwmark 0x20/0x20 lookup 7078', '1001:\tfrom all fwmark 0x20/0x20 lookup 7078'),
];

const show = async (fam: Fam) => (await must(X(['ip', fam, 'rule', 'show']))).replace(/\n$/, '');
/** The namespace's rules that look up Palisade's tables. */
const palisadeRules = async () => (await Promise.all((['-4', '-6'] as const).map(async (f) => (await show(f)).split('\n').filter((l) => /lookup 707[78]$/.test(l)).map((l) => `${f} ${l}`)))).flat();
const add = async (rules: Rule[]) => {
  for (const r of rules) await must(X(['ip', r.fam, 'rule', 'add', ...r.add]));
};
/** Each test starts from the foreign rules alone at the two preferences (an earlier failure must not spill over). */
async function reset(): Promise<void> {
  for (const f of ['-4', '-6']) for (const pref of ['1000', '1001']) while ((await run(X(['ip', f, 'rule', 'del', 'pref', pref]))).code === 0);
  await add(FOREIGN);
}

async function checkForeignStay(t: Test, when: string): Promise<void> {
  for (const r of FOREIGN) t.match(await show(r.fam), r.shows, `${when}: foreign rule stays (ip ${r.fam} ${r.add.join(' ')})`);
}

t.before(async () => {
  await must(['ip', 'netns', 'add', NS]);
  await must(X(['ip', 'link', 'set', 'lo', 'up']));
  for (const r of [judge, dns]) await must(X(['ip', 'tuntap', 'add', 'dev', r.device, 'mode', 'tun']));
});
t.beforeEach(reset);
t.teardown(async () => {
  await run(['ip', 'netns', 'del', NS]);
});

t.test('the agent start keeps foreign rules at its preferences and replaces leftovers of its own', async (t) => {
  await add(LEFTOVERS);
  for (const round of ['first start', 'second start (idempotent)']) {
    for (const r of [judge, dns]) await installTunRouting(r);
    await checkForeignStay(t, round);
    const ours = await palisadeRules();
    t.equal(ours.length, OURS.length, `${round}: exactly Palisade's rules look up its tables (${ours.join(' | ')})`);
    for (const r of OURS) t.match(await show(r.fam), r.shows, `${round}: installed ip ${r.fam} ${r.shows.source}`);
    for (const r of LEFTOVERS) t.notMatch(await show(r.fam), r.shows, `${round}: leftover gone (ip ${r.fam} ${r.add.join(' ')})`);
    t.same([...(await tunRoutingProblems(judge)), ...(await tunRoutingProblems(dns))], [], `${round}: the watchdog finds nothing missing`);
  }
});

t.test('the watchdog misses its own rule even when a foreign rule with its mark and a similar table is there', async (t) => {
  await installTunRouting(judge);
  // Only the foreign rules at the preferences again; the table's routes stay.
  await reset();
  const missing = (f: number) => `IPv${f}: ip rule pref 1000 fwmark 0x4000000/0x4000000 lookup 7077 missing`;
  t.same(await tunRoutingProblems(judge), [missing(4), missing(6)], 'both families\' rules missing, nothing else');
  await installTunRouting(judge);
  t.same(await tunRoutingProblems(judge), [], 'restored');
  await checkForeignStay(t, 'after the restoration');
});

t.test('the agent stop removes only its own rules', async (t) => {
  for (const r of [judge, dns]) await installTunRouting(r);
  await add(LEFTOVERS);
  for (const r of [dns, judge]) await removeTunRouting(r);
  await checkForeignStay(t, 'after the stop');
  t.same(await palisadeRules(), [], 'no rule looks up a Palisade table');
  for (const f of ['-4', '-6']) t.equal((await must(X(['ip', f, 'route', 'show', 'table', '7077']))).trim(), '', `IPv${f[1]} table 7077 flushed`);
});

t.test('palisade cleanup lists and removes only its own rules', async (t) => {
  // A killed agent's routing, put next to the foreign rules by hand (not by installTunRouting, so
  // this test stands apart from the agent start's).
  for (const r of [judge, dns]) await installTunRouting(r);
  await reset();
  await add([...OURS, ...LEFTOVERS]);
  const found = (await findPalisade({ prefix })).filter((f) => f.kind === 'ip rule').map((f) => f.what);
  t.equal(found.length, OURS.length + LEFTOVERS.length, `lists Palisade's rules and the leftovers (${found.join(' | ')})`);
  for (const w of found) t.match(w, /lookup 707[78]$/, `listed rule looks up a Palisade table: ${w}`);
  t.same(await removePalisade({ prefix }), [], 'cleanup reports no problem');
  await checkForeignStay(t, 'after cleanup');
  t.same(await palisadeRules(), [], 'no rule looks up a Palisade table');
  t.same(await findPalisade({ prefix }), [], 'a second look finds nothing');
});
