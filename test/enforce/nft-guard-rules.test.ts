// The native source guard's table text and listing parser (enforce/nft-guard.ts), without a
// kernel: the rules per family set, what --fail-open changes, the set members for a pod layout,
// and what verify()/poll() read from an `nft -j list table` answer.

import t from 'tap';
import { nftGuardRuleset, nftIfaceOk, nftMembers, parseNftListing } from '../../src/enforce/nft-guard.ts';

const rules = (l: string[]) => l.filter((x) => x.startsWith('add rule ')).map((x) => x.replace('add rule inet palisade-guard ', ''));

t.test('rules, both families', async (t) => {
  const r = rules(nftGuardRuleset([4, 6], false));
  t.same(r.filter((x) => x.startsWith('prerouting ')), [
    'prerouting iif . ip saddr @src4 accept',
    'prerouting iif . ip6 saddr @src6 accept',
    'prerouting jump check',
  ], 'honest pairs accepted by one lookup per family keyed by interface index, first thing in the hook');
  t.ok(nftGuardRuleset([4, 6], false).includes('add set inet palisade-guard src4 { type iface_index . ipv4_addr; }'), 'honest pairs by index');
  t.ok(nftGuardRuleset([4, 6], false).includes('add set inet palisade-guard podif { type ifname; counter; }'), 'guarded interfaces by name: a recreated veth (new index) stays guarded, fail-closed');
  t.same(r.filter((x) => x.startsWith('check ')), [
    'check ip6 saddr fe80::/10 return',
    'check ip6 saddr :: return',
    'check ip saddr @noif4 drop',
    'check ip6 saddr @noif6 drop',
    'check iifname @podif jump spoofed',
  ], 'link-local and unspecified IPv6 pass (ND, DAD); pods without an interface dropped; anything else from a pod interface goes to spoofed');
  t.same(r.filter((x) => x.startsWith('spoofed ')), ['spoofed update @forged4 { iifname . ip saddr }', 'spoofed update @forged6 { iifname . ip6 saddr }', 'spoofed drop'], 'recorded, then dropped (a full record set still drops)');
  t.ok(nftGuardRuleset([4, 6], false).includes('add chain inet palisade-guard prerouting { type filter hook prerouting priority raw; policy accept; }'), 'base chain at raw priority: before conntrack');
  t.notOk(rules(nftGuardRuleset([4, 6], true)).some((x) => x.includes('noif')), '--fail-open: pods without a known interface are not dropped');
  t.ok(rules(nftGuardRuleset([4, 6], true)).includes('check iifname @podif jump spoofed'), '--fail-open still drops forged sources');
});

t.test('one family: the other is not guarded', async (t) => {
  const r = rules(nftGuardRuleset([4], false));
  t.notOk(r.some((x) => x.includes('ip6')), 'no IPv6 rules');
  t.ok(r.includes('check meta nfproto ipv4 iifname @podif jump spoofed'), 'the pod-interface drop is for IPv4 only (IPv6 passes untouched, as with the iptables layout)');
  t.ok(rules(nftGuardRuleset([6], false)).includes('check meta nfproto ipv6 iifname @podif jump spoofed'), 'and for IPv6 only');
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

t.test('listing', async (t) => {
  const text = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'inet', name: 'palisade-guard', handle: 1 } },
    { set: { family: 'inet', name: 'src6', table: 'palisade-guard', type: ['iface_index', 'ipv6_addr'], handle: 4, elem: [{ concat: ['va', 'fd00:0::2'] }, { concat: ['17', 'fd00::3'] }] } },
    { set: { family: 'inet', name: 'podif', table: 'palisade-guard', type: 'ifname', handle: 5, elem: [{ elem: { val: 'va', counter: { packets: 7, bytes: 420 } } }] } },
    { set: { family: 'inet', name: 'forged4', table: 'palisade-guard', type: ['ifname', 'ipv4_addr'], handle: 6, elem: [{ elem: { val: { concat: ['va', '10.0.3.2'] }, timeout: 300, expires: 290 } }] } },
    { chain: { family: 'inet', table: 'palisade-guard', name: 'check', handle: 7 } },
    { rule: { family: 'inet', table: 'palisade-guard', chain: 'check', handle: 9, expr: [{ drop: null }] } },
  ] });
  const l = parseNftListing(text)!;
  t.same(l.sets.get('src6'), [{ key: 'va fd00::2', packets: 0 }, { key: '17 fd00::3', packets: 0 }], 'pairs as "iface address", the address canonical; an index no interface has is listed as a number (stale)');
  t.same(l.sets.get('podif'), [{ key: 'va', packets: 7 }], 'per-element counters');
  t.same(l.sets.get('forged4'), [{ key: 'va 10.0.3.2', packets: 0 }], 'records with a timeout');
  t.equal(l.chains.get('check')!.length, 2, 'a chain: its definition and its rules');
  t.notMatch(l.chains.get('check')!.join(''), 'handle', 'handles left out: a reinstall renumbers them');
  t.equal(parseNftListing(''), undefined, 'no listing (the table is missing)');
});
