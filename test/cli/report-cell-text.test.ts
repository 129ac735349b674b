// The HTML report's matrix: a cell's colour (allowed or not on a port) and the text shown when it
// is clicked must tell the same story. The diagonal is where they parted: a group's cell with
// itself (between two of its pods) was explained as one pod talking to itself, ALLOWED, under a
// cell painted denied; a lone pod's cell with itself was painted denied, and explained ALLOWED
// (as `palisade matrix` prints it: '.'); two outside blocks were explained as an allowed
// connection the report's own counts do not have. Read from the file the CLI writes, no browser.

import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { clusterPolicyDir } from './cluster-policy-fixture.ts';
import { runCli, tmpDir } from './run-cli.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** A Deployment's two replicas (one group) and a lone pod, every ingress of the namespace denied. */
function groupCluster(): string {
  const pod = (name: string, labels: string, ip: string) => `apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: ${name}, labels: ${labels}}
spec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 80}]}]}
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}`;
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}',
    pod('web-5d8f7-aaaaa', '{app: web, pod-template-hash: 5d8f7}', '10.1.0.1'),
    pod('web-5d8f7-bbbbb', '{app: web, pod-template-hash: 5d8f7}', '10.1.0.2'),
    pod('db', '{app: db}', '10.1.0.3'),
    'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Ingress]}',
  ];
  const dir = tmpDir('palisade-report-group-');
  writeFileSync(join(dir, 'cluster.yaml'), docs.join('\n---\n') + '\n');
  return dir;
}

/** The group's two replicas and db; db admits the second replica (10.1.0.2) on 8443 too, the group on port 80: an edge split by address. */
function splitCluster(): string {
  return groupClusterWith('spec: {podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress], ingress: [{from: [{ipBlock: {cidr: 10.1.0.2/32}}], ports: [{port: 8443}]}, {from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 80}]}]}');
}

/** groupCluster with its default-deny policy's spec replaced by `spec`. */
function groupClusterWith(spec: string): string {
  const dir = groupCluster();
  const before = readFileSync(join(dir, 'cluster.yaml'), 'utf8');
  const yaml = before.replace('spec: {podSelector: {}, policyTypes: [Ingress]}', spec);
  // A fixture edit that matched nothing would leave the default deny, and no split to test.
  if (yaml === before) throw new Error('groupClusterWith: the default-deny spec was not found');
  writeFileSync(join(dir, 'cluster.yaml'), yaml);
  return dir;
}

/**
 * The group's replicas reach each other by address only: 10.1.0.1 on port 80, 10.1.0.2 on 8443. The
 * group's pair with itself is split by destination, each case from both replicas to one of them.
 */
function selfSplitCluster(): string {
  return groupClusterWith('spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.1.0.1/32}}], ports: [{port: 80}]}, {to: [{ipBlock: {cidr: 10.1.0.2/32}}], ports: [{port: 8443}]}]}');
}

interface Data { endpoints: string[]; ports: string[]; cells: number[][][]; cellText: number[][][]; texts: string[] }

function reportData(manifests: string): Data {
  const out = join(tmpDir('palisade-report-'), 'r.html');
  const r = runCli(['report', '--manifests', manifests, '-o', out]);
  if (r.code !== 0) throw new Error(r.stderr);
  const m = /<script[^>]*id="report-data"[^>]*>([^]*?)<\/script>/.exec(readFileSync(out, 'utf8'));
  return JSON.parse(m![1]!) as Data;
}

const INPUTS: [string, () => string][] = [
  ['a group and a lone pod, ingress denied', groupCluster],
  ['examples/demo', () => join(ROOT, 'examples', 'demo')],
  ['the cluster policy fixture', () => clusterPolicyDir()],
  ['a group an ipBlock tells apart', splitCluster],
  ['a group whose replicas reach each other by address', selfSplitCluster],
];

for (const [name, dir] of INPUTS) {
  t.test(`${name}: every cell's text agrees with its colour`, async (t) => {
    const d = reportData(dir());
    const wrong: string[] = [];
    d.endpoints.forEach((a, i) => d.endpoints.forEach((b, j) => d.ports.forEach((p, k) => {
      const first = d.texts[d.cellText[i]![j]![k]!]!.split('\n')[0]!;
      // A share between 0 and 1: allowed between some of the two ends' pods (an edge split by address).
      const v = d.cells[i]![j]![k]!;
      if (/: allowed for some pods\b/.test(first) !== (v > 0 && v < 1)) wrong.push(`${a} -> ${b} ${p}: painted ${v}, text: ${first}`);
      else if (v > 0 && v < 1) return;
      const says = /: allowed\b/.test(first);
      if (says !== (d.cells[i]![j]![k] === 1)) wrong.push(`${a} -> ${b} ${p}: painted ${d.cells[i]![j]![k] ? 'allowed' : 'not allowed'}, text: ${first}`);
    })));
    t.same(wrong, [], 'no cell says one thing and shows another');
  });
}

t.test('a group with itself is explained between two of its pods', async (t) => {
  const d = reportData(groupCluster());
  const i = d.endpoints.indexOf('shop/web-5d8f7-*');
  t.ok(i >= 0, 'the replicas are one group');
  const text = d.texts[d.cellText[i]![i]![0]!]!;
  t.match(text.split('\n')[0]!, /^10\.1\.0\.1 \(pod shop\/web-5d8f7-aaaaa\) -> 10\.1\.0\.2 \(pod shop\/web-5d8f7-bbbbb\) TCP\/80: DENIED$/);
  t.equal(d.cells[i]![i]![0], 0);
  const lone = d.endpoints.indexOf('shop/db');
  t.equal(d.cells[lone]![lone]![0], 1, 'a lone pod reaches itself, as palisade matrix shows');
});

t.test('a pair an ipBlock tells apart: painted as partly allowed, each case explained', async (t) => {
  const d = reportData(splitCluster());
  const web = d.endpoints.indexOf('shop/web-5d8f7-*'), db = d.endpoints.indexOf('shop/db');
  const k80 = d.ports.indexOf('TCP/80'), k8443 = d.ports.indexOf('TCP/8443');
  t.ok(web >= 0 && db >= 0 && k80 >= 0 && k8443 >= 0, `${d.endpoints.join(' ')}; ${d.ports.join(' ')}`);
  t.equal(d.cells[web]![db]![k80], 1, 'port 80: every replica');
  t.equal(d.cells[web]![db]![k8443], 0.5, '8443: one of the two cases');
  const text = d.texts[d.cellText[web]![db]![k8443]!]!;
  t.match(text, /10\.1\.0\.1 \(pod shop\/web-5d8f7-aaaaa\) -> 10\.1\.0\.3 \(pod shop\/db\) TCP\/8443: DENIED/);
  t.match(text, /10\.1\.0\.2 \(pod shop\/web-5d8f7-bbbbb\) -> 10\.1\.0\.3 \(pod shop\/db\) TCP\/8443: allowed$/m);
});

t.test('a group split with itself: each case explained between two different pods of it', async (t) => {
  const d = reportData(selfSplitCluster());
  const web = d.endpoints.indexOf('shop/web-5d8f7-*');
  const rows: [string, string][] = [
    // port, the explanation of each case: both replicas to 10.1.0.1 (web-bbbbb to it), then to 10.1.0.2 (web-aaaaa to it).
    ['TCP/80', 'allowed DENIED'],
    ['TCP/8443', 'DENIED allowed'],
  ];
  for (const [port, verdicts] of rows) {
    const k = d.ports.indexOf(port);
    t.ok(web >= 0 && k >= 0, `${d.endpoints.join(' ')}; ${d.ports.join(' ')}`);
    t.equal(d.cells[web]![web]![k], 0.5, `${port}: one of the two cases`);
    const heads = d.texts[d.cellText[web]![web]![k]!]!.split('\n').filter((l) => / -> .* TCP\/\d+: (allowed|DENIED)$/.test(l));
    t.same(heads.map((l) => l.slice(l.lastIndexOf(' ') + 1)).join(' '), verdicts, `${port}: each case's verdict`);
    for (const h of heads) {
      const [src, dst] = h.split(' -> ').map((x) => x.split(' ')[0]);
      t.not(src, dst, `${port}: ${h} is between two pods`);
    }
  }
});

t.test('an edge\'s text explains a connection the edge allows', async (t) => {
  // The group's edge with itself (TCP 80 to web-aaaaa, 8443 to web-bbbbb) was explained on port
  // 80 from web-aaaaa to web-bbbbb: DENIED, under an edge listing port 80.
  for (const [name, dir] of [['a group whose replicas reach each other by address', selfSplitCluster], ['a group an ipBlock tells apart', splitCluster]] as const) {
    const d = reportData(dir()) as Data & { edges: [string, string, string][]; edgeText: number[] };
    for (const [i, [from, to, ports]] of d.edges.entries()) {
      const heads = d.texts[d.edgeText[i]!]!.split('\n').filter((l) => / -> .* (TCP|UDP|SCTP)\/\d+: (allowed|DENIED)$/.test(l));
      for (const h of heads) t.match(h, /: allowed$/, `${name}: ${from} => ${to} : ${ports}`);
    }
  }
});
