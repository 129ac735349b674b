// Randomized differential test: the compiled engine must give exactly the evaluator's Decision
// (verdict, each side's allowed/reason/isolated/policies, the first allowing rule, pod names)
// on random clusters, and keep doing so through random mutation sequences applied incrementally
// (also compared with a fresh compile after every batch, and checking that a published snapshot
// never changes its answers).
//
// The seed is printed; rerun one with PALISADE_SEED=<n> npx tap test/policy/differential.test.ts.
// Millions of probes: node --import tsx scripts/differential.ts --probes 2000000 --seed <n>.

import t from 'tap';
import { describeMismatch, runDifferential, type Oracle } from '../../support/differential.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import type { ClusterView } from '../../src/cluster/state.ts';
import type { ClusterPolicy, ClusterPolicyPort, ClusterPolicyRule, LabelSelector, NetworkPolicy, PolicyPeer, PolicyRule } from '../../src/cluster/model.ts';

const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`differential seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

t.test('compiled engine = evaluator on random clusters and mutation sequences', async (t) => {
  const res = runDifferential({ seed, probes: 30000 });
  t.comment(`${res.probes} probes over ${res.clusters} clusters and ${res.mutations} mutation batches`);
  t.ok(res.probes >= 30000, 'probe budget used');
  t.ok(res.mutations > 0, 'mutation sequences ran');
  for (const m of res.mismatches) t.fail(`seed ${seed}: ${describeMismatch(m)}`);
  t.equal(res.mismatches.length, 0, 'no mismatches');
});

// A fixed seed too, so a regression found once keeps being checked whatever the clock says.
t.test('fixed seed 1', async (t) => {
  const res = runDifferential({ seed: 1, probes: 5000 });
  for (const m of res.mismatches) t.fail(describeMismatch(m));
  t.equal(res.mismatches.length, 0, 'no mismatches');
});

// Chains (tier-tables.ts): with chainAbove 0 every Admin or Baseline table an update needs is a
// chain of per-policy tables first, and every other batch is converged a slice at a time; both
// must answer as the evaluator does.
t.test('chains of per-policy tables and their convergence = evaluator', async (t) => {
  for (const s of [seed, 2]) {
    const res = runDifferential({ seed: s, probes: 15000, chainAbove: 0 });
    t.comment(`seed ${s}: ${res.chains} chains made, ${res.converged} converge rounds`);
    t.ok(res.chains > 0, 'updates made chains');
    t.ok(res.converged > 0, 'chains converged');
    for (const m of res.mismatches) t.fail(`seed ${s} (chainAbove 0): ${describeMismatch(m)}`);
    t.equal(res.mismatches.length, 0, 'no mismatches');
  }
});

// The run must be able to fail: an evaluator with one rule of the spec broken (each a mistake a
// real implementation could make) is caught within a small probe budget. If a generator change
// stopped exercising a feature, its row fails here.
type Sabotage = [name: string, rule: (r: PolicyRule) => PolicyRule];
const sel = (s: LabelSelector | undefined, f: (s: LabelSelector) => LabelSelector) => (s ? f(s) : s);
const peers = (f: (p: PolicyPeer) => PolicyPeer) => (r: PolicyRule): PolicyRule => ({ ...r, peers: r.peers.map(f) });
const sabotages: Sabotage[] = [
  ['ipBlock except ignored', peers((p) => (p.ipBlock ? { ipBlock: { ...p.ipBlock, except: [] } } : p))],
  ['endPort exclusive', (r) => ({ ...r, ports: r.ports.map((q) => (q.endPort !== undefined && q.endPort > (q.port as number) ? { ...q, endPort: q.endPort - 1 } : q)) })],
  ['namespaceSelector AND podSelector read as namespaceSelector alone', peers((p) => (p.podSelector && p.namespaceSelector ? { namespaceSelector: p.namespaceSelector } : p))],
  ['NotIn read as In', peers((p) => ({
    ...p,
    ...(p.podSelector ? { podSelector: sel(p.podSelector, (s) => ({ ...s, matchExpressions: s.matchExpressions.map((e) => (e.operator === 'NotIn' ? { ...e, operator: 'In' as const } : e)) })) } : {}),
  }))],
  ['protocol ignored on ports', (r) => ({ ...r, ports: r.ports.map((q) => (typeof q.port === 'number' || q.port === undefined ? { ...q, protocol: 'TCP' as const } : q)) })],
];

function sabotaged(rule: (r: PolicyRule) => PolicyRule): Oracle {
  return (view, conn, opts) => {
    const policies = new Map<string, NetworkPolicy>();
    for (const [k, p] of view.policies) policies.set(k, { ...p, ingress: p.ingress.map(rule), egress: p.egress.map(rule) });
    const broken: ClusterView = { namespaces: view.namespaces, pods: view.pods, nodes: view.nodes, policies, clusterPolicies: view.clusterPolicies };
    return evaluate(broken, conn, opts);
  };
}

t.test('a deliberately broken evaluator rule makes the differential fail', async (t) => {
  for (const [name, rule] of sabotages) {
    const res = runDifferential({ seed: 7, probes: 20000, maxMismatches: 1, oracle: sabotaged(rule) });
    t.ok(res.mismatches.length > 0, `caught: ${name} (after ${res.probes} probes)`);
  }
});

// The same for the cluster policy tiers: each row breaks one sentence of the Network Policy API
// in the evaluator's input (the compiled engine keeps reading the real policies).
type ClusterSabotage = [name: string, policy: (p: ClusterPolicy) => ClusterPolicy];
const cRules = (f: (r: ClusterPolicyRule) => ClusterPolicyRule) => (p: ClusterPolicy): ClusterPolicy => ({ ...p, ingress: p.ingress.map(f), egress: p.egress.map(f) });
const clusterSabotages: ClusterSabotage[] = [
  ['Pass read as Deny', cRules((r) => (r.action === 'Pass' ? { ...r, action: 'Deny' } : r))],
  ['Pass read as Accept', cRules((r) => (r.action === 'Pass' ? { ...r, action: 'Accept' } : r))],
  ['priority order reversed', (p) => ({ ...p, priority: 1000 - p.priority })],
  ['Baseline evaluated as Admin', (p) => ({ ...p, tier: 'Admin' })],
  ['rules evaluated last to first', (p) => ({ ...p, ingress: [...p.ingress].reverse(), egress: [...p.egress].reverse() })],
  ['fail-closed peer ignored', cRules((r) => (r.peers.some((q) => !q.namespaces && !q.pods && !q.nodes && !q.networks) && r.peers.some((q) => q.namespaces || q.pods || q.nodes || q.networks) ? { ...r, peers: r.peers.filter((q) => q.namespaces || q.pods || q.nodes || q.networks) } : r))],
  ['port range end exclusive', cRules((r) => ({ ...r, protocols: r.protocols.map((q) => ('port' in q && q.endPort !== undefined ? { ...q, endPort: q.endPort - 1 } : q)) }))],
  ['pods peer read as namespaces', cRules((r) => ({ ...r, peers: r.peers.map((q) => (q.pods ? { namespaces: q.pods.namespaceSelector } : q)) }))],
  ['nodes peer {} selects no node', cRules((r) => ({ ...r, peers: r.peers.map((q) => (q.nodes && Object.keys(q.nodes.matchLabels).length === 0 && q.nodes.matchExpressions.length === 0 ? { nodes: { matchLabels: { 'no-such': 'label' }, matchExpressions: [] } } : q)) }))],
  ['named port matched on any protocol', cRules((r) => ({ ...r, protocols: r.protocols.flatMap((q) => ('namedPort' in q ? [q, { protocol: 'TCP' as const }] : [q]) as ClusterPolicyPort[]) }))],
  // A rule failing closed on a field (a peer selector that cannot be built, a newer port field) read as written.
  ['failsClosed fields ignored', cRules(({ failsClosed: _fields, ...r }) => r)],
  ['subject pods read as subject namespaces', (p) => (p.subject.pods ? { ...p, subject: { namespaces: p.subject.pods.namespaceSelector } } : p)],
];

function clusterSabotaged(f: (p: ClusterPolicy) => ClusterPolicy): Oracle {
  return (view, conn, opts) => {
    const clusterPolicies = new Map<string, ClusterPolicy>();
    for (const [k, p] of view.clusterPolicies) clusterPolicies.set(k, f(p));
    return evaluate({ ...view, namespaces: view.namespaces, pods: view.pods, nodes: view.nodes, policies: view.policies, clusterPolicies }, conn, opts);
  };
}

t.test('a deliberately broken cluster policy rule makes the differential fail', async (t) => {
  for (const [name, f] of clusterSabotages) {
    const res = runDifferential({ seed: 7, probes: 30000, maxMismatches: 1, oracle: clusterSabotaged(f) });
    t.ok(res.mismatches.length > 0, `caught: ${name} (after ${res.probes} probes)`);
  }
});
