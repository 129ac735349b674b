// Queue only what needs judging (src/enforce/judged-sets.ts), on the real kernel path: the
// NFQUEUE agent in a node namespace, pods a b c in their own namespaces. Connections between
// pods no policy isolates never reach the agent (the kernel's queue counter and the agent's
// per-connection counters stay flat); connections of isolated pods always do; a policy that
// starts isolating a pod takes effect at once, and strict mode cuts that pod's established,
// never-queued connections; the watchdog puts flushed sets back; a stop removes them.

import t from 'tap';
import { join } from 'node:path';
import { PODS, Topology, clusterYaml, serverPolicy, B_NO_EGRESS, startAgent, waitFor, must, run, statusReaders, upWithServers } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 48;
const topo = new Topology('judged');
t.teardown(() => topo.down());

const queued = async (): Promise<number> => (await topo.queueStats()).get(QUEUE)?.idSequence ?? 0;
const setList = async (name: string): Promise<string[]> =>
  (await must(topo.in(topo.node, ['ipset', 'save', name]))).split('\n').filter((l) => l.startsWith('add ')).map((l) => l.split(' ')[2]!).sort();

const C_ISOLATED = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-deny-all, namespace: x}
spec:
  podSelector: {matchLabels: {app: c}}
  policyTypes: [Ingress]
`;

t.test('judged sets', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  const statusFile = join(topo.dir, 'status.json');
  const agent = await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue',
    '--queue', String(QUEUE), '--queues', '1', '--no-verdict-cache', '--rescan-ms', '300', '--rules-check-ms', '300'], statusFile);
  const { status, freshStatus } = statusReaders(topo, statusFile);
  const judgedCount = async (): Promise<number> => {
    return (await freshStatus()).counters.packets ?? -1;
  };
  const setPolicies = async (...docs: string[]) => {
    const gen = status().generation;
    topo.writeFile('manifests/policy.yaml', docs.join('---\n'));
    await waitFor('new generation enforced', () => status().generation > gen);
  };

  await t.test('the sets hold what the engine judges', async (t) => {
    t.same(await setList('PALISADE-INGRESS4'), [PODS.b.v4], 'b is isolated for ingress');
    t.same(await setList('PALISADE-INGRESS6'), [PODS.b.v6], 'IPv6 too');
    t.same(await setList('PALISADE-EGRESS4'), [], 'no pod is isolated for egress');
    t.same(await setList('PALISADE-KNOWN4'), [PODS.a.v4, PODS.b.v4, PODS.c.v4].sort(), 'every local pod is known');
    t.match(await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-PODS'])), /-m set --match-set PALISADE-INGRESS4 dst -j PALISADE-QUEUE/);
  });

  await t.test('connections between pods no policy isolates never leave the kernel', async (t) => {
    const q0 = await queued();
    const j0 = await judgedCount();
    for (let i = 0; i < 3; i++) t.ok(await topo.tcp('a', 'c', 8080), `a -> c:8080 TCP #${i + 1} allowed`);
    t.ok(await topo.tcp('a', 'c', 8080, 6), 'a -> c:8080 over IPv6 allowed');
    t.ok(await topo.udp('a', 'c', 8080), 'a -> c:8080 UDP allowed');
    t.ok(await topo.tcp('b', 'c', 8080), 'b -> c:8080 allowed (b is isolated for ingress only)');
    t.equal(await queued(), q0, 'nothing was queued');
    t.equal(await judgedCount(), j0, "the agent's per-connection counters stayed flat");
  });

  await t.test('connections of isolated pods always do', async (t) => {
    const q0 = await queued();
    const j0 = await judgedCount();
    for (let i = 0; i < 3; i++) t.ok(await topo.tcp('a', 'b', 8080), `a -> b:8080 #${i + 1} allowed by the policy`);
    t.notOk(await topo.tcp('c', 'b', 8080), 'c -> b:8080 denied');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6 judged too');
    t.ok((await queued()) - q0 >= 5, 'every new connection to b was queued');
    t.ok((await judgedCount()) - j0 >= 5, 'and counted by the agent');
  });

  await t.test('a policy that starts isolating a pod takes effect at once, strict mode cuts its old flows', async (t) => {
    const session = topo.spawn(topo.in(topo.ns.a, ['socat', '-', `TCP4:${PODS.c.v4}:8080`]));
    let got = '';
    session.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
    session.stdin!.write('before\n');
    await waitFor('echo before', () => got.includes('before\n'));
    const cut0 = status().flowsCut;
    await setPolicies(serverPolicy([8080]), C_ISOLATED);
    t.same(await setList('PALISADE-INGRESS4'), [PODS.b.v4, PODS.c.v4].sort(), 'c joined the ingress set');
    t.notOk(await topo.tcp('a', 'c', 8080), 'a -> c:8080 is denied at once');
    t.notOk(await topo.tcp('a', 'c', 8080, 6), 'IPv6 too');
    await waitFor('the never-queued flow to c is cut', () => status().flowsCut > cut0 || undefined);
    session.stdin!.write('after\n');
    await new Promise((r) => setTimeout(r, 1500));
    t.notOk(got.includes('after\n'), 'nothing passes on it any more');
    session.kill('SIGKILL');
  });

  await t.test('egress isolation queues the pod as a source', async (t) => {
    await setPolicies(serverPolicy([8080]), B_NO_EGRESS);
    t.same(await setList('PALISADE-EGRESS4'), [PODS.b.v4], 'b is isolated for egress');
    t.same(await setList('PALISADE-INGRESS4'), [PODS.b.v4], 'c left the ingress set');
    t.ok(await topo.tcp('a', 'c', 8080), 'a -> c:8080 allowed again');
    const q0 = await queued();
    t.notOk(await topo.tcp('b', 'c', 8080), 'b -> c:8080 denied (b may not open anything)');
    t.ok((await queued()) > q0, 'it was queued');
  });

  await t.test('the watchdog puts back a flushed set', async (t) => {
    const restored0 = (status() as unknown as { rulesRestored: number }).rulesRestored;
    await must(topo.in(topo.node, ['ipset', 'flush', 'PALISADE-EGRESS4']));
    await waitFor('set restored', async () => (await setList('PALISADE-EGRESS4')).length === 1 || undefined);
    t.same(await setList('PALISADE-EGRESS4'), [PODS.b.v4], 'the entry is back');
    // The status file is rewritten right after the restoration (and every second).
    await waitFor('restoration counted', () => (status() as unknown as { rulesRestored: number }).rulesRestored > restored0 || undefined);
    t.pass('counted as a restoration');
    t.match(agent.log(), /set PALISADE-EGRESS4 altered/, 'and logged');
    t.notOk(await topo.tcp('b', 'c', 8080), 'b -> c:8080 is judged (denied) again');
  });

  await t.test('a stop removes the sets', async (t) => {
    agent.proc.kill('SIGTERM');
    await waitFor('agent exited', () => agent.proc.exitCode !== null || undefined, 15_000);
    t.notMatch((await run(topo.in(topo.node, ['ipset', 'list', '-n']))).stdout, /PALISADE-/, 'sets destroyed');
  });
});
