// `palisade lint` through the real CLI entry point: exit 0 clean, 1 findings or invalid
// manifest documents, 2 bad flags (one clear line per problem, never a stack trace).

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/palisade.js', import.meta.url));

function palisade(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'palisade-lint-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const NS_POD = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.1.10}
`;

const CLEAN_POLICIES = `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-http, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: http}]}]
`;
const CLEAN_TEXT = () => NS_POD + CLEAN_POLICIES;
const clean = file('clean.yaml', CLEAN_TEXT());

const typo = file('typo.yaml', NS_POD + `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: shop}
spec:
  podSelector: {matchLabels: {app: wbe}}
  ingress: [{ports: [{port: 8080}]}]
`);

const invalid = file('invalid.yaml', `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: broken, namespace: shop}
spec:
  podSelector: {}
  ingress: [{form: [{podSelector: {}}]}]
`);

t.test('clean: exit 0', async (t) => {
  const r = palisade('lint', '--manifests', clean);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^no findings \(3 policies, 1 pod, 1 namespace\)/);
});

t.test('findings: exit 1, text names reason and fix', async (t) => {
  const r = palisade('lint', '--manifests', typo);
  t.equal(r.code, 1, r.err);
  t.match(r.out, /warning: NetworkPolicy shop\/web-in spec.podSelector.matchLabels \[label-typo\]/);
  t.match(r.out, /fix: did you mean app=web\?/);
  t.match(r.out, /\d+ finding\(s\): 0 error\(s\)/);
});

t.test('-o json', async (t) => {
  const r = palisade('lint', '--manifests', typo, '-o', 'json');
  t.equal(r.code, 1);
  const fs = JSON.parse(r.out) as { code: string; object: string }[];
  t.ok(fs.some((f) => f.code === 'selector-matches-nothing' && f.object === 'NetworkPolicy shop/web-in'));
});

t.test('an invalid manifest document: reported with its line, left out, exit 1 (as verify)', async (t) => {
  const a = palisade('lint', '--manifests', invalid, typo);
  t.equal(a.code, 1, a.err);
  t.match(a.err, /^palisade lint: error: \S*invalid\.yaml:7:14: NetworkPolicy shop\/broken: spec\.ingress\[0\]\.form: unknown field "form"/m);
  t.match(a.err, /1 manifest document\(s\) had errors and were left out/);
  t.notMatch(a.err, /\n\s+at /);
  t.match(a.out, /\[label-typo\]/, 'the rest is still linted');
});

t.test('bad input: exit 2, clear errors, no stack trace', async (t) => {
  const b = palisade('lint');
  t.equal(b.code, 2);
  t.match(b.err, /^palisade lint: --manifests PATH\.\.\. is required/);
  const c = palisade('lint', '--manifests', clean, '--pod-cidr', '10.0.0.0/33');
  t.equal(c.code, 2);
  t.match(c.err, /--pod-cidr must be a CIDR/);
  const d = palisade('lint', '--manifests', join(dir, 'missing.yaml'));
  t.equal(d.code, 2);
  t.match(d.err, /^palisade lint: --manifests \S*missing\.yaml: no such file or directory\n$/);
  t.notMatch(d.err, /\n\s+at /);
});

// Cluster policies: the findings name the object (kind and name) and field; a clean set counts
// the cluster policies it read.
const cnpClean = file('cnp-clean.yaml', CLEAN_TEXT() + `
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  ingress: [{name: no-legacy, action: Deny, from: [{namespaces: {matchLabels: {legacy: 'true'}}}]}]
`);

const cnpMistakes = file('cnp-mistakes.yaml', NS_POD + `
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-db}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  ingress:
  - {name: shop-ok, action: Accept, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}]}
  - {name: no-shop, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}]}
  egress:
  - {name: out, action: Accept, to: [{domainNames: [example.com]}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: default}
spec:
  tier: Baseline
  priority: 0
  subject: {namespaces: {}}
  ingress: [{action: Pass, from: [{namespaces: {}}]}]
`);

t.test('cluster policies: findings name kind, name and field; exit 1', async (t) => {
  const r = palisade('lint', '--manifests', cnpMistakes);
  t.equal(r.code, 1, r.err);
  t.match(r.out, /warning: ClusterNetworkPolicy deny-db spec.ingress\[1\] \[cluster-rule-shadowed\]\n  why: this Deny rule never decides anything: every connection it matches is matched first by spec.ingress\[0\] \(shop-ok\), whose Accept decides it instead/);
  t.match(r.out, /warning: ClusterNetworkPolicy deny-db spec.egress\[0\].to\[0\].domainNames \[domain-names-learned\]\n  why: matches only addresses the node's agent learns from DNS answers to the subject pods \(example.com\)/);
  t.match(r.out, /warning: ClusterNetworkPolicy default spec.ingress\[0\] \[cluster-pass-to-default\]/);
  const j = JSON.parse(palisade('lint', '--manifests', cnpMistakes, '-o', 'json').out) as { code: string; object: string; field: string }[];
  t.same(j.filter((f) => f.object.startsWith('ClusterNetworkPolicy')).map((f) => `${f.code} ${f.object} ${f.field}`).sort(), [
    'cluster-pass-to-default ClusterNetworkPolicy default spec.ingress[0]',
    'cluster-rule-shadowed ClusterNetworkPolicy deny-db spec.ingress[1]',
    'domain-names-learned ClusterNetworkPolicy deny-db spec.egress[0].to[0].domainNames',
  ]);
  const c = palisade('lint', '--manifests', cnpClean);
  t.equal(c.code, 0, c.out + c.err);
  t.match(c.out, /^no findings \(3 policies, 1 cluster policy, 1 pod, 1 namespace\)/);
});

t.test('each finding read from a manifest is at its file:line:col, the field\'s own line', async (t) => {
  // Manifest errors said where they were; findings said only the object and field, so a reader
  // had to search the folder for them (and a CI annotation had nothing to point at).
  for (const input of [typo, cnpMistakes, 'examples/lint-mistakes.yaml']) {
    const r = palisade('lint', '--manifests', input, '-o', 'json');
    const findings = JSON.parse(r.out) as { object: string; field?: string; source?: string }[];
    t.ok(findings.length > 0, `${input}: findings`);
    for (const f of findings) {
      if (f.object.startsWith('Namespace ') && !readFileSync(input, 'utf8').includes('kind: Namespace')) continue; // an implicit namespace has no text
      const m = /^(.*):(\d+):(\d+)$/.exec(f.source ?? '');
      t.ok(m, `${f.object} ${f.field ?? ''}: a source (${f.source})`);
      if (!m) continue;
      t.equal(m[1], input, 'the file read');
      const line = readFileSync(m[1]!, 'utf8').split('\n')[Number(m[2]) - 1]!;
      // The last named step of the field is written at that line and column (an index: the item there).
      const last = (f.field ?? '').split('.').at(-1)!.replace(/\[\d+\]$/, '');
      const at = line.slice(Number(m[3]) - 1);
      if (f.field && !/\[\d+\]$/.test(f.field)) t.ok(at.startsWith(last), `${f.object} ${f.field}: "${at}" starts with ${last}`);
      else if (!f.field) t.ok(/^(apiVersion|kind|metadata)/.test(at), `${f.object}: at its document's start ("${at}")`);
    }
    const text = palisade('lint', '--manifests', input).out;
    for (const f of findings) if (f.source) t.ok(text.includes(`${f.source}: `), `text: ${f.source} leads the finding`);
  }
});
