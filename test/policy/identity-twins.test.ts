// Twin identities (IdentityRegistry.twinOf): a table extended for a new identity gives it its
// twin's class with no selector work, so a twin must be alike to every selector. The random
// clusters of differential.test.ts select on every label key they use, so twins rarely arise
// there; here pods also carry a label no policy reads at first (`hash`, as a pod-template-hash),
// relabelled often (new identities, each a twin of an older one), and policies start reading it
// later (a matcher with a new key must tell former twins apart). After every batch the
// incremental engine must answer as the evaluator and as a fresh compile.
//
// The seed is printed; rerun one with PALISADE_SEED=<n> npx tap test/policy/identity-twins.test.ts.

import t from 'tap';
import type { ClusterState } from '../../src/cluster/state.ts';
import type { NetworkPolicy, PolicyPeer } from '../../src/cluster/model.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { canonical } from '../../support/differential.ts';
import { Rng, probeAddresses, randomCluster, randomMutation, randomProbe, stateOf } from '../../support/random-cluster.ts';

const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`identity-twins seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

/** A change that makes twins (relabel `hash` only) or makes a policy read `hash`. */
function twinMutation(r: Rng, state: ClusterState): string {
  const pods = [...state.pods.values()];
  const policies = [...state.policies.values()];
  if (policies.length && r.chance(0.15)) {
    const p = r.pick(policies);
    const hashPeer = (q: PolicyPeer): PolicyPeer => (q.podSelector && r.chance(0.5)
      ? { ...q, podSelector: { matchLabels: { ...q.podSelector.matchLabels, hash: `h${r.int(3)}` }, matchExpressions: q.podSelector.matchExpressions } }
      : q);
    const np: NetworkPolicy = {
      ...p,
      ingress: p.ingress.map((x) => ({ ...x, peers: x.peers.map(hashPeer) })),
      egress: p.egress.map((x) => ({ ...x, peers: x.peers.map(hashPeer) })),
    };
    state.upsertPolicy(np);
    return `policy ${p.namespace}/${p.name} reads hash`;
  }
  if (!pods.length) return 'nothing';
  const p = r.pick(pods);
  state.upsertPod({ ...p, labels: { ...p.labels, hash: `h${r.int(4)}` } });
  return `pod ${p.namespace}/${p.name} hash relabelled`;
}

t.test('twins get their twin\'s class: incremental = evaluator = fresh compile', async (t) => {
  let probes = 0, batches = 0;
  const failures: string[] = [];
  for (let c = 0; c < 30 && failures.length < 5; c++) {
    const r = new Rng((seed + c * 0x9e3779b1) >>> 0);
    const cluster = randomCluster(r);
    const state = stateOf(cluster);
    const opts = r.chance(0.5) ? { localNode: 'node-1' } : {};
    const engine = new CompiledEngine(state, opts);
    state.onChange((changes) => engine.update(changes));
    for (let m = 0; m < 20 && failures.length < 5; m++) {
      const what: string[] = [];
      state.batch(() => {
        const n = r.range(1, 6);
        for (let i = 0; i < n; i++) what.push(r.chance(0.8) ? twinMutation(r, state) : randomMutation(r, state, cluster.outside));
      });
      batches++;
      const fresh = new CompiledEngine(state, opts);
      const addrs = probeAddresses(state, cluster.outside);
      for (let i = 0; i < 40 && failures.length < 5; i++) {
        const conn = randomProbe(r, addrs);
        probes++;
        const want = canonical(evaluate(state, conn, opts));
        const got = canonical(engine.decide(conn));
        const again = canonical(fresh.decide(conn));
        if (got !== want || again !== want) failures.push(`seed ${seed} cluster ${c} batch ${m + 1} (${what.join('; ')}): ${JSON.stringify(conn)} evaluator ${want} incremental ${got} fresh ${again}`);
      }
    }
  }
  t.comment(`${probes} probes after ${batches} batches`);
  for (const f of failures) t.fail(f);
  t.equal(failures.length, 0, 'no mismatches');
});
