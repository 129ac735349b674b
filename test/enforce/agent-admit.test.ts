// Kernel admission on the real kernel path (src/agent/admit-wiring.ts, src/enforce/admit-sets.ts):
// the NFQUEUE agent in its default configuration, pods a b c. b accepts TCP 8080 from role=client
// (pod a) and TCP 9090 from c's network (an ipBlock). First connections those rules allow are
// accepted by the kernel from PALISADE-ADMIT4/6 (the queue's counter and the agent's
// per-connection counters stay flat) and still counted per policy; connections they deny still
// reach the agent and are dropped; a rule change closes what it no longer allows before the
// generation counts as enforced, and the new generation's entries come back.

import t from 'tap';
import { join } from 'node:path';
import { PODS, Topology, clusterYaml, startAgent, waitFor, must, run, statusReaders, upWithServers } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 51;
const METRICS = '127.0.0.1:9836';
const topo = new Topology('admit');
t.teardown(() => topo.down());

const queued = async (): Promise<number> => (await topo.queueStats()).get(QUEUE)?.idSequence ?? 0;
const members = async (name: string): Promise<string[]> =>
  (await run(topo.in(topo.node, ['ipset', 'save', name]))).stdout.split('\n').filter((l) => l.startsWith('add ')).map((l) => l.split(' ')[2]! + (l.includes(' nomatch') ? ' nomatch' : '')).sort();
const scrape = async (): Promise<string> => must(topo.in(topo.node, ['curl', '-s', `http://${METRICS}/metrics`]));
const allowedBy = async (policy: string): Promise<number> => {
  const m = new RegExp(`palisade_policy_verdicts_total\\{policy="[^"]*${policy}",action="allow"\\} (\\d+)`).exec(await scrape());
  return m ? Number(m[1]) : 0;
};

const policy = (withBlock: boolean): string => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-ingress, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 8080, protocol: TCP}]
${withBlock ? `  - from: [{ipBlock: {cidr: 10.77.3.0/24}}]
    ports: [{port: 9090, protocol: TCP}]
` : ''}`;

t.test('kernel admission', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
  topo.writeFile('manifests/policy.yaml', policy(true));
  const statusFile = join(topo.dir, 'status.json');
  const agent = await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue',
    '--queue', String(QUEUE), '--queues', '1', '--rescan-ms', '300', '--metrics', METRICS], statusFile);
  t.teardown(() => agent.proc.kill('SIGKILL'));
  const { status, freshStatus } = statusReaders(topo, statusFile);
  const judged = async (): Promise<number> => (await freshStatus()).counters.packets ?? -1;
  const setPolicy = async (doc: string) => {
    const gen = status().generation;
    topo.writeFile('manifests/policy.yaml', doc);
    await waitFor('new generation enforced', () => status().generation > gen);
  };
  const B = PODS.b;

  await t.test('the sets hold what the rules allow b to accept', async (t) => {
    await waitFor('entries installed', async () => (await members('PALISADE-ADMIT4')).length > 0 || undefined);
    t.same(await members('PALISADE-ADMIT4'), [`${B.v4},tcp:8080,${PODS.a.v4}`, `${B.v4},tcp:9090,10.77.3.0/24`].sort(), 'a on 8080, c\'s network on 9090');
    t.same(await members('PALISADE-ADMIT6'), [`${B.v6},tcp:8080,${PODS.a.v6}`], 'IPv6: a on 8080 (the ipBlock is IPv4)');
    t.match(await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-ADMIT'])), /--match-set PALISADE-ADMIT4 dst,dst,src/);
  });

  await t.test('first connections the rules allow never leave the kernel, and are counted', async (t) => {
    const q0 = await queued(), j0 = await judged(), a0 = await allowedBy('b-ingress');
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'a -> b:8080 over IPv6');
    t.ok(await topo.tcp('c', 'b', 9090), 'c -> b:9090 (c\'s network)');
    t.equal(await queued(), q0, 'nothing was queued');
    t.equal(await judged(), j0, "the agent's per-connection counters stayed flat");
    // No wait: a scrape reads the kernel's counters before it answers.
    t.equal((await allowedBy('b-ingress')) - a0, 3, 'the policy counts all three allowed connections, at the first scrape');
  });

  await t.test('connections the rules deny still go to the agent, which drops them', async (t) => {
    const q0 = await queued();
    t.notOk(await topo.tcp('c', 'b', 8080), 'c -> b:8080 denied');
    t.notOk(await topo.tcp('a', 'b', 9090), 'a -> b:9090 denied (a is not in c\'s network)');
    t.ok((await queued()) - q0 >= 2, 'both were queued');
  });

  await t.test('a rule change closes what it no longer allows before it counts as enforced', async (t) => {
    const emptied = (await freshStatus()).counters.kernelAdmitEmptied ?? 0;
    await setPolicy(policy(false));
    // The new entries are usually in place by now too, so the denial alone cannot tell that the
    // old ones went first: the sets' own count of emptyings before a generation judged does.
    t.ok(status().counters.kernelAdmitEmptied! > emptied, 'the sets were emptied for the new generation');
    t.notOk(await topo.tcp('c', 'b', 9090), 'c -> b:9090 is denied at once');
    await waitFor('entries of the new generation', async () => (await members('PALISADE-ADMIT4')).length === 1 || undefined);
    t.same(await members('PALISADE-ADMIT4'), [`${B.v4},tcp:8080,${PODS.a.v4}`], 'only a on 8080 is left');
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 still allowed');
    await setPolicy(policy(true));
    await waitFor('the network entry is back', async () => (await members('PALISADE-ADMIT4')).length === 2 || undefined);
    const q0 = await queued();
    t.ok(await topo.tcp('c', 'b', 9090), 'c -> b:9090 allowed again');
    t.equal(await queued(), q0, 'from the kernel');
  });

  await t.test('a pod range of the cluster is one network entry, and the return set holds its known addresses', async (t) => {
    // Another node whose spec.podCIDRs covers a, b and c's addresses (overlapping this node's
    // pods is no error here; it is what makes the range matter for b's sources), and b open on
    // 8080 to every pod of x: most sources of the range are allowed there.
    topo.writeFile('manifests/node2.yaml', 'apiVersion: v1\nkind: Node\nmetadata: {name: n2}\nspec: {podCIDRs: [10.77.0.0/16]}\nstatus: {addresses: [{type: InternalIP, address: 10.78.0.1}]}\n');
    await setPolicy(policy(true).replace('{podSelector: {matchLabels: {role: client}}}', '{podSelector: {}}'));
    await waitFor('entries with the range', async () => (await members('PALISADE-ADMIT4')).some((m) => m.endsWith('10.77.0.0/16')) || undefined);
    t.same(await members('PALISADE-ADMIT4'), [
      `${B.v4},tcp:8080,10.77.0.0/16`, `${B.v4},tcp:8080,10.77.1.1 nomatch`, `${B.v4},tcp:9090,10.77.3.0/24`,
    ].sort(), 'a and c on 8080 through the range, this node\'s address its exception; c\'s network on 9090');
    t.same(await members('PALISADE-ADMITRET4'), ['10.77.0.0/16', `${PODS.a.v4} nomatch`, `${B.v4} nomatch`, `${PODS.c.v4} nomatch`, '10.77.1.1 nomatch'].sort(),
      'the return set: the range, with every pod and node address in it as an exception');
    const q0 = await queued();
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 admitted by the range entry');
    t.ok(await topo.tcp('c', 'b', 8080), 'c -> b:8080 too');
    t.equal(await queued(), q0, 'from the kernel');
    t.notOk(await topo.tcp('a', 'b', 9090), 'a -> b:9090 still denied');
    t.ok((await queued()) > q0, 'by the agent');
  });

  await t.test('a stop removes the sets', async (t) => {
    agent.proc.kill('SIGTERM');
    await waitFor('agent exited', () => agent.proc.exitCode !== null || undefined, 15_000);
    t.notMatch((await run(topo.in(topo.node, ['ipset', 'list', '-n']))).stdout, /PALISADE-ADMIT/, 'sets destroyed');
  });
});
