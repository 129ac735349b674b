// The README's kind steps and scripts/kind-e2e.sh do the same thing: load the image the
// DaemonSet names, and switch kind's own NetworkPolicy enforcement off with the one shared script
// (docker and kind cannot run here, so the scripts are checked with bash -n and read).

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
