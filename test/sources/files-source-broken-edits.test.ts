// The files source when an edit breaks a document so that it no longer names its object (no
// name, no namespace, no kind, not a mapping): the object it was cannot be told from a deleted
// one, so the file deletes nothing until it is valid again, and the policy keeps isolating its
// pods. Table-driven: one row per way of breaking the policy's document.

import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterState } from '../../src/cluster/state.ts';
import { FilesSource } from '../../src/sources/files-source.ts';

const deny = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}}
`;
const other = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: other, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, ingress: [{ports: [{port: 80}]}]}
`;

// [name, the file's text after the edit, the error it must report]
const broken: [string, string, RegExp][] = [
  ['namespace removed', deny.replace(', namespace: shop', ''), /NetworkPolicy <no namespace>\/deny: metadata\.namespace: required/],
  ['name emptied', deny.replace('name: deny', 'name: ""'), /NetworkPolicy shop\/<no name>: metadata\.name: required/],
  ['name not a string', deny.replace('name: deny', 'name: 5'), /NetworkPolicy shop\/<no name>: metadata\.name: must be a string/],
  ['metadata emptied', deny.replace('metadata: {name: deny, namespace: shop}', 'metadata:'), /NetworkPolicy <no namespace>\/<no name>: metadata: required/],
  ['kind removed', deny.replace('kind: NetworkPolicy\n', ''), /object deny: kind: required/],
  ['kind misspelt', deny.replace('kind: NetworkPolicy', 'kind: NetworkPolcy'), /pol\.yaml:2:\d+: NetworkPolcy shop\/deny: kind: no kind "NetworkPolcy" in networking\.k8s\.io/],
  ['kind in lower case', deny.replace('kind: NetworkPolicy', 'kind: networkpolicy'), /pol\.yaml:2:\d+: networkpolicy shop\/deny: kind: unknown kind "networkpolicy": kinds are case-sensitive; NetworkPolicy\?/],
  ['header lines deleted, spec left', deny.replace(/^[\s\S]*?(?=spec:)/, ''), /pol\.yaml:1:1: object <no name>: kind: required/],
  ['document not a mapping', `- ${deny.trimEnd().split('\n').join('\n  ')}\n`, /\(root\): must be a Kubernetes object/],
  ['broken next to a valid document', `${other}---\n${deny.replace(', namespace: shop', '')}`, /metadata\.namespace: required/],
  // The YAML reader throws on these only when the document is turned into data, past its
  // syntax check: the agent must report them, not stop.
  ['an alias to no anchor', deny.replace('podSelector: {}', 'podSelector: *sel'), /pol\.yaml:4:\d+: bad YAML: document 1: .*alias.*sel/],
  ['an alias bomb', `${deny}x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nz: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nw: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`, /pol\.yaml:\d+:\d+: bad YAML: document 1: .*alias/i],
];

t.test('an edit that breaks a document\'s identity deletes nothing from its file', async (t) => {
  for (const [name, text, err] of broken) {
    const dir = mkdtempSync(join(tmpdir(), 'pal-files-broken-'));
    const state = new ClusterState();
    const src = new FilesSource({ paths: [dir], rescanMs: 0, log: () => {} });
    writeFileSync(join(dir, 'pol.yaml'), deny);
    await src.start(state);
    t.ok(state.policies.has('shop/deny'), `${name}: enforced at first`);

    writeFileSync(join(dir, 'pol.yaml'), text);
    const info = src.syncNow();
    t.match(info.errors.join('\n'), err, `${name}: the error names the object and field`);
    t.ok(state.policies.has('shop/deny'), `${name}: the last good version still isolates the namespace`);
    if (text.includes('name: other')) t.ok(state.policies.has('shop/other'), `${name}: the file's valid documents are applied`);
    src.syncNow();
    t.ok(state.policies.has('shop/deny'), `${name}: and on the next pass`);

    // Valid again without it: now it is a deliberate delete.
    writeFileSync(join(dir, 'pol.yaml'), other);
    t.same(src.syncNow().errors, [], `${name}: fixed`);
    t.notOk(state.policies.has('shop/deny'), `${name}: removed from a valid file: deleted`);
    t.equal(state.rejected.size, 0, `${name}: no rejection left`);
    await src.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

t.test('a valid file still deletes what it no longer holds; an emptied file deletes all', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pal-files-broken-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = new ClusterState();
  const src = new FilesSource({ paths: [dir], rescanMs: 0, log: () => {} });
  t.teardown(() => src.stop());
  writeFileSync(join(dir, 'pol.yaml'), `${deny}---\n${other}`);
  await src.start(state);
  writeFileSync(join(dir, 'pol.yaml'), other);
  src.syncNow();
  t.same([...state.policies.keys()], ['shop/other']);
  writeFileSync(join(dir, 'pol.yaml'), '');
  src.syncNow();
  t.equal(state.policies.size, 0);
});

// A cluster policy edited so that its subject's selector cannot be built (the CRDs store an
// unknown operator, In with no values, a bad label key): there is no safe reading of such a
// subject, so the new version is rejected naming the field, and the last good version, with
// its Deny rules, must stay in force, the log saying so. Table-driven: one row per kind and way.
const guard = (kind: string, subject: string) => {
  const v1alpha1 = kind !== 'ClusterNetworkPolicy';
  return `apiVersion: policy.networking.k8s.io/${v1alpha1 ? 'v1alpha1' : 'v1alpha2'}
kind: ${kind}
metadata: {name: ${kind === 'BaselineAdminNetworkPolicy' ? 'default' : 'guard'}}
spec:
${v1alpha1 ? '' : '  tier: Admin\n'}${kind === 'BaselineAdminNetworkPolicy' ? '' : '  priority: 10\n'}  subject: ${subject}
  egress: [{name: no-db, action: Deny, to: [{namespaces: {matchLabels: {team: db}}}]}]
`;
};
const GOOD_SUBJECT = '{namespaces: {matchLabels: {team: shop}}}';
// [name, kind, the subject after the edit, field the error names, message fragment]
const badSubjects: [string, string, string, string, RegExp][] = [
  ['CNP unknown operator', 'ClusterNetworkPolicy', '{namespaces: {matchExpressions: [{key: team, operator: Equals, values: [shop]}]}}',
    'spec.subject.namespaces.matchExpressions[0].operator', /invalid value "Equals": not a valid selector operator/],
  ['ANP In without values', 'AdminNetworkPolicy', '{pods: {namespaceSelector: {}, podSelector: {matchExpressions: [{key: app, operator: In}]}}}',
    'spec.subject.pods.podSelector.matchExpressions[0].values', /must be specified when `operator` is 'In' or 'NotIn'/],
  ['BANP bad label key', 'BaselineAdminNetworkPolicy', "{namespaces: {matchLabels: {'team name': shop}}}",
    'spec.subject.namespaces.matchLabels[team name]', /invalid label key "team name"/],
];

t.test('a cluster policy updated to a subject selector that cannot be built: rejected, the last good version stays in force, and the log says so', async (t) => {
  for (const [name, kind, subject, field, message] of badSubjects) {
    const dir = mkdtempSync(join(tmpdir(), 'pal-files-subject-'));
    const state = new ClusterState();
    const logs: { level: string; msg: string }[] = [];
    const src = new FilesSource({ paths: [dir], rescanMs: 0, log: (level, msg) => logs.push({ level, msg }) });
    writeFileSync(join(dir, 'guard.yaml'), guard(kind, GOOD_SUBJECT));
    await src.start(state);
    const id = kind === 'ClusterNetworkPolicy' ? 'guard' : `${kind}:${kind === 'BaselineAdminNetworkPolicy' ? 'default' : 'guard'}`;
    const good = state.clusterPolicies.get(id);
    t.ok(good, `${name}: enforced at first`);

    writeFileSync(join(dir, 'guard.yaml'), guard(kind, subject));
    const info = src.syncNow();
    const object = `${kind} ${kind === 'BaselineAdminNetworkPolicy' ? 'default' : 'guard'}`;
    const line = info.errors.find((e) => e.includes(`${object}: ${field}: `));
    t.ok(line, `${name}: the error names ${object} and ${field}: ${info.errors.join('; ')}`);
    t.match(line, message, `${name}: and says what is wrong`);
    t.strictSame(state.clusterPolicies.get(id), good, `${name}: the last good version stays in force`);
    t.ok(state.rejected.has(`${kind} ${id}`), `${name}: the new version is rejected`);
    const logged = logs.find((l) => l.msg.includes(field));
    t.match(logged?.msg, /the last good version stays in force/, `${name}: the log says the last good version stays: ${logged?.msg}`);
    src.syncNow();
    t.strictSame(state.clusterPolicies.get(id), good, `${name}: and on the next pass`);

    writeFileSync(join(dir, 'guard.yaml'), guard(kind, '{namespaces: {}}'));
    t.same(src.syncNow().errors, [], `${name}: fixed`);
    t.same(state.clusterPolicies.get(id)?.subject, { namespaces: { matchLabels: {}, matchExpressions: [] } }, `${name}: the fixed version is applied`);
    t.equal(state.rejected.size, 0, `${name}: no rejection left`);
    await src.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

t.test('a cluster policy that was never valid is not "kept": the log does not claim a last good version', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pal-files-subject-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = new ClusterState();
  const logs: string[] = [];
  const src = new FilesSource({ paths: [dir], rescanMs: 0, log: (_level, msg) => logs.push(msg) });
  t.teardown(() => src.stop());
  writeFileSync(join(dir, 'guard.yaml'), guard('ClusterNetworkPolicy', badSubjects[0]![2]));
  await src.start(state);
  t.notOk(state.clusterPolicies.has('guard'), 'not enforced');
  const line = logs.find((l) => l.includes('spec.subject.namespaces.matchExpressions[0].operator'));
  t.ok(line, 'the error is logged');
  t.notMatch(line, /last good version stays/, 'without claiming a last good version');
});
