// Kernel admission on the routed path, without an agent: a node namespace forwarding between pod
// namespaces (support/netns.ts), Palisade's NFQUEUE rules with kernelAdmit (src/enforce/rule-plan.ts)
// and the admission sets (src/enforce/admit-sets.ts, driven by support/admit-sets-probe.ts in the
// node). Nobody listens on the queue, so whatever is queued is dropped (fail-closed): a
// connection gets through only if PALISADE-ADMIT accepted it. Checked: what the entries admit
// (network, nomatch exception, ports, UDP, IPv6), that a source in the pod ranges no known pod
// holds is never admitted, that the flow carries the allow connmark, exact connection counts,
// and that empty() stops admission.

import t from 'tap';
import { Iptables, type RulePlan } from '../../src/enforce/iptables.ts';
import { Topology, PODS, must } from '../../support/netns.ts';
import { AdmitProbe, type ProbeAnswer } from '../../support/admit-sets-driver.ts';
import type { AdmitEntry, ReturnEntry } from '../../src/enforce/admit-sets.ts';

const topo = new Topology('admitp');
t.teardown(() => topo.down());
const plan: RulePlan = { mode: 'nfqueue', allowMark: 0x2000000, queue: 53, queues: 1, failOpen: false, kernelAdmit: true };
const w4 = (ip: string) => [ip.split('.').reduce((a, b) => a * 256 + Number(b), 0)];
const B = w4(PODS.b.v4);
const d = (egress: number) => ({ context: 'g1', egress, ingress: 0 });

t.test('admitted on the routed path', async (t) => {
  await topo.up();
  for (const port of [8080, 8081]) await topo.servers('b', port);
  const node = ['ip', 'netns', 'exec', topo.node];
  // The judged sets as the agent would fill them: b judged for ingress; every pod known.
  const judged = [4, 6].flatMap((f) => ['EGRESS', 'INGRESS', 'KNOWN'].map((k) => `create PALISADE-${k}${f} hash:ip family ${f === 4 ? 'inet' : 'inet6'}`));
  const members = ['add PALISADE-INGRESS4 10.77.2.2', 'add PALISADE-INGRESS6 fd77:2::2', ...(['a', 'b', 'c'] as const).flatMap((p) => [`add PALISADE-KNOWN4 ${PODS[p].v4}`, `add PALISADE-KNOWN6 ${PODS[p].v6}`])];
  await must([...node, 'ipset', 'restore'], [...judged, ...members].join('\n') + '\n');
  const p = await AdmitProbe.start(topo.node);
  t.teardown(() => p.kill());
  const ipt = new Iptables({ backend: 'nft', plan, prefix: node });
  await ipt.install({ ifaces: ['va', 'vb', 'vc'], v4: ['10.77.0.0/16'], v6: ['fd77::/16'], judgedSets: true });

  t.notOk(await topo.tcp('a', 'b', 8080), 'no entries yet: a -> b:8080 is queued, and dropped');

  const entries: AdmitEntry[] = [
    { family: 4, dst: B, proto: 6, portFrom: 8080, portTo: 8081, src: w4('10.77.0.0'), prefix: 16, nomatch: false, decision: d(1) },
    { family: 4, dst: B, proto: 6, portFrom: 8080, portTo: 8080, src: w4(PODS.c.v4), prefix: 32, nomatch: true },
    { family: 4, dst: B, proto: 17, portFrom: 8080, portTo: 8080, src: w4('10.77.1.0'), prefix: 24, nomatch: false, decision: d(2) },
    { family: 6, dst: [0xfd770002 | 0, 0, 0, 2], proto: 6, portFrom: 8080, portTo: 8080, src: [0xfd770001 | 0, 0, 0, 0], prefix: 64, nomatch: false, decision: d(3) },
  ];
  t.equal((await p.send({ op: 'install', entries, current: true })).result, 'installed');

  await t.test('what the entries admit', async (t) => {
    for (let i = 0; i < 3; i++) t.ok(await topo.tcp('a', 'b', 8080), `a -> b:8080 admitted (${i + 1})`);
    t.notOk(await topo.tcp('c', 'b', 8080), 'c -> b:8080: the nomatch exception inside the /16 sends it to the queue');
    t.ok(await topo.tcp('c', 'b', 8081), 'c -> b:8081: admitted by the /16');
    t.ok(await topo.udp('a', 'b', 8080), 'UDP a -> b:8080 admitted, its answer follows');
    t.notOk(await topo.udp('c', 'b', 8080), 'UDP from c: no entry');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6 a -> b:8080 admitted');
    t.notOk(await topo.tcp('c', 'b', 8080, 6), 'IPv6 from c: outside the /64');
  });

  await t.test('an admitted flow carries the allow connmark', async (t) => {
    const ct = await must([...node, 'conntrack', '-L', '-p', 'tcp', '--orig-src', PODS.a.v4, '--dport', '8080']);
    t.match(ct, /mark=33554432/, 'connmark 0x2000000: PALISADE-FORWARD accepts the rest of the flow, strict mode sees it as allowed');
  });

  await t.test('exact connection counts on their decisions', async (t) => {
    // The sets' own read timer (1 s) may have handed on part of it already: summed.
    const r: ProbeAnswer = await p.send({ op: 'read' });
    const got: Record<string, number> = {};
    for (const c of r.counted ?? []) got[`${c.egress} ${c.proto}:${c.port}`] = (got[`${c.egress} ${c.proto}:${c.port}`] ?? 0) + c.n;
    t.same(got, { '1 6:8080': 3, '1 6:8081': 1, '2 17:8080': 1, '3 6:8080': 1 }, 'one per connection (the rest of each flow never reaches the set); refused SYNs of c are not counted');
  });

  await t.test('a source in the pod ranges that no known pod holds is never admitted', async (t) => {
    await must([...node, 'ipset', 'del', 'PALISADE-KNOWN4', PODS.c.v4]);
    t.notOk(await topo.tcp('c', 'b', 8081), 'c unknown: judged (queued, dropped) though the /16 entry covers it');
    await must([...node, 'ipset', 'add', 'PALISADE-KNOWN4', PODS.c.v4]);
    t.ok(await topo.tcp('c', 'b', 8081), 'known again: admitted');
  });

  await t.test('empty() stops admission', async (t) => {
    t.same((await p.send({ op: 'empty' })).error, undefined);
    t.notOk(await topo.tcp('a', 'b', 8080), 'a -> b:8080 queued, and dropped');
    t.notOk(await topo.tcp('a', 'b', 8080, 6), 'IPv6 too');
    const r = await p.send({ op: 'read' });
    t.same((r.counted ?? []).map((c) => [c.port, c.n]), [[8081, 1]], 'the last count (c, known again) read from the swapped-out set');
  });

  await t.test('a source in the cluster\'s pod ranges that no pod holds is never admitted (the return set)', async (t) => {
    // Only b is this node's now (its interface and range); a and c stand for pods of other nodes,
    // inside a cluster pod range the entries name as a network.
    await ipt.setPods({ ifaces: ['vb'], v4: ['10.77.2.0/24'], v6: ['fd77:2::/64'], judgedSets: true });
    const ranged: AdmitEntry[] = [{ family: 4, dst: B, proto: 6, portFrom: 8080, portTo: 8080, src: w4('10.77.0.0'), prefix: 16, nomatch: false, decision: d(4) }];
    const known = (...ips: string[]): ReturnEntry[] => [
      { family: 4, words: w4('10.77.0.0'), prefix: 16, nomatch: false },
      ...ips.map((ip) => ({ family: 4 as const, words: w4(ip), prefix: 32, nomatch: true })),
    ];
    t.equal((await p.send({ op: 'install', entries: ranged, returns: known(PODS.a.v4), current: true })).result, 'installed');
    t.ok(await topo.tcp('a', 'b', 8080), 'a, a known address of the range: admitted by the range entry');
    t.notOk(await topo.tcp('c', 'b', 8080), 'c, an address of the range no pod holds: returned to the queue (dropped) though the range entry covers it');
    t.equal((await p.send({ op: 'install', entries: ranged, returns: known(PODS.a.v4, PODS.c.v4), current: true })).result, 'installed');
    t.ok(await topo.tcp('c', 'b', 8080), 'c known: admitted');
    t.equal((await p.send({ op: 'install', entries: ranged, current: true })).result, 'installed');
    t.ok(await topo.tcp('c', 'b', 8080), 'no return set members: the range is no return');
  });

  await ipt.remove();
  t.same((await p.send({ op: 'close' })).sets?.filter((n) => n.startsWith('PALISADE-ADMIT')), [], 'sets destroyed once the rules are gone');
});
