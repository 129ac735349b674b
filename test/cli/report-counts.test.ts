// The report's headline counts are connlist's: "N endpoints, M allowed connections" is the model
// `palisade connlist` lists, also above 40 endpoints, where the graph and matrix are drawn by
// namespace (the headline then says how many boxes and edges are drawn, not as connections).

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { clusterPolicyDir } from './cluster-policy-fixture.ts';
import { runCli, tmpDir } from './run-cli.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** `namespaces` namespaces of 9 pods with distinct labels (each its own endpoint), one ingress deny each. */
function wide(namespaces: number): string {
  const docs: string[] = [];
  for (let n = 0; n < namespaces; n++) {
    const ns = `team-${n}`;
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}`);
    for (let p = 0; p < 9; p++) {
      const ip = `10.1.${n}.${p + 1}`;
      docs.push(`apiVersion: v1\nkind: Pod\nmetadata: {namespace: ${ns}, name: p${p}, labels: {app: a${p}}}\nspec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 80}]}]}\nstatus: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}`);
    }
    docs.push(`apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: ${ns}}\nspec: {podSelector: {matchLabels: {app: a1}}, policyTypes: [Ingress]}`);
  }
  const dir = tmpDir('palisade-report-counts-');
  writeFileSync(join(dir, 'cluster.yaml'), docs.join('\n---\n') + '\n');
  return dir;
}

/** Two pods with IPv6 addresses only (an IPv6 single-stack cluster). */
function ipv6Only(): string {
  const pod = (name: string, ip: string) => `apiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: ${name}, labels: {app: ${name}}}\nspec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 80}]}]}\nstatus: {phase: Running, podIP: "${ip}", podIPs: [{ip: "${ip}"}]}`;
  const dir = tmpDir('palisade-report-v6-');
  writeFileSync(join(dir, 'cluster.yaml'), ['apiVersion: v1\nkind: Namespace\nmetadata: {name: x}', pod('a', 'fd00::1'), pod('b', 'fd00::2')].join('\n---\n') + '\n');
  return dir;
}

// [input, its folder, drawn by namespace, the family the report shows (a single-stack IPv6
// cluster's own; else IPv4, as connlist)]
const INPUTS: [string, () => string, boolean, 'IPv4' | 'IPv6'][] = [
  ['examples/demo', () => join(ROOT, 'examples', 'demo'), false, 'IPv4'],
  ['the cluster policy fixture', () => clusterPolicyDir(), false, 'IPv4'],
  ['5 namespaces of 9 pods (drawn by namespace)', () => wide(5), true, 'IPv4'],
  ['an IPv6 single-stack cluster', ipv6Only, false, 'IPv6'],
];

for (const [name, input, byNamespace, family] of INPUTS) {
  t.test(name, async (t) => {
    const dir = input();
    // connlist's JSON of the wide cluster is past spawnSync's default 1 MiB of output.
    const cl = spawnSync(process.execPath, [join(ROOT, 'bin', 'palisade.js'), 'connlist', '--manifests', dir, '--family', family, '-o', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const model = JSON.parse(cl.stdout) as { endpoints: unknown[]; edges: unknown[] };
    const out = join(tmpDir('palisade-report-'), 'r.html');
    const r = runCli(['report', '--manifests', dir, '-o', out]);
    t.equal(r.code, 0, r.stderr);
    const html = readFileSync(out, 'utf8');
    const m = /<p>Input: [^<]*?\. (\d+) endpoints, (\d+) allowed connections \((IPv[46])\)/.exec(html);
    t.equal(m?.[3], family, 'the family shown');
    t.ok(m, 'the headline counts');
    t.same([Number(m?.[1]), Number(m?.[2])], [model.endpoints.length, model.edges.length], 'the headline counts connlist\'s endpoints and connections');
    t.equal(/drawn by namespace as \d+ boxes and \d+ edges/.test(html), byNamespace, 'says what is drawn when drawn by namespace');
  });
}

t.test('pods the report cannot draw are named with their reason, as connlist names them', async (t) => {
  // An IPv6-only pod in an IPv4 report, a host-network pod and a finished one were in no box,
  // no matrix row and no sentence of the page.
  const pod = (name: string, ips: string[], extra = '') => `apiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: ${name}, labels: {app: ${name}}}\nspec: {nodeName: n1, ${extra}containers: [{name: c, ports: [{containerPort: 80}]}]}\nstatus: {phase: ${name === 'done' ? 'Succeeded' : 'Running'}, podIPs: [${ips.map((ip) => `{ip: "${ip}"}`).join(', ')}]}`;
  const dir = tmpDir('palisade-report-left-');
  writeFileSync(join(dir, 'cluster.yaml'), ['apiVersion: v1\nkind: Namespace\nmetadata: {name: x}', pod('a', ['10.1.0.1']), pod('v6', ['fd00::2']), pod('host', ['172.18.0.3'], 'hostNetwork: true, '), pod('done', ['10.1.0.9'])].join('\n---\n') + '\n');
  const out = join(tmpDir('palisade-report-left-out-'), 'r.html');
  const r = runCli(['report', '--manifests', dir, '-o', out]);
  t.equal(r.code, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  for (const text of ['x/v6 (no IPv4 address)', 'x/host (host network)', 'x/done (finished)']) t.ok(html.includes(text), `the page says ${text}`);
});
