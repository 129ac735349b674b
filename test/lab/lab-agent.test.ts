// `palisade lab up` with the agent (root): the agent runs in the lab's node namespace, follows
// the manifests folder given to lab up, and `lab probe` sees its verdicts with real packets; an
// edit of the folder is enforced (status file handshake) and changes what the probes see.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from '../../src/agent/node-flags.ts';
import { readAgentStatus, waitForEnforced } from '../../src/lab/lab-agent.ts';
import { processAlive } from '../../src/lab/netns.ts';
import { readLabState } from '../../src/lab/lab-state.ts';
import { labDown } from '../../src/lab/topology.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAB = 'lt-agent';

function cli(args: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'palisade.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 120_000, env });
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
    rmSync(dir, { recursive: true, force: true });
    rmSync(probes, { force: true });
  });

  t.test('lab up starts the agent in the node namespace, following the folder', async (t) => {
    await labDown(LAB);
    const r = cli(['lab', 'up', '--manifests', dir, '--name', LAB, '--backend', 'nfqueue']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, new RegExp(`agent: pid \\d+, backend nfqueue, ready, generation \\d+; follows ${dir}`));
    const s = readLabState(LAB)!;
    t.ok(s.agent, 'agent recorded');
    t.equal(s.agent!.verdictLog, join(s.dir, 'verdicts.log'), 'a verdict log by default, in the lab\'s state folder');
    t.match(r.stdout, `verdict log: ${join(s.dir, 'verdicts.log')} (palisade logs --lab ${LAB})`);
    const inNode = spawnSync('ip', ['netns', 'pids', s.nodeNetns], { encoding: 'utf8' }).stdout.split(/\s+/);
    t.ok(inNode.includes(String(s.agent!.pid)), 'the agent runs in the lab node namespace');
    const cmdline = readFileSync(`/proc/${s.agent!.pid}/cmdline`, 'utf8').split('\0');
    t.same(cmdline.slice(1, 1 + AGENT_NODE_FLAGS.length), AGENT_NODE_FLAGS, 'node runs it with the agent\'s flags (src/agent/node-flags.ts)');
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

    // The same pods on ports nobody serves: the client's connections get through (the policy
    // allows every port from it) and are refused; the other pod's are dropped: DENY.
    const closed = join(dir, '..', `${LAB}-closed.yaml`);
    writeFileSync(closed, ['client', 'other'].flatMap((from) => [
      `- {from: app/${from}, to: app/server, port: 81, expect: ${from === 'client' ? 'allow' : 'deny'}}`,
      `- {from: app/${from}, to: app/server, port: 54, protocol: UDP, expect: ${from === 'client' ? 'allow' : 'deny'}}`,
      `- {from: app/${from}, to: app/server, port: 8, protocol: SCTP, expect: ${from === 'client' ? 'allow' : 'deny'}}`,
    ]).join('\n') + '\n');
    const cr = cli(['lab', 'probe', '--name', LAB, '--probes', closed, '-o', 'json']);
    t.equal(cr.code, 0, `every expect met (${cr.stderr})`);
    t.same((JSON.parse(cr.stdout) as { from: string; protocol: string; verdict: string; detail: string }[]).map((x) => `${x.from} ${x.protocol} ${x.verdict} ${x.detail}`), [
      'app/client TCP refused refused', 'app/client UDP refused refused', 'app/client SCTP refused refused',
      'app/other TCP deny timeout', 'app/other UDP deny timeout', 'app/other SCTP deny timeout',
    ], 'refused through the agent when allowed, a timeout (DENY) when dropped, for TCP, UDP and SCTP');

    // Why was it dropped: the lab's verdict log names the policy.
    const want = /DENY\s+TCP 10\.244\.1\.3 \(app\/other\) -> 10\.244\.1\.2:80 \(app\/server\) \[ingress\]: .*app\/server-only-from-client/;
    let logs = cli(['logs', '--lab', LAB]);
    for (let i = 0; i < 40 && !want.test(logs.stdout); i++) {
      await new Promise((r) => setTimeout(r, 250));
      logs = cli(['logs', '--lab', LAB]);
    }
    t.equal(logs.code, 0, logs.stderr);
    t.match(logs.stdout, want, 'palisade logs --lab shows the denied curl and the policy');
    t.notMatch(logs.stdout, /^\? /m, 'only verdict lines');
    t.notMatch(logs.stdout, /app\/client\) ->/, 'nothing about the allowed client');
    const byEnv = cli(['logs', '--lab'], { ...process.env, PALISADE_LAB: LAB });
    t.match(byEnv.stdout, want, 'no NAME: the default lab, here from PALISADE_LAB');

    // lab status without --name: the labs, which is the default, and the default in full.
    const st = cli(['lab', 'status'], { ...process.env, PALISADE_LAB: LAB });
    t.equal(st.code, 0, st.stderr);
    t.match(st.stdout, new RegExp(`^labs on this machine:\\n[\\s\\S]*^ {2}${LAB} \\(default, from PALISADE_LAB: commands without --name use it\\)$`, 'm'));
    t.match(st.stdout, /app\/server\s+plab\.lt-agent\.pod\.app_server\s+10\.244\.1\.2\s+TCP 80/, 'its pods');
    t.match(st.stdout, new RegExp(`agent: pid ${s.agent!.pid}, backend nfqueue, ready, generation \\d+`), 'its agent and generation');
    const noDefault = cli(['lab', 'status'], { ...process.env, PALISADE_LAB: 'lt-none' });
    t.match(noDefault.stdout, /no lab "lt-none" \(the default, from PALISADE_LAB\)/);
    t.notMatch(noDefault.stdout, /agent: pid/);

    spawnSync('rm', [join(dir, 'policy.yaml')]);
    await waitForEnforced(s, Date.now(), 10_000);
    spawnSync('ip', ['netns', 'exec', s.nodeNetns, 'conntrack', '-F']);
    t.same(verdicts().filter((v) => v.endsWith('deny')), [], 'policy deleted: open again');
  });

  t.test('lab down stops the agent and removes everything', async (t) => {
    const s = readLabState(LAB)!;
    const r = cli(['lab', 'down', '--name', LAB]);
    t.equal(r.code, 0, r.stderr);
    t.notOk(processAlive(s.agent!.pid), 'agent stopped');
    t.notOk(existsSync(s.dir), 'state removed');
  });
}
