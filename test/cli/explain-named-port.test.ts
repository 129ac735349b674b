// `explain` on a rule that matched through a named port says what the name resolved to on the
// destination pod, as it already does when the name resolves to another port: otherwise a reader
// sees `port named "web"` matched a connection to 80 and must look the pod up to know why.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tmpDir } from './run-cli.ts';

const CLUSTER = `apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {kubernetes.io/metadata.name: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {kubernetes.io/metadata.name: y, team: y}}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: srv, labels: {app: srv}}
spec: {nodeName: n1, containers: [{name: c, ports: [{name: web, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]}]}
status: {phase: Running, podIP: 10.1.0.1, podIPs: [{ip: 10.1.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: y, name: cli, labels: {app: cli}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {phase: Running, podIP: 10.1.0.2, podIPs: [{ip: 10.1.0.2}]}
`;

const NETWORK_POLICY = `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: by-name, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: web}, {port: dns, protocol: UDP}]
`;

const CLUSTER_POLICY = `---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: by-name}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: x}}}
  ingress:
  - {name: named, action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: dns}, {destinationNamedPort: web}]}
`;

function dir(policies: string): string {
  const d = tmpDir('palisade-named-');
  writeFileSync(join(d, 'cluster.yaml'), CLUSTER + policies);
  return d;
}

// [what, policies, port, protocol, the match line must say]
const CASES: [string, string, number, string, RegExp][] = [
  ['NetworkPolicy, TCP name', NETWORK_POLICY, 8080, 'TCP', /ingress\[0\]: MATCHES: every source \(no from\); ports\[0\] TCP port named "web" \(x\/srv's TCP\/8080\)/],
  ['NetworkPolicy, UDP name', NETWORK_POLICY, 53, 'UDP', /ingress\[0\]: MATCHES: every source \(no from\); ports\[1\] UDP port named "dns" \(x\/srv's UDP\/53\)/],
  ['cluster policy, second entry', CLUSTER_POLICY, 8080, 'TCP', /ingress\[0\] `named` Accept: MATCHES: from\[0\] namespaces <all>; protocols destinationNamedPort "dns", destinationNamedPort "web" \("web" is x\/srv's TCP\/8080\) -> Accept/],
  ['cluster policy, first entry', CLUSTER_POLICY, 53, 'UDP', /protocols destinationNamedPort "dns", destinationNamedPort "web" \("dns" is x\/srv's UDP\/53\) -> Accept/],
];

for (const [what, policies, port, protocol, want] of CASES) {
  t.test(what, async (t) => {
    const r = runCli(['explain', '--manifests', dir(policies), '--from', 'y/cli', '--to', 'x/srv', '--port', String(port), '--protocol', protocol]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /: allowed\n/);
    t.match(r.stdout, want);
  });
}
