// One rule, one name: `explain` names a cluster policy rule the way verify, connlist, the
// verdict log and the README do (`admin/<policy>/<rule name or index>`), in its side summary and
// in its tier walk, so a rule seen in one command's output can be found in another's.

import t from 'tap';
import { ruleLabel, type RuleRef } from '../../src/policy/decision.ts';
import { runCli } from './run-cli.ts';
import { POLICIES, clusterPolicyDir } from './cluster-policy-fixture.ts';

// Probes of the fixture where a cluster rule decides a side or passes it on: named and unnamed
// rules, Admin and Baseline, Accept, Deny and Pass.
const PROBES: [string, string, number][] = [
  ['app/batch', 'db/pg', 5432], // egress: Admin Pass, then the unnamed Baseline Deny; ingress: Admin Deny `block-db`
  ['app/web', 'db/pg', 5432], // both sides: an Admin Pass, then a NetworkPolicy
  ['ops/mon', 'db/pg', 5432], // ingress: Admin Accept `allow-monitoring`
  ['app/batch', '172.18.0.3', 22], // egress: the Baseline's unnamed Deny of the pod's own node
];

interface Step { tier: string; outcome: string; rule?: RuleRef }

t.test('explain names each deciding or passing cluster rule as verify does', async (t) => {
  const dir = clusterPolicyDir(POLICIES);
  for (const [from, to, port] of PROBES) {
    const args = ['--manifests', dir, '--from', from, '--to', to, '--port', String(port)];
    const text = runCli(['explain', ...args]);
    t.equal(text.code, 0, text.stderr);
    const json = JSON.parse(runCli(['explain', ...args, '-o', 'json']).stdout) as {
      decision: Record<'egress' | 'ingress', { reason: string; allowed: boolean; rule?: RuleRef }>;
      tiers: Record<'egress' | 'ingress', { steps: Step[] }>;
    };
    for (const dir of ['egress', 'ingress'] as const) {
      const who = dir === 'egress' ? from : to;
      const summary = text.stdout.split('\n').find((l) => l.startsWith(`${dir} of `)) ?? '';
      const walk = text.stdout.split('\n').find((l, i, all) => i > 0 && all[i - 1] === summary && l.startsWith('  tiers: ')) ?? '';
      const d = json.decision[dir];
      if (d.reason === 'rule' && d.rule?.tier !== undefined) {
        t.ok(summary.endsWith(`: ${d.allowed ? 'allowed' : 'denied'} by ${ruleLabel(d.rule)}`), `${from} -> ${to}:${port} ${dir} of ${who}: summary names ${ruleLabel(d.rule)}: ${summary}`);
      }
      for (const s of json.tiers[dir].steps) {
        if (!s.rule || (s.tier !== 'admin' && s.tier !== 'baseline')) continue;
        t.ok(walk.includes(ruleLabel(s.rule)), `${from} -> ${to}:${port} ${dir}: the walk names ${ruleLabel(s.rule)}: ${walk}`);
      }
    }
  }
});
