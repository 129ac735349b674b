// A small cluster with cluster policies in both tiers, for the CLI tests of explain, verify,
// matrix and lint: two nodes, a host-network pod, an Admin guardrail around the db namespace, an
// Admin Pass that delegates app's egress, and a Baseline that denies what nobody decided.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from './run-cli.ts';

const pod = (ns: string, name: string, labels: Record<string, string>, node: string, ip: string, ports = '', hostNetwork = false) => `
---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: ${JSON.stringify(labels)}}
spec: {nodeName: ${node}, hostNetwork: ${hostNetwork}, containers: [{name: c, ports: [${ports}]}]}
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}`;

const ns = (name: string, labels: Record<string, string> = {}) => `
---
apiVersion: v1
kind: Namespace
metadata: {name: ${name}, labels: ${JSON.stringify({ 'kubernetes.io/metadata.name': name, ...labels })}}`;

const node = (name: string, ip: string, labels: Record<string, string>) => `
---
apiVersion: v1
kind: Node
metadata: {name: ${name}, labels: ${JSON.stringify(labels)}}
status: {addresses: [{type: InternalIP, address: ${ip}}]}`;

/** Nodes, namespaces and pods: app/web and app/batch on node-a, db/pg on node-b, ops/mon, ops/agent (host network on node-a). */
export const CLUSTER = [
  node('node-a', '172.18.0.3', { 'kubernetes.io/hostname': 'node-a' }),
  node('node-b', '172.18.0.4', { 'kubernetes.io/hostname': 'node-b', role: 'db' }),
  ns('app', { team: 'app' }), ns('db', { team: 'db' }), ns('ops', { team: 'ops' }),
  pod('app', 'web', { app: 'web' }, 'node-a', '10.244.1.10', '{name: http, containerPort: 8080}'),
  pod('app', 'batch', { app: 'batch' }, 'node-a', '10.244.1.11'),
  pod('db', 'pg', { app: 'pg' }, 'node-b', '10.244.2.10', '{name: pg, containerPort: 5432}'),
  pod('ops', 'mon', { app: 'mon' }, 'node-b', '10.244.3.10'),
  pod('ops', 'agent', { app: 'agent' }, 'node-a', '172.18.0.3', '', true),
].join('').replace(/^\n---\n/, '');

/** The policies: deny-db and delegate (Admin), default (Baseline), NetworkPolicies for db/pg's ingress and app/web's egress. */
export const POLICIES = `
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-db}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {team: db}}}
  ingress:
  - {name: allow-monitoring, action: Accept, from: [{namespaces: {matchLabels: {team: ops}}}]}
  - {name: web-to-pg, action: Pass, from: [{pods: {namespaceSelector: {matchLabels: {team: app}}, podSelector: {matchLabels: {app: web}}}}], protocols: [{tcp: {destinationPort: {number: 5432}}}]}
  - {name: block-db, action: Deny, from: [{namespaces: {}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: delegate}
spec:
  tier: Admin
  priority: 20
  subject: {namespaces: {matchLabels: {team: app}}}
  egress:
  - {name: to-cluster, action: Pass, to: [{namespaces: {}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: default}
spec:
  tier: Baseline
  priority: 0
  subject: {namespaces: {}}
  egress:
  - {name: nodes-ok, action: Accept, to: [{nodes: {matchLabels: {role: db}}}]}
  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: pg-from-web, namespace: db}
spec:
  podSelector: {matchLabels: {app: pg}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: app}}, podSelector: {matchLabels: {app: web}}}], ports: [{port: pg}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: app}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {team: db}}}], ports: [{port: 5432}]}]
`;

/** Writes CLUSTER plus `policies` (default POLICIES) as <dir>/cluster.yaml; returns the folder. */
export function clusterPolicyDir(policies = POLICIES): string {
  const dir = tmpDir('palisade-cnp-');
  writeFileSync(join(dir, 'cluster.yaml'), CLUSTER + '\n' + policies);
  return dir;
}

/** An Admin policy for ops whose egress rules fail closed: a domainNames Accept, then a Deny with an unknown peer. */
export const FAIL_CLOSED = `
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: future}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {matchLabels: {team: ops}}}
  egress:
  - {name: to-example, action: Accept, to: [{domainNames: [example.com]}]}
  - {name: newer, action: Deny, to: [{exampleFuturePeer: {}}]}
`;
