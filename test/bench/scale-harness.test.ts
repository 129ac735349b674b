// The scale benchmark's harness on a small cluster: it must really list the cluster from the
// fake API server, compile this node's pods, and see every watch burst arrive (no figures are
// asserted: timing belongs to `npm run bench -- --only scale`).

import t from 'tap';
import { scaleBench } from '../../bench/scale.ts';
import { SCALE, isLocalPod, scaleObjects, type ScaleSpec } from '../../bench/scale-cluster.ts';
import { ClusterPolicyChanges, largeClusterPolicy, type ClusterPolicyChange } from '../../bench/large-cluster-policies.ts';
import { clusterPolicyId, type ClusterPolicy } from '../../src/cluster/model.ts';
import { decodedClusterPolicy } from '../../support/raw-objects.ts';
import { prng } from '../../bench/prng.ts';

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
  const kinds = ['remote_pod_relabel', 'local_pod_add', 'policy_update', 'cnp_update', 'cnp_rule_edit', 'cnp_delete', 'cnp_add'];
  t.same(Object.keys(r.incremental as object), kinds, 'wall percentiles of every kind');
  t.same(Object.keys(r.incremental_cpu as object), kinds, 'CPU percentiles of every kind');
});

t.test('each cluster policy change changes what it says and nothing else', async (t) => {
  // The policies as the state holds them after each change, as the bench applies them (decoded).
  const cp = spec.clusterPolicies;
  const held = new Map<string, ClusterPolicy>();
  for (let c = 0; c < cp.admin + cp.baseline; c++) {
    const p = decodedClusterPolicy(largeClusterPolicy(c, {}, cp));
    held.set(clusterPolicyId(p), p);
  }
  const rules = (p: ClusterPolicy) => JSON.stringify([p.ingress, p.egress]);
  const changes = new ClusterPolicyChanges(prng(7), cp);
  const seen: Record<string, number> = {};
  for (let k = 0; k < 40; k++) {
    let deleted: ClusterPolicy | undefined;
    for (const ch of changes.round(k) as Generator<ClusterPolicyChange>) {
      seen[ch.kind] = (seen[ch.kind] ?? 0) + 1;
      if (ch.kind === 'delete') {
        deleted = held.get(ch.id);
        t.ok(held.delete(ch.id), `round ${k}: the deleted policy was there`);
        continue;
      }
      const now = decodedClusterPolicy(ch.policy);
      const id = clusterPolicyId(now);
      const before = held.get(id);
      if (ch.kind === 'priority') {
        t.not(now.priority, before!.priority, `round ${k}: the priority changes`);
        t.equal(rules(now), rules(before!), `round ${k}: the rules stay (an earlier rule edit is kept)`);
      } else if (ch.kind === 'rule_edit') {
        t.not(rules(now), rules(before!), `round ${k}: a rule changes`);
        t.equal(now.priority, before!.priority, `round ${k}: the priority stays`);
      } else {
        t.equal(before, undefined, `round ${k}: an add adds`);
        t.same(now, deleted, `round ${k}: the re-add is the version deleted`);
      }
      held.set(id, now);
    }
  }
  t.same(seen, { priority: 40, rule_edit: 40, delete: 40, add: 40 });
  // Priorities stay distinct within a tier: the order the policies have is still a total one.
  for (const tier of ['Admin', 'Baseline']) {
    const ps = [...held.values()].filter((p) => p.tier === tier).map((p) => p.priority);
    t.equal(new Set(ps).size, ps.length, `${tier}: distinct priorities`);
  }
});
