// `--iptables auto`: the backend is read from the node's tables, not from `iptables -V` (which in
// the image always says nft). Each case places rules in one backend or both, in a fresh network
// namespace of its own, and checks which backend is chosen and the reason given.

import t from 'tap';
import { chooseBackend, countSave, pickBackend } from '../../src/enforce/iptables-backend.ts';
import { listRules, removeAll } from '../../src/enforce/iptables.ts';
import { join } from 'node:path';
import { Topology, clusterYaml, must, run, serverPolicy, startAgent, upWithServers, waitFor } from '../../support/netns.ts';

type Cmd = readonly string[];
const cases: { name: string; setup: Cmd[]; want: 'nft' | 'legacy'; reason: RegExp; stale?: 'nft' | 'legacy' }[] = [
  { name: 'both empty: nft', setup: [], want: 'nft', reason: /nft is the default/ },
  {
    name: 'rules only in legacy: legacy',
    setup: [['iptables-legacy', '-A', 'FORWARD', '-s', '10.9.0.0/16', '-j', 'ACCEPT'], ['iptables-legacy', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.9.0.0/16', '-j', 'MASQUERADE']],
    want: 'legacy',
    reason: /legacy tables hold more rules \(legacy: 2 rules; nft: 0 rules\)/,
  },
  {
    name: 'IPv6 rules count too',
    setup: [['ip6tables-legacy', '-A', 'INPUT', '-s', 'fd00::/8', '-j', 'ACCEPT']],
    want: 'legacy',
    reason: /legacy: 1 rules/,
  },
  {
    name: 'more rules in nft than in legacy: nft',
    setup: [['iptables-legacy', '-A', 'FORWARD', '-j', 'ACCEPT'], ['iptables-nft', '-A', 'FORWARD', '-s', '10.1.0.0/16', '-j', 'ACCEPT'], ['iptables-nft', '-A', 'FORWARD', '-d', '10.1.0.0/16', '-j', 'ACCEPT']],
    want: 'nft',
    reason: /nft tables hold more rules \(legacy: 1 rules; nft: 2 rules\)/,
  },
  {
    name: 'kube-proxy chains in legacy outweigh more rules in nft',
    setup: [['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES'], ['iptables-nft', '-A', 'FORWARD', '-j', 'ACCEPT'], ['iptables-nft', '-A', 'INPUT', '-j', 'ACCEPT']],
    want: 'legacy',
    reason: /only the legacy tables hold KUBE-\* chains/,
  },
  {
    name: 'the kubelet\'s hint chain in nft outweighs kube-proxy chains in legacy',
    setup: [['iptables-nft', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT'], ['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES'], ['iptables-legacy', '-A', 'FORWARD', '-j', 'ACCEPT']],
    want: 'nft',
    reason: /only the nft tables hold the kubelet's marker chains .*kubelet chains KUBE-IPTABLES-HINT/,
  },
  {
    name: 'the kubelet\'s canary in legacy (IPv6 only): legacy',
    setup: [['ip6tables-legacy', '-t', 'mangle', '-N', 'KUBE-KUBELET-CANARY'], ['iptables-nft', '-A', 'FORWARD', '-j', 'ACCEPT']],
    want: 'legacy',
    reason: /only the legacy tables hold the kubelet's marker chains/,
  },
  {
    name: 'Palisade chains left in legacy do not count, and are reported as stale',
    setup: [
      ['iptables-legacy', '-N', 'PALISADE-FORWARD'], ['iptables-legacy', '-A', 'PALISADE-FORWARD', '-j', 'RETURN'],
      ['iptables-legacy', '-A', 'PALISADE-FORWARD', '-s', '10.0.0.1', '-j', 'RETURN'], ['iptables-legacy', '-I', 'FORWARD', '1', '-j', 'PALISADE-FORWARD'],
      ['iptables-nft', '-A', 'FORWARD', '-j', 'ACCEPT'],
    ],
    want: 'nft',
    reason: /nft tables hold more rules \(legacy: 0 rules; nft: 1 rules\)/,
    stale: 'legacy',
  },
];

let n = 0;
for (const c of cases) {
  t.test(c.name, async (t) => {
    const ns = `pal-t-${process.pid}-ipb${n++}`;
    const prefix = ['ip', 'netns', 'exec', ns];
    await must(['ip', 'netns', 'add', ns]);
    t.teardown(async () => { await run(['ip', 'netns', 'del', ns]); });
    for (const cmd of c.setup) await must([...prefix, cmd[0]!, '-w', '5', ...cmd.slice(1)]);
    const choice = await chooseBackend('auto', prefix);
    t.equal(choice.backend, c.want, 'backend');
    t.match(choice.reason, c.reason, 'reason');
    t.equal(choice.stale, c.stale, 'stale Palisade chains reported');
    if (c.stale) {
      await removeAll(c.stale, prefix);
      t.notMatch(await listRules(c.stale, 4, 'filter', prefix), /PALISADE/, 'removeAll clears the stale backend');
      t.match(await listRules(c.stale, 4, 'filter', prefix), /-P FORWARD ACCEPT/, 'the table itself stays');
    }
  });
}

t.test('an explicit backend is taken as given, even against the node\'s rules', async (t) => {
  const ns = `pal-t-${process.pid}-ipbx`;
  const prefix = ['ip', 'netns', 'exec', ns];
  await must(['ip', 'netns', 'add', ns]);
  t.teardown(async () => { await run(['ip', 'netns', 'del', ns]); });
  await must([...prefix, 'iptables-nft', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT']);
  t.same(await chooseBackend('legacy', prefix), { backend: 'legacy', reason: '--iptables legacy given' });
});

t.test('counting save output', async (t) => {
  const text = [
    '*mangle', ':PREROUTING ACCEPT [0:0]', ':KUBE-IPTABLES-HINT - [0:0]', ':KUBE-KUBELET-CANARY - [0:0]', 'COMMIT',
    '*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-POSTROUTING - [0:0]', '-A POSTROUTING -j KUBE-POSTROUTING', 'COMMIT',
    '*filter', ':PALISADE-FORWARD - [0:0]', '-A FORWARD -m comment --comment "palisade" -j PALISADE-FORWARD', '-A PALISADE-FORWARD -j RETURN', '-A FORWARD -j ACCEPT', 'COMMIT',
    '# Warning: iptables-legacy tables present, use iptables-legacy-save to see them',
  ].join('\n');
  t.same(countSave('nft', text), { backend: 'nft', kubeletChains: ['KUBE-IPTABLES-HINT', 'KUBE-KUBELET-CANARY'], kubeChains: 2, rules: 2, palisadeChains: 1, failed: [] });
  const none = countSave('legacy', '', ['iptables-legacy-save']);
  t.equal(pickBackend(none, countSave('nft', '')).backend, 'nft');
  t.match(pickBackend(none, countSave('nft', '')).reason, /unreadable: iptables-legacy-save/, 'a save that failed is named');
});

t.test('the agent on a node whose kube-proxy writes legacy rules: installs there, enforces, says why', async (t) => {
  const topo = new Topology('ipbagent');
  t.teardown(() => topo.down());
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml('n1', [8080]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  const node = (argv: string[]) => must(topo.in(topo.node, argv));
  await node(['iptables-legacy', '-w', '5', '-t', 'nat', '-N', 'KUBE-SERVICES']);
  // A previous agent's leftovers on the other backend (e.g. one that read `iptables -V`).
  await node(['iptables-nft', '-w', '5', '-N', 'PALISADE-FORWARD']);
  await node(['iptables-nft', '-w', '5', '-I', 'FORWARD', '1', '-j', 'PALISADE-FORWARD']);
  const agent = await startAgent(topo, ['--node', 'n1', '--manifests', dir, '--backend', 'nfqueue', '--queue', '43', '--no-strict'], join(topo.dir, 'status.json'));
  t.match(agent.log(), /iptables backend legacy: only the legacy tables hold KUBE-\* chains/, 'the choice and its reason are logged');
  t.match(agent.log(), /removed Palisade chains left on the nft backend/);
  t.match(await node(['iptables-legacy', '-w', '5', '-S', 'FORWARD']), /-j PALISADE-FORWARD/, 'rules installed in legacy');
  t.notMatch(await node(['iptables-nft', '-w', '5', '-S']), /PALISADE/, 'none left in nft');
  t.ok(await topo.tcp('a', 'b', 8080, 4), 'allowed connection passes');
  t.notOk(await topo.tcp('c', 'b', 8080, 4), 'denied connection is dropped');
  agent.proc.kill('SIGTERM');
  await waitFor('agent exit', () => agent.proc.exitCode !== null, 20_000);
  t.notMatch(await node(['iptables-legacy', '-w', '5', '-S']), /PALISADE/, 'removed on exit');
});
