// Metrics: the nfnetlink_queue parser on sample text, counters fed from the agent's typed arrays
// on scrape, and a real /metrics server on loopback (including requests that must not hurt it).

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeObject, applyDecoded } from '../../src/cluster/decode.ts';
import { buildClusterForCase, loadCases } from '../support/conformance-cases.ts';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/cluster/model.ts';
import { parseIP } from '../../src/net/address.ts';
import { SIDE, sideHasRule } from '../../src/policy/engine-api.ts';
import {
  AgentCounters, DIRECTION, PolicyCounters, VERDICT, createMetrics, parseMetricsAddress, parseNfnetlinkQueue,
  protoSlot, startMetricsServer, verdictSlot, VERDICT_SLOTS,
} from '../../src/agent/metrics.ts';
import { EvalSnapshot } from './eval-snapshot.ts';

// Two bound queues as the kernel prints them ("%5u %6u %5u %1u %5u %5u %5u %8u %2d").
const PROC_SAMPLE =
  '    0   3141     0 2 65531     0     0       17  1\n' +
  '    1 4294967295     5 2 65531    12     3     9000  1\n' +
  'garbage line\n' +
  '    2   77     1 2\n';

t.test('parseNfnetlinkQueue', async (t) => {
  t.same(parseNfnetlinkQueue(PROC_SAMPLE), [
    { queue: 0, peerPortId: 3141, queueTotal: 0, copyMode: 2, copyRange: 65531, queueDropped: 0, userDropped: 0, idSequence: 17 },
    { queue: 1, peerPortId: 4294967295, queueTotal: 5, copyMode: 2, copyRange: 65531, queueDropped: 12, userDropped: 3, idSequence: 9000 },
  ]);
  t.same(parseNfnetlinkQueue(''), []);
});

t.test('slots are distinct and dense', async (t) => {
  const seen = new Set<number>();
  for (let v = 0; v < 3; v++) for (let d = 0; d < 4; d++) for (let p = 0; p < 5; p++) seen.add(verdictSlot(v, d, p));
  t.equal(seen.size, VERDICT_SLOTS);
  t.equal(Math.max(...seen), VERDICT_SLOTS - 1);
  t.equal(protoSlot(IPPROTO_TCP), 0);
  t.equal(protoSlot(IPPROTO_UDP), 1);
  t.equal(protoSlot(250), 4);
});

t.test('parseMetricsAddress', async (t) => {
  t.same(parseMetricsAddress('9100'), { host: '127.0.0.1', port: 9100 });
  t.same(parseMetricsAddress('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
  t.same(parseMetricsAddress('[::1]:9100'), { host: '::1', port: 9100 });
  t.throws(() => parseMetricsAddress('localhost:9100'), /host must be an IP address, got "localhost"/);
  t.throws(() => parseMetricsAddress('127.0.0.1:70000'), /port must be a number from 0 to 65535, got "70000"/);
  t.throws(() => parseMetricsAddress('127.0.0.1:'), /port must be/);
});

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string; type?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, type: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (c) => (got += c.toString()));
    s.on('end', () => resolve(got));
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.write(bytes);
  });
}

t.test('scrape a real server on loopback', async (t) => {
  // Policies of the 9-pod model; a snapshot judges, the counters are what the classifier bumps.
  const c = loadCases().find((k) => k.file.includes('001-default-deny-ingress'))!;
  const st = buildClusterForCase(c);
  applyDecoded(st, decodeObject({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'allow-from-y' },
    spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] },
  }));
  const snap = new EvalSnapshot(st);
  const counters = new AgentCounters();
  const policies = new PolicyCounters();
  const hits = policies.bind(snap, 2);
  const ip = (s: string) => parseIP(s)!.words[0]!;
  const classify = (src: string, dst: string) => {
    const ok = snap.judge4(ip(src), ip(dst), IPPROTO_TCP, 80);
    if (sideHasRule(snap.ingressCode)) hits[snap.ingressCode]!++;
    const slot = verdictSlot(ok ? VERDICT.ALLOW : VERDICT.DENY, ok ? DIRECTION.NONE : DIRECTION.INGRESS, protoSlot(IPPROTO_TCP));
    counters.connections[slot]!++;
    counters.packets[slot]!++;
    if (!ok) policies.countDeny(snap.isolatingPolicies(snap.dstSlot, 'ingress'));
  };
  classify('10.244.2.1', '10.244.1.1'); // y/a -> x/a allowed by allow-from-y
  classify('10.244.2.2', '10.244.1.2'); // allowed
  classify('10.244.3.1', '10.244.1.1'); // z/a -> x/a denied
  // A recompile binds a new snapshot: counts so far must survive it.
  const hits2 = policies.bind(new EvalSnapshot(st, 2), 2);
  hits2[0]!++;

  const dir = mkdtempSync(join(tmpdir(), 'palisade-metrics-'));
  const proc = join(dir, 'nfnetlink_queue');
  writeFileSync(proc, PROC_SAMPLE);
  const m = createMetrics({
    counters, policies, nfqueueFile: proc, queues: [1],
    ruleTables: () => ({ pods: 9, rules: 2 }),
    syncLag: () => 1.5,
    generation: () => 2,
    verdictLog: () => ({ written: 10, suppressed: 3, dropped: 2 }),
    reasons: { counts: [Float64Array.from([1, 5, 2]), Float64Array.from([0, 1, 0])], names: ['invalid', 'policy-allow', 'policy-deny'] },
    invalid: { counts: [Float64Array.from([0, 1])], names: ['ok', 'truncated'] },
  });
  m.observeCompile(0.004, 'full');
  m.observeCompile(Number.NaN, 'full'); // ignored, not thrown

  const srv = await startMetricsServer(m.registry, { port: 0 });
  t.teardown(() => srv.close());
  t.equal(srv.address.host, '127.0.0.1', 'loopback by default');

  const r = await get(srv.address.port, '/metrics');
  t.equal(r.status, 200);
  t.match(r.type, /^text\/plain; version=0\.0\.4/);
  const lines = r.body.split('\n');
  const has = (l: string) => t.ok(lines.includes(l), l);
  has('# TYPE palisade_connections_total counter');
  has('palisade_connections_total{verdict="allow",direction="none",protocol="tcp"} 2');
  has('palisade_connections_total{verdict="deny",direction="ingress",protocol="tcp"} 1');
  has('palisade_packets_total{verdict="deny",direction="ingress",protocol="tcp"} 1');
  has('palisade_policy_verdicts_total{policy="x/allow-from-y",action="allow"} 3');
  has('palisade_policy_verdicts_total{policy="x/allow-from-y",action="deny"} 1');
  has('palisade_nfqueue_waiting{queue="1"} 5');
  has('palisade_nfqueue_dropped_total{queue="1"} 12');
  has('palisade_nfqueue_user_dropped_total{queue="1"} 3');
  has('palisade_nfqueue_queued_total{queue="1"} 9000');
  t.notOk(r.body.includes('queue="0"'), 'only the agent\'s queues');
  has('palisade_rule_table_entries{table="pods"} 9');
  has('palisade_sync_lag_seconds 1.5');
  has('palisade_rules_generation 2');
  has('palisade_verdict_log_lines_total{outcome="suppressed"} 3');
  has('palisade_verdict_log_lines_total{outcome="dropped"} 2');
  has('palisade_compile_seconds_count{kind="full"} 1');
  has('palisade_classifier_packets_total{reason="policy-allow"} 6');
  has('palisade_classifier_packets_total{reason="policy-deny"} 2');
  has('palisade_invalid_packets_total{problem="truncated"} 1');
  has('palisade_compile_seconds_bucket{le="0.005",kind="full"} 1');

  // The hot path keeps counting; the next scrape shows it (values are read at scrape time).
  counters.connections[verdictSlot(VERDICT.DENY, DIRECTION.INGRESS, protoSlot(IPPROTO_TCP))]! += 5;
  const r2 = await get(srv.address.port, '/metrics');
  t.ok(r2.body.includes('palisade_connections_total{verdict="deny",direction="ingress",protocol="tcp"} 6'));

  // Requests that are not a scrape.
  t.equal((await get(srv.address.port, '/')).status, 404);
  t.equal((await get(srv.address.port, '/metrics', 'POST')).status, 405);
  t.equal((await get(srv.address.port, '/metrics', 'HEAD')).status, 200);
  const bad = await raw(srv.address.port, 'THIS IS NOT HTTP\r\n\r\n');
  t.match(bad, /^HTTP\/1\.1 400 Bad Request/);
  const huge = await raw(srv.address.port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
  t.match(huge, /^HTTP\/1\.1 (400|431)/);
  const after = await get(srv.address.port, '/metrics');
  t.equal(after.status, 200, 'still serving after malformed requests');
});

t.test('allows counted after the fact (the verdict cache) go to the deciding snapshot\'s policy; a scrape refreshes them first', async (t) => {
  const c = loadCases().find((k) => k.file.includes('001-default-deny-ingress'))!;
  const st = buildClusterForCase(c);
  applyDecoded(st, decodeObject({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'allow-from-y' },
    spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] },
  }));
  const snap1 = new EvalSnapshot(st);
  const policies = new PolicyCounters();
  policies.bind(snap1, 2);
  t.ok(snap1.judge4(parseIP('10.244.2.1')!.words[0]!, parseIP('10.244.1.1')!.words[0]!, IPPROTO_TCP, 80), 'y/a -> x/a allowed');
  const code = snap1.ingressCode;
  policies.countAllowedSide(snap1, code, 3); // the snapshot in force
  policies.bind(new EvalSnapshot(st, 2), 2);
  policies.countAllowedSide(snap1, code, 4); // read after a rule change: still the old rules' policy
  policies.countAllowedSide(snap1, SIDE.NOT_ISOLATED, 5); // a side no rule decided counts nowhere
  t.same(policies.read().get('x/allow-from-y'), { allow: 7, deny: 0, audit: 0 });
  let kernel = 2; // admitted in the kernel, not read yet
  const m = createMetrics({ policies, nfqueueFile: null });
  const srv = await startMetricsServer(m.registry, { port: 0 }, async () => {
    policies.countAllowedSide(snap1, code, kernel);
    kernel = 0;
  });
  t.teardown(() => srv.close());
  t.match((await get(srv.address.port, '/metrics')).body, 'palisade_policy_verdicts_total{policy="x/allow-from-y",action="allow"} 9', 'read before the scrape');
});

t.test('a missing proc file does not fail the scrape', async (t) => {
  const m = createMetrics({ nfqueueFile: '/nonexistent/nfnetlink_queue' });
  const text = await m.registry.metrics();
  t.match(text, /# TYPE palisade_nfqueue_waiting gauge/);
  t.notMatch(text, /palisade_nfqueue_waiting\{/);
});

t.test('listening on a taken port fails with a clear error', async (t) => {
  const m = createMetrics({ nfqueueFile: null });
  const a = await startMetricsServer(m.registry, { port: 0 });
  t.teardown(() => a.close());
  await t.rejects(startMetricsServer(m.registry, { port: a.address.port }), /metrics server: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
});

// The health server caps its sockets so a flood of idle ones cannot use up the process's file
// descriptors (which the queues, ipset and conntrack calls need); the metrics server, the one an
// operator may bind to the node's address for a remote scraper, had no cap.
t.test('sockets past the cap are closed at once; the server serves again once they go', async (t) => {
  const { LOCAL_MAX_CONNECTIONS } = await import('../../src/agent/local-http.ts');
  const m = createMetrics({ nfqueueFile: null });
  const srv = await startMetricsServer(m.registry, { port: 0 });
  t.teardown(() => srv.close());
  const open = (): Promise<import('node:net').Socket> => new Promise((resolve, reject) => {
    const s = connect(srv.address.port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
  const idle = [];
  for (let i = 0; i < LOCAL_MAX_CONNECTIONS; i++) idle.push(await open());
  // Let the server accept them all before the next one comes (room for a loaded machine).
  await new Promise((r) => setTimeout(r, 500));
  const extra = await open();
  // Without the cap the server would hold it until its header timeout (5 s, checked each
  // second), so 4 s tells "closed for the cap" from "held", even on a slow machine.
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 4000);
    extra.on('close', () => { clearTimeout(timer); resolve(true); });
    extra.on('error', () => {});
  });
  t.ok(closed, `connection ${LOCAL_MAX_CONNECTIONS + 1} is closed by the server, not held`);
  extra.destroy();
  for (const s of idle) s.destroy();
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await get(srv.address.port, '/metrics')).status, 200, 'serving once the idle sockets are gone');
});

/**
 * The problems of a text exposition (format 0.0.4) as a scraper would meet them: each family's
 * HELP and TYPE once and before its samples, samples only of a declared family, label values
 * with only the three escapes, no series twice, numbers where numbers go (no NaN), counters
 * ending in _total and never negative, histogram buckets cumulative up to +Inf = _count.
 */
function expositionProblems(text: string): string[] {
  const problems: string[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const sampled = new Set<string>();
  const series = new Set<string>();
  const buckets = new Map<string, { le: number; v: number }[]>();
  const counts = new Map<string, number>();
  const NUM = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]Inf$/;
  const familyOf = (name: string): string | undefined => {
    if (types.has(name)) return name;
    const m = /^(.*)_(bucket|sum|count)$/.exec(name);
    return m && types.get(m[1]!) === 'histogram' ? m[1] : undefined;
  };
  if (!text.endsWith('\n')) problems.push('does not end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      const [, kind, name, rest] = m;
      if (sampled.has(name!)) problems.push(`${kind} ${name} after its samples`);
      if (kind === 'HELP') {
        if (helps.has(name!)) problems.push(`HELP ${name} twice`);
        helps.add(name!);
        if (/\\[^\\n]/.test(rest!.replace(/\\\\/g, ''))) problems.push(`HELP ${name}: an escape other than \\\\ and \\n`);
      } else {
        if (types.has(name!)) problems.push(`TYPE ${name} twice`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!)) problems.push(`TYPE ${name}: ${rest}`);
        types.set(name!, rest!);
        if (rest === 'counter' && !name!.endsWith('_total')) problems.push(`counter ${name} does not end in _total`);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) {
      problems.push(`not a sample: ${JSON.stringify(line)}`);
      continue;
    }
    const [, name, labelText, value] = m;
    const family = familyOf(name!);
    if (!family) problems.push(`${name}: no TYPE before it`);
    else sampled.add(family);
    const labels: [string, string][] = [];
    let rest = labelText ?? '';
    while (rest !== '') {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (!l) {
        problems.push(`${name}: bad label text ${JSON.stringify(rest)}`);
        break;
      }
      labels.push([l[1]!, l[2]!]);
      rest = rest.slice(l[0].length);
    }
    if (new Set(labels.map((x) => x[0])).size !== labels.length) problems.push(`${name}: a label twice`);
    const key = `${name}{${labels.map(([k, v]) => `${k}=${v}`).sort().join(',')}}`;
    if (series.has(key)) problems.push(`series twice: ${key}`);
    series.add(key);
    if (!NUM.test(value!)) {
      problems.push(`${key}: value ${value} is not a number`);
      continue;
    }
    const v = Number(value!.replace('Inf', 'Infinity'));
    if (family && types.get(family) === 'counter' && v < 0) problems.push(`${key}: counter below 0`);
    const rest2 = labels.filter(([k]) => k !== 'le').map(([k, x]) => `${k}=${x}`).sort().join(',');
    if (name!.endsWith('_bucket') && family) {
      const le = labels.find(([k]) => k === 'le')?.[1];
      if (le === undefined) problems.push(`${key}: a bucket without le`);
      else {
        const list = buckets.get(`${family}{${rest2}}`) ?? [];
        list.push({ le: Number(le.replace('Inf', 'Infinity')), v });
        buckets.set(`${family}{${rest2}}`, list);
      }
    }
    if (name!.endsWith('_count') && family && family !== name) counts.set(`${family}{${rest2}}`, v);
  }
  for (const name of types.keys()) if (!helps.has(name)) problems.push(`${name}: no HELP`);
  for (const [k, list] of buckets) {
    for (let i = 1; i < list.length; i++) {
      if (!(list[i]!.le > list[i - 1]!.le)) problems.push(`${k}: buckets not in order of le`);
      if (list[i]!.v < list[i - 1]!.v) problems.push(`${k}: buckets not cumulative`);
    }
    const last = list[list.length - 1];
    if (!last || last.le !== Infinity) problems.push(`${k}: no +Inf bucket`);
    else if (counts.get(k) !== last.v) problems.push(`${k}: +Inf bucket ${last.v} is not _count ${counts.get(k)}`);
  }
  return problems;
}

t.test('the exposition checker finds what it is for', async (t) => {
  const good = '# HELP a_total x\n# TYPE a_total counter\na_total{p="q\\"\\\\\\n"} 1\n';
  t.same(expositionProblems(good), []);
  const bad: [string, RegExp][] = [
    ['a_total 1\n# HELP a_total x\n# TYPE a_total counter\n', /no TYPE before it/],
    ['# HELP a x\n# TYPE a counter\na 1\n', /does not end in _total/],
    ['# HELP a x\n# TYPE a gauge\n# HELP a x\na 1\n', /HELP a twice/],
    ['# HELP a x\n# TYPE a gauge\na{p="x\\y"} 1\n', /bad label text/],
    ['# HELP a x\n# TYPE a gauge\na{p="x"} 1\na{p="x"} 2\n', /series twice/],
    ['# HELP a x\n# TYPE a gauge\na Nan\n', /not a number/],
    ['# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 1\nh_count 1\n', /not cumulative/],
    ['# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n', /no \+Inf bucket/],
  ];
  for (const [text, want] of bad) t.match(expositionProblems(text).join('; '), want, JSON.stringify(text));
});

// Policy names, pod names and table names are user text: quotes, backslashes, newlines and other
// characters must reach the scraper escaped, in a scrape a strict parser takes as a whole.
t.test('a real scrape with odd names is valid text exposition 0.0.4', async (t) => {
  const { registerAgentMetrics, AgentStats } = await import('../../src/agent/agent-stats.ts');
  const { DnsWiring } = await import('../../src/agent/dns-wiring.ts');
  const { SourceGuard } = await import('../../src/agent/source-guard.ts');
  const ODD = ['x/a"b', 'x/back\\slash', 'x/new\nline', 'admin/sp ace', 'x/ünï{}=,', 'x/\\n'];
  const policies = new PolicyCounters();
  policies.countDeny(ODD);
  policies.countDeny(ODD.slice(0, 2), true);
  const counters = new AgentCounters();
  counters.packets[verdictSlot(VERDICT.DENY, DIRECTION.BOTH, protoSlot(IPPROTO_UDP))] = 3;
  const dir = mkdtempSync(join(tmpdir(), 'palisade-metrics-'));
  writeFileSync(join(dir, 'q'), PROC_SAMPLE);
  const m = createMetrics({
    counters, policies, nfqueueFile: join(dir, 'q'),
    ruleTables: () => Object.fromEntries(ODD.map((n, i) => [n, i])), syncLag: () => 0.25, generation: () => 7,
    verdictLog: () => ({ written: 1, suppressed: 0, repeats: 2, dropped: 0 }),
    reasons: { counts: [Float64Array.from([1, 2])], names: ['a', 'b'] }, invalid: { counts: [], names: ['c'] },
  });
  for (const s of [0.0001, 0.003, 0.003, 0.7, 12]) m.observeCompile(s, 'incremental');
  m.observeCompile(0.02, 'full');
  registerAgentMetrics(m.registry, new AgentStats(), () => undefined);
  DnsWiring.registerMetrics(m.registry, () => undefined);
  const spoofedByPod = Object.fromEntries(ODD.map((n) => [n, 1]));
  SourceGuard.registerMetrics(m.registry, () => ({ status: () => ({ spoofedByPod, noInterfaceDrops: 0, podsWithoutInterface: [] }) }) as any);
  const srv = await startMetricsServer(m.registry, { port: 0 });
  t.teardown(() => srv.close());
  const r = await get(srv.address.port, '/metrics');
  t.equal(r.status, 200);
  t.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8');
  t.same(expositionProblems(r.body), [], 'no problems');
  const lines = r.body.split('\n');
  for (const l of [
    'palisade_policy_verdicts_total{policy="x/a\\"b",action="audit"} 1',
    'palisade_policy_verdicts_total{policy="x/back\\\\slash",action="deny"} 1',
    'palisade_policy_verdicts_total{policy="x/new\\nline",action="deny"} 1',
    'palisade_policy_verdicts_total{policy="x/\\\\n",action="deny"} 1',
    'palisade_spoofed_packets_total{pod="x/ünï{}=,"} 1',
    'palisade_compile_seconds_bucket{le="+Inf",kind="incremental"} 5',
  ]) t.ok(lines.includes(l), l);
});

t.test('a deleted policy\'s series goes away with the next snapshot, late counts do not bring it back, live ones keep counting up', async (t) => {
  const c = loadCases().find((k) => k.file.includes('001-default-deny-ingress'))!;
  const st = buildClusterForCase(c);
  applyDecoded(st, decodeObject({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'allow-from-y' },
    spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] },
  }));
  applyDecoded(st, decodeObject({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'deny-ingress' },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  }));
  const ip = (s: string) => parseIP(s)!.words[0]!;
  const policies = new PolicyCounters((p) => st.policies.has(p) || st.clusterPolicies.has(p));
  const m = createMetrics({ policies, nfqueueFile: null });
  const series = async () => (await m.registry.metrics()).split('\n').filter((l) => l.startsWith('palisade_policy_verdicts_total{'));

  const snap1 = new EvalSnapshot(st);
  const hits = policies.bind(snap1, 2);
  t.ok(snap1.judge4(ip('10.244.2.1'), ip('10.244.1.1'), IPPROTO_TCP, 80), 'y/a -> x/a allowed by allow-from-y');
  const allowCode = snap1.ingressCode;
  hits[allowCode]! += 3;
  t.notOk(snap1.judge4(ip('10.244.3.1'), ip('10.244.1.1'), IPPROTO_TCP, 80), 'z/a -> x/a denied');
  policies.countDeny(snap1.isolatingPolicies(snap1.dstSlot, 'ingress'));
  t.same((await series()).sort(), [
    'palisade_policy_verdicts_total{policy="x/allow-from-y",action="allow"} 3',
    'palisade_policy_verdicts_total{policy="x/allow-from-y",action="deny"} 1',
    'palisade_policy_verdicts_total{policy="x/deny-ingress",action="deny"} 1',
  ], 'both policies isolate x/a: the denial counts for each');

  // An update that keeps both policies: nothing goes backwards.
  policies.bind(new EvalSnapshot(st, 2), 2);
  t.equal((await series()).length, 3, 'a snapshot swap keeps the series and their values');
  t.match((await series()).join('\n'), 'policy="x/allow-from-y",action="allow"} 3');

  // allow-from-y is deleted: the state changes, then the snapshot built from it is bound.
  st.deletePolicy('x/allow-from-y');
  policies.bind(new EvalSnapshot(st, 3), 0);
  t.same(await series(), ['palisade_policy_verdicts_total{policy="x/deny-ingress",action="deny"} 1'], 'only the live policy\'s series');
  // The verdict cache's counters of the old rules, read after the deletion.
  policies.countAllowedSide(snap1, allowCode, 4);
  t.same(await series(), ['palisade_policy_verdicts_total{policy="x/deny-ingress",action="deny"} 1'], 'no series restarted from a late count');
  // 1000 policies created and deleted: the totals stay at the live ones.
  for (let i = 0; i < 1000; i++) {
    st.upsertPolicy({ ...st.policies.get('x/deny-ingress')!, name: `tmp-${i}` });
    policies.countDeny([`x/tmp-${i}`]);
    st.deletePolicy(`x/tmp-${i}`);
    policies.bind(new EvalSnapshot(st, 4 + i), 0);
  }
  t.equal(policies.read().size, 1, 'bounded by the policies that exist');
});

t.test('every metric the agent serves: HELP and TYPE, counters and only counters end in _total', async (t) => {
  const { registerAgentMetrics, AgentStats } = await import('../../src/agent/agent-stats.ts');
  const { DnsWiring } = await import('../../src/agent/dns-wiring.ts');
  const { SourceGuard } = await import('../../src/agent/source-guard.ts');
  const m = createMetrics({
    counters: new AgentCounters(), policies: new PolicyCounters(), nfqueueFile: null,
    ruleTables: () => ({ pods: 1 }), syncLag: () => 0, generation: () => 1,
    verdictLog: () => ({ written: 0, suppressed: 0 }),
    reasons: { counts: [], names: ['a'] }, invalid: { counts: [], names: ['b'] },
  });
  registerAgentMetrics(m.registry, new AgentStats(), () => undefined);
  const learner = { store: { size: 2, counters: { learned: 3, evictions: 0, expired: 1 } }, counters: { answers: 5, errors: { short: 1 } } };
  DnsWiring.registerMetrics(m.registry, () => learner as any);
  const guard = { status: () => ({ spoofedByPod: { 'x/a': 4 }, noInterfaceDrops: 2, podsWithoutInterface: [] }) };
  SourceGuard.registerMetrics(m.registry, () => guard as any);
  const text = await m.registry.metrics();
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => [x[1]!, x[2]!]));
  const helps = new Set([...text.matchAll(/^# HELP (\S+) \S/gm)].map((x) => x[1]!));
  t.ok(types.size >= 20, `${types.size} metrics`);
  for (const [name, type] of types) {
    t.ok(helps.has(name), `${name} has HELP`);
    t.match(name, /^palisade_[a-z0-9_]+$/, `${name}: one prefix, snake case`);
    if (type === 'counter') t.match(name, /_total$/, `${name} is a counter, so it ends in _total`);
    else t.notMatch(name, /_total$/, `${name} is a ${type}, so it does not end in _total`);
  }
  const lines = text.split('\n');
  for (const l of ['palisade_dns_answers_total 5', 'palisade_dns_parse_errors_total 1', 'palisade_dns_records 2', 'palisade_spoofed_packets_total{pod="x/a"} 4', 'palisade_spoof_no_interface_drops_total 2']) {
    t.ok(lines.includes(l), l);
  }
});
