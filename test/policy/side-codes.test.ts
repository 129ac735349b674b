// Side codes (engine-api.ts) and the tier walk (tiers.ts): a code says both what happened and
// which rule decided, read only through the engine-api functions; the walk takes the first
// decision of the tiers in order, and the exemptions come before every tier.

import t from 'tap';
import { ACTION, SIDE, ruleCode, ruleCodeCount, sideAllows, sideDenies, sideFromNetworkPolicyTier, sideHasRule, sideJudged, sideReason, sideRule, sideSkipped } from '../../src/policy/engine-api.ts';
import { PASS, TIERS, TIERS_DECIDE, TIER_DEFAULT, nodeExemptionApplies, sideExemption, walkTiers } from '../../src/policy/tiers.ts';

t.test('rule codes carry the rule id and the action', async (t) => {
  for (const [id, cluster] of [[0, false], [1, true], [7, false], [123456, true], [(1 << 29) - 1, false], [(1 << 29) - 1, true]] as const) {
    const acc = ruleCode(id, ACTION.ACCEPT, cluster), den = ruleCode(id, ACTION.DENY, cluster);
    t.ok(acc >= 0 && den >= 0, 'rule codes are non-negative int32');
    t.not(acc, den, `rule ${id}: accept and deny differ`);
    t.equal(sideFromNetworkPolicyTier(acc), !cluster, 'the tier bit says whether the NetworkPolicy tier decided');
    t.equal(nodeExemptionApplies(den), !cluster, 'the node exemption applies to NetworkPolicy decisions only');
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

t.test('a skipped side (the judge stopped at the egress denial) lets through and names no rule or reason', async (t) => {
  t.equal(sideSkipped(SIDE.SKIPPED), true);
  t.equal(sideAllows(SIDE.SKIPPED), true, 'the denial is the other side\'s alone');
  t.equal(sideDenies(SIDE.SKIPPED), false);
  t.equal(sideJudged(SIDE.SKIPPED), false);
  t.equal(sideRule(SIDE.SKIPPED), -1);
  t.equal(sideHasRule(SIDE.SKIPPED), false);
  t.equal(sideFromNetworkPolicyTier(SIDE.SKIPPED), false, 'no node exemption to apply');
  t.throws(() => sideReason(SIDE.SKIPPED), /SKIPPED/, 'a Decision is judged in full, so no reason is made up');
  for (const code of [SIDE.NOT_ISOLATED, SIDE.NO_RULE, SIDE.NODE, SIDE.SELF, SIDE.NOT_JUDGED, ruleCode(3, ACTION.DENY)]) t.equal(sideSkipped(code), false);
});

t.test('exemptions come first, in order: not judged, self; the node exemption is the NetworkPolicy tier\'s', async (t) => {
  t.equal(sideExemption(false, true), SIDE.NOT_JUDGED);
  t.equal(sideExemption(true, true), SIDE.SELF);
  t.equal(sideExemption(true, false), TIERS_DECIDE, 'otherwise the tiers decide');
  t.equal(nodeExemptionApplies(SIDE.NO_RULE), true, 'an isolated pod\'s implicit deny yields to its own node');
  t.equal(nodeExemptionApplies(TIER_DEFAULT), false, 'no tier decided: nothing to exempt');
  t.equal(sideAllows(TIER_DEFAULT), true, 'the default allows');
  t.equal(sideReason(TIER_DEFAULT), 'not-isolated');
});

t.test('the walk: the first tier that decides wins, PASS hands over, then the default', async (t) => {
  t.same([...TIERS], ['admin', 'networkpolicy', 'baseline'], 'Admin, then NetworkPolicy, then Baseline');
  const seen: string[] = [];
  const tiers = (answer: number | typeof PASS) => ({
    admin: (q: string) => {
      seen.push(`admin ${q}`);
      return PASS as number | typeof PASS;
    },
    networkpolicy: (q: string) => {
      seen.push(q);
      return answer;
    },
    baseline: (q: string) => {
      seen.push(`baseline ${q}`);
      return PASS as number | typeof PASS;
    },
  });
  t.equal(walkTiers(tiers(PASS), 'q1', TIER_DEFAULT), TIER_DEFAULT, 'every tier passes: the default');
  t.equal(walkTiers(tiers(SIDE.NO_RULE), 'q2', TIER_DEFAULT), SIDE.NO_RULE, 'a decision ends the walk');
  t.equal(walkTiers(tiers(ruleCode(3, ACTION.ACCEPT)), 'q3', TIER_DEFAULT), ruleCode(3, ACTION.ACCEPT));
  t.same(seen, ['admin q1', 'q1', 'baseline q1', 'admin q2', 'q2', 'admin q3', 'q3'], 'each tier asked once per walk, in order, until one decides');
});
