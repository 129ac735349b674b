// Which ip rules at the TUN backend's preference are Palisade's (src/enforce/tun-routing.ts,
// ownTunRules), read from `ip -N -j rule show pref P`, and the exact words that delete each one
// (tunRuleArgs): no kernel needed. The namespace test beside it (tun-routing.test.ts) checks the
// same on the kernel.

import t from 'tap';
import { ownTunRules, tunRuleArgs, type TunRule } from '../../src/enforce/tun-routing.ts';

const PREF = 1000, TABLE = 7077;
const j = (...rules: object[]) => JSON.stringify(rules);
const ours = (extra: object = {}) => ({ priority: PREF, src: 'all', fwmark: '0x4000000', fwmask: '0x4000000', table: '7077', ...extra });

t.test('ownTunRules keeps the rules at the preference that look up the table, whatever their mark', async (t) => {
  const cases: { name: string; json: string; want: TunRule[] }[] = [
    { name: 'no output', json: '', want: [] },
    { name: 'no rules', json: '[]\n', want: [] },
    { name: "the agent's rule", json: j(ours()), want: [{ mark: 0x4000000, mask: 0x4000000 }] },
    { name: 'the table as a number', json: j(ours({ table: 7077 })), want: [{ mark: 0x4000000, mask: 0x4000000 }] },
    { name: 'no fwmask shown: the full mask', json: j(ours({ fwmark: '0x10', fwmask: undefined })), want: [{ mark: 0x10, mask: 0xffffffff }] },
    { name: 'no fwmark at all', json: j({ priority: PREF, src: 'all', table: '7077' }), want: [{}] },
    { name: "a killed agent's with another mark, next to the agent's", json: j(ours({ fwmark: '0x10', fwmask: '0x10' }), ours()), want: [{ mark: 0x10, mask: 0x10 }, { mark: 0x4000000, mask: 0x4000000 }] },
    {
      name: "other programs' rules at the preference are left out",
      json: j(
        { priority: PREF, src: 'all', fwmark: '0x1', fwmask: '0x1', table: '123' },
        ours({ table: '70770' }),
        { priority: PREF, src: 'all', fwmark: '0x2', fwmask: '0x3', goto: 2000, unresolved: null },
        { priority: PREF, src: 'all', action: 'blackhole' },
        { priority: PREF, src: 'all', table: 'main' },
        ours(),
      ),
      want: [{ mark: 0x4000000, mask: 0x4000000 }],
    },
    { name: 'a rule at another preference is not ours', json: j(ours({ priority: 1001 })), want: [] },
    { name: "another program's unreadable mark does not matter", json: j({ priority: PREF, src: 'all', fwmark: 'odd', table: '123' }, ours()), want: [{ mark: 0x4000000, mask: 0x4000000 }] },
  ];
  for (const c of cases) t.same(ownTunRules(c.json, PREF, TABLE), c.want, c.name);
});

t.test('ownTunRules names what it cannot read', async (t) => {
  const cases: { name: string; json: string; error: RegExp }[] = [
    { name: 'not JSON', json: '1000:\tfrom all lookup 7077', error: /^ip rule show pref 1000: output is not JSON/ },
    { name: 'not an array', json: '{"priority":1000}', error: /^ip rule show pref 1000: expected a JSON array of rules$/ },
    { name: 'a rule that is not an object', json: '[null]', error: /^ip rule show pref 1000: rule 0 is not an object$/ },
    { name: 'a mark of ours that is not hex', json: j({ priority: 1 }, ours({ fwmark: '67108864' })), error: /^ip rule show pref 1000: rule 1 \(table 7077\): fwmark "67108864" is not a 32-bit hex number$/ },
    { name: 'a mask of ours that is too wide', json: j(ours({ fwmask: '0x100000000' })), error: /^ip rule show pref 1000: rule 0 \(table 7077\): fwmask "0x100000000" is not a 32-bit hex number$/ },
    { name: 'a mask without a mark', json: j(ours({ fwmark: undefined })), error: /^ip rule show pref 1000: rule 0 \(table 7077\): fwmask without fwmark$/ },
  ];
  for (const c of cases) t.throws(() => ownTunRules(c.json, PREF, TABLE), c.error, c.name);
});

t.test('tunRuleArgs gives the exact rule, with the table, for ip rule del', async (t) => {
  const cases: { name: string; rule: TunRule; want: string }[] = [
    { name: 'mark and mask', rule: { mark: 0x4000000, mask: 0x4000000 }, want: 'pref 1000 fwmark 0x4000000/0x4000000 lookup 7077' },
    { name: 'full mask', rule: { mark: 0x10, mask: 0xffffffff }, want: 'pref 1000 fwmark 0x10/0xffffffff lookup 7077' },
    { name: 'no mark', rule: {}, want: 'pref 1000 lookup 7077' },
  ];
  for (const c of cases) t.equal(tunRuleArgs(PREF, TABLE, c.rule).join(' '), c.want, c.name);
});
