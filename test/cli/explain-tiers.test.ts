// explain's tier walks (src/cli/explain-tiers.ts), in process: for every pair of endpoints of the
// cluster-policy fixture (pods, host-network pod, nodes, an outside host), ports and protocols,
// the walk must end where the evaluator's verdict ends, decide in the tier of the deciding rule,
// and the text must render every step.

import t from 'tap';
import { join } from 'node:path';
import { explain } from '../../src/policy/evaluator.ts';
import { loadManifests } from '../../src/sources/manifests.ts';
import { formatExplanation } from '../../src/cli/explain-format.ts';
import { tierWalks, walkAllows, walkText } from '../../src/cli/explain-tiers.ts';
import type { Protocol } from '../../src/cluster/model.ts';
import { FAIL_CLOSED, POLICIES, clusterPolicyDir } from './cluster-policy-fixture.ts';

for (const [name, policies] of [['policies', POLICIES], ['policies with fail-closed rules', POLICIES + FAIL_CLOSED]] as const) {
  t.test(`every walk ends in the evaluator's verdict (${name})`, async (t) => {
    const { state, errors } = loadManifests([join(clusterPolicyDir(policies), 'cluster.yaml')]);
    t.same(errors, []);
    t.ok(state.clusterPolicies.size >= 3, 'the cluster policies were decoded');
    const ips = [...new Set([...[...state.pods.values()].flatMap((p) => p.ips), '172.18.0.4', '192.0.2.1'])];
    let n = 0, bad = 0;
    for (const src of ips) {
      for (const dst of ips) {
        for (const [protocol, port] of [['TCP', 5432], ['TCP', 80], ['UDP', 53]] as [Protocol, number][]) {
          const x = explain(state, { src, dst, protocol, port });
          const w = tierWalks(state, x);
          n++;
          for (const dir of ['egress', 'ingress'] as const) {
            const d = x.decision[dir];
            const walk = w[dir];
            const last = walk.steps[walk.steps.length - 1];
            const tierOk = walk.exemption ? walk.steps.length === 0
              : d.rule?.tier !== undefined ? last?.tier === d.rule.tier
              : d.reason === 'not-isolated' ? last?.tier === 'default'
              : last?.tier === 'networkpolicy';
            if (walkAllows(walk) !== d.allowed || !tierOk) {
              bad++;
              t.fail(`${src} -> ${dst} ${protocol}/${port} ${dir}: walk "${walkText(walk)}" vs decision ${JSON.stringify(d)}`);
            }
          }
          const text = formatExplanation(x, { view: state, walks: w }).join('\n');
          if (!/: (allowed|DENIED)/.test(text)) { bad++; t.fail('no verdict line'); }
        }
      }
    }
    t.equal(bad, 0, `${n} connections: walks agree with the evaluator`);
  });
}

t.test('without cluster policies the text is the NetworkPolicy-only one', async (t) => {
  const { state } = loadManifests([join(clusterPolicyDir(POLICIES.split('\n---\n').filter((d) => !d.includes('ClusterNetworkPolicy')).join('\n---\n')), 'cluster.yaml')]);
  t.equal(state.clusterPolicies.size, 0);
  const x = explain(state, { src: '10.244.1.11', dst: '10.244.2.10', protocol: 'TCP', port: 5432 });
  const w = tierWalks(state, x);
  t.same(w.ingress.steps.map((s) => s.tier), ['admin', 'networkpolicy'], 'the walk is still there for -o json');
  const text = formatExplanation(x, { view: state, walks: w });
  t.same(text, formatExplanation(x), 'no tier lines');
  t.notMatch(text.join('\n'), /tiers:/);
});

t.test('two policies of one tier with the same priority: the walk says their order is undefined', async (t) => {
  // "If two (or more) policies in the same tier with the same priority could match a connection,
  // then the implementation can apply any of the matching policies": the reader of a walk that
  // lists them must not take Palisade's order for the API's.
  const tie = POLICIES + `
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: also-db}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {team: db}}}
  ingress:
  - {name: allow-all, action: Accept, from: [{namespaces: {}}]}
`;
  for (const [name, policies, want] of [['tied', tie, true], ['no tie', POLICIES, false]] as const) {
    const { state, errors } = loadManifests([join(clusterPolicyDir(policies), 'cluster.yaml')]);
    t.same(errors, [], name);
    const x = explain(state, { src: '10.244.1.11', dst: '10.244.2.10', protocol: 'TCP', port: 5432 });
    const text = formatExplanation(x, { view: state, walks: tierWalks(state, x) }).join('\n');
    const note = /also-db and deny-db share priority 10: the API leaves their order undefined \(any of them may apply\); Palisade takes them in id order/;
    if (want) t.match(text, note, `${name}: the note`);
    else t.notMatch(text, /share priority/, `${name}: no note`);
  }
});

t.test('a rule failing closed on a field the API server stores (a v1alpha1 port, a peer selector): the walk names the field and why', async (t) => {
  // [name, the ANP's egress rule, what the line must say]
  const rows: [string, string, RegExp][] = [
    ['Deny on protocol "ICMP"', '{name: icmp, action: Deny, to: [{namespaces: {}}], ports: [{portNumber: {protocol: ICMP, port: 8}}]}',
      /egress\[0\] `icmp` Deny: MATCHES everything: it fails closed \(ports\[0\]\.portNumber\.protocol: unsupported protocol "ICMP" \(Palisade matches "TCP", "UDP" and "SCTP"\)\), and a failed-closed Deny rule denies all traffic -> Deny/],
    ['Allow on an empty range', '{name: rev, action: Allow, to: [{namespaces: {}}], ports: [{portRange: {start: 9, end: 1}}]}',
      /egress\[0\] `rev` Accept: no match: it fails closed \(ports\[0\]\.portRange: start 9 is above end 1, an empty range\), and a failed-closed Accept rule matches nothing/],
    // A peer selector the CRD stores but no selector can be built from: named by its field, not
    // as a peer with no known field.
    ['Deny with a peer selector of an unknown operator', '{name: bad-op, action: Deny, to: [{namespaces: {matchExpressions: [{key: team, operator: Equals, values: [db]}]}}]}',
      /egress\[0\] `bad-op` Deny: MATCHES everything: it fails closed \(to\[0\]\.namespaces\.matchExpressions\[0\]\.operator: invalid value "Equals": not a valid selector operator \(In, NotIn, Exists, DoesNotExist\), so this peer's selector cannot be built\), and a failed-closed Deny rule denies all traffic -> Deny/],
    ['Allow with a pods peer In without values', '{name: no-values, action: Allow, to: [{pods: {namespaceSelector: {}, podSelector: {matchExpressions: [{key: app, operator: In}]}}}]}',
      /egress\[0\] `no-values` Accept: no match: it fails closed \(to\[0\]\.pods\.podSelector\.matchExpressions\[0\]\.values: must be specified when `operator` is 'In' or 'NotIn', so this peer's selector cannot be built\), and a failed-closed Accept rule matches nothing/],
    ['Deny with a ports entry of a newer API version', '{name: newer, action: Deny, to: [{namespaces: {}}], ports: [{portNumber: {protocol: TCP, port: 80, ipFamily: IPv4}}]}',
      /egress\[0\] `newer` Deny: MATCHES everything: it fails closed \(ports\[0\]\.portNumber\.ipFamily: unknown field "ipFamily" \(known fields: protocol, port\): a port field of a newer API version than this Palisade reads, or a typo\), and a failed-closed Deny rule denies all traffic -> Deny/],
  ];
  for (const [name, rule, want] of rows) {
    const anp = `
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: v1}
spec:
  priority: 1
  subject: {namespaces: {}}
  egress: [${rule}]
`;
    const { state, errors } = loadManifests([join(clusterPolicyDir(POLICIES + anp), 'cluster.yaml')]);
    t.same(errors, [], name);
    const x = explain(state, { src: '10.244.1.11', dst: '10.244.2.10', protocol: 'TCP', port: 5432 });
    t.match(formatExplanation(x, { view: state, walks: tierWalks(state, x) }).join('\n'), want, name);
  }
});
