// Field paths of the decoder -> line and column in the YAML text: steps, aliases, missing nodes.

import t from 'tap';
import { LineCounter, parseDocument } from 'yaml';
import { pathSteps, positionOfPath } from '../../src/sources/yaml-positions.ts';

function at(text: string, path: string): string {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const p = positionOfPath(doc, path, lines);
  return p ? `${p.line}:${p.col}` : 'none';
}

t.test('path steps', async (t) => {
  t.same(pathSteps('spec.ingress[0].from[12].ipBlock'), ['spec', 'ingress', '0', 'from', '12', 'ipBlock']);
  t.same(pathSteps('metadata.labels[app.kubernetes.io/name]'), ['metadata', 'labels', 'app.kubernetes.io/name'], 'a bracketed key is one step, dots and all');
  t.same(pathSteps('(root)'), []);
  t.same(pathSteps(''), []);
});

t.test('positions', async (t) => {
  const text = [
    'base: &sel', //                  1
    '  matchLabels: {app: web}', //   2
    'spec:', //                       3
    '  podSelector: *sel', //         4
    '  ingress:', //                  5
    '  - ports:', //                  6
    '    - port: 80', //              7
    '    - {port: 0}', //             8
    '',
  ].join('\n');
  t.equal(at(text, 'spec.ingress[0].ports[1].port'), '8:8', 'a key inside a flow mapping');
  t.equal(at(text, 'spec.ingress[0].ports[1]'), '8:7', 'a list entry points at the entry');
  t.equal(at(text, 'spec.ingress[0].ports[5].port'), '6:5', 'an index past the end: the list it is missing from');
  t.equal(at(text, 'spec.egress[0]'), '3:1', 'a missing field: its parent');
  t.equal(at(text, 'spec.podSelector.matchLabels[app]'), '2:17', 'through an alias: where the anchored value is written');
  t.equal(at(text, '(root)'), '1:1');
  t.equal(at('{"spec": {"ports": [{"port": 0}]}}', 'spec.ports[0].port'), '1:22', 'JSON');
});
