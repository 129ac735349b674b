// Verdict log: line content from a RuleSnapshot judging real policies (the conformance model),
// per-source rate limiting driven by an injected clock, summaries of suppressed lines, the file
// sink, and reading lines back for `palisade logs`.

import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyStep, buildClusterForCase, loadCases } from '../support/conformance-cases.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/cluster/model.ts';
import { parseIP } from '../../src/net/address.ts';
import {
  describeConnection, formatHuman, openSinks, parseLogLine, TokenBuckets, VerdictLog,
  type JudgedConnection, type LogLine, type VerdictLine,
} from '../../src/agent/verdict-log.ts';
import { EvalSnapshot } from './eval-snapshot.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { SIDE, type RuleSnapshot } from '../../src/policy/engine-api.ts';

/** The 9-pod model (x,y,z x a,b,c; pod <ns>/<p> = 10.244.N.P) with extra policies applied. */
function model(policies: unknown[]): ClusterState {
  const c = loadCases().find((k) => k.file.includes('001-default-deny-ingress'))!;
  const st = buildClusterForCase(c);
  st.batch(() => {
    for (const p of policies) {
      const d = decodeObject(p);
      if (d.kind === 'invalid') throw new Error(JSON.stringify(d.errors));
      applyDecoded(st, d);
    }
  });
  return st;
}

const pol = (ns: string, name: string, spec: unknown) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name }, spec,
});

const POLICIES = [
  pol('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
  pol('x', 'allow-from-y', {
    podSelector: { matchLabels: { pod: 'a' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] }],
  }),
  pol('z', 'z-egress-lock', { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'] }),
];

function v4(ip: string): number {
  return parseIP(ip)!.words[0]!;
}

/** What the classifier does: judge, then copy the numbers out for the log. */
function judge(snap: EvalSnapshot, src: string, dst: string, port: number, proto = IPPROTO_TCP, audit = false): JudgedConnection {
  snap.judge4(v4(src), v4(dst), proto, port);
  return {
    src, dst, proto, port,
    egressCode: snap.egressCode, ingressCode: snap.ingressCode, srcSlot: snap.srcSlot, dstSlot: snap.dstSlot,
    ...(audit ? { audit: true } : {}),
  };
}

const T0 = Date.parse('2026-11-22T03:00:00.000Z');

t.test('line content: ingress deny, egress deny, both, allowed', async (t) => {
  const snap = new EvalSnapshot(model(POLICIES), 7);
  const at = new Date(T0);

  // z/a -> x/b:80: x/b is isolated by x/deny-ingress only.
  const l1 = describeConnection(snap, judge(snap, '10.244.3.1', '10.244.1.2', 80), at);
  t.same(l1, {
    time: '2026-11-22T03:00:00.000Z',
    verdict: 'deny',
    direction: 'ingress',
    src: { ip: '10.244.3.1', pod: 'z/a' },
    dst: { ip: '10.244.1.2', pod: 'x/b', port: 80 },
    protocol: 'TCP',
    reason: 'ingress of x/b: denied: isolated by x/deny-ingress, no rule allows',
    generation: 7,
  });

  // x/a is isolated by both x policies: both are named.
  const l2 = describeConnection(snap, judge(snap, '10.244.3.1', '10.244.1.1', 80), at);
  t.equal(l2.reason, 'ingress of x/a: denied: isolated by x/allow-from-y, x/deny-ingress, no rule allows');

  // z/c -> y/a: z/c's egress is locked, y/a is open.
  const l3 = describeConnection(snap, judge(snap, '10.244.3.3', '10.244.2.1', 80, IPPROTO_UDP), at);
  t.equal(l3.direction, 'egress');
  t.equal(l3.protocol, 'UDP');
  t.equal(l3.reason, 'egress of z/c: denied: isolated by z/z-egress-lock, no rule allows');

  // z/c -> x/b: both sides deny.
  const l4 = describeConnection(snap, judge(snap, '10.244.3.3', '10.244.1.2', 80), at);
  t.equal(l4.direction, 'both');
  t.equal(l4.reason, 'egress of z/c: denied: isolated by z/z-egress-lock, no rule allows; and ingress of x/b: denied: isolated by x/deny-ingress, no rule allows');

  // The same as the classifier reports it: its judgement stopped at the egress denial, so the
  // ingress side is SKIPPED and the line names the egress side alone.
  const l4s = describeConnection(snap, { ...judge(snap, '10.244.3.3', '10.244.1.2', 80), ingressCode: SIDE.SKIPPED }, at);
  t.equal(l4s.direction, 'egress');
  t.equal(l4s.reason, 'egress of z/c: denied: isolated by z/z-egress-lock, no rule allows');

  // y/b -> x/a:80 is allowed by allow-from-y ingress[0].
  const l5 = describeConnection(snap, judge(snap, '10.244.2.2', '10.244.1.1', 80), at);
  t.equal(l5.verdict, 'allow');
  t.equal(l5.direction, undefined);
  t.equal(l5.reason, 'egress of y/b: allowed: not isolated; ingress of x/a: allowed by x/allow-from-y ingress[0]');

  // An address that is no pod has no pod field.
  const l6 = describeConnection(snap, judge(snap, '192.0.2.9', '10.244.1.2', 443), at);
  t.same(l6.src, { ip: '192.0.2.9' });
  t.equal(l6.verdict, 'deny');
});

t.test('only denied connections are logged unless logAllowed; audit lines are flagged', async (t) => {
  const snap = new EvalSnapshot(model(POLICIES));
  const lines: string[] = [];
  const log = new VerdictLog({ write: (l) => lines.push(l), now: () => T0 });
  t.equal(log.record(snap, judge(snap, '10.244.2.2', '10.244.1.1', 80)), false, 'allowed: not logged');
  t.equal(log.record(snap, judge(snap, '10.244.2.2', '10.244.1.2', 80, IPPROTO_TCP, true)), true);
  t.equal(lines.length, 1);
  const l = JSON.parse(lines[0]!) as VerdictLine;
  t.equal(l.audit, true);
  t.equal(l.verdict, 'deny');
  t.match(formatHuman(l), /^2026-11-22T03:00:00.000Z WOULD-DENY TCP 10.244.2.2 \(y\/b\) -> 10.244.1.2:80 \(x\/b\) \[ingress\]: ingress of x\/b: denied: isolated by x\/deny-ingress, no rule allows$/);

  const all: string[] = [];
  const log2 = new VerdictLog({ write: (x) => all.push(x), now: () => T0, logAllowed: true });
  t.equal(log2.record(snap, judge(snap, '10.244.2.2', '10.244.1.1', 80)), true);
  t.match(formatHuman(JSON.parse(all[0]!)), /ALLOW .* allowed by x\/allow-from-y ingress\[0\]/);
});

t.test('rate limit per source pod: burst, refill, summaries', async (t) => {
  const snap = new EvalSnapshot(model(POLICIES));
  let now = T0;
  const lines: LogLine[] = [];
  const log = new VerdictLog({ write: (l) => lines.push(JSON.parse(l)), now: () => now, rate: { perSecond: 10, burst: 20 } });
  const fromZA = judge(snap, '10.244.3.1', '10.244.1.2', 80);
  const fromZB = judge(snap, '10.244.3.2', '10.244.1.2', 80);

  let written = 0;
  for (let i = 0; i < 25; i++) if (log.record(snap, fromZA)) written++;
  t.equal(written, 20, 'burst of 20 passes');
  t.equal(log.stats.suppressed, 5);
  t.ok(log.record(snap, fromZB), 'another source pod has its own bucket');

  now += 100; // one token back (10/s)
  t.ok(log.record(snap, fromZA));
  const summary = lines[lines.length - 2]!;
  t.same(summary, { time: new Date(now).toISOString(), summary: 'rate-limited', source: 'z/a', suppressed: 5 }, 'suppressed count reported before the next line');
  t.notOk(log.record(snap, fromZA), 'bucket empty again');

  now += 5000;
  log.flush();
  t.same(lines[lines.length - 1], { time: new Date(now).toISOString(), summary: 'rate-limited', source: 'z/a', suppressed: 1 });
  log.flush();
  t.equal(lines.filter((l) => 'summary' in l).length, 2, 'nothing left to summarise');
  t.match(formatHuman(lines[lines.length - 1]!), /RATE-LIMIT  1 line\(s\) from z\/a suppressed/);

  // After a long pause the bucket is full again (capped at burst).
  now += 60_000;
  let again = 0;
  for (let i = 0; i < 30; i++) if (log.record(snap, fromZA)) again++;
  t.equal(again, 20);
});

t.test('a counted repeat writes nothing and takes no token', async (t) => {
  const snap = new EvalSnapshot(model(POLICIES));
  const lines: string[] = [];
  const log = new VerdictLog({ write: (l) => lines.push(l), now: () => T0, rate: { perSecond: 1, burst: 1 } });
  for (let i = 0; i < 5; i++) log.countRepeat();
  t.same(log.stats, { written: 0, suppressed: 0, repeats: 5 });
  t.ok(log.record(snap, judge(snap, '10.244.3.1', '10.244.1.2', 80)), 'the one token is still there');
});

t.test('token buckets are bounded in number', async (t) => {
  const b = new TokenBuckets({ perSecond: 1, burst: 1, maxKeys: 3 });
  for (const k of ['a', 'b', 'c', 'd']) t.equal(b.take(k, 0), 0);
  t.equal(b.size, 3);
  t.equal(b.take('b', 0), -1, 'b is still tracked (and empty)');
  t.throws(() => new TokenBuckets({ perSecond: 0, burst: 1 }));
});

t.test('file sink appends; parseLogLine reads our lines and nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-vlog-'));
  const file = join(dir, 'verdicts.log');
  writeFileSync(file, '{"old":true}\n');
  const sinks = openSinks({ file });
  const snap = new EvalSnapshot(model(POLICIES));
  const log = new VerdictLog({ write: sinks.write, now: () => T0 });
  log.record(snap, judge(snap, '10.244.3.1', '10.244.1.2', 80));
  await sinks.close();
  const text = readFileSync(file, 'utf8').trimEnd().split('\n');
  t.equal(text.length, 2);
  t.equal(text[0], '{"old":true}');
  const parsed = parseLogLine(text[1]!);
  t.equal((parsed as VerdictLine).dst.pod, 'x/b');
  t.equal(parseLogLine(text[0]!), undefined);
  t.equal(parseLogLine('not json'), undefined);
  t.equal(parseLogLine('{"time":"x","verdict":"deny","src":{},"dst":{"ip":"1.2.3.4","port":1}}'), undefined);
  t.equal(sinks.dropped(), 0);
});

t.test('a file that cannot be written is reported once, its lines counted as dropped, and tried again later', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'palisade-vlog-')), 'not-yet');
  const file = join(dir, 'verdicts.log');
  const reports: [string, string][] = [];
  let now = 0;
  const sinks = openSinks({ file, report: (level, m) => reports.push([level, m]), now: () => now, retryMs: 1000 });
  const settle = () => new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 3; i++) sinks.write(`{"n":${i}}`); // buffered while the open fails
  await settle();
  for (let i = 3; i < 5; i++) sinks.write(`{"n":${i}}`);
  t.equal(sinks.dropped(), 5, 'every line lost is counted, the buffered ones too');
  t.equal(reports.length, 1, 'one report, not one per line');
  t.equal(reports[0]![0], 'error');
  t.match(reports[0]![1], file, 'names the file');
  t.match(reports[0]![1], /ENOENT/, 'and why');
  now = 1500; // a retry that fails again: no second report
  sinks.write('{"n":5}');
  await settle();
  t.equal(reports.length, 1, 'a failed retry is the same episode');
  t.equal(sinks.dropped(), 6);
  mkdirSync(dir);
  now = 3000;
  sinks.write('{"n":6}');
  sinks.write('{"n":7}');
  await settle();
  await sinks.close();
  t.same(readFileSync(file, 'utf8'), '{"n":6}\n{"n":7}\n', 'written again once the path works');
  t.equal(sinks.dropped(), 6);
  t.same(reports[1], ['info', `verdict log ${file} is written again; 6 line(s) were dropped meanwhile`]);
});

t.test('a full disk: lines dropped and counted, reported, nothing thrown', async (t) => {
  const reports: string[] = [];
  const sinks = openSinks({ file: '/dev/full', report: (_level, m) => reports.push(m) });
  for (let i = 0; i < 4; i++) sinks.write('{"n":1}');
  await new Promise((r) => setTimeout(r, 50));
  sinks.write('{"n":2}');
  await sinks.close();
  t.equal(sinks.dropped(), 5);
  t.equal(reports.length, 1);
  t.match(reports[0], /\/dev\/full: ENOSPC/);
});

t.test('stdout whose reader went away (EPIPE): reported once, lines dropped and counted, nothing thrown', async (t) => {
  const { Writable } = await import('node:stream');
  const out = new Writable({
    write(_chunk, _enc, cb) {
      const e = new Error('write EPIPE') as NodeJS.ErrnoException;
      e.code = 'EPIPE';
      cb(e);
    },
  });
  const reports: string[] = [];
  const sinks = openSinks({ stdout: true, stdoutStream: out, report: (_l, m) => reports.push(m) });
  sinks.write('{"n":1}');
  await new Promise((r) => setTimeout(r, 20));
  sinks.write('{"n":2}');
  sinks.write('{"n":3}');
  await sinks.close();
  t.equal(sinks.dropped(), 3, 'the line that met the error and the ones after it are counted');
  t.same(reports, ['verdict log (stdout): write EPIPE; its lines are dropped from now on (counted: verdictLogDropped, palisade_verdict_log_lines_total{outcome="dropped"})']);
  t.equal(out.listenerCount('error'), 0, 'close lets go of the stream');
});

t.test('a line left half-written by a previous writer does not swallow the next one', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'palisade-vlog-')), 'verdicts.log');
  writeFileSync(file, '{"whole":1}\n{"time":"2026-01-01T00:00:00.000Z","verd');
  const sinks = openSinks({ file });
  sinks.write('{"next":1}');
  await sinks.close();
  t.same(readFileSync(file, 'utf8').split('\n'), ['{"whole":1}', '{"time":"2026-01-01T00:00:00.000Z","verd', '{"next":1}', '']);
});

t.test('a file past its cap is rotated to FILE.1, so the log is bounded; every line is in one of the two', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'palisade-vlog-')), 'verdicts.log');
  writeFileSync(file, '{"old":"' + 'o'.repeat(120) + '"}\n'); // already past the cap: the first line rotates
  const reports: string[] = [];
  const sinks = openSinks({ file, maxBytes: 200, report: (_l, m) => reports.push(m) });
  const lines = Array.from({ length: 50 }, (_, i) => `{"n":${String(i).padStart(3, '0')}}`); // 12 bytes each
  for (const l of lines) {
    sinks.write(l);
    await new Promise((r) => setImmediate(r));
  }
  await sinks.close();
  await new Promise((r) => setTimeout(r, 50)); // FILE.1's stream finishes too
  t.ok(statSync(file).size <= 200, `FILE within the cap (${statSync(file).size})`);
  t.ok(statSync(`${file}.1`).size <= 200, 'FILE.1 within the cap');
  const both = [...readFileSync(`${file}.1`, 'utf8').split('\n'), ...readFileSync(file, 'utf8').split('\n')].filter((l) => l !== '');
  t.same(both, lines.slice(lines.length - both.length), 'the newest lines, in order, none cut');
  t.ok(both.length >= 16, `the two files hold about twice the cap (${both.length} lines)`);
  t.same(reports, []);
  t.equal(sinks.dropped(), 0);
});

t.test('maxBytes 0: no cap', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'palisade-vlog-')), 'verdicts.log');
  const sinks = openSinks({ file, maxBytes: 0 });
  for (let i = 0; i < 100; i++) sinks.write('{"line":"' + 'x'.repeat(100) + '"}');
  await sinks.close();
  t.equal(readFileSync(file, 'utf8').split('\n').length, 101);
  t.notOk(existsSync(`${file}.1`));
});

t.test('IPv6 destinations are bracketed in the human form', async (t) => {
  const c = loadCases().find((k) => k.file.includes('910-'))!;
  const st = buildClusterForCase(c);
  applyStep(st, c.steps[0]!);
  const line: VerdictLine = {
    time: new Date(T0).toISOString(), verdict: 'deny', direction: 'ingress',
    src: { ip: 'fd00:10:244::21', pod: 'y/a' }, dst: { ip: 'fd00:10:244::22', pod: 'y/b', port: 80 },
    protocol: 'TCP', reason: 'ingress of y/b: denied: isolated by y/y-b-ingress-from-x-b-ipv6, no rule allows', generation: 1,
  };
  t.match(formatHuman(line), /fd00:10:244::21 \(y\/a\) -> \[fd00:10:244::22\]:80 \(y\/b\)/);
  // And the snapshot path produces the same for a real IPv6 judgement.
  const snap = new EvalSnapshot(st);
  const s = parseIP('fd00:10:244::21')!.words, d = parseIP('fd00:10:244::22')!.words;
  snap.judge6(s[0]!, s[1]!, s[2]!, s[3]!, d[0]!, d[1]!, d[2]!, d[3]!, IPPROTO_TCP, 80);
  const l = describeConnection(snap, {
    src: 'fd00:10:244::21', dst: 'fd00:10:244::22', proto: IPPROTO_TCP, port: 80,
    egressCode: snap.egressCode, ingressCode: snap.ingressCode, srcSlot: snap.srcSlot, dstSlot: snap.dstSlot,
  }, new Date(T0));
  t.equal(l.reason, line.reason);
  t.equal(l.direction, 'ingress');
});


t.test('the compiled engine\'s snapshot gives the same lines as the evaluator for every pod pair', async (t) => {
  const st = model(POLICIES);
  const engine = new CompiledEngine(st);
  const compiled = engine.snapshot();
  const oracle = new EvalSnapshot(st);
  const ips = [...st.pods.values()].map((p) => p.ips[0]!).concat(['192.0.2.9', '10.0.0.1']);
  const judgeOn = (snap: RuleSnapshot, src: string, dst: string, proto: number, port: number): JudgedConnection => {
    snap.judge4(v4(src) | 0, v4(dst) | 0, proto, port);
    return { src, dst, proto, port, egressCode: snap.egressCode, ingressCode: snap.ingressCode, srcSlot: snap.srcSlot, dstSlot: snap.dstSlot };
  };
  let denied = 0;
  for (const src of ips) {
    for (const dst of ips) {
      for (const [proto, port] of [[IPPROTO_TCP, 80], [IPPROTO_TCP, 81], [IPPROTO_UDP, 80]] as const) {
        const a = describeConnection(compiled, judgeOn(compiled, src, dst, proto, port), new Date(T0));
        const b = describeConnection(oracle, judgeOn(oracle, src, dst, proto, port), new Date(T0));
        t.same({ ...a, generation: 0 }, { ...b, generation: 0 }, `${src} -> ${dst}:${port}/${proto}`);
        if (a.verdict === 'deny') denied++;
      }
    }
  }
  t.ok(denied > 0, 'some connections denied');
});

t.test('source-guard lines (spoofed-source) parse and print with pod, interface and forged address', async (t) => {
  const line = '{"time":"2026-12-04T04:00:00.000Z","verdict":"deny","reason":"spoofed-source","pod":"x/a","iface":"va","src":{"ip":"10.244.1.3"}}';
  const parsed = parseLogLine(line);
  t.ok(parsed, 'parsed');
  t.equal(formatHuman(parsed!), '2026-12-04T04:00:00.000Z DENY       x/a on va sent as 10.244.1.3: spoofed-source (dropped in the kernel)');
  t.equal(parseLogLine('{"time":"x","verdict":"deny","reason":"spoofed-source","iface":"va","src":{"ip":"10.0.0.1"}}'), undefined, 'no pod: not ours');
});
