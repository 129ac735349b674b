// support/raw-objects.ts is the inverse of the decoders on every object the benchmark clusters
// hold: the scale benchmark serves those objects from the fake API server, and it must measure
// exactly the cluster its generator describes.

import t, { type Test } from 'tap';
import { decodeObject } from '../../src/cluster/decode.ts';
import { canonicalIP, formatCIDR, parseCIDR } from '../../src/net/address.ts';
import type { ClusterPolicy } from '../../src/cluster/model.ts';
import { encodedClusterPort, rawObject } from '../../support/raw-objects.ts';
import { SCALE, scaleObjects, type ScaleObject } from '../../bench/scale-cluster.ts';
import { LARGE, largeNamespace, largeNode, largePod, largePolicy } from '../../bench/large-cluster.ts';
import { largeClusterPolicies } from '../../bench/large-cluster-policies.ts';

/** The model object the decoder must give back (the one lossy spelling normalised). */
function expected(o: ScaleObject): unknown {
  if (o.kind !== 'ClusterNetworkPolicy') return o.object;
  const p: ClusterPolicy = o.object;
  const rule = (r: ClusterPolicy['ingress'][number]) => ({ ...r, protocols: r.protocols.map(encodedClusterPort) });
  return { ...p, ingress: p.ingress.map(rule), egress: p.egress.map(rule) };
}

function roundTrip(t: Test, objects: Iterable<ScaleObject>, label: string): void {
  let n = 0, bad = 0;
  for (const o of objects) {
    n++;
    const d = decodeObject(JSON.parse(JSON.stringify(rawObject(o))));
    if (d.kind !== o.kind) {
      if (bad++ < 3) t.fail(`${label}: ${o.kind} decoded as ${d.kind}`, { errors: 'errors' in d ? d.errors : undefined });
      continue;
    }
    // Decoders may add optional fields (e.g. annotations); compare what the model object says.
    const got = (d as { value: unknown }).value;
    if (!matches(expected(o), got)) {
      if (bad++ < 3) t.same(got, expected(o), `${label}: ${o.kind} round trip`);
    }
  }
  t.equal(bad, 0, `${label}: ${n} objects decode back to themselves`);
}

/** Every field of `want` is in `got` with the same value (`got` may hold more optional fields). */
function matches(want: unknown, got: unknown): boolean {
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => matches(w, got[i]));
  if (want && typeof want === 'object') {
    if (!got || typeof got !== 'object') return false;
    return Object.entries(want).every(([k, v]) => v === undefined || matches(v, (got as Record<string, unknown>)[k]));
  }
  return want === got || (typeof want === 'string' && typeof got === 'string' && canon(want) === canon(got));
}

/** Addresses compare by value: the decoders print IPv6 canonically ("::0" comes back as "::"). */
function canon(s: string): string {
  const c = parseCIDR(s);
  return canonicalIP(s) ?? (c ? formatCIDR(c) : s);
}

t.test('the large cluster (every kind, all 1,000 policies, the 100 cluster policies)', async (t) => {
  const objects: ScaleObject[] = [
    ...Array.from({ length: LARGE.nodes }, (_, k) => ({ kind: 'Node' as const, object: largeNode(k) })),
    ...Array.from({ length: LARGE.namespaces }, (_, n) => ({ kind: 'Namespace' as const, object: largeNamespace(n) })),
    ...Array.from({ length: 500 }, (_, i) => ({ kind: 'Pod' as const, object: largePod(i * 19) })),
    ...Array.from({ length: LARGE.namespaces * 10 }, (_, x) => ({ kind: 'NetworkPolicy' as const, object: largePolicy(x % LARGE.namespaces, Math.floor(x / LARGE.namespaces)) })),
    ...largeClusterPolicies().map((object) => ({ kind: 'ClusterNetworkPolicy' as const, object })),
  ];
  roundTrip(t, objects, 'large');
});

t.test('the scale cluster (a sample of its pods, every other object)', async (t) => {
  function* sample(): Generator<ScaleObject> {
    let i = 0;
    for (const o of scaleObjects(SCALE)) if (o.kind !== 'Pod' || i++ % 101 === 0) yield o;
  }
  roundTrip(t, sample(), 'scale');
});

t.test('an object the decoder rejects is a failure, not a silent pass', async (t) => {
  // Guards the guard: a priority the API refuses must not round-trip.
  const p = largeClusterPolicies()[0]!;
  const raw = rawObject({ kind: 'ClusterNetworkPolicy', object: { ...p, priority: 1001 } });
  t.equal(decodeObject(raw).kind, 'invalid');
});
