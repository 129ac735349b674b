// The large cluster's optional cluster policies (policy.networking.k8s.io ClusterNetworkPolicy):
// 100 policies of 25 rules each, 60 in the Admin tier and 40 in the Baseline tier, on top of the
// 1,000 NetworkPolicies of large-cluster.ts. Deterministic (a seeded xorshift per policy), built
// as decoded model objects like the rest of the large cluster.
//
// What they hold, to look like what cluster admins write:
// - subjects: 4 guardrails select every pod (2 per tier); about a third select by namespace
//   labels (a team, the prod namespaces, a set of teams), the rest by namespace AND pod labels
//   (tier, role, a set of apps), so most select a subset of the pods;
// - rules: 25 a policy, ingress only, egress only, or 13 ingress + 12 egress; peers of every
//   type: namespaces and pods (both directions), nodes by label and networks (IPv4 and IPv6,
//   some of them pod ranges) for egress; actions Accept, Deny and Pass (Admin) or Accept and Deny
//   (Baseline); protocols: none (every port), ports, ranges and destination named ports (never
//   with nodes or networks peers, as the CRD requires).

import type {
  ClusterAction, ClusterPolicy, ClusterPolicyPeer, ClusterPolicyPort, ClusterPolicyRule, ClusterPolicySubject, LabelSelector,
} from '../src/cluster/model.ts';
import { clusterPolicyId } from '../src/cluster/model.ts';
import { LARGE, nsName } from './large-cluster.ts';
import { prng } from './prng.ts';

export interface ClusterPoliciesSpec {
  readonly admin: number;
  readonly baseline: number;
  readonly rulesPerPolicy: number;
}
export const LARGE_CLUSTER_POLICIES: ClusterPoliciesSpec = { admin: 60, baseline: 40, rulesPerPolicy: 25 };

/** Policies that select every pod: the first two of each tier. */
export function isGuardrail(c: number, spec: ClusterPoliciesSpec = LARGE_CLUSTER_POLICIES): boolean {
  return c < 2 || (c >= spec.admin && c < spec.admin + 2);
}

const sel = (matchLabels: Record<string, string> = {}, matchExpressions: LabelSelector['matchExpressions'] = []): LabelSelector => ({ matchLabels, matchExpressions });


const TIERS = ['frontend', 'backend', 'db'];
const team = (k: number) => `team-${k % 20}`;

function subjectOf(c: number, r: () => number, spec: ClusterPoliciesSpec): ClusterPolicySubject {
  if (isGuardrail(c, spec)) return { namespaces: sel() };
  const x = r() % 9;
  if (x === 0) return { namespaces: sel({ team: team(r()) }) };
  if (x === 1) return { namespaces: sel({ env: 'prod' }) };
  if (x === 2) return { namespaces: sel({}, [{ key: 'team', operator: 'In', values: [team(r()), team(r()), team(r())] }]) };
  const nsSel = [sel({ env: r() % 2 ? 'prod' : 'staging' }), sel({ team: team(r()) }), sel()][r() % 3]!;
  const y = r() % 4;
  const podSel = y === 0 ? sel({ tier: TIERS[r() % 3]! })
    : y === 1 ? sel({ role: r() % 2 ? 'client' : 'server' })
    : y === 2 ? sel({}, [{ key: 'app', operator: 'In', values: [`app-${r() % 40}`, `app-${r() % 40}`, `app-${r() % 40}`] }])
    : sel({ tier: TIERS[r() % 3]!, role: 'server' });
  return { pods: { namespaceSelector: nsSel, podSelector: podSel } };
}

// Peers come from a fixed vocabulary, as admins name a limited set of groups (tenants, system
// namespaces, tiers, address ranges) over and over; subjects vary more.
const SYSTEM = [nsName(0), nsName(1)]; // stand-ins for kube-system and monitoring

function namespacesPeer(r: () => number): ClusterPolicyPeer {
  const x = r() % 4;
  if (x === 0) return { namespaces: sel({ team: team(r()) }) };
  if (x === 1) return { namespaces: sel({ env: r() % 2 ? 'prod' : 'staging' }) };
  if (x === 2) return { namespaces: sel({ 'kubernetes.io/metadata.name': SYSTEM[r() % 2]! }) };
  return { namespaces: sel({}, [{ key: 'env', operator: 'NotIn', values: ['prod'] }]) };
}

function podsPeer(r: () => number): ClusterPolicyPeer {
  const nsSel = [sel(), sel({ env: r() % 2 ? 'prod' : 'staging' }), sel({ team: team(r()) })][r() % 3]!;
  const x = r() % 4;
  const podSel = x === 0 ? sel({ tier: TIERS[r() % 3]! })
    : x === 1 ? sel({ role: 'client' })
    : x === 2 ? sel({ app: `app-${r() % 8}` })
    : sel({}, [{ key: 'tier', operator: 'In', values: ['frontend', 'backend'] }]);
  return { pods: { namespaceSelector: nsSel, podSelector: podSel } };
}

function nodesPeer(r: () => number): ClusterPolicyPeer {
  const x = r() % 3;
  return { nodes: x === 0 ? sel({ 'node-role': 'infra' }) : x === 1 ? sel({ zone: `zone-${r() % 3}` }) : sel() };
}

const NETWORKS = [
  '10.64.0.0/24', 'fd00:10:64::/120', // the system namespaces' pod ranges (pod IPs of large-cluster.ts)
  '169.254.169.254/32', 'fd00:ec2::254/128', // metadata services
  '203.0.113.0/24', '198.51.100.0/24', '2001:db8::/32', // partners, the internet
  '10.0.0.0/8', 'fd00::/8', // everything internal
  '0.0.0.0/0', '::/0',
];

function networksPeer(r: () => number): ClusterPolicyPeer {
  const a = NETWORKS[r() % NETWORKS.length]!;
  const b = NETWORKS[r() % NETWORKS.length]!;
  return { networks: a === b ? [a] : [a, b] };
}

function protocolsOf(r: () => number, named: boolean, edit: number): ClusterPolicyPort[] {
  const count = r() % 4; // 0: every protocol and port
  const out: ClusterPolicyPort[] = [];
  let shifted = false;
  for (let i = 0; i < count; i++) {
    const x = r() % (named ? 8 : 6);
    if (x === 0) { out.push({ protocol: 'TCP', port: [80, 443, 5432, 6379, 8080, 9090][r() % 6]! + edit }); shifted = true; }
    else if (x === 1) { out.push({ protocol: 'TCP', port: 8080 + edit, endPort: 8090 + edit }); shifted = true; }
    else if (x === 2) out.push({ protocol: 'TCP', port: 30000, endPort: 32767 });
    else if (x === 3) out.push({ protocol: 'UDP', port: 53 });
    else if (x === 4) out.push({ protocol: 'SCTP', port: 3868, endPort: 3870 });
    else if (x === 5) out.push({ protocol: 'UDP' });
    else out.push({ namedPort: ['http', 'metrics', 'dns'][r() % 3]! });
  }
  // An edit always changes the rule (a rule without a port it shifts gets one more port; no
  // draw from r, so the other rules stay as they were): a no-op edit would time nothing.
  if (edit !== 0 && !shifted) out.push({ protocol: 'TCP', port: 7000 + edit });
  return out;
}

function ruleOf(c: number, dir: 'ingress' | 'egress', i: number, admin: boolean, r: () => number, edit: number): ClusterPolicyRule {
  const peers: ClusterPolicyPeer[] = [];
  const nPeers = 1 + (r() % 2);
  let addressPeer = false;
  for (let p = 0; p < nPeers; p++) {
    const x = r() % (dir === 'ingress' ? 5 : 10);
    if (x < 2) peers.push(namespacesPeer(r));
    else if (x < 5) peers.push(podsPeer(r));
    else if (x < 7) { peers.push(nodesPeer(r)); addressPeer = true; } else { peers.push(networksPeer(r)); addressPeer = true; }
  }
  const a = r() % 10;
  const action: ClusterAction = admin ? (a < 4 ? 'Accept' : a < 8 ? 'Deny' : 'Pass') : a < 5 ? 'Accept' : 'Deny';
  // Named ports only where no nodes/networks peer is (the CRD's rule).
  return { name: i % 3 === 0 ? '' : `${dir}-${c}-${i}`, action, peers, protocols: protocolsOf(r, !addressPeer, edit) };
}

/**
 * Priorities are this far apart within a tier: 15 (Admin) and 20 (Baseline) for the default
 * spec, less when more policies must fit under the API's maximum priority of 1000.
 */
export function priorityStep(spec: ClusterPoliciesSpec, tier: 'Admin' | 'Baseline'): number {
  return tier === 'Admin' ? Math.min(15, Math.floor(990 / spec.admin)) : Math.min(20, Math.floor(980 / spec.baseline));
}

export interface ClusterPolicyVariant {
  /** Added to the priority (below priorityStep keeps the order and the priorities distinct). */
  readonly priorityShift?: number;
  /** Rule `editRule % rules` gets its port numbers shifted by `edit`, or port 7000 + `edit` when it has none to shift (a rule edit). */
  readonly editRule?: number;
  readonly edit?: number;
}

/** Cluster policy c (0 .. admin + baseline - 1): Admin for c < admin, Baseline after. */
export function largeClusterPolicy(c: number, v: ClusterPolicyVariant = {}, spec: ClusterPoliciesSpec = LARGE_CLUSTER_POLICIES): ClusterPolicy {
  const admin = c < spec.admin;
  const r = prng(0xc105 + c * 7919);
  const subject = subjectOf(c, r, spec);
  const k = spec.rulesPerPolicy;
  // Ingress only, egress only, or both directions, 25 rules in all.
  const shape = c % 4;
  const nIn = shape === 0 ? k : shape === 1 ? 0 : Math.ceil(k / 2);
  const nEg = k - nIn;
  const rules = (dir: 'ingress' | 'egress', n: number, offset: number) =>
    Array.from({ length: n }, (_, i) => ruleOf(c, dir, i, admin, r, v.editRule !== undefined && (v.editRule % k) === offset + i ? (v.edit ?? 1) : 0));
  const ingress = rules('ingress', nIn, 0);
  const egress = rules('egress', nEg, nIn);
  const priority = (admin ? 5 + priorityStep(spec, 'Admin') * c : 10 + priorityStep(spec, 'Baseline') * (c - spec.admin)) + (v.priorityShift ?? 0);
  return {
    kind: 'ClusterNetworkPolicy',
    name: admin ? `admin-${c}` : `baseline-${c - spec.admin}`,
    tier: admin ? 'Admin' : 'Baseline',
    priority,
    subject,
    ingress,
    egress,
  };
}

export function largeClusterPolicies(spec: ClusterPoliciesSpec = LARGE_CLUSTER_POLICIES): ClusterPolicy[] {
  return Array.from({ length: spec.admin + spec.baseline }, (_, c) => largeClusterPolicy(c, {}, spec));
}

/** One cluster policy change of a bench round: an upsert of a version, or a delete by id. */
export type ClusterPolicyChange =
  | { readonly kind: 'priority' | 'rule_edit' | 'add'; readonly c: number; readonly policy: ClusterPolicy }
  | { readonly kind: 'delete'; readonly c: number; readonly id: string };

/**
 * The cluster policy changes a user makes, on policies drawn with `r`, for the scale bench and
 * its CPU script: per round a priority change, a rule edit, a delete and the deleted policy's
 * re-add. Each policy's current version is kept, so each change really changes what it says and
 * nothing else: a priority change keeps the rules an earlier rule edit gave the policy (a
 * version built from scratch would undo that edit, a rule change too), a rule edit always
 * changes a rule (its shift is one more than the policy's last, so it differs also on the same
 * rule), and the re-add restores the version deleted.
 */
export class ClusterPolicyChanges {
  private readonly variants = new Map<number, ClusterPolicyVariant>();
  private readonly n: number;
  private readonly shiftMax: number;

  constructor(private readonly r: () => number, private readonly spec: ClusterPoliciesSpec = LARGE_CLUSTER_POLICIES) {
    this.n = spec.admin + spec.baseline;
    // Shifts below the smaller step keep every policy's place in its tier and the priorities distinct.
    this.shiftMax = Math.max(1, Math.min(priorityStep(spec, 'Admin'), priorityStep(spec, 'Baseline')) - 1);
  }

  private version(c: number, v: ClusterPolicyVariant): ClusterPolicy {
    this.variants.set(c, v);
    return largeClusterPolicy(c, v, this.spec);
  }

  /** Round k's changes, in the order to apply them (each draws its policy when it is asked for). */
  *round(k: number): Generator<ClusterPolicyChange> {
    let c = this.r() % this.n;
    let v = this.variants.get(c) ?? {};
    const shift = 1 + (k % this.shiftMax);
    yield { kind: 'priority', c, policy: this.version(c, { ...v, priorityShift: shift === (v.priorityShift ?? 0) ? 0 : shift }) };
    c = this.r() % this.n;
    v = this.variants.get(c) ?? {};
    yield { kind: 'rule_edit', c, policy: this.version(c, { ...v, editRule: this.r(), edit: (v.edit ?? 0) + 1 }) };
    c = this.r() % this.n;
    const deleted = largeClusterPolicy(c, this.variants.get(c) ?? {}, this.spec);
    yield { kind: 'delete', c, id: clusterPolicyId(deleted) };
    yield { kind: 'add', c, policy: deleted };
  }
}
