// scripts/kind-e2e.sh run from end to end against stand-ins on PATH (docker, kind, kubectl, curl,
// tar, uname, sleep): kind and a cluster cannot run here, so the stand-ins log every call and kubectl
// plays the demo's connectivity, open until Palisade's DaemonSet is applied and then as the
// scenario's policies and labels say. What is checked is what the script does around them: which
// cluster it creates and deletes, which folder it removes, how it loads the image, which e2e
// binaries it downloads, what it shows when the agents fail, and how it judges a check.

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

// The demo's connectivity: FROM -> TO is open when Palisade is not installed, when no
// default-deny is in force, or when one of the scenario's allow policies admits it.
const KUBECTL = `
state=$FAKE_STATE
args="$*"
case $args in
  *" exec "*"/agnhost connect "*)
    # FAKE_FLIP=N: the Nth connection of the run gets the other answer (a one-off flap).
    n=$(( $(cat "$state/connects" 2>/dev/null || echo 0) + 1 )); echo $n > "$state/connects"
    if [ "$n" = "\${FAKE_FLIP:-0}" ]; then flip=1; else flip=0; fi
    set -- $args; shift 5; from=$1; to=\${5%%.*}
    answer() { if [ $flip = 1 ]; then exit $((1 - $1)); else exit $1; fi; }
    [ -e "$state/palisade" ] && [ -e "$state/np-default-deny-ingress" ] || answer 0
    label=$(cat "$state/label-frontend" 2>/dev/null || echo frontend)
    [ "$to" = backend ] && [ -e "$state/np-backend-from-frontend" ] && [ "$from" = frontend ] && [ "$label" = frontend ] && answer 0
    [ "$to" = db ] && [ -e "$state/np-db-from-backend" ] && [ "$from" = backend ] && answer 0
    answer 1 ;;
  *" apply -f -"*)
    input=$(cat)
    case $input in *"kind: DaemonSet"*) touch "$state/palisade" ;; esac
    case $input in *"kind: NetworkPolicy"*)
      for name in $(printf '%s\\n' "$input" | sed -n 's/^metadata: {name: \\([a-z-]*\\)}$/\\1/p'); do touch "$state/np-$name"; done ;;
    esac ;;
  *" delete networkpolicy --all"*) rm -f "$state"/np-* ;;
  *" delete networkpolicy "*) set -- $args; rm -f "$state/np-\${!#}" ;;
  *" label pod frontend app="*) set -- $args; for w in "$@"; do case $w in app=*) echo "\${w#app=}" > "$state/label-frontend" ;; esac; done ;;
  *"get --raw /version"*) printf '{\\n  "major": "1",\\n  "gitVersion": "v1.35.0",\\n  "platform": "linux/amd64"\\n}\\n' ;;
  *"rollout status daemonset palisade"*) [ -z "$FAKE_AGENT_FAILS" ] || { echo "error: timed out waiting for the condition" >&2; exit 1; } ;;
  *" logs "*) [ -z "$FAKE_AGENT_FAILS" ] || echo "[pod/palisade-x7k2p/agent] $FAKE_AGENT_FAILS" ;;
  *"get daemonset kube-network-policies"*|*"get clusterrole"*) exit 1 ;;
  *"get daemonset kindnet"*) printf '["/bin/kindnetd"] ' ;;
esac
exit 0`;

const KIND = `
case "$*" in
  "get clusters") if [ -n "$FAKE_CLUSTERS" ]; then printf '%s\\n' $FAKE_CLUSTERS; else echo "No kind clusters found." >&2; fi ;;
  "get nodes"*) echo "$FAKE_CLUSTER_NAME-control-plane" ;;
  "load docker-image"*)
    # Docker's containerd image store (the default from Docker 29): kind's docker save | ctr import.
    [ -z "$FAKE_CONTAINERD_STORE" ] || { echo "ERROR: failed to load image: command \"docker exec --privileged -i $FAKE_CLUSTER_NAME-control-plane ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -\" failed with error: exit status 1" >&2; echo "Command Output: ctr: content digest sha256:82014a3c: not found" >&2; exit 1; } ;;
  "load image-archive "*) set -- $*; [ -s "$3" ] || exit 1 ;;
  "create cluster"*)
    for c in $FAKE_CLUSTERS; do
      [ "$c" = "$FAKE_CLUSTER_NAME" ] && { echo "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \\"$c\\"" >&2; exit 1; }
    done ;;
esac
exit 0`;

// The archive "holds" the two binaries the script runs: tar writes stand-ins that log their calls.
const TAR = `
while [ $# -gt 0 ]; do case $1 in -C) dir=$2; shift ;; esac; shift; done
cat > /dev/null
mkdir -p "$dir/kubernetes/test/bin"
for b in ginkgo e2e.test; do
  printf '#!/usr/bin/env bash\\necho "%s $*" >> "%s"\\n' "$b" "$FAKE_LOG" > "$dir/kubernetes/test/bin/$b"
  chmod +x "$dir/kubernetes/test/bin/$b"
done`;

interface Run {
  readonly status: number | null;
  readonly output: string;
  readonly calls: string[];
}

function sandbox(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'kind-e2e-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const log = join(dir, 'calls.log');
  const tool = (name: string, body: string) =>
    writeFileSync(join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${log}"\n${body}\n`, { mode: 0o755 });
  tool('docker', [
    'case "$*" in',
    '  "image inspect -f {{.Os}}/{{.Architecture}} "*) echo "linux/$FAKE_IMAGE_ARCH" ;;',
    '  "image save --platform "*" -o "*) set -- $*; echo archive > "$6" ;;',
    'esac',
  ].join('\n'));
  tool('kind', KIND);
  tool('kubectl', KUBECTL);
  tool('curl', 'exit 0');
  tool('tar', TAR);
  // The script's waits (the self-check's settle time, the retries) cost nothing here.
  tool('sleep', 'exit 0');
  tool('uname', 'case "$1" in -s) echo "$FAKE_OS" ;; -m) echo "$FAKE_ARCH" ;; *) echo "$FAKE_OS" ;; esac');
  let n = 0;
  const run = (env: Record<string, string>): Run => {
    const state = join(dir, `state-${n++}`);
    mkdirSync(state);
    writeFileSync(log, '');
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'kind-e2e.sh')], {
      encoding: 'utf8',
      env: {
        ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_STATE: state, FAKE_LOG: log,
        FAKE_OS: 'Linux', FAKE_ARCH: 'x86_64', FAKE_IMAGE_ARCH: 'amd64', FAKE_CONTAINERD_STORE: '', FAKE_AGENT_FAILS: '', FAKE_FLIP: '', FAKE_CLUSTERS: '', CLUSTER: 'c1', FAKE_CLUSTER_NAME: 'c1', ...env,
      },
      timeout: 120_000,
    });
    return { status: r.status, output: r.stdout + r.stderr, calls: readFileSync(log, 'utf8').trim().split('\n') };
  };
  return { dir, run };
}

t.test('the whole run: the scenario passes and the cluster it created is deleted', async (t) => {
  const { run } = sandbox(t);
  const r = run({});
  t.equal(r.status, 0, r.output.slice(-1500));
  t.match(r.output, /all checks passed/);
  t.ok(r.calls.some((c) => /^kind create cluster --name c1 /.test(c)), 'creates the cluster');
  t.equal(r.calls.filter((c) => /^kind delete cluster --name c1$/.test(c)).length, 1, 'and deletes it at the end');
  t.ok(r.calls.some((c) => /^ginkgo .*--ginkgo\.focus=Netpol/.test(c)), 'runs the upstream suite');
});

// The e2e binaries are run on this machine, so they must be built for its OS and CPU
// (dl.k8s.io publishes kubernetes-test-{linux,darwin}-{amd64,arm64}).
t.test('the e2e binaries are the ones for the machine the script runs on', async (t) => {
  const { run } = sandbox(t);
  for (const [os, arch, want] of [
    ['Linux', 'x86_64', 'kubernetes-test-linux-amd64.tar.gz'],
    ['Linux', 'aarch64', 'kubernetes-test-linux-arm64.tar.gz'],
    ['Darwin', 'arm64', 'kubernetes-test-darwin-arm64.tar.gz'],
    ['Darwin', 'x86_64', 'kubernetes-test-darwin-amd64.tar.gz'],
  ] as const) {
    const r = run({ FAKE_OS: os, FAKE_ARCH: arch });
    t.equal(r.status, 0, `${os}/${arch}: ${r.output.slice(-800)}`);
    const url = r.calls.find((c) => c.startsWith('curl '));
    t.match(url ?? '', new RegExp(`https://dl\\.k8s\\.io/release/v1\\.35\\.0/${want.replace(/[.]/g, '\\.')}$`), `${os}/${arch}: ${url}`);
  }
});

// kind load docker-image pipes docker save into ctr import; with Docker's containerd image store
// that fails with "content digest ... not found" (kubernetes-sigs/kind#3795), and a
// single-platform archive (docker image save --platform, kind load image-archive) loads instead.
t.test('the image is loaded with Docker\'s containerd image store too', async (t) => {
  const { run } = sandbox(t);
  for (const arch of ['amd64', 'arm64']) {
    const r = run({ FAKE_CONTAINERD_STORE: '1', FAKE_IMAGE_ARCH: arch, E2E: '0' });
    t.equal(r.status, 0, `${arch}: ${r.output.slice(-800)}`);
    const save = r.calls.find((c) => c.startsWith('docker image save'));
    t.match(save ?? '', new RegExp(`^docker image save --platform linux/${arch} -o (\\S+) palisade:0\\.1\\.0$`), `${arch}: a single-platform archive`);
    const archive = save?.split(' ')[6];
    t.ok(r.calls.includes(`kind load image-archive ${archive} --name c1`), `${arch}: loaded into the cluster`);
    const loaded = r.calls.indexOf(`kind load image-archive ${archive} --name c1`);
    const applied = r.calls.findIndex((c) => c.startsWith('kubectl') && c.endsWith(' apply -f -') && !c.includes(' -n palisade-demo '));
    t.ok(loaded >= 0 && loaded < applied, `${arch}: before daemonset.yaml is applied (${loaded} < ${applied})`);
  }
  const plain = run({ E2E: '0' });
  t.notOk(plain.calls.some((c) => c.startsWith('docker image save')), 'the classic store: kind load docker-image alone');
});

// An agent that cannot start says why in its log (a missing kernel module and the modprobe to
// run, for one); the cluster is deleted on the way out, so the run must show that line first.
t.test('agents that never become Ready: their log is shown before the cluster goes', async (t) => {
  const { run } = sandbox(t);
  const why = 'fatal: the kernel lacks the iptables extension NFQUEUE (kernel modules xt_NFQUEUE, nfnetlink_queue); load them on the node';
  const r = run({ FAKE_AGENT_FAILS: why, E2E: '0' });
  t.not(r.status, 0, 'the run fails');
  t.ok(r.output.includes(why), `the agent's own line is in the output: ${r.output.slice(-600)}`);
  t.match(r.output, /kind-e2e: .*palisade.*not Ready/i, 'and the script says what failed');
  const logs = r.calls.findIndex((c) => c.startsWith('kubectl') && c.includes(' logs ') && c.includes('app.kubernetes.io/name=palisade'));
  const deleted = r.calls.findIndex((c) => c.startsWith('kind delete cluster'));
  t.ok(logs >= 0 && logs < deleted, `logs read (${logs}) before the cluster is deleted (${deleted})`);
  const rollout = r.calls.findIndex((c) => c.includes('rollout status daemonset palisade'));
  t.ok(rollout >= 0 && !r.calls.slice(rollout).some((c) => c.includes(' exec ')), 'no scenario after the failed rollout');
});

// A check passes on the answer it judged: one probe that passes is the result, and a later
// one-off flap (a probe that times out once while a policy change settles) is retried like any
// other wrong answer. Connection 3 is the first probe after the self-check's and the first
// check's own.
t.test('each connectivity check is judged on one probe; a one-off flap is retried, not fatal', async (t) => {
  const { run } = sandbox(t);
  for (const flip of ['3', '4', '9']) {
    const r = run({ FAKE_FLIP: flip, E2E: '0' });
    t.equal(r.status, 0, `connection ${flip} flapped: ${r.output.slice(-700)}`);
    t.match(r.output, /all checks passed/, `connection ${flip} flapped: the run ends`);
  }
});

t.test('a cluster of the same name that was there before is never deleted', async (t) => {
  const { run } = sandbox(t);
  for (const keep of ['0', '1']) {
    const r = run({ FAKE_CLUSTERS: 'kind c1', KEEP: keep });
    t.not(r.status, 0, `KEEP=${keep}: the run stops`);
    t.match(r.output, /c1.*already exists/, `KEEP=${keep}: and says why, naming the cluster`);
    t.notOk(r.calls.some((c) => /^kind delete cluster/.test(c)), `KEEP=${keep}: no kind delete cluster (${r.calls.filter((c) => c.startsWith('kind ')).join(' | ')})`);
  }
});

t.test('a WORKDIR the user gives is used and left in place; the script\'s own temp dir is removed', async (t) => {
  const { dir, run } = sandbox(t);
  const mine = join(dir, 'my-workdir');
  mkdirSync(mine);
  writeFileSync(join(mine, 'notes.txt'), 'mine\n');
  const r = run({ WORKDIR: mine, E2E: '0' });
  t.equal(r.status, 0, r.output.slice(-800));
  t.ok(existsSync(join(mine, 'notes.txt')), 'the user\'s folder and its files are still there');
  t.ok(r.calls.some((c) => c.includes(`--kubeconfig ${join(mine, 'kubeconfig')}`)), 'the kubeconfig went into it');
  const own = /--config (\S+)\/kind\.yaml/.exec(r.calls.find((c) => c.startsWith('kind create')) ?? '')?.[1];
  const r2 = run({ E2E: '0' });
  t.equal(r2.status, 0);
  const own2 = /--config (\S+)\/kind\.yaml/.exec(r2.calls.find((c) => c.startsWith('kind create')) ?? '')?.[1];
  t.equal(own, mine);
  t.ok(own2 && own2 !== mine && !existsSync(own2), `the temp dir the script made (${own2}) is removed`);
});
