// `palisade demo` end to end (root): builds its lab, runs the agent, shows the real matrix
// before and after the policies with every cell agreeing with the spec, over IPv4 and IPv6, and
// tears the lab down.
// Also: missing prerequisites are named with how to install them (exit 3), an agent that
// cannot start is one line and exit 1, the lab torn down, and so is a demo interrupted by Ctrl-C.

import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labNetnsPrefix, listNetns } from '../../src/lab/netns.ts';
import { labDown } from '../../src/lab/topology.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'palisade.js');
const LAB = 'lt-demo';

function which(tool: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The matrix printed after "act N", as rows of marks. */
function matrixOf(stdout: string, act: number): Map<string, string[]> {
  const from = stdout.indexOf(`act ${act}:`);
  const block = stdout.slice(from, stdout.indexOf('\nwhy', from));
  const rows = new Map<string, string[]>();
  for (const line of block.split('\n')) {
    const m = /^ {2}(\S+)\s+(.*)$/.exec(line);
    if (m && m[1] !== 'FROM') rows.set(m[1]!, m[2]!.trim().split(/\s{2,}/));
  }
  return rows;
}

/** The "why" block printed after "act N". */
function whyOf(stdout: string, act: number): string {
  const from = stdout.indexOf('\nwhy', stdout.indexOf(`act ${act}:`));
  const end = stdout.indexOf(`act ${act + 1}:`, from);
  return stdout.slice(from, end < 0 ? undefined : end);
}

if (process.getuid?.() !== 0) {
  t.test('demo', { skip: 'needs root' }, async () => {});
} else {
  t.teardown(async () => {
    await labDown(LAB);
  });

  t.test('demo: real matrix before and after the policies, explained, lab torn down', async (t) => {
    const r = spawnSync(process.execPath, [BIN, 'demo', '--name', LAB], { encoding: 'utf8', cwd: ROOT, timeout: 300_000 });
    t.equal(r.status, 0, `exit 0 (${r.stderr})`);
    t.match(r.stdout, /every real probe agreed with the spec/);
    t.notMatch(r.stdout, /!! (spec:|MISMATCH)/, 'no cell disagrees with the spec');
    const cols = ['frontend/web TCP/80', 'backend/api TCP/8080', 'db/postgres TCP/5432', 'kube-system/coredns UDP/53', 'kube-system/coredns TCP/53'];
    t.match(r.stdout, new RegExp(`FROM \\\\ TO\\s+${cols.map((c) => c.replace('/', '\\/')).join('\\s+')}`));
    const before = matrixOf(r.stdout, 1);
    t.same([...before.values()].flat().filter((m) => m !== '.'), [], 'act 1: everything answers');
    t.equal(before.size, 5, 'four pods and the node as clients');
    const after = matrixOf(r.stdout, 2);
    t.same(Object.fromEntries(after), {
      'frontend/web': ['.', '.', 'X', '.', '.'],
      'backend/api': ['X', '.', '.', '.', '.'],
      'db/postgres': ['X', 'X', '.', '.', '.'],
      'kube-system/coredns': ['X', 'X', 'X', '.', '.'],
      node: ['.', '.', '.', '.', '.'],
    }, 'act 2: web -> api:8080 -> postgres:5432 and DNS; nothing else; the node reaches everyone');
    t.match(r.stdout, /frontend\/web -> backend\/api TCP\/8080: real allowed \(answered, \d+ ms\), spec allowed\n\s+egress of frontend\/web: allowed by frontend\/web-to-api egress\[0\]\n\s+ingress of backend\/api: allowed by backend\/api-from-web ingress\[0\]/);
    t.match(r.stdout, /frontend\/web -> db\/postgres TCP\/5432: real DENIED \(timeout, \d+ ms\), spec DENIED\n\s+egress of frontend\/web: denied: isolated by frontend\/allow-dns, frontend\/default-deny, frontend\/web-to-api, no rule allows/);
    // Connections with the same outcome and reasons share one entry.
    t.match(r.stdout, /db\/postgres -> kube-system\/coredns UDP\/53, db\/postgres -> kube-system\/coredns TCP\/53: real allowed, spec allowed \(2 connections\)\n\s+egress of db\/postgres: allowed by db\/allow-dns egress\[0\]/);
    const act1 = whyOf(r.stdout, 1);
    t.equal(act1.match(/real allowed, spec allowed \(15 connections\)\n\s+egress of the client, ingress of the server: allowed: not isolated\n/g)?.length, 1, 'act 1: the pod pairs are one entry');
    t.equal(act1.match(/allowed: a pod to itself/g)?.length, 1, 'act 1: the self connections are one entry');
    t.equal(act1.split('\n').filter((l) => / {6}\S/.test(l)).length, 4, 'act 1: four reason lines in all (the node\'s connections: one per side)');
    // Act 3: cluster policies around the namespaces' own NetworkPolicies.
    t.same(Object.fromEntries(matrixOf(r.stdout, 3)), {
      'frontend/web': ['.', '.', 'X', '.', '.'],
      'backend/api': ['X', '.', '.', '.', '.'],
      'db/postgres': ['X', 'X', '.', '.', '.'],
      'kube-system/coredns': ['X', 'X', 'X', '.', '.'],
      node: ['.', '.', '.', '.', '.'],
    }, 'act 3: only backend reaches db (Admin); the Baseline closes frontend, backend and db override it; kube-system is not its subject');
    t.match(r.stdout, /backend\/api -> frontend\/web TCP\/80: real DENIED \(timeout, \d+ ms\), spec DENIED\n.*\n\s+ingress of frontend\/web: denied by baseline\/default-deny-ingress\/deny-all/);
    t.match(r.stdout, /frontend\/web -> db\/postgres TCP\/5432: real DENIED \(timeout, \d+ ms\), spec DENIED\n\s+egress of frontend\/web: allowed: not isolated\n\s+ingress of db\/postgres: denied by admin\/protect-db\/nobody-else/);
    t.match(r.stdout, /backend\/api -> db\/postgres TCP\/5432: real allowed .*\n.*\n\s+ingress of db\/postgres: allowed by db\/allow-all ingress\[0\]/);
    // The Baseline default-deny selects frontend, yet the node reaches it: the why says which rule did not match and why.
    t.match(whyOf(r.stdout, 3), /node -> frontend\/web TCP\/80: real allowed \(answered, \d+ ms\), spec allowed\n\s+egress of the node: allowed: not a pod \(no policy applies\)\n\s+ingress of frontend\/web: allowed: not isolated \(Admin: no policy selects the pod -> NetworkPolicy: not isolated -> Baseline: no rule matched -> default: allowed\)\n\s+baseline\/default-deny-ingress\/deny-all: from\[0\] namespaces <all>: 10\.0\.0\.1 is not a pod; namespaces and pods peers select pods only \(never nodes or host-network pods\)\n/);
    // The pods and the node are dual-stack: every connection is made over IPv6 as well.
    t.match(r.stdout, /node demo-node \(10\.0\.0\.1, fd00:10::1\)/, 'the node has an address of each family');
    t.match(r.stdout, /pod frontend\/web\s+10\.244\.1\.10\s+fd00:10:244:1::10\s+serves TCP\/80/, 'so do the pods');
    t.equal(r.stdout.match(/^IPv6: the same 25 connections between the IPv6 addresses: 25 of 25 as the spec says, every one with its IPv4 outcome$/gm)?.length, 3, 'each act: all 25 connections over IPv6 as the spec says, as over IPv4');
    t.match(r.stdout, /lab "lt-demo" torn down/);
    t.same((await listNetns()).filter((n) => n.startsWith(labNetnsPrefix(LAB))), [], 'no namespace left');
  });

  t.test('demo: an agent that cannot start is one error line, exit 1, lab torn down', async (t) => {
    // A real way for the start to fail: the agent's log path is taken by a directory in the
    // lab's state folder (labUp keeps a folder it finds, startLabAgent cannot open the log).
    const name = 'lt-dfail';
    const stateRoot = mkdtempSync(join(tmpdir(), 'palisade-demo-state-'));
    mkdirSync(join(stateRoot, name, 'log', 'agent.log'), { recursive: true });
    t.teardown(async () => {
      await labDown(name);
      rmSync(stateRoot, { recursive: true, force: true });
    });
    const r = spawnSync(process.execPath, [BIN, 'demo', '--name', name], {
      encoding: 'utf8', cwd: ROOT, timeout: 120_000, env: { ...process.env, PALISADE_LAB_STATE_DIR: stateRoot },
    });
    t.equal(r.status, 1, `exit 1 (${r.stderr})`);
    t.match(r.stderr, /^palisade demo: the agent did not start in lab "lt-dfail": .*EISDIR/);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
    t.match(r.stdout, /lab "lt-dfail" torn down/);
    t.same((await listNetns()).filter((n) => n.startsWith(labNetnsPrefix(name))), [], 'no namespace left');
  });

  t.test('demo: Ctrl-C mid-demo tears the lab down (namespaces and agent), exit 130', async (t) => {
    const name = 'lt-dint';
    t.teardown(async () => { await labDown(name); });
    // A child of node gets SIGINT's default action back (a background job of a shell ignores it).
    const p = spawn(process.execPath, [BIN, 'demo', '--name', name], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<number | null>((done) => p.on('close', done));
    // Interrupted while the agent runs and act 1's probes are under way.
    const started = Date.now();
    while (!stdout.includes('act 1:') && Date.now() - started < 120_000 && p.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    t.ok((await listNetns()).some((n) => n.startsWith(labNetnsPrefix(name))), 'the lab was up');
    p.kill('SIGINT');
    t.equal(await closed, 130, 'exit 130');
    t.match(stderr, new RegExp(`palisade demo: SIGINT: tearing lab "${name}" down`));
    t.same((await listNetns()).filter((n) => n.startsWith(labNetnsPrefix(name))), [], 'no namespace left');
    const agents = spawnSync('pgrep', ['-f', `palisade-lab/${name}/`], { encoding: 'utf8' });
    t.equal(agents.stdout.trim(), '', 'no agent of the lab left running');
  });

  t.test('demo names missing prerequisites and how to install them', async (t) => {
    const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, 'demo', '--name', LAB], { encoding: 'utf8', cwd: ROOT });
    if (asNobody.error) t.comment(`setpriv unavailable: ${asNobody.error.message}`);
    else {
      t.equal(asNobody.status, 3);
      t.match(asNobody.stderr, /missing prerequisites:\n\s+- root: running as uid 65534[^\n]*\n\s+fix: run it as root/);
    }
    // A PATH with every tool but conntrack.
    const bin = mkdtempSync(join(tmpdir(), 'palisade-path-'));
    for (const tool of ['ip', 'iptables', 'ip6tables', 'ipset']) {
      const p = which(tool);
      if (p) symlinkSync(p, join(bin, tool));
    }
    const noConntrack = spawnSync(process.execPath, [BIN, 'demo', '--name', LAB], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, PATH: bin } });
    t.equal(noConntrack.status, 3);
    t.match(noConntrack.stderr, /- conntrack: conntrack not found on PATH \([^)]*\)\n\s+fix: apt-get install -y conntrack/);
    t.notMatch(noConntrack.stderr, /- ip \(iproute2\)/, 'only what is missing is listed');
    t.same((await listNetns()).filter((n) => n.startsWith(labNetnsPrefix(LAB))), [], 'nothing built');
  });
}
