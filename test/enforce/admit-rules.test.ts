// Kernel admission's iptables rules (RulePlan.kernelAdmit, src/enforce/rule-plan.ts): the lines
// (table-driven, without a kernel), the rule counts the watchdog expects, and on the kernel (both
// backends, a namespace of our own) that install, setPods and remove create, rewrite and delete
// PALISADE-ADMIT. Packets through the chain: admit-path.test.ts.

import t from 'tap';
import { CHAINS, Iptables, chainRules, chainsOf, listRules, podRules, removeAll, ruleProblems, type Family, type IptablesBackend, type PodMatch, type RulePlan } from '../../src/enforce/iptables.ts';
import { podChains } from '../../src/enforce/rule-plan.ts';
import { palisadeLines } from '../../src/enforce/iptables-lines.ts';
import { must, run } from '../../support/netns.ts';

const NFQ: RulePlan = { mode: 'nfqueue', allowMark: 0x2000000, queue: 5, queues: 1, failOpen: false };
const ADMIT: RulePlan = { ...NFQ, kernelAdmit: true };
const TUNP: RulePlan = { mode: 'tun', allowMark: 0x2000000, queue: 0, queues: 1, failOpen: false, tunDevice: 'pal0', divertMark: 0x4000000 };
const PODS: PodMatch = { ifaces: ['veth+', 'cali+'], v4: ['10.1.0.0/16', '10.2.0.5'], v6: ['fd00:1::/64'], judgedSets: true };

const EGRESS = { 4: '-A PALISADE-PODS -m set --match-set PALISADE-EGRESS4 src -j PALISADE-QUEUE', 6: '-A PALISADE-PODS -m set --match-set PALISADE-EGRESS6 src -j PALISADE-QUEUE' };
const JUMPS = { 4: '-A PALISADE-PODS -m set --match-set PALISADE-INGRESS4 dst -m conntrack --ctstate NEW -j PALISADE-ADMIT', 6: '-A PALISADE-PODS -m set --match-set PALISADE-INGRESS6 dst -m conntrack --ctstate NEW -j PALISADE-ADMIT' };
const JUMP = JUMPS[4];
const MIDSTREAM = '-A PALISADE-ADMIT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN';
const tail = (f: Family) => [
  `-A PALISADE-ADMIT -m set --match-set PALISADE-ADMITRET${f} src -j RETURN`,
  `-A PALISADE-ADMIT -m set --match-set PALISADE-ADMIT${f} dst,dst,src -j CONNMARK --set-xmark 0x2000000/0x2000000`,
  '-A PALISADE-ADMIT -m connmark --mark 0x2000000/0x2000000 -j ACCEPT',
];

t.test('PALISADE-ADMIT lines', async (t) => {
  const cases: { name: string; plan: RulePlan; pods: PodMatch; family: Family; admit: string[] }[] = [
    {
      name: 'IPv4: interfaces and ranges', plan: ADMIT, pods: PODS, family: 4, admit: [
        MIDSTREAM,
        '-A PALISADE-ADMIT -i veth+ -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
        '-A PALISADE-ADMIT -i cali+ -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
        '-A PALISADE-ADMIT -s 10.1.0.0/16 -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
        '-A PALISADE-ADMIT -s 10.2.0.5 -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
        ...tail(4),
      ],
    },
    {
      name: 'IPv6: its own ranges and sets', plan: ADMIT, pods: PODS, family: 6, admit: [
        MIDSTREAM,
        '-A PALISADE-ADMIT -i veth+ -m set ! --match-set PALISADE-KNOWN6 src -j RETURN',
        '-A PALISADE-ADMIT -i cali+ -m set ! --match-set PALISADE-KNOWN6 src -j RETURN',
        '-A PALISADE-ADMIT -s fd00:1::/64 -m set ! --match-set PALISADE-KNOWN6 src -j RETURN',
        ...tail(6),
      ],
    },
    { name: 'no interfaces or ranges: the mid-stream rule and the set', plan: { ...ADMIT, allowMark: 0x2000000 }, pods: { ...PODS, ifaces: [], v4: [] }, family: 4, admit: [MIDSTREAM, ...tail(4)] },
    { name: 'strict and the verdict cache change nothing here', plan: { ...ADMIT, strict: true, verdictCache: true }, pods: { ...PODS, ifaces: [], v6: [] }, family: 6, admit: [MIDSTREAM, ...tail(6)] },
  ];
  for (const c of cases) {
    const lines = podRules(c.plan, c.pods, c.family);
    t.same(lines.filter((l) => l.startsWith('-A PALISADE-ADMIT ')), c.admit, `${c.name}: the chain`);
    const pods = lines.filter((l) => l.startsWith('-A PALISADE-PODS '));
    const at = pods.indexOf(EGRESS[c.family]);
    t.same(pods.slice(at, at + 3), [EGRESS[c.family], JUMPS[c.family], `-A PALISADE-PODS -m set --match-set PALISADE-INGRESS${c.family} dst -j PALISADE-QUEUE`], `${c.name}: the jump sits between the EGRESS and INGRESS rules`);
    const without = podRules({ ...c.plan, kernelAdmit: false }, c.pods, c.family);
    t.same(lines.filter((l) => !l.startsWith('-A PALISADE-ADMIT ') && l !== JUMPS[c.family]), without, `${c.name}: nothing else differs from kernelAdmit off`);
    t.same(chainRules(c.plan, c.family), chainRules({ ...c.plan, kernelAdmit: false }, c.family), `${c.name}: the other chains are unchanged`);
  }
  t.equal(podRules(ADMIT, PODS, 4).filter((l) => l === JUMP).length, 1, 'one jump');
  t.match(podRules({ ...ADMIT, allowMark: 0x10 }, PODS, 4).join('\n'), /-j CONNMARK --set-xmark 0x10\/0x10\n.*--mark 0x10\/0x10 -j ACCEPT$/m, 'a configured allow mark');
  t.throws(() => podRules(ADMIT, { ...PODS, v4: ['fd00::1'] }, 4), /IPv4 but is IPv6/, 'a range of the other family is refused');
  t.throws(() => podRules(ADMIT, { ...PODS, ifaces: ['a b'] }, 4), /interface/, 'a bad interface is refused');
});

t.test('kernelAdmit off, without judged sets, or in TUN mode: no admission rules', async (t) => {
  const off = [
    { name: 'off', plan: NFQ, pods: PODS },
    { name: 'no judged sets', plan: ADMIT, pods: { ...PODS, judgedSets: false } },
    { name: 'TUN mode', plan: { ...TUNP, kernelAdmit: true }, pods: PODS },
  ];
  for (const c of off) {
    for (const f of [4, 6] as const) {
      const text = [...chainRules(c.plan, f), ...podRules(c.plan, c.pods, f)].join('\n');
      t.notMatch(text, 'PALISADE-ADMIT', `${c.name}, IPv${f}: no rule names the chain or the sets`);
      t.same(podRules(c.plan, c.pods, f), podRules({ ...c.plan, kernelAdmit: undefined }, c.pods, f), `${c.name}, IPv${f}: the same lines as without the option`);
    }
  }
  t.same(chainsOf(NFQ), ['PALISADE-FORWARD', 'PALISADE-ALLOW', 'PALISADE-PODS', 'PALISADE-QUEUE', 'PALISADE-NODE', 'PALISADE-DNS'], 'off: the chains as before');
  t.same(chainsOf(ADMIT), [...chainsOf(NFQ), CHAINS.ADMIT], 'on: PALISADE-ADMIT declared too');
  t.same(podChains(ADMIT), [...podChains(NFQ), CHAINS.ADMIT], 'and rewritten with the pods (its rules name them)');
  t.same(chainsOf({ ...TUNP, kernelAdmit: true }), chainsOf(TUNP), 'TUN mode: no such chain');
  t.same(podChains({ ...TUNP, kernelAdmit: true }), podChains(TUNP));
});

t.test('ruleProblems counts the chain', async (t) => {
  const plan = ADMIT, f = 4 as const;
  const good = [...chainsOf(plan).map((c) => `-N ${c}`), ...chainRules(plan, f), ...podRules(plan, PODS, f), '-A FORWARD -j PALISADE-FORWARD', '-A INPUT -j PALISADE-NODE', '-A OUTPUT -j PALISADE-NODE'].join('\n');
  t.same(ruleProblems(plan, PODS, f, palisadeLines(good)), [], 'as planned: intact');
  const missing = good.split('\n').filter((l) => l !== '-N PALISADE-ADMIT' && !l.startsWith('-A PALISADE-ADMIT ')).join('\n');
  t.same(ruleProblems(plan, PODS, f, palisadeLines(missing)), ['chain PALISADE-ADMIT missing'], 'a missing chain');
  const short = good.split('\n').filter((l) => l !== MIDSTREAM).join('\n');
  t.same(ruleProblems(plan, PODS, f, palisadeLines(short)), ['chain PALISADE-ADMIT has 7 rules, expected 8'], 'a deleted rule (mid-stream, 2 interfaces, 2 ranges, return set, set, accept)');
  const noJump = good.split('\n').filter((l) => l !== JUMP).join('\n');
  t.match(ruleProblems(plan, PODS, f, palisadeLines(noJump)), [/^chain PALISADE-PODS has \d+ rules, expected \d+$/], 'the jump counted in PALISADE-PODS');
  const noJudged = { ...PODS, judgedSets: false };
  const emptyChain = [...chainsOf(plan).map((c) => `-N ${c}`), ...chainRules(plan, f), ...podRules(plan, noJudged, f), '-A FORWARD -j PALISADE-FORWARD', '-A INPUT -j PALISADE-NODE', '-A OUTPUT -j PALISADE-NODE'].join('\n');
  t.same(ruleProblems(plan, noJudged, f, palisadeLines(emptyChain)), [], 'without judged sets the chain exists, empty');
});

for (const backend of ['nft', 'legacy'] as IptablesBackend[]) {
  t.test(`kernel: ${backend} backend`, async (t) => {
    const ns = `pal-t-${process.pid}-admr-${backend}`;
    const prefix = ['ip', 'netns', 'exec', ns];
    await must(['ip', 'netns', 'add', ns]);
    t.teardown(async () => {
      await run(['ip', 'netns', 'del', ns]);
    });
    // The sets the rules name (the agent's judged sets and admission sets create them).
    const sets = [4, 6].flatMap((f) => [
      ...['EGRESS', 'INGRESS', 'KNOWN'].map((k) => `create PALISADE-${k}${f} hash:ip family ${f === 4 ? 'inet' : 'inet6'}`),
      `create PALISADE-ADMIT${f} hash:ip,port,net family ${f === 4 ? 'inet' : 'inet6'} counters timeout 600`,
      `create PALISADE-ADMITRET${f} hash:net family ${f === 4 ? 'inet' : 'inet6'}`,
    ]);
    await must([...prefix, 'ipset', 'restore'], sets.join('\n') + '\n');
    const S = (f: Family) => listRules(backend, f, 'filter', prefix);
    const chain = async (f: Family) => (await S(f)).split('\n').filter((l) => l.startsWith('-A PALISADE-ADMIT '));

    const ipt = new Iptables({ backend, plan: ADMIT, prefix });
    await ipt.install(PODS);
    t.same(await ipt.verify(), [], 'installed as planned, both families');
    t.same(await chain(4), [
      MIDSTREAM,
      '-A PALISADE-ADMIT -i veth+ -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
      '-A PALISADE-ADMIT -i cali+ -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
      '-A PALISADE-ADMIT -s 10.1.0.0/16 -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
      '-A PALISADE-ADMIT -s 10.2.0.5/32 -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
      ...tail(4),
    ], 'IPv4 chain as iptables prints it');
    t.equal((await chain(6)).length, 7, 'IPv6 chain: mid-stream, 2 interfaces, 1 range, return set, set, accept');
    t.match(await S(4), /^-A PALISADE-PODS -m set --match-set PALISADE-EGRESS4 src -j PALISADE-QUEUE\n-A PALISADE-PODS -m set --match-set PALISADE-INGRESS4 dst -m conntrack --ctstate NEW -j PALISADE-ADMIT\n-A PALISADE-PODS -m set --match-set PALISADE-INGRESS4 dst/m, 'the jump between the EGRESS and INGRESS rules');

    t.equal(await ipt.setPods({ ...PODS, ifaces: ['pod+'], v4: ['10.9.0.0/24'] }), true, 'pods changed');
    t.same((await chain(4)).slice(1, 3), [
      '-A PALISADE-ADMIT -i pod+ -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
      '-A PALISADE-ADMIT -s 10.9.0.0/24 -m set ! --match-set PALISADE-KNOWN4 src -j RETURN',
    ], 'setPods rewrote the chain');
    t.equal((await chain(4)).length, 6, 'replaced, not appended to');
    t.same(await ipt.verify(), [], 'still intact');

    await must([...prefix, backend === 'nft' ? 'iptables-nft' : 'iptables-legacy', '-D', 'PALISADE-ADMIT', '1']);
    t.match((await ipt.verify())[0]?.problems ?? [], [/^chain PALISADE-ADMIT altered/], 'the watchdog sees a deleted rule');
    await ipt.reinstall();
    t.same(await ipt.verify(), [], 'reinstall puts it back');

    await new Iptables({ backend, plan: NFQ, prefix }).install(PODS);
    for (const f of [4, 6] as const) t.notMatch(await S(f), 'PALISADE-ADMIT', `IPv${f}: kernelAdmit off removes the chain and the jump`);

    await new Iptables({ backend, plan: ADMIT, prefix }).install(PODS);
    await removeAll(backend, prefix);
    for (const f of [4, 6] as const) t.notMatch(await S(f), 'PALISADE', `IPv${f}: removal leaves nothing`);
    t.equal((await must([...prefix, 'ipset', 'list', '-n'])).split('\n').filter((l) => l === 'PALISADE-ADMIT4').length, 1, 'the sets are not the rules\' to remove');
  });
}
