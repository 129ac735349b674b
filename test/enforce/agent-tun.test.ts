// `palisade agent --backend tun` on the real kernel path: new connections of managed pods are
// policy-routed into a TUN device, judged, and written back; the rest of each allowed flow is
// routed directly. Same topology and traffic as the NFQUEUE test.

import t from 'tap';
import { join } from 'node:path';
import { Topology, clusterYaml, serverPolicy, startAgent, waitFor, must, run, statusReaders, upWithServers } from '../../support/netns.ts';
import { checkDeniedUdpReplyLeak } from './udp-reply-leak.ts';

const NODE = 'n1';
const TUN = 'paltun7';
const topo = new Topology('tun');
t.teardown(() => topo.down());

t.test('tun agent', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  const statusFile = join(topo.dir, 'status.json');
  const args = ['--node', NODE, '--manifests', dir, '--backend', 'tun', '--tun-name', TUN, '--tun-table', '7177'];
  const readers = statusReaders(topo, statusFile);
  const { status, freshStatus } = readers;
  const inNode = (argv: string[]) => must(topo.in(topo.node, argv));

  let agent = await startAgent(topo, args, statusFile);

  await t.test('device, policy routing and mangle rules are in place', async (t) => {
    t.match(await inNode(['ip', 'link', 'show', TUN]), /UP/, 'TUN device up');
    t.match(await inNode(['ip', 'rule']), /fwmark 0x4000000\/0x4000000 lookup 7177/, 'IPv4 divert rule');
    t.match(await inNode(['ip', '-6', 'rule']), /fwmark 0x4000000\/0x4000000 lookup 7177/, 'IPv6 divert rule');
    const routes = await inNode(['ip', 'route', 'show', 'table', '7177']);
    t.match(routes, `default dev ${TUN}`, 'diverted packets go to the TUN');
    t.match(routes, /blackhole default/, 'and nowhere else if the TUN is gone');
    t.match(await inNode(['iptables', '-t', 'mangle', '-S']), '-j PALISADE-PREROUTING', 'hooked into mangle PREROUTING');
  });

  await t.test('allowed new connections pass, denied ones are dropped (TCP and UDP, IPv4 and IPv6)', async (t) => {
    for (const fam of [4, 6] as const) {
      t.ok(await topo.tcp('a', 'b', 8080, fam), `IPv${fam} TCP a -> b:8080 allowed`);
      t.notOk(await topo.tcp('c', 'b', 8080, fam), `IPv${fam} TCP c -> b:8080 denied`);
      t.notOk(await topo.tcp('a', 'b', 9090, fam), `IPv${fam} TCP a -> b:9090 denied`);
      t.ok(await topo.udp('a', 'b', 8080, fam), `IPv${fam} UDP a -> b:8080 allowed`);
      t.notOk(await topo.udp('c', 'b', 8080, fam), `IPv${fam} UDP c -> b:8080 denied`);
      t.ok(await topo.tcp('a', 'c', 8080, fam), `IPv${fam} TCP a -> c:8080 allowed (c not isolated)`);
    }
    const s = await freshStatus();
    t.ok(s.counters.accepts! > 0 && s.counters.drops! > 0, 'the agent judged both ways');
    t.equal(s.counters.writeErrors, 0, 'every accepted packet was written back');
  });

  await t.test('an established flow does not go through the TUN', async (t) => {
    const before = (await freshStatus()).counters.packets!;
    const c = topo.spawn(topo.in(topo.ns.a, ['socat', '-', 'TCP4:10.77.2.2:8080']));
    let got = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
    for (let i = 0; i < 30; i++) {
      c.stdin!.write(`line${i}\n`);
      await waitFor(`echo ${i}`, () => got.includes(`line${i}\n`));
    }
    c.kill('SIGKILL');
    const delta = (await freshStatus()).counters.packets! - before;
    t.equal(delta, 1, `only the SYN went through the TUN (judged ${delta} of 60+ packets)`);
  });

  await t.test('a denied UDP flow cannot be opened by the destination answering it', async (t) => {
    await checkDeniedUdpReplyLeak(t, topo, dir, readers);
  });

  await t.test('kill -9 is fail-closed, keeps established flows; restart resumes', async (t) => {
    const c = topo.spawn(topo.in(topo.ns.a, ['socat', '-', 'TCP4:10.77.2.2:8080']));
    let got = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
    c.stdin!.write('before\n');
    await waitFor('echo before', () => got.includes('before\n'));
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGKILL');
    await exited;
    t.match(await inNode(['ip', 'link', 'show', TUN]), TUN, 'the persistent TUN device outlives the agent');
    c.stdin!.write('during\n');
    await waitFor('echo during', () => got.includes('during\n'));
    t.pass('established connection survives');
    t.notOk(await topo.tcp('a', 'b', 8080), 'no new connection while down (fail-closed)');
    t.notOk(await topo.tcp('c', 'b', 8080), 'denied stays denied while down');
    t.notOk(await topo.udp('a', 'b', 8080), 'no new UDP flow while down');
    const rulesBefore = await inNode(['iptables', '-t', 'mangle', '-S']);
    agent = await startAgent(topo, args, statusFile);
    t.equal(await inNode(['iptables', '-t', 'mangle', '-S']), rulesBefore, 'restart leaves the rules identical');
    t.equal((await inNode(['ip', 'rule'])).split('\n').filter((l) => l.includes('lookup 7177')).length, 1, 'one divert rule, not two');
    c.stdin!.write('after\n');
    await waitFor('echo after', () => got.includes('after\n'));
    t.ok(await topo.tcp('a', 'b', 8080), 'enforcement resumed: allowed passes');
    t.notOk(await topo.tcp('c', 'b', 8080), 'enforcement resumed: denied dropped');
    c.kill('SIGKILL');
  });

  await t.test('SIGTERM removes rules, routes and the device', async (t) => {
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
    for (const tbl of ['filter', 'mangle']) {
      t.notMatch(await inNode(['iptables', '-t', tbl, '-S']), 'PALISADE', `IPv4 ${tbl}: nothing left`);
      t.notMatch(await inNode(['ip6tables', '-t', tbl, '-S']), 'PALISADE', `IPv6 ${tbl}: nothing left`);
    }
    t.notMatch(await inNode(['ip', 'rule']), '7177', 'divert rule removed');
    t.notMatch(await inNode(['ip', '-6', 'rule']), '7177', 'IPv6 divert rule removed');
    t.not((await run(topo.in(topo.node, ['ip', 'link', 'show', TUN]))).code, 0, 'device removed');
    t.ok(await topo.tcp('c', 'b', 8080), 'traffic flows unjudged after a clean stop');
  });
});
