// --kubeconfig FILE [--context NAME] instead of --manifests: the analysis commands read a live
// cluster once (the fake API server of the kube tests, in this process) and answer exactly as
// they do for the same objects given as manifests, cluster policies (CRDs installed) included.
// A bad kubeconfig, context or server is one line naming it, exit 2.

import t, { type Test } from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { parseAllDocuments } from 'yaml';
import { FakeApiServer, type RawObject } from '../../support/fake-apiserver.ts';
import { CLUSTER, POLICIES, clusterPolicyDir } from './cluster-policy-fixture.ts';
import { hasStackTrace, runCliAsync, tmpDir } from './run-cli.ts';
import { loadClusterInput } from '../../src/cli/cluster-input.ts';
import { CliError } from '../../src/cli/args.ts';

const objects = parseAllDocuments(CLUSTER + '\n' + POLICIES).map((d) => d.toJS() as RawObject).filter(Boolean);

async function fakeCluster(t: Test, objs: RawObject[] = objects) {
  const server = await FakeApiServer.start({ token: 'cli-token' });
  server.installCRD('ClusterNetworkPolicy');
  for (const o of objs) server.apply(o);
  const dir = tmpDir('palisade-kubeconfig-');
  const kubeconfig = server.writeKubeconfig(join(dir, 'kubeconfig'));
  t.teardown(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, kubeconfig, dir };
}

t.test('every analysis command answers the same from the cluster as from the manifests', async (t) => {
  const { server, kubeconfig } = await fakeCluster(t);
  const manifests = clusterPolicyDir();
  const probes = join(tmpDir(), 'probes.yaml');
  writeFileSync(probes, '- {from: app/web, to: db/pg, port: 5432, expect: allow}\n- {from: app/batch, to: db/pg, port: 5432, expect: deny}\n');
  const runs: [string, string[]][] = [
    ['matrix', ['matrix', '--port', '5432', '--why']],
    ['explain (Admin Pass then NetworkPolicy)', ['explain', '--from', 'app/web', '--to', 'db/pg', '--port', '5432']],
    ['explain (Baseline deny)', ['explain', '--from', 'app/batch', '--to', 'db/pg', '--port', '5432']],
    ['verify', ['verify', '--probes', probes, '-o', 'json']],
  ];
  for (const [what, args] of runs) {
    const fromFiles = await runCliAsync([...args, '--manifests', manifests]);
    const fromCluster = await runCliAsync([...args, '--kubeconfig', kubeconfig]);
    t.notOk(hasStackTrace(fromCluster.stderr), `${what}: no stack trace`);
    t.equal(fromCluster.code, fromFiles.code, `${what}: same exit status (${fromCluster.stderr})`);
    t.ok(fromCluster.stdout.length > 0, `${what}: printed something`);
    t.equal(fromCluster.stdout, fromFiles.stdout, `${what}: same output`);
  }
  // lint names a namespace's pods in the state's order (file order for manifests, name order
  // from the API server), so the findings are compared without that order; and a finding read
  // from a file says where (source), which a cluster's object cannot.
  const norm = (out: string) => (JSON.parse(out) as { reason: string; source?: string }[]).map(({ source: _, ...f }) => ({ ...f, reason: f.reason.replace(/[\w-]+\/[\w-]+(, [\w-]+\/[\w-]+)+/g, (m) => m.split(', ').sort().join(', ')) }));
  const lf = await runCliAsync(['lint', '-o', 'json', '--manifests', manifests]);
  const lc = await runCliAsync(['lint', '-o', 'json', '--kubeconfig', kubeconfig]);
  t.equal(lc.code, lf.code, 'lint: same exit status');
  t.ok(norm(lc.stdout).length > 0, 'lint: findings');
  t.same(norm(lc.stdout), norm(lf.stdout), 'lint: same findings');
  const sourced = (out: string) => (JSON.parse(out) as { source?: string }[]).filter((f) => f.source !== undefined).length;
  t.ok(sourced(lf.stdout) > 0, 'lint: findings read from files say where');
  t.equal(sourced(lc.stdout), 0, 'lint: findings of a cluster\'s objects say nothing of files');
  // Read once: lists only, never a watch.
  t.same(server.requests.filter((r) => r.watch), [], 'no watch requests');
  t.ok(server.requests.some((r) => r.path === '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies' && r.status === 200), 'cluster policies listed');
  // This CRD serves v1alpha2 alone: v1beta1, preferred, answered 404 first and was passed over.
  t.ok(server.requests.some((r) => r.path === '/apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies' && r.status === 404), 'v1beta1 tried first');
});

t.test('connlist and report read the live cluster: what they print from the same objects as manifests', async (t) => {
  const { server, kubeconfig } = await fakeCluster(t);
  const manifests = clusterPolicyDir();
  for (const o of ['text', 'json', 'dot']) {
    const fromFiles = await runCliAsync(['connlist', '-o', o, '--manifests', manifests]);
    const fromCluster = await runCliAsync(['connlist', '-o', o, '--kubeconfig', kubeconfig]);
    t.notOk(hasStackTrace(fromCluster.stderr), `connlist -o ${o}: no stack trace`);
    t.equal(fromCluster.code, 0, `connlist -o ${o}: exit 0 (${fromCluster.stderr})`);
    t.equal(fromCluster.stdout, fromFiles.stdout, `connlist -o ${o}: same output`);
  }
  // Not an empty answer that happens to match: the cluster policies' effect is in it.
  const conn = await runCliAsync(['connlist', '--kubeconfig', kubeconfig]);
  t.match(conn.stdout, /^app\/web => db\/pg : /m, 'app/web reaches db/pg (Admin Pass, then the NetworkPolicy)');
  t.notMatch(conn.stdout, /^app\/batch => db\/pg /m, 'app/batch does not (Baseline deny)');
  const dir = tmpDir('palisade-report-kube-');
  const a = join(dir, 'files.html'), b = join(dir, 'cluster.html');
  const rf = await runCliAsync(['report', '-o', a, '--manifests', manifests]);
  const rc = await runCliAsync(['report', '-o', b, '--kubeconfig', kubeconfig]);
  t.equal(rc.code, rf.code, `report: same exit status (${rc.stderr})`);
  t.notOk(hasStackTrace(rc.stderr));
  t.match(rc.stderr, /^palisade report: wrote .*cluster\.html: \d+ endpoints, \d+ edges/m);
  const html = (f: string) => readFileSync(f, 'utf8');
  t.match(html(b), `Input: cluster ${server.url}`, 'the report names the cluster it read');
  // The input line names the source; everything else (graph, matrix, texts, findings) is the same
  // but for the order lint names a namespace's pods in (see the lint comparison above).
  const body = (f: string) => html(f).replace(/Input: [^<]*?\. (\d+ endpoints)/, 'Input: X. $1')
    .replace(/[\w-]+\/[\w-]+(, [\w-]+\/[\w-]+)+/g, (m) => m.split(', ').sort().join(', '));
  t.equal(body(b), body(a), 'report: the same page but for the input line');
  t.same(server.requests.filter((r) => r.watch), [], 'no watch requests');
});

t.test('a CRD not installed is an empty kind (a note), not an error', async (t) => {
  const plain = objects.filter((o) => o.kind !== 'ClusterNetworkPolicy');
  const server = await FakeApiServer.start({});
  for (const o of plain) server.apply(o);
  const dir = tmpDir('palisade-kubeconfig-');
  const kubeconfig = server.writeKubeconfig(join(dir, 'kubeconfig'));
  t.teardown(() => server.stop());
  const r = await runCliAsync(['matrix', '--kubeconfig', kubeconfig, '--port', '5432']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /note: not served by the cluster \(CRD not installed\): ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy/);
  t.match(r.stdout, /^- *\tapp\/batch *\tapp\/web *\tdb\/pg *\tops\/mon\n/);
});

t.test('an invalid object in the cluster is reported naming its field and left out: exit 1', async (t) => {
  const bad: RawObject = { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace: 'app', name: 'broken' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 0 }] }] } };
  const { kubeconfig } = await fakeCluster(t, [...objects, bad]);
  const r = await runCliAsync(['lint', '--kubeconfig', kubeconfig]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^palisade lint: error: kube-apiserver: NetworkPolicy app\/broken: spec\.ingress\[0\]\.ports\[0\]\.port: /m);
  t.match(r.stderr, /1 object\(s\) of the cluster are invalid and were left out/);
});

t.test('--context picks another context; bad kubeconfig, context or server: one line, exit 2', async (t) => {
  const { server, kubeconfig, dir } = await fakeCluster(t);
  // A loopback port nothing listens on (bound, then closed): connection refused. (fetch refuses
  // well-known ports such as 1 itself, before connecting.)
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const gone = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  // A second context pointing nowhere is current; --context fake picks the working one.
  const two = join(dir, 'two');
  writeFileSync(two,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {server: '${server.url}', insecure-skip-tls-verify: true}\n` +
    `- name: gone\n  cluster: {server: 'http://127.0.0.1:${gone}', insecure-skip-tls-verify: true}\n` +
    `users:\n- name: tester\n  user: {token: cli-token}\ncontexts:\n- name: fake\n  context: {cluster: fake, user: tester}\n` +
    `- name: gone\n  context: {cluster: gone, user: tester}\ncurrent-context: gone\n`);
  const ok = await runCliAsync(['matrix', '--kubeconfig', two, '--context', 'fake', '--port', '5432']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /db\/pg/);

  // The errors, from the module every command calls (the CLI prefixes "palisade CMD: ").
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['unreachable server', { kubeconfig: two }, /^--kubeconfig: API server http:\/\/127\.0\.0\.1:\d+ \(context gone\): .*ECONNREFUSED/],
    ['unknown context', { kubeconfig: two, context: 'prod' }, /^--kubeconfig: kubeconfig .*two: no context "prod" \(it has: fake, gone\)$/],
    ['missing file', { kubeconfig: join(dir, 'nope') }, /^--kubeconfig: kubeconfig .*nope: no such file$/],
    ['both inputs', { kubeconfig, manifests: [dir] }, /^--manifests and --kubeconfig are two inputs: give one$/],
    ['context alone', { context: 'fake' }, /^--context needs --kubeconfig$/],
    ['no input', {}, /^--manifests PATH\.\.\. is required .* or --kubeconfig FILE for a live cluster$/],
  ];
  for (const [what, flags, err] of cases) {
    const e = await loadClusterInput('matrix', flags).then(() => undefined, (x: unknown) => x);
    t.ok(e instanceof CliError, `${what}: a CliError (one line, exit 2)`);
    t.equal((e as CliError).exitCode, 2);
    t.match((e as Error).message, err, what);
    t.notMatch((e as Error).message, /\n/, `${what}: one line`);
  }
  // Through the CLI: one line, exit 2, no stack trace.
  const unreachable = await runCliAsync(['matrix', '--kubeconfig', two, '--port', '80']);
  t.equal(unreachable.code, 2);
  t.match(unreachable.stderr, /^palisade matrix: --kubeconfig: API server http:\/\/127\.0\.0\.1:\d+ \(context gone\): .*ECONNREFUSED.*\n$/);
  t.notOk(hasStackTrace(unreachable.stderr));
  // A wrong token: the API server's answer, named.
  writeFileSync(join(dir, 'badtoken'), `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {server: '${server.url}', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: wrong}\ncontexts:\n- name: c\n  context: {cluster: fake, user: u}\ncurrent-context: c\n`);
  const denied = await loadClusterInput('lint', { kubeconfig: join(dir, 'badtoken') }).then(() => undefined, (x: unknown) => x);
  t.match((denied as Error).message, /^--kubeconfig: API server .* \(context c\): list \/api\/v1\/\w+: HTTP 401/);
});

t.test('a kubeconfig that is not YAML: one line naming the file and where, exit 2', async (t) => {
  // The YAML reader's message comes with a source excerpt over several lines; a new user's
  // typo in a kubeconfig must read like every other bad input.
  const dir = tmpDir('palisade-kubeconfig-');
  const cases: [string, string, RegExp][] = [
    ['an unclosed list', 'apiVersion: v1\nkind: Config\nclusters: [\n', /^--kubeconfig: kubeconfig \S+: .*\(4:1\)$/],
    ['a tab for indentation', 'apiVersion: v1\nkind: Config\nclusters:\n\t- name: a\n', /^--kubeconfig: kubeconfig \S+: .*\(4:1\)$/],
  ];
  for (const [what, text, err] of cases) {
    const file = join(dir, what.replace(/\W+/g, '-'));
    writeFileSync(file, text);
    const e = await loadClusterInput('lint', { kubeconfig: file }).then(() => undefined, (x: unknown) => x);
    t.ok(e instanceof CliError, `${what}: a CliError`);
    t.match((e as Error).message, err, `${what}: the file and the line and column`);
    t.notMatch((e as Error).message, /\n/, `${what}: one line`);
    const r = await runCliAsync(['lint', '--kubeconfig', file]);
    t.equal(r.code, 2, `${what}: exit 2`);
    t.equal(r.stderr.split('\n').length, 2, `${what}: one line on stderr (${JSON.stringify(r.stderr)})`);
  }
});

t.test('a continue token expiring between pages: the read starts that list again, and is whole', async (t) => {
  const { server, kubeconfig } = await fakeCluster(t);
  // The etcd compaction lands right after the first page of pods is served (a consistent read:
  // paged), so the next page's token is too old (410 Expired).
  const fake = server as unknown as { serveList: (...a: unknown[]) => void };
  const serve = fake.serveList.bind(server);
  let compacted = false;
  fake.serveList = (req, res, r, q) => {
    serve(req, res, r, q);
    if (!compacted && (r as { kind: string }).kind === 'Pod' && (q as URLSearchParams).get('continue') === null) {
      compacted = true;
      server.compact();
    }
  };
  const { readClusterOnce } = await import('../../src/sources/kube-snapshot.ts');
  const snap = await readClusterOnce({ kubeconfig, pageSize: 1 });
  t.ok(compacted);
  t.ok(server.requests.some((r) => r.path === '/api/v1/pods' && r.status === 410), 'one page was refused');
  t.equal(snap.state.pods.size, objects.filter((o) => o.kind === 'Pod').length, 'every pod read');
});

t.test('a list element that is not an object fails the one-shot read, naming the list and the element', async (t) => {
  const { readClusterOnce } = await import('../../src/sources/kube-snapshot.ts');
  for (const text of ['42', 'null', '"pod"', '[{"metadata":{"name":"p"}}]']) {
    const { server, kubeconfig } = await fakeCluster(t);
    server.rawListItems.set('Pod', [text]);
    const pods = objects.filter((o) => o.kind === 'Pod').length;
    await t.rejects(readClusterOnce({ kubeconfig }), { message: new RegExp(`/api/v1/pods: element ${pods} of items is not an object`) }, text);
  }
});
