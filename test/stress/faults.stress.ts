// Faults through the real kernel path (`palisade agent --backend nfqueue` in a lab node
// namespace, files source):
//
// - SIGKILL under traffic, then restart: established flows survive; while the agent is down no
//   new connection passes (fail-closed, the default), or every one passes (--fail-open); a
//   counting server in pod b proves that nothing denied arrived in the fail-closed case.
// - Palisade's iptables rules flushed by someone else: the agent's rule watchdog
//   (--rules-check-ms) puts them back; the time until they are back and the status file's
//   rulesRestored are reported. If this build has no such flag the item is reported as TODO.
// - A manifests folder with a broken file mid-way: the broken file is reported and skipped, its
//   last good objects stay enforced, and changes in the other files are applied.

import t from 'tap';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Topology, PODS, clusterYaml, serverPolicy, startAgent, waitFor, must, run, type AgentStatusFile } from '../../support/netns.ts';
import { CounterServer, agentHasFlag, arrivals, flood, type FloodResult } from './support/lab.ts';
import { bindRow, round } from './support/results.ts';

const NODE = 'n1';
const QUEUE = 62;
const ECHO = 8080;
const COUNTED = 8081;
const DENIED_PORT = 9091;
const topo = new Topology('faults');
t.teardown(() => topo.down());

type Status = AgentStatusFile & { updatedAt: string; rulesRestored?: number; lastError?: string };

const C_DENY_ALL = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-deny-all, namespace: x}
spec:
  podSelector: {matchLabels: {app: c}}
  policyTypes: [Ingress]
`;

t.test('agent faults', async (t) => {
  await topo.up();
  await topo.servers('b', ECHO);
  await topo.servers('c', COUNTED);
  const counter = new CounterServer(topo, 'b', [COUNTED, DENIED_PORT]);
  await counter.start();
  const dir = join(topo.dir, 'manifests');
  await must(['mkdir', '-p', dir]);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [ECHO, COUNTED, DENIED_PORT]));
  topo.writeFile('manifests/policy-b.yaml', serverPolicy([ECHO, COUNTED]));
  const statusFile = join(topo.dir, 'status.json');
  // Without the verdict cache (on by default): after a kill -9 the cache keeps admitting tuples
  // the agent allowed under its last rules (README, "Enforcement in the kernel"), and the probe
  // below reuses the flood's allowed tuple. This checks the queue's own fail-closed path.
  const base = ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300', '--no-verdict-cache'];
  const status = () => topo.readJSON<Status>(statusFile)!;
  let agent = await startAgent(topo, base, statusFile);
  const stop = async () => {
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
  };

  /** A long-lived echo connection a -> b:8080; check() sends a line and waits for it back. */
  const established = () => {
    const c = topo.spawn(topo.in(topo.ns.a, ['socat', '-', `TCP4:${PODS.b.v4}:${ECHO}`]));
    let got = '';
    let n = 0;
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
    return {
      check: async () => {
        const line = `line${n++}\n`;
        c.stdin!.write(line);
        return waitFor(`echo ${line.trim()}`, () => got.includes(line), 5000).then(() => true, () => false);
      },
      close: () => c.kill('SIGKILL'),
    };
  };

  for (const mode of ['fail-closed', 'fail-open'] as const) {
    await t.test(`SIGKILL and restart under traffic (${mode})`, async (t) => {
      const r = bindRow(t, 'faults', `agent SIGKILL + restart under traffic (${mode})`, 'faults.stress.ts');
      const args = mode === 'fail-open' ? [...base, '--fail-open'] : base;
      await stop();
      agent = await startAgent(topo, args, statusFile);
      const est = established();
      t.ok(await est.check(), 'established flow up');
      const before = await counter.counts();
      // Traffic all along: c floods b (denied) and a opens allowed connections, for 8 s.
      const common = { host: PODS.b.v4, seconds: 8, inflight: 16, connectTimeoutMs: 400, udpSockets: 16, maxConnections: 20_000, maxDatagrams: 100_000 };
      const traffic: Promise<FloodResult[]> = Promise.all([
        flood(topo, 'c', { ...common, tcpPorts: [COUNTED], udpPorts: [COUNTED, DENIED_PORT] }),
        flood(topo, 'a', { ...common, tcpPorts: [COUNTED], udpPorts: [] }),
      ]);
      await new Promise((res) => setTimeout(res, 1500));
      const killedAt = Date.now();
      process.kill(status().pid, 'SIGKILL');
      await waitFor('queue unbound', async () => !(await topo.queueStats()).has(QUEUE));
      const estDown = await est.check();
      const newAllowedDown = await topo.tcp('a', 'b', COUNTED);
      const newDeniedDown = await topo.tcp('c', 'b', COUNTED);
      const downFor = (Date.now() - killedAt) / 1000;
      agent = await startAgent(topo, args, statusFile);
      const restartedAt = Date.now();
      const estAfter = await est.check();
      const [fromC, fromA] = await traffic;
      const allowedAfter = await topo.tcp('a', 'b', COUNTED);
      const deniedAfter = await topo.tcp('c', 'b', COUNTED);
      const after = await counter.counts();
      est.close();
      const cIP = PODS.c.v4;
      const deniedArrived = arrivals(after.tcp, (p, f) => p === DENIED_PORT || f === cIP) - arrivals(before.tcp, (p, f) => p === DENIED_PORT || f === cIP)
        + arrivals(after.udp, (p, f) => p === DENIED_PORT || f === cIP) - arrivals(before.udp, (p, f) => p === DENIED_PORT || f === cIP);
      Object.assign(r.figures, {
        'down for s': round(downFor),
        'restart to ready s': round((restartedAt - killedAt) / 1000 - downFor),
        'established flow survived': estDown && estAfter ? 'yes' : 'no',
        'new allowed while down': newAllowedDown ? 'passed' : 'dropped',
        'new denied while down': newDeniedDown ? 'passed' : 'dropped',
        'denied arrivals (flood)': deniedArrived,
        'flood TCP attempts': fromC.tcp[COUNTED]!.ok + fromC.tcp[COUNTED]!.failed + fromA.tcp[COUNTED]!.ok + fromA.tcp[COUNTED]!.failed,
        'allowed conns ok': fromA.tcp[COUNTED]!.ok,
      });
      const tried = fromC.tcp[COUNTED]!.ok + fromC.tcp[COUNTED]!.failed + fromA.tcp[COUNTED]!.ok + fromA.tcp[COUNTED]!.failed;
      r.tried = { n: tried, what: 'connections across kill + restart' };
      // Fail-open lets everything through while down, as asked: only fail-closed can pass wrongly.
      r.wrong = (estDown ? 0 : 1) + (estAfter ? 0 : 1) + (deniedAfter ? 1 : 0) + (mode === 'fail-closed' ? deniedArrived + (newAllowedDown ? 1 : 0) + (newDeniedDown ? 1 : 0) : 0);
      t.ok(estDown, 'the established flow works while the agent is down');
      t.ok(estAfter, 'the established flow works after the restart');
      if (mode === 'fail-closed') {
        t.notOk(newAllowedDown, 'fail-closed: no new connection while down, not even an allowed one');
        t.notOk(newDeniedDown, 'fail-closed: a denied connection stays denied while down');
        t.equal(deniedArrived, 0, 'fail-closed: nothing denied reached the server across kill and restart');
      } else {
        t.ok(newAllowedDown, 'fail-open: new connections pass while down');
        t.ok(newDeniedDown, 'fail-open: even denied ones (as asked)');
      }
      t.ok(allowedAfter, 'after the restart allowed connections pass');
      t.notOk(deniedAfter, 'after the restart denied connections are dropped');
      t.equal(status().counters.errors ?? 0, 0, 'no enforcer errors');
    });
  }

  await t.test('iptables rules flushed by someone else', async (t) => {
    const r = bindRow(t, 'faults', 'iptables rules flushed by another process', 'faults.stress.ts');
    if (!(await agentHasFlag('--rules-check-ms'))) {
      r.result = 'todo';
      r.note = 'this build of `palisade agent` has no --rules-check-ms (rule watchdog not merged yet); nothing to measure';
      t.todo('rule watchdog (--rules-check-ms) not available in this build', async () => {});
      return;
    }
    await stop();
    agent = await startAgent(topo, [...base, '--rules-check-ms', '500'], statusFile);
    t.notOk(await topo.tcp('c', 'b', COUNTED), 'enforcing before the flush');
    const restored0 = status().rulesRestored ?? 0;
    const flushedAt = Date.now();
    // What an admin script or another agent might do: flush every chain of the filter table.
    await must(topo.in(topo.node, ['iptables', '-F']));
    await must(topo.in(topo.node, ['ip6tables', '-F']));
    const jumped = async () => (await run(topo.in(topo.node, ['iptables', '-S', 'FORWARD']))).stdout.includes('PALISADE');
    const openWhileFlushed = await topo.tcp('c', 'b', COUNTED).catch(() => false);
    await waitFor('rules restored', jumped, 15_000, 100).catch(() => false);
    const back = await jumped();
    const restoreS = (Date.now() - flushedAt) / 1000;
    const restoredCount = await waitFor('rulesRestored in the status file', () => ((status().rulesRestored ?? 0) > restored0 ? status().rulesRestored : undefined), 5000).catch(() => 0);
    const deniedAfter = await topo.tcp('c', 'b', COUNTED);
    const allowedAfter = await topo.tcp('a', 'b', COUNTED);
    const six = (await run(topo.in(topo.node, ['ip6tables', '-S', 'FORWARD']))).stdout.includes('PALISADE');
    Object.assign(r.figures, {
      'restored within s': back ? round(restoreS) : 'not restored',
      'status rulesRestored': restoredCount ?? 0,
      'IPv6 rules back': six ? 'yes' : 'no',
      'denied passed in the gap': openWhileFlushed ? 'yes (rules gone until restored)' : 'no',
      'enforcing after': !deniedAfter && allowedAfter ? 'yes' : 'no',
    });
    r.tried = { n: 1, what: 'flush of all filter chains' };
    r.wrong = (back ? 0 : 1) + (deniedAfter ? 1 : 0);
    t.ok(back, `the jump into Palisade's chain is back (${round(restoreS)} s after the flush)`);
    t.ok(six, 'IPv6 rules are back too');
    t.ok((restoredCount ?? 0) > restored0, 'the status file counts the restoration');
    t.notOk(deniedAfter, 'denied connections are dropped again');
    t.ok(allowedAfter, 'allowed connections pass');
  });

  await t.test('manifests folder with a broken file mid-way', async (t) => {
    const r = bindRow(t, 'faults', 'broken manifest file mid-way (files source)', 'faults.stress.ts');
    await stop();
    topo.writeFile('manifests/policy-c.yaml', C_DENY_ALL);
    agent = await startAgent(topo, base, statusFile);
    t.notOk(await topo.tcp('a', 'c', COUNTED), 'c deny-all in force');
    t.ok(await topo.tcp('a', 'b', COUNTED), 'b admits a');
    t.notOk(await topo.tcp('c', 'b', COUNTED), 'b refuses c');
    // One pass sees: policy-b.yaml cut half-way through a rewrite (and garbage after it),
    // policy-c.yaml deleted (a good change), and a new file holding one invalid and one valid object.
    const gen = status().generation;
    const writtenAt = Date.now();
    const rewrite = serverPolicy([DENIED_PORT]);
    topo.writeFile('manifests/policy-b.yaml', rewrite.slice(0, Math.floor(rewrite.length / 2)) + '\n  - {oops: [\n');
    rmSync(join(dir, 'policy-c.yaml'));
    topo.writeFile('manifests/extra.yaml', `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad-one, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress: [{ports: [{port: 70000}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-in-none, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Ingress]
`);
    const s = await waitFor('a pass over the broken folder', () => {
      const x = status();
      return (x.sourceSyncStartedAt ?? 0) >= writtenAt && x.generation > gen ? x : undefined;
    }, 15_000);
    const errs = s.sourceErrors.join('\n');
    const brokenReported = /policy-b\.yaml/.test(errs);
    const invalidReported = /NetworkPolicy x\/bad-one.*spec\.ingress\[0\]\.ports\[0\]\.port/.test(errs);
    const keptB = (await topo.tcp('a', 'b', COUNTED)) && !(await topo.tcp('c', 'b', COUNTED)) && !(await topo.tcp('a', 'b', DENIED_PORT));
    const appliedC = await topo.tcp('a', 'c', COUNTED);
    const appliedExtra = !(await topo.tcp('b', 'a', COUNTED).catch(() => false));
    Object.assign(r.figures, {
      'errors reported': s.sourceErrors.length,
      'broken file named': brokenReported ? 'yes' : 'no',
      'invalid object named with field': invalidReported ? 'yes' : 'no',
      'last good of broken file kept': keptB ? 'yes' : 'no',
      'other files applied': appliedC && appliedExtra ? 'yes' : 'no',
    });
    r.tried = { n: 3, what: 'files changed in one pass' };
    r.wrong = (keptB ? 0 : 1) + (appliedC && appliedExtra ? 0 : 1);
    t.ok(brokenReported, `the broken file is reported (${errs.split('\n')[0]})`);
    t.ok(invalidReported, 'the invalid object is reported with its field');
    t.ok(keptB, "the broken file's last good policy is still enforced");
    t.ok(appliedC, 'the deletion of policy-c.yaml was applied (c open again)');
    t.ok(appliedExtra, 'the valid object next to the invalid one was applied (a isolated)');
    // Repair: the fixed rewrite is applied.
    const gen2 = status().generation;
    topo.writeFile('manifests/policy-b.yaml', rewrite);
    await waitFor('fixed file enforced', () => status().generation > gen2 && !status().sourceErrors.some((e) => e.includes('policy-b.yaml')), 15_000);
    t.ok(await topo.tcp('a', 'b', DENIED_PORT), 'repaired file applied');
    t.equal(status().counters.errors ?? 0, 0, 'no enforcer errors');
  });
});
