// Side codes (engine-api.ts) and the tier walk (tiers.ts): a code says both what happened and
// which rule decided, read only through the engine-api functions; the walk takes the first
// decision of the tiers in order, and the exemptions come before every tier.

import t from 'tap';
import { ACTION, SIDE, ruleCode, ruleCodeCount, sideAllows, sideDenies, sideHasRule, sideJudged, sideReason, sideRule } from '../../src/policy/engine-api.ts';
import { PASS, TIERS, TIERS_DECIDE, TIER_DEFAULT, sideExemption, walkTiers } from '../../src/policy/tiers.ts';

t.test('rule codes carry the rule id and the action', async (t) => {
  for (const id of [0, 1, 7, 123456, (1 << 30) - 1]) {
    const acc = ruleCode(id, ACTION.ACCEPT), den = ruleCode(id, ACTION.DENY);
    t.not(acc, den, `rule ${id}: accept and deny differ`);
    t.equal(sideRule(acc), id);
    t.equal(sideRule(den), id);
    t.equal(sideAllows(acc), true);
    t.equal(sideAllows(den), false, `rule ${id}: a deny rule denies`);
    t.equal(sideDenies(den), true);
    t.equal(sideReason(acc), 'rule');
    t.equal(sideReason(den), 'rule');
    t.ok(sideHasRule(acc) && sideHasRule(den));
    t.ok(acc < ruleCodeCount(id + 1) && den < ruleCodeCount(id + 1), 'codes of the first n rules index an array of ruleCodeCount(n)');
  }
});

t.test('special codes name no rule', async (t) => {
  const want: [number, string, boolean][] = [
    [SIDE.NOT_ISOLATED, 'not-isolated', true],
    [SIDE.NO_RULE, 'no-rule', false],
    [SIDE.NODE, 'node', true],
    [SIDE.SELF, 'self', true],
    [SIDE.NOT_JUDGED, 'not-a-pod', true],
  ];
  for (const [code, reason, allows] of want) {
    t.equal(sideReason(code), reason);
    t.equal(sideAllows(code), allows, `${reason} allows: ${allows}`);
    t.equal(sideRule(code), -1);
    t.equal(sideHasRule(code), false);
    t.equal(sideJudged(code), reason !== 'not-a-pod');
  }
  t.throws(() => sideReason(-99), /side code -99/);
});

t.test('exemptions come first, in order: not judged, self, node', async (t) => {
  t.equal(sideExemption(false, true, true), SIDE.NOT_JUDGED);
  t.equal(sideExemption(true, true, true), SIDE.SELF);
  t.equal(sideExemption(true, false, true), SIDE.NODE);
  t.equal(sideExemption(true, false, false), TIERS_DECIDE, 'otherwise the tiers decide');
  t.equal(sideAllows(TIER_DEFAULT), true, 'the default allows');
  t.equal(sideReason(TIER_DEFAULT), 'not-isolated');
});

t.test('the walk: the first tier that decides wins, PASS hands over, then the default', async (t) => {
  t.same([...TIERS], ['networkpolicy'], 'NetworkPolicy is the only tier today');
  const seen: string[] = [];
  const tiers = (answer: number | typeof PASS) => ({
    networkpolicy: (q: string) => {
      seen.push(q);
      return answer;
    },
  });
  t.equal(walkTiers(tiers(PASS), 'q1', TIER_DEFAULT), TIER_DEFAULT, 'every tier passes: the default');
  t.equal(walkTiers(tiers(SIDE.NO_RULE), 'q2', TIER_DEFAULT), SIDE.NO_RULE, 'a decision ends the walk');
  t.equal(walkTiers(tiers(ruleCode(3, ACTION.ACCEPT)), 'q3', TIER_DEFAULT), ruleCode(3, ACTION.ACCEPT));
  t.same(seen, ['q1', 'q2', 'q3'], 'each tier asked once per walk');
});
