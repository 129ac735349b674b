// "Traffic to and from the node where a Pod is running is always allowed": when a node's address
// is denied by a NetworkPolicy, `explain` says it is another node than the pod's own, so the
// reader who knows the exemption is not left wondering why it did not apply.

import t from 'tap';
import { POLICIES, clusterPolicyDir } from './cluster-policy-fixture.ts';
import { runCli } from './run-cli.ts';

// Only the fixture's NetworkPolicies: db/pg-from-web (db/pg's ingress, on node-b) and
// app/web-egress (app/web's egress, on node-a).
const NETWORK_POLICIES_ONLY = POLICIES.slice(POLICIES.indexOf('---\napiVersion: networking.k8s.io/v1'));

const OTHER = /is node (\S+), not the node \S+ runs on: the own-node exemption does not apply/;

// [what, policies, from, to, port, verdict, the node the line names (undefined: no such line)]
const CASES: [string, string, string, string, number, 'allowed' | 'DENIED', string | undefined][] = [
  ['NetworkPolicy only: another node to db/pg', NETWORK_POLICIES_ONLY, '172.18.0.3', 'db/pg', 5432, 'DENIED', 'node-a'],
  ['NetworkPolicy only: its own node to db/pg', NETWORK_POLICIES_ONLY, '172.18.0.4', 'db/pg', 5432, 'allowed', undefined],
  ['NetworkPolicy only: app/web egress to another node', NETWORK_POLICIES_ONLY, 'app/web', '172.18.0.4', 22, 'DENIED', 'node-b'],
  ['NetworkPolicy only: an outside host is no node', NETWORK_POLICIES_ONLY, '192.0.2.1', 'db/pg', 5432, 'DENIED', undefined],
  ['with cluster policies: the NetworkPolicy tier decides for a node', POLICIES, '172.18.0.3', 'db/pg', 5432, 'DENIED', 'node-a'],
];

for (const [what, policies, from, to, port, verdict, node] of CASES) {
  t.test(what, async (t) => {
    const r = runCli(['explain', '--manifests', clusterPolicyDir(policies), '--from', from, '--to', to, '--port', String(port)]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout.split('\n')[0], new RegExp(`: ${verdict}$`));
    const m = OTHER.exec(r.stdout);
    if (node === undefined) t.notOk(m, 'no own-node line');
    else t.equal(m?.[1], node, `names ${node}`);
  });
}
