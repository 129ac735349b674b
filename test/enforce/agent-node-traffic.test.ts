// Pod <-> own node traffic under a ClusterNetworkPolicy, on the real kernel path (NFQUEUE):
// NetworkPolicy never judges it (the node is always allowed), so the agent leaves INPUT/OUTPUT
// alone, but an Admin egress Deny to `nodes` must drop a pod's new connection to its own node's
// address. That connection is local to the node (INPUT), not routed (FORWARD), so only the
// PALISADE-NODE chain (src/enforce/iptables.ts, filled while Agent.podMatch sets nodeTraffic)
// brings it to the judge.

import t from 'tap';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Topology, clusterYaml, startAgent, waitFor, must, run, statusReaders, upWithServers, PODS } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 43;
const NODE_PORT = 7000;
const topo = new Topology('nodetr');
t.teardown(() => topo.down());

// The node's addresses (both on va in the node namespace) are the Node's InternalIPs, so a
// `nodes` peer selecting it covers them; the label is what the policy selects.
const cluster = clusterYaml(NODE, [8080])
  .replace(`metadata: {name: ${NODE}}`, `metadata: {name: ${NODE}, labels: {role: worker}}`)
  .replace('address: 10.77.1.1}]', `address: 10.77.1.1}, {type: InternalIP, address: "${PODS.a.gw6}"}]`);

const DENY_NODES = `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: no-node-access}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {team: x}}}
  egress:
  - name: deny-nodes
    action: Deny
    to: [{nodes: {matchLabels: {role: worker}}}]
`;

/** A new TCP connection from pod b to its node's address (IPv4 10.77.1.1, IPv6 fd77:1::1). */
async function podToNode(family: 4 | 6): Promise<boolean> {
  const ip = family === 4 ? PODS.a.gw4 : PODS.a.gw6;
  const r = await run(topo.in(topo.ns.b, ['ncat', '-z', '-w', '1.5', ip, String(NODE_PORT)]));
  return r.code === 0;
}

/** A UDP datagram from pod b to its node, echoed back. */
async function podToNodeUdp(): Promise<boolean> {
  const token = `t${Math.random().toString(36).slice(2)}`;
  const r = await run(topo.in(topo.ns.b, ['socat', '-T', '1.5', '-', `UDP4:${PODS.a.gw4}:${NODE_PORT}`]), token + '\n');
  return r.stdout.includes(token);
}

t.test('pod -> own node under a ClusterNetworkPolicy (nfqueue)', async (t) => {
  const dir = await upWithServers(topo);
  // TCP and UDP echo servers in the node namespace itself (what a host-network pod would run).
  topo.spawn(topo.in(topo.node, ['socat', `TCP6-LISTEN:${NODE_PORT},fork,reuseaddr,ipv6only=0`, 'EXEC:cat']));
  // UDP bound to the node address: a wildcard socket would answer from the address of b's
  // gateway (10.77.2.1), which b's connected socket ignores.
  topo.spawn(topo.in(topo.node, ['socat', `UDP4-RECVFROM:${NODE_PORT},fork,bind=${PODS.a.gw4}`, 'EXEC:cat']));
  await waitFor('node servers', async () => (await run(topo.in(topo.node, ['ss', '-Hltun', `sport = :${NODE_PORT}`]))).stdout.split('\n').filter((l) => l.trim()).length >= 2);
  topo.writeFile('manifests/cluster.yaml', cluster);
  const statusFile = join(topo.dir, 'status.json');
  const agent = await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300'], statusFile);
  const { status } = statusReaders(topo, statusFile);
  const idSequence = async () => (await topo.queueStats()).get(QUEUE)!.idSequence;

  await t.test('without a cluster policy, pod <-> own node is allowed and never queued', async (t) => {
    const before = await idSequence();
    t.ok(await podToNode(4), 'b -> node:7000 (IPv4) connects');
    t.ok(await podToNode(6), 'b -> node:7000 (IPv6) connects');
    t.ok(await podToNodeUdp(), 'b -> node:7000 UDP is answered');
    t.equal(await idSequence(), before, 'nothing was queued (PALISADE-NODE is empty)');
    const rules = await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-NODE']));
    t.notMatch(rules, /-A PALISADE-NODE/, 'PALISADE-NODE has no rules');
  });

  await t.test('an Admin egress Deny to nodes drops new pod -> own node connections', async (t) => {
    const gen = status().generation;
    const writtenAt = Date.now();
    topo.writeFile('manifests/cnp.yaml', DENY_NODES);
    // The status generation counts as enforced once the engine and the rules are both updated.
    await waitFor('the cluster policy is enforced', () => (status().sourceSyncStartedAt ?? 0) >= writtenAt && status().generation > gen);
    t.same(status().sourceErrors, [], 'the policy decoded without errors');
    const before = await idSequence();
    t.notOk(await podToNode(4), 'b -> node:7000 (IPv4) is dropped');
    t.notOk(await podToNode(6), 'b -> node:7000 (IPv6) is dropped');
    t.notOk(await podToNodeUdp(), 'b -> node:7000 UDP gets no answer');
    t.ok((await idSequence()) > before, 'the connections were queued to the agent (PALISADE-NODE), not dropped elsewhere');
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 (pod to pod, no node) is still allowed');
    t.match(await must(topo.in(topo.node, ['iptables', '-S', 'INPUT'])), /-A INPUT .*-j PALISADE-NODE/, 'PALISADE-NODE is hooked into INPUT');
    t.match(await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-NODE'])), /-A PALISADE-NODE -j PALISADE-PODS/, 'PALISADE-NODE sends new connections to PALISADE-PODS');
  });

  await t.test('deleting the policy allows pod -> own node again and stops queueing it', async (t) => {
    const gen = status().generation;
    const writtenAt = Date.now();
    rmSync(join(dir, 'cnp.yaml'));
    await waitFor('the deletion is enforced', () => (status().sourceSyncStartedAt ?? 0) >= writtenAt && status().generation > gen);
    const before = await idSequence();
    t.ok(await podToNode(4), 'b -> node:7000 (IPv4) connects again');
    t.ok(await podToNode(6), 'b -> node:7000 (IPv6) connects again');
    t.ok(await podToNodeUdp(), 'b -> node:7000 UDP is answered again');
    t.equal(await idSequence(), before, 'nothing was queued');
    t.notMatch(await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-NODE'])), /-A PALISADE-NODE/, 'PALISADE-NODE is empty again');
  });
});
