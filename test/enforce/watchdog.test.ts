// The rule watchdog on the real kernel path: someone else flushes or edits Palisade's iptables
// rules in the node namespace (a chain flushed, the FORWARD jump deleted, FORWARD flushed, a
// chain removed outright, a rule rewritten to ACCEPT), in IPv4 and IPv6; the agent notices,
// puts them back, counts it, and denied connections are denied again while allowed ones pass.

import t, { type Test } from 'tap';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Topology, clusterYaml, serverPolicy, startAgent, waitFor, must, run, type AgentStatusFile } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 44;
const topo = new Topology('wdog');
t.teardown(() => topo.down());

interface WatchdogStatus extends AgentStatusFile {
  rulesRestored: number;
  rulesRestoredAt?: string;
}

t.test('rule watchdog', async (t) => {
  await topo.up();
  await topo.servers('b', 8080);
  const dir = join(topo.dir, 'manifests');
  await must(['mkdir', '-p', dir]);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  const statusFile = join(topo.dir, 'status.json');
  const args = ['--node', NODE, '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--metrics', '127.0.0.1:9822', '--rules-check-ms', '300'];
  const status = () => topo.readJSON<WatchdogStatus>(statusFile)!;
  const ipt = (f: 4 | 6, argv: string[]) => must(topo.in(topo.node, [f === 4 ? 'iptables' : 'ip6tables', '-w', '5', ...argv]));
  const rules = (f: 4 | 6) => ipt(f, ['-S']);
  const palisadeOf = (text: string) => text.split('\n').filter((l) => l.includes('PALISADE')).sort().join('\n');

  let agent: { proc: ChildProcess; log: () => string } = await startAgent(topo, args, statusFile);
  const intact = { 4: palisadeOf(await rules(4)), 6: palisadeOf(await rules(6)) };
  t.match(intact[4], '-A FORWARD', 'IPv4 hooked');
  t.match(intact[6], '-A FORWARD', 'IPv6 hooked');
  t.equal(status().rulesRestored, 0, 'nothing restored yet');

  const enforced = async (t: Test, f: 4 | 6, what: string) => {
    t.ok(await topo.tcp('a', 'b', 8080, f), `${what}: IPv${f} allowed a -> b:8080 passes`);
    t.notOk(await topo.tcp('c', 'b', 8080, f), `${what}: IPv${f} denied c -> b:8080 is dropped`);
  };
  await enforced(t, 4, 'before');
  await enforced(t, 6, 'before');

  // Each tampering is one iptables-restore transaction (several commands in a row could be
  // interleaved with a restoration and undo each other).
  const chains = ['FORWARD', 'ALLOW', 'PODS', 'QUEUE'].map((c) => `PALISADE-${c}`);
  const tamperings: { name: string; family: 4 | 6; lines: string[] }[] = [
    { name: 'a Palisade chain flushed', family: 4, lines: ['-F PALISADE-FORWARD'] },
    { name: 'the FORWARD jump deleted', family: 4, lines: ['-D FORWARD 1'] },
    { name: 'FORWARD flushed', family: 4, lines: ['-F FORWARD'] },
    { name: 'the pod rules flushed', family: 4, lines: ['-F PALISADE-PODS'] },
    { name: 'the queue rule rewritten to ACCEPT', family: 4, lines: ['-F PALISADE-QUEUE', '-A PALISADE-QUEUE -j ACCEPT'] },
    { name: 'all Palisade chains deleted', family: 4, lines: ['-D FORWARD 1', ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`)] },
    { name: 'a Palisade chain flushed', family: 6, lines: ['-F PALISADE-FORWARD'] },
    { name: 'the FORWARD jump deleted', family: 6, lines: ['-D FORWARD 1'] },
    { name: 'FORWARD flushed', family: 6, lines: ['-F FORWARD'] },
    { name: 'the pod rules flushed', family: 6, lines: ['-F PALISADE-PODS'] },
  ];
  for (const c of tamperings) {
    await t.test(`IPv${c.family}: ${c.name}`, async (t) => {
      const before = status().rulesRestored;
      await must(topo.in(topo.node, [c.family === 4 ? 'iptables-restore' : 'ip6tables-restore', '-w', '5', '--noflush']), `*filter\n${c.lines.join('\n')}\nCOMMIT\n`);
      // No read-back of the damage here: the watchdog may already have repaired it. That it
      // noticed is the restoration count below.
      const s = await waitFor('restoration', () => {
        const st = status();
        return st.rulesRestored > before ? st : undefined;
      }, 15_000);
      t.equal(s.rulesRestored, before + 1, 'counted once');
      await waitFor('rules back', async () => palisadeOf(await rules(c.family)) === intact[c.family]);
      t.pass('Palisade lines are identical to the original installation');
      t.equal(palisadeOf(await rules(c.family === 4 ? 6 : 4)), intact[c.family === 4 ? 6 : 4], 'the other family was left alone');
      await enforced(t, c.family, 'after restoration');
    });
  }

  await t.test('restorations are logged and exported', async (t) => {
    t.match(agent.log(), /iptables rules were missing or altered; restored/);
    t.match(agent.log(), /IPv6: .*jump FORWARD -> PALISADE-FORWARD missing/, 'the log says what was wrong');
    t.ok(status().rulesRestoredAt, 'time of the last restoration');
    const m = await must(topo.in(topo.node, ['curl', '-s', 'http://127.0.0.1:9822/metrics']));
    t.match(m, new RegExp(`^palisade_rules_restored_total ${status().rulesRestored}$`, 'm'), 'restorations exported as a metric');
  });

  await t.test('foreign rules in the same chains do not trigger a restoration', async (t) => {
    const before = status().rulesRestored;
    await ipt(4, ['-A', 'FORWARD', '-p', 'tcp', '--dport', '7', '-j', 'ACCEPT']);
    await ipt(4, ['-N', 'OTHER']);
    // Two full check periods and more.
    await new Promise((r) => setTimeout(r, 1500));
    t.equal(status().rulesRestored, before, 'no restoration for someone else\'s rules');
    t.match(await rules(4), '--dport 7 -j ACCEPT', 'foreign rule kept');
  });

  await t.test('a clean stop removes the rules and the watchdog does not bring them back', async (t) => {
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
    await new Promise((r) => setTimeout(r, 700));
    for (const f of [4, 6] as const) t.notMatch(await rules(f), 'PALISADE', `IPv${f}: nothing left`);
  });

  await t.test('strict: a denied connection opened while the rules were gone is cut once they are back', async (t) => {
    agent = await startAgent(topo, [...args.slice(0, -2), '--rules-check-ms', '2000'], statusFile);
    let got = '';
    let session: ChildProcess | undefined;
    let n = 0;
    const echoes = async (ms: number) => {
      const token = `probe${n++}\n`;
      session!.stdin!.write(token);
      return waitFor('echo', () => got.includes(token), ms, 20).then(() => true, () => false);
    };
    // Delete the jump and sneak a denied connection through before the next check; if the check
    // came first (the connection was judged and dropped), try again.
    for (let attempt = 0; attempt < 8 && !session; attempt++) {
      const before = status().rulesRestored;
      await must(topo.in(topo.node, ['iptables', '-w', '5', '-D', 'FORWARD', '1']));
      got = '';
      const s = topo.spawn(topo.in(topo.ns.c, ['socat', '-', 'TCP4:10.77.2.2:8080']));
      s.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
      session = s;
      if (!(await echoes(700))) {
        s.kill('SIGKILL');
        session = undefined;
      }
      await waitFor('restoration', () => status().rulesRestored > before);
    }
    t.ok(session, 'a denied connection got through while the FORWARD jump was missing');
    await waitFor('gap flow cut', () => (status() as WatchdogStatus & { flowsCut: number }).flowsCut >= 1);
    t.notOk(await echoes(2000), 'after the restoration that connection is cut');
    t.ok(await topo.tcp('a', 'b', 8080), 'allowed connections still pass');
    session?.kill('SIGKILL');
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
  });

  await t.test('tun backend: mangle rules and policy routing are watched too', async (t) => {
    agent = await startAgent(topo, ['--node', NODE, '--manifests', dir, '--backend', 'tun', '--tun-name', 'palwd0', '--tun-table', '7377', '--rules-check-ms', '300'], statusFile);
    const inNode = (argv: string[]) => must(topo.in(topo.node, argv));
    const state = async () => [
      palisadeOf(await inNode(['iptables', '-t', 'mangle', '-S'])), palisadeOf(await inNode(['ip6tables', '-t', 'mangle', '-S'])),
      await inNode(['ip', 'rule']), await inNode(['ip', '-6', 'rule']),
      await inNode(['ip', 'route', 'show', 'table', '7377']), await inNode(['ip', '-6', 'route', 'show', 'table', '7377']),
    ].join('\n');
    const intactTun = await state();
    t.ok(await topo.tcp('a', 'b', 8080), 'allowed passes');
    t.notOk(await topo.tcp('c', 'b', 8080), 'denied dropped');
    const tamperings: { name: string; argv: string[] }[] = [
      { name: 'mangle chain flushed', argv: ['iptables', '-w', '5', '-t', 'mangle', '-F', 'PALISADE-PREROUTING'] },
      { name: 'IPv6 mangle PREROUTING flushed', argv: ['ip6tables', '-w', '5', '-t', 'mangle', '-F', 'PREROUTING'] },
      { name: 'divert rule deleted', argv: ['ip', 'rule', 'del', 'pref', '1000'] },
      { name: 'IPv6 divert table flushed', argv: ['ip', '-6', 'route', 'flush', 'table', '7377'] },
    ];
    for (const c of tamperings) {
      const before = status().rulesRestored;
      await inNode(c.argv);
      await waitFor(`restoration after ${c.name}`, () => status().rulesRestored > before);
      await waitFor(`${c.name}: all back`, async () => (await state()) === intactTun);
      t.pass(`${c.name}: restored`);
      t.ok(await topo.tcp('a', 'b', 8080), `${c.name}: allowed passes`);
      t.notOk(await topo.tcp('c', 'b', 8080), `${c.name}: denied dropped`);
    }
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
  });

  await t.test('--rules-check-ms 0 turns the watchdog off', async (t) => {
    agent = await startAgent(topo, [...args.slice(0, -2), '--rules-check-ms', '0'], statusFile);
    await ipt(4, ['-F', 'PALISADE-FORWARD']);
    await new Promise((r) => setTimeout(r, 1500));
    t.equal(status().rulesRestored, 0, 'nothing restored');
    t.ok(await topo.tcp('c', 'b', 8080), 'and the flushed chain no longer enforces (what the watchdog prevents)');
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(status().pid, 'SIGTERM');
    await exited;
    const r = await run(topo.in(topo.node, ['iptables', '-S']));
    t.notMatch(r.stdout, 'PALISADE', 'stopped cleanly');
  });
});
