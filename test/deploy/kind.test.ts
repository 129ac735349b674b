// The README's kind steps and scripts/kind-e2e.sh do the same thing: load the image the
// DaemonSet names, and switch kind's own NetworkPolicy enforcement off with the one shared script
// (docker and kind cannot run here, so the scripts are checked with bash -n and read, and
// kind-netpol-off.sh is run against stand-in tools).

import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const image: string = (parseAllDocuments(read('daemonset.yaml')).map((d) => d.toJS()) as any[])
  .find((o) => o?.kind === 'DaemonSet').spec.template.spec.containers[0].image;

/** The shell blocks of the README's "Deploying to a cluster" section. */
function deployBlocks(): string[] {
  const readme = read('README.md');
  const start = readme.indexOf('## Deploying to a cluster');
  const end = readme.indexOf('\n## ', start + 1);
  if (start < 0) throw new Error('README.md: no "## Deploying to a cluster" section');
  return [...readme.slice(start, end < 0 ? undefined : end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

t.test('scripts/kind-netpol-off.sh: valid bash, executable, all three of kindnet\'s enforcers', async (t) => {
  const script = join(ROOT, 'scripts', 'kind-netpol-off.sh');
  t.doesNotThrow(() => execFileSync('bash', ['-n', script]));
  t.ok((statSync(script).mode & 0o111) !== 0, 'executable');
  const body = readFileSync(script, 'utf8');
  t.match(body, /set -euo pipefail/);
  t.match(body, /delete daemonset kube-network-policies/, 'the separate DaemonSet (kind v0.24)');
  t.match(body, /--network-policy=false/, 'kindnetd\'s built-in enforcer');
  t.match(body, /nft delete table/, 'their nftables tables');
});

t.test('kind-e2e.sh runs the shared script rather than a copy of it', async (t) => {
  const body = read('scripts/kind-e2e.sh');
  t.match(body, /"\$ROOT\/scripts\/kind-netpol-off\.sh" "\$CLUSTER"/);
  t.notMatch(body, /--network-policy=false/, 'no second copy of the flag rewrite');
  t.match(body, /kind load docker-image "\$IMAGE"/);
  t.match(body, new RegExp(`IMAGE=\\$\\{IMAGE:-${image.replace(/[.]/g, '\\.')}\\}`), 'the script\'s default image is the DaemonSet\'s');
});

t.test('the README\'s kind block: load the DaemonSet\'s image, switch kindnet\'s policy off, then apply', async (t) => {
  const kind = deployBlocks().find((b) => /kind load docker-image/.test(b));
  t.ok(kind, 'a block with kind load docker-image');
  const lines = kind!.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const build = lines.map((l) => /^docker build -t (\S+) \.$/.exec(l)).find((m) => m);
  t.equal(build?.[1], image, 'builds the DaemonSet\'s image');
  t.match(lines[at(/kind load/)], new RegExp(`^kind load docker-image ${image.replace(/[.]/g, '\\.')} --name CLUSTER$`));
  const off = at(/^scripts\/kind-netpol-off\.sh CLUSTER$/);
  t.ok(off >= 0, 'runs scripts/kind-netpol-off.sh');
  t.ok(existsSync(join(ROOT, 'scripts', 'kind-netpol-off.sh')), 'which exists');
  t.ok(off < at(/^kubectl apply -f daemonset\.yaml$/), 'before the DaemonSet is applied');
});

t.test('the README no longer asks for --iptables legacy by hand', async (t) => {
  t.notMatch(read('README.md'), /add `--iptables legacy`/);
});

// kubectl, kind and docker cannot run here, so the script runs against stand-ins on PATH that
// play a kind cluster from environment variables and log every call: what it changes, and that
// a second run (kindnet's flag already off, nothing left) changes nothing.
t.test('scripts/kind-netpol-off.sh against stand-in kubectl, kind and docker', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'kind-netpol-off-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls.log');
  const tool = (name: string, body: string) => writeFileSync(join(dir, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${log}"\n${body}\n`, { mode: 0o755 });
  tool('kubectl', [
    'case "$*" in',
    '  *"get daemonset kube-network-policies"*) [ -n "$FAKE_KNP" ] ;;',
    '  *"get daemonset kindnet"*"command} {"*) [ -n "$FAKE_KINDNET" ] || exit 1; printf \'%s %s\' "$FAKE_CMD" "$FAKE_ARGS" ;;',
    '  *"get daemonset kindnet"*"command}"*) printf \'%s\' "$FAKE_CMD" ;;',
    '  *"get daemonset kindnet"*"args}"*) printf \'%s\' "$FAKE_ARGS" ;;',
    // kindnet's ClusterRole, one line per rule: the resources it names, as kubectl prints them.
    '  *"get clusterrole kindnet"*) [ -n "$FAKE_ROLE" ] || exit 1; printf \'%s\\n\' "$FAKE_ROLE" ;;',
    'esac',
  ].join('\n'));
  tool('kind', 'echo kind-control-plane');
  tool('docker', 'case "$*" in *"nft list tables"*) printf \'%s\\n\' "$FAKE_TABLES" ;; esac');
  const run = (env: Record<string, string>): string[] => {
    writeFileSync(log, '');
    execFileSync('bash', [join(ROOT, 'scripts', 'kind-netpol-off.sh'), 'c1'], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, ...env }, stdio: 'pipe' });
    return readFileSync(log, 'utf8').split('\n').filter((l) => /^(kubectl (delete|patch|-n kube-system (delete|patch|rollout))|docker exec \S+ nft delete)/.test(l) || / (delete|patch|rollout) /.test(l));
  };
  const cases: { name: string; env: Record<string, string>; want: RegExp[] }[] = [
    {
      name: 'kind v0.24: the separate DaemonSet and its table',
      env: { FAKE_KNP: '1', FAKE_KINDNET: '1', FAKE_CMD: '["/bin/kindnetd"]', FAKE_ARGS: '', FAKE_TABLES: 'table inet kube-network-policies' },
      want: [/delete daemonset kube-network-policies/, /nft delete table inet kube-network-policies/],
    },
    {
      name: 'the flag on in args',
      env: { FAKE_KINDNET: '1', FAKE_CMD: '["/bin/kindnetd"]', FAKE_ARGS: '["--hostname-override=x","--network-policy=true"]', FAKE_TABLES: '' },
      want: [/patch daemonset kindnet .*\/args","value":\["--hostname-override=x","--network-policy=false"\]/, /rollout status daemonset kindnet/],
    },
    {
      name: 'the bare flag in command',
      env: { FAKE_KINDNET: '1', FAKE_CMD: '["/bin/kindnetd","--network-policy"]', FAKE_ARGS: '', FAKE_TABLES: '' },
      want: [/patch daemonset kindnet .*\/command","value":\["\/bin\/kindnetd","--network-policy=false"\]/, /rollout status daemonset kindnet/],
    },
    {
      // kind's own kindnetd since v0.25: kube-network-policies compiled in, always on, no flag.
      // Deleting its table alone does not last (its next sync puts it back).
      name: 'kind >= v0.25: the enforcer built into kindnetd, no flag',
      env: { FAKE_KINDNET: '1', FAKE_CMD: '["/bin/kindnetd"]', FAKE_ARGS: '', FAKE_ROLE: ['["nodes","pods","namespaces"]', '["networkpolicies"]'].join('\n'), FAKE_TABLES: 'table inet kindnet-network-policies' },
      want: [
        /patch clusterrole kindnet --type json -p \[\{"op":"test","path":"\/rules\/1\/resources","value":\["networkpolicies"\]\},\{"op":"remove","path":"\/rules\/1"\}\]$/,
        /rollout restart daemonset kindnet/,
        /rollout status daemonset kindnet/,
        /nft delete table inet kindnet-network-policies/,
      ],
    },
    {
      name: 'networkpolicies granted beside other resources: only it is taken away',
      env: { FAKE_KINDNET: '1', FAKE_CMD: '["/bin/kindnetd"]', FAKE_ARGS: '', FAKE_ROLE: ['["nodes"]', '["pods","networkpolicies","namespaces"]'].join('\n'), FAKE_TABLES: '' },
      want: [
        /patch clusterrole kindnet --type json -p \[\{"op":"test","path":"\/rules\/1\/resources","value":\["pods","networkpolicies","namespaces"\]\},\{"op":"replace","path":"\/rules\/1\/resources","value":\["pods","namespaces"\]\}\]$/,
        /rollout restart daemonset kindnet/,
        /rollout status daemonset kindnet/,
      ],
    },
    {
      name: 'second run on kind >= v0.25: the grant is gone, nothing to do',
      env: { FAKE_KINDNET: '1', FAKE_CMD: '["/bin/kindnetd"]', FAKE_ARGS: '', FAKE_ROLE: ['["nodes","pods","namespaces"]'].join('\n'), FAKE_TABLES: '' },
      want: [],
    },
    { name: 'already off: nothing to do', env: { FAKE_KINDNET: '1', FAKE_CMD: '["/bin/kindnetd","--network-policy=false"]', FAKE_ARGS: '', FAKE_TABLES: '' }, want: [] },
    { name: 'no kindnet at all (another CNI)', env: { FAKE_TABLES: '' }, want: [] },
  ];
  for (const c of cases) {
    const changes = run(c.env);
    t.equal(changes.length, c.want.length, `${c.name}: ${changes.length} changes (${changes.join(' | ')})`);
    for (const [i, re] of c.want.entries()) t.match(changes[i] ?? '', re, `${c.name}: change ${i}`);
  }
});
