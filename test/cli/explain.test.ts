// `palisade explain` names the deciding policy and rule, or for a deny each candidate rule and
// the clause that did not match.

import t from 'tap';
import { sampleCase } from '../conformance/sample-cases.ts';
import { caseManifestDir, hasStackTrace, runCli } from './run-cli.ts';

const byPrefix = (p: string) => sampleCase(p)!;
const have = ['001-', '017-', '035-', '900-', '910-'].every((p) => sampleCase(p));
if (!have) t.plan(0, 'the sample cases 001, 017, 035, 900 and 910 are not available');

if (have) t.test('deny by a named port that resolves elsewhere (017)', async (t) => {
  const dir = caseManifestDir(byPrefix('017-'), 0);
  const r = runCli(['explain', '--manifests', dir, '--from', 'y/a', '--to', 'x/b', '--port', '80']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^10\.244\.2\.1 \(pod y\/a\) -> 10\.244\.1\.2 \(pod x\/b\) TCP\/80: DENIED/);
  t.match(r.stdout, /egress of y\/a: allowed \(no NetworkPolicy selects the pod for Egress\)/);
  t.match(r.stdout, /ingress of x\/b: DENIED \(isolated by x\/allow-all; no rule allows it\)/);
  t.match(r.stdout, /ingress\[0\]: no match: from matches but no port does/);
  t.match(r.stdout, /ports\[0\] TCP port named "serve-81-tcp": "serve-81-tcp" on x\/b is port 81, not 80/);
  t.notOk(hasStackTrace(r.stdout + r.stderr));

  const ok = runCli(['explain', '--manifests', dir, '--from', 'y/a', '--to', 'x/b', '--port', '81']);
  t.match(ok.stdout, /TCP\/81: ALLOWED/);
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
  t.match(v4.stdout, /ALLOWED/);
  t.match(v4.stdout, /egress of x\/a: allowed by x\/x-a-egress egress\[0\]/);
  t.match(v4.stdout, /egress\[0\]: MATCHES: to\[0\] ipBlock 10\.244\.2\.0\/24; every port/);
});

if (have) t.test('node and except (900, 035)', async (t) => {
  const r = runCli(['explain', '--manifests', caseManifestDir(byPrefix('900-'), 0), '--from', '10.0.0.1', '--to', 'x/a', '--port', '80']);
  t.match(r.stdout, /10\.0\.0\.1 \(node node-1\) -> 10\.244\.1\.1 \(pod x\/a\) TCP\/80: ALLOWED/);
  t.match(r.stdout, /ingress of x\/a: allowed \(traffic from the pod's own node is always allowed\)/);
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
