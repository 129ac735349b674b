// Lint of cluster policies (Admin and Baseline tiers): one small cluster per finding, which must
// name the object and field and say why; a near miss next to each that must NOT be reported.

import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { ClusterState } from '../../src/cluster/state.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { formatFindings, lint, LINT, type Finding, type LintCode } from '../../src/policy/lint.ts';

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
kind: Node
metadata: {name: node-a, labels: {role: worker}}
status: {addresses: [{type: InternalIP, address: 172.18.0.3}]}
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

/** The cluster of BASE plus the YAML documents, through the real decoder. */
function cluster(yaml: string): ClusterState {
  const st = new ClusterState();
  for (const doc of parseAllDocuments(BASE + '\n---\n' + yaml)) {
    const v = doc.toJS();
    if (!v) continue;
    const d = decodeObject(v);
    if (d.kind === 'invalid') throw new Error(JSON.stringify(d.errors));
    applyDecoded(st, d);
  }
  return st;
}

const CLUSTER_CODES: readonly LintCode[] = [
  LINT.CLUSTER_PRIORITY_TIE, LINT.CLUSTER_RULE_SHADOWED, LINT.CLUSTER_PASS_TO_DEFAULT, LINT.DOMAIN_NAMES_LEARNED, LINT.FAIL_CLOSED_PEER, LINT.FAIL_CLOSED_FIELD,
];
const clusterFindings = (fs: readonly Finding[]) => fs.filter((f) => CLUSTER_CODES.includes(f.code));
const summary = (fs: readonly Finding[]) => clusterFindings(fs).map((f) => `${f.code} ${f.object} ${f.field ?? ''}`.trim());

const cnp = (name: string, tier: string, priority: number, subject: string, rules: string) => `
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: ${name}}
spec:
  tier: ${tier}
  priority: ${priority}
  subject: ${subject}
${rules}`;

const DB = '{namespaces: {matchLabels: {team: db}}}';
const APP = '{namespaces: {matchLabels: {team: app}}}';
const ALL_NS = '{namespaces: {}}';

interface Case {
  name: string;
  yaml: string;
  /** The cluster-policy findings lint must report, exactly ("code object field"). */
  want: string[];
  /** For the first wanted finding: severity and text. */
  severity?: 'warning' | 'error';
  reason?: RegExp;
  fix?: RegExp;
}

const CASES: Case[] = [
  {
    name: 'priority tie with overlapping rules: reported on the policy taken second, saying Palisade orders by id',
    yaml:
      cnp('a-deny', 'Admin', 10, DB, '  ingress: [{action: Deny, from: [{namespaces: {}}]}]') +
      cnp('b-allow', 'Admin', 10, '{pods: {namespaceSelector: {matchLabels: {team: db}}, podSelector: {matchLabels: {app: pg}}}}',
        '  ingress: [{name: ops-in, action: Accept, from: [{namespaces: {matchLabels: {team: ops}}}]}]'),
    want: ['cluster-priority-tie ClusterNetworkPolicy b-allow spec.priority'],
    severity: 'warning',
    reason: /ClusterNetworkPolicy a-deny is also Admin priority 10, and their rules overlap: a-deny spec.ingress\[0\] \(Deny\) and this policy's spec.ingress\[0\] \(ops-in\) \(Accept\).*"the implementation can apply any of the matching policies".*id order \(a-deny first\)/,
    fix: /another priority/,
  },
  {
    name: 'same priority, disjoint peers: no tie',
    yaml:
      cnp('a-deny', 'Admin', 10, DB, '  ingress: [{action: Deny, from: [{namespaces: {matchLabels: {team: app}}}]}]') +
      cnp('b-allow', 'Admin', 10, DB, '  ingress: [{action: Accept, from: [{namespaces: {matchLabels: {team: ops}}}]}]'),
    want: [],
  },
  {
    name: 'same priority, other tier: no tie',
    yaml:
      cnp('a-deny', 'Admin', 10, DB, '  ingress: [{action: Deny, from: [{namespaces: {}}]}]') +
      cnp('b-deny', 'Baseline', 10, DB, '  ingress: [{action: Deny, from: [{namespaces: {}}]}]'),
    want: [],
  },
  {
    name: 'same priority, overlapping networks on egress (CIDR inside CIDR): tie',
    yaml:
      cnp('a-net', 'Admin', 3, APP, '  egress: [{action: Deny, to: [{networks: [10.0.0.0/8]}]}]') +
      cnp('b-net', 'Admin', 3, ALL_NS, '  egress: [{action: Accept, to: [{networks: [10.1.2.0/24]}], protocols: [{tcp: {destinationPort: {number: 443}}}]}]'),
    want: ['cluster-priority-tie ClusterNetworkPolicy b-net spec.priority'],
  },
  {
    name: 'a Deny after an Accept for the same peers in one policy is shadowed',
    yaml: cnp('deny-db', 'Admin', 10, DB, `  ingress:
  - {name: ops-ok, action: Accept, from: [{namespaces: {matchLabels: {team: ops}}}]}
  - {name: no-ops-5432, action: Deny, from: [{namespaces: {matchLabels: {team: ops}}}], protocols: [{tcp: {destinationPort: {number: 5432}}}]}`),
    want: ['cluster-rule-shadowed ClusterNetworkPolicy deny-db spec.ingress[1]'],
    severity: 'warning',
    reason: /this Deny rule never decides anything: every connection it matches is matched first by spec.ingress\[0\] \(ops-ok\), whose Accept decides it instead \(the first matching rule of the tier decides; rules are taken in written order\)/,
    fix: /move this rule before spec.ingress\[0\] \(ops-ok\)/,
  },
  {
    name: 'narrow rule first, broad rule after: not shadowed',
    yaml: cnp('deny-db', 'Admin', 10, DB, `  ingress:
  - {action: Deny, from: [{namespaces: {matchLabels: {team: ops}}}], protocols: [{tcp: {destinationPort: {number: 5432}}}]}
  - {action: Accept, from: [{namespaces: {matchLabels: {team: ops}}}]}`),
    want: [],
  },
  {
    name: 'a rule of a later policy is shadowed by a lower-priority policy selecting every pod',
    yaml:
      cnp('guard', 'Admin', 5, ALL_NS, '  egress: [{action: Deny, to: [{networks: [10.0.0.0/8]}]}]') +
      cnp('app-out', 'Admin', 10, APP, '  egress: [{name: to-svc, action: Accept, to: [{networks: [10.1.0.0/16]}]}]'),
    want: ['cluster-rule-shadowed ClusterNetworkPolicy app-out spec.egress[0]'],
    reason: /matched first by ClusterNetworkPolicy guard \(priority 5\) spec.egress\[0\], whose Deny decides it instead.*lower priorities are checked first/,
    fix: /or give this policy a lower priority/,
  },
  {
    name: 'the earlier policy selects other pods: not shadowed',
    yaml:
      cnp('guard', 'Admin', 5, DB, '  egress: [{action: Deny, to: [{networks: [10.0.0.0/8]}]}]') +
      cnp('app-out', 'Admin', 10, APP, '  egress: [{action: Accept, to: [{networks: [10.1.0.0/16]}]}]'),
    want: [],
  },
  {
    name: 'a Baseline Pass goes to the default allow',
    yaml: cnp('default', 'Baseline', 0, ALL_NS, '  ingress: [{action: Pass, from: [{namespaces: {matchLabels: {team: ops}}}]}, {action: Deny, from: [{namespaces: {}}]}]'),
    want: ['cluster-pass-to-default ClusterNetworkPolicy default spec.ingress[0]'],
    severity: 'warning',
    reason: /a Pass in the Baseline tier passes to the default, which allows/,
    fix: /action: Accept/,
  },
  {
    name: 'an Admin Pass with no NetworkPolicy and no Baseline below it',
    yaml: cnp('delegate', 'Admin', 20, APP, '  egress: [{name: to-cluster, action: Pass, to: [{namespaces: {}}]}]'),
    want: ['cluster-pass-to-default ClusterNetworkPolicy delegate spec.egress[0]'],
    reason: /hands egress of app\/web to the lower tiers, but no NetworkPolicy isolates it for egress and no Baseline policy has egress rules for it: the default allows/,
    fix: /Accept/,
  },
  {
    name: 'an Admin Pass with a NetworkPolicy below it: fine',
    yaml: cnp('delegate', 'Admin', 20, APP, '  egress: [{action: Pass, to: [{namespaces: {}}]}]') + `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: app}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 5432}]}]}`,
    want: [],
  },
  {
    name: 'an Admin Pass with a Baseline below it: fine',
    yaml: cnp('delegate', 'Admin', 20, APP, '  egress: [{action: Pass, to: [{namespaces: {}}]}]') +
      cnp('default', 'Baseline', 0, ALL_NS, '  egress: [{action: Deny, to: [{namespaces: {}}]}]'),
    want: [],
  },
  {
    name: 'domainNames match only what DNS teaches at run time: a warning, the rule does not fail closed',
    yaml: cnp('egress-out', 'Admin', 10, APP, '  egress: [{name: out, action: Accept, to: [{networks: [192.0.2.0/24]}, {domainNames: [example.com]}]}]'),
    want: ['domain-names-learned ClusterNetworkPolicy egress-out spec.egress[0].to[1].domainNames'],
    severity: 'warning',
    reason: /matches only addresses the node's agent learns from DNS answers to the subject pods \(example.com\)/,
    fix: /resolve these names through DNS before connecting/,
  },
  {
    name: 'a peer with no known field in a Deny: deny-all, and the rules after it are shadowed',
    yaml: cnp('future', 'Admin', 10, DB, `  ingress:
  - {action: Deny, from: [{exampleFuturePeer: {}}]}
  - {action: Accept, from: [{namespaces: {}}]}`),
    want: ['cluster-rule-shadowed ClusterNetworkPolicy future spec.ingress[1]', 'fail-closed-peer ClusterNetworkPolicy future spec.ingress[0].from[0]'],
    severity: 'warning',
    reason: /matched first by spec.ingress\[0\], whose Deny \(failed closed\) decides it/,
  },
  {
    name: 'a peer with no known field in an Accept: matches nothing (error)',
    yaml: cnp('future', 'Admin', 10, DB, '  ingress: [{action: Accept, from: [{namespaces: {matchLabels: {team: ops}}}, {exampleFuturePeer: {}}]}]'),
    want: ['fail-closed-peer ClusterNetworkPolicy future spec.ingress[0].from[1]'],
    severity: 'error',
    reason: /sets no field this Palisade knows.*the rule fails closed \(Accept matches nothing\)/,
    fix: /set exactly one of namespaces, pods/,
  },
  // A peer selector the CRD stores but no selector can be built from: the rule fails closed,
  // reported at the selector's field (the peer decodes as {}, and is not also a "no known field" peer).
  {
    name: 'a peer selector with an unknown operator in an Admin Deny: deny-all, named at its field, and the rules after it are shadowed',
    yaml: cnp('guard', 'Admin', 10, DB, `  ingress:
  - {action: Deny, from: [{pods: {podSelector: {matchExpressions: [{key: app, operator: Equals, values: [web]}]}}}]}
  - {action: Accept, from: [{namespaces: {}}]}`),
    want: ['fail-closed-field ClusterNetworkPolicy guard spec.ingress[0].from[0].pods.podSelector.matchExpressions[0].operator', 'cluster-rule-shadowed ClusterNetworkPolicy guard spec.ingress[1]'],
    severity: 'warning',
    reason: /^invalid value "Equals": not a valid selector operator .*, so this peer's selector cannot be built: this Deny rule fails closed and denies ALL ingress traffic of the subject pods/,
    fix: /operator In, NotIn, Exists or DoesNotExist/,
  },
  {
    name: 'a peer selector In without values in an Accept beside a good peer: matches nothing (error)',
    yaml: cnp('guard', 'Baseline', 10, DB, '  egress: [{action: Accept, to: [{namespaces: {matchLabels: {team: ops}}}, {nodes: {matchExpressions: [{key: role, operator: In}]}}]}]'),
    want: ['fail-closed-field ClusterNetworkPolicy guard spec.egress[0].to[1].nodes.matchExpressions[0].values'],
    severity: 'error',
    reason: /cannot be built: this Accept rule fails closed and matches no traffic \(its other peers and ports do not count either\)/,
    fix: /values for In and NotIn only/,
  },
  {
    name: 'a v1alpha1 port the API server stores but no traffic matches (protocol "ICMP") in a Deny: deny-all, named at its field',
    yaml: `
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: icmp}
spec:
  priority: 10
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{namespaces: {}}], ports: [{portNumber: {protocol: TCP, port: 22}}, {portNumber: {protocol: ICMP, port: 8}}]}]`,
    want: ['fail-closed-field AdminNetworkPolicy icmp spec.egress[0].ports[1].portNumber.protocol'],
    severity: 'warning',
    reason: /^unsupported protocol "ICMP" .*: this Deny rule fails closed and denies ALL egress traffic of the subject pods/,
    fix: /"TCP", "UDP" or "SCTP"/,
  },
  {
    name: 'a v1alpha1 range with start above end in an Allow: matches nothing (error)',
    yaml: `
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress: [{action: Allow, from: [{namespaces: {}}], ports: [{portRange: {start: 9000, end: 90}}]}]`,
    want: ['fail-closed-field BaselineAdminNetworkPolicy default spec.ingress[0].ports[0].portRange'],
    severity: 'error',
    reason: /start 9000 is above end 90, an empty range: this Accept rule fails closed and matches no traffic/,
  },
  {
    name: 'a protocols entry of a newer API version (an unknown field) in a Deny: deny-all, named at its field',
    yaml: cnp('future-port', 'Admin', 10, DB, '  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{icmp: {type: 8}}]}]'),
    want: ['fail-closed-field ClusterNetworkPolicy future-port spec.ingress[0].protocols[0].icmp'],
    severity: 'warning',
    reason: /^unknown field "icmp" .*a port field of a newer API version than this Palisade reads, or a typo: this Deny rule fails closed and denies ALL ingress traffic/,
    fix: /no field of a newer API version/,
  },
  {
    name: 'v1alpha1 kinds are named by their kind',
    yaml: `
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress: [{action: Allow, from: [{namespaces: {}}]}, {action: Deny, from: [{namespaces: {matchLabels: {team: ops}}}]}]`,
    want: ['cluster-rule-shadowed BaselineAdminNetworkPolicy default spec.ingress[1]'],
  },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const fs = lint(cluster(c.yaml));
    t.same(summary(fs).sort(), [...c.want].sort(), formatFindings(clusterFindings(fs)));
    if (c.want.length === 0) return;
    const hit = clusterFindings(fs).find((f) => `${f.code} ${f.object} ${f.field}` === c.want[0]);
    if (!hit) return;
    if (c.severity) t.equal(hit.severity, c.severity);
    if (c.reason) t.match(hit.reason, c.reason);
    if (c.fix) t.match(hit.fix, c.fix);
  });
}

// The NetworkPolicy checks know the tiers too: a pod that only cluster policy rules decide for
// does not "allow all traffic".
t.test('no-default-deny does not call pods with cluster policy rules open', async (t) => {
  const fs = lint(cluster(cnp('default', 'Baseline', 0, DB, '  egress: [{action: Deny, to: [{networks: [0.0.0.0/0]}]}]')));
  const db = fs.find((f) => f.code === LINT.NO_DEFAULT_DENY && f.object === 'Namespace db');
  t.match(db?.reason, /\(now ingress: db\/pg allows all traffic; egress: 1 pod\(s\) only have cluster policy rules, which decide what they match\)/);
  const app = fs.find((f) => f.code === LINT.NO_DEFAULT_DENY && f.object === 'Namespace app');
  t.match(app?.reason, /egress: app\/web allows all traffic\)/);
});

// A cluster policy whose subject selects no pod has no effect, like a NetworkPolicy whose
// podSelector selects nothing; before, lint said nothing about it (a mistyped label in an Admin
// guardrail left the pods it meant to protect unprotected, silently).
const HOST_NET = `
---
apiVersion: v1
kind: Namespace
metadata: {name: infra, labels: {kubernetes.io/metadata.name: infra, team: infra}}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: infra, labels: {app: agent}}
spec: {nodeName: node-a, hostNetwork: true, containers: [{name: c}]}
status: {phase: Running, podIP: 172.18.0.3}
`;
const DENY_IN = '  ingress: [{action: Deny, from: [{namespaces: {}}]}]';
const SUBJECT_CASES: { name: string; yaml: string; want: string[]; reason?: RegExp }[] = [
  {
    name: 'namespaces subject with a mistyped label: reported, with the typo hint',
    yaml: cnp('guard-db', 'Admin', 10, '{namespaces: {matchLabels: {team: dbb}}}', DENY_IN),
    want: ['label-typo ClusterNetworkPolicy guard-db spec.subject.namespaces.matchLabels', 'selector-matches-nothing ClusterNetworkPolicy guard-db spec.subject.namespaces'],
    reason: /subject namespaces "team=dbb" selects no pod \(the namespaceSelector matches no namespace\), so the policy has no effect today/,
  },
  {
    name: 'pods subject whose podSelector matches no pod of the namespaces',
    yaml: cnp('guard-pg', 'Admin', 10, '{pods: {namespaceSelector: {matchLabels: {team: db}}, podSelector: {matchLabels: {app: pgg}}}}', DENY_IN),
    want: ['label-typo ClusterNetworkPolicy guard-pg spec.subject.pods.podSelector.matchLabels', 'selector-matches-nothing ClusterNetworkPolicy guard-pg spec.subject.pods'],
    reason: /subject pods namespaceSelector "team=db" AND podSelector "app=pgg" selects no pod, so/,
  },
  {
    name: 'a subject matching only host-network pods: they are never subjects',
    yaml: HOST_NET + cnp('guard-infra', 'Admin', 10, '{namespaces: {matchLabels: {team: infra}}}', DENY_IN),
    want: ['selector-matches-nothing ClusterNetworkPolicy guard-infra spec.subject.namespaces'],
    reason: /matches only host-network pods, infra\/agent, and host-network pods are never subjects/,
  },
  { name: 'a subject selecting a pod: nothing', yaml: cnp('guard-db', 'Admin', 10, DB, DENY_IN), want: [] },
  { name: 'an every-pod subject: nothing', yaml: cnp('all', 'Baseline', 0, ALL_NS, DENY_IN), want: [] },
];
for (const c of SUBJECT_CASES) {
  t.test(c.name, async (t) => {
    const fs = lint(cluster(c.yaml)).filter((f) => f.object.startsWith('ClusterNetworkPolicy') && f.field?.startsWith('spec.subject'));
    t.same(fs.map((f) => `${f.code} ${f.object} ${f.field}`).sort(), c.want, formatFindings(fs));
    const hit = fs.find((f) => f.code === LINT.SELECTOR_MATCHES_NOTHING);
    if (c.reason) t.match(hit?.reason, c.reason);
    if (hit) t.equal(hit.severity, 'warning');
  });
}

// A destinationNamedPort that no destination pod names matches nothing, like a NetworkPolicy
// named port no destination defines (an error there too); before, lint said nothing.
const NAMED_PORT_CASES: { name: string; yaml: string; want: string[]; reason?: RegExp; fix?: RegExp }[] = [
  {
    name: 'ingress: the subject pods do not name the port',
    yaml: cnp('pg-in', 'Admin', 10, DB, '  ingress: [{action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: postgres}]}]'),
    want: ['named-port-undefined ClusterNetworkPolicy pg-in spec.ingress[0].protocols[0].destinationNamedPort'],
    reason: /named port "postgres" is defined by none of the 1 destination pod\(s\) \(db\/pg\), so this protocols entry matches nothing/,
    fix: /^use a port name the destination pods define in spec\.containers\[\]\.ports\[\]\.name \(pg\), or a port number$/,
  },
  { name: 'ingress: the subject pod names it', yaml: cnp('pg-in', 'Admin', 10, DB, '  ingress: [{action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: pg}]}]'), want: [] },
  {
    name: 'egress: the peer pods do not name the port',
    yaml: cnp('to-web', 'Baseline', 1, DB, '  egress: [{action: Accept, to: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}], protocols: [{destinationNamedPort: htp}]}]'),
    want: ['named-port-undefined ClusterNetworkPolicy to-web spec.egress[0].protocols[0].destinationNamedPort'],
    reason: /\(app\/web\)/,
    fix: /\.ports\[\]\.name \(http\), or a port number$/,
  },
  { name: 'egress: the peer pod names it', yaml: cnp('to-web', 'Baseline', 1, DB, '  egress: [{action: Accept, to: [{namespaces: {matchLabels: {team: app}}}], protocols: [{destinationNamedPort: http}]}]'), want: [] },
];
for (const c of NAMED_PORT_CASES) {
  t.test(c.name, async (t) => {
    const fs = lint(cluster(c.yaml)).filter((f) => f.code === LINT.NAMED_PORT_UNDEFINED);
    t.same(fs.map((f) => `${f.code} ${f.object} ${f.field}`), c.want, formatFindings(fs));
    if (c.reason) t.match(fs[0]?.reason, c.reason);
    if (c.fix) t.match(fs[0]?.fix, c.fix);
    if (fs[0]) t.equal(fs[0].severity, 'error');
  });
}
