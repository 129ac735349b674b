// support/random-cluster-policies.ts draws the cluster policies the differential tests judge; a
// draw no API server would store (and no decoder gives an engine) tests a case that never occurs
// and, worse, its verdicts can disagree with what the real object would get. Every draw is
// written out as its API object (support/raw-objects.ts) and read back through the real decoder:
// it must decode without an error, to the policy drawn. The draws must also still reach every
// feature the generator's header promises, per kind and direction. The same holds for the
// cluster policies randomMutation (support/random-cluster.ts) stores in a cluster.

import t from 'tap';
import { decodeObject } from '../../src/cluster/decode.ts';
import type { ClusterPolicy, ClusterPolicyKind, ClusterPolicyPeer, ClusterPolicyRule } from '../../src/cluster/model.ts';
import { randomClusterPolicy } from '../../support/random-cluster-policies.ts';
import { Rng, draws, randomCluster, randomMutation, stateOf } from '../../support/random-cluster.ts';
import { encodedClusterPort, rawClusterPolicy } from '../../support/raw-objects.ts';

const KINDS: readonly ClusterPolicyKind[] = ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'];
const PER_KIND = 300;
// Pod, node and outside addresses of both families, as randomCluster gives them.
const ADDRESSES = ['10.1.0.1', '10.1.0.2', '10.1.1.1', '192.168.0.1', '192.168.0.2', 'fd01::1', 'fd00::1:1', '8.8.8.8', '10.2.0.1', '2001:db8::1'];

/** The policy as the decoder gives it: no learned addresses (the agent's learner sets them), ports in the one spelling an API object has. */
function asDecoded(p: ClusterPolicy): ClusterPolicy {
  const peer = ({ learned: _learned, ...rest }: ClusterPolicyPeer): ClusterPolicyPeer => rest;
  const rule = (r: ClusterPolicyRule): ClusterPolicyRule => ({ ...r, peers: r.peers.map(peer), protocols: r.protocols.map(encodedClusterPort) });
  return { ...p, ingress: p.ingress.map(rule), egress: p.egress.map(rule) };
}

function peerType(p: ClusterPolicyPeer): string {
  if (p.domainNames) return p.learned?.length ? 'domainNames(learned)' : 'domainNames(none learned)';
  return (['namespaces', 'pods', 'nodes', 'networks'] as const).find((f) => p[f] !== undefined) ?? '{}';
}

function portType(p: ClusterPolicyRule['protocols'][number]): string {
  if ('namedPort' in p) return 'named port';
  return p.port === undefined ? 'whole protocol' : p.endPort !== undefined ? 'range' : 'one port';
}

/** Feature names ("AdminNetworkPolicy egress peer nodes") a set of draws reaches. */
function features(p: ClusterPolicy): string[] {
  const out = [`${p.kind} tier ${p.tier}`, `${p.kind} subject ${p.subject.namespaces ? 'namespaces' : 'pods'}`];
  for (const dir of ['ingress', 'egress'] as const) {
    if (!p[dir].length) out.push(`${p.kind} no ${dir} rule`);
    for (const r of p[dir]) {
      out.push(`${p.kind} ${p.tier} ${dir} action ${r.action}`);
      for (const peer of r.peers) out.push(`${p.kind} ${dir} peer ${peerType(peer)}`);
      for (const port of r.protocols) out.push(`${p.kind} ${dir} ${portType(port)}`);
    }
  }
  return out;
}

/** Why `p` is not what the decoder gives for its API object, or undefined when it is. */
function decodeProblem(p: ClusterPolicy): string | undefined {
  const d = decodeObject(JSON.parse(JSON.stringify(rawClusterPolicy(p))));
  if (d.kind === 'invalid') return `refused by the decoder: ${d.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`;
  if (d.kind !== p.kind) return `decoded as ${d.kind}`;
  const want = asDecoded(p);
  return JSON.stringify(d.value) === JSON.stringify(want) ? undefined : `decodes to another policy: ${JSON.stringify(d.value)}, drawn ${JSON.stringify(want)}`;
}

t.test('every drawn cluster policy decodes, through the real decoder, to itself', async (t) => {
  const seen = new Set<string>();
  let bad = 0;
  for (let seed = 0; seed < PER_KIND; seed++) {
    for (const kind of KINDS) {
      const r = new Rng(seed * 7919 + KINDS.indexOf(kind));
      const p = randomClusterPolicy(r, kind === 'BaselineAdminNetworkPolicy' ? 'default' : `cnp${seed}`, draws(ADDRESSES), kind);
      for (const f of features(p)) seen.add(f);
      const problem = decodeProblem(p);
      if (problem && bad++ < 5) t.fail(`seed ${seed} ${kind}: ${problem}`);
    }
  }
  t.equal(bad, 0, `${PER_KIND * KINDS.length} draws decode to themselves`);

  // What each kind takes (the decoders' peerFields and actions); the draws must reach all of it.
  const want: string[] = [];
  for (const kind of KINDS) {
    const tiers = kind === 'ClusterNetworkPolicy' ? ['Admin', 'Baseline'] : [kind === 'AdminNetworkPolicy' ? 'Admin' : 'Baseline'];
    const actions = kind === 'BaselineAdminNetworkPolicy' ? ['Accept', 'Deny'] : ['Accept', 'Deny', 'Pass'];
    const egressPeers = ['namespaces', 'pods', 'nodes', 'networks', '{}', ...(kind === 'BaselineAdminNetworkPolicy' ? [] : ['domainNames(learned)', 'domainNames(none learned)'])];
    for (const tier of tiers) want.push(`${kind} tier ${tier}`);
    for (const s of ['namespaces', 'pods']) want.push(`${kind} subject ${s}`);
    for (const dir of ['ingress', 'egress']) {
      want.push(`${kind} no ${dir} rule`);
      for (const tier of tiers) for (const a of actions) want.push(`${kind} ${tier} ${dir} action ${a}`);
      for (const peer of dir === 'egress' ? egressPeers : ['namespaces', 'pods', '{}']) want.push(`${kind} ${dir} peer ${peer}`);
      for (const port of ['named port', 'whole protocol', 'range', 'one port']) want.push(`${kind} ${dir} ${port}`);
    }
  }
  const missing = want.filter((f) => !seen.has(f));
  t.same(missing, [], `the draws reach all ${want.length} features`);
  // And nothing the decoders would not give (a peer type a direction or kind does not take).
  const extra = [...seen].filter((f) => !want.includes(f));
  t.same(extra, [], 'no feature beyond what the decoders take');
});

t.test('the cluster policies randomMutation stores decode to themselves', async (t) => {
  let bad = 0, checked = 0;
  const seen = new WeakSet<ClusterPolicy>(); // each stored object once
  for (let seed = 0; seed < 40; seed++) {
    const r = new Rng(seed);
    const c = randomCluster(r, { clusterPolicies: r.range(1, 4) });
    const state = stateOf(c);
    for (let step = 0; step < 60; step++) {
      const what = randomMutation(r, state, c.outside);
      for (const p of state.clusterPolicies.values()) {
        if (seen.has(p)) continue;
        seen.add(p);
        checked++;
        const problem = decodeProblem(p);
        if (problem && bad++ < 5) t.fail(`seed ${seed} step ${step} (${what}): ${p.kind} ${p.name}: ${problem}`);
      }
    }
  }
  t.equal(bad, 0, `${checked} stored cluster policies decode to themselves`);
});

// With failClosedFields (what the differential draws): rules that fail closed on a peer selector
// that cannot be built or on a port field of a newer API version, written by raw-objects.ts and
// read back by the real decoder to the drawn rule, failsClosed included; every kind and
// direction reaches both.
t.test('draws with fail-closed fields decode to themselves and reach both fields everywhere', async (t) => {
  const seen = new Set<string>();
  let bad = 0;
  for (let seed = 0; seed < PER_KIND; seed++) {
    for (const kind of KINDS) {
      const r = new Rng(seed * 104729 + KINDS.indexOf(kind));
      const p = randomClusterPolicy(r, kind === 'BaselineAdminNetworkPolicy' ? 'default' : `cnp${seed}`, draws(ADDRESSES, true), kind);
      for (const dir of ['ingress', 'egress'] as const) {
        for (const rule of p[dir]) for (const f of rule.failsClosed ?? []) seen.add(`${kind} ${dir} ${/^(from|to)\[/.test(f.field) ? 'peer selector' : 'port field'}`);
      }
      const problem = decodeProblem(p);
      if (problem && bad++ < 5) t.fail(`seed ${seed} ${kind}: ${problem}`);
    }
  }
  t.equal(bad, 0, `${PER_KIND * KINDS.length} draws decode to themselves`);
  const want = KINDS.flatMap((k) => ['ingress', 'egress'].flatMap((d) => [`${k} ${d} peer selector`, `${k} ${d} port field`]));
  t.same(want.filter((f) => !seen.has(f)), [], `the draws reach all ${want.length} fail-closed features`);

  // And what randomMutation stores with the option.
  let checked = 0;
  bad = 0;
  for (let seed = 0; seed < 20; seed++) {
    const r = new Rng(seed);
    const c = randomCluster(r, { clusterPolicies: r.range(1, 4), failClosedFields: true });
    const state = stateOf(c);
    for (let step = 0; step < 40; step++) {
      randomMutation(r, state, c.outside, { failClosedFields: true });
      for (const p of state.clusterPolicies.values()) {
        checked++;
        const problem = decodeProblem(p);
        if (problem && bad++ < 5) t.fail(`seed ${seed} step ${step}: ${p.kind} ${p.name}: ${problem}`);
      }
    }
  }
  t.equal(bad, 0, `${checked} stored cluster policies decode to themselves`);
});
