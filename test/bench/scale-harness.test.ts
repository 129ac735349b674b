// The scale benchmark's harness on a small cluster: it must really list the cluster from the
// fake API server, compile this node's pods, and see every watch burst arrive (no figures are
// asserted: timing belongs to `npm run bench -- --only scale`).

import t from 'tap';
import { scaleBench } from '../../bench/scale.ts';
import { SCALE, isLocalPod, scaleObjects, type ScaleSpec } from '../../bench/scale-cluster.ts';

const spec: ScaleSpec = { pods: 2_000, namespaces: 20, policiesPerNamespace: 10, nodes: 40, localPods: 15, clusterPolicies: { admin: 6, baseline: 4, rulesPerPolicy: 25 } };

t.test('the scale cluster has the sizes it claims', async (t) => {
  let local = 0;
  for (let i = 0; i < SCALE.pods; i++) if (isLocalPod(i)) local++;
  t.equal(local, SCALE.localPods, '110 pods on this node');
  const counts: Record<string, number> = {};
  for (const o of scaleObjects(spec)) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  t.same(counts, { Node: 40, Namespace: 20, Pod: 2_000, NetworkPolicy: 200, ClusterNetworkPolicy: 10 });
});

t.test('list, compile, incremental and watch run end to end', async (t) => {
  const r = await scaleBench({ spec, reps: 2, watchRate: 400, watchSeconds: 1 });
  t.equal(r.objects, 40 + 20 + 2_000 + 200 + 10, 'every object served');
  t.ok((r.tables as number) > 0, 'this node got rule tables');
  t.equal(r.watch_events, 400, 'every offered event sent');
  t.equal(r.watch_bursts_unabsorbed, 0, 'every burst reached the state');
  t.same(Object.keys(r.incremental as object), ['remote_pod_relabel', 'local_pod_add', 'policy_update', 'cnp_update']);
});
