// A pod whose address another pod wins for policy (a Pending pod holding the IP of a Running
// one: evaluator.ts's "the pod in phase Running wins, then the smallest namespace/name") is not
// what policy judges at that address. Before, matrix printed a row and a column under its name
// holding the winner's verdicts, and verify / explain answered a probe naming it with the
// winner's verdict under its name (b/b1 -> a/srv "DENY", though namespace b is allowed in).

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasStackTrace, runCli, tmpDir } from './run-cli.ts';

const CLUSTER = `apiVersion: v1
kind: Pod
metadata: {name: a1, namespace: a, labels: {app: x}}
spec: {containers: [{name: c}]}
status: {phase: Running, podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b1, namespace: b, labels: {app: y}}
spec: {containers: [{name: c}]}
status: {phase: Pending, podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: srv, namespace: a, labels: {app: srv}}
spec: {containers: [{name: c}]}
status: {phase: Running, podIP: 10.1.0.9}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: srv, namespace: a}
spec:
  podSelector: {matchLabels: {app: srv}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}}]}]
`;

const dir = tmpDir('palisade-taken-');
writeFileSync(join(dir, 'cluster.yaml'), CLUSTER);
const probes = join(tmpDir('palisade-taken-probes-'), 'probes.yaml');
writeFileSync(probes, '- {from: b/b1, to: a/srv, port: 80}\n');

const CASES: { name: string; args: string[]; code: number; stdout?: RegExp; notStdout?: RegExp; stderr: RegExp }[] = [
  {
    name: 'matrix leaves the losing pod out and says whose address it is',
    args: ['matrix', '--manifests', dir, '--port', '80'],
    code: 0,
    stdout: /^- *\ta\/a1 *\ta\/srv\n/,
    notStdout: /b\/b1/,
    // In connlist's words (one fact, one phrase), with whose address it is.
    stderr: /note: left out: b\/b1 \(its address is another pod's for policy: 10\.1\.0\.1 is a\/a1's\)\n/,
  },
  {
    name: 'verify refuses a probe naming it, naming the probe field and the winner',
    args: ['verify', '--manifests', dir, '--probes', probes],
    code: 2,
    stderr: /probe\[0\]\.from: pod b\/b1 does not own 10\.1\.0\.1 for policy: pod a\/a1 holds it too and wins/,
  },
  {
    name: 'explain refuses it the same way, naming the flag',
    args: ['explain', '--manifests', dir, '--from', 'a/srv', '--to', 'b/b1', '--port', '80'],
    code: 2,
    stderr: /--to: pod b\/b1 does not own 10\.1\.0\.1 for policy: pod a\/a1/,
  },
  {
    name: 'connlist names it among the pods that are no endpoints',
    args: ['connlist', '--manifests', dir],
    code: 0,
    notStdout: /b\/b1/,
    stderr: /note: left out: b\/b1 \(its address is another pod's for policy\)/,
  },
  {
    name: 'the winner itself is explained as before',
    args: ['explain', '--manifests', dir, '--from', 'a/a1', '--to', 'a/srv', '--port', '80'],
    code: 0,
    stdout: /^10\.1\.0\.1 \(pod a\/a1\) -> 10\.1\.0\.9 \(pod a\/srv\) TCP\/80: DENIED/,
    stderr: /^(?![\s\S]*does not own)/,
  },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const r = runCli(c.args);
    t.equal(r.code, c.code, r.stderr);
    t.notOk(hasStackTrace(r.stderr));
    if (c.stdout) t.match(r.stdout, c.stdout);
    if (c.notStdout) t.notMatch(r.stdout, c.notStdout);
    t.match(r.stderr, c.stderr);
    if (c.code === 2) t.equal(r.stderr.split('\n').filter((l) => l.includes('does not own')).length, 1, 'one line');
  });
}
