// `palisade explain` names the deciding policy and rule, or for a deny each candidate rule and
// the clause that did not match.

import t from 'tap';
import { sampleCase } from '../conformance/sample-cases.ts';
import { caseManifestDir, hasStackTrace, runCli } from './run-cli.ts';
import { FAIL_CLOSED, POLICIES, clusterPolicyDir } from './cluster-policy-fixture.ts';

const byPrefix = (p: string) => sampleCase(p)!;
const have = ['001-', '017-', '035-', '900-', '910-'].every((p) => sampleCase(p));
if (!have) t.plan(0, 'the sample cases 001, 017, 035, 900 and 910 are not available');

if (have) t.test('deny by a named port that resolves elsewhere (017)', async (t) => {
  const dir = caseManifestDir(byPrefix('017-'), 0);
  const r = runCli(['explain', '--manifests', dir, '--from', 'y/a', '--to', 'x/b', '--port', '80']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^10\.244\.2\.1 \(pod y\/a\) -> 10\.244\.1\.2 \(pod x\/b\) TCP\/80: DENIED/);
  t.match(r.stdout, /egress of y\/a: allowed: not isolated \(no NetworkPolicy selects the pod for Egress\)/);
  t.match(r.stdout, /ingress of x\/b: denied: isolated by x\/allow-all, no rule allows\n/);
  t.match(r.stdout, /ingress\[0\]: no match: from matches but no port does/);
  t.match(r.stdout, /ports\[0\] TCP port named "serve-81-tcp": "serve-81-tcp" on x\/b is port 81, not 80/);
  t.notOk(hasStackTrace(r.stdout + r.stderr));

  const ok = runCli(['explain', '--manifests', dir, '--from', 'y/a', '--to', 'x/b', '--port', '81']);
  t.match(ok.stdout, /TCP\/81: allowed/);
  t.match(ok.stdout, /ingress of x\/b: allowed by x\/allow-all ingress\[0\]/);
  t.match(ok.stdout, /ingress\[0\]: MATCHES: every source \(no from\); ports\[0\] TCP port named "serve-81-tcp"/);
});

if (have) t.test('per-family ipBlock (910): the family clause is named', async (t) => {
  const dir = caseManifestDir(byPrefix('910-'), 0);
  const r = runCli(['explain', '--manifests', dir, '--from', 'x/a', '--to', 'y/b', '--port', '80', '--family', 'IPv6']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /fd00:10:244::11 \(pod x\/a\) -> fd00:10:244::22 \(pod y\/b\) TCP\/80: DENIED/);
  t.match(r.stdout, /to\[0\] ipBlock 10\.244\.2\.0\/24: fd00:10:244::22 is not of the same IP family as 10\.244\.2\.0\/24/);
  t.match(r.stdout, /to\[0\] namespaceSelector ns=z: namespace y \(labels [^)]*\) does not match namespaceSelector ns=z/);
  t.match(r.stdout, /from\[0\] ipBlock fd00:10:244::12\/128: fd00:10:244::11 is outside fd00:10:244::12\/128/);

  const v4 = runCli(['explain', '--manifests', dir, '--from', 'x/a', '--to', 'y/a', '--port', '80']);
  t.match(v4.stdout, /: allowed\n/);
  t.match(v4.stdout, /egress of x\/a: allowed by x\/x-a-egress egress\[0\]/);
  t.match(v4.stdout, /egress\[0\]: MATCHES: to\[0\] ipBlock 10\.244\.2\.0\/24; every port/);
});

if (have) t.test('node and except (900, 035)', async (t) => {
  const r = runCli(['explain', '--manifests', caseManifestDir(byPrefix('900-'), 0), '--from', '10.0.0.1', '--to', 'x/a', '--port', '80']);
  t.match(r.stdout, /10\.0\.0\.1 \(node node-1\) -> 10\.244\.1\.1 \(pod x\/a\) TCP\/80: allowed/);
  t.match(r.stdout, /ingress of x\/a: allowed: own node \(NetworkPolicy always allows it\)\n/);
  t.match(r.stdout, /isolating policies \(Ingress\): x\/default-deny-all/);

  const ex = runCli(['explain', '--manifests', caseManifestDir(byPrefix('035-'), 0), '--from', 'x/a', '--to', 'x/b', '--port', '80']);
  t.match(ex.stdout, /DENIED/);
  t.match(ex.stdout, /10\.244\.1\.2 is inside 0\.0\.0\.0\/4 but excluded by except 10\.244\.1\.2\/32/);
});

if (have) t.test('-o json is the structured explanation', async (t) => {
  const r = runCli(['explain', '--manifests', caseManifestDir(byPrefix('001-'), 0), '--from', 'y/a', '--to', 'x/a', '--port', '80', '-o', 'json']);
  t.equal(r.code, 0, r.stderr);
  const x = JSON.parse(r.stdout);
  t.equal(x.decision.allowed, false);
  t.same(x.ingress.policies, [{ policy: 'x/deny-ingress', rules: [] }]);
});

// With cluster policies each side walks the tiers: Admin, NetworkPolicy, Baseline, default.
t.test('cluster policies: an Admin Deny, with every rule before it and why it did not match', async (t) => {
  const dir = clusterPolicyDir();
  const r = runCli(['explain', '--manifests', dir, '--from', 'app/batch', '--to', 'db/pg', '--port', '5432']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^10\.244\.1\.11 \(pod app\/batch\) -> 10\.244\.2\.10 \(pod db\/pg\) TCP\/5432: DENIED/);
  t.match(r.stdout, /\ningress of db\/pg: denied by admin\/deny-db\/block-db\n  tiers: Admin: admin\/deny-db\/block-db matched -> Deny\n/);
  t.match(r.stdout, /Admin tier, policies selecting db\/pg in order: deny-db \(priority 10\)/);
  t.match(r.stdout, /ingress\[0\] `allow-monitoring` Accept: no match: no from entry matches 10\.244\.1\.11 \(pod app\/batch\)\n\s+from\[0\] namespaces team=ops: namespace app \(labels kubernetes\.io\/metadata\.name=app,team=app\) is not selected/);
  t.match(r.stdout, /ingress\[1\] `web-to-pg` Pass: no match: .*\n\s+from\[0\] pods namespaceSelector team=app AND podSelector app=web: pod app\/batch \(labels app=batch\) does not match podSelector app=web/);
  t.match(r.stdout, /ingress\[2\] `block-db` Deny: MATCHES: from\[0\] namespaces <all>; every protocol and port \(no protocols\) -> Deny/);
  // The NetworkPolicy isolating db/pg is not reached: the Admin tier decided.
  t.notMatch(r.stdout, /ingress of db\/pg[^]*NetworkPolicy tier/);
  t.notOk(hasStackTrace(r.stdout + r.stderr));

  const proto = runCli(['explain', '--manifests', dir, '--from', 'app/web', '--to', 'db/pg', '--port', '80']);
  t.match(proto.stdout, /ingress\[1\] `web-to-pg` Pass: no match: from\[0\] matches but no protocols entry does\n\s+protocols\[0\] TCP 5432: port 80 is not 5432/);
});

t.test('cluster policies: Admin Pass -> NetworkPolicy not isolated -> Baseline Deny', async (t) => {
  const dir = clusterPolicyDir();
  const r = runCli(['explain', '--manifests', dir, '--from', 'app/batch', '--to', 'db/pg', '--port', '5432']);
  t.match(r.stdout, /\negress of app\/batch: denied by baseline\/default\/egress\[1\]\n  tiers: Admin: Pass by admin\/delegate\/to-cluster -> NetworkPolicy: not isolated -> Baseline: baseline\/default\/egress\[1\] matched -> Deny\n/);
  t.match(r.stdout, /egress\[0\] `to-cluster` Pass: MATCHES: to\[0\] namespaces <all>; every protocol and port \(no protocols\) -> Pass/);
  t.match(r.stdout, /NetworkPolicy tier: no NetworkPolicy selects app\/batch for Egress \(not isolated\): next tier/);
  t.match(r.stdout, /egress\[0\] `nodes-ok` Accept: no match: no to entry matches 10\.244\.2\.10 \(pod db\/pg\)\n\s+to\[0\] nodes role=db: 10\.244\.2\.10 is no node's address/);

  // Pass, then a NetworkPolicy decides on both sides: allowed.
  const ok = runCli(['explain', '--manifests', dir, '--from', 'app/web', '--to', 'db/pg', '--port', '5432']);
  t.match(ok.stdout, /TCP\/5432: allowed/);
  t.match(ok.stdout, /egress of app\/web: allowed by app\/web-egress egress\[0\]\n  tiers: Admin: Pass by admin\/delegate\/to-cluster -> NetworkPolicy: app\/web-egress egress\[0\] -> allowed\n/);
  t.match(ok.stdout, /ingress of db\/pg: allowed by db\/pg-from-web ingress\[0\]\n  tiers: Admin: Pass by admin\/deny-db\/web-to-pg -> NetworkPolicy: db\/pg-from-web ingress\[0\] -> allowed\n/);
  t.match(ok.stdout, /  NetworkPolicy tier:\n    isolating policies \(Ingress\): db\/pg-from-web\n    policy db\/pg-from-web:\n      ingress\[0\]: MATCHES/);
});

t.test('cluster policies: the node exemption belongs to the NetworkPolicy tier', async (t) => {
  const dir = clusterPolicyDir();
  // app/web is isolated for egress by a NetworkPolicy: its own node (node-a) is exempt.
  const web = runCli(['explain', '--manifests', dir, '--from', 'app/web', '--to', '172.18.0.3', '--port', '22']);
  t.match(web.stdout, /-> 172\.18\.0\.3 \(node node-a; host-network pod ops\/agent, ignored by policy\) TCP\/22: allowed/);
  t.match(web.stdout, /egress of app\/web: allowed: own node \(NetworkPolicy always allows it\)\n  tiers: Admin: no rule matched -> NetworkPolicy: isolated, own node -> allowed\n/);
  t.match(web.stdout, /to\[0\] namespaces <all>: 172\.18\.0\.3 is not a pod; namespaces and pods peers select pods only/);
  // app/batch on the same node is not isolated: the Baseline decides, and denies its own node.
  const batch = runCli(['explain', '--manifests', dir, '--from', 'app/batch', '--to', '172.18.0.3', '--port', '22']);
  t.match(batch.stdout, /TCP\/22: DENIED/);
  t.match(batch.stdout, /tiers: Admin: no rule matched -> NetworkPolicy: not isolated -> Baseline: baseline\/default\/egress\[1\] matched -> Deny/);
  t.match(batch.stdout, /to\[0\] nodes role=db: 172\.18\.0\.3 belongs to node node-a \(labels kubernetes\.io\/hostname=node-a\), which the selector does not pick/);
  // The default: nothing decides ops/mon's ingress.
  const def = runCli(['explain', '--manifests', dir, '--from', 'db/pg', '--to', 'ops/mon', '--port', '80']);
  t.match(def.stdout, /ingress of ops\/mon: allowed: not isolated \(no NetworkPolicy selects the pod for Ingress and no cluster policy rule decided: the default allows\)\n  tiers: Admin: no policy selects the pod -> NetworkPolicy: not isolated -> Baseline: no rule matched -> default: allowed\n/);
  t.match(def.stdout, /Baseline tier, policies selecting ops\/mon in order: default \(priority 0\)\n    default: no ingress rules/);
});

t.test('cluster policies: rules that fail closed say so', async (t) => {
  const r = runCli(['explain', '--manifests', clusterPolicyDir(POLICIES + FAIL_CLOSED), '--from', 'ops/mon', '--to', 'db/pg', '--port', '5432']);
  t.match(r.stdout, /egress\[0\] `to-example` Accept: no match: no to entry matches .*\n\s+to\[0\] domainNames .*: a domainNames peer matches only addresses a node agent learned from DNS answers, and explain has none: --dns-status FILE/);
  t.match(r.stdout, /egress\[1\] `newer` Deny: MATCHES everything: it fails closed \(to\[0\] has no field this Palisade knows\), and a failed-closed Deny rule denies all traffic -> Deny/);
  t.match(r.stdout, /tiers: Admin: admin\/future\/newer fails closed -> Deny/);
});

t.test('cluster policies: -o json carries each side\'s tier walk', async (t) => {
  const r = runCli(['explain', '--manifests', clusterPolicyDir(), '--from', 'app/batch', '--to', 'db/pg', '--port', '5432', '-o', 'json']);
  t.equal(r.code, 0, r.stderr);
  const x = JSON.parse(r.stdout);
  t.equal(x.decision.allowed, false);
  t.same(x.tiers.egress.steps.map((s: { tier: string; outcome: string }) => `${s.tier}:${s.outcome}`), ['admin:pass', 'networkpolicy:pass', 'baseline:deny']);
  t.same(x.tiers.ingress.steps.map((s: { tier: string; outcome: string }) => `${s.tier}:${s.outcome}`), ['admin:deny']);
  t.match(x.tiers.ingress.steps[0], { policies: [{ policy: 'deny-db', priority: 10 }], rule: { policy: 'deny-db', index: 2, tier: 'admin', action: 'Deny', name: 'block-db' } });
  t.equal(x.tiers.ingress.steps[0].checks.length, 3, 'rules 0, 1 and 2 were checked');
  t.same(x.tiers.ingress.steps[0].checks[1], { ref: { policy: 'deny-db', direction: 'ingress', index: 1, tier: 'admin', action: 'Pass', name: 'web-to-pg' }, matched: false, effect: 'as-written', failedClause: 'peers' });
});
