// Palisade's iptables programming: the generated rules (table-driven), and on the kernel (both
// iptables backends, both families, in a namespace of our own): idempotent install, atomic pod
// set updates, mode switches, and removal that leaves everything else alone.

import t from 'tap';
import { Iptables, chainRules, podRules, checkAddress, checkIface, detectBackend, dnsTunName, listRules, removeAll, type RulePlan, type IptablesBackend } from '../../src/enforce/iptables.ts';
import { must, run } from '../../support/netns.ts';

const NFQ: RulePlan = { mode: 'nfqueue', allowMark: 0x2000000, queue: 5, queues: 1, failOpen: false };
const TUNP: RulePlan = { mode: 'tun', allowMark: 0x2000000, queue: 0, queues: 1, failOpen: false, tunDevice: 'pal0', divertMark: 0x4000000 };

t.test('generated rules', async (t) => {
  const cases: { name: string; plan: RulePlan; want: RegExp[]; not?: RegExp[] }[] = [
    { name: 'one queue, fail-closed', plan: NFQ, want: [/-A PALISADE-QUEUE -j NFQUEUE --queue-num 5$/m], not: [/queue-bypass/] },
    { name: 'fail-open adds --queue-bypass', plan: { ...NFQ, failOpen: true }, want: [/--queue-num 5 --queue-bypass$/m] },
    { name: 'several queues balance', plan: { ...NFQ, queues: 4 }, want: [/--queue-balance 5:8 --queue-cpu-fanout$/m] },
    {
      name: 'verdict mark saved to the connmark, connmark accepted, established returned',
      plan: NFQ,
      want: [
        /^-A PALISADE-FORWARD -m mark --mark 0x2000000\/0x2000000 -j PALISADE-ALLOW$/m,
        /^-A PALISADE-FORWARD -m connmark --mark 0x2000000\/0x2000000 -j ACCEPT$/m,
        /^-A PALISADE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN$/m,
        /^-A PALISADE-ALLOW -j CONNMARK --save-mark --nfmask 0x2000000 --ctmask 0x2000000$/m,
      ],
    },
    {
      name: 'tun: written-back packets mark their connection, others divert',
      plan: TUNP,
      want: [/^-A PALISADE-PREROUTING -i pal0 -j CONNMARK --set-xmark 0x2000000\/0x2000000$/m, /^-A PALISADE-DIVERT -j MARK --set-xmark 0x4000000\/0x4000000$/m],
    },
  ];
  for (const c of cases) {
    const text = chainRules(c.plan).join('\n');
    for (const w of c.want) t.match(text, w, `${c.name}: ${w}`);
    for (const n of c.not ?? []) t.notMatch(text, n, `${c.name}: not ${n}`);
  }
  // The mark rule comes first: a re-injected packet must not be queued again.
  t.match(chainRules(NFQ)[0], /-m mark/, 'mark rule first');
  // DNS answers (issue 16) are sent to PALISADE-DNS before the connmark rule accepts their flow.
  const fwd = chainRules(NFQ).filter((l) => l.startsWith('-A PALISADE-FORWARD'));
  const dnsAt = fwd.findIndex((l) => l.includes('--sport 53 -j PALISADE-DNS'));
  t.ok(dnsAt > 0 && dnsAt < fwd.findIndex((l) => l.includes('-m connmark')), 'DNS answers are looked at before the connmark accept');
  const dnsPods = { ifaces: [], v4: [], v6: [], dns: { v4: ['10.0.0.5'], v6: [] } };
  const toQueue = `-A PALISADE-DNS -d 10.0.0.5 -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j NFQUEUE --queue-num ${NFQ.queue + NFQ.queues}`;
  // A DNS server on the node (node-local-dns) answers through OUTPUT -> PALISADE-NODE.
  const nodeJumps = ['-A PALISADE-NODE -p udp -m udp --sport 53 -j PALISADE-DNS', '-A PALISADE-NODE -p tcp -m tcp --sport 53 -j PALISADE-DNS'];
  t.same(podRules(NFQ, dnsPods, 4), [...nodeJumps, toQueue], 'answers to a domainNames subject pod on a flow it opened go to the DNS queue (the one after the judge queues), from a routed or a node-local server');
  t.same(podRules(NFQ, dnsPods, 6), [], 'no IPv6 subject pod: no IPv6 DNS rule, PALISADE-NODE stays empty');
  const withNode = podRules(NFQ, { ...dnsPods, nodeTraffic: true }, 4).filter((l) => l.startsWith('-A PALISADE-NODE'));
  t.same(withNode.slice(0, 4), ['-A PALISADE-NODE -m mark --mark 0x2000000/0x2000000 -j PALISADE-ALLOW', ...nodeJumps, '-A PALISADE-NODE -m connmark --mark 0x2000000/0x2000000 -j ACCEPT'], 'node traffic judged too: node-local answers go to PALISADE-DNS after the re-injection rule, before the connmark accept');

  const pods = { ifaces: ['veth+'], v4: ['10.0.0.5', '10.1.0.0/16'], v6: ['fd00::5'] };
  t.same(podRules(NFQ, pods, 4), [
    '-A PALISADE-PODS -i veth+ -j PALISADE-QUEUE',
    '-A PALISADE-PODS -o veth+ -j PALISADE-QUEUE',
    '-A PALISADE-PODS -s 10.0.0.5 -j PALISADE-QUEUE',
    '-A PALISADE-PODS -d 10.0.0.5 -j PALISADE-QUEUE',
    '-A PALISADE-PODS -s 10.1.0.0/16 -j PALISADE-QUEUE',
    '-A PALISADE-PODS -d 10.1.0.0/16 -j PALISADE-QUEUE',
  ]);
  t.same(podRules(TUNP, { ifaces: ['veth+'], v4: [], v6: ['fd00::5'] }, 6), [
    '-A PALISADE-PODS -i veth+ -j PALISADE-DIVERT',
    '-A PALISADE-PODS -s fd00::5 -j PALISADE-DIVERT',
    '-A PALISADE-PODS -d fd00::5 -j PALISADE-DIVERT',
  ], 'tun mode: no -o in PREROUTING');
  // TUN with the DNS learner's device: answers to the domainNames pods get the DNS mark (routed
  // into that device), not on a connection the judge denied (divert bit without allow bit).
  const dnsPlan: RulePlan = { ...TUNP, dnsTunDevice: dnsTunName('pal0'), dnsDivertMark: 0x8000000 };
  t.same(podRules(dnsPlan, { ifaces: [], v4: [], v6: [], dns: { v4: ['10.0.0.5'], v6: [] } }, 4), [
    '-A PALISADE-DNS -d 10.0.0.5 -m connmark ! --mark 0x4000000/0x6000000 -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j MARK --set-xmark 0x8000000/0x8000000',
  ], 'tun mode: DNS answers marked for the learner');
  t.same(chainRules(dnsPlan).slice(0, 5), [
    '-A PALISADE-PREROUTING -i pal0-d -j RETURN',
    '-A PALISADE-PREROUTING -i pal0 -j CONNMARK --set-xmark 0x2000000/0x2000000',
    '-A PALISADE-PREROUTING -i pal0 -j RETURN',
    '-A PALISADE-PREROUTING -p udp -m udp --sport 53 -j PALISADE-DNS',
    '-A PALISADE-PREROUTING -p tcp -m tcp --sport 53 -j PALISADE-DNS',
  ], 'tun mode: written-back answers pass; answers are looked at before the connmark accept');
  t.equal(dnsTunName('abcdefghijklmno'), 'abcdefghijklm-d', 'the DNS device name stays within 15 bytes');
  t.equal(dnsTunName('abcdefghijklm-d'), 'abcdefghijklm-e', 'and never equals the judge\'s');

  // Hostile input never reaches iptables-restore (a newline would inject a rule).
  for (const bad of ['eth0\n-A FORWARD -j ACCEPT', 'a b', '', 'x'.repeat(16), 'eth0;rm']) t.throws(() => checkIface(bad), /interface/, `iface ${JSON.stringify(bad)} refused`);
  for (const bad of ['10.0.0.256', '10.0.0.0/33', '1.2.3.4\n-A X', 'fd00::/129', 'example.com']) t.throws(() => checkAddress(bad), /not a valid/, `address ${JSON.stringify(bad)} refused`);
  t.throws(() => podRules(NFQ, { ifaces: [], v4: ['fd00::1'], v6: [] }, 4), /IPv4 but is IPv6/);
  t.throws(() => new Iptables({ backend: 'nft', plan: { ...NFQ, allowMark: 0 } }), /allow mark/);
  t.equal(checkAddress('10.1.2.3/16').text, '10.1.0.0/16', 'CIDRs are canonicalised');
});

for (const backend of ['nft', 'legacy'] as IptablesBackend[]) {
  t.test(`kernel: ${backend} backend`, async (t) => {
    const ns = `pal-t-${process.pid}-ipt-${backend}`;
    const prefix = ['ip', 'netns', 'exec', ns];
    await must(['ip', 'netns', 'add', ns]);
    t.teardown(async () => {
      await run(['ip', 'netns', 'del', ns]);
    });
    t.equal(await detectBackend(backend, prefix), backend, 'backend usable');
    const S = (f: 4 | 6, tbl = 'filter') => listRules(backend, f, tbl, prefix);
    // Foreign rules that must survive everything.
    const tool = (f: 4 | 6) => `${f === 4 ? 'iptables' : 'ip6tables'}-${backend}`;
    for (const f of [4, 6] as const) {
      await must([...prefix, tool(f), '-N', 'FOREIGN']);
      await must([...prefix, tool(f), '-A', 'FORWARD', '-p', 'tcp', '--dport', '22', '-j', 'FOREIGN']);
      await must([...prefix, tool(f), '-t', 'mangle', '-A', 'PREROUTING', '-p', 'udp', '--dport', '53', '-j', 'MARK', '--set-mark', '7']);
    }
    const foreign4 = await S(4);

    const ipt = new Iptables({ backend, plan: NFQ, prefix });
    t.equal(await ipt.probeFamilies(), undefined, 'IPv6 works here');
    const pods = { ifaces: [], v4: ['10.77.2.2'], v6: ['fd77:2::2'] };
    await ipt.install(pods);
    const first = { 4: await S(4), 6: await S(6) };
    for (const f of [4, 6] as const) {
      t.equal(first[f].split('\n').filter((l) => /^-A FORWARD .*-j PALISADE-FORWARD/.test(l)).length, 1, `IPv${f}: one jump`);
      t.match(first[f], /^-A FORWARD .*PALISADE-FORWARD\n-A FORWARD -p tcp -m tcp --dport 22 -j FOREIGN$/m, `IPv${f}: jump inserted before foreign rules`);
    }
    t.match(first[4], '-s 10.77.2.2/32 -j PALISADE-QUEUE');
    t.match(first[6], '-d fd77:2::2/128 -j PALISADE-QUEUE');

    await new Iptables({ backend, plan: NFQ, prefix }).install(pods);
    t.equal(await S(4), first[4], 'second install (restart) changes nothing');
    t.equal(await S(6), first[6], 'second install (restart) changes nothing (IPv6)');

    t.equal(await ipt.setPods(pods), false, 'same pods: no transaction');
    t.equal(await ipt.setPods({ ifaces: ['pod+'], v4: ['10.77.3.2'], v6: [] }), true, 'pods changed');
    const after = await S(4);
    t.notMatch(after, '10.77.2.2', 'old pod gone');
    t.match(after, '-s 10.77.3.2/32 -j PALISADE-QUEUE', 'new pod in');
    t.match(after, '-i pod+ -j PALISADE-QUEUE', 'interface match in');
    t.notMatch(await S(6), 'fd77:2::2', 'IPv6 pod gone too');
    // The DNS chain is replaced with the pods, not appended to.
    await ipt.setPods({ ifaces: [], v4: [], v6: [], dns: { v4: ['10.77.4.2'], v6: [] } });
    await ipt.setPods({ ifaces: [], v4: [], v6: [], dns: { v4: ['10.77.5.2'], v6: [] } });
    const dnsNow = (await S(4)).split('\n').filter((l) => /PALISADE-DNS/.test(l));
    t.same(dnsNow.filter((l) => l.startsWith('-A PALISADE-DNS')).map((l) => /-d (\S+)/.exec(l)![1]), ['10.77.5.2/32'], 'one DNS rule, for the current pod only');
    t.equal(dnsNow.filter((l) => l.startsWith('-A PALISADE-NODE')).length, 2, 'the node-local answer jumps, once');

    // Switching to the TUN mode removes the NFQUEUE chains and installs mangle ones.
    const tun = new Iptables({ backend, plan: TUNP, prefix });
    await tun.install({ ifaces: [], v4: ['10.77.2.2'], v6: [] });
    t.notMatch(await S(4), 'PALISADE', 'filter table clean after switching modes');
    t.match(await S(4, 'mangle'), '-A PREROUTING -j PALISADE-PREROUTING');

    await removeAll(backend, prefix);
    for (const f of [4, 6] as const) {
      t.notMatch(await S(f), 'PALISADE', `IPv${f} filter: nothing of Palisade left`);
      t.notMatch(await S(f, 'mangle'), 'PALISADE', `IPv${f} mangle: nothing of Palisade left`);
      t.match(await S(f, 'mangle'), '--dport 53 -j MARK --set-xmark 0x7/0xffffffff', `IPv${f}: foreign mangle rule kept`);
    }
    t.equal(await S(4), foreign4, 'filter table exactly as before Palisade');
    await removeAll(backend, prefix);
    t.pass('removing twice is harmless');
  });
}
