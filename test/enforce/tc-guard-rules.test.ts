// The tc source guard's pure parts (enforce/tc-guard.ts), without a kernel: the filters written
// per interface (preferences, families, a key node per address), the listing parser on real
// `tc -s -j filter show` output (fixtures/tc-filter-show.ts: tc's repeated "match" keys, another
// program's filters, an altered catch-all, a second key node, the sink gone), the sink's table,
// and the no-interface drop the agent's own iptables chains carry for this layout
// (RulePlan.noIfaceSets). The lab: test/enforce/tc-guard.test.ts.

import t from 'tap';
import { TC_NOIF_SETS, TC_SINK, parseTcFilters, sinkRuleset, tcFilters, tcIfaceOk, type TcFilter } from '../../src/enforce/tc-guard.ts';
import { LINEAR_MAX, PLACEHOLDER_TABLE, chooseTables, linkedTable, removeLines, sig, syncLines, withTable, writtenForms } from '../../src/enforce/tc-filters.ts';
import { chainRules, podRules, type RulePlan } from '../../src/enforce/iptables.ts';
import * as F from './fixtures/tc-filter-show.ts';

/** The comparable form the parser gives for a preference: its key nodes, "proto pass|sink keys", joined by " | ". */
const listed = (f: TcFilter) => f.nodes.map((k) => `${f.proto} ${f.pass ? 'pass' : 'sink'} ${k.join(' ')}`).join(' | ');
const REDIRECT = `u32 match u32 0 0 action mirred ingress redirect dev ${TC_SINK.dev}`;
const LL = ['protocol ipv6 u32 match ip6 src fe80::/10 classid :1'];
const UNSPEC = ['protocol ipv6 u32 match ip6 src ::/128 classid :1'];

t.test('tcFilters: preferences and arguments per family', async (t) => {
  const cases: { name: string; families: (4 | 6)[]; ips: string[]; want: [number, string[]][] }[] = [
    {
      name: 'both families, one address each',
      families: [4, 6],
      ips: ['fd77:1::2', '10.77.1.2'],
      want: [
        [1, ['protocol ip u32 match ip src 10.77.1.2/32 classid :1']],
        [2, ['protocol ipv6 u32 match ip6 src fd77:1::2/128 classid :1']],
        [3, LL],
        [4, UNSPEC],
        [201, [`protocol ip ${REDIRECT}`]],
        [202, [`protocol ipv6 ${REDIRECT}`]],
      ],
    },
    {
      name: 'IPv4 only: no IPv6 filter at all (IPv6 passes untouched), an IPv6 address ignored; addresses in the order given, once',
      families: [4],
      ips: ['10.77.1.2', 'fd00::1', '10.0.0.9', '10.77.1.2'],
      want: [[1, ['protocol ip u32 match ip src 10.77.1.2/32 classid :1', 'protocol ip u32 match ip src 10.0.0.9/32 classid :1']], [201, [`protocol ip ${REDIRECT}`]]],
    },
    {
      name: 'IPv6 only: link-local, unspecified and the IPv6 catch-all, no IPv4 catch-all',
      families: [6],
      ips: ['10.77.1.2', 'fd00::1'],
      want: [[2, ['protocol ipv6 u32 match ip6 src fd00::1/128 classid :1']], [3, LL], [4, UNSPEC], [202, [`protocol ipv6 ${REDIRECT}`]]],
    },
    {
      name: 'no usable address: no pass preference for it, the catch-alls alone (fail-closed)',
      families: [4, 6],
      ips: ['not-an-ip'],
      want: [[3, LL], [4, UNSPEC], [201, [`protocol ip ${REDIRECT}`]], [202, [`protocol ipv6 ${REDIRECT}`]]],
    },
  ];
  for (const c of cases) t.same(tcFilters(c.families, c.ips).map((f) => [f.pref, f.args]), c.want, c.name);

  const both = tcFilters([4, 6], ['10.77.1.2', 'fd77:1::2']);
  t.same(both.filter((f) => !f.pass).map((f) => f.pref), [201, 202], 'only the catch-alls redirect');
  t.ok(both.every((f, i) => i === 0 || f.pref > both[i - 1]!.pref), 'in preference order: every pass before the catch-alls');
  t.same(both.find((f) => f.pref === 2)!.nodes, [['fd770001/ffffffff@8', '0/ffffffff@12', '0/ffffffff@16', '2/ffffffff@20']], 'an IPv6 address is four 32-bit keys from offset 8, hex without leading zeros (as tc lists them)');
  t.same(both.find((f) => f.pref === 1)!.nodes, [['a4d0102/ffffffff@12']], 'IPv4: one key at offset 12');
});

t.test('tcFilters: many addresses on one interface (a bridge): one preference per family, hashed by the last byte', async (t) => {
  const v4 = Array.from({ length: 60 }, (_, i) => `10.1.0.${i + 1}`);
  const v6 = Array.from({ length: 60 }, (_, i) => `fd00::${(i + 1).toString(16)}`);
  const fs = tcFilters([4, 6], [...v4, ...v6]);
  t.same(fs.map((f) => f.pref), [1, 2, 3, 4, 201, 202], 'the same six preferences whatever the number of addresses');
  t.equal(fs[0]!.nodes.length, 60, 'every IPv4 address a key node under pref 1 (none left out)');
  t.equal(fs[1]!.nodes.length, 60, 'every IPv6 address under pref 2');
  const T = PLACEHOLDER_TABLE;
  t.same(fs[0]!.args[0], `handle ${T}: protocol ip u32 divisor 256`, 'first the table: 256 buckets');
  t.same(fs[0]!.args.slice(1, 3), [`protocol ip u32 ht ${T}:1: match ip src 10.1.0.1/32 classid :1`, `protocol ip u32 ht ${T}:2: match ip src 10.1.0.2/32 classid :1`], 'then each address in the bucket of its last byte (hex)');
  t.same(fs[0]!.args.at(-1), `protocol ip u32 match u32 0 0 hashkey mask 0x000000ff at 12 link ${T}:`, 'the link last (a packet never follows it into a table being filled), hashing the IPv4 source\'s last byte');
  t.same(fs[1]!.args.at(-1), `protocol ipv6 u32 match u32 0 0 hashkey mask 0x000000ff at 20 link ${T}:`, 'IPv6: the last byte of the source, in the word at offset 20');
  t.same(fs[1]!.args[1], `protocol ipv6 u32 ht ${T}:1: match ip6 src fd00::1/128 classid :1`, 'an IPv6 node in its bucket');
  t.equal(fs[0]!.args.length, 62, 'the table, 60 nodes, the link');
  t.same(fs[0]!.hash!.buckets, v4.map((_, i) => (i + 1).toString(16)), 'buckets in listing order');

  // LINEAR_MAX is where the walk stops paying: at it the nodes are walked, one more is hashed.
  const at = tcFilters([4], v4.slice(0, LINEAR_MAX))[0]!;
  t.equal(at.hash, undefined, `${LINEAR_MAX} addresses: walked`);
  t.same(at.args, v4.slice(0, LINEAR_MAX).map((ip) => `protocol ip u32 match ip src ${ip}/32 classid :1`), `${LINEAR_MAX} addresses: a key node each, in the order given`);
  t.ok(tcFilters([4], v4.slice(0, LINEAR_MAX + 1))[0]!.hash, `${LINEAR_MAX + 1}: hashed`);
  // Two addresses in one bucket: tc lists a bucket's nodes in the order written.
  const same = tcFilters([4], ['10.0.1.7', '10.0.0.9', '10.0.2.7', '10.0.3.1', '10.0.4.1'])[0]!;
  t.same(same.hash!.buckets, ['1', '1', '7', '7', '9'], 'by bucket, then as written');
  t.same(same.nodes.slice(0, 2), [['a000301/ffffffff@12'], ['a000401/ffffffff@12']], 'within bucket 1: 10.0.3.1 then 10.0.4.1');
});

t.test('chooseTables and withTable: a changed hashed preference goes into a new table, an unchanged one keeps its own', async (t) => {
  const ips = Array.from({ length: 8 }, (_, i) => `10.1.0.${i + 1}`);
  const [f] = tcFilters([4], ips);
  let n = 0x40;
  const next = () => (n++).toString(16);
  const first = chooseTables([f!], undefined, next)[0]!;
  t.equal(first.hash!.table, '40', 'nothing there: a new id');
  t.ok(first.args.every((a) => !a.includes(`${PLACEHOLDER_TABLE}:`)), 'every argument names the new id');
  t.ok(first.args[0]!.startsWith('handle 40: ') && first.args.at(-1)!.endsWith('link 40:'), 'the table and the link');
  const have = new Map([[1, sig(first)]]);
  t.equal(chooseTables([f!], have, next)[0]!.hash!.table, '40', 'unchanged: the same table, nothing to write (its sig equals what is there)');
  t.equal(sig(chooseTables([f!], have, next)[0]!), have.get(1));
  let calls = 0;
  const again = chooseTables(tcFilters([4], [...ips, '10.1.0.99']), have, () => (calls++ === 0 ? '40' : '41'))[0]!;
  t.equal(again.hash!.table, '41', 'changed: never the id it had, even when next() offers it');
  t.equal(linkedTable(have.get(1)), '40', 'linkedTable reads the id a comparable form links to');
  t.equal(linkedTable(sig(tcFilters([4], ips.slice(0, 2))[0]!)), undefined, 'a walked preference links nowhere');
  const lin = tcFilters([4], ips.slice(0, 2))[0]!;
  t.equal(withTable(lin, '55'), lin, 'withTable leaves a walked preference as it is');
});

t.test('tcIfaceOk', async (t) => {
  for (const ok of ['va', 'veth1a2b3c4d', 'cali1234567890a', 'eth0.100', 'x:y+z=w_1']) t.ok(tcIfaceOk(ok), `${ok} taken`);
  for (const bad of ['', 'a b', 'a\nb', 'x'.repeat(16), 'va@if3', TC_SINK.dev, TC_SINK.peer]) t.notOk(tcIfaceOk(bad), `${JSON.stringify(bad)} not bound (as no interface)`);
});

t.test('parseTcFilters on real listings', async (t) => {
  const written = new Map(tcFilters([4, 6], ['10.77.1.2', 'fd77:1::2', '10.0.0.9']).map((f) => [f.pref, listed(f)]));
  const cases: { name: string; line: string; want: Map<number, string>; sunkBy: [number, number][]; foreign: number[] }[] = [
    { name: 'as written: reads back equal to what tcFilters gives, key nodes in the order written (a clean tick sees nothing to restore)', line: F.CLEAN, want: written, sunkBy: [[201, 0], [202, 0]], foreign: [] },
    { name: 'with packets taken: the catch-alls\' counters per preference', line: F.COUNTED, want: written, sunkBy: [[201, 4], [202, 1]], foreign: [] },
    { name: 'another program\'s filters (pref 150 and 300): listed apart, ours unchanged', line: F.FOREIGN, want: written, sunkBy: [[201, 4], [202, 1]], foreign: [150, 300] },
    {
      name: 'the IPv4 catch-all made to pass: listed as a pass node at 201 (altered), its packets not counted',
      line: F.CATCH_PASS,
      want: new Map([...written, [201, 'ip pass 0/0@0']]),
      sunkBy: [[202, 1]],
      foreign: [],
    },
    {
      name: 'a second key node under pref 201: both listed there (altered)',
      line: F.TWO_KEYS,
      want: new Map([...written, [201, 'ip sink 0/0@0 | ip pass a090909/ffffffff@12']]),
      sunkBy: [[201, 0], [202, 1]],
      foreign: [],
    },
    {
      name: 'the sink device gone: the redirects name no device, listed as other (altered), nothing counted',
      line: F.SINK_GONE,
      want: new Map([...written, [201, 'ip other 0/0@0'], [202, 'ipv6 other 0/0@0']]),
      sunkBy: [],
      foreign: [],
    },
    { name: 'the qdisc deleted: nothing', line: F.NO_QDISC, want: new Map(), sunkBy: [], foreign: [] },
  ];
  for (const c of cases) {
    const p = parseTcFilters(c.line);
    t.same(new Map([...p.filters].sort((a, b) => a[0] - b[0])), c.want, `${c.name}: filters`);
    t.same([...p.sunkBy], c.sunkBy, `${c.name}: counters per catch-all`);
    t.equal(p.sunk, c.sunkBy.reduce((s, [, n]) => s + n, 0), `${c.name}: their sum`);
    t.same(p.foreign, c.foreign, `${c.name}: foreign preferences`);
  }
  t.equal(F.CLEAN.match(/"match":\{/g)!.length, 1 + 1 + 4 + 1 + 4 + 1 + 1, 'the fixture repeats "match" per key (which JSON.parse alone would fold into the last)');
  const reordered = new Map(tcFilters([4, 6], ['10.0.0.9', '10.77.1.2', 'fd77:1::2']).map((f) => [f.pref, listed(f)]));
  t.not(parseTcFilters(F.CLEAN).filters.get(1), reordered.get(1), 'the same addresses in another order read as altered (the order is the compare order)');
  t.same(parseTcFilters('[]').filters.size, 0, 'an empty listing');
  t.throws(() => parseTcFilters('not json'), 'a listing that is not JSON throws (the tick fails, nothing is written from it)');
});

t.test('syncLines: what a rewrite writes, in which order, and which tables it retires', async (t) => {
  const eight = Array.from({ length: 8 }, (_, i) => `10.1.0.${i + 1}`);
  let n = 0x40;
  const next = () => (n++).toString(16);
  const fresh = syncLines('vx', tcFilters([4], eight), undefined, next);
  t.equal(fresh.lines[0], 'qdisc add dev vx ingress', 'nothing there: the qdisc first');
  t.same(fresh.lines.slice(1, 2), ['filter add dev vx ingress pref 1 handle 40: protocol ip u32 divisor 256'], 'then the table, under its new id');
  t.match(fresh.lines.at(-2)!, /^filter add dev vx ingress pref 1 protocol ip u32 match u32 0 0 hashkey mask 0x000000ff at 12 link 40:$/, 'the link after the nodes');
  t.same(fresh.retire, [], 'nothing to retire');
  const have = writtenForms(fresh.written);
  const same = syncLines('vx', tcFilters([4], eight), have, next);
  t.same(same.lines, [], 'unchanged: not a line (the table it has is kept)');
  t.same(same.written, fresh.written, 'and written as it was');
  const more = syncLines('vx', tcFilters([4], [...eight, '10.1.0.99']), have, next);
  t.same(more.lines[0], 'filter del dev vx ingress pref 1', 'changed: the preference goes first (its root and link)');
  t.same(more.lines[1], 'filter add dev vx ingress pref 1 handle 41: protocol ip u32 divisor 256', 'a new table, never the old id');
  t.same(more.retire, [{ iface: 'vx', pref: 1, table: '40' }], 'the old table is retired, not deleted in the batch (the kernel lets go of it after an RCU grace period)');
  t.notOk(more.lines.some((l) => l.includes('handle 40:')), 'no line names the old table');
  const back = syncLines('vx', tcFilters([4], eight.slice(0, 2)), writtenForms(more.written), next);
  t.same(back.lines, ['filter del dev vx ingress pref 1', 'filter add dev vx ingress pref 1 protocol ip u32 match ip src 10.1.0.1/32 classid :1', 'filter add dev vx ingress pref 1 protocol ip u32 match ip src 10.1.0.2/32 classid :1'], 'back to two addresses: the walk again');
  t.same(back.retire, [{ iface: 'vx', pref: 1, table: '41' }], 'and the table retired');
  t.same(removeLines('vx', parseTcFilters(F.CLEAN)).at(-1), 'qdisc del dev vx ingress', 'removeLines: the qdisc too when nothing foreign is on it');
});

t.test('parseTcFilters on a real hashed listing: the linked table\'s nodes, then the root; an unlinked table apart', async (t) => {
  const ids: Record<number, string> = { 1: '2a', 2: '2b' };
  const fs = tcFilters([4, 6], F.HASHED_IPS).map((f) => withTable(f, ids[f.pref] ?? ''));
  const p = parseTcFilters(F.HASHED_STRAY);
  t.same(new Map([...p.filters].sort((a, b) => a[0] - b[0])), new Map(fs.map((f) => [f.pref, sig(f)])), 'reads back equal to what was written (the stray table\'s nodes are not part of pref 1: no path reaches them)');
  t.match(p.filters.get(1)!, / in 2a:2 \| ip pass a4d0202\/ffffffff@12 in 2a:2 \| /, 'two addresses of bucket 2, in the order written');
  t.match(p.filters.get(1)!, /\| ip link 2a: hash ff@12 0\/0@0$/, 'the root\'s link last');
  t.same([...p.strayTables], [[1, ['29']]], 'the unlinked table 29 is reported, for deletion');
  t.same([...p.sunkBy], [[201, 3], [202, 0]], 'a forgery in a\'s bucket, one in an empty bucket and one of the stray table\'s addresses: all three sunk');
  t.same(p.foreign, [], 'nothing foreign');
  const other = withTable(fs[0]!, '2c');
  t.not(p.filters.get(1), sig(other), 'the same addresses in another table read as another preference (the id is part of the form)');
  t.same(parseTcFilters(F.CLEAN).strayTables.size, 0, 'a walked layout has no tables');
});

t.test('sinkRuleset', async (t) => {
  const r = sinkRuleset();
  t.same(r, [
    'add table netdev palisade-sink',
    'add set netdev palisade-sink forged4 { type ether_addr . ipv4_addr; size 4096; flags dynamic,timeout; timeout 300s; }',
    'add set netdev palisade-sink forged6 { type ether_addr . ipv6_addr; size 4096; flags dynamic,timeout; timeout 300s; }',
    'add chain netdev palisade-sink in { type filter hook ingress device "palisade-sink" priority -500; policy drop; }',
    'flush chain netdev palisade-sink in',
    'add rule netdev palisade-sink in meta protocol ip update @forged4 { ether daddr . ip saddr } counter drop',
    'add rule netdev palisade-sink in meta protocol ip6 update @forged6 { ether daddr . ip6 saddr } counter drop',
  ], 'a netdev table on the sink\'s ingress: records (gateway MAC, forged source) per family, drops everything (policy drop)');
  t.notOk(r.some((l) => l.startsWith('delete') || l.includes('flush table')), 'never deletes the table or its chain: re-registering its hook would drop packets waiting in NFQUEUEs');
  t.ok(r.indexOf('flush chain netdev palisade-sink in') < r.findIndex((l) => l.startsWith('add rule')), 'the chain\'s rules are replaced, not added twice');
});

t.test('the agent\'s filter chains drop pods without an interface (RulePlan.noIfaceSets)', async (t) => {
  const NFQ: RulePlan = { mode: 'nfqueue', allowMark: 0x2000000, queue: 5, queues: 1, failOpen: false };
  const TUNP: RulePlan = { mode: 'tun', allowMark: 0x2000000, queue: 0, queues: 1, failOpen: false, tunDevice: 'pal0', divertMark: 0x4000000 };
  const base = { ifaces: ['veth+'], v4: ['10.0.0.5'], v6: ['fd00::5'] };
  const drop = (f: 4 | 6) => `-A PALISADE-PODS -m set --match-set ${TC_NOIF_SETS[f]} src -j DROP`;
  const chainOf = (lines: string[], chain: string) => lines.filter((l) => l.startsWith(`-A ${chain} `));

  for (const [name, p] of [['nfqueue', NFQ], ['tun', TUNP]] as const) {
    const plan = { ...p, noIfaceSets: TC_NOIF_SETS };
    // The fixed chains never name the sets: every new connection reaches PALISADE-PODS right
    // after the established return, and the drop is its first rule.
    const entry = name === 'nfqueue' ? 'PALISADE-FORWARD' : 'PALISADE-PREROUTING';
    for (const f of [4, 6] as const) {
      const fixed = chainOf(chainRules(plan, f), entry);
      t.ok(fixed.indexOf(`-A ${entry} -j PALISADE-PODS`) === fixed.indexOf(`-A ${entry} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`) + 1, `${name} IPv${f}: ${entry} enters PALISADE-PODS right after the established return`);
      t.notOk(chainRules(plan, f).some((l) => l.includes('TCNOIF')), `${name} IPv${f}: no fixed chain reads the sets`);
      const pods = { ...base, noIfaceFamilies: [f] };
      const rules = podRules(plan, pods, f);
      t.equal(chainOf(rules, 'PALISADE-PODS')[0], drop(f), `${name} IPv${f}, a pod without an interface: PALISADE-PODS drops the family's set first, before anything is queued or diverted`);
      t.equal(rules.filter((l) => l.includes('TCNOIF')).length, 1, `${name} IPv${f}: one drop`);
      t.notOk(rules.some((l) => l.includes(TC_NOIF_SETS[f === 4 ? 6 : 4])), `${name} IPv${f}: never the other family's set`);
      // The other family's set has members, this one's not: no drop in this family.
      t.notOk(podRules(plan, { ...base, noIfaceFamilies: [f === 4 ? 6 : 4] }, f).some((l) => l.includes('TCNOIF')), `${name} IPv${f}: no drop while only the other family's set has members`);
      // Every pod's interface found: a set match would cost every new flow and match nothing.
      t.notOk(podRules(plan, base, f).some((l) => l.includes('TCNOIF')), `${name} IPv${f}: no drop while no pod is without an interface`);
      t.notOk(podRules(plan, { ...base, noIfaceFamilies: [] }, f).some((l) => l.includes('TCNOIF')), `${name} IPv${f}: nor with the families listed empty`);
    }
  }
  // PALISADE-NODE reaches the drop only through PALISADE-PODS, i.e. only while node traffic is judged.
  const plan = { ...NFQ, noIfaceSets: TC_NOIF_SETS };
  for (const f of [4, 6] as const) {
    const withNode = chainOf(podRules(plan, { ...base, nodeTraffic: true, noIfaceFamilies: [f] }, f), 'PALISADE-NODE');
    t.equal(withNode.at(-1), '-A PALISADE-NODE -j PALISADE-PODS', `nodeTraffic on, IPv${f}: PALISADE-NODE ends in PALISADE-PODS, whose first rule drops`);
    t.ok(withNode.indexOf('-A PALISADE-NODE -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN') >= 0, `nodeTraffic on, IPv${f}: after the established return`);
    t.same(chainOf(podRules(plan, { ...base, noIfaceFamilies: [f] }, f), 'PALISADE-NODE'), [], `nodeTraffic off, IPv${f}: PALISADE-NODE stays empty (pod <-> node traffic is not judged; a pod without an interface reaches its node as an unknown local pod does)`);
  }

  // Without the sets (another layout, or --fail-open): not a rule of them anywhere.
  for (const [name, p] of [['nfqueue', NFQ], ['tun', TUNP], ['nfqueue, fail-open', { ...NFQ, failOpen: true }]] as const) {
    for (const f of [4, 6] as const) {
      const pods = { ...base, noIfaceFamilies: [4, 6] as const };
      const all = [...chainRules(p, f), ...podRules(p, pods, f), ...podRules(p, { ...pods, nodeTraffic: true }, f)];
      t.notOk(all.some((l) => l.includes('TCNOIF') || l.includes('UNTRACKED')), `${name} IPv${f} without noIfaceSets: no drop rule`);
    }
  }
});
