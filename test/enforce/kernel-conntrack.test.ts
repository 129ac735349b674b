// Strict mode and the rule watchdog, off the kernel: reading `conntrack -L -o extended` lines
// (including odd and hostile ones), the exact delete arguments, judging kernel flows with a
// compiled snapshot (local pods only, DNAT-aware), and spotting flushed / altered rules.

import t from 'tap';
import { ClusterState } from '../../src/cluster/state.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { deleteArgs, parseConntrackExtended, type KernelFlow } from '../../src/enforce/kernel-conntrack.ts';
import { judgeKernelFlow } from '../../src/enforce/flow-cutter.ts';
import { chainRules, hooks, palisadeLines, podRules, ruleProblems, type RulePlan } from '../../src/enforce/iptables.ts';

t.test('parsing conntrack -o extended', async (t) => {
  const cases: { name: string; line: string; want?: Partial<KernelFlow>; bad?: boolean }[] = [
    {
      name: 'tcp, assured, marked',
      line: 'ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=43210 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=43210 [ASSURED] mark=33554432 use=1',
      want: { family: 4, proto: 6, protoName: 'tcp', state: 'ESTABLISHED', mark: 0x2000000, original: { src: '10.0.0.1', dst: '10.0.0.2', sport: 43210, dport: 80 }, reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 43210 } },
    },
    {
      name: 'udp unreplied, zone',
      line: 'ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.3 sport=5000 dport=53 [UNREPLIED] src=10.0.0.3 dst=10.0.0.1 sport=53 dport=5000 mark=33554433 zone=7 use=1',
      want: { proto: 17, mark: 0x2000001, zone: 7, original: { src: '10.0.0.1', dst: '10.0.0.3', sport: 5000, dport: 53 } },
    },
    {
      name: 'DNAT: the reply comes from the backend',
      line: 'ipv4     2 tcp      6 100 ESTABLISHED src=10.0.0.1 dst=10.96.0.10 sport=43210 dport=53 src=10.0.0.2 dst=10.0.0.1 sport=8053 dport=43210 [ASSURED] mark=33554432 use=1',
      want: { original: { src: '10.0.0.1', dst: '10.96.0.10', sport: 43210, dport: 53 }, reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 8053, dport: 43210 } },
    },
    {
      name: 'icmp echo',
      line: 'ipv4     2 icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=77 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=77 mark=33554432 use=1',
      want: { proto: 1, original: { src: '10.0.0.1', dst: '10.0.0.2', icmpType: 8, icmpCode: 0, icmpId: 77 } },
    },
    {
      name: 'ipv6 tcp',
      line: 'ipv6     10 tcp      6 99 ESTABLISHED src=fd00::1 dst=fd00::2 sport=1234 dport=80 src=fd00::2 dst=fd00::1 sport=80 dport=1234 [ASSURED] mark=33554432 use=1',
      want: { family: 6, original: { src: 'fd00::1', dst: 'fd00::2', sport: 1234, dport: 80 } },
    },
    { name: 'one tuple only', line: 'ipv4     2 tcp      6 99 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 mark=0 use=1', bad: true },
    { name: 'three tuples', line: 'ipv4 2 tcp 6 9 src=1.1.1.1 dst=1.1.1.2 src=1.1.1.2 dst=1.1.1.1 src=1.1.1.3 dst=1.1.1.1 mark=0', bad: true },
    { name: 'unknown family', line: 'bridge 7 tcp 6 99 src=a dst=b src=b dst=a', bad: true },
    { name: 'protocol number out of range', line: 'ipv4 2 tcp 999 99 src=10.0.0.1 dst=10.0.0.2 src=10.0.0.2 dst=10.0.0.1', bad: true },
    { name: 'garbage', line: 'hello world', bad: true },
  ];
  for (const c of cases) {
    const r = parseConntrackExtended(`${c.line}\n`);
    if (c.bad) {
      t.equal(r.flows.length, 0, `${c.name}: not a flow`);
      t.equal(r.bad.length, 1, `${c.name}: reported`);
    } else {
      t.equal(r.bad.length, 0, `${c.name}: read`);
      t.match(r.flows[0], c.want!, c.name);
    }
  }
  const empty = parseConntrackExtended('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n\n');
  t.same(empty, { flows: [], bad: [] }, 'the summary line and blank lines are not flows');
});

t.test('delete arguments name exactly one entry', async (t) => {
  const [tcp, udp, , icmp, v6] = parseConntrackExtended([
    'ipv4 2 tcp 6 9 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=43210 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=43210 mark=33554432 use=1',
    'ipv4 2 udp 17 9 src=10.0.0.1 dst=10.0.0.3 sport=5000 dport=53 src=10.0.0.3 dst=10.0.0.1 sport=53 dport=5000 mark=33554432 zone=7 use=1',
    'ipv4 2 tcp 6 9 ESTABLISHED src=10.0.0.1 dst=10.96.0.10 sport=1 dport=53 src=10.0.0.2 dst=10.0.0.1 sport=8053 dport=1 mark=0',
    'ipv4 2 icmp 1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=77 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=77 mark=33554432 use=1',
    'ipv6 10 icmpv6 58 29 src=fd00::1 dst=fd00::2 type=128 code=0 id=9 src=fd00::2 dst=fd00::1 type=129 code=0 id=9 mark=33554432 use=1',
  ].join('\n')).flows;
  const m = { mark: 0x2000000, mask: 0x2000000 };
  t.same(deleteArgs(tcp!, m), ['-D', '-f', 'ipv4', '-s', '10.0.0.1', '-d', '10.0.0.2', '-p', 'tcp', '--sport', '43210', '--dport', '80', '-m', '0x2000000/0x2000000']);
  t.same(deleteArgs(udp!), ['-D', '-f', 'ipv4', '-s', '10.0.0.1', '-d', '10.0.0.3', '-p', 'udp', '--sport', '5000', '--dport', '53', '-w', '7'], 'zone kept, no mark filter when not asked');
  t.same(deleteArgs(icmp!, m).slice(8), ['icmp', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '77', '-m', '0x2000000/0x2000000']);
  t.same(deleteArgs(v6!).slice(1, 3), ['-f', 'ipv6']);
  t.same(deleteArgs(v6!).slice(8), ['icmpv6', '--icmpv6-type', '128', '--icmpv6-code', '0', '--icmpv6-id', '9']);
});

t.test('judging kernel flows with a compiled snapshot', async (t) => {
  const st = new ClusterState();
  const pod = (name: string, node: string, ip: string, ip6: string, role: string) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'x', name, labels: { role } },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }, { ip: ip6 }] },
  });
  for (const o of [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } },
    pod('a', 'n1', '10.9.0.1', 'fd09::1', 'client'),
    pod('b', 'n1', '10.9.0.2', 'fd09::2', 'server'),
    pod('r', 'n2', '10.9.0.3', 'fd09::3', 'server'),
    {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'servers' },
      spec: { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 80 }] }] },
    },
  ]) applyDecoded(st, decodeObject(o));
  const snap = new CompiledEngine(st, { localNode: 'n1' }).snapshot();
  const flow = (line: string) => parseConntrackExtended(line).flows[0]!;
  const tcp = (s: string, d: string, dport: number, rs = d, rsport = dport) => flow(`ipv4 2 tcp 6 9 ESTABLISHED src=${s} dst=${d} sport=40000 dport=${dport} src=${rs} dst=${s} sport=${rsport} dport=40000 mark=33554432`);
  const cases: { name: string; f: KernelFlow; afterDnat?: boolean; want: boolean | undefined }[] = [
    { name: 'client -> local server:80 allowed', f: tcp('10.9.0.1', '10.9.0.2', 80), want: true },
    { name: 'client -> local server:81 denied', f: tcp('10.9.0.1', '10.9.0.2', 81), want: false },
    { name: 'a pod talking to itself is allowed', f: tcp('10.9.0.2', '10.9.0.2', 80), want: true },
    { name: 'remote pod -> local server denied', f: tcp('10.9.0.3', '10.9.0.2', 80), want: false },
    { name: 'local client -> remote server: egress not isolated, ingress judged elsewhere', f: tcp('10.9.0.1', '10.9.0.3', 81), want: true },
    { name: 'no local pod on either side: not judged here', f: tcp('10.50.0.1', '10.9.0.3', 81), want: undefined },
    { name: 'DNAT to the server port 80 (NFQUEUE sees the backend)', f: tcp('10.9.0.1', '10.96.0.10', 53, '10.9.0.2', 80), want: true },
    { name: 'DNAT to the server port 81', f: tcp('10.9.0.1', '10.96.0.10', 80, '10.9.0.2', 81), want: false },
    { name: 'DNAT judged before translation (TUN): the service address is no pod', f: tcp('10.9.0.1', '10.96.0.10', 80, '10.9.0.2', 81), afterDnat: false, want: true },
    { name: 'IPv6 denied', f: flow('ipv6 10 tcp 6 9 ESTABLISHED src=fd09::3 dst=fd09::2 sport=1 dport=80 src=fd09::2 dst=fd09::3 sport=80 dport=1 mark=33554432'), want: false },
    { name: 'IPv6 allowed', f: flow('ipv6 10 tcp 6 9 ESTABLISHED src=fd09::1 dst=fd09::2 sport=1 dport=80 src=fd09::2 dst=fd09::1 sport=80 dport=1 mark=33554432'), want: true },
    { name: 'ICMP to an isolated server: port-less, only port-less rules match', f: flow('ipv4 2 icmp 1 29 src=10.9.0.1 dst=10.9.0.2 type=8 code=0 id=7 src=10.9.0.2 dst=10.9.0.1 type=0 code=0 id=7 mark=33554432'), want: false },
    { name: 'unreadable address', f: flow('ipv4 2 tcp 6 9 src=10.9.0.1 dst=nonsense sport=1 dport=80 src=nonsense dst=10.9.0.1 sport=80 dport=1 mark=0'), want: undefined },
  ];
  for (const c of cases) {
    const j = judgeKernelFlow(snap, c.f, c.afterDnat ?? true);
    t.equal(j?.allowed, c.want, c.name);
  }
  const j = judgeKernelFlow(snap, tcp('10.9.0.3', '10.9.0.2', 80), true)!;
  t.equal(snap.podName(j.dstSlot), 'x/b', 'judged flows carry the pod slots for the log');
  t.equal(j.port, 80);
});

t.test('rule problems: intact, flushed, missing jump, altered', async (t) => {
  const plan: RulePlan = { mode: 'nfqueue', allowMark: 0x2000000, queue: 3, queues: 1, failOpen: false, strict: true };
  const pods = { ifaces: [], v4: ['10.9.0.2'], v6: [] };
  const h = hooks('nfqueue')[0]!;
  // PALISADE-NODE is hooked into INPUT and OUTPUT and empty while no cluster policy could judge node traffic.
  const good = [
    '-P FORWARD ACCEPT', '-N PALISADE-FORWARD', '-N PALISADE-ALLOW', '-N PALISADE-PODS', '-N PALISADE-QUEUE', '-N PALISADE-NODE', '-N PALISADE-DNS',
    `-A FORWARD -m comment --comment "x" -j ${h.target}`, '-A FORWARD -p tcp --dport 7 -j ACCEPT',
    '-A INPUT -m comment --comment "y" -j PALISADE-NODE', '-A OUTPUT -m comment --comment "z" -j PALISADE-NODE',
    ...chainRules(plan), ...podRules(plan, pods, 4).map((l) => l.replace(/ -([sd]) (\S+) /, ' -$1 $2/32 ')),
  ].join('\n');
  const base = palisadeLines(good);
  t.same(ruleProblems(plan, pods, 4, base), [], 'intact (counts match the plan)');
  t.same(ruleProblems(plan, pods, 4, base, base), [], 'intact (same as baseline)');
  t.same(base.jumps, [`-A FORWARD -m comment --comment "x" -j ${h.target}`, '-A INPUT -m comment --comment "y" -j PALISADE-NODE', '-A OUTPUT -m comment --comment "z" -j PALISADE-NODE'], 'foreign rules are not ours');
  const withNode = { ...pods, nodeTraffic: true };
  t.match(ruleProblems(plan, withNode, 4, base), ['chain PALISADE-NODE has 0 rules, expected 4'], 'node traffic judged: PALISADE-NODE must hold its four rules');
  const without = (re: RegExp) => palisadeLines(good.split('\n').filter((l) => !re.test(l)).join('\n'));
  // A domainNames subject pod: PALISADE-NODE sends node-local DNS answers to PALISADE-DNS (issue 16).
  const withDns = { ...pods, dns: { v4: ['10.9.0.2'], v6: [] } };
  const dnsGood = [good, ...podRules(plan, withDns, 4).filter((l) => /PALISADE-(NODE|DNS) /.test(l)).map((l) => l.replace(/ -d (\S+) /, ' -d $1/32 '))].join('\n');
  const dnsBase = palisadeLines(dnsGood);
  t.same(ruleProblems(plan, withDns, 4, dnsBase, dnsBase), [], 'domainNames pods: intact');
  t.same(ruleProblems(plan, withDns, 4, palisadeLines(dnsGood.replace(/\n-A PALISADE-NODE -p udp .*/, '')), dnsBase), ['chain PALISADE-NODE altered (1 rules, expected 2)'], 'the node-local DNS jump deleted');
  t.same(ruleProblems(plan, withDns, 4, palisadeLines(dnsGood.replace(/\n-A PALISADE-NODE -p udp .*/, '')), undefined), ['chain PALISADE-NODE has 1 rules, expected 2'], 'the node-local DNS jump deleted (no baseline)');
  t.same(ruleProblems(plan, withDns, 4, base), ['chain PALISADE-NODE has 0 rules, expected 2', 'chain PALISADE-DNS has 0 rules, expected 1'], 'DNS rules never installed');
  t.match(ruleProblems(plan, pods, 4, without(/^-A OUTPUT .*PALISADE/), base), ['jump OUTPUT -> PALISADE-NODE missing']);
  t.match(ruleProblems(plan, pods, 4, without(/^-A FORWARD .*PALISADE/), base), ['jump FORWARD -> PALISADE-FORWARD missing']);
  t.match(ruleProblems(plan, pods, 4, without(/^-A PALISADE-PODS/), base), [/chain PALISADE-PODS altered \(0 rules, expected 2\)/]);
  t.same(ruleProblems(plan, pods, 4, without(/PALISADE-QUEUE/), base), ['chain PALISADE-PODS altered (0 rules, expected 2)', 'chain PALISADE-QUEUE missing'], 'a deleted chain (and the rules jumping to it)');
  const altered = palisadeLines(good.replace(/-A PALISADE-QUEUE -j NFQUEUE.*/, '-A PALISADE-QUEUE -j ACCEPT'));
  t.match(ruleProblems(plan, pods, 4, altered, base), [/chain PALISADE-QUEUE altered \(2 rules, expected 2\)/], 'same count, different rule');
  t.match(ruleProblems(plan, pods, 4, palisadeLines('-P FORWARD ACCEPT')), [
    'chain PALISADE-FORWARD missing', 'chain PALISADE-ALLOW missing', 'chain PALISADE-PODS missing', 'chain PALISADE-QUEUE missing', 'chain PALISADE-NODE missing', 'chain PALISADE-DNS missing',
    'jump FORWARD -> PALISADE-FORWARD missing', 'jump INPUT -> PALISADE-NODE missing', 'jump OUTPUT -> PALISADE-NODE missing',
  ]);
  t.match(chainRules(plan).join('\n'), /-A PALISADE-QUEUE -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack --ctstate NEW -j DROP\n-A PALISADE-QUEUE -j NFQUEUE/, 'strict: mid-stream NEW TCP is dropped before the queue');
  t.notMatch(chainRules({ ...plan, strict: false }).join('\n'), /tcp-flags/, 'not without strict');
  t.match(chainRules({ ...plan, mode: 'tun', tunDevice: 't0', divertMark: 0x4000000 }).join('\n'), /-A PALISADE-DIVERT -p tcp .* -j DROP\n-A PALISADE-DIVERT -j MARK/, 'tun strict: dropped before the divert mark');
});
