// Hostile HTTP against the agent's metrics (src/agent/metrics.ts startMetricsServer) and health
// (src/agent/health.ts HealthServer) endpoints, both started with their default host: they must
// bind to loopback only, and garbage bytes, oversized headers, malformed request lines and
// framing, slowloris-style partial requests and connection floods must not crash them. After
// each attack a normal request is answered, and slow clients are cut by the servers' header
// timeouts within a bounded wait.

import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Rng } from '../../support/random-cluster.ts';
import { HealthServer } from '../../src/agent/health.ts';
import { AgentCounters, PolicyCounters, createMetrics, startMetricsServer } from '../../src/agent/metrics.ts';
import { bindRow, round, MB } from './support/results.ts';

const HOST = '127.0.0.1';
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Sends bytes, returns what came back (status line) before the server closed or `ms` passed. */
function exchange(port: number, bytes: Buffer | string, ms = 3000): Promise<{ status: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, HOST);
    let got = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ status: /^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1] ?? (got ? 'other' : 'none'), closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.write(bytes, () => s.end());
  });
}

async function get(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://${HOST}:${port}${path}`, { signal: AbortSignal.timeout(5000) });
    await res.text();
    return res.status;
  } catch {
    return 0;
  }
}

function tally(list: { status: string }[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of list) m[x.status] = (m[x.status] ?? 0) + 1;
  return m;
}

const MALFORMED: readonly string[] = [
  'GET /metrics HTTP/9.9\r\n\r\n',
  'GET\r\n\r\n',
  'GET /metrics\r\n\r\n',
  'FOO /metrics HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET http://evil.example/metrics HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /metrics?%%%%%ZZ HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /%00/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
  'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
  'POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nxx\r\n0\r\n\r\n',
  'POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
  'GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header Name: y\r\n\r\n',
  'GET /metrics HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n',
  'GET /metrics HTTP/1.1\r\nHost: x\r\nX: \u0000\u0001\r\n\r\n',
  'GET /metrics HTTP/1.1\nHost: x\n\n',
  'GET /metrics HTTP/1.1\r\nHost: x\r\n' + ' folded\r\n\r\n',
  'GET /' + 'a'.repeat(200_000) + ' HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(200),
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003',
];

interface Target {
  readonly name: string;
  readonly port: number;
  readonly host: string;
  readonly path: string;
  readonly connections: () => Promise<number>;
}

async function attack(t: Test, target: Target): Promise<void> {
  const r = bindRow(t, 'hostile', `HTTP ${target.name} endpoint`, 'http-endpoints.stress.ts');
  const rng = new Rng(target.port);
  t.equal(target.host, HOST, `${target.name}: bound to loopback by default`);
  t.equal(await get(target.port, target.path), 200, `${target.name}: answers before the attack`);
  let tried = 0;

  // 1. Garbage bytes.
  const garbage = [];
  for (let i = 0; i < 300; i++) {
    const b = Buffer.alloc(1 + rng.int(4096));
    for (let k = 0; k < b.length; k++) b[k] = rng.int(256);
    garbage.push(exchange(target.port, b));
  }
  const g = await Promise.all(garbage);
  tried += g.length;
  t.equal(await get(target.port, target.path), 200, `${target.name}: answers after 300 garbage requests`);

  // 2. Oversized headers: 64 kB to 4 MB of header lines.
  const huge = [];
  for (const size of [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024]) {
    for (let i = 0; i < 5; i++) huge.push(exchange(target.port, `GET ${target.path} HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(size)}\r\n\r\n`, 5000));
  }
  const h = await Promise.all(huge);
  tried += h.length;
  t.notOk(h.some((x) => x.status === '200'), `${target.name}: no oversized request was served`);
  t.equal(await get(target.port, target.path), 200, `${target.name}: answers after oversized headers`);

  // 3. Malformed request lines and framing.
  const m = await Promise.all(MALFORMED.map((x) => exchange(target.port, x)));
  tried += m.length;
  t.equal(await get(target.port, target.path), 200, `${target.name}: answers after malformed requests`);

  // 4. A connection flood: 1000 concurrent requests.
  const flood = await Promise.all(Array.from({ length: 1000 }, () => exchange(target.port, `GET ${target.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 8000)));
  tried += flood.length;
  const served = flood.filter((x) => x.status === '200' || x.status === '503').length;
  t.equal(await get(target.port, target.path), 200, `${target.name}: answers after a 1000-connection flood`);

  // 5. Slowloris: 50 clients that send a request line and then a header byte every 400 ms (the
  // health server takes at most 64 connections at once: more would lock probes out until the
  // header timeout cuts them).
  const slow: Socket[] = [];
  const slowClosed = { n: 0 };
  for (let i = 0; i < 50; i++) {
    const s = connect(target.port, HOST);
    s.on('error', () => {});
    s.on('data', () => {}); // read the server's answer, so its FIN is seen
    s.on('close', () => slowClosed.n++);
    s.write(`GET ${target.path} HTTP/1.1\r\nHost: x\r\nX-Slow: `);
    slow.push(s);
  }
  tried += slow.length;
  const drip = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write('a'); }, 400);
  await new Promise((res) => setTimeout(res, 1000));
  const during: number[] = [];
  for (let i = 0; i < 5; i++) during.push(await get(target.port, target.path));
  const servedDuring = during.filter((x) => x === 200).length;
  t.equal(servedDuring, during.length, `${target.name}: requests served while slow clients hold connections`);
  // The servers cut a request whose headers take longer than headersTimeout (5 s); Node checks
  // every connectionsCheckingInterval (30 s by default), so allow up to 45 s.
  const t0 = Date.now();
  while (slowClosed.n < slow.length && Date.now() - t0 < 45_000) await new Promise((res) => setTimeout(res, 250));
  clearInterval(drip);
  const cutAfter = (Date.now() - t0 + 1000) / 1000;
  const cut = slowClosed.n;
  for (const s of slow) s.destroy();
  t.equal(cut, slow.length, `${target.name}: every slow client was cut by the server (${cut}/${slow.length} within ${round(cutAfter)} s)`);
  t.equal(await get(target.port, target.path), 200, `${target.name}: answers after slowloris`);

  await new Promise((res) => setTimeout(res, 300));
  const open = await target.connections();
  Object.assign(r.figures, {
    'requests tried': tried,
    garbage: JSON.stringify(tally(g)),
    'oversized headers': JSON.stringify(tally(h)),
    malformed: JSON.stringify(tally(m)),
    'flood served': `${served}/${flood.length}`,
    'probes served during slowloris': `${servedDuring}/5`,
    'slow clients cut': `${cut}/${slow.length} in ${round(cutAfter)} s`,
    'open connections after': open,
  });
  r.tried = { n: tried, what: 'hostile requests/connections' };
  r.wrong = h.filter((x) => x.status === '200').length + (during.length - servedDuring);
  t.ok(open <= 1, `${target.name}: no connection left open by the attacks (${open})`);
}

t.test('metrics and health endpoints under hostile HTTP', async (t) => {
  const metrics = createMetrics({ counters: new AgentCounters(), policies: new PolicyCounters(), nfqueueFile: null });
  const ms = await startMetricsServer(metrics.registry, { port: 0 });
  t.teardown(() => ms.close());
  const health = new HealthServer({ port: 0 });
  const ha = await health.start();
  health.setSynced(true);
  health.setRulesInstalled(true);
  t.teardown(() => health.stop());
  const conns = (srv: { getConnections(cb: (e: Error | null, n: number) => void): void }) => () => new Promise<number>((res) => srv.getConnections((_e, n) => res(n)));
  // Both at once: the slowloris waits overlap.
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  // Both at once (one test, assertions prefixed), so the slowloris waits overlap.
  await Promise.all([
    attack(t, { name: '/metrics', port: ms.address.port, host: ms.address.host, path: '/metrics', connections: conns(ms.server) }),
    attack(t, { name: '/readyz (health)', port: ha.port, host: ha.host, path: '/readyz', connections: conns((health as unknown as { server: { getConnections(cb: (e: Error | null, n: number) => void): void } }).server) }),
  ]);
  // Clients and servers share this process: after a full GC the heap must be back near where it
  // was (no request, socket or parser kept alive by the servers).
  gc();
  const growth = process.memoryUsage().heapUsed - heap0;
  t.ok(growth < 16 * MB, `heap after the attacks and a full GC within 16 MB of before (${round(growth / MB)} MB)`);
});
