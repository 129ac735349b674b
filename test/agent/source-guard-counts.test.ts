// The source guard's per-pod drop counts (palisade_spoofed_packets_total{pod}): a deleted pod's
// series goes with it, and its interface's last kernel count too (no double counting after).

import t from 'tap';
import { Registry } from 'prom-client';
import { ClusterState } from '../../src/cluster/state.ts';
import { SourceGuard } from '../../src/agent/source-guard.ts';

t.test('a deleted pod\'s spoofed-packet series goes away; what is still guarded keeps counting up', async (t) => {
  let dropped = new Map<string, number>();
  const kernel = {
    layout: 'nft',
    update: async () => true,
    read: async () => '',
    verify: async () => [],
    poll: async () => ({ droppedByIface: dropped, droppedNoIface: 0, forged: [] }),
  };
  const log = () => {};
  // The constructor is private (SourceGuard.open probes the node's tools); the kernel is faked here.
  const guard = new (SourceGuard as any)({ node: 'node-1', backend: 'nft', families: [4], failOpen: false, log }, kernel) as SourceGuard;
  const g = guard as any;
  const registry = new Registry();
  SourceGuard.registerMetrics(registry, () => guard);
  const series = async () => (await registry.metrics()).split('\n').filter((l) => l.startsWith('palisade_spoofed_packets_total{'));

  g.podOfIface = new Map([['veth-a', 'x/a'], ['veth-b', 'x/b']]);
  dropped = new Map([['veth-a', 5], ['veth-b', 2]]);
  await g.report('');
  t.same((await series()).sort(), ['palisade_spoofed_packets_total{pod="x/a"} 5', 'palisade_spoofed_packets_total{pod="x/b"} 2']);

  // Both pods are gone from the state (no local pods left: no route lookup is made).
  await guard.update(new ClusterState());
  t.same(await series(), [], 'no series for pods that no longer exist');
  t.equal(g.lastCount.size, 0, 'no last counts for interfaces no longer guarded');

  // x/a comes back on a new veth entry, counting from 0 in the kernel.
  g.podOfIface = new Map([['veth-a', 'x/a']]);
  dropped = new Map([['veth-a', 1]]);
  await g.report('');
  t.same(await series(), ['palisade_spoofed_packets_total{pod="x/a"} 1']);
  dropped = new Map([['veth-a', 4]]);
  await g.report('');
  t.same(await series(), ['palisade_spoofed_packets_total{pod="x/a"} 4'], 'counts up from there');
});
