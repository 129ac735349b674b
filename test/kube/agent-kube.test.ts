// `palisade agent --source kube` end to end: policies created through the (fake) API server drop
// real packets between pod namespaces.
//
// Layout: the agent must run in the node namespace (its iptables rules and NFQUEUE live there),
// and it must reach the API server. Rather than connect namespaces, the fake API server runs as
// its own process INSIDE the node namespace (support/fake-apiserver-main.ts, driven over
// stdin/stdout), and the agent reaches it on that namespace's 127.0.0.1. Nothing touches the
// root namespace's network.

import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { RemoteApiServer } from '../support/remote-apiserver.ts';
import { Topology, clusterYaml, serverPolicy, startAgent, waitFor, run, type AgentStatusFile } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 47;
const HEALTH_PORT = 19747;
const TOKEN = 'lab-token';
const topo = new Topology('kube');
t.teardown(() => topo.down());

async function readyz(): Promise<number> {
  const r = await run(topo.in(topo.node, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://127.0.0.1:${HEALTH_PORT}/readyz`]));
  return Number(r.stdout.trim());
}

t.test('agent --source kube enforces policies managed through the API server', async (t) => {
  await topo.up();
  await topo.servers('b', 8080);
  const api = new RemoteApiServer(topo, TOKEN);
  await api.ready;
  const kubeconfig = join(topo.dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeconfig(TOKEN));
  await api.apply(clusterYaml(NODE, [8080]));

  const statusFile = join(topo.dir, 'status.json');
  const agent = await startAgent(topo, [
    '--node', NODE, '--source', 'kube', '--kubeconfig', kubeconfig, '--backend', 'nfqueue', '--queue', String(QUEUE),
    '--health', `127.0.0.1:${HEALTH_PORT}`,
  ], statusFile);
  t.teardown(() => {
    agent.proc.kill('SIGTERM');
  });
  const status = () => topo.readJSON<AgentStatusFile>(statusFile)!;
  t.equal(await readyz(), 200, '/readyz: synced and rules installed');

  t.ok(await topo.tcp('a', 'b', 8080), 'no policy: a -> b open');
  t.ok(await topo.tcp('c', 'b', 8080), 'no policy: c -> b open');

  await api.apply(serverPolicy([8080]));
  await waitFor('policy from the API enforced: c -> b dropped', async () => !(await topo.tcp('c', 'b', 8080)));
  t.ok(await topo.tcp('a', 'b', 8080), 'a (role=client) still allowed');

  await api.call({ op: 'relabel', kind: 'Pod', key: 'x/c', labels: { app: 'c', role: 'client' } });
  await waitFor('relabelled c admitted', () => topo.tcp('c', 'b', 8080));
  await api.call({ op: 'relabel', kind: 'Pod', key: 'x/c', labels: { app: 'c', role: 'other' } });
  await waitFor('c denied again', async () => !(await topo.tcp('c', 'b', 8080)));

  // A broken update of the policy: rejected with the field named, the previous version stays.
  const broken = parseAllDocuments(serverPolicy([8080]))[0]!.toJS();
  broken.spec.ingress[0].from[0].podSelector.matchLabels = { role: 'client', 'bad key!': 'x' };
  await api.call({ op: 'apply', object: broken });
  await waitFor('rejection in the status file', () => status().sourceErrors.some((e) => e.includes('NetworkPolicy x/b-from-clients') && e.includes('matchLabels')));
  t.notOk(await topo.tcp('c', 'b', 8080), 'previous version still enforced: c denied');
  t.ok(await topo.tcp('a', 'b', 8080), 'previous version still enforced: a allowed');

  // Watches cut and history compacted: the agent relists and keeps up.
  await api.call({ op: 'compact' });
  await api.call({ op: 'remove', kind: 'NetworkPolicy', key: 'x/b-from-clients' });
  await waitFor('policy deletion seen after relist', () => topo.tcp('c', 'b', 8080), 20_000);
  // The status file is rewritten on its own schedule: wait for it rather than race it.
  await waitFor('rejection cleared in the status file', () => status().sourceErrors.length === 0);
  t.same(status().sourceErrors, [], 'the rejection went with the object');

  // API server gone: readiness drops, enforcement continues with the last state.
  await api.apply(serverPolicy([8080]));
  await waitFor('policy back', async () => !(await topo.tcp('c', 'b', 8080)));
  await api.call({ op: 'stop' });
  await waitFor('/readyz 503 while the API server is unreachable', async () => (await readyz()) === 503);
  t.notOk(await topo.tcp('c', 'b', 8080), 'still enforcing while disconnected');
  t.ok(await topo.tcp('a', 'b', 8080));
  await api.call({ op: 'start' });
  await waitFor('/readyz 200 after reconnecting', async () => (await readyz()) === 200, 20_000);
  t.equal(status().counters.errors, 0, 'no enforcer errors');
});
