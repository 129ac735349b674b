// `palisade cleanup` on the real kernel: an agent that installs all it can (judged sets, verdict
// cache, kernel admission, DNS rules, the source guard in each layout, the TUN backend's devices
// and routing) is killed with SIGKILL, as a --keep-rules agent dies, and the command run inside
// the node namespace must leave nothing of Palisade's (iptables and ip6tables on both backends,
// ipsets, nft tables, tc filters on the pod veths, links, ip rules and routes) while a foreign
// chain, ipset, nft table, tc filter and ip rules (also at the TUN backend's preferences) stay.
// It refuses while the agent runs, removes nothing on --dry-run or without --yes, and a second
// run has nothing to do.

import t from 'tap';
import { join } from 'node:path';
import { ROOT, Topology, clusterYaml, serverPolicy, startAgent, must, run, waitFor, upWithServers, PODS } from '../../support/netns.ts';
import { domainNamesPolicy } from '../../support/dns-lab-policy.ts';

const NODE = 'n1';
const QUEUE = 47;
const topo = new Topology('cln');
t.teardown(() => topo.down());

/** What the kernel holds, per tool, in text that does not change by itself (no counters, no dates). */
async function kernelState(): Promise<Record<string, string>> {
  const cmds: Record<string, string[]> = {};
  for (const b of ['nft', 'legacy']) for (const base of ['iptables', 'ip6tables']) cmds[`${base}-${b}-save`] = [`${base}-${b}-save`];
  cmds['ipset list -n'] = ['ipset', 'list', '-n'];
  cmds['nft list tables'] = ['nft', 'list', 'tables'];
  for (const p of Object.values(PODS)) cmds[`tc filter ${p.nodeIf}`] = ['tc', 'filter', 'show', 'dev', p.nodeIf, 'ingress'];
  for (const f of ['-4', '-6']) {
    cmds[`ip ${f} rule`] = ['ip', f, 'rule', 'show'];
    cmds[`ip ${f} route table all`] = ['ip', f, 'route', 'show', 'table', 'all'];
  }
  cmds.links = ['ip', '-o', 'link', 'show'];
  const out: Record<string, string> = {};
  for (const [k, argv] of Object.entries(cmds)) {
    const r = await run(topo.in(topo.node, argv));
    out[k] = r.stdout.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '').replace(/ state \S+/, '').replace(/NO-CARRIER,|,LOWER_UP| linkdown/g, '')).join('\n');
  }
  return out;
}

/** Every line of the state that is Palisade's (empty when clean). */
function palisadeLines(s: Record<string, string>): string[] {
  const ours = /PALISADE|palisade|lookup 707[78]\b|table 707[78]\b/;
  return Object.entries(s).flatMap(([k, text]) => text.split('\n').filter((l) => ours.test(l)).map((l) => `${k}: ${l}`));
}

function cleanup(args: string[]) {
  return run(topo.in(topo.node, ['node', join(ROOT, 'bin', 'palisade.js'), 'cleanup', ...args]), undefined, 120_000);
}

/** Objects of other programs that must outlive every cleanup, and how each shows in kernelState. */
const FOREIGN: { add: string[][]; shows: [string, RegExp] }[] = [
  { add: [['iptables-nft', '-N', 'OTHER-CHAIN'], ['iptables-nft', '-A', 'FORWARD', '-p', 'tcp', '--dport', '7', '-j', 'OTHER-CHAIN']], shows: ['iptables-nft-save', /-A FORWARD -p tcp -m tcp --dport 7 -j OTHER-CHAIN/] },
  { add: [['ip6tables-nft', '-N', 'OTHER-CHAIN6']], shows: ['ip6tables-nft-save', /^:OTHER-CHAIN6 /m] },
  { add: [['iptables-legacy', '-N', 'OTHER-LEGACY'], ['iptables-legacy', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', '9', '-j', 'ACCEPT']], shows: ['iptables-legacy-save', /^-A PREROUTING -p udp -m udp --dport 9 -j ACCEPT$/m] },
  { add: [['ipset', 'create', 'other-set', 'hash:ip']], shows: ['ipset list -n', /^other-set$/m] },
  { add: [['nft', 'add', 'table', 'inet', 'other-table']], shows: ['nft list tables', /^table inet other-table$/m] },
  { add: [['tc', 'qdisc', 'add', 'dev', 'vc', 'ingress'], ['tc', 'filter', 'add', 'dev', 'vc', 'ingress', 'pref', '50000', 'protocol', 'ip', 'u32', 'match', 'ip', 'dst', '10.99.0.1/32', 'classid', ':1']], shows: ['tc filter vc', /pref 50000 u32/] },
  { add: [['ip', '-4', 'rule', 'add', 'pref', '2000', 'fwmark', '0x100', 'lookup', '100']], shows: ['ip -4 rule', /^2000:\s+from all fwmark 0x100 lookup 100/m] },
  // At the TUN backend's preferences (the judge's, the DNS learner's): another program's, another table.
  { add: [['ip', '-4', 'rule', 'add', 'pref', '1000', 'fwmark', '0x1/0x1', 'lookup', '101']], shows: ['ip -4 rule', /^1000:\s+from all fwmark 0x1\/0x1 lookup 101$/m] },
  { add: [['ip', '-6', 'rule', 'add', 'pref', '1001', 'fwmark', '0x1/0x1', 'lookup', '101']], shows: ['ip -6 rule', /^1001:\s+from all fwmark 0x1\/0x1 lookup 101$/m] },
];

/** Each agent set-up, and what `cleanup --dry-run` must list for it (the agent installed it, and cleanup finds it). */
const ROUNDS: { name: string; args: string[]; lists: RegExp[]; interrupted?: string[][] }[] = [
  {
    name: 'nfqueue, nft backend, default guard layout (tc)',
    args: ['--backend', 'nfqueue', '--queue', String(QUEUE), '--iptables', 'nft'],
    // What an agent killed half way through taking over a set of another's leaves (counted-sets.ts, createCountingSet).
    interrupted: [['ipset', 'create', 'PALISADE-ADMIT6-S1-N', 'hash:ip,port,net', 'family', 'inet6', 'counters'], ['ipset', 'create', 'PALISADE-CACHE4-N', 'hash:ip,port,ip', 'family', 'inet', 'counters']],
    lists: [/ip6tables-nft -t filter -A FORWARD -j PALISADE-FORWARD/, /-N PALISADE-DNS/, /ipset +PALISADE-CACHE4/, /ipset +PALISADE-ADMIT6/, /ipset +PALISADE-INGRESS4/, /ipset +PALISADE-TCNOIF4/, /tc +ingress filters on va/, /link +palisade-sink/, /nft +table netdev palisade-sink/],
  },
  {
    name: 'nfqueue, legacy backend, iptables guard layout',
    args: ['--backend', 'nfqueue', '--queue', String(QUEUE), '--iptables', 'legacy', '--source-guard-layout', 'iptables'],
    lists: [/iptables-legacy -t filter -A FORWARD -j PALISADE-FORWARD/, /iptables-legacy -t raw -A PREROUTING .*-j PALISADE-SPOOF/, /ip6tables-legacy -t raw -N PALISADE-SPOOFED/, /ipset +PALISADE-SRC6/, /ipset +PALISADE-ADMITRET4/],
  },
  {
    name: 'tun, nft guard layout',
    args: ['--backend', 'tun', '--source-guard-layout', 'nft'],
    lists: [/iptables-nft -t mangle -A PREROUTING -j PALISADE-PREROUTING/, /nft +table ip6 palisade-guard/, /link +palisade0 \(TUN\)/, /link +palisade0-d \(TUN\)/, /ip rule +ip -4 rule pref 1000 fwmark \S+ lookup 7077$/m, /ip rule +ip -6 rule pref 1001 fwmark \S+ lookup 7078$/m, /route +ip -6 route table 7077: default dev palisade0/],
  },
];

t.test('cleanup after a killed agent', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  topo.writeFile('manifests/names.yaml', domainNamesPolicy({ name: 'names', dnsTo: `{networks: [${PODS.c.v4}/32]}`, names: ['example.com'] }));
  for (const f of FOREIGN) for (const argv of f.add) await must(topo.in(topo.node, argv));
  const statusFile = join(topo.dir, 'status.json');

  const clean = await cleanup(['--yes']);
  t.equal(clean.code, 0, `before any agent: nothing to do (${clean.stderr})`);
  t.match(clean.stdout, /nothing to do/);

  for (const round of ROUNDS) {
    await t.test(round.name, async (t) => {
      const agent = await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--rescan-ms', '300', ...round.args], statusFile);

      const refused = await cleanup(['--yes']);
      t.equal(refused.code, 1, 'refused while the agent runs');
      t.match(refused.stderr, /a Palisade agent runs here, nothing removed/);
      t.match(refused.stderr, new RegExp(`process ${agent.status.pid} is a palisade agent`), 'names the agent process');
      if (round.args.includes('nfqueue')) t.match(refused.stderr, new RegExp(`NFQUEUE ${QUEUE}, which Palisade's rules send to, has a program bound`), 'names the bound queue');

      const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
      process.kill(agent.status.pid, 'SIGKILL');
      await exited;
      if (round.args.includes('nfqueue')) await waitFor('queue unbound', async () => !(await topo.queueStats()).has(QUEUE));
      for (const argv of round.interrupted ?? []) await must(topo.in(topo.node, argv));

      const before = await kernelState();
      t.ok(palisadeLines(before).length > 0, 'the killed agent left its kernel state');
      const dry = await cleanup(['--dry-run']);
      t.equal(dry.code, 0, `dry run exits 0 (${dry.stderr})`);
      for (const re of round.lists) t.match(dry.stdout, re, `dry run lists ${re.source}`);
      t.match(dry.stdout, /dry run: nothing removed/);
      t.same(await kernelState(), before, '--dry-run removed nothing');
      const noYes = await cleanup([]);
      t.equal(noYes.code, 2, 'without --yes: exit 2');
      t.match(noYes.stderr, /nothing removed: pass --yes/);
      t.same(await kernelState(), before, 'without --yes nothing was removed');

      const r = await cleanup(['--yes']);
      t.equal(r.code, 0, `cleanup exits 0 (${r.stderr})`);
      t.match(r.stdout, /removed \d+ kernel object\(s\) of Palisade's/);
      const after = await kernelState();
      t.same(palisadeLines(after), [], 'nothing of Palisade\'s is left');
      for (const f of FOREIGN) t.match(after[f.shows[0]], f.shows[1], `foreign object stays: ${f.shows[0]} ${f.shows[1].source}`);

      const again = await cleanup(['--yes']);
      t.equal(again.code, 0, 'second run exits 0');
      t.match(again.stdout, /nothing to do/, 'second run has nothing to do');
      t.same(await kernelState(), after, 'second run changed nothing');
    });
  }

  await t.test('an agent stopped with SIGTERM (no --keep-rules) leaves nothing for cleanup to find', async (t) => {
    const agent = await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--rescan-ms', '300', ...ROUNDS[0]!.args], statusFile);
    const exited = new Promise<void>((r) => agent.proc.on('exit', () => r()));
    process.kill(agent.status.pid, 'SIGTERM');
    await exited;
    const r = await cleanup(['--dry-run']);
    t.equal(r.code, 0);
    t.match(r.stdout, /nothing to do/, `the agent's own stop removed what cleanup looks for (${r.stdout})`);
  });
});
