// Observability of the running agent (NFQUEUE backend) on the real kernel path: the verdict log
// names the policy that denied a connection, once per connection; a policy's metric counts the
// connections its rules allowed; and the palisade.io/audit Namespace annotation turns enforcement
// into "would deny" for that namespace only, following the manifests as they change.
//
// Cluster: namespace x holds pods a (client) and b (server, ingress only from clients on 9090);
// namespace aud holds pod c (ingress denied to everyone). Only aud may carry the annotation.

import t, { type Test } from 'tap';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Topology, PODS, type PodName, startAgent, statusReaders, waitFor, must, run } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 48;
const METRICS = '127.0.0.1:9823';
const topo = new Topology('obs');
t.teardown(() => topo.down());

function pod(name: PodName, ns: string, labels: string, ports: readonly number[]): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {${labels}}}
spec:
  nodeName: ${NODE}
  containers: [{name: c, image: i, ports: [${ports.map((p) => `{containerPort: ${p}, protocol: TCP}`).join(', ')}]}]
status: {phase: Running, podIP: ${PODS[name].v4}, podIPs: [{ip: ${PODS[name].v4}}, {ip: "${PODS[name].v6}"}]}
`;
}

function cluster(audAnnotated: boolean): string {
  const ann = audAnnotated ? ', annotations: {palisade.io/audit: "true"}' : '';
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: x}}\n`,
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: aud, labels: {team: aud}${ann}}\n`,
    `apiVersion: v1\nkind: Node\nmetadata: {name: ${NODE}}\nstatus: {addresses: [{type: InternalIP, address: 10.77.1.1}]}\n`,
    pod('a', 'x', 'app: a, role: client', []),
    pod('b', 'x', 'app: b, role: server', [8080, 8081, 8082, 9090]),
    pod('c', 'aud', 'app: c', [8080]),
  ].join('---\n');
}

const POLICIES = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-clients-9090, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 9090, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-deny-ingress, namespace: aud}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

interface Line {
  verdict?: string;
  audit?: boolean;
  direction?: string;
  src?: { ip: string; pod?: string };
  dst?: { ip: string; pod?: string; port: number };
  protocol?: string;
  reason?: string;
  summary?: string;
}

t.test('observability with the nfqueue agent', async (t) => {
  await topo.up();
  for (const p of [8080, 8081, 8082, 9090]) await topo.servers('b', p);
  await topo.servers('c', 8080);
  const dir = join(topo.dir, 'manifests');
  await must(['mkdir', '-p', dir]);
  topo.writeFile('manifests/cluster.yaml', cluster(true));
  topo.writeFile('manifests/policy.yaml', POLICIES);
  const statusFile = join(topo.dir, 'status.json');
  const vlog = join(topo.dir, 'verdicts.jsonl');
  // No --audit: audit comes from the annotation only.
  const args = ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE),
    '--rescan-ms', '300', '--verdict-log', vlog, '--metrics', METRICS];
  await startAgent(topo, args, statusFile);
  const { status } = statusReaders(topo, statusFile);

  const lines = (): Line[] => {
    let text = '';
    try {
      text = readFileSync(vlog, 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Line);
  };
  const toPort = (port: number, dstPod: string) => lines().filter((l) => l.dst?.port === port && l.dst.pod === dstPod);
  // One curl attempt (no retries, connect timeout under the kernel's 1 s initial SYN
  // retransmission timeout): true when the TCP connection was established (time_connect > 0).
  const curlConnects = async (from: PodName, to: PodName, port: number): Promise<boolean> => {
    const r = await run(topo.in(topo.ns[from], ['curl', '-sS', '--connect-timeout', '0.9', '--max-time', '1.2',
      '-o', '/dev/null', '-w', '%{time_connect}', `http://${PODS[to].v4}:${port}/`]));
    return Number(r.stdout) > 0;
  };
  // Lines are appended in the order the agent judged, so once the line of a later marker
  // connection is in the file, every line of the connections before it is too.
  const settle = async (t: Test) => {
    const port = 8081;
    const before = toPort(port, 'x/b').length;
    t.notOk(await topo.tcp('a', 'b', port), `marker connection to b:${port} is denied`);
    await waitFor('marker line', () => toPort(port, 'x/b').length > before);
  };

  await t.test('a denied new TCP connection writes exactly one line naming policy, side, pods and port', async (t) => {
    t.notOk(await curlConnects('a', 'b', 8080), 'a -> b:8080 dropped (port not allowed)');
    await waitFor('verdict line for b:8080', () => toPort(8080, 'x/b').length > 0);
    await settle(t);
    const got = toPort(8080, 'x/b');
    t.equal(got.length, 1, 'one line for the one connection attempt');
    t.match(got[0], {
      verdict: 'deny', direction: 'ingress', protocol: 'TCP',
      src: { ip: PODS.a.v4, pod: 'x/a' }, dst: { ip: PODS.b.v4, pod: 'x/b', port: 8080 },
    }, 'verdict, side, pods and port');
    t.notOk(got[0]!.audit, 'not an audit line: x is enforced');
    t.match(got[0]!.reason, /ingress of x\/b: denied: isolated by x\/b-clients-9090/, 'the reason names the isolating policy and the side');
  });

  await t.test('SYN retransmissions of one denied connection do not add lines', async (t) => {
    // A 3.5 s connect timeout lets the kernel retransmit the SYN (after ~1 s and ~3 s): still one
    // connection attempt, from one socket and source port.
    const r = await run(topo.in(topo.ns.a, ['curl', '-sS', '--connect-timeout', '3.5', '--local-port', '41000', '-o', '/dev/null',
      `http://${PODS.b.v4}:8082/`]));
    t.equal(r.code, 28, 'the connection attempt timed out (dropped)');
    await settle(t);
    const got = toPort(8082, 'x/b');
    t.ok(got.length >= 1, 'the denied connection was logged');
    t.equal(got.length, 1, 'one line for one connection attempt, however many SYNs it sent');
    // The retransmitted SYNs were judged (and dropped) again, and counted as repeats.
    const repeats = await waitFor('repeats counted', () => {
      const n = (status().counters as Record<string, number>).verdictLogRepeats ?? 0;
      return n >= 1 ? n : undefined;
    });
    t.ok(repeats >= 1, `retransmissions counted as repeats (${repeats})`);
  });

  await t.test('an allowed connection is counted on its policy\'s metric', async (t) => {
    const metric = async (): Promise<number> => {
      const m = await must(topo.in(topo.node, ['curl', '-sS', `http://${METRICS}/metrics`]));
      const hit = /^palisade_policy_verdicts_total\{policy="x\/b-clients-9090",action="allow"\} (\d+(?:\.\d+)?)$/m.exec(m);
      return hit ? Number(hit[1]) : 0;
    };
    const before = await metric();
    t.ok(await topo.tcp('a', 'b', 9090), 'a -> b:9090 allowed');
    const after = await waitFor('allow metric incremented', async () => {
      const v = await metric();
      return v > before ? v : undefined;
    });
    t.equal(after - before, 1, 'counted once on x/b-clients-9090 allow');
  });

  await t.test('palisade.io/audit on a Namespace: denials into it pass and are logged as would-deny', async (t) => {
    t.ok(await topo.tcp('a', 'c', 8080), 'a -> aud/c:8080 passes (aud is in audit)');
    await waitFor('audit line for aud/c', () => toPort(8080, 'aud/c').some((l) => l.audit === true));
    const line = toPort(8080, 'aud/c').find((l) => l.audit === true)!;
    t.match(line, { verdict: 'deny', audit: true, direction: 'ingress', src: { pod: 'x/a' }, dst: { pod: 'aud/c', port: 8080 } }, 'would-deny line');
    t.match(line.reason, /ingress of aud\/c: denied: isolated by aud\/c-deny-ingress/, 'names the policy that would deny');
    t.notOk(await curlConnects('a', 'b', 8080), 'the same kind of denial into x (no annotation) is dropped');
    await settle(t);
    t.notOk(toPort(8080, 'x/b').some((l) => l.audit), 'no x/b line is marked audit');
    t.equal(status().counters.errors ?? 0, 0, 'no enforcer errors');
  });

  await t.test('removing the annotation re-enables enforcement in that namespace', async (t) => {
    topo.writeFile('manifests/cluster.yaml', cluster(false));
    await waitFor('a -> aud/c:8080 dropped again', async () => !(await topo.tcp('a', 'c', 8080)) || undefined, 20_000, 200);
    t.pass('a -> aud/c:8080 is dropped once the annotation is gone');
    await settle(t);
    const last = toPort(8080, 'aud/c').at(-1)!;
    t.match(last, { verdict: 'deny', dst: { pod: 'aud/c' } }, 'logged as a denial');
    t.notOk(last.audit, 'no longer marked audit');
    t.notOk(await topo.tcp('a', 'c', 8080), 'stays dropped');
    t.ok(await topo.tcp('a', 'b', 9090), 'allowed traffic still flows');
  });
});
