// A policy CIDR that names exactly one node's address (an ipBlock 10.0.0.2/32 for the API
// server, a cluster policy `nodes` peer) makes an external block holding only that node's
// address. Such a block is an endpoint judged with the node's address: before, a block with no
// address outside pods and nodes was dropped, and connlist/diff left out every connection to
// and from that node although verify allowed them.

import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeConnectivity } from '../../src/analysis/connectivity.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { loadManifests } from '../../src/sources/manifests.ts';

const CLUSTER = `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {role: worker}}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {role: control-plane}}
status: {addresses: [{type: InternalIP, address: 10.0.0.2}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: a, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {phase: Running, podIP: 10.1.0.1, podIPs: [{ip: 10.1.0.1}]}
`;

const NP_IPBLOCK = `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-apiserver, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.2/32}}], ports: [{port: 6443}]}]
`;

const CNP_NODES = `---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: nodes}
spec:
  tier: Baseline
  priority: 0
  subject: {namespaces: {}}
  egress:
  - {action: Accept, to: [{nodes: {matchLabels: {role: control-plane}}}], protocols: [{tcp: {destinationPort: {number: 6443}}}]}
  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}
`;

const cases = [
  { name: 'NetworkPolicy ipBlock of one node', policies: NP_IPBLOCK, from: 'a/web', to: '10.0.0.2/32', ports: 'TCP 6443-6443', fromIP: '10.1.0.1', toIP: '10.0.0.2' },
  { name: 'NetworkPolicy ipBlock of one node, the node as source', policies: NP_IPBLOCK, from: '10.0.0.2/32', to: 'a/web', ports: 'TCP 1-65535', fromIP: '10.0.0.2', toIP: '10.1.0.1' },
  { name: 'cluster policy nodes peer', policies: CNP_NODES, from: 'a/web', to: '10.0.0.2/32', ports: 'TCP 6443-6443', fromIP: '10.1.0.1', toIP: '10.0.0.2' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-node-blocks-'));
    writeFileSync(join(dir, 'cluster.yaml'), CLUSTER + c.policies);
    const { state } = loadManifests([dir]);
    rmSync(dir, { recursive: true });
    t.ok(evaluate(state, { src: c.fromIP, dst: c.toIP, protocol: 'TCP', port: 6443 }).allowed, 'the evaluator allows it');
    const model = computeConnectivity(state);
    const e = model.edges.find((x) => x.from === c.from && x.to === c.to);
    t.ok(e, `${c.from} => ${c.to} is listed`);
    t.equal(e && e.ports.TCP.map((r) => `TCP ${r.from}-${r.to}`).join(','), c.ports);
    t.equal(model.endpoints.find((x) => x.id === '10.0.0.2/32')?.address, '10.0.0.2', 'the block is judged with the node address');
  });
}
