// A deterministic large cluster for the benchmarks: 10,000 pods in 100 namespaces (half of them
// dual-stack), 10 nodes, 1,000 NetworkPolicies (10 per namespace) using every feature the compiler
// must handle: default deny, pod/namespace selectors (matchLabels and matchExpressions), 200
// ipBlocks with excepts (v4 and v6), named ports, endPort ranges, TCP/UDP/SCTP, ingress and
// egress. Built as decoded model objects (the layer the compiler reads).

import { ClusterState } from '../src/cluster/state.ts';
import type { ClusterPolicy, LabelSelector, Namespace, NetworkPolicy, Node, Pod, PolicyRule } from '../src/cluster/model.ts';

export interface LargeClusterSpec {
  readonly pods: number;
  readonly namespaces: number;
  readonly policiesPerNamespace: number;
  readonly nodes: number;
}
export const LARGE: LargeClusterSpec = { pods: 10_000, namespaces: 100, policiesPerNamespace: 10, nodes: 10 };

const sel = (matchLabels: Record<string, string> = {}, matchExpressions: LabelSelector['matchExpressions'] = []): LabelSelector => ({ matchLabels, matchExpressions });

export function podIPv4(i: number): string {
  return `10.64.${(i >> 8) & 255}.${i & 255}`;
}
export function podIPv6(i: number): string {
  return `fd00:10:64::${i.toString(16)}`;
}
export function nsName(n: number): string {
  return `ns-${n}`;
}

export function largePod(i: number, spec: LargeClusterSpec = LARGE, labelsOverride?: Record<string, string>): Pod {
  const n = i % spec.namespaces;
  const dual = i % 2 === 0;
  return {
    namespace: nsName(n),
    name: `pod-${i}`,
    labels: labelsOverride ?? {
      app: `app-${i % 40}`,
      tier: ['frontend', 'backend', 'db'][i % 3]!,
      role: i % 5 === 0 ? 'client' : 'server',
      version: `v${i % 4}`,
    },
    nodeName: `node-${i % spec.nodes}`,
    hostNetwork: false,
    phase: 'Running',
    ips: dual ? [podIPv4(i), podIPv6(i)] : [podIPv4(i)],
    ports: [
      // The same name resolves to different numbers on different pods (named-port resolution
      // is per destination pod).
      { name: 'http', containerPort: i % 2 ? 8081 : 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
      { name: 'dns', containerPort: 53, protocol: 'UDP' },
      { name: 'diameter', containerPort: 3868, protocol: 'SCTP' },
    ],
  };
}

export function largeNamespace(n: number): Namespace {
  return {
    name: nsName(n),
    labels: { 'kubernetes.io/metadata.name': nsName(n), team: `team-${n % 20}`, env: n % 2 ? 'prod' : 'staging' },
  };
}

export function largeNode(k: number): Node {
  // 192.168/16 node addresses: words >= 2^31, which the hot path must handle without boxing.
  // Labels for ClusterNetworkPolicy `nodes` peers (large-cluster-policies.ts); NetworkPolicy never reads them.
  return { name: `node-${k}`, labels: { 'node-role': k < 3 ? 'infra' : 'worker', zone: `zone-${k % 3}` }, addresses: [`192.168.0.${k + 1}`, `fd00:ffff::${(k + 1).toString(16)}`] };
}

/** Policy j (0..9) of namespace n. `variant` changes its ports (for the policy-update benchmark). */
export function largePolicy(n: number, j: number, variant = 0): NetworkPolicy {
  const namespace = nsName(n);
  const name = `np-${j}`;
  const ing = (ingress: PolicyRule[], podSelector = sel()): NetworkPolicy => ({
    namespace, name, podSelector, policyTypes: { ingress: true, egress: false }, ingress, egress: [],
  });
  const egr = (egress: PolicyRule[], podSelector: LabelSelector): NetworkPolicy => ({
    namespace, name, podSelector, policyTypes: { ingress: false, egress: true }, ingress: [], egress,
  });
  switch (j) {
    case 0: // default deny ingress for half the namespaces, allow-all for the rest
      return n % 2 ? ing([]) : ing([{ peers: [], ports: [] }], sel({ tier: 'frontend' }));
    case 1: // same-namespace frontends to app pods on the named port
      return ing([{ peers: [{ podSelector: sel({ tier: 'frontend' }) }], ports: [{ protocol: 'TCP', port: 'http' }] }], sel({ app: `app-${n % 40}` }));
    case 2: // clients of a team, port range
      return ing([{
        peers: [{ namespaceSelector: sel({ team: `team-${(n + 1) % 20}` }), podSelector: sel({ role: 'client' }) }],
        ports: [{ protocol: 'TCP', port: 8080 + variant, endPort: 8090 + variant }],
      }], sel({ tier: 'backend' }));
    case 3: // the 200 ipBlocks: one v4 and one v6 block with excepts per namespace
      return ing([{
        peers: [
          { ipBlock: { cidr: `10.64.${n}.0/24`, except: [`10.64.${n}.128/25`] } },
          { ipBlock: { cidr: `fd00:10:64::${(n * 256).toString(16)}/120`, except: [`fd00:10:64::${(n * 256 + 128).toString(16)}/121`] } },
        ],
        ports: [{ protocol: 'TCP', port: 9090 }, { protocol: 'UDP', port: 53 }],
      }], sel({ tier: 'db' }));
    case 4: // egress DNS and SCTP to prod namespaces
      return egr([{
        peers: [{ namespaceSelector: sel({ env: 'prod' }) }],
        ports: [{ protocol: 'UDP', port: 'dns' }, { protocol: 'SCTP', port: 3868 }, { protocol: 'TCP', port: 'http' }],
      }], sel({ role: 'client' }));
    case 5: // matchExpressions
      return ing([{
        peers: [{ podSelector: sel({}, [{ key: 'app', operator: 'In', values: [`app-${n % 40}`, `app-${(n + 1) % 40}`, `app-${(n + 2) % 40}`] }, { key: 'tier', operator: 'NotIn', values: ['db'] }]) }],
        ports: [{ protocol: 'TCP', port: 443 + variant }],
      }], sel({}, [{ key: 'version', operator: 'Exists', values: [] }]));
    case 6: // db pods may only talk to their own team
      return egr([{ peers: [{ namespaceSelector: sel({ team: `team-${n % 20}` }) }], ports: [] }], sel({ tier: 'db' }));
    case 7: // a public app open to everyone
      return ing([{ peers: [], ports: [] }], sel({ app: 'app-7' }));
    case 8: // metrics scraping from any namespace, named port
      return ing([{ peers: [{ namespaceSelector: sel() }], ports: [{ protocol: 'TCP', port: 'metrics' }] }], sel({ role: 'server' }));
    default: // egress to databases, SCTP range
      return egr([{
        peers: [{ podSelector: sel({ tier: 'db' }), namespaceSelector: sel({ env: n % 2 ? 'prod' : 'staging' }) }],
        ports: [{ protocol: 'TCP', port: 5432 }, { protocol: 'SCTP', port: 3868, endPort: 3870 + variant }],
      }], sel({ tier: 'backend' }));
  }
}

/** `clusterPolicies`: added after the NetworkPolicies, in the same batch (see large-cluster-policies.ts). */
export function buildLargeCluster(spec: LargeClusterSpec = LARGE, clusterPolicies: readonly ClusterPolicy[] = []): ClusterState {
  const state = new ClusterState();
  state.batch(() => {
    for (let k = 0; k < spec.nodes; k++) state.upsertNode(largeNode(k));
    for (let n = 0; n < spec.namespaces; n++) state.upsertNamespace(largeNamespace(n));
    for (let i = 0; i < spec.pods; i++) state.upsertPod(largePod(i, spec));
    for (let n = 0; n < spec.namespaces; n++) {
      for (let j = 0; j < spec.policiesPerNamespace; j++) state.upsertPolicy(largePolicy(n, j));
    }
    for (const p of clusterPolicies) state.upsert(p.kind, p);
  });
  return state;
}
