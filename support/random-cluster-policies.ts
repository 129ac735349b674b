// Seeded random cluster policies (the Admin and Baseline tiers) for the differential tests: every
// feature of the model in cluster/model.ts, aimed at the corners a compiled engine can get wrong:
// Accept/Deny/Pass in both tiers, equal priorities (tie broken by id), subjects by namespace or
// by namespace AND pod, peers of every type (namespaces, pods, nodes by label including {}, IPv4
// and IPv6 networks around pod and node addresses), fail-closed peers ({} and domainNames with
// nothing learned; with failClosedFields also rules failing closed on a peer selector that
// cannot be built or a port field of a newer API version), domainNames peers with addresses learned from DNS (pod, node and outside
// addresses, as the agent's learner sets them), protocols with numbers, inclusive ranges, whole
// protocols and destination named ports. Every draw is an object the decoders take, meaning what
// it was drawn as (test/policy/random-cluster-policies.test.ts decodes draws to check it).

import type {
  ClusterAction, ClusterPolicy, ClusterPolicyKind, ClusterPolicyPeer, ClusterPolicyPort, ClusterPolicyRule, ClusterTier,
  LabelSelector, Protocol, UnmatchableField,
} from '../src/cluster/model.ts';
import type { Rng } from './random-cluster.ts';
import { withLearnedAddresses } from '../src/policy/domain-names.ts';
import { decodeObject } from '../src/cluster/decode.ts';
import { NEWER_PORT_FIELD, rawClusterPolicy } from './raw-objects.ts';

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
const PORT_NAMES = ['http', 'dns', 'metrics', 'x-sctp'];
const PORT_NUMBERS = [53, 80, 81, 443, 5000, 8080, 9090];
const NODE_LABELS = ['zone', 'role'];
const NODE_VALUES = ['a', 'b'];
const DOMAIN_NAMES = ['example.com', '*.example.com', 'API.example.com.'];

/** Random node labels (what `nodes` peers select on). */
export function randomNodeLabels(r: Rng): Record<string, string> {
  const l: Record<string, string> = {};
  for (const k of NODE_LABELS) if (r.chance(0.6)) l[k] = r.pick(NODE_VALUES);
  return l;
}

function nodeSelector(r: Rng): LabelSelector {
  if (r.chance(0.3)) return { matchLabels: {}, matchExpressions: [] };
  if (r.chance(0.5)) return { matchLabels: { [r.pick(NODE_LABELS)]: r.pick(NODE_VALUES) }, matchExpressions: [] };
  const operator = r.pick(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);
  const value = r.pick(NODE_VALUES);
  // Exists and DoesNotExist take no values (the decoder refuses them).
  return { matchLabels: {}, matchExpressions: [{ key: r.pick(NODE_LABELS), operator, values: operator === 'In' || operator === 'NotIn' ? [value] : [] }] };
}

/** The generator's own selector and CIDR makers, passed in so both generators draw alike. */
export interface ClusterPolicyDraws {
  readonly selector: (r: Rng) => LabelSelector;
  /** A CIDR (canonical text) around one of the cluster's addresses. */
  readonly cidr: (r: Rng) => string;
  /** One of the cluster's addresses (pod, node or outside), canonical: what a DNS answer could name. */
  readonly address: (r: Rng) => string;
  /**
   * Also draw rules that fail closed on a field (rule.failsClosed): a peer selector that cannot
   * be built, a port-list field of a newer API version. Off unless asked (it changes the draws).
   */
  readonly failClosedFields?: boolean;
}

const failClosedProblems = new Map<string, string[]>();

/**
 * The decoder's own problem texts for the two fail-closed fields raw-objects.ts writes, for
 * one kind (the known port fields differ by version): read once by decoding such a rule, so a
 * draw decodes to itself without this file repeating the decoder's words.
 */
function failClosedProblemsOf(kind: ClusterPolicyKind): string[] {
  let out = failClosedProblems.get(kind);
  if (out) return out;
  const v1alpha1 = kind !== 'ClusterNetworkPolicy';
  const failsClosed: UnmatchableField[] = [
    { field: 'to[0].namespaces.matchExpressions[0].operator', problem: '' },
    { field: `${v1alpha1 ? 'ports' : 'protocols'}[0].${NEWER_PORT_FIELD[v1alpha1 ? 'v1alpha1' : 'v1alpha2']}`, problem: '' },
  ];
  const p: ClusterPolicy = {
    kind, name: kind === 'BaselineAdminNetworkPolicy' ? 'default' : 'x', tier: kind === 'BaselineAdminNetworkPolicy' ? 'Baseline' : 'Admin', priority: 0,
    subject: { namespaces: { matchLabels: {}, matchExpressions: [] } }, ingress: [],
    egress: [{ name: '', action: 'Deny', peers: [{}], protocols: [], failsClosed }],
  };
  const d = decodeObject(JSON.parse(JSON.stringify(rawClusterPolicy(p))));
  out = d.kind === kind ? (d.value.egress[0]?.failsClosed ?? []).map((f) => f.problem) : [];
  if (out.length !== 2) throw new Error(`the decoder does not fail ${kind} rules closed on the fields raw-objects.ts writes: ${JSON.stringify(d)}`);
  failClosedProblems.set(kind, out);
  return out;
}

/** Addresses a node's agent could have learned for a domainNames peer: none (fails closed) or a few. */
function learnedAddresses(r: Rng, d: ClusterPolicyDraws): string[] {
  return r.chance(0.3) ? [] : [...new Set(Array.from({ length: r.range(1, 3) }, () => d.address(r)))].sort();
}

/**
 * The policy as the agent's learner re-stores it after answers came or records expired: each
 * domainNames peer's `learned` replaced (policy/domain-names.ts, the learner's own path), or the
 * policy itself when it has no such peer or nothing changed.
 */
export function relearnDomainNames(r: Rng, p: ClusterPolicy, d: ClusterPolicyDraws): ClusterPolicy {
  return withLearnedAddresses(p, () => learnedAddresses(r, d));
}

function randomPeer(r: Rng, dir: 'ingress' | 'egress', kind: ClusterPolicyKind, d: ClusterPolicyDraws): ClusterPolicyPeer {
  // Ingress peers are namespaces and pods only; domainNames are egress peers of every kind but
  // BaselineAdminNetworkPolicy (the decoders read any other peer as {}).
  const last = dir === 'egress' ? 8 : 4;
  let k = r.int(last + 1);
  // {} fails closed; domainNames match what was learned for them, nothing when nothing was.
  if (k === 0) {
    if (r.chance(0.3)) return {};
    if (dir === 'egress' && kind !== 'BaselineAdminNetworkPolicy') return { domainNames: [...new Set(r.some(DOMAIN_NAMES, 1).concat(r.pick(DOMAIN_NAMES)))], learned: learnedAddresses(r, d) };
    k = r.range(1, last);
  }
  if (k <= 2) return { namespaces: d.selector(r) };
  if (k <= 4) return { pods: { namespaceSelector: d.selector(r), podSelector: d.selector(r) } };
  if (k <= 6) return { nodes: nodeSelector(r) };
  // networks is a set: the decoder refuses a CIDR written twice.
  return { networks: [...new Set(Array.from({ length: r.range(1, 3) }, () => d.cidr(r)))] };
}

function randomPort(r: Rng, namedOk: boolean): ClusterPolicyPort {
  const protocol = r.pick(PROTOCOLS);
  switch (r.int(namedOk ? 5 : 4)) {
    case 0: return { protocol };
    case 1: {
      const port = r.pick(PORT_NUMBERS);
      return { protocol, port, endPort: port + r.pick([1, 2, 100, 3000]) };
    }
    case 4: return { namedPort: r.pick(PORT_NAMES) };
    default: return { protocol, port: r.pick(PORT_NUMBERS) };
  }
}

function randomRule(r: Rng, dir: 'ingress' | 'egress', tier: ClusterTier, kind: ClusterPolicyKind, d: ClusterPolicyDraws, i: number): ClusterPolicyRule {
  // BaselineAdminNetworkPolicy has no Pass (its decoder maps Allow/Deny only); it never gets one.
  const actions: readonly ClusterAction[] = kind === 'BaselineAdminNetworkPolicy' ? ['Accept', 'Deny'] : ['Accept', 'Deny', 'Pass'];
  const action = r.pick(actions);
  const peers = Array.from({ length: r.range(1, 3) }, () => randomPeer(r, dir, kind, d));
  // Accept with a domainNames peer only (the API's rule); the decoder rejects the rest.
  const fixed = action === 'Accept' ? peers : peers.map((p) => (p.domainNames ? {} : p));
  // Fail-closed fields, in the decoder's order (peers, then ports): a peer whose selector
  // cannot be built is {} in the model (raw-objects.ts writes the selector).
  const failsClosed: UnmatchableField[] = [];
  const problems = d.failClosedFields ? failClosedProblemsOf(kind) : [];
  if (d.failClosedFields && r.chance(0.08)) {
    const j = r.int(fixed.length);
    fixed[j] = {};
    failsClosed.push({ field: `${dir === 'ingress' ? 'from' : 'to'}[${j}].namespaces.matchExpressions[0].operator`, problem: problems[0]! });
  }
  // The CRD forbids named ports next to networks/nodes/domainNames peers.
  const namedOk = !fixed.some((p) => p.networks || p.nodes || p.domainNames);
  const protocols = r.chance(0.4) ? [] : Array.from({ length: r.range(1, 3) }, () => randomPort(r, namedOk));
  if (d.failClosedFields && r.chance(0.08)) {
    const v1alpha1 = kind !== 'ClusterNetworkPolicy';
    failsClosed.push({ field: `${v1alpha1 ? 'ports' : 'protocols'}[${protocols.length}].${NEWER_PORT_FIELD[v1alpha1 ? 'v1alpha1' : 'v1alpha2']}`, problem: problems[1]! });
  }
  const rule = { name: r.chance(0.7) ? `${tier.toLowerCase()}-${dir}-${i}` : '', action, peers: fixed, protocols };
  return failsClosed.length ? { ...rule, failsClosed } : rule;
}

export function randomClusterPolicy(r: Rng, name: string, d: ClusterPolicyDraws, kind: ClusterPolicyKind = 'ClusterNetworkPolicy'): ClusterPolicy {
  const tier: ClusterTier = kind === 'AdminNetworkPolicy' ? 'Admin' : kind === 'BaselineAdminNetworkPolicy' ? 'Baseline' : r.pick(['Admin', 'Baseline'] as const);
  const subject = r.chance(0.4) ? { namespaces: d.selector(r) } : { pods: { namespaceSelector: d.selector(r), podSelector: d.selector(r) } };
  const rules = (dir: 'ingress' | 'egress') => (r.chance(0.25) ? [] : Array.from({ length: r.range(1, 4) }, (_, i) => randomRule(r, dir, tier, kind, d, i)));
  // Few priorities, so ties (ordered by id) come up.
  const priority = kind === 'BaselineAdminNetworkPolicy' ? 0 : r.pick([0, 10, 10, 50, 1000]);
  return { kind, name, tier, priority, subject, ingress: rules('ingress'), egress: rules('egress') };
}
