// palisade_sync_lag_seconds: how long the agent's cluster state may have been missing API server
// changes. The kube source against the fake API server, the agent's metrics registry fed from it
// (agent.ts passes source.lagSeconds as syncLag), scraped over loopback: 0 while every watch is
// up, the seconds since a watch went down while it is down, 0 again once it is back.

import t from 'tap';
import { request } from 'node:http';
import { createMetrics, startMetricsServer } from '../../src/agent/metrics.ts';
import { sleep, startHarness, waitFor } from '../support/kube-fixtures.ts';

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

const lagOf = (text: string): number => {
  const m = /^palisade_sync_lag_seconds (\S+)$/m.exec(text);
  if (!m) throw new Error(`no palisade_sync_lag_seconds in:\n${text}`);
  return Number(m[1]);
};

t.test('palisade_sync_lag_seconds follows the watches: 0 when up, seconds since the outage while down', async (t) => {
  const h = await startHarness({ source: { backoffInitialMs: 50, backoffMaxMs: 100 } });
  t.teardown(() => h.close());
  const m = createMetrics({ nfqueueFile: null, syncLag: h.source.lagSeconds ? () => h.source.lagSeconds!() : undefined });
  const srv = await startMetricsServer(m.registry, { port: 0 });
  t.teardown(() => srv.close());
  const lag = async () => lagOf(await scrape(srv.address.port));

  await waitFor('connected', () => h.source.isConnected);
  t.equal(await lag(), 0, 'every watch up');

  const downAt = Date.now();
  await h.server.stop();
  await waitFor('disconnected', () => !h.source.isConnected);
  // The source noticed the outage between downAt and seenAt: the lag is at least the time since
  // seenAt and at most the time since downAt.
  const seenAt = Date.now();
  const steps: { afterMs: number }[] = [{ afterMs: 300 }, { afterMs: 700 }];
  let before = 0;
  for (const s of steps) {
    await sleep(s.afterMs - (Date.now() - downAt));
    const atLeast = (Date.now() - seenAt) / 1000;
    const seconds = await lag();
    const atMost = (Date.now() - downAt) / 1000;
    t.ok(seconds >= atLeast && seconds <= atMost, `about ${s.afterMs} ms down: ${seconds} s (${atLeast}..${atMost})`);
    t.ok(seconds > before, 'and growing');
    before = seconds;
  }

  await h.server.start();
  await waitFor('reconnected', () => h.source.isConnected, 10_000);
  t.equal(await lag(), 0, 'back to 0 once every watch is up again');
});
