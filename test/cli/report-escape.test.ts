// The HTML report carries text the user does not control: cluster policy rule names (free text
// up to 100 characters, not checked by the API server's name rules), the input's path and the
// --title. Wherever it lands (HTML text, the JSON in a script element, the SVG) it must stay
// text: no element it spells may appear in the page, and the page's data reads back unchanged.

import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tmpDir } from './run-cli.ts';

const HOSTILE = ['</script><script>alert(1)</script>', '"><img src=x onerror=alert(2)>', '<!--<script>', "'-alert(3)-'\u2028"];

t.test('hostile rule names, path and title stay text', async (t) => {
  const dir = join(tmpDir('palisade-report-escape-'), '<img src=x onerror=alert(4)>');
  mkdirSync(dir);
  const rules = HOSTILE.map((name, i) => `  - {name: ${JSON.stringify(name)}, action: ${i === 0 ? 'Pass' : 'Deny'}, from: [{namespaces: {matchLabels: {team: t${i}}}}]}`).join('\n');
  writeFileSync(join(dir, 'c.yaml'), `apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: app, labels: {app: web}}
spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.1.0.1, podIPs: [{ip: 10.1.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: app, labels: {app: db}}
spec: {containers: [{name: c, ports: [{containerPort: 5432}]}]}
status: {phase: Running, podIP: 10.1.0.2, podIPs: [{ip: 10.1.0.2}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: hostile}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  ingress:
${rules}
`);
  const out = join(tmpDir('palisade-report-escape-out-'), 'r.html');
  const r = runCli(['report', '--manifests', dir, '-o', out, '--title', '<svg onload=alert(5)>']);
  t.equal(r.code, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  t.equal(html.match(/<script/g)?.length, 2, 'the data and the page script only');
  t.notMatch(html, /<img/, 'no image element');
  t.notMatch(html, /<svg onload/, 'no svg element from the title');
  t.notMatch(html, /<!--/, 'no comment opened');
  t.notMatch(html, /\u2028/, 'no raw line separator');
  const data = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html);
  t.ok(data, 'the data element closes where it should');
  const texts = (JSON.parse(data![1]!) as { texts: string[] }).texts.join('\n');
  HOSTILE.forEach((name, i) => t.ok(texts.includes(name), `rule name ${i} reads back unchanged`));
});
