// Exact allow counts with the verdict cache, on the real kernel path: connections the kernel
// admits from the cache never reach the agent, yet the per-policy allow metric counts every one
// (the sets' per-entry counters, read at scrape time), --log-allowed accounts for every one
// (aggregated lines), and a rule change that empties the cache loses none of the counts (the
// live set is swapped out and read afterwards). Periodic reads are off here (an hour), so the
// counts can only come from the reads under test: a scrape, and the swap at a rule change.

import t from 'tap';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Topology, clusterYaml, serverPolicy, startAgent, waitFor, must, run, statusReaders, upWithServers } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 49;
const METRICS = '127.0.0.1:9834';
const topo = new Topology('vcount');
t.teardown(() => topo.down());

const sets = async (): Promise<string> => (await run(topo.in(topo.node, ['ipset', 'list']))).stdout;
const queued = async (): Promise<number> => (await topo.queueStats()).get(QUEUE)?.idSequence ?? 0;
const scrape = async (): Promise<string> => must(topo.in(topo.node, ['curl', '-s', `http://${METRICS}/metrics`]));
/** The policy's allow count in one scrape. */
const allowed = async (): Promise<number> => {
  const m = /palisade_policy_verdicts_total\{policy="[^"]*b-from-clients",action="allow"\} (\d+)/.exec(await scrape());
  return m ? Number(m[1]) : 0;
};

t.test('verdict cache: exact per-policy allow counts', async (t) => {
  const dir = await upWithServers(topo);
  topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
  topo.writeFile('manifests/policy.yaml', serverPolicy([8080]));
  const statusFile = join(topo.dir, 'status.json');
  const vlog = join(topo.dir, 'verdicts.jsonl');
  // The cache is on by default, --log-allowed included.
  const args = ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300',
    '--metrics', METRICS, '--verdict-log', vlog, '--log-allowed', '--verdict-cache-read-ms', '3600000'];
  let agent = await startAgent(topo, args, statusFile);
  t.teardown(() => agent.proc.kill('SIGKILL'));
  const { status, freshStatus } = statusReaders(topo, statusFile);
  const logged = () => readFileSync(vlog, 'utf8').split('\n').filter((l) => l.includes('"verdict":"allow"')).map((l) => JSON.parse(l) as { dst: { ip: string; port: number }; cached?: number });

  const N = 8, N6 = 3;
  // The first two connections of a tuple are judged (the first sighting is not cached:
  // src/enforce/cache-admission.ts), the rest admitted by the cache.
  await t.test(`${N} connections of one allowed tuple count ${N}, though the agent judged two`, async (t) => {
    const q0 = await queued();
    t.ok(await topo.tcp('a', 'b', 8080), 'the first one is judged by the agent');
    t.ok(await topo.tcp('a', 'b', 8080), 'the second one too, and cached');
    await waitFor('cache entry', async () => /10\.77\.1\.2,tcp:8080,10\.77\.2\.2/.test(await sets()) || undefined);
    for (let i = 2; i < N; i++) t.ok(await topo.tcp('a', 'b', 8080), `connection ${i + 1} allowed`);
    t.equal((await queued()) - q0, 2, 'only the first two were queued: the rest were admitted by the cache');
    t.match(await sets(), /10\.77\.1\.2,tcp:8080,10\.77\.2\.2 timeout \d+ packets 6 /, `the entry counted ${N - 2} connections`);
    t.equal(await allowed(), N, `the policy's allow count is ${N}`);
    t.equal(await allowed(), N, 'and a second scrape does not count them again');
    // IPv6: the same through the other family's set.
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6: judged');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6: judged, cached');
    await waitFor('IPv6 entry', async () => /fd77:1::2,tcp:8080,fd77:2::2/.test(await sets()) || undefined);
    for (let i = 2; i < N6; i++) t.ok(await topo.tcp('a', 'b', 8080, 6), `IPv6 connection ${i + 1}`);
    t.equal(await allowed(), N + N6, 'IPv6 connections counted exactly too');
    t.equal((await freshStatus()).counters.verdictCacheAdmitted, N - 2 + N6 - 2, 'the status file counts what the cache admitted');
  });

  await t.test('--log-allowed accounts for every connection: one line per judged one, aggregated lines for the rest', async (t) => {
    const lines = await waitFor('log lines', () => {
      const l = logged().filter((x) => x.dst.port === 8080 && x.dst.ip === '10.77.2.2');
      return l.reduce((s, x) => s + (x.cached ?? 1), 0) >= N ? l : undefined;
    });
    t.equal(lines.filter((x) => x.cached === undefined).length, 2, 'each judged connection has its own line');
    t.equal(lines.reduce((s, x) => s + (x.cached ?? 0), 0), N - 2, `the cached ones add up to ${N - 2}`);
    t.match(lines.find((x) => x.cached !== undefined), { verdict: 'allow', src: { pod: 'x/a' }, dst: { pod: 'x/b', port: 8080 }, rules: { ingress: /b-from-clients/ } }, 'with the decision that created the entry');
  });

  const M = 5;
  await t.test('a rule change empties the cache without losing the counts of its entries', async (t) => {
    const before = await allowed();
    // Counted in the kernel only: no scrape until the rules have changed.
    for (let i = 0; i < M; i++) t.ok(await topo.tcp('a', 'b', 8080), `cached connection ${i + 1}`);
    const gen = status().generation;
    const flushes = status().counters.verdictCacheFlushes!;
    topo.writeFile('manifests/policy.yaml', serverPolicy([8080, 9090]));
    await waitFor('new generation', () => status().generation > gen);
    await waitFor('cache flushed', async () => ((await freshStatus()).counters.verdictCacheFlushes! > flushes) || undefined);
    t.notMatch((await run(topo.in(topo.node, ['ipset', 'list', 'PALISADE-CACHE4']))).stdout, /,tcp:8080,/, 'the live set was emptied');
    t.equal(await allowed(), before + M, `the ${M} connections admitted before the flush are counted`);
    const q = await queued();
    t.ok(await topo.tcp('a', 'b', 8080), 'the next one is judged again (new generation)');
    t.equal((await queued()) - q, 1, 'queued');
    t.equal(await allowed(), before + M + 1, 'and counted once');
    t.equal(status().counters.verdictCacheUncountedFlushes, 0, 'no flush had to drop counts');
  });

  await t.test('entries rotated out after --verdict-cache-s, and young ones carried over, keep their counts', async (t) => {
    agent.proc.kill('SIGTERM');
    await waitFor('agent exited', () => agent.proc.exitCode !== null || undefined, 60_000);
    // A fresh agent (its metrics start at 0) keeping entries 3 s; the policy allows 8080 and 9090.
    agent = await startAgent(topo, [...args, '--verdict-cache-s', '3'], statusFile);
    const rotations = async () => (await freshStatus()).counters.verdictCacheRotations!;
    const r0 = await rotations();
    let made = 0;
    const connect = async (port: number) => {
      t.ok(await topo.tcp('a', 'b', port), `a -> b:${port}`);
      made++;
    };
    // 8080 first, 9090 1.5 s later: when 8080's entry is due, 9090's is young and carried over
    // into the new live set, where its counter starts again from zero; a rotation later it is
    // due too. Connections of 9090 go on through both.
    await connect(8080);
    await connect(8080); // its second sighting: cached
    await new Promise((r) => setTimeout(r, 1500));
    const rotated = () => status().counters.verdictCacheRotations! - r0;
    const perEpoch = [0, 0, 0];
    for (let i = 0; i < 200 && rotated() < 2; i++) {
      await connect(9090);
      perEpoch[Math.min(rotated(), 2)]!++;
    }
    t.comment(`9090 connections before the first rotation, between the two, after: ${perEpoch.join(', ')}`);
    t.ok((await rotations()) >= r0 + 2, 'entries were rotated');
    t.equal(await allowed(), made, `all ${made} connections counted, judged or admitted by the cache`);
    t.ok((await freshStatus()).counters.verdictCacheAdmitted! > 0, 'some were admitted by the cache');
  });
});
