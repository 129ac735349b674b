// Egress to domain names on the TUN backend (issue 16): the same lab as agent-dns.test.ts. DNS
// answers to pod a (the subject of a ClusterNetworkPolicy that accepts DNS to c, accepts
// domainNames, and denies the rest) are marked in mangle PALISADE-DNS and policy-routed into the
// DNS TUN device, whose reader (the learner) writes each batch back after the names are in place:
// a name a looked up (over UDP, or over TCP in three segments) becomes reachable, an address no
// answer named stays denied.

import t from 'tap';
import { join } from 'node:path';
import { Topology, clusterYaml, startAgent, waitFor, must, run, statusReaders, upWithServers, PODS } from '../../support/netns.ts';
import { domainNamesPolicy } from '../../support/dns-lab-policy.ts';

const NODE = 'n1';
const TUN = 'paldns7';
const ROOT = join(import.meta.dirname, '..', '..');
const DNS_MAIN = join(ROOT, 'test', 'support', 'dns-lab-main.ts');
const topo = new Topology('dnst');
t.teardown(() => topo.down());

const ZONE = {
  'api.example.com': [{ type: 'A', data: PODS.b.v4, ttl: 2 }],
  'many.example.com': [...Array.from({ length: 59 }, (_, i) => ({ type: 'A', data: `198.51.100.${i + 1}`, ttl: 30 })), { type: 'A', data: PODS.b.v4, ttl: 30 }],
};

const policy = domainNamesPolicy({ name: 'names', dnsTo: `{networks: [${PODS.c.v4}/32]}`, names: ['api.example.com', 'many.example.com'], denyRest: true });

async function lookup(name: string, proto: 'udp' | 'tcp'): Promise<boolean> {
  const r = await run(topo.in(topo.ns.a, ['node', '--import', 'tsx', DNS_MAIN, 'query', PODS.c.v4, name, proto, 'A']));
  return r.code === 0 && r.stdout.startsWith('answered');
}

t.test('domainNames egress through the agent (tun)', async (t) => {
  const dir = await upWithServers(topo);
  topo.spawn(topo.in(topo.ns.c, ['node', '--import', 'tsx', DNS_MAIN, 'server', PODS.c.v4, JSON.stringify(ZONE), 'tcp-chunks']));
  await waitFor('dns server', async () => (await run(topo.in(topo.ns.c, ['ss', '-Hltun', 'sport = :53']))).stdout.split('\n').filter((l) => l.trim()).length >= 2, 60_000);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080]));
  topo.writeFile('manifests/cnp.yaml', policy);
  const statusFile = join(topo.dir, 'status.json');
  const args = ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'tun', '--tun-name', TUN, '--tun-table', '7277', '--rescan-ms', '300', '--dns-min-ttl', '1'];
  const agent = await startAgent(topo, args, statusFile);
  const { status } = statusReaders(topo, statusFile);
  const dns = () => (status() as unknown as { dns: { counters: Record<string, number> & { tcp: Record<string, number>; queue: Record<string, number> } } }).dns;
  t.teardown(() => { if (t.passing()) return; t.comment(agent.log()); });
  const inNode = (argv: string[]) => must(topo.in(topo.node, argv));

  t.match(await inNode(['ip', 'rule']), /fwmark 0x8000000\/0x8000000 lookup 7278/, 'DNS answers marked for the learner are routed by their own table');
  t.match(await inNode(['ip', 'route', 'show', 'table', '7278']), `default dev ${TUN}-d`, 'into the DNS TUN device');
  await waitFor('answers to a are diverted', async () => (await inNode(['iptables', '-t', 'mangle', '-S', 'PALISADE-DNS'])).includes(`-d ${PODS.a.v4}/32`), 20_000);
  t.match(await inNode(['iptables', '-t', 'mangle', '-S', 'PALISADE-DNS']), new RegExp(`-A PALISADE-DNS -d ${PODS.a.v4}/32 -m connmark ! --mark 0x4000000/0x6000000 .*--ctdir REPLY -j MARK --set-xmark 0x8000000/0x8000000`), 'answers to a on a flow the judge did not deny get the DNS mark');

  t.ok(!(await topo.tcp('a', 'b', 8080)), 'before any lookup: a -> b:8080 is denied');
  t.ok(await lookup('api.example.com', 'udp'), 'a resolves api.example.com (UDP) through the DNS TUN');
  t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 (api.example.com) is allowed');
  t.ok(!(await topo.tcp('a', 'c', 8080)), 'a -> c:8080, an address no answer named, is denied');
  await waitFor('the record expires', async () => !(await topo.tcp('a', 'b', 8080)), 20_000);
  t.pass('after the TTL, a -> b:8080 is denied again');

  t.ok(await lookup('many.example.com', 'tcp'), 'a resolves many.example.com over TCP: 60 A records in three segments');
  t.ok(await topo.tcp('a', 'b', 8080), 'the reassembled answer was learned: a -> b:8080 allowed');
  t.ok(!(await topo.tcp('a', 'c', 8080)), 'a -> c:8080 still denied');
  await waitFor('status counters', () => dns().counters.tcp.reassembled >= 1, 5000);
  const c = dns().counters;
  t.ok(c.answers >= 2 && c.queue.packets! >= 2 && c.queue.writeErrors === 0, `answers went through the DNS TUN and were written back (${JSON.stringify(c.queue)})`);
  t.equal(c.tcp.gaps, 0, 'no TCP gap');
});
