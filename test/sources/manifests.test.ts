// The file source: folders, multi-document YAML, JSON, List, ignored kinds, YAML errors with
// lines, implicit namespaces, duplicates.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifests, manifestFiles } from '../../src/sources/manifests.ts';
import { ManifestPositions } from '../../src/sources/manifest-positions.ts';
import type { ObjectError } from '../../src/cluster/model.ts';

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-manifests-'));
  for (const [name, text] of Object.entries(files)) {
    const full = join(dir, name);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, text);
  }
  return dir;
}

t.test('a folder of YAML, JSON and List documents', async (t) => {
  const dir = folder({
    'a/ns.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: x}\n',
    'b/pods.json': JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'x' }, status: { podIP: '10.0.0.5' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p2', namespace: 'orphan' }, status: { podIP: '10.0.0.6' } },
    ] }),
    'c/policy.yml': 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec: {podSelector: {}}\n',
    'c/README.md': 'not a manifest',
  });
  const r = loadManifests([dir]);
  t.same(r.errors, []);
  t.same([...r.state.namespaces.keys()].sort(), ['orphan', 'x']);
  t.same(r.state.namespaces.get('orphan')!.labels, { 'kubernetes.io/metadata.name': 'orphan' });
  t.same([...r.state.pods.keys()].sort(), ['orphan/p2', 'x/p1']);
  t.ok(r.state.policies.has('x/deny'));
  t.match(r.notes.join('\n'), /ns\.yaml:3: ignored Deployment x\/web \(only Namespace, Pod, Node, NetworkPolicy, ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy are read\)/);
  t.match(r.notes.join('\n'), /namespace orphan has pods but no Namespace object/);
});

t.test('errors: bad YAML with its line, invalid objects with their source, missing paths', async (t) => {
  const dir = folder({
    'bad.yaml': 'kind: Namespace\nmetadata: {name: ok}\n---\nkind: Pod\nmetadata:\n  name: p\n   namespace: x\n',
    'invalid.yaml': 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  ingress: [{ports: [{port: 0}]}]\n',
  });
  const r = loadManifests([dir, join(dir, 'missing.yaml')]);
  t.ok(r.state.namespaces.has('ok'), 'the good document of a file with a bad one is still read');
  const bad = r.errors.find((e) => e.object === 'bad YAML');
  t.match(bad?.source, /bad\.yaml:[67]:\d+$/, 'file:line:column, as for a field');
  t.equal(bad?.field, 'document 2');
  const inv = r.errors.find((e) => e.object === 'NetworkPolicy x/p');
  t.equal(inv?.field, 'spec.ingress[0].ports[0].port');
  t.match(inv?.source, /invalid\.yaml:5:23$/, 'line and column of the field');
  t.match(inv?.message, / \(document 1\)$/);
  t.notOk(r.state.policies.has('x/p'), 'an invalid policy is left out');
  t.ok(r.errors.some((e) => e.object.endsWith('missing.yaml') && /no such file/.test(e.message)));
});

t.test('duplicates: the later definition wins, with a note', async (t) => {
  const pol = (port: number) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  ingress: [{ports: [{port: ${port}}]}]\n`;
  const dir = folder({ '1.yaml': pol(80), '2.yaml': pol(81) });
  const r = loadManifests([dir]);
  t.equal(r.state.policies.get('x/p')!.ingress[0]!.ports[0]!.port, 81);
  t.match(r.notes.join('\n'), /NetworkPolicy x\/p is defined twice/);
});

t.test('object errors point at the line and column of their field; the document number is context', async (t) => {
  const yaml = [
    'apiVersion: v1', //                                      1
    'kind: Namespace', //                                     2
    'metadata: {name: shop}', //                              3
    '---', //                                                 4
    'apiVersion: networking.k8s.io/v1', //                    5
    'kind: NetworkPolicy', //                                 6
    'metadata:', //                                           7
    '  name: api-policy', //                                  8
    '  namespace: shop', //                                   9
    '  labels: {app.kubernetes.io/name: "bad value!"}', //    10
    'spec:', //                                               11
    '  podSelector: {}', //                                   12
    '  ingress:', //                                          13
    '    - from: [{podSelector: {}}]', //                     14
    '    - form:', //                                         15
    '        - podSelector: {}', //                           16
    '      ports:', //                                        17
    '        - port: 70000', //                               18
    '---', //                                                 19
    'apiVersion: networking.k8s.io/v1', //                    20
    'kind: NetworkPolicy', //                                 21
    'metadata:', //                                           22
    '  namespace: shop', //                                   23
    'spec: {podSelector: {}}', //                             24
    '---', //                                                 25
    '- not an object', //                                     26
    '',
  ].join('\n');
  const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'a' }, spec: { egress: [{ tp: [] }] } },
  ] }, null, 2);
  const dir = folder({ 'policies.yaml': yaml, 'list.json': json });
  const r = loadManifests([dir]);
  const at = (field: string) => r.errors.filter((e) => e.field === field).map((e) => `${e.source?.slice(dir.length + 1)} ${e.message.replace(/^.*(\(document [^)]*\))$/, '$1')}`);
  // The misspelt field is on line 15, column 7 (where "form" is written), in document 2.
  t.same(at('spec.ingress[1].form'), ['policies.yaml:15:7 (document 2)']);
  t.match(r.errors.find((e) => e.field === 'spec.ingress[1].form')!.message, /^unknown field "form" \(known fields: from, ports\) \(document 2\)$/);
  t.same(at('spec.ingress[1].ports[0].port'), ['policies.yaml:18:11 (document 2)']);
  // A label key with dots stays one step of the path.
  t.same(at('metadata.labels[app.kubernetes.io/name]'), ['policies.yaml:10:12 (document 2)']);
  // A required field that is missing: the nearest parent that exists (metadata).
  t.same(at('metadata.name'), ['policies.yaml:22:1 (document 3)']);
  // A document that is not an object at all: its first line.
  t.same(at('(root)'), ['policies.yaml:26:1 (document 4)']);
  // JSON, inside a List: the item's own path, below items[1].
  const lines = json.split('\n');
  const want = lines.findIndex((l) => l.includes('"tp"'));
  t.same(at('spec.egress[0].tp'), [`list.json:${want + 1}:${lines[want]!.indexOf('"tp"') + 1} (document 1, items[1])`]);
  const loaded = loadManifests([dir]);
  t.equal(loaded.badDocuments, 4, 'errors are counted per document, not per line');
});

t.test('cluster-scoped policies in a manifests folder: loaded, and errors at their file:line:col', async (t) => {
  const dir = folder({
    'cnp.yaml': [
      'apiVersion: policy.networking.k8s.io/v1alpha2',
      'kind: ClusterNetworkPolicy',
      'metadata: {name: deny-db}',
      'spec:',
      '  tier: Admin',
      '  priority: 10',
      '  subject: {namespaces: {matchLabels: {team: db}}}',
      '  ingress:',
      '  - {name: block, action: Deny, from: [{namespaces: {}}]}',
      '---',
      'apiVersion: policy.networking.k8s.io/v1alpha1',
      'kind: BaselineAdminNetworkPolicy',
      'metadata: {name: default}',
      'spec: {subject: {namespaces: {}}, egress: [{action: Deny, to: [{networks: ["0.0.0.0/0"]}]}]}',
      '',
    ].join('\n'),
    'bad.yaml': [
      'apiVersion: policy.networking.k8s.io/v1alpha2',
      'kind: ClusterNetworkPolicy',
      'metadata: {name: broken}',
      'spec:',
      '  tier: Admin',
      '  priority: 1001',
      '  subject: {namespaces: {}}',
      '  egress:',
      '  - action: Deny',
      '    to:',
      '    - networks: [10.0.0.0/33]',
      '',
    ].join('\n'),
  });
  const r = loadManifests([dir]);
  t.same([...r.state.clusterPolicies.keys()].sort(), ['BaselineAdminNetworkPolicy:default', 'deny-db']);
  t.match(r.state.clusterPolicies.get('deny-db'), { tier: 'Admin', priority: 10, ingress: [{ name: 'block', action: 'Deny' }] });
  t.equal(r.badDocuments, 1);
  const at = (field: string) => r.errors.find((e) => e.object === 'ClusterNetworkPolicy broken' && e.field === field);
  t.match(at('spec.priority')?.source, /bad\.yaml:6:3$/, 'priority: line 6, column 3');
  t.equal(at('spec.priority')?.message, 'must be between 0 and 1000, got 1001 (document 1)');
  t.match(at('spec.egress[0].to[0].networks[0]')?.source, /bad\.yaml:11:18$/, 'the bad CIDR itself');
  t.notOk(r.state.clusterPolicies.has('broken'));
});

t.test('YAML merge keys are resolved, as kubectl resolves them', async (t) => {
  const pod = (meta: string) => `apiVersion: v1\nkind: Pod\nmetadata: ${meta}\nstatus: {podIP: 10.0.0.5}\n`;
  // [name, file name, text, the pod's labels, or an error on the document]
  const cases: [string, string, string, Record<string, string> | RegExp][] = [
    ['metadata merged', 'p.yaml', pod('{<<: {labels: {app: web}}, name: p, namespace: x}'), { app: 'web' }],
    ['labels merged from an alias', 'p.yaml', 'apiVersion: v1\nkind: Pod\nspec: {nodeSelector: &l {app: web}}\nmetadata: {name: p, namespace: x, labels: {<<: *l, tier: b}}\n', { app: 'web', tier: 'b' }],
    ['a key written next to the merge wins', 'p.yaml', `${pod('{name: p, namespace: x, labels: {<<: {app: web, tier: a}, tier: b}}')}`, { app: 'web', tier: 'b' }],
    ['a list of merges', 'p.yaml', `${pod('{name: p, namespace: x, labels: {<<: [{app: web}, {tier: a}]}}')}`, { app: 'web', tier: 'a' }],
    ['a quoted "<<" is a plain key', 'p.yaml', `${pod('{name: p, namespace: x, labels: {"<<": web}}')}`, /metadata\.labels\[<<\]: invalid label key/],
    ['JSON has no merge keys', 'p.json', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'x', labels: { '<<': 'web' } } }), /metadata\.labels\[<<\]: invalid label key/],
  ];
  for (const [name, file, text, want] of cases) {
    const r = loadManifests([folder({ [file]: text })]);
    if (want instanceof RegExp) {
      t.match(r.errors.map((e) => `${e.object}: ${e.field}: ${e.message}`).join('\n'), want, name);
      t.notOk(r.state.pods.has('x/p'), `${name}: left out`);
    } else {
      t.same(r.errors, [], `${name}: no errors`);
      t.same(r.state.pods.get('x/p')?.labels, want, `${name}: labels`);
    }
  }
});

t.test('typed lists of the kinds read (NetworkPolicyList, PodList...) are read as kubectl apply reads them', async (t) => {
  const np = { metadata: { name: 'deny', namespace: 'x' }, spec: { podSelector: {} } };
  const pod = { metadata: { name: 'p', namespace: 'x' }, status: { podIP: '10.0.0.5' } };
  const list = (kind: string, apiVersion: string, items: unknown[]) => JSON.stringify({ apiVersion, kind, metadata: { resourceVersion: '7' }, items });
  // [name, file text, policies, pods, error or note]
  const cases: [string, string, string[], string[], RegExp | undefined][] = [
    ['NetworkPolicyList, items without kind (as the API serves them)', list('NetworkPolicyList', 'networking.k8s.io/v1', [np]), ['x/deny'], [], undefined],
    ['PodList', list('PodList', 'v1', [pod]), [], ['x/p'], undefined],
    ['an item naming its own kind', list('NetworkPolicyList', 'networking.k8s.io/v1', [{ apiVersion: 'v1', kind: 'Pod', ...pod }]), [], ['x/p'], undefined],
    ['the list\'s apiVersion is the items\'', list('NetworkPolicyList', 'extensions/v1beta1', [np]), [], [], /NetworkPolicy x\/deny: apiVersion: unsupported apiVersion/],
    ['a typed list\'s items must be a list', JSON.stringify({ kind: 'PodList', items: 5 }), [], [], /PodList in \S+: items: must be a list/],
    ['a list of a kind not read: ignored, with a note', list('DeploymentList', 'apps/v1', [{ metadata: { name: 'web', namespace: 'x' } }]), [], [], /ignored DeploymentList/],
    // kubectl flattens lists inside lists; left out with a note, the policy would not be in force.
    ['a List in a List', list('List', 'v1', [JSON.parse(list('List', 'v1', [{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', ...np }, { apiVersion: 'v1', kind: 'Pod', ...pod }]))]), ['x/deny'], ['x/p'], undefined],
    ['a NetworkPolicyList in a List', list('List', 'v1', [JSON.parse(list('NetworkPolicyList', 'networking.k8s.io/v1', [np]))]), ['x/deny'], [], undefined],
    ['an invalid item of a nested list names its place', list('List', 'v1', [JSON.parse(list('NetworkPolicyList', 'networking.k8s.io/v1', [{ ...np, spec: { podSelector: 5 } }]))]),
      [], [], /NetworkPolicy x\/deny: spec\.podSelector: .*\(document 1, items\[0\]\.items\[0\]\)/],
  ];
  for (const [name, text, policies, pods, msg] of cases) {
    const r = loadManifests([folder({ 'l.json': text })]);
    t.same([...r.state.policies.keys()], policies, `${name}: policies`);
    t.same([...r.state.pods.keys()], pods, `${name}: pods`);
    const said = [...r.errors.map((e) => `${e.object}: ${e.field}: ${e.message}`), ...r.notes].join('\n');
    if (msg) t.match(said, msg, `${name}: reported`);
    else t.same(r.errors, [], `${name}: no errors`);
  }
});

// A CIDR with host bits set is valid (read as its network, as the API server reads it) and warned
// about with its line, where it most likely means one address: every CIDR field, in every kind.
t.test('a CIDR with host bits set is read as its network and warned about, with its line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-hostbits-'));
  writeFileSync(join(dir, 'p.yaml'), `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-db, namespace: app}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.244.1.5/24, except: [10.244.1.8/30]}
    - ipBlock: {cidr: 10.9.0.0/16}
    - ipBlock: {cidr: "fd00::1/64"}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: [192.168.7.1/16, 172.16.0.0/12]}]}]
`);
  const m = loadManifests([dir]);
  t.same(m.errors, []);
  const p = m.state.policies.get('app/to-db')!;
  t.same(p.egress[0]!.peers.map((peer) => peer.ipBlock), [{ cidr: '10.244.1.0/24', except: ['10.244.1.8/30'] }, { cidr: '10.9.0.0/16', except: [] }, { cidr: 'fd00::/64', except: [] }], 'read as the networks');
  t.match(m.warnings, [
    /p\.yaml:9:17: NetworkPolicy app\/to-db: spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr: "10\.244\.1\.5\/24" has host bits set: it means 10\.244\.1\.0\/24, every address of it; for the one address write 10\.244\.1\.5\/32/,
    /p\.yaml:11:\d+: NetworkPolicy app\/to-db: spec\.egress\[0\]\.to\[2\]\.ipBlock\.cidr: "fd00::1\/64" has host bits set: it means fd00::\/64, .* write fd00::1\/128/,
    /p\.yaml:\d+:\d+: ClusterNetworkPolicy guard: spec\.egress\[0\]\.to\[0\]\.networks\[0\]: "192\.168\.7\.1\/16" has host bits set: it means 192\.168\.0\.0\/16/,
  ]);
  t.equal(m.warnings.length, 3, 'none for the masked ones (10.244.1.8/30, 10.9.0.0/16, 172.16.0.0/12)');
  t.same(m.notes, [], 'warnings are not notes');
});

t.test('a repository as a folder: tool folders and files that hold no Kubernetes object are passed over', async (t) => {
  // `palisade diff --git REF` reads a whole repository, and `--manifests .` a checkout: its
  // package.json, tsconfig.json, CI workflows and node_modules are no manifests. Each made a
  // "kind: required" error (820 of them in a Node project), burying the real ones.
  const pol = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec: {podSelector: {}}\n';
  const dir = folder({
    'deploy/policy.yaml': pol,
    'package.json': JSON.stringify({ name: 'shop', version: '1.0.0', scripts: { test: 'tap' } }),
    'tsconfig.json': JSON.stringify({ compilerOptions: { strict: true } }),
    '.github/workflows/ci.yml': 'name: ci\non: [push]\njobs: {test: {runs-on: ubuntu-latest}}\n',
    'compose.yml': 'services:\n  web: {image: nginx}\n---\nservices:\n  db: {image: postgres}\n',
    '.git/config.json': '{"not": "read"}',
    'node_modules/x/package.json': JSON.stringify({ name: 'x' }),
    'node_modules/x/manifest.yaml': pol.replace('name: deny', 'name: from-node-modules'),
    // These still are mistakes: an object that lost its header, a manifest with a typo'd kind.
    'broken/headless.yaml': 'metadata: {name: a, namespace: x}\nspec: {podSelector: {}}\n',
    'broken/typo.yaml': pol.replace('kind: NetworkPolicy', 'knd: NetworkPolicy'),
    // A policy that lost its first lines (or was pasted from its spec down) is no foreign file.
    'broken/spec-only.yaml': 'spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n',
  });
  const r = loadManifests([dir]);
  t.same([...r.state.policies.keys()], ['x/deny'], 'the policy is read, node_modules is not walked');
  const errorFiles = [...new Set(r.errors.map((e) => (e.source ?? '').replace(dir + '/', '').replace(/:.*$/, '')))].sort();
  t.same(errorFiles, ['broken/headless.yaml', 'broken/spec-only.yaml', 'broken/typo.yaml'], 'only the three broken manifests are errors');
  for (const f of ['package.json', 'tsconfig.json', 'compose.yml']) {
    t.ok(r.notes.some((n) => n.startsWith(join(dir, f)) && /no Kubernetes object/.test(n)), `${f}: passed over with a note`);
  }
  t.notOk(r.notes.some((n) => n.includes('.git/') || n.includes('.github/') || n.includes('node_modules')), 'hidden folders and node_modules are not even read');
  // A path given by name is read whatever its name: only folders found inside one are skipped.
  const hidden = folder({ '.deploy/policy.yaml': pol });
  t.same([...loadManifests([join(hidden, '.deploy')]).state.policies.keys()], ['x/deny'], 'a hidden folder named on the command line is read');
});

t.test('a folder entry named like a manifest that is no regular file (a FIFO) is reported, not read', async (t) => {
  // Reading a FIFO waits for a writer that may never come: the command would hang, and an agent
  // following the folder would stop in its pass. A pipe named on the command line, as a shell's
  // <(kubectl get ...) makes one, is still read: its writer is right there.
  const pol = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec: {podSelector: {}}\n';
  const dir = folder({ 'policy.yaml': pol });
  execFileSync('mkfifo', [join(dir, 'pipe.yaml')]);
  const errors: ObjectError[] = [];
  t.same(manifestFiles(dir, errors), [join(dir, 'policy.yaml')], 'the FIFO is not among the files to read');
  t.equal(errors.length, 1);
  t.equal(errors[0]?.object, `file ${join(dir, 'pipe.yaml')}`, 'the error names the entry');
  t.match(errors[0]?.message, /not a regular file/);
  t.same(manifestFiles(join(dir, 'pipe.yaml'), []), [join(dir, 'pipe.yaml')], 'named on its own, it is read');
});

t.test('a folder reached again through a symlink (a loop, or a second link) is walked once', async (t) => {
  // Two links back to the folder made the walk take 2^40 paths before the kernel's ELOOP: the
  // command hung, as would an agent following the folder; one link read every file 40 times.
  const pol = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec: {podSelector: {}}\n';
  const cases: [string, Record<string, string>, [string, string][], string[]][] = [
    ['two links back to the folder', { 'policy.yaml': pol }, [['.', 'l1'], ['.', 'l2']], ['policy.yaml']],
    ['a link to the parent inside a subfolder', { 'sub/policy.yaml': pol }, [['..', 'sub/up']], ['sub/policy.yaml']],
    ['a second link to a folder', { 'base/policy.yaml': pol }, [['base', 'prod']], ['base/policy.yaml']],
  ];
  for (const [name, files, links, want] of cases) {
    const dir = folder(files);
    for (const [target, link] of links) symlinkSync(target, join(dir, link));
    const errors: ObjectError[] = [];
    t.same(manifestFiles(dir, errors), want.map((f) => join(dir, f)), name);
    t.same(errors, [], `${name}: no error`);
  }
});

t.test('lint\'s positions find an object of a list in a list', async (t) => {
  const dir = folder({ 'l.yaml': `apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicyList
  items:
  - metadata: {name: deny, namespace: x}
    spec:
      podSelector: {}
` });
  const r = loadManifests([dir]);
  const source = r.sources.get('NetworkPolicy x/deny');
  t.equal(source, `${join(dir, 'l.yaml')}:1.items[0].items[0]`);
  const at = new ManifestPositions();
  t.equal(at.at(source!, 'spec.podSelector'), `${join(dir, 'l.yaml')}:9:7`);
  t.equal(at.at(source!), `${join(dir, 'l.yaml')}:7:5`, 'the object itself');
});

t.test('a manifest name that is a broken symlink: the error says where it points', async (t) => {
  const dir = folder({ 'policy.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n' });
  symlinkSync('gone/policy.yaml', join(dir, 'broken.yaml'));
  symlinkSync('self.yaml', join(dir, 'self.yaml'));
  const errors: ObjectError[] = [];
  t.same(manifestFiles(dir, errors), [join(dir, 'policy.yaml')]);
  t.same(errors.map((e) => [e.object, e.message]), [
    [`file ${join(dir, 'broken.yaml')}`, 'a symbolic link to gone/policy.yaml, which does not exist'],
    [`file ${join(dir, 'self.yaml')}`, 'a symbolic link to self.yaml, part of a loop of symbolic links'],
  ]);
});
