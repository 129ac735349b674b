// `palisade agent --backend nfqueue` on the real kernel path: a node namespace routing between
// three pod namespaces, the agent running inside the node namespace with a manifests folder, and
// real TCP/UDP traffic (ncat/socat) between the pods, IPv4 and IPv6.

import t from 'tap';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Topology, clusterYaml, serverPolicy, startAgent, waitFor, must, run, statusReaders, upWithServers } from '../../support/netns.ts';
import { checkDeniedUdpReplyLeak } from './udp-reply-leak.ts';

const NODE = 'n1';
const QUEUE = 41;
const topo = new Topology('nfq');
t.teardown(() => topo.down());

async function rules(family: 4 | 6 = 4): Promise<string> {
  return must(topo.in(topo.node, [family === 4 ? 'iptables' : 'ip6tables', '-S']));
}

t.test('nfqueue agent', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  const statusFile = join(topo.dir, 'status.json');
  const args = ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300',
    // Every new connection judged by the agent (the counts below), and nothing admitted while it
    // is down: verdict-cache.test.ts covers the cache, judged-sets.test.ts what is queued.
    '--no-verdict-cache'];

  let agent = await startAgent(topo, args, statusFile);
  const readers = statusReaders(topo, statusFile);
  const { status, freshStatus } = readers;

  await t.test('rules are installed in both families, hooked once into FORWARD', async (t) => {
    for (const f of [4, 6] as const) {
      const r = await rules(f);
      t.equal(r.split('\n').filter((l) => l.startsWith('-A FORWARD') && l.includes('PALISADE-FORWARD')).length, 1, `IPv${f}: one jump`);
      t.match(r, `-j NFQUEUE --queue-num ${QUEUE}`, `IPv${f}: queue rule`);
      t.notMatch(r, 'queue-bypass', `IPv${f}: fail-closed (no --queue-bypass)`);
      t.match(r, `-m set --match-set PALISADE-INGRESS${f} dst -j PALISADE-QUEUE`, `IPv${f}: pods isolated for ingress`);
    }
    const q = await topo.queueStats();
    t.ok(q.has(QUEUE), 'the agent is bound to the queue');
  });

  await t.test('allowed new connections pass, denied ones are dropped (TCP and UDP, IPv4 and IPv6)', async (t) => {
    for (const fam of [4, 6] as const) {
      t.ok(await topo.tcp('a', 'b', 8080, fam), `IPv${fam} TCP a -> b:8080 allowed (role=client)`);
      t.notOk(await topo.tcp('c', 'b', 8080, fam), `IPv${fam} TCP c -> b:8080 denied (not a client)`);
      t.notOk(await topo.tcp('a', 'b', 9090, fam), `IPv${fam} TCP a -> b:9090 denied (port not listed)`);
      t.ok(await topo.udp('a', 'b', 8080, fam), `IPv${fam} UDP a -> b:8080 allowed`);
      t.notOk(await topo.udp('c', 'b', 8080, fam), `IPv${fam} UDP c -> b:8080 denied`);
      t.ok(await topo.tcp('a', 'c', 8080, fam), `IPv${fam} TCP a -> c:8080 allowed (c is not isolated)`);
    }
    const s = status();
    t.ok(s.counters.accepts! > 0 && s.counters.drops! > 0, 'the agent judged both ways');
    t.equal(s.counters.errors, 0, 'no enforcer errors');
  });

  await t.test('an established flow stays in the kernel', async (t) => {
    const before = (await topo.queueStats()).get(QUEUE)!.idSequence;
    const judgedBefore = (await freshStatus()).counters.packets!;
    // A long-lived TCP connection a -> b:8080 (echo server), 30 round trips.
    const c = topo.spawn(topo.in(topo.ns.a, ['socat', '-', 'TCP4:10.77.2.2:8080']));
    let got = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
    for (let i = 0; i < 30; i++) {
      c.stdin!.write(`line${i}\n`);
      await waitFor(`echo ${i}`, () => got.includes(`line${i}\n`));
    }
    c.kill('SIGKILL');
    const after = (await topo.queueStats()).get(QUEUE)!.idSequence;
    t.equal(after - before, 1, 'only the SYN of the connection was queued, not its 60+ other packets');
    t.equal((await freshStatus()).counters.packets! - judgedBefore, 1, 'the agent judged one packet');
  });

  await t.test('pod <-> own node traffic is always allowed and never queued', async (t) => {
    const before = (await topo.queueStats()).get(QUEUE)!.idSequence;
    // b only admits role=client on 8080; its own node may reach it anywhere ("traffic to and
    // from the node where a Pod is running is always allowed").
    const r = await run(topo.in(topo.node, ['ncat', '-z', '-w', '1.5', '10.77.2.2', '9090']));
    t.equal(r.code, 0, 'node -> b:9090 connects');
    const r6 = await run(topo.in(topo.node, ['ncat', '-z', '-w', '1.5', 'fd77:2::2', '9090']));
    t.equal(r6.code, 0, 'node -> b:9090 connects over IPv6');
    t.equal((await topo.queueStats()).get(QUEUE)!.idSequence, before, 'nothing was queued (INPUT/OUTPUT are not hooked)');
  });

  await t.test('one-way UDP: later datagrams of an allowed flow stay in the kernel (connmark)', async (t) => {
    const before = (await topo.queueStats()).get(QUEUE)!.idSequence;
    // Five datagrams from the same socket to a port nobody answers on (so conntrack never sees a reply).
    const r = await run(topo.in(topo.ns.a, ['socat', '-u', '-', 'UDP4:10.77.2.2:8080,sourceport=40001']), 'x\n'.repeat(1));
    t.equal(r.code, 0);
    for (let i = 0; i < 4; i++) await run(topo.in(topo.ns.a, ['socat', '-u', '-', 'UDP4:10.77.2.2:8080,sourceport=40001']), 'y\n');
    const after = (await topo.queueStats()).get(QUEUE)!.idSequence;
    t.ok(after - before <= 1, `at most the first datagram was queued (queued ${after - before})`);
  });

  await t.test('policy changes are enforced (files source), a broken file keeps the last good state', async (t) => {
    const gen = status().generation;
    topo.writeFile('manifests/policy.yaml', serverPolicy([9090]));
    await waitFor('new generation', () => status().generation > gen);
    t.ok(await topo.tcp('a', 'b', 9090), 'b:9090 now allowed');
    t.notOk(await topo.tcp('a', 'b', 8080), 'b:8080 now denied');
    const writtenAt = Date.now();
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080]) + 'oops: [\n');
    await waitFor('sync of the broken file', () => (status().sourceSyncStartedAt ?? 0) >= writtenAt && status().sourceErrors.length > 0);
    t.match(status().sourceErrors.join('\n'), /policy\.yaml.*bad YAML/, 'the broken file is reported');
    t.ok(await topo.tcp('a', 'b', 9090), 'last good policy still enforced: b:9090 allowed');
    t.notOk(await topo.tcp('a', 'b', 8080), 'last good policy still enforced: b:8080 denied');
    const gen2 = status().generation;
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
    await waitFor('fixed file enforced', () => status().generation > gen2 && status().sourceErrors.length === 0);
    t.ok(await topo.tcp('a', 'b', 8080), 'fixed: b:8080 allowed again');
  });

  await t.test('a denied UDP flow cannot be opened by the destination answering it', async (t) => {
    await checkDeniedUdpReplyLeak(t, topo, dir, readers);
  });

  await t.test('restart takes over idempotently; kill -9 is fail-closed and keeps established flows', async (t) => {
    // A long-lived allowed connection across the agent's death and restart.
    const c = topo.spawn(topo.in(topo.ns.a, ['socat', '-', 'TCP4:10.77.2.2:8080']));
    let got = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
    c.stdin!.write('before\n');
    await waitFor('echo before', () => got.includes('before\n'));

    process.kill(status().pid, 'SIGKILL');
    await waitFor('queue unbound', async () => !(await topo.queueStats()).has(QUEUE));
    t.match(await rules(), 'PALISADE-FORWARD', 'rules stay after kill -9');
    c.stdin!.write('during\n');
    await waitFor('echo during', () => got.includes('during\n'));
    t.pass('the established connection survives while the agent is down');
    t.notOk(await topo.tcp('a', 'b', 8080), 'no new connection while down, not even an allowed one (fail-closed)');
    t.notOk(await topo.tcp('c', 'b', 8080), 'denied connection stays denied while down');
    t.notOk(await topo.udp('a', 'b', 8080), 'no new UDP flow while down');

    const before = await rules();
    agent = await startAgent(topo, args, statusFile);
    t.equal(await rules(), before, 'restart leaves the rule set identical (no duplicate jump)');
    c.stdin!.write('after\n');
    await waitFor('echo after', () => got.includes('after\n'));
    t.pass('the established connection survives the restart');
    t.ok(await topo.tcp('a', 'b', 8080), 'enforcement resumed: allowed passes');
    t.notOk(await topo.tcp('c', 'b', 8080), 'enforcement resumed: denied dropped');
    c.kill('SIGKILL');
  });

  await t.test('a second agent on the same queue fails clearly and leaves the first one working', async (t) => {
    const r = await run(topo.in(topo.node, ['node', join(import.meta.dirname, '..', '..', 'bin', 'palisade.js'), 'agent', ...args, '--status-file', join(topo.dir, 'second.json')]), undefined, 30_000);
    t.equal(r.code, 1);
    t.match(r.stderr, new RegExp(`EPERM.*queue ${QUEUE} is held by another process`), 'the kernel refuses the bind and the error says so');
    t.ok(await topo.tcp('a', 'b', 8080), 'first agent still enforcing');
    t.notOk(await topo.tcp('c', 'b', 8080), 'first agent still enforcing denials');
  });

  await t.test('audit mode, verdict log and metrics are wired in', async (t) => {
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
    const vlog = join(topo.dir, 'verdicts.jsonl');
    agent = await startAgent(topo, [...args, '--audit', '--verdict-log', vlog, '--metrics', '127.0.0.1:9819'], statusFile);
    t.ok(await topo.tcp('c', 'b', 8080), 'audit: a denied connection passes');
    await waitFor('verdict line', () => {
      try {
        return readFileSync(vlog, 'utf8').includes('"audit":true');
      } catch {
        return false;
      }
    });
    const line = JSON.parse(readFileSync(vlog, 'utf8').split('\n').find((l) => l.includes('"audit":true'))!) as Record<string, unknown>;
    t.match(line, { verdict: 'deny', audit: true, src: { pod: 'x/c' }, dst: { pod: 'x/b', port: 8080 } }, 'logged as a would-be denial');
    const m = await must(topo.in(topo.node, ['curl', '-s', 'http://127.0.0.1:9819/metrics']));
    t.match(m, /palisade_connections_total\{verdict="audit",direction="ingress",protocol="tcp"\} [1-9]/, 'counted as audit');
    t.match(m, new RegExp(`palisade_nfqueue_queued_total\\{queue="${QUEUE}"\\} [1-9]`), 'queue stats exported');
  });

  await t.test('--keep-rules: a clean stop leaves the rules, so the node stays fail-closed', async (t) => {
    let exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
    agent = await startAgent(topo, [...args, '--keep-rules'], statusFile);
    exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
    t.match(await rules(), `--queue-num ${QUEUE}`, 'rules left in place');
    t.notOk(await topo.tcp('a', 'b', 8080), 'new connections dropped until an agent binds again');
    agent = await startAgent(topo, args, statusFile);
    t.ok(await topo.tcp('a', 'b', 8080), 'the next agent takes over');
  });

  await t.test('SIGTERM removes exactly Palisade rules', async (t) => {
    // A foreign rule and chain that must survive.
    await must(topo.in(topo.node, ['iptables', '-N', 'OTHER-CHAIN']));
    await must(topo.in(topo.node, ['iptables', '-A', 'FORWARD', '-p', 'tcp', '--dport', '7', '-j', 'OTHER-CHAIN']));
    // Give the agent a chance to be in steady state, then stop it.
    const exited = new Promise<number | null>((r) => agent.proc.on('exit', (code) => r(code)));
    process.kill(status().pid, 'SIGTERM');
    await exited;
    await waitFor('stopped status', () => status().stopped);
    for (const f of [4, 6] as const) t.notMatch(await rules(f), 'PALISADE', `IPv${f}: no Palisade rule or chain left`);
    const r = await rules();
    t.match(r, '-N OTHER-CHAIN', 'foreign chain kept');
    t.match(r, '--dport 7 -j OTHER-CHAIN', 'foreign rule kept');
    t.ok(await topo.tcp('c', 'b', 8080), 'with the agent stopped cleanly, traffic is no longer judged');
  });
});
