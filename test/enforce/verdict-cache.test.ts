// The verdict cache on the real kernel path (`palisade agent --backend nfqueue --verdict-cache`):
// after the agent allowed a tuple (source, protocol, port, destination) twice (the first sighting
// is not cached: src/enforce/cache-admission.ts), the next connections with the same tuple are
// accepted by the kernel without being queued; denials are never
// cached; a rule change empties the cache before the new rules judge, so a tuple the new rules
// deny is dropped at once; a stop removes the sets.

import t from 'tap';
import { join } from 'node:path';
import { ROOT, Topology, clusterYaml, serverPolicy, startAgent, waitFor, must, run, statusReaders, upWithServers } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 46;
const topo = new Topology('vcache');
t.teardown(() => topo.down());

const sets = async (): Promise<string> => (await run(topo.in(topo.node, ['ipset', 'list']))).stdout;
const queued = async (): Promise<number> => (await topo.queueStats()).get(QUEUE)?.idSequence ?? 0;

t.test('verdict cache', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  const statusFile = join(topo.dir, 'status.json');
  // The cache is on by default with NFQUEUE. Kernel admission (on by default too) would accept
  // these first connections before the agent sees them: off, so the cache alone is tested.
  const args = ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300', '--no-kernel-admit'];
  let agent = await startAgent(topo, args, statusFile);
  const { status, freshStatus } = statusReaders(topo, statusFile);

  await t.test('rules and sets', async (t) => {
    t.match(await must(topo.in(topo.node, ['iptables', '-S', 'PALISADE-QUEUE'])), /-m set --match-set PALISADE-CACHE4 src,dst,dst -j PALISADE-CACHED/);
    t.match(await must(topo.in(topo.node, ['ip6tables', '-S', 'PALISADE-QUEUE'])), /-m set --match-set PALISADE-CACHE6 src,dst,dst -j PALISADE-CACHED/);
    t.match(await sets(), /Name: PALISADE-CACHE4[\s\S]*Type: hash:ip,port,ip/);
  });

  await t.test('an allowed tuple is judged twice, then accepted in the kernel', async (t) => {
    const q0 = await queued();
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 allowed (judged by the agent)');
    t.ok((await freshStatus()).counters.verdictCacheDeferred! >= 1, 'its first sighting was not cached');
    t.notMatch(await sets(), /10\.77\.1\.2,tcp:8080,10\.77\.2\.2/, 'no entry yet');
    t.ok(await topo.tcp('a', 'b', 8080), 'again: judged, and now cached');
    const q1 = await queued();
    t.equal(q1 - q0, 2, 'both SYNs were queued');
    await waitFor('cache entry', async () => /10\.77\.1\.2,tcp:8080,10\.77\.2\.2/.test(await sets()) || undefined);
    for (let i = 0; i < 5; i++) t.ok(await topo.tcp('a', 'b', 8080), `connection ${i + 3} (a new source port) allowed`);
    t.equal(await queued(), q1, 'none of them was queued');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6: allowed and judged');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6: judged again');
    await waitFor('IPv6 entry', async () => /fd77:1::2,tcp:8080,fd77:2::2/.test(await sets()) || undefined);
    const q2 = await queued();
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6 again');
    t.equal(await queued(), q2, 'the IPv6 repeat was not queued');
    t.ok((await freshStatus()).counters.verdictCacheAdded! >= 2, 'entries counted');
  });

  await t.test('denials are never cached', async (t) => {
    const q0 = await queued();
    t.notOk(await topo.tcp('c', 'b', 8080), 'c -> b:8080 denied');
    t.notOk(await topo.tcp('c', 'b', 8080), 'denied again');
    t.ok((await queued()) - q0 >= 2, 'both attempts went to the agent');
    t.notMatch(await sets(), /10\.77\.3\.2,tcp:8080/, 'no entry for c');
  });

  await t.test('a rule change empties the cache before the new rules judge', async (t) => {
    const gen = status().generation;
    topo.writeFile('manifests/policy.yaml', serverPolicy([9090]));
    await waitFor('new generation', () => status().generation > gen);
    t.notOk(await topo.tcp('a', 'b', 8080), 'a -> b:8080 is denied at once (no stale cached allow)');
    t.notOk(await topo.tcp('a', 'b', 8080, 6), 'IPv6 too');
    t.notMatch(await sets(), /,tcp:8080,/, 'the old entries are gone');
    t.ok(await topo.tcp('a', 'b', 9090), 'b:9090 now allowed');
    t.ok(status().counters.verdictCacheFlushes! >= 2, 'flushes counted');
  });

  await t.test('strict mode cuts a connection the cache admitted once new rules deny it', async (t) => {
    let gen = status().generation;
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
    await waitFor('8080 allowed again', () => status().generation > gen);
    // Seen twice in the window already: the first judgment under the new rules caches it (the
    // second connection is then admitted by the cache, or cached, should the window have ended).
    for (let i = 0; i < 2; i++) t.ok(await topo.tcp('a', 'b', 8080), 'judged and cached');
    await waitFor('cache entry', async () => /10\.77\.1\.2,tcp:8080,10\.77\.2\.2/.test(await sets()) || undefined);
    const q = await queued();
    const c = topo.spawn(topo.in(topo.ns.a, ['socat', '-', 'TCP4:10.77.2.2:8080']));
    let got = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
    c.stdin!.write('before\n');
    await waitFor('echo before', () => got.includes('before\n'));
    t.equal(await queued(), q, 'the long-lived connection was admitted from the cache');
    const cut0 = status().flowsCut;
    gen = status().generation;
    topo.writeFile('manifests/policy.yaml', serverPolicy([9090]));
    await waitFor('generation denying 8080', () => status().generation > gen);
    await waitFor('flow cut', () => status().flowsCut > cut0 || undefined);
    c.stdin!.write('after\n');
    await new Promise((r) => setTimeout(r, 1500));
    t.notOk(got.includes('after\n'), 'nothing gets through once the flow is cut');
    c.kill('SIGKILL');
  });

  await t.test('a stop removes the rules and the sets', async (t) => {
    agent.proc.kill('SIGTERM');
    await waitFor('agent exited', () => agent.proc.exitCode !== null || undefined, 15_000);
    t.notMatch(await sets(), /PALISADE-CACHE/, 'sets destroyed');
    t.notMatch(await must(topo.in(topo.node, ['iptables', '-S'])), /PALISADE/, 'rules removed');
  });

  await t.test('a clean stop with --keep-rules empties the cache: nothing is admitted while no agent listens', async (t) => {
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
    agent = await startAgent(topo, [...args, '--keep-rules'], statusFile);
    t.ok(await topo.tcp('a', 'b', 8080), 'allowed (a new agent: first sighting)');
    t.ok(await topo.tcp('a', 'b', 8080), 'allowed and cached');
    await waitFor('cache entry', async () => /10\.77\.1\.2,tcp:8080,10\.77\.2\.2/.test(await sets()) || undefined);
    agent.proc.kill('SIGTERM');
    await waitFor('agent exited', () => agent.proc.exitCode !== null || undefined, 15_000);
    t.match(await sets(), /Name: PALISADE-CACHE4/, 'the sets stay with the rules');
    t.notMatch(await sets(), /,tcp:8080,/, 'but empty');
    t.notOk(await topo.tcp('a', 'b', 8080), 'so the cached tuple is not admitted while no agent listens');
    agent = await startAgent(topo, args, statusFile);
    agent.proc.kill('SIGTERM');
    await waitFor('agent exited', () => agent.proc.exitCode !== null || undefined, 15_000);
  });
});

t.test('the cache refuses the TUN backend', async (t) => {
  // (--log-allowed goes with the cache: verdict-cache-counts.test.ts.)
  const r = await run(['node', join(ROOT, 'bin', 'palisade.js'), 'agent', '--node', NODE, '--manifests', '/nonexistent', '--verdict-cache', '--backend', 'tun']);
  // A bad flag combination: one line naming the flag and exit 2, found before the (missing)
  // manifests path is looked at and before any iptables work.
  t.equal(r.code, 2, 'refused');
  t.match(r.stderr, /^palisade agent: --verdict-cache [^\n]*\n$/, 'with one line naming the flag');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
