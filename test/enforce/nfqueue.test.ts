// The NFQUEUE enforcer and the native shim under the agent, on the real kernel path with small
// judges: several queues (--queue-balance), a judge that throws (dropped, counted, never opened),
// a second bind on a held queue (EBUSY as a JS error code), and what the kernel does with
// queued packets when nobody listens: drop (fail-closed) or, with --queue-bypass, accept.

import t from 'tap';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Iptables } from '../../src/enforce/iptables.ts';
import { Topology, waitFor, run } from '../../support/netns.ts';

const topo = new Topology('nfqe');
t.teardown(() => topo.down());
const FIXTURE = join(import.meta.dirname, 'fixtures', 'nfq-judge.ts');
const prefixOf = () => ['ip', 'netns', 'exec', topo.node];

interface Judge {
  proc: ChildProcess;
  hello: { ready: boolean; code?: string; queues?: number[]; message?: string };
  stats(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

async function judge(queue: number, queues: number, kind: string): Promise<Judge> {
  const proc = topo.spawn(topo.in(topo.node, ['node', '--import', 'tsx', FIXTURE, String(queue), String(queues), kind]));
  const lines: string[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const next = () => waitFor('fixture output', () => lines.shift(), 20_000);
  const hello = JSON.parse(await next()) as Judge['hello'];
  return {
    proc,
    hello,
    stats: async () => {
      proc.stdin!.write('stats\n');
      return JSON.parse(await next()) as Record<string, number>;
    },
    stop: async () => {
      const gone = new Promise<void>((r) => proc.on('exit', () => r()));
      proc.stdin!.write('exit\n');
      await gone;
    },
  };
}

const pods = { ifaces: ['va', 'vb', 'vc'], v4: [], v6: [] };

t.test('nfqueue enforcer', async (t) => {
  await topo.up();
  await topo.servers('b', 8080);
  await topo.servers('b', 9090);

  await t.test('several queues: every queue bound and judging', async (t) => {
    const ipt = new Iptables({ backend: 'nft', prefix: prefixOf(), plan: { mode: 'nfqueue', allowMark: 0x2000000, queue: 50, queues: 2, failOpen: false } });
    await ipt.install(pods);
    const j = await judge(50, 2, 'ports:8080');
    t.same(j.hello.queues, [50, 51]);
    const q = await topo.queueStats();
    t.ok(q.has(50) && q.has(51), 'both queues bound');
    for (let i = 0; i < 6; i++) t.ok(await topo.tcp('a', 'b', 8080), `connection ${i} to 8080 allowed`);
    t.notOk(await topo.tcp('a', 'b', 9090), '9090 denied');
    t.ok(await topo.udp('a', 'b', 8080, 6), 'IPv6 UDP allowed');
    const s = await j.stats();
    t.ok(s.accepts! >= 7, 'accepts counted');
    t.ok(s.drops! >= 1, 'drops counted');
    t.ok(s.verdictMessages! <= s.packets!, 'no more verdict messages than packets');
    const q2 = await topo.queueStats();
    t.equal(q2.get(50)!.dropped + q2.get(51)!.dropped, 0, 'the kernel dropped nothing for lack of room');
    await j.stop();
    await ipt.remove();
  });

  await t.test('mixed verdicts in one batch: each packet gets its own verdict', async (t) => {
    const ipt = new Iptables({ backend: 'nft', prefix: prefixOf(), plan: { mode: 'nfqueue', allowMark: 0x2000000, queue: 55, queues: 1, failOpen: false } });
    await ipt.install(pods);
    const j = await judge(55, 1, 'slow:8080');
    // 16 allowed and 16 denied SYNs at once, interleaved in the queue; the judge stalls on the
    // first so the rest arrive together and are answered with runs of VERDICT_BATCH.
    const r = await run(topo.in(topo.ns.a, ['node', '--import', 'tsx', join(import.meta.dirname, 'fixtures', 'burst.ts'), '10.77.2.2', '8080,9090', '16']), undefined, 30_000);
    const got = JSON.parse(r.stdout) as Record<string, number>;
    t.equal(got['8080'], 16, 'every allowed connection completed');
    t.equal(got['9090'], 0, 'no denied connection completed');
    const s = await j.stats();
    t.ok(s.packets! > s.batches!, `packets arrived in multi-packet batches (${s.packets} packets, ${s.batches} batches)`);
    t.ok(s.verdictMessages! < s.packets!, `runs of equal verdicts shared a message (${s.verdictMessages} messages)`);
    t.equal(s.errors, 0);
    await j.stop();
    await ipt.remove();
  });

  await t.test('a judge that throws drops the packet and counts it', async (t) => {
    const ipt = new Iptables({ backend: 'nft', prefix: prefixOf(), plan: { mode: 'nfqueue', allowMark: 0x2000000, queue: 60, queues: 1, failOpen: false } });
    await ipt.install(pods);
    const j = await judge(60, 1, 'throw');
    t.notOk(await topo.tcp('a', 'b', 8080), 'nothing passes a broken judge');
    const s = await j.stats();
    t.ok(s.judgeErrors! >= 1, `judge errors counted (${s.judgeErrors})`);
    t.equal(s.accepts, 0);

    const second = await judge(60, 1, 'ports:8080');
    t.equal(second.hello.ready, false, 'a second process cannot take a held queue');
    // nfqnl_recv_config: a queue bound to another socket answers EPERM.
    t.equal(second.hello.code, 'EPERM', 'the error carries the errno name');
    t.match(second.hello.message!, /nfqueue bind.*queue 60 is held by another process/);
    await j.stop();
    await ipt.remove();
  });

  await t.test('nobody listening: fail-closed drops new connections, --queue-bypass accepts them', async (t) => {
    const closed = new Iptables({ backend: 'nft', prefix: prefixOf(), plan: { mode: 'nfqueue', allowMark: 0x2000000, queue: 70, queues: 1, failOpen: false } });
    await closed.install(pods);
    t.notOk(await topo.tcp('a', 'b', 8080), 'fail-closed: dropped');
    t.notOk(await topo.udp('a', 'b', 8080), 'fail-closed: UDP dropped');
    const open = new Iptables({ backend: 'nft', prefix: prefixOf(), plan: { mode: 'nfqueue', allowMark: 0x2000000, queue: 70, queues: 1, failOpen: true } });
    await open.install(pods);
    t.ok(await topo.tcp('a', 'b', 8080), 'fail-open: accepted');
    await open.remove();
    const r = await run(topo.in(topo.node, ['iptables', '-S']));
    t.notMatch(r.stdout, 'PALISADE');
  });
});
