// metadata.name of every kind read, held to the rule the API server holds it to: an RFC 1123
// subdomain for Pods, Nodes and the policies (what apimachinery's NameIsDNSSubdomain checks, and
// the default for a CRD's objects), an RFC 1123 label for Namespaces. A name the API server
// refuses must be refused here too, naming the object, metadata.name and the rule: a Pod named
// "x/a/b" would otherwise make a "namespace/name" key that reads as another object's.
// Table-driven: every kind against every name.

import t from 'tap';
import { decodeObject } from '../../src/cluster/decode.ts';

type O = Record<string, unknown>;
type Rule = 'subdomain' | 'label';

// A minimal valid object of each kind with the given name; `object` is how errors name it.
const KINDS: { kind: string; rule: Rule; make: (name: string) => O; object: (name: string) => string }[] = [
  { kind: 'Pod', rule: 'subdomain', make: (name) => ({ kind: 'Pod', metadata: { name, namespace: 'x' } }), object: (n) => `Pod x/${n}` },
  { kind: 'Node', rule: 'subdomain', make: (name) => ({ kind: 'Node', metadata: { name } }), object: (n) => `Node ${n}` },
  { kind: 'Namespace', rule: 'label', make: (name) => ({ kind: 'Namespace', metadata: { name } }), object: (n) => `Namespace ${n}` },
  {
    kind: 'NetworkPolicy', rule: 'subdomain',
    make: (name) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'x' }, spec: { podSelector: {} } }),
    object: (n) => `NetworkPolicy x/${n}`,
  },
  {
    kind: 'ClusterNetworkPolicy', rule: 'subdomain',
    make: (name) => ({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name }, spec: { tier: 'Admin', priority: 10, subject: { namespaces: {} } } }),
    object: (n) => `ClusterNetworkPolicy ${n}`,
  },
  {
    kind: 'AdminNetworkPolicy', rule: 'subdomain',
    make: (name) => ({ apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name }, spec: { priority: 10, subject: { namespaces: {} } } }),
    object: (n) => `AdminNetworkPolicy ${n}`,
  },
];

// [name, valid as a subdomain, valid as a label]
const NAMES: [string, boolean, boolean][] = [
  ['web', true, true],
  ['a', true, true],
  ['0', true, true],
  ['web-1', true, true],
  ['1-web', true, true],
  ['a--b', true, true],
  ['web.v2', true, false],
  ['a.b-c.d', true, false],
  ['a'.repeat(63), true, true],
  ['a'.repeat(64), true, false],
  [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, true, false], // 253
  ['a'.repeat(254), false, false],
  ['x/a/b', false, false],
  ['a/b', false, false],
  ['Web', false, false],
  ['Prod_1', false, false],
  ['web_1', false, false],
  ['-web', false, false],
  ['web-', false, false],
  ['.web', false, false],
  ['web.', false, false],
  ['a..b', false, false],
  ['web 1', false, false],
  ['wéb', false, false],
  ['web\n', false, false],
];

t.test('metadata.name: valid names are read, every other is refused naming object, field and rule', async (t) => {
  for (const { kind, rule, make, object } of KINDS) {
    for (const [name, subdomain, label] of NAMES) {
      const valid = rule === 'subdomain' ? subdomain : label;
      const what = `${kind} ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}...(${name.length})` : name)}`;
      const d = decodeObject(make(name), 'f.yaml:1');
      if (valid) {
        t.equal(d.kind, kind, `${what}: read (${d.kind === 'invalid' ? JSON.stringify(d.errors) : ''})`);
        continue;
      }
      t.equal(d.kind, 'invalid', `${what}: refused`);
      if (d.kind !== 'invalid') continue;
      const hit = d.errors.filter((e) => e.field === 'metadata.name');
      t.equal(hit.length, d.errors.length, `${what}: every error is on metadata.name (${JSON.stringify(d.errors)})`);
      for (const e of hit) {
        t.equal(e.object, object(name), `${what}: names the object`);
        t.match(e.message, new RegExp(`invalid name ${JSON.stringify(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not an RFC 1123 ${rule}, as the API server requires: `), `${what}: names the value and the rule`);
      }
    }
  }
});

t.test('spec.nodeName of a Pod: the Node name rule (an RFC 1123 subdomain), the error naming the Pod and the field', async (t) => {
  for (const [name, valid] of NAMES) {
    const what = JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}...(${name.length})` : name);
    const d = decodeObject({ kind: 'Pod', metadata: { name: 'p', namespace: 'x' }, spec: { nodeName: name } }, 'f.yaml:1');
    if (valid) {
      t.equal(d.kind, 'Pod', `nodeName ${what}: read`);
      continue;
    }
    t.equal(d.kind, 'invalid', `nodeName ${what}: refused`);
    if (d.kind !== 'invalid') continue;
    t.same(d.errors.map((e) => [e.object, e.field]), [['Pod x/p', 'spec.nodeName']], `nodeName ${what}: one error, on spec.nodeName of Pod x/p`);
    t.match(d.errors[0]!.message, /^invalid node name .*: not an RFC 1123 subdomain, as the API server requires: /);
  }
});
