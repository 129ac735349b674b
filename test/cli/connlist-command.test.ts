// `palisade connlist`: the exact lines for a small shop (a two-replica Deployment shown as one
// group, a db reachable from backend on TCP 5432-5433 and a named port only), every output
// format, --focus, and bad flags as one line.

import t from 'tap';
import { manyPodsDir } from './many-pods-fixture.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasStackTrace, runCli, tmpDir } from './run-cli.ts';
import { portSetText, subtractPortSet } from '../../src/analysis/ports.ts';

const pod = (name: string, app: string, ip: string, extra = '') => `---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: ${name}, labels: {app: ${app}${extra}}}
spec: {containers: [{name: c, image: x, ports: [{name: pg, containerPort: 6000}]}]}
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;

const YAML = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
${pod('frontend-5d8f7-aaaaa', 'frontend', '10.0.0.1', ', pod-template-hash: "5d8f7"')}${pod('frontend-5d8f7-bbbbb', 'frontend', '10.0.0.2', ', pod-template-hash: "5d8f7"')}${pod('backend', 'backend', '10.0.0.3')}${pod('db', 'db', '10.0.0.4')}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: backend}}}], ports: [{port: 5432, endPort: 5433}, {port: pg}]}]
`;

const dir = tmpDir('palisade-connlist-');
writeFileSync(join(dir, 'cluster.yaml'), YAML);

t.test('text: exact port sets, the replicas as one group, externals', async (t) => {
  const r = runCli(['connlist', '--manifests', dir]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, [
    'shop/backend => shop/db : TCP 5432-5433,6000',
    'shop/backend => shop/frontend-5d8f7-* : all',
    'shop/backend => 0.0.0.0/0 : all',
    'shop/db => shop/backend : all',
    'shop/db => shop/frontend-5d8f7-* : all',
    'shop/db => 0.0.0.0/0 : all',
    'shop/frontend-5d8f7-* => shop/backend : all',
    'shop/frontend-5d8f7-* => shop/frontend-5d8f7-* : all',
    'shop/frontend-5d8f7-* => 0.0.0.0/0 : all',
    '0.0.0.0/0 => shop/backend : all',
    '0.0.0.0/0 => shop/frontend-5d8f7-* : all',
    '',
    'groups (pods of one template, judged alike):',
    '  shop/frontend-5d8f7-* = 2 pods: frontend-5d8f7-aaaaa, frontend-5d8f7-bbbbb',
    '',
  ].join('\n'));
});

t.test('--why names the rule; --focus narrows; formats', async (t) => {
  const why = runCli(['connlist', '--manifests', dir, '--focus', 'shop/db', '--why']);
  t.match(why.stdout, /^shop\/backend => shop\/db : TCP 5432-5433,6000\n {4}TCP 5432-5433,6000: egress allowed: not isolated; ingress allowed by shop\/db ingress\[0\]\n/);
  t.notMatch(why.stdout, /frontend-5d8f7-\* => shop\/backend/, 'pairs without the focus left out');
  const csv = runCli(['connlist', '--manifests', dir, '-o', 'csv']);
  t.match(csv.stdout, /^src,dst,conn,split\nshop\/backend,shop\/db,"TCP 5432-5433,6000",\n/);
  const md = runCli(['connlist', '--manifests', dir, '-o', 'md']);
  t.match(md.stdout, /^\| from \| to \| ports \| split \|\n/);
  const dot = runCli(['connlist', '--manifests', dir, '-o', 'dot']);
  t.match(dot.stdout, /^digraph connectivity \{/);
  t.match(dot.stdout, /"shop\/backend" -> "shop\/db" \[label="TCP 5432-5433,6000"\];/);
  const json = JSON.parse(runCli(['connlist', '--manifests', dir, '-o', 'json']).stdout) as { endpoints: { id: string; kind: string; pods?: string[] }[] };
  t.same(json.endpoints.find((e) => e.kind === 'group')?.pods, ['shop/frontend-5d8f7-aaaaa', 'shop/frontend-5d8f7-bbbbb']);
});

t.test('bad flags: one line, exit 2', async (t) => {
  for (const [args, msg] of [
    // A misspelt pod or namespace: the names there are, as explain and verify give them.
    [['--focus', 'shop/nope'], /^palisade connlist: --focus shop\/nope: no pod shop\/nope in the input \(pods of namespace shop: backend, db, frontend-5d8f7-aaaaa, frontend-5d8f7-bbbbb\)\n$/],
    [['--focus', 'shopp'], /^palisade connlist: --focus shopp: no pod in namespace shopp; namespaces with pods: shop\n$/],
    [['--focus', 'shopp/db'], /^palisade connlist: --focus shopp\/db: no pod shopp\/db in the input \(no pod in namespace shopp; namespaces with pods: shop\)\n$/],
    [['-o', 'svgz'], /^palisade connlist: -o must be one of text, json, csv, md, dot, svg, got "svgz"\n$/],
  ] as const) {
    const r = runCli(['connlist', '--manifests', dir, ...args]);
    t.equal(r.code, 2);
    t.match(r.stderr, msg);
    t.notOk(hasStackTrace(r.stderr));
  }
});

t.test('nothing to list: the text says so instead of printing a blank line', async (t) => {
  // A namespace whose only pod has no address yet: no endpoint, so no connection.
  const pending = tmpDir();
  writeFileSync(join(pending, 'p.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: p}\nspec: {containers: [{name: c}]}\nstatus: {phase: Pending}\n');
  const cases: [string[], string][] = [
    [['--manifests', pending], 'text'],
    [['--manifests', pending, '--why'], 'text with --why'],
  ];
  for (const [args, what] of cases) {
    const r = runCli(['connlist', ...args]);
    t.equal(r.code, 0, `${what}: exit 0`);
    t.equal(r.stdout, 'no allowed connection\n', `${what}: said`);
    // Why the pod is not an endpoint, in words (matrix says "no IPv4 address" too).
    t.match(r.stderr, /^palisade connlist: note: left out: x\/p \(no IPv4 address\)$/m, `${what}: why x/p is left out`);
  }
  // The machine formats keep their shape (a header, an empty list).
  t.equal(runCli(['connlist', '--manifests', pending, '-o', 'csv']).stdout, 'src,dst,conn,split\n');
});

t.test('port set text and subtraction', async (t) => {
  const all = [{ from: 1, to: 65535 }];
  t.equal(portSetText({ TCP: all, UDP: all, SCTP: all }), 'all');
  t.equal(portSetText({ TCP: [{ from: 80, to: 80 }, { from: 8080, to: 8090 }], UDP: [{ from: 53, to: 53 }], SCTP: [] }), 'TCP 80,8080-8090; UDP 53');
  t.equal(portSetText({ TCP: all, UDP: [], SCTP: [] }), 'TCP all');
  t.same(subtractPortSet({ TCP: all, UDP: [], SCTP: [] }, { TCP: [{ from: 80, to: 81 }], UDP: [], SCTP: [] }).TCP, [{ from: 1, to: 79 }, { from: 82, to: 65535 }]);
});

t.test('a group of many replicas is listed on lines that fit, its pods all there', async (t) => {
  // 10 replicas of long names made one 400-column line each; a Deployment of 50 made 2,000.
  const m = manyPodsDir(150);
  const r = runCli(['connlist', '--manifests', m.dir]);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  const from = lines.indexOf('groups (pods of one template, judged alike):');
  t.ok(from > 0, 'the groups are listed');
  const legend = lines.slice(from + 1);
  t.ok(legend.every((l) => l.length <= 120), `every line fits in 120 columns (longest ${Math.max(...legend.map((l) => l.length))})`);
  // Each group: a head line "  id = N pods: a, b," and continuation lines indented deeper.
  const groups: { id: string; count: number; pods: string[] }[] = [];
  for (const l of legend) {
    const head = /^ {2}(\S+) = (\d+) pods: (.*)$/.exec(l);
    if (head) groups.push({ id: head[1]!, count: Number(head[2]), pods: [] });
    else t.match(l, /^ {4}\S/, 'a continuation line is indented under its group');
    groups.at(-1)!.pods.push(...(head ? head[3]! : l).split(',').map((s) => s.trim()).filter(Boolean));
  }
  t.ok(groups.length > 0);
  for (const g of groups) {
    t.equal(g.pods.length, g.count, `${g.id}: all ${g.count} pods named`);
    const ns = g.id.split('/')[0]!;
    t.ok(g.pods.every((p) => m.keys.includes(`${ns}/${p}`)), `${g.id}: each a pod of the input`);
  }
});

t.test('a group an ipBlock tells apart: the text lists each address case under the union, with --why its rules', async (t) => {
  // db admits frontend-...-aaaaa (10.0.0.1/32) on every port, the other replica on 5432 only:
  // "shop/frontend-5d8f7-* => shop/db : all" alone read as all ports for both.
  const split = tmpDir('palisade-connlist-split-');
  writeFileSync(join(split, 'cluster.yaml'), YAML.replace('ingress: [', 'ingress: [{from: [{ipBlock: {cidr: 10.0.0.1/32}}]}, {from: [{podSelector: {matchLabels: {app: frontend}}}], ports: [{port: 5432}]}, '));
  const r = runCli(['connlist', '--manifests', split, '--focus', 'shop/db']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const at = lines.indexOf('shop/frontend-5d8f7-* => shop/db : all (not for every pod: by address below)');
  t.ok(at >= 0, r.stdout);
  t.same(lines.slice(at + 1, at + 3), [
    '    shop/frontend-5d8f7-aaaaa => shop/db : all',
    '    shop/frontend-5d8f7-bbbbb => shop/db : TCP 5432',
  ]);
  const why = runCli(['connlist', '--manifests', split, '--focus', 'shop/db', '--why']).stdout.split('\n');
  const w = why.indexOf('shop/frontend-5d8f7-* => shop/db : all (not for every pod: by address below)');
  t.same(why.slice(w + 1, w + 5), [
    '    shop/frontend-5d8f7-aaaaa => shop/db : all',
    '        all: egress allowed: not isolated; ingress allowed by shop/db ingress[0]',
    '    shop/frontend-5d8f7-bbbbb => shop/db : TCP 5432',
    '        TCP 5432: egress allowed: not isolated; ingress allowed by shop/db ingress[1]',
  ]);
});

t.test('the address cases of a group of many replicas are listed on lines that fit, every pod in one case', async (t) => {
  // 12 replicas; db admits the 7 in 10.0.0.0/29 on every port, the group on 5432: a case of 7
  // long names made a line of about 300 columns.
  const names = Array.from({ length: 12 }, (_, i) => `frontend-5d8f7c9b6d-${String.fromCharCode(97 + i).repeat(5)}`);
  const yaml = `apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n${names.map((n, i) => pod(n, 'frontend', `10.0.0.${i + 1}`, ', pod-template-hash: "5d8f7c9b6d"')).join('')}${pod('db', 'db', '10.0.1.4')}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/29}}]}, {from: [{podSelector: {matchLabels: {app: frontend}}}], ports: [{port: 5432}]}]
`;
  const many = tmpDir('palisade-connlist-split-many-');
  writeFileSync(join(many, 'cluster.yaml'), yaml);
  const r = runCli(['connlist', '--manifests', many, '--focus', 'shop/db']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  t.ok(lines.every((l) => l.length <= 120), `every line fits in 120 columns (longest ${Math.max(...lines.map((l) => l.length))})`);
  const at = lines.findIndex((l) => l.startsWith('shop/frontend-5d8f7c9b6d-* => shop/db : all'));
  t.ok(at >= 0, r.stdout);
  // Each case: a line indented 4, its continuation lines indented 6.
  const cases: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (/^ {4}\S/.test(l)) cases.push(l.trim());
    else if (/^ {6}\S/.test(l)) cases[cases.length - 1] += ` ${l.trim()}`;
    else break;
  }
  const parsed = cases.map((c) => /^(.*) => (.*) : (.*)$/.exec(c));
  t.ok(parsed.every(Boolean), cases.join('\n'));
  t.same(parsed.map((m) => m![3]), ['all', 'TCP 5432']);
  t.same(parsed.map((m) => m![2]), ['shop/db', 'shop/db']);
  const from = parsed.map((m) => m![1]!.split(', '));
  t.same(from.map((f) => f.length), [7, 5]);
  t.same([...from[0]!, ...from[1]!].sort(), names.map((n) => `shop/${n}`).sort(), 'every replica in one case');
});

t.test('a group an ipBlock tells apart: csv and md keep their columns and say each address case in a split column', async (t) => {
  // The same split as above: frontend-...-aaaaa reaches db on every port, -bbbbb on 5432 only.
  // Their first columns said "all" for both; the split column (the JSON's field) names each case,
  // and is empty where every pod of both ends is judged alike.
  const split = tmpDir('palisade-connlist-split-formats-');
  writeFileSync(join(split, 'cluster.yaml'), YAML.replace('ingress: [', 'ingress: [{from: [{ipBlock: {cidr: 10.0.0.1/32}}]}, {from: [{podSelector: {matchLabels: {app: frontend}}}], ports: [{port: 5432}]}, '));
  const rows: [string, string, string, string][] = [
    // format, header, the split edge's row, an edge every pod shares
    ['csv', 'src,dst,conn,split',
      'shop/frontend-5d8f7-*,shop/db,all,shop/frontend-5d8f7-aaaaa => shop/db : all | shop/frontend-5d8f7-bbbbb => shop/db : TCP 5432',
      'shop/backend,shop/db,"TCP 5432-5433,6000",'],
    ['md', '| from | to | ports | split |',
      '| shop/frontend-5d8f7-\\* | shop/db | all | shop/frontend-5d8f7-aaaaa => shop/db : all<br>shop/frontend-5d8f7-bbbbb => shop/db : TCP 5432 |',
      '| shop/backend | shop/db | TCP 5432-5433,6000 |  |'],
  ];
  for (const [format, header, splitRow, wholeRow] of rows) {
    const r = runCli(['connlist', '--manifests', split, '--focus', 'shop/db', '-o', format]);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    t.equal(lines[0], header, `${format}: header`);
    t.ok(lines.includes(splitRow), `${format}: the split edge's cases\n${r.stdout}`);
    t.ok(lines.includes(wholeRow), `${format}: an edge for every pod has an empty split\n${r.stdout}`);
  }
});
