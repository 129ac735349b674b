// The source-address guard's rule and set text (enforce/spoof-guard.ts), without a kernel: what
// each family gets, what --fail-open changes, and which members the sets hold for a pod layout.

import t from 'tap';
import { guardRules, hookRule, setMembers } from '../../src/enforce/spoof-guard.ts';

t.test('rules per family', async (t) => {
  t.equal(hookRule(4), '-m set ! --match-set PALISADE-SRC4 src,src -j PALISADE-SPOOF', 'IPv4: the hook itself lets honest pairs through (one lookup, no jump, for nearly every packet)');
  t.equal(hookRule(6), '-m set ! --match-set PALISADE-SRC6 src,src -j PALISADE-SPOOF', 'IPv6: the same');
  t.notMatch(hookRule(4), 'comment', 'no comment match in the hook: iptables-nft evaluates it on every packet');
  const v4 = guardRules(4, false);
  t.same(v4, [
    '-A PALISADE-SPOOF -m set --match-set PALISADE-NOIF4 src -j DROP',
    '-A PALISADE-SPOOF -m set --match-set PALISADE-PODIF4 src,src -j PALISADE-SPOOFED',
    '-A PALISADE-SPOOFED -j SET --add-set PALISADE-FORGED4 src,src --exist',
    '-A PALISADE-SPOOFED -j DROP',
  ], 'IPv4: unknown-interface pods dropped, anything else from a pod interface dropped');
  const v6 = guardRules(6, false);
  t.same(v6.slice(0, 2), ['-A PALISADE-SPOOF -s fe80::/10 -j RETURN', '-A PALISADE-SPOOF -s ::/128 -j RETURN'], 'IPv6: link-local and unspecified sources pass first (ND, DAD)');
  t.equal(v6.length, 6, 'IPv6: 6 rules whatever the number of pods');
  t.notOk(guardRules(4, true).some((l) => l.includes('NOIF')), '--fail-open: pods without a known interface are not dropped');
  t.ok(guardRules(4, true).some((l) => l.endsWith('-j PALISADE-SPOOFED')), '--fail-open still drops forged sources');
});

t.test('set members', async (t) => {
  const m = setMembers(4, { bound: new Map([['vb', ['10.0.2.2']], ['va', ['10.0.1.2', '10.0.1.3']]]), noIface: ['10.0.9.9'] });
  t.same(m.src, ['10.0.1.2,va', '10.0.1.3,va', '10.0.2.2,vb'], 'one (address, interface) pair per pod address');
  t.same(m.podIf, ['0.0.0.0/0,va', '0.0.0.0/0,vb'], 'one catch-all per guarded interface');
  t.same(m.noIface, ['10.0.9.9'], 'addresses without an interface');
  t.same(setMembers(6, { bound: new Map([['va', ['fd00::2']]]), noIface: [] }).podIf, ['::/0,va'], 'IPv6 catch-all');
});
