// Spoofing flood through the real kernel path: pod a sends UDP datagrams to pod b as fast as
// its raw socket goes, every one with a fresh random source address (IPv4 in 10.0.0.0/8, IPv6 in
// fd00::/8: other pods, unknown addresses, a whole subnet's worth), while honest connections are
// opened and judged (a -> b:8080 allowed by policy, c -> b:8080 denied). `palisade agent
// --backend nfqueue` guards the pod interfaces (enforce/spoof-guard.ts).
//
// Checked: b's own counting rules (INPUT, any source but a's real address) saw 0 forged
// datagrams; the agent's kernel counters account for the flood; during and right after it
// allowed connections open and denied ones are dropped, i.e. the judge kept working. Reported:
// forged packets per second, honest connections judged during the flood.
//
// STRESS_SPOOF_PACKETS overrides the packets per family (default 20,000).

import t from 'tap';
import { join } from 'node:path';
import { Topology, PODS, ROOT, clusterYaml, serverPolicy, startAgent, waitFor, must, run } from '../../support/netns.ts';
import { bindRow, envInt, round } from './support/results.ts';

const NODE = 'n1';
const QUEUE = 62;
const PACKETS = envInt('STRESS_SPOOF_PACKETS', 20_000);
const SENDER = join(ROOT, 'test', 'support', 'spoof-send-main.ts');
const topo = new Topology('spflood');
t.teardown(() => topo.down());

interface Status {
  sourceGuard?: { spoofedPackets: number };
  counters: Record<string, number>;
}

/** Packets b received on UDP 7000 from anyone but a's real address (per family). */
async function forgedAtB(fam: 4 | 6): Promise<number> {
  const text = await must(topo.in(topo.ns.b, [fam === 4 ? 'iptables-save' : 'ip6tables-save', '-c', '-t', 'filter']));
  const line = text.split('\n').find((l) => l.includes('--comment forged-at-b'))!;
  return Number(/^\[(\d+):/.exec(line)![1]);
}

t.test(`spoofing flood: ${PACKETS} forged datagrams per family from one pod`, async (t) => {
  const r = bindRow(t, 'load', 'spoofing flood (random forged sources, NFQUEUE agent)', 'spoof-flood.stress.ts');
  await topo.up();
  await topo.servers('b', 8080);
  const dir = join(topo.dir, 'manifests');
  await must(['mkdir', '-p', dir]);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  for (const [fam, own] of [[4, PODS.a.v4], [6, PODS.a.v6]] as const) {
    await must(topo.in(topo.ns.b, [fam === 4 ? 'iptables' : 'ip6tables', '-A', 'INPUT', '!', '-s', own, '-p', 'udp', '--dport', '7000', '-m', 'comment', '--comment', 'forged-at-b']));
  }
  const statusFile = join(topo.dir, 'status.json');
  await startAgent(topo, ['--node', NODE, '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rules-check-ms', '500'], statusFile);
  const status = () => topo.readJSON<Status>(statusFile)!;
  const spoofed0 = status().sourceGuard?.spoofedPackets ?? 0;

  const t0 = Date.now();
  let flooding = true;
  const senders = Promise.all(([[4, PODS.b.v4], [6, PODS.b.v6]] as const).map(async ([, dst]) => {
    // A bounded wait, longer than must()'s 20 s: on a loaded machine the sender is slower.
    const r = await run(topo.in(topo.ns.a, ['node', '--import', 'tsx', SENDER, '--src', 'random', '--dst', dst, '--proto', 'udp', '--port', '7000', '--count', String(PACKETS)]), undefined, 300_000);
    if (r.code !== 0) throw new Error(`spoof sender failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as { sent: number; failed: number };
  })).finally(() => (flooding = false));
  // Honest connections while the flood runs: each one goes through the queue and is judged.
  let allowedOk = 0;
  let allowedTried = 0;
  let deniedPassed = 0;
  let deniedTried = 0;
  while (flooding) {
    allowedTried++;
    if (await topo.tcp('a', 'b', 8080)) allowedOk++;
    deniedTried++;
    if (await topo.tcp('c', 'b', 8080)) deniedPassed++;
  }
  const sent = await senders;
  const secs = (Date.now() - t0) / 1000;
  const total = sent.reduce((a, s) => a + s.sent, 0);
  const afterAllowed = await topo.tcp('a', 'b', 8080, 6);
  const afterDenied = await topo.tcp('c', 'b', 8080);
  const delivered = (await forgedAtB(4)) + (await forgedAtB(6));
  // A random IPv4 source may, rarely, be a's own address: those are honest and not counted.
  const counted = await waitFor('drops counted', () => {
    const n = (status().sourceGuard?.spoofedPackets ?? 0) - spoofed0;
    return n >= total * 0.999 ? n : undefined;
  }, 30_000).catch(() => (status().sourceGuard?.spoofedPackets ?? 0) - spoofed0);

  Object.assign(r.figures, {
    'forged sent': total,
    'forged/s': round(total / secs),
    'forged delivered': delivered,
    'dropped (agent count)': counted,
    'honest allowed ok/tried during flood': `${allowedOk}/${allowedTried}`,
    'denied passed/tried during flood': `${deniedPassed}/${deniedTried}`,
    'works right after': afterAllowed && !afterDenied ? 'yes' : 'no',
  });
  r.tried = { n: total, what: 'forged datagrams' };
  r.wrong = delivered + deniedPassed + (afterAllowed ? 0 : 1) + (afterDenied ? 1 : 0);

  t.ok(total >= PACKETS * 2 * 0.99, `the flood was sent (${total} datagrams, ${round(total / secs)}/s)`);
  t.equal(delivered, 0, 'no forged datagram reached b');
  t.ok(counted >= total * 0.999, `the agent counted the drops (${counted} of ${total})`);
  // ncat gives up after 1.5 s; on a loaded machine an allowed connect may time out, so at least one.
  t.ok(allowedOk > 0, `allowed connections judged and opened during the flood (${allowedOk}/${allowedTried})`);
  t.equal(deniedPassed, 0, `denied connections still dropped during the flood (0 of ${deniedTried})`);
  t.ok(afterAllowed, 'right after: IPv6 a -> b:8080 opens');
  t.notOk(afterDenied, 'right after: c -> b:8080 is dropped');
});
