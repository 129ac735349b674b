// The status file before the first sync: while the API server is slow or refuses some kinds, the
// agent's status says it waits for its first sync and for which kinds, instead of nothing. The
// agent is only constructed (its start programs iptables); the source it is given is started here.

import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.ts';
import { KubeSource } from '../../src/sources/kube-source.ts';
import { FakeApiServer, type FakeKind } from '../../support/fake-apiserver.ts';
import { seed, waitFor } from '../support/kube-fixtures.ts';
import { KINDS } from '../../src/cluster/kinds.ts';

const quiet = () => {};

async function setup(t: Test) {
  const server = await FakeApiServer.start({ token: 'tok' });
  seed(server);
  const dir = mkdtempSync(join(tmpdir(), 'palisade-status-waiting-'));
  const source = new KubeSource({ kubeconfig: server.writeKubeconfig(join(dir, 'kubeconfig')), nodeName: 'node-1', backoffInitialMs: 50, backoffMaxMs: 200, resyncMs: 0, log: quiet });
  t.teardown(async () => {
    await source.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const statusFile = join(dir, 'status.json');
  const agent = new Agent({ source, node: 'node-1', backend: 'nfqueue', statusFile, log: quiet });
  const read = async () => {
    await agent.writeStatus();
    return JSON.parse(readFileSync(statusFile, 'utf8'));
  };
  return { server, source, agent, read };
}

t.test('the status says which kinds the first sync still waits for', async (t) => {
  const cases: { name: string; refused: FakeKind[]; pending: string[] }[] = [
    { name: 'pods refused', refused: ['Pod'], pending: ['Pod'] },
    { name: 'nodes and policies refused', refused: ['Node', 'NetworkPolicy'], pending: ['Node', 'NetworkPolicy'] },
  ];
  for (const c of cases) {
    const { server, source, agent, read } = await setup(t);
    for (const k of c.refused) server.forbidden.add(k);
    const started = source.start(agent.state).catch(() => {});
    await waitFor(`${c.name}: every other kind listed`, () => source.pending().length === c.pending.length && source.status().resources[c.refused[0]!].errors > 0);
    const s = await read();
    t.equal(s.ready, false, `${c.name}: not ready`);
    t.equal(s.enforcing, false, `${c.name}: not enforcing`);
    t.same(s.waitingForFirstSync?.pending, c.pending, `${c.name}: the kinds still pending`);
    t.ok(Date.parse(s.waitingForFirstSync?.since) <= Date.now(), `${c.name}: since when`);
    t.ok(s.notReadyReasons.includes('cluster state not fully listed yet'), `${c.name}: the reason`);
    for (const k of c.refused) server.forbidden.delete(k);
    await started;
    // (The agent drops the section once its start sees the sync; not started here, it keeps it.)
    t.same((await read()).waitingForFirstSync?.pending, [], `${c.name}: nothing pending once the source synced`);
  }
});

t.test('an API server out of reach: every kind pending', async (t) => {
  const { server, source, agent, read } = await setup(t);
  await server.stop();
  const started = source.start(agent.state).catch(() => {});
  await waitFor('a failed list', () => source.status().resources.Pod.errors > 0);
  t.same([...(await read()).waitingForFirstSync.pending].sort(), KINDS.map((k) => k.kind).sort(), 'every kind of the registry');
  await source.stop();
  await started;
});
