// The file source: folders, multi-document YAML, JSON, List, ignored kinds, YAML errors with
// lines, implicit namespaces, duplicates.

import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifests } from '../../src/sources/manifests.ts';

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
  t.match(r.notes.join('\n'), /ns\.yaml:3: ignored Deployment x\/web \(only Namespace, Pod, Node, NetworkPolicy are read\)/);
  t.match(r.notes.join('\n'), /namespace orphan has pods but no Namespace object/);
});

t.test('errors: bad YAML with its line, invalid objects with their source, missing paths', async (t) => {
  const dir = folder({
    'bad.yaml': 'kind: Namespace\nmetadata: {name: ok}\n---\nkind: Pod\nmetadata:\n  name: p\n   namespace: x\n',
    'invalid.yaml': 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  ingress: [{ports: [{port: 0}]}]\n',
  });
  const r = loadManifests([dir, join(dir, 'missing.yaml')]);
  t.ok(r.state.namespaces.has('ok'), 'the good document of a file with a bad one is still read');
  const bad = r.errors.find((e) => e.object.endsWith('bad.yaml'));
  t.match(bad?.field, /^line [67], column \d+$/);
  t.match(bad?.message, /bad YAML \(document 2\)/);
  const inv = r.errors.find((e) => e.object === 'NetworkPolicy x/p');
  t.equal(inv?.field, 'spec.ingress[0].ports[0].port');
  t.match(inv?.source, /invalid\.yaml:1$/);
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
