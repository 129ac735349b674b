// Kernel admission's sets (src/enforce/admit-sets.ts) on the real kernel, driven in a namespace
// of our own (support/admit-sets-probe.ts: the sets' netlink socket is the probe's): what the
// kernel matches (most specific source prefix, nomatch exceptions, port ranges, IPv6), that
// empty() takes effect before it returns, that a stale or oversized install changes nothing,
// exact counts from real SYNs over loopback (the namespace's own addresses) on each entry's
// decision, also for entries swapped out, and that close() destroys the sets.

import t from 'tap';
import { AdmitProbe, type ProbeAnswer } from '../../support/admit-sets-driver.ts';
import { must, run, waitFor } from '../../support/netns.ts';
import type { AdmitEntry } from '../../src/enforce/admit-sets.ts';

const NS = `pal-t-${process.pid}-admit`;
const X = (argv: string[]) => ['ip', 'netns', 'exec', NS, ...argv];
const A4 = 'PALISADE-ADMIT4', A6 = 'PALISADE-ADMIT6';
const D = '10.1.0.5', D6 = 'fd00:0:0:1::5', S6 = 'fd00:0:0:2::9';
const w4 = (ip: string) => [ip.split('.').reduce((a, b) => a * 256 + Number(b), 0)];
const g = (context: string, egress: number, ingress: number) => ({ context, egress, ingress });

t.before(async () => {
  await must(['ip', 'netns', 'add', NS]);
  await must(X(['ip', 'link', 'set', 'lo', 'up']));
  for (const a of [D, '10.0.0.7', '10.0.0.8', '10.0.0.9', '10.0.1.8']) await must(X(['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']));
  for (const a of [D6, S6]) await must(X(['ip', '-6', 'addr', 'add', `${a}/128`, 'dev', 'lo', 'nodad']));
});
t.teardown(async () => {
  await run(['ip', 'netns', 'del', NS]);
});

/** The generation-1 entries: a /24 on tcp 1000-1003 with a nomatch host on 1001, an IPv6 /64 (int32 words, as the classifier has them). */
const gen1: AdmitEntry[] = [
  { family: 4, dst: w4(D), proto: 6, portFrom: 1000, portTo: 1003, src: w4('10.0.0.0'), prefix: 24, nomatch: false, decision: g('g1', 1, 2) },
  { family: 4, dst: w4(D), proto: 6, portFrom: 1001, portTo: 1001, src: w4('10.0.0.7'), prefix: 32, nomatch: true },
  { family: 6, dst: [0xfd000000 | 0, 1, 0, 5], proto: 6, portFrom: 80, portTo: 81, src: [0xfd000000 | 0, 2, 0, 0x1234], prefix: 64, nomatch: false, decision: g('g1', 3, 4) },
];
/** [set, member] -> whether it should match under gen1. */
const expect1: [string, string, boolean, string][] = [
  [A4, `${D},tcp:1002,10.0.0.9`, true, 'inside the /24, port in range'],
  [A4, `${D},tcp:1001,10.0.0.7`, false, 'the nomatch host on its port'],
  [A4, `${D},tcp:1001,10.0.0.8`, true, 'the rest of the /24 on that port'],
  [A4, `${D},tcp:1002,10.0.0.7`, true, 'the nomatch host on another port'],
  [A4, `${D},tcp:1004,10.0.0.8`, false, 'outside the port range'],
  [A4, `${D},udp:1002,10.0.0.8`, false, 'another protocol'],
  [A4, `${D},tcp:1002,10.0.1.8`, false, 'outside the /24'],
  [A4, `10.1.0.6,tcp:1002,10.0.0.8`, false, 'another destination'],
  [A6, `${D6},tcp:81,${S6}`, true, 'IPv6 inside the /64'],
  [A6, `${D6},tcp:81,fd00:0:0:3::9`, false, 'IPv6 outside the /64'],
];
const probe1 = expect1.map(([s, m]) => [s, m] as [string, string]);
const none = expect1.map(() => false);
const want1 = expect1.map((e) => e[2]);

/** One SYN to dst:port from src (nothing listens: the RST ends it), through the counting rule below. */
const syn = (src: string, dst: string, port: number) => run(X(['ncat', '-z', '-w', '1', '-s', src, dst, String(port)]));
const save = async (set: string) => must(X(['ipset', 'save', set]));
/** What the probe counted, summed per (decision, port, source word 0). */
const sum = (a: ProbeAnswer) => {
  const m = new Map<string, number>();
  for (const c of a.counted ?? []) {
    const k = `${String(c.context)}/${c.egress}/${c.ingress} port ${c.port} src ${c.src[0]!.toString(16)}`;
    m.set(k, (m.get(k) ?? 0) + c.n);
  }
  return Object.fromEntries(m);
};

t.test('admission sets', async (t) => {
  const p = await AdmitProbe.start(NS, { maxEntries: 16, readIntervalMs: 3_600_000 });
  t.teardown(() => p.kill());

  await t.test('the sets', async (t) => {
    const list = await must(X(['ipset', 'list', '-t']));
    for (const n of [A4, `${A4}-S0`, `${A4}-S1`, `${A4}-S2`, A6, `${A6}-S2`]) t.match(list, new RegExp(`Name: ${n}\\nType: hash:ip,port,net\\n`), `${n}: hash:ip,port,net`);
    t.match(list, /Name: PALISADE-ADMIT6\nType: hash:ip,port,net\nRevision: \d+\nHeader: family inet6 hashsize \d+ maxelem 16 timeout 600 counters/, 'inet6, maxelem, kernel timeout, counters');
  });

  await t.test('an install: what the kernel matches', async (t) => {
    const r = await p.send({ op: 'install', entries: gen1, current: true, probe: probe1 });
    t.equal(r.result, 'installed');
    expect1.forEach(([, m, want, why], i) => t.equal(r.tests![i], want, `${why}: ${m}`));
    t.equal(r.atCheck?.[`${A4}-S0`], 5, 'current() was asked with the spare built (4 ports + the nomatch host)');
    t.equal(r.atCheck?.[A4], 0, 'and before the swap');
    t.equal(r.atCheck?.[`${A6}-S0`], 2, 'IPv6 spare built too (2 ports)');
    t.match(await save(A4), new RegExp(`add ${A4} ${D},tcp:1001,10\\.0\\.0\\.7 timeout \\d+ nomatch packets 0 bytes 0`), 'the nomatch host as the tool prints it (no /32)');
    t.match(await save(A6), new RegExp(`add ${A6} fd00:0:0:1::5,tcp:80,fd00:0:0:2::/64 timeout`), 'IPv6 member: host bits cleared, RFC 5952 text');
    t.match((await p.send({ op: 'stats' })).stats, { entries: 7, installs: 1 });
  });

  await t.test('real SYNs are counted on their entry\'s decision', async (t) => {
    await must(X(['iptables', '-A', 'OUTPUT', '-p', 'tcp', '--syn', '-m', 'set', '--match-set', A4, 'dst,dst,src', '-j', 'ACCEPT']));
    await must(X(['ip6tables', '-A', 'OUTPUT', '-p', 'tcp', '--syn', '-m', 'set', '--match-set', A6, 'dst,dst,src', '-j', 'ACCEPT']));
    for (let i = 0; i < 2; i++) await syn('10.0.0.8', D, 1002);
    await syn('10.0.0.8', D, 1001);
    await syn('10.0.0.7', D, 1001);
    for (let i = 0; i < 3; i++) await syn(S6, D6, 80);
    t.match(await save(A4), /10\.0\.0\.7 timeout \d+ nomatch packets 1 /, 'the kernel counted the packet the nomatch entry refused');
    const r = await p.send({ op: 'read' });
    t.same(sum(r), {
      'g1/1/2 port 1002 src a000000': 2,
      'g1/1/2 port 1001 src a000000': 1,
      'g1/3/4 port 80 src fd000000': 3,
    }, 'each entry\'s connections on its decision; the nomatch entry\'s count is ignored');
    const c6 = r.counted!.find((c) => c.port === 80)!;
    t.same([c6.src, c6.dst, c6.proto], [[0xfd000000, 2, 0, 0], [0xfd000000, 1, 0, 5], 6], 'the tuple: source network words (masked), destination, protocol');
    t.same(sum(await p.send({ op: 'read' })), {}, 'a second read counts nothing again');
    t.match((await p.send({ op: 'stats' })).stats, { counted: 6, readErrors: 0 });
  });

  await t.test('empty(): nothing matches once it returns; what was counted still arrives', async (t) => {
    await syn('10.0.0.9', D, 1003);
    const r = await p.send({ op: 'empty', probe: probe1 });
    t.same(r.tests, none, 'every member fails right after empty() returned (no await in between)');
    t.same(sum(await p.send({ op: 'read' })), { 'g1/1/2 port 1003 src a000000': 1 }, 'the swapped-out set was read');
    t.match(await must(X(['ipset', 'list', '-t', `${A4}-S0`])), /Number of entries: 0/, 'then flushed');
    t.match((await p.send({ op: 'stats' })).stats, { entries: 0, empties: 1, uncounted: 0 });
    await syn('10.0.0.9', D, 1003);
    t.same(sum(await p.send({ op: 'read' })), {}, 'a SYN now matches nothing');
  });

  await t.test('a stale install changes nothing', async (t) => {
    const r = await p.send({ op: 'install', entries: gen1, current: false, probe: probe1 });
    t.equal(r.result, 'stale');
    t.equal(r.atCheck?.[`${A4}-S0`], 5, 'it was built');
    t.same(r.tests, none, 'but not swapped in');
    const list = await must(X(['ipset', 'list', '-t']));
    t.same([...list.matchAll(/Number of entries: (\d+)/g)].map((m) => Number(m[1])), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'every set empty (admission and return sets, live and spares): the spare was flushed');
    t.match((await p.send({ op: 'stats' })).stats, { stale: 1, entries: 0, installs: 1 });
  });

  await t.test('a new generation swaps out the old one, whose counts arrive on the old decision', async (t) => {
    t.equal((await p.send({ op: 'install', entries: gen1, current: true })).result, 'installed');
    await syn('10.0.0.8', D, 1000);
    const gen2: AdmitEntry[] = [{ family: 4, dst: w4(D), proto: 17, portFrom: 53, portTo: 53, src: w4('10.0.0.8'), prefix: 32, nomatch: false, decision: g('g2', 5, 6) }];
    const r = await p.send({ op: 'install', entries: gen2, current: true, probe: [...probe1, [A4, `${D},udp:53,10.0.0.8`], [A4, `${D},udp:53,10.0.0.9`]] });
    t.equal(r.result, 'installed');
    t.same(r.tests, [...none, true, false], 'only generation 2 matches: a host entry, UDP; IPv6 emptied');
    t.same(sum(await p.send({ op: 'read' })), { 'g1/1/2 port 1000 src a000000': 1 }, 'generation 1\'s last count, read from the swapped-out set');
    // A host entry's member has no /32 in `ipset save`: its key must not either.
    await must(X(['iptables', '-A', 'OUTPUT', '-p', 'udp', '-m', 'set', '--match-set', A4, 'dst,dst,src', '-j', 'ACCEPT']));
    await run(X(['ncat', '-u', '-w', '1', '-s', '10.0.0.8', D, '53']), 'x\n');
    t.same(sum(await p.send({ op: 'read' })), { 'g2/5/6 port 53 src a000008': 1 }, 'a datagram on the host entry, on generation 2\'s decision');
    t.match((await p.send({ op: 'stats' })).stats, { entries: 1, installs: 3 });
  });

  await t.test('too many entries: nothing changes', async (t) => {
    const big: AdmitEntry[] = [{ family: 4, dst: w4(D), proto: 6, portFrom: 1, portTo: 17, src: w4('10.0.0.0'), prefix: 8, nomatch: false, decision: g('g3', 7, 8) }];
    const r = await p.send({ op: 'install', entries: big, current: true, probe: [[A4, `${D},udp:53,10.0.0.8`], [A4, `${D},tcp:5,10.0.0.8`]] });
    t.equal(r.result, 'too-many', '17 ports > maxEntries 16');
    t.same(r.tests, [true, false], 'generation 2 still live');
    t.same(r.atCheck, {}, 'current() was not even asked');
    const fits = await p.send({ op: 'install', entries: [{ ...big[0]!, portTo: 16 }], current: true });
    t.equal(fits.result, 'installed', '16 fit (counted per family, after expansion)');
    t.match((await p.send({ op: 'stats' })).stats, { tooMany: 1, entries: 16 });
  });

  await t.test('bad entries are refused', async (t) => {
    const e = gen1[0]!;
    for (const bad of [{ ...e, proto: 1 }, { ...e, prefix: 0 }, { ...e, portFrom: 0 }, { ...e, portTo: 999 }, { ...e, src: [1, 2] }, { ...e, dst: [2 ** 32] }]) {
      t.match((await p.send({ op: 'install', entries: [bad], current: true })).error, /not an admission entry/, JSON.stringify(bad));
    }
  });

  await t.test('close() destroys the sets (after the rules that name them are gone)', async (t) => {
    await must(X(['iptables', '-F', 'OUTPUT']));
    await must(X(['ip6tables', '-F', 'OUTPUT']));
    const r = await p.send({ op: 'close' });
    t.same(r.sets?.filter((n) => n.startsWith('PALISADE-ADMIT')), [], 'none left');
  });
});

t.test('takeover and periodic reads', async (t) => {
  // A set of that name left with other options (an older agent's): taken over, emptied.
  await must(X(['ipset', 'create', A4, 'hash:ip,port,net', 'timeout', '30', 'counters']));
  await must(X(['ipset', 'add', A4, `${D},tcp:80,10.0.0.0/8`]));
  const p = await AdmitProbe.start(NS, { families: [4], readIntervalMs: 100 });
  t.teardown(() => p.kill());
  t.match(await must(X(['ipset', 'list', '-t', A4])), /timeout 600 counters[\s\S]*Number of entries: 0/, 'taken over with this run\'s options, empty');
  t.same((await p.send({ op: 'test', probe: [[A4, `${D},tcp:80,10.0.0.1`]] })).tests, [false], 'nothing of the earlier run admits');
  const e: AdmitEntry = { family: 4, dst: w4(D), proto: 132, portFrom: 9, portTo: 9, src: [0x80000000 | 0], prefix: 1, nomatch: false, decision: g('g9', 1, 1) };
  t.equal((await p.send({ op: 'install', entries: [e], current: true })).result, 'installed');
  t.match(await save(A4), `${D},sctp:9,128.0.0.0/1`, 'a /1 half of the address space, SCTP');
  // A count put on the entry the way the kernel would: the timer reads it, no explicit read.
  await must(X(['ipset', 'add', '-exist', A4, `${D},sctp:9,128.0.0.0/1`, 'packets', '4', 'bytes', '240']));
  const stats = await waitFor('periodic read', async () => {
    const s = (await p.send({ op: 'stats' })).stats!;
    return s.counted === 4 ? s : undefined;
  }, 5000);
  t.ok(stats.reads >= 1, 'read by the timer');
  // After a quiet spell (reads that counted nothing back off: counted-sets-quiet.test.ts), a new
  // count is still read by the timer.
  await new Promise((r) => setTimeout(r, 2000));
  await must(X(['ipset', 'add', '-exist', A4, `${D},sctp:9,128.0.0.0/1`, 'packets', '6', 'bytes', '360']));
  await waitFor('read after a quiet spell', async () => ((await p.send({ op: 'stats' })).stats!.counted === 6 ? true : undefined), 5000);
  t.equal((await p.send({ op: 'close' })).sets?.filter((n) => n.startsWith('PALISADE-ADMIT')).length, 0);
});
