// `palisade matrix` leaves out pods policy cannot see there; its note says why for each pod, in
// connlist's words ("host network", "finished", "no IPv6 address"), not one list of three
// possible reasons the reader must tell apart.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tmpDir } from './run-cli.ts';

const pod = (name: string, ips: string[], extra: { hostNetwork?: boolean; phase?: string } = {}) => `---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: ${name}, labels: {app: ${name}}}
spec: {nodeName: n1, hostNetwork: ${extra.hostNetwork === true}, containers: [{name: c}]}
status: {phase: ${extra.phase ?? 'Running'}, podIP: ${ips[0] ?? '""'}, podIPs: [${ips.map((ip) => `{ip: "${ip}"}`).join(', ')}]}
`;

const CLUSTER = [
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n',
  'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.2}]}\n',
  pod('dual', ['10.1.0.1', 'fd00::1']),
  pod('v4only', ['10.1.0.2']),
  pod('host', ['172.18.0.2'], { hostNetwork: true }),
  pod('done', ['10.1.0.3', 'fd00::3'], { phase: 'Succeeded' }),
].join('---\n');

// [family, the pods left out with their reason]
const CASES: [string, string][] = [
  ['IPv4', 'x/done (finished), x/host (host network)'],
  ['IPv6', 'x/done (finished), x/host (host network), x/v4only (no IPv6 address); --family IPv4 judges their IPv4 addresses'],
];

for (const [family, note] of CASES) {
  t.test(family, async (t) => {
    const dir = tmpDir('palisade-matrix-left-');
    writeFileSync(join(dir, 'cluster.yaml'), CLUSTER);
    const r = runCli(['matrix', '--manifests', dir, '--port', '80', '--family', family]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, `palisade matrix: note: left out: ${note}\n`);
  });
}
