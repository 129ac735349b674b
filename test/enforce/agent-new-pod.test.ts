// A pod that starts before its IP reaches the agent: the Node's spec.podCIDRs put its whole range
// under the agent's judgement, and an address in it that no known pod holds is dropped
// (fail-closed) until the Pod object arrives; from then on it is judged by policy. Real kernel
// path: node namespace routing between pod namespaces, `palisade agent --backend nfqueue`.

import t from 'tap';
import { join } from 'node:path';
import { Topology, PODS, serverPolicy, startAgent, waitFor, must, statusReaders, type PodName, upWithServers } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 45;
const topo = new Topology('npod');
t.teardown(() => topo.down());

function pod(name: PodName, labels: string): string {
  const p = PODS[name];
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: x, labels: {${labels}}}
spec:
  nodeName: ${NODE}
  containers: [{name: c, image: i, ports: [{containerPort: 8080, protocol: TCP}, {containerPort: 9090, protocol: TCP}]}]
status: {phase: Running, podIP: ${p.v4}, podIPs: [{ip: ${p.v4}}, {ip: "${p.v6}"}]}
`;
}

// Node n1 owns the pod ranges 10.77.0.0/16 and fd77::/16. Pod a is running (its namespace has
// 10.77.1.2) but its Pod object is not in the manifests yet.
function cluster(withA: boolean): string {
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: x}}\n`,
    `apiVersion: v1\nkind: Node\nmetadata: {name: ${NODE}}\nspec: {podCIDRs: [10.77.0.0/16, "fd77::/16"]}\nstatus: {addresses: [{type: InternalIP, address: 10.77.1.1}]}\n`,
    ...(withA ? [pod('a', 'app: a, role: client')] : []),
    pod('b', 'app: b, role: server'),
    pod('c', 'app: c, role: other'),
  ].join('---\n');
}

t.test('a pod whose IP is not known yet is isolated, then judged by policy', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', cluster(false));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  const statusFile = join(topo.dir, 'status.json');
  await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300'], statusFile);
  const { status } = statusReaders(topo, statusFile);

  await t.test('the node pod CIDRs are queued', async (t) => {
    t.match(await must(topo.in(topo.node, ['iptables', '-S'])), '-s 10.77.0.0/16', 'IPv4 pod range selected');
    t.match(await must(topo.in(topo.node, ['ip6tables', '-S'])), '-s fd77::/16', 'IPv6 pod range selected');
  });

  await t.test('unknown pod a cannot open connections (fail-closed)', async (t) => {
    for (const fam of [4, 6] as const) {
      t.notOk(await topo.tcp('a', 'b', 8080, fam), `IPv${fam} a -> b:8080 (isolated pod) dropped`);
      t.notOk(await topo.tcp('a', 'c', 8080, fam), `IPv${fam} a -> c:8080 (non-isolated pod) dropped`);
    }
    t.notOk(await topo.tcp('c', 'b', 8080), 'known pods are still judged by policy: c -> b:8080 denied');
    t.ok(await topo.tcp('c', 'b', 9090) === false, 'c -> b:9090 denied');
    // The status file is rewritten every second; the drops above must show up under their reason.
    const n = await waitFor('unknown-local-pod counted', () => {
      const r = topo.readJSON<{ reasons?: Record<string, number> }>(statusFile)?.reasons?.['unknown-local-pod'] ?? 0;
      return r >= 4 ? r : undefined;
    });
    t.ok(n >= 4, `drops counted as unknown-local-pod (${n})`);
    t.ok(status().ready, 'agent still ready');
  });

  await t.test('once the Pod object arrives, a is judged by policy', async (t) => {
    topo.writeFile('manifests/cluster.yaml', cluster(true));
    // The files source rescans every 300 ms; poll until the allowed connection passes.
    await waitFor('a -> b:8080 allowed', () => topo.tcp('a', 'b', 8080), 20_000, 200);
    t.pass('IPv4 a -> b:8080 allowed (role=client)');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6 a -> b:8080 allowed');
    t.ok(await topo.tcp('a', 'c', 8080), 'a -> c:8080 allowed (c is not isolated)');
    t.notOk(await topo.tcp('a', 'b', 9090), 'a -> b:9090 denied (port not in the policy)');
  });
});
