// Cluster policy rules that fail closed on a field the API server stores but Palisade cannot
// match (rule.failsClosed: a peer selector that cannot be built, a v1alpha1 port it cannot
// match, a port field of a newer API version): what the plain evaluator decides, and that the compiled engine (a fresh compile and
// one kept current through the state's changes) decides exactly the same. "For "Accept" rules,
// "fail closed" means: "treat the rule as matching no traffic". For "Deny" and "Pass" rules,
// "fail closed" means: "treat the rule as a 'Deny all' rule"." The policy's other rules stay in
// force: the guardrail must not open.

import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import type { Protocol } from '../../src/cluster/model.ts';
import { canonical } from '../../support/differential.ts';

const BASE = `
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {kubernetes.io/metadata.name: app, team: app}}
---
apiVersion: v1
kind: Namespace
metadata: {name: db, labels: {kubernetes.io/metadata.name: db, team: db}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {kubernetes.io/metadata.name: ops, team: ops}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: app, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: pg, namespace: db, labels: {app: pg}}
spec: {nodeName: node-a, containers: [{name: c, ports: [{name: pg, containerPort: 5432}]}]}
status: {phase: Running, podIP: 10.244.2.10}
---
apiVersion: v1
kind: Pod
metadata: {name: mon, namespace: ops, labels: {app: mon}}
spec: {nodeName: node-a, containers: [{name: c}]}
status: {phase: Running, podIP: 10.244.3.10}
`;
const IP: Record<string, string> = { web: '10.244.1.10', pg: '10.244.2.10', mon: '10.244.3.10', outside: '192.0.2.1' };

const cnp = (name: string, tier: string, priority: number, subject: string, rules: string) => `
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: ${name}}
spec:
  tier: ${tier}
  priority: ${priority}
  subject: ${subject}
${rules}`;
const APP = '{namespaces: {matchLabels: {team: app}}}';
const DB = '{namespaces: {matchLabels: {team: db}}}';

/** [from, to, protocol, port, allowed, the deciding rule as "policy egress|ingress[i]" or '-'] */
type Probe = [string, string, Protocol, number, boolean, string];

interface Row {
  name: string;
  /** Policy documents, each valid to the decoder (a warning is expected for every fail-closed field). */
  docs: string[];
  /** How many fail-closed warnings the documents give. */
  warnings: number;
  probes: Probe[];
}

const ROWS: Row[] = [
  {
    name: 'Admin Deny with a pods peer of an unknown operator: denies all egress of app, the Accept after it never decides',
    docs: [cnp('guard', 'Admin', 10, APP, `  egress:
  - {name: no-db, action: Deny, to: [{pods: {namespaceSelector: {}, podSelector: {matchExpressions: [{key: app, operator: Equals, values: [pg]}]}}}]}
  - {name: rest, action: Accept, to: [{namespaces: {}}]}`)],
    warnings: 1,
    probes: [
      ['web', 'pg', 'TCP', 5432, false, 'guard egress[0]'],
      ['web', 'mon', 'TCP', 80, false, 'guard egress[0]'],
      ['web', 'outside', 'UDP', 53, false, 'guard egress[0]'],
      ['mon', 'pg', 'TCP', 5432, true, '-'],
    ],
  },
  {
    name: 'Admin Accept with In and no values: matches nothing, the lower-priority Deny decides',
    docs: [
      cnp('allow-db', 'Admin', 10, APP, '  egress: [{name: to-db, action: Accept, to: [{namespaces: {matchLabels: {team: db}}}, {namespaces: {matchExpressions: [{key: team, operator: In}]}}]}]'),
      cnp('deny-all', 'Admin', 20, APP, '  egress: [{name: all, action: Deny, to: [{namespaces: {}}]}]'),
    ],
    warnings: 1,
    probes: [
      ['web', 'pg', 'TCP', 5432, false, 'deny-all egress[0]'],
      ['web', 'mon', 'TCP', 80, false, 'deny-all egress[0]'],
      ['web', 'outside', 'TCP', 443, true, '-'],
    ],
  },
  {
    name: 'Admin Pass on ingress of db with a bad label key: denies all ingress of db at its place, rules before it still decide',
    docs: [cnp('db-in', 'Admin', 10, DB, `  ingress:
  - {name: ops-ok, action: Accept, from: [{namespaces: {matchLabels: {team: ops}}}]}
  - {name: delegate, action: Pass, from: [{namespaces: {matchLabels: {'bad key': x}}}]}`)],
    warnings: 1,
    probes: [
      ['mon', 'pg', 'TCP', 5432, true, 'db-in ingress[0]'],
      ['web', 'pg', 'TCP', 5432, false, 'db-in ingress[1]'],
      ['pg', 'web', 'TCP', 8080, true, '-'],
    ],
  },
  {
    name: 'Baseline Deny with a nodes peer of Exists with values: denies all egress of app (no NetworkPolicy decides first)',
    docs: [cnp('base', 'Baseline', 0, APP, '  egress: [{name: no-nodes, action: Deny, to: [{nodes: {matchExpressions: [{key: role, operator: Exists, values: [worker]}]}}]}]')],
    warnings: 1,
    probes: [
      ['web', 'pg', 'TCP', 5432, false, 'base egress[0]'],
      ['web', 'outside', 'TCP', 443, false, 'base egress[0]'],
      ['pg', 'web', 'TCP', 8080, true, '-'],
    ],
  },
  {
    name: 'v1alpha1 AdminNetworkPolicy Deny with a bad matchLabels value and a BaselineAdminNetworkPolicy Allow with NotIn and no values',
    docs: [`
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: anp}
spec:
  priority: 5
  subject: {namespaces: {matchLabels: {team: ops}}}
  ingress: [{name: no-app, action: Deny, from: [{namespaces: {matchLabels: {team: '-app'}}}]}]`, `
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {matchLabels: {team: db}}}
  ingress:
  - {name: from-app, action: Allow, from: [{namespaces: {matchExpressions: [{key: team, operator: NotIn}]}}]}
  - {name: rest, action: Deny, from: [{namespaces: {}}]}`],
    warnings: 2,
    probes: [
      ['web', 'mon', 'TCP', 80, false, 'AdminNetworkPolicy:anp ingress[0]'],
      ['pg', 'mon', 'TCP', 80, false, 'AdminNetworkPolicy:anp ingress[0]'],
      ['web', 'pg', 'TCP', 5432, false, 'BaselineAdminNetworkPolicy:default ingress[1]'],
      ['mon', 'web', 'TCP', 8080, true, '-'],
    ],
  },
  {
    name: 'Admin Deny with a protocols entry of a newer API version: denies all ingress of db; an Accept with one matches nothing',
    docs: [
      cnp('db-guard', 'Admin', 10, DB, '  ingress: [{name: no-icmp, action: Deny, from: [{namespaces: {matchLabels: {team: app}}}], protocols: [{icmp: {type: 8}}]}]'),
      cnp('ops-out', 'Admin', 10, '{namespaces: {matchLabels: {team: ops}}}', `  egress:
  - {name: web-only, action: Accept, to: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 8080}, flags: [SYN]}}]}
  - {name: rest, action: Deny, to: [{namespaces: {}}]}`),
    ],
    warnings: 2,
    probes: [
      ['web', 'pg', 'TCP', 5432, false, 'db-guard ingress[0]'],
      ['web', 'pg', 'UDP', 53, false, 'db-guard ingress[0]'],
      ['mon', 'web', 'TCP', 8080, false, 'ops-out egress[1]'],
      ['pg', 'web', 'TCP', 8080, true, '-'],
    ],
  },
];

function stateOf(docs: readonly string[]): { state: ClusterState; warnings: number } {
  const state = new ClusterState();
  let warnings = 0;
  for (const doc of parseAllDocuments([BASE, ...docs].join('\n---\n'))) {
    const v = doc.toJS();
    if (!v) continue;
    const d = decodeObject(v);
    if (d.kind === 'invalid') throw new Error(`rejected: ${JSON.stringify(d.errors)}`);
    if (d.kind !== 'ignored') warnings += d.warnings?.filter((w) => /fails closed/.test(w.message)).length ?? 0;
    applyDecoded(state, d);
  }
  return { state, warnings };
}

for (const row of ROWS) {
  t.test(row.name, async (t) => {
    // Kept current through the changes (policies applied after the compile), as the agent runs it.
    const base = stateOf([]).state;
    const incremental = new CompiledEngine(base);
    base.onChange((changes) => incremental.update(changes));
    const { state, warnings } = stateOf(row.docs);
    t.equal(warnings, row.warnings, 'every fail-closed field is warned about');
    t.equal(state.rejected.size, 0, 'no policy rejected');
    for (const doc of row.docs) applyDecoded(base, decodeObject(parseAllDocuments(doc)[0]!.toJS()));
    const fresh = new CompiledEngine(state);
    for (const [from, to, protocol, port, allowed, rule] of row.probes) {
      const conn = { src: IP[from]!, dst: IP[to]!, protocol, port };
      const label = `${from} -> ${to} ${protocol}/${port}`;
      const d = evaluate(state, conn);
      t.equal(d.allowed, allowed, `${label}: ${allowed ? 'allowed' : 'denied'}`);
      const decided = [d.egress.rule, d.ingress.rule].find((r) => r?.tier === 'admin' || r?.tier === 'baseline');
      t.equal(decided ? `${decided.policy} ${decided.direction}[${decided.index}]` : '-', rule, `${label}: decided by ${rule}`);
      t.equal(canonical(fresh.decide(conn)), canonical(d), `${label}: the compiled engine decides as the evaluator`);
      t.equal(canonical(incremental.decide(conn)), canonical(d), `${label}: so does one updated incrementally`);
    }
  });
}
