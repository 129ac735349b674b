// The agent's health server: liveness and readiness answers, and robustness against malformed
// requests (it shares the process with the enforcer, so a bad request must never take it down).

import t from 'tap';
import { connect } from 'node:net';
import { HealthServer, parseHealthAddress } from '../../src/agent/health.ts';

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Writes raw bytes and returns whatever the server answers before closing. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve(out));
    s.write(bytes, 'latin1', () => s.end());
  });
}

t.test('readiness needs a full sync AND installed rules; disconnection makes it unready again', async (t) => {
  const h = new HealthServer({ port: 0 });
  const { host, port } = await h.start();
  t.teardown(() => h.stop());
  t.equal(host, '127.0.0.1', 'loopback by default');

  let r = await get(port, '/readyz');
  t.equal(r.status, 503);
  t.same(r.body.reasons, ['cluster state not fully listed yet', 'rules not installed yet']);

  h.setSynced(true);
  r = await get(port, '/readyz');
  t.equal(r.status, 503);
  t.same(r.body.reasons, ['rules not installed yet']);

  h.setRulesInstalled(true);
  r = await get(port, '/readyz');
  t.equal(r.status, 200);
  t.equal(r.body.status, 'ok');

  h.setConnected(false);
  r = await get(port, '/readyz');
  t.equal(r.status, 503);
  t.match(r.body.reasons[0], /disconnected/);
  h.setConnected(true);
  t.equal((await get(port, '/readyz?verbose')).status, 200, 'query strings are ignored');

  t.equal((await get(port, '/healthz')).status, 200, 'alive regardless of readiness');
  t.equal((await get(port, '/readyz', 'HEAD')).status, 200);
  t.equal((await get(port, '/nope')).status, 404);
  t.equal((await get(port, '/readyz', 'POST')).status, 405);
});

t.test('liveness fails when the event-loop heartbeat is stale', async (t) => {
  let now = 1_000_000;
  const h = new HealthServer({ port: 0, now: () => now, heartbeatMs: 3_600_000, stallMs: 30_000 });
  const { port } = await h.start();
  t.teardown(() => h.stop());
  t.equal((await get(port, '/healthz')).status, 200);
  now += 31_000; // the heartbeat timer "did not run" for 31 s
  const r = await get(port, '/healthz');
  t.equal(r.status, 503);
  t.match(r.body.reasons[0], /heartbeat is 31000 ms old/);
});

t.test('malformed and hostile requests get an error or a closed socket, and the server keeps serving', async (t) => {
  const h = new HealthServer({ port: 0 });
  const { port } = await h.start();
  t.teardown(() => h.stop());
  h.setSynced(true);
  h.setRulesInstalled(true);
  const answers = await Promise.all([
    raw(port, 'GARBAGE\r\n\r\n'),
    raw(port, 'GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'),
    raw(port, 'GET /readyz HTTP/9.9\r\n\r\n'),
    raw(port, `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    raw(port, 'GET /readyz HTTP/1.1\r\nHost: x\r\nX: ' + '\u0000\u0001\u00ff' + '\r\n\r\n'),
    raw(port, '\u0000\u0001\u0002\u0003'),
    raw(port, ''),
  ]);
  for (const a of answers) t.notMatch(a, /^HTTP\/1\.1 200/, `not served as a normal request: ${JSON.stringify(a.slice(0, 40))}`);
  t.match(answers[0], /^HTTP\/1\.1 400/);
  t.equal((await get(port, '/readyz')).status, 200, 'still serving');
  t.equal((await get(port, '/healthz')).status, 200);
});

t.test('address parsing names the bad part', async (t) => {
  t.same(parseHealthAddress('9808'), { host: '127.0.0.1', port: 9808 });
  t.same(parseHealthAddress('0.0.0.0:9000'), { host: '0.0.0.0', port: 9000 });
  t.same(parseHealthAddress('[::1]:9808'), { host: '::1', port: 9808 });
  t.throws(() => parseHealthAddress('localhost:9808'), /host must be an IP address, got "localhost"/);
  t.throws(() => parseHealthAddress('127.0.0.1:99999'), /port must be a number from 0 to 65535, got "99999"/);
  t.throws(() => parseHealthAddress('127.0.0.1:'), /port/);
  t.throws(() => parseHealthAddress('[::1]9808'), /host must be an IP address/);
});

t.test('a port in use is an error from start(), not a crash', async (t) => {
  const a = new HealthServer({ port: 0 });
  const { port } = await a.start();
  t.teardown(() => a.stop());
  const b = new HealthServer({ port });
  await t.rejects(b.start(), /EADDRINUSE/);
});

// The status file's `ready` is the kubelet's Ready: the same answer as /readyz, with the same
// reasons, in every state; `enforcing` says whether rules are in force, which stays true while a
// watch is down (the last known state is enforced, but it may be getting stale).
t.test('the status file\'s ready and notReadyReasons are /readyz\'s answer; enforcing is the rules being in force', async (t) => {
  const { statusReadiness } = await import('../../src/agent/agent-stats.ts');
  const LISTED = 'cluster state not fully listed yet';
  const RULES = 'rules not installed yet';
  const WATCH = 'API server watch disconnected, reconnecting';
  const rows: { synced: boolean; rules: boolean; connected: boolean; reasons: string[] }[] = [
    { synced: false, rules: false, connected: false, reasons: [LISTED, RULES, WATCH] },
    { synced: false, rules: false, connected: true, reasons: [LISTED, RULES] },
    { synced: true, rules: false, connected: true, reasons: [RULES] },
    { synced: true, rules: false, connected: false, reasons: [RULES, WATCH] },
    { synced: true, rules: true, connected: false, reasons: [WATCH] },
    { synced: true, rules: true, connected: true, reasons: [] },
  ];
  const h = new HealthServer({ port: 0 });
  const { port } = await h.start();
  t.teardown(() => h.stop());
  for (const row of rows) {
    const name = `synced=${row.synced} rules=${row.rules} connected=${row.connected}`;
    h.setSynced(row.synced);
    h.setRulesInstalled(row.rules);
    h.setConnected(row.connected);
    const r = await get(port, '/readyz');
    t.equal(r.status, row.reasons.length === 0 ? 200 : 503, `${name}: /readyz`);
    t.same(r.body.reasons ?? [], row.reasons, `${name}: /readyz reasons`);
    const s = statusReadiness({ synced: row.synced, enforcing: row.rules, connected: row.connected });
    t.same(s, { ready: row.reasons.length === 0, enforcing: row.rules, notReadyReasons: row.reasons }, `${name}: status file`);
  }
});

// The agent starts its health server before anything else (the kubelet probes it from the
// start); a port another process holds stopped `palisade agent` with a stack trace and "a bug
// in Palisade" (exit 70). In process: run() returns at the failed listen, before the agent starts.
t.test('palisade agent with a --health port in use: one line naming the address, exit 1', async (t) => {
  const { createServer } = await import('node:net');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { run } = await import('../../src/cli/commands/agent.ts');
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const port = (holder.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'palisade-health-taken-'));
  writeFileSync(join(dir, 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n');
  const said: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (said.push(String(s)), true)) as typeof process.stderr.write;
  let code: number | undefined;
  let thrown: unknown;
  try {
    code = await run(['--node', 'n1', '--manifests', join(dir, 'ns.yaml'), '--health', `127.0.0.1:${port}`]);
  } catch (e) {
    thrown = e;
  } finally {
    process.stderr.write = write;
  }
  t.equal(thrown, undefined, `no exception out of run (got ${String(thrown)})`);
  t.equal(code, 1);
  const line = said.find((s) => s.startsWith('palisade agent: '));
  t.match(line, new RegExp(`^palisade agent: --health 127\\.0\\.0\\.1:${port}: cannot listen: .*address already in use\\n$`));
});

// RFC 9110 15.5.6: a 405 must list the methods the resource takes (the metrics endpoint did).
t.test('a method other than GET or HEAD: 405 with an Allow header, on both paths', async (t) => {
  const h = new HealthServer({ port: 0 });
  const { port } = await h.start();
  t.teardown(() => h.stop());
  for (const path of ['/healthz', '/readyz']) {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
      await res.text();
      t.equal(res.status, 405, `${method} ${path}`);
      t.equal(res.headers.get('allow'), 'GET, HEAD', `${method} ${path}: Allow`);
    }
  }
});

// Slow clients (headers a byte at a time, never finished) must neither hold up the probes while
// they trickle nor keep their sockets past the header timeout (5 s, checked every second).
t.test('slow clients: probes are answered meanwhile, and their sockets are closed after the header timeout', async (t) => {
  const h = new HealthServer({ port: 0 });
  const { port } = await h.start();
  t.teardown(() => h.stop());
  const t0 = Date.now();
  const slow = Array.from({ length: 20 }, () => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    let said = '';
    s.on('data', (d) => (said += d.toString('latin1'))); // and so its end: a paused socket never sees it
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const drip = setInterval(() => s.writable && s.write('a'), 200);
    return new Promise<number>((resolve) => s.on('close', () => {
      clearInterval(drip);
      answers.push(said.split('\r\n')[0]!);
      resolve(Date.now() - t0);
    }));
  });
  const answers: string[] = [];
  t.equal((await get(port, '/healthz')).status, 200, 'a probe while they trickle');
  // Each closes by the server's header timeout (they never finish their headers and never end
  // themselves). How long that took is only said (tests do not assert on time); 30 s, six times
  // the timeout, only bounds the wait, so a server that never closes them fails here, not at
  // tap's own timeout.
  let closed = 0;
  const closedAfter = await Promise.race([
    Promise.all(slow.map((p) => p.then((ms) => { closed++; return ms; }))),
    new Promise<number[]>((resolve) => setTimeout(() => resolve([]), 30_000)),
  ]);
  t.equal(closed, 20, 'every slow socket was closed by the server');
  if (closedAfter.length) t.comment(`the slow sockets closed after ${Math.min(...closedAfter)}-${Math.max(...closedAfter)} ms`);
  // Told why, as Node's own answer would (it was a 400, the answer to a malformed request).
  t.same([...new Set(answers)], ['HTTP/1.1 408 Request Timeout'], 'each told 408');
});

t.test('a request the parser refuses is answered with the status that says why', async (t) => {
  const h = new HealthServer({ port: 0 });
  const { port } = await h.start();
  t.teardown(() => h.stop());
  const cases: [string, string, string][] = [
    ['garbage', 'GARBAGE\r\n\r\n', 'HTTP/1.1 400 Bad Request'],
    ['a header past Node\'s 16 KiB', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`, 'HTTP/1.1 431 Request Header Fields Too Large'],
  ];
  for (const [what, bytes, want] of cases) t.equal((await raw(port, bytes)).split('\r\n')[0], want, what);
});
