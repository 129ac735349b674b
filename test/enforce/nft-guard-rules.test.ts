// The native source guard's table text and listing parser (enforce/nft-guard.ts), without a
// kernel: the rules per family set, what --fail-open changes, the set members for a pod layout,
// and what verify()/poll() read from an `nft -j list table` answer.

import t from 'tap';
import { nftGuardRuleset, nftIfaceOk, nftMembers, parseNftListing } from '../../src/enforce/nft-guard.ts';

const rules = (l: string[], fam: 'ip' | 'ip6') => l.filter((x) => x.startsWith(`add rule ${fam} palisade-guard `)).map((x) => x.replace(`add rule ${fam} palisade-guard `, ''));

t.test('rules, both families: a table each', async (t) => {
  const all = nftGuardRuleset([4, 6], false);
  t.same(rules(all, 'ip'), [
    'prerouting iif . ip saddr @src4 accept',
    'prerouting jump check',
    'check ip saddr @noif4 drop',
    'check iifname @podif4 jump spoofed',
    'spoofed update @forged4 { iifname . ip saddr }',
    'spoofed drop',
  ], 'IPv4: honest pairs (interface index, address) accepted by one lookup first thing in the hook; pods without an interface dropped; anything else from a pod interface recorded and dropped');
  t.same(rules(all, 'ip6'), [
    'prerouting iif . ip6 saddr @src6 accept',
    'prerouting jump check',
    'check ip6 saddr fe80::/10 return',
    'check ip6 saddr :: return',
    'check ip6 saddr @noif6 drop',
    'check iifname @podif6 jump spoofed',
    'spoofed update @forged6 { iifname . ip6 saddr }',
    'spoofed drop',
  ], 'IPv6: the same, link-local and unspecified sources pass (ND, DAD)');
  t.notOk(all.some((x) => x.includes('inet ') || x.includes('nfproto')), 'no inet table, no protocol checks');
  t.ok(all.includes('add set ip palisade-guard src4 { type iface_index . ipv4_addr; }'), 'honest pairs by index');
  t.ok(all.includes('add set ip6 palisade-guard podif6 { type ifname; counter; }'), 'guarded interfaces by name: a recreated veth (new index) stays guarded, fail-closed');
  t.ok(all.includes('add chain ip palisade-guard prerouting { type filter hook prerouting priority raw; policy accept; }'), 'base chain at raw priority: before conntrack');
  const open = nftGuardRuleset([4, 6], true);
  t.notOk([...rules(open, 'ip'), ...rules(open, 'ip6')].some((x) => x.includes('noif')), '--fail-open: pods without a known interface are not dropped');
  t.ok(rules(open, 'ip').includes('check iifname @podif4 jump spoofed'), '--fail-open still drops forged sources');
});

t.test('one family: the other has no table', async (t) => {
  t.same(rules(nftGuardRuleset([4], false), 'ip6'), [], 'no IPv6 table (IPv6 passes untouched, as with the iptables layout)');
  t.same(rules(nftGuardRuleset([6], false), 'ip'), [], 'and no IPv4 one');
});

t.test('members', async (t) => {
  const index = new Map([['va', 7], ['vb', 8], ['bad"name', 9]]);
  const m = nftMembers([4, 6], new Map([
    [4, { bound: new Map([['vb', ['10.0.2.2']], ['va', ['10.0.1.2', '10.0.1.3']], ['bad"name', ['10.0.3.3']], ['vgone', ['10.0.4.4']]]), noIface: ['10.0.9.9'], index }],
    [6, { bound: new Map([['va', ['fd00::2']]]), noIface: [], index }],
  ]));
  t.same(m.src[4], ['va 7 10.0.1.2', 'va 7 10.0.1.3', 'vb 8 10.0.2.2'], 'one (interface, its index, address) per pod address');
  t.same(m.src[6], ['va 7 fd00::2'], 'IPv6 pairs');
  t.same(m.podIf, ['va', 'vb'], 'guarded interfaces once, whatever the family');
  t.same(m.noIface[4], ['10.0.3.3', '10.0.4.4', '10.0.9.9'], 'an interface name nft cannot take quoted, or one without an index (gone before `link show`), counts as no interface (fail-closed), beside those not found');
  t.notOk(nftIfaceOk('a b'), 'no spaces');
  t.ok(nftIfaceOk('veth1a2b.3@x'), 'the usual characters');
});

t.test('listing: one JSON line per table', async (t) => {
  const ip6 = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'ip6', name: 'palisade-guard', handle: 1 } },
    { set: { family: 'ip6', name: 'src6', table: 'palisade-guard', type: ['iface_index', 'ipv6_addr'], handle: 4, elem: [{ concat: ['va', 'fd00:0::2'] }, { concat: ['17', 'fd00::3'] }] } },
    { set: { family: 'ip6', name: 'podif6', table: 'palisade-guard', type: 'ifname', handle: 5, elem: [{ elem: { val: 'va', counter: { packets: 7, bytes: 420 } } }] } },
    { chain: { family: 'ip6', table: 'palisade-guard', name: 'check', handle: 7 } },
    { rule: { family: 'ip6', table: 'palisade-guard', chain: 'check', handle: 9, expr: [{ drop: null }] } },
  ] });
  const ip = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'ip', name: 'palisade-guard', handle: 1 } },
    { set: { family: 'ip', name: 'forged4', table: 'palisade-guard', type: ['ifname', 'ipv4_addr'], handle: 6, elem: [{ elem: { val: { concat: ['va', '10.0.3.2'] }, timeout: 300, expires: 290 } }] } },
    { chain: { family: 'ip', table: 'palisade-guard', name: 'check', handle: 7 } },
  ] });
  const l = parseNftListing(`${ip}\n${ip6}`);
  t.same([...l.tables].sort(), ['ip', 'ip6'], 'both tables listed');
  t.same(l.sets.get('src6'), [{ key: 'va fd00::2', packets: 0 }, { key: '17 fd00::3', packets: 0 }], 'pairs as "iface address", the address canonical; an index no interface has is listed as a number (stale)');
  t.same(l.sets.get('podif6'), [{ key: 'va', packets: 7 }], 'per-element counters');
  t.same(l.sets.get('forged4'), [{ key: 'va 10.0.3.2', packets: 0 }], 'records with a timeout');
  t.equal(l.chains.get('ip6 check')!.length, 2, 'a chain, per family: its definition and its rules');
  t.equal(l.chains.get('ip check')!.length, 1, 'the other table\'s chain of the same name apart');
  t.notMatch(l.chains.get('ip6 check')!.join(''), 'handle', 'handles left out: a reinstall renumbers them');
  t.same([...parseNftListing(ip6).tables], ['ip6'], 'a table missing: no line, absent');
  t.equal(parseNftListing('').tables.size, 0, 'no listing at all');
});
