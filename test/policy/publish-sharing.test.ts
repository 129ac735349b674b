// An incremental update must not copy what grows with the cluster: the snapshot it publishes
// shares every page of slot records and pod address maps it did not write with the snapshot
// before (word-pages.ts). Copying them whole was megabytes of garbage per update at 150,000 pods,
// and the full-heap marking it set off landed in later updates (docs/speed-history.md, "At Kubernetes' scale
// limits"). Whether the shared pages still answer right is slot-records.test.ts's and the
// differential tests' part; this counts the pages each kind of update copies.

import t from 'tap';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import type { RuleSnapshot } from '../../src/policy/engine-api.ts';
import { LOCAL_NODE, SCALE, isLocalPod, scaleObjects, scalePod, scalePolicy, type ScaleSpec } from '../../bench/scale-cluster.ts';

// 20,000 pods: 79 pages of slot records, 64 + 128 pages of IPv4 + IPv6 address map.
const spec: ScaleSpec = {
  ...SCALE, pods: 20_000, namespaces: 100, policiesPerNamespace: 3, nodes: 200, localPods: 20,
  clusterPolicies: { admin: 2, baseline: 2, rulesPerPolicy: 3 },
};

interface Inside {
  readonly slotPages: readonly Int32Array[];
  readonly pods4: { readonly pages: readonly Int32Array[] };
  readonly pods6: { readonly pages: readonly Int32Array[] };
}
const inside = (s: RuleSnapshot) => s as unknown as Inside;

/** Pages of `now` that are not the same object as `before`'s page at that index. */
function copied(before: readonly Int32Array[], now: readonly Int32Array[]): number {
  let n = 0;
  for (let i = 0; i < now.length; i++) if (now[i] !== before[i]) n++;
  return n;
}

t.test('an update copies the pages it writes, not the slot records or address maps', async (t) => {
  const state = new ClusterState();
  state.batch(() => {
    for (const o of scaleObjects(spec)) state.upsert(o.kind, o.object as never);
  });
  const engine = new CompiledEngine(state, { localNode: LOCAL_NODE });
  state.onChange((ch) => engine.update(ch));
  const first = inside(engine.snapshot());
  const pages = { records: first.slotPages.length, ipv4: first.pods4.pages.length, ipv6: first.pods6.pages.length };
  t.ok(pages.records >= 70 && pages.ipv4 >= 30 && pages.ipv6 >= 120, `the cluster spans many pages: ${JSON.stringify(pages)}`);

  let remote = 1;
  while (isLocalPod(remote, spec)) remote++;
  const updates: [string, () => void, number][] = [
    // One record rewritten, no address: at most one page of records.
    ['remote pod relabel', () => {
      const pod = state.pods.get(`ns-${remote % spec.namespaces}/pod-${remote}`)!;
      state.upsertPod({ ...pod, labels: { ...pod.labels, version: 'v-new' } });
    }, 1],
    // A new slot and its two addresses (one page each, two where a probe run crosses pages).
    ['local pod add', () => state.upsertPod({ ...scalePod(spec.pods, spec), nodeName: LOCAL_NODE }), 2],
    // Its namespace's pods are selected again; their records do not change (its local pods'
    // would: here every local pod is in ns-0), so no page is copied.
    ['NetworkPolicy update', () => state.upsertPolicy(scalePolicy(1, 0, 1)), 0],
    ['remote pod delete', () => state.deletePod(`ns-${(remote + 1) % spec.namespaces}/pod-${remote + 1}`), 2],
  ];
  for (const [what, apply, most] of updates) {
    const before = inside(engine.snapshot());
    apply();
    const now = inside(engine.snapshot());
    t.not(now, before, `${what}: published a new snapshot`);
    const c = { records: copied(before.slotPages, now.slotPages), ipv4: copied(before.pods4.pages, now.pods4.pages), ipv6: copied(before.pods6.pages, now.pods6.pages) };
    t.ok(c.records <= most && c.ipv4 <= most && c.ipv6 <= most, `${what}: pages copied ${JSON.stringify(c)} (at most ${most} each)`);
  }
});
