// kubectl reads manifests as YAML 1.1, this reader as YAML 1.2: a few unquoted values mean
// something else to each (canary: yes is text here, the boolean true to kubectl, which the API
// server refuses as a label; port: 010 is 10 here, octal 8 to kubectl). Palisade reads them its
// way and warns, naming the object, the field and the line, so verify's answer is not taken for
// the cluster's. Table-driven: a value in a field, and the warning or none.

import t from 'tap';
import { readManifestText } from '../../src/sources/manifests.ts';

const policy = (podSelector: string, port: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: ${podSelector}
  ingress:
  - ports:
    - port: ${port}
`;

// [name, file text, the warning (without its file) or undefined for none]
const CASES: [string, string, string | undefined][] = [
  ['a label value yes', policy('{matchLabels: {canary: yes}}', '80'),
    '5:31: NetworkPolicy x/p: spec.podSelector.matchLabels.canary: unquoted yes is the text "yes" here, but kubectl (YAML 1.1) reads the boolean true, which the API server refuses where text is expected; write "yes" in quotes (document 1)'],
  ['a label value Off', policy('{matchLabels: {tls: Off}}', '80'),
    '5:31: NetworkPolicy x/p: spec.podSelector.matchLabels.tls: unquoted Off is the text "Off" here, but kubectl (YAML 1.1) reads the boolean false, which the API server refuses where text is expected; write "Off" in quotes (document 1)'],
  ['a label key with dots', policy('{matchLabels: {example.com/on: on}}', '80'),
    '5:31: NetworkPolicy x/p: spec.podSelector.matchLabels[example.com/on]: unquoted on is the text "on" here, but kubectl (YAML 1.1) reads the boolean true, which the API server refuses where text is expected; write "on" in quotes (document 1)'],
  ['a port with a leading 0', policy('{}', '010'),
    '8:7: NetworkPolicy x/p: spec.ingress[0].ports[0].port: unquoted 010 is 10 here, but kubectl (YAML 1.1) reads 8 (a leading 0 means octal); write it without the leading 0 (document 1)'],
  ['a port with an underscore', policy('{}', '8_080'),
    '8:7: NetworkPolicy x/p: spec.ingress[0].ports[0].port: unquoted 8_080 is the text "8_080" here, but kubectl (YAML 1.1) reads the number 8080; write it without the _ (document 1)'],
  ['quoted: no warning', policy('{matchLabels: {canary: "yes"}}', '"http"'), undefined],
  ['true is true to both', policy('{matchLabels: {canary: "true"}}', '80'), undefined],
  ['08 is 8 to both', policy('{}', '08'), undefined],
  ['a key on is not a value', policy('{matchLabels: {on: x}}', '80'), undefined],
  ['a kind not read is not looked at', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: x}\nspec: {replicas: 010, paused: yes}\n', undefined],
];

t.test('a value YAML 1.1 reads otherwise is warned about, with its object, field and line', async (t) => {
  for (const [name, text, want] of CASES) {
    const r = readManifestText(text, 'p.yaml');
    t.same(r.warnings, want === undefined ? [] : [`p.yaml:${want}`], name);
  }
});

t.test('in a List, the warning names the item\'s object', async (t) => {
  const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: x, labels: {canary: no}}
`;
  t.same(readManifestText(text, 'l.yaml').warnings, [
    'l.yaml:6:46: Pod x/a: metadata.labels.canary: unquoted no is the text "no" here, but kubectl (YAML 1.1) reads the boolean false, which the API server refuses where text is expected; write "no" in quotes (document 1, items[0])',
  ]);
});
