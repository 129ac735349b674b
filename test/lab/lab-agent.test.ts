// `palisade lab up` with the agent (root): the agent runs in the lab's node namespace, follows
// the manifests folder given to lab up, and `lab probe` sees its verdicts with real packets; an
// edit of the folder is enforced (status file handshake) and changes what the probes see.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAgentStatus, waitForEnforced } from '../../src/lab/lab-agent.ts';
import { readLabState } from '../../src/lab/lab-state.ts';
import { labDown } from '../../src/lab/topology.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAB = 'lt-agent';

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'palisade.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const pod = (ns: string, name: string, ip: string) => `---
apiVersion: v1
kind: Pod
metadata: {namespace: ${ns}, name: ${name}, labels: {app: ${name}}}
spec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}, {containerPort: 7, protocol: SCTP}]}]}
status: {phase: Running, podIPs: [{ip: ${ip}}]}
`;

const CLUSTER = `apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
${pod('app', 'client', '10.244.1.1')}${pod('app', 'server', '10.244.1.2')}${pod('app', 'other', '10.244.1.3')}`;

const ONLY_CLIENT = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: app, name: server-only-from-client}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]
`;

if (process.getuid?.() !== 0) {
  t.test('lab with agent', { skip: 'needs root' }, async () => {});
} else {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-lab-agent-'));
  writeFileSync(join(dir, 'cluster.yaml'), CLUSTER);
  const probes = join(dir, '..', `${LAB}-probes.yaml`);
  writeFileSync(probes, ['client', 'other'].flatMap((from) => [
    `- {from: app/${from}, to: app/server, port: 80}`,
    `- {from: app/${from}, to: app/server, port: 53, protocol: UDP}`,
    `- {from: app/${from}, to: app/server, port: 7, protocol: SCTP}`,
  ]).concat(['- {from: node, to: app/server, port: 80}']).join('\n') + '\n');
  const verdicts = () => {
    const r = cli(['lab', 'probe', '--name', LAB, '--probes', probes, '-o', 'json']);
    if (r.code !== 0) throw new Error(r.stderr);
    return (JSON.parse(r.stdout) as { from: string; protocol: string; verdict: string }[]).map((x) => `${x.from} ${x.protocol} ${x.verdict}`);
  };

  t.teardown(async () => {
    await labDown(LAB);
  });

  t.test('lab up starts the agent in the node namespace, following the folder', async (t) => {
    await labDown(LAB);
    const r = cli(['lab', 'up', '--manifests', dir, '--name', LAB, '--backend', 'nfqueue']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, new RegExp(`agent: pid \\d+, backend nfqueue, ready, generation \\d+; follows ${dir}`));
    const s = readLabState(LAB)!;
    t.ok(s.agent, 'agent recorded');
    const inNode = spawnSync('ip', ['netns', 'pids', s.nodeNetns], { encoding: 'utf8' }).stdout.split(/\s+/);
    t.ok(inNode.includes(String(s.agent!.pid)), 'the agent runs in the lab node namespace');
    t.match(spawnSync('ip', ['netns', 'exec', s.nodeNetns, 'iptables', '-S', 'FORWARD'], { encoding: 'utf8' }).stdout, /PALISADE/, 'its rules are in the node namespace');
    t.notMatch(spawnSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' }).stdout, new RegExp(`lab ${LAB}`), 'nothing of the lab in the root namespace');
    t.same(verdicts(), [
      'app/client TCP allow', 'app/client UDP allow', 'app/client SCTP allow',
      'app/other TCP allow', 'app/other UDP allow', 'app/other SCTP allow', 'node TCP allow',
    ], 'no policy: everything answers');
    const again = cli(['lab', 'up', '--manifests', dir, '--name', LAB]);
    t.equal(again.code, 0, again.stderr);
    t.equal(readLabState(LAB)!.agent!.pid, s.agent!.pid, 'lab up again keeps the running agent');
  });

  t.test('an edit of the folder is enforced and the probes see it', async (t) => {
    const s = readLabState(LAB)!;
    writeFileSync(join(dir, 'policy.yaml'), ONLY_CLIENT);
    const written = Date.now();
    const ms = await waitForEnforced(s, written, 10_000);
    t.comment(`enforced ${ms} ms after the write`);
    t.same(readAgentStatus(s.agent!.statusFile)!.sourceErrors, []);
    t.same(verdicts(), [
      'app/client TCP allow', 'app/client UDP allow', 'app/client SCTP allow',
      'app/other TCP deny', 'app/other UDP deny', 'app/other SCTP deny', 'node TCP allow',
    ], 'only the client reaches the server; the node always does');
    spawnSync('rm', [join(dir, 'policy.yaml')]);
    await waitForEnforced(s, Date.now(), 10_000);
    spawnSync('ip', ['netns', 'exec', s.nodeNetns, 'conntrack', '-F']);
    t.same(verdicts().filter((v) => v.endsWith('deny')), [], 'policy deleted: open again');
  });

  t.test('lab down stops the agent and removes everything', async (t) => {
    const s = readLabState(LAB)!;
    const r = cli(['lab', 'down', '--name', LAB]);
    t.equal(r.code, 0, r.stderr);
    t.notOk(existsSync(`/proc/${s.agent!.pid}`), 'agent stopped');
    t.notOk(existsSync(s.dir), 'state removed');
  });
}
