// `palisade diff` on the seed-like scenario: frontend (two replicas of one template), backend and
// db pods; first a default-deny on db, then the allow backend -> db TCP 5432. Each step must list
// exactly the connections that change, with the policies responsible, and exit 1; no change
// exits 0. The same through --git against a committed tree, and with the live cluster (the fake
// API server, in this process) as the after side.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { FakeApiServer, type RawObject } from '../../support/fake-apiserver.ts';
import { hasStackTrace, runCli, runCliAsync, tmpDir } from './run-cli.ts';

const pod = (name: string, app: string, ip: string, extra: Record<string, string> = {}) => `---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: ${name}, labels: {app: ${app}${Object.entries(extra).map(([k, v]) => `, ${k}: "${v}"`).join('')}}}
spec: {containers: [{name: c, image: x}]}
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;

const PODS = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
${pod('frontend-5d8f7-aaaaa', 'frontend', '10.0.0.1', { 'pod-template-hash': '5d8f7' })}${pod('frontend-5d8f7-bbbbb', 'frontend', '10.0.0.2', { 'pod-template-hash': '5d8f7' })}${pod('backend', 'backend', '10.0.0.3')}${pod('db', 'db', '10.0.0.4')}`;

const DENY = `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: db-default-deny}
spec: {podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress]}
`;

const ALLOW = `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: db-from-backend}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: backend}}}], ports: [{protocol: TCP, port: 5432}]}]
`;

function folder(yaml: string): string {
  const dir = tmpDir('palisade-diff-test-');
  writeFileSync(join(dir, 'cluster.yaml'), yaml);
  return dir;
}

const step0 = folder(PODS), step1 = folder(PODS + DENY), step2 = folder(PODS + DENY + ALLOW);

t.test('default-deny on db: exactly the connections into db close, each naming the policy', async (t) => {
  const r = runCli(['diff', '--before', step0, '--after', step1]);
  t.equal(r.code, 1, `exit 1: something changed (${r.stderr})`);
  t.notOk(hasStackTrace(r.stderr));
  const heads = r.stdout.split('\n').filter((l) => /^[+~-] /.test(l));
  t.same(heads, [
    '- shop/backend => shop/db : all',
    '- shop/frontend-5d8f7-* => shop/db : all',
    '- 0.0.0.0/0 => shop/db : all',
  ]);
  const closed = r.stdout.split('\n').filter((l) => l.includes('closed'));
  t.equal(closed.length, 3, 'three connections, every protocol and port of each');
  for (const l of closed) t.match(l, /^ {4}closed all: /);
  for (const l of closed) t.match(l, /ingress denied: isolated by shop\/db-default-deny, no rule allows$/);
  t.match(r.stdout, /was {2}all: egress allowed: not( a pod \(no policy applies\)|t isolated); ingress allowed: not isolated/);
  t.match(r.stdout, /3 connection\(s\) changed: 0 newly allowed, 3 newly denied, 0 with other ports/);
});

t.test('then the allow: exactly backend -> db TCP 5432 opens, by db-from-backend ingress[0]', async (t) => {
  const r = runCli(['diff', '--before', step1, '--after', step2]);
  t.equal(r.code, 1);
  t.equal(r.stdout, [
    '+ shop/backend => shop/db : TCP 5432',
    '    opened TCP 5432: egress allowed: not isolated; ingress allowed by shop/db-from-backend ingress[0]',
    '',
    '1 connection(s) changed: 1 newly allowed, 0 newly denied, 0 with other ports',
    '',
  ].join('\n'));
  const j = runCli(['diff', '--before', step1, '--after', step2, '-o', 'json']);
  const changes = JSON.parse(j.stdout) as { kind: string; from: string; to: string; opened: { TCP: unknown[] } }[];
  t.same(changes.map((c) => [c.kind, c.from, c.to]), [['added', 'shop/backend', 'shop/db']]);
  t.same(changes[0]!.opened.TCP, [{ from: 5432, to: 5432 }]);
});

t.test('no change: exit 0', async (t) => {
  const r = runCli(['diff', '--before', step2, '--after', step2]);
  t.equal(r.code, 0);
  t.equal(r.stdout, 'no connection changed\n');
});

t.test('a connection closed for one replica only: listed with its pods, exit 1 (it was "no connection changed", exit 0)', async (t) => {
  const from = (peer: string) => `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: db-from-frontend}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [${peer}]}]
`;
  const before = folder(PODS + from('{podSelector: {matchLabels: {app: frontend}}}'));
  const after = folder(PODS + from('{ipBlock: {cidr: 10.0.0.1/32}}'));
  const r = runCli(['diff', '--before', before, '--after', after]);
  t.equal(r.code, 1, r.stderr);
  t.same(r.stdout.split('\n').slice(0, 2), ['- shop/frontend-5d8f7-* => shop/db : all', '    for pods shop/frontend-5d8f7-bbbbb => shop/db only']);
  const j = JSON.parse(runCli(['diff', '--before', before, '--after', after, '-o', 'json']).stdout) as { pods?: unknown }[];
  t.same(j.map((c) => c.pods), [{ from: ['shop/frontend-5d8f7-bbbbb'], to: ['shop/db'] }]);
});

t.test('-o md says what the text says: every opened, closed and was line, endpoints new or gone', async (t) => {
  // The Markdown goes into a pull request comment, where the reader has nothing else to go on.
  const noBackend = folder(PODS.replace(pod('backend', 'backend', '10.0.0.3'), '') + DENY);
  const pairs: [string, string, string][] = [
    ['a default-deny', step0, step1],
    ['an allow', step1, step2],
    ['a pod removed', step2, noBackend],
    ['a pod added', noBackend, step2],
  ];
  const norm = (s: string) => s.trim().replace(/\s+/g, ' ');
  for (const [what, before, after] of pairs) {
    const text = runCli(['diff', '--before', before, '--after', after]).stdout.split('\n');
    const md = runCli(['diff', '--before', before, '--after', after, '-o', 'md']);
    t.equal(md.code, 1, `${what}: exit 1`);
    // One block per change in the text: its head, then its indented lines.
    const blocks: { head: string; lines: string[] }[] = [];
    for (const l of text) {
      if (/^[+~-] /.test(l)) blocks.push({ head: l, lines: [] });
      else if (/^ /.test(l)) blocks.at(-1)!.lines.push(norm(l));
    }
    const rows = md.stdout.trimEnd().split('\n').slice(2).map((r) => r.slice(2, -2).split(' | '));
    t.equal(rows.length, blocks.length, `${what}: one row per change`);
    blocks.forEach((b, i) => {
      const row = rows[i] ?? [];
      t.same((row.at(-1) ?? '').split('<br>').filter((x) => x !== '').map(norm), b.lines, `${what}: ${b.head}: the same reasons`);
      const note = /\((new endpoint|endpoint gone)\)$/.exec(b.head)?.[1];
      if (note) t.ok(row.some((cell) => cell.includes(note)), `${what}: ${b.head}: says ${note}`);
    });
  }
  const none = runCli(['diff', '--before', step2, '--after', step2, '-o', 'md']);
  t.equal(none.code, 0);
  t.equal(none.stdout, 'no connection changed\n', 'no change: said, not an empty table');
});

/** A new git repository in a temporary folder, and git run in it. */
function gitRepo(prefix: string): { repo: string; git: (...args: string[]) => string } {
  const repo = tmpDir(prefix);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@x', ...args], { cwd: repo, encoding: 'utf8' });
  git('init', '-q');
  return { repo, git };
}

t.test('--git REF:PATH compares the committed tree with the working tree', async (t) => {
  const { repo, git } = gitRepo('palisade-diff-git-');
  mkdirSync(join(repo, 'deploy'));
  writeFileSync(join(repo, 'deploy', 'cluster.yaml'), PODS + DENY);
  git('add', '-A');
  git('commit', '-qm', 'deny');
  writeFileSync(join(repo, 'deploy', 'cluster.yaml'), PODS + DENY + ALLOW);
  const r = runCliIn(repo, ['diff', '--git', 'HEAD:deploy']);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stdout, /^\+ shop\/backend => shop\/db : TCP 5432\n/);
  const bad = runCliIn(repo, ['diff', '--git', 'nope:deploy']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^palisade diff: --git nope:deploy: no commit nope in /);
  t.notOk(hasStackTrace(bad.stderr));
  // A PATH outside the repository (relative or absolute) is a mistake in the flag, not a crash.
  for (const outside of ['../elsewhere', tmpDir('palisade-diff-outside-')]) {
    const r = runCliIn(repo, ['diff', '--git', `HEAD:${outside}`]);
    t.equal(r.code, 2, outside);
    t.equal(r.stderr, `palisade diff: --git HEAD:${outside}: ${outside} is outside the repository ${realpathSync(repo)}\n`, outside);
  }
});

t.test('--git REF:PATH where PATH is new since REF: before is empty, said on stderr', async (t) => {
  // A pull request that adds its first policy folder must be comparable too.
  const { repo, git } = gitRepo('palisade-diff-git-new-');
  writeFileSync(join(repo, 'README'), 'x\n');
  git('add', '-A');
  git('commit', '-qm', 'empty');
  mkdirSync(join(repo, 'deploy'));
  writeFileSync(join(repo, 'deploy', 'cluster.yaml'), PODS + DENY + ALLOW);
  const r = runCliIn(repo, ['diff', '--git', 'HEAD:deploy']);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /deploy did not exist at HEAD: the before side is empty/);
  t.match(r.stdout, /^\+ shop\/backend => shop\/db : TCP 5432 \(new endpoint/m, 'every connection of the new folder is new');
  t.notOk(hasStackTrace(r.stderr));
  const typo = runCliIn(repo, ['diff', '--git', 'HEAD:deplyo']);
  t.equal(typo.code, 2, 'a PATH missing in the working tree too is a mistake, not an empty side');
  t.match(typo.stderr, /deplyo: no such path at HEAD nor in the working tree/);
});

t.test('--git REF:PATH where PATH is gone from the working tree: after is empty, said on stderr', async (t) => {
  // A pull request that deletes the policy folder opens everything it held closed: a gate must see it.
  const { repo, git } = gitRepo('palisade-diff-git-gone-');
  mkdirSync(join(repo, 'deploy'));
  writeFileSync(join(repo, 'deploy', 'cluster.yaml'), PODS + DENY);
  git('add', '-A');
  git('commit', '-qm', 'deny');
  git('rm', '-rq', 'deploy');
  const r = runCliIn(repo, ['diff', '--git', 'HEAD:deploy']);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /deploy is gone from the working tree: the after side is empty/);
  t.notMatch(r.stderr, /--after/, 'no flag the command line lacks is named');
  t.match(r.stdout, /^- shop\/backend => shop\/\S+ : all \(endpoint gone\)$/m, 'every connection of the folder is gone');
});

/** A fake API server holding the objects of `yaml`, and a kubeconfig for it. */
async function liveCluster(t: Test, yaml: string): Promise<string> {
  const server = await FakeApiServer.start({ token: 'diff-token' });
  for (const d of parseAllDocuments(yaml)) {
    const o = d.toJS() as RawObject | null;
    if (o) server.apply(o);
  }
  const dir = tmpDir('palisade-diff-kube-');
  const kubeconfig = server.writeKubeconfig(join(dir, 'kubeconfig'));
  t.teardown(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return kubeconfig;
}

t.test('--kubeconfig: the live cluster is the after side, answering as its manifests do', async (t) => {
  const kubeconfig = await liveCluster(t, PODS + DENY + ALLOW);
  const files = runCli(['diff', '--before', step1, '--after', step2]);
  for (const args of [['--kubeconfig', kubeconfig], ['--after', '--kubeconfig', kubeconfig], [`--after`, `--kubeconfig=${kubeconfig}`]]) {
    const r = await runCliAsync(['diff', '--before', step1, ...args]);
    t.notOk(hasStackTrace(r.stderr));
    t.equal(r.code, 1, `${args.join(' ')}: exit 1, something changed (${r.stderr})`);
    t.equal(r.stdout, files.stdout, `${args.join(' ')}: the same changes as from the manifests`);
  }
  t.match(files.stdout, /^\+ shop\/backend => shop\/db : TCP 5432\n/);
  const same = await runCliAsync(['diff', '--before', step2, '--after', '--kubeconfig', kubeconfig]);
  t.equal(same.code, 0, `nothing changed: exit 0 (${same.stderr})`);
  t.equal(same.stdout, 'no connection changed\n');
  // Before = the default-deny alone: the cluster closes everything into db but backend TCP 5432.
  const two = await runCliAsync(['diff', '--before', step0, '--kubeconfig', kubeconfig, '-o', 'json']);
  t.equal(two.code, 1);
  t.same((JSON.parse(two.stdout) as { kind: string; from: string; to: string }[]).map((c) => `${c.kind} ${c.from} ${c.to}`),
    (JSON.parse(runCli(['diff', '--before', step0, '--after', step2, '-o', 'json']).stdout) as { kind: string; from: string; to: string }[]).map((c) => `${c.kind} ${c.from} ${c.to}`));
});

t.test('--git REF:PATH with --kubeconfig: the commit against the cluster', async (t) => {
  const kubeconfig = await liveCluster(t, PODS + DENY + ALLOW);
  const { repo, git } = gitRepo('palisade-diff-git-kube-');
  mkdirSync(join(repo, 'deploy'));
  writeFileSync(join(repo, 'deploy', 'cluster.yaml'), PODS + DENY);
  git('add', '-A');
  git('commit', '-qm', 'deny');
  // The working tree says "no change"; the cluster has the allow, and it is the after side.
  const r = await runCliAsync(['diff', '--git', 'HEAD:deploy', '--kubeconfig', kubeconfig], { cwd: repo });
  t.equal(r.code, 1, r.stderr);
  t.equal(r.stdout.split('\n')[0], '+ shop/backend => shop/db : TCP 5432');
  writeFileSync(join(repo, 'deploy', 'cluster.yaml'), PODS + DENY + ALLOW);
  git('commit', '-qam', 'allow');
  const none = await runCliAsync(['diff', '--git', 'HEAD:deploy', '--kubeconfig', kubeconfig], { cwd: repo });
  t.equal(none.code, 0, none.stderr);
  t.equal(none.stdout, 'no connection changed\n');
});

t.test('conflicting or missing inputs: one line naming the flags, exit 2', async (t) => {
  const kubeconfig = await liveCluster(t, PODS);
  const cases: [string[], RegExp][] = [
    [['--before', step0, '--after', step1, '--kubeconfig', kubeconfig], /^palisade diff: --after PATH\.\.\. and --kubeconfig are two after inputs: give one\n$/],
    [['--before', step0, '--context', 'fake'], /^palisade diff: --context needs --kubeconfig\n$/],
    [['--before', step0], /^palisade diff: --after PATH\.\.\. \(or --kubeconfig FILE for the live cluster\) is required\n$/],
    [['--kubeconfig', kubeconfig], /^palisade diff: --before PATH\.\.\. \(or --git REF\[:PATH\]\) is required\n$/],
    [['--before', step0, '--kubeconfig', kubeconfig, '--context', 'prod'], /^palisade diff: --kubeconfig: kubeconfig .*: no context "prod" \(it has: [^)]*\)\n$/],
  ];
  for (const [args, err] of cases) {
    const r = await runCliAsync(['diff', ...args]);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, err, args.join(' '));
    t.notOk(hasStackTrace(r.stderr));
  }
});

t.test('a --before or --after path that does not exist: one line naming that flag, before anything is read', async (t) => {
  // The before side's folder has a pod with no Namespace object: reading it would print a note.
  const noted = folder(pod('db', 'db', '10.0.0.4'));
  const nope = join(tmpDir('palisade-diff-nope-'), 'nope');
  const cases: [string[], string][] = [
    [['--before', nope, '--after', step1], '--before'],
    [['--before', noted, '--after', nope], '--after'],
    [['--before', noted, '--after', step1, nope], '--after'],
  ];
  for (const [args, flag] of cases) {
    const r = runCli(['diff', ...args]);
    t.equal(r.code, 2, args.join(' '));
    t.equal(r.stderr, `palisade diff: ${flag} ${nope}: no such file or directory\n`, args.join(' '));
    t.equal(r.stdout, '');
  }
});

import { spawnSync } from 'node:child_process';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
function runCliIn(cwd: string, args: string[]) {
  const bin = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'palisade.js');
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
