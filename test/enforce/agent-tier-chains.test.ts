// The agent's side of tier chains (src/policy/tier-tables.ts): an update that reaches more
// Admin or Baseline tables than the engine builds at once publishes chains of per-policy tables
// in their place, and the agent builds the combined tables after it, a few per event-loop turn
// (idle-converge.ts). Real agent, real NFQUEUE, real connections: the edited policy is
// enforced at once, the chains are gone shortly after (status file), and the answers stay.
//
// The cluster: Admin policy `guard` selects every pod of namespace x, `c-extra` only pod c, so
// the Admin ingress tables are [guard] (pods a and b) and [guard, c-extra] (pod c); an edit of
// guard's rule reaches both, one more than the engine's default build per update.

import t from 'tap';
import { join } from 'node:path';
import { Topology, clusterYaml, startAgent, waitFor, statusReaders, upWithServers } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 47;
const topo = new Topology('tchain');
t.teardown(() => topo.down());

const guard = (port: number) => `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {team: x}}}
  ingress:
  - name: no-${port}
    action: Deny
    from: [{namespaces: {}}]
    protocols: [{tcp: {destinationPort: {number: ${port}}}}]
`;
const C_EXTRA = `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: c-extra}
spec:
  tier: Admin
  priority: 20
  subject: {pods: {namespaceSelector: {matchLabels: {team: x}}, podSelector: {matchLabels: {app: c}}}}
  ingress:
  - name: c-from-a
    action: Accept
    from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: a}}}}]
`;

interface ChainStatus { generation: number; sourceSyncStartedAt?: number; sourceErrors: string[]; tierChains?: { pending: number; made: number } }

t.test('a cluster policy edit reaching two tier tables: enforced at once, converged after', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
  topo.writeFile('manifests/guard.yaml', guard(9090));
  topo.writeFile('manifests/c-extra.yaml', C_EXTRA);
  const statusFile = join(topo.dir, 'status.json');
  await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300'], statusFile);
  const { status: anyStatus } = statusReaders(topo, statusFile);
  const status = () => anyStatus() as unknown as ChainStatus;

  t.same(status().tierChains, { pending: 0, made: 0 }, 'the first compile builds every table (no chains)');
  t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 allowed');
  t.notOk(await topo.tcp('a', 'b', 9090), 'a -> b:9090 denied by guard');
  t.ok(await topo.tcp('a', 'c', 8080), 'a -> c:8080 allowed (c-extra accepts)');

  const gen = status().generation;
  const writtenAt = Date.now();
  topo.writeFile('manifests/guard.yaml', guard(8080));
  await waitFor('the edit is enforced', () => (status().sourceSyncStartedAt ?? 0) >= writtenAt && status().generation > gen);
  t.same(status().sourceErrors, []);
  // Whether a connection below meets the chain or the built table depends on timing; the
  // answers must not, and the differential test compares both forms rule by rule.
  t.notOk(await topo.tcp('a', 'b', 8080), 'a -> b:8080 now denied by guard');
  t.notOk(await topo.tcp('a', 'c', 8080), 'a -> c:8080 denied: guard (priority 10) comes before c-extra');
  t.ok(await topo.tcp('a', 'b', 9090), 'a -> b:9090 allowed again');

  const converged = await waitFor('the chains are converged', () => {
    const c = status().tierChains;
    return c && c.made > 0 && c.pending === 0 ? c : undefined;
  });
  t.ok(converged.made >= 1, `the edit published ${converged.made} chain(s), all built since`);
  t.notOk(await topo.tcp('a', 'b', 8080), 'after convergence: a -> b:8080 still denied');
  t.notOk(await topo.tcp('a', 'c', 8080), 'after convergence: a -> c:8080 still denied');
  t.ok(await topo.tcp('a', 'b', 9090), 'after convergence: a -> b:9090 still allowed');
  t.ok(await topo.tcp('a', 'c', 8080, 6) === false, 'IPv6 agrees: a -> c:8080 denied');
});
