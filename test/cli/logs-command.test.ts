// `palisade logs`: renders the verdict log, reports bad input clearly, and in follow mode picks
// up appended lines, truncation and rotation of a real file.

import t from 'tap';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { readLog, run } from '../../src/cli/commands/logs.ts';
import { CliError } from '../../src/cli/args.ts';
import type { VerdictLine } from '../../src/agent/verdict-log.ts';

const line = (n: number, extra: Partial<VerdictLine> = {}): string =>
  JSON.stringify({
    time: `2026-11-22T03:00:0${n}.000Z`, verdict: 'deny', direction: 'ingress',
    src: { ip: '10.244.3.1', pod: 'z/a' }, dst: { ip: '10.244.1.2', pod: 'x/b', port: 80 },
    protocol: 'TCP', reason: 'ingress of x/b: denied: isolated by x/deny-ingress, no rule allows', generation: 3, ...extra,
  });

function tmp(): string {
  return join(mkdtempSync(join(tmpdir(), 'palisade-logs-')), 'verdicts.log');
}

t.test('renders lines, flags foreign ones', async (t) => {
  const f = tmp();
  writeFileSync(f, [
    line(1),
    line(2, { audit: true }),
    line(3, { cut: true }),
    JSON.stringify({ time: '2026-11-22T03:00:09.000Z', summary: 'rate-limited', source: 'z/a', suppressed: 12 }),
    'not a verdict line',
    '',
  ].join('\n'));
  const out = new PassThrough();
  let text = '';
  out.on('data', (c) => (text += c));
  t.equal(await run(['--file', f], out), 0);
  t.same(text.trimEnd().split('\n'), [
    '2026-11-22T03:00:01.000Z DENY       TCP 10.244.3.1 (z/a) -> 10.244.1.2:80 (x/b) [ingress]: ingress of x/b: denied: isolated by x/deny-ingress, no rule allows',
    '2026-11-22T03:00:02.000Z WOULD-DENY TCP 10.244.3.1 (z/a) -> 10.244.1.2:80 (x/b) [ingress]: ingress of x/b: denied: isolated by x/deny-ingress, no rule allows',
    '2026-11-22T03:00:03.000Z CUT        TCP 10.244.3.1 (z/a) -> 10.244.1.2:80 (x/b) [ingress]: ingress of x/b: denied: isolated by x/deny-ingress, no rule allows',
    '2026-11-22T03:00:09.000Z RATE-LIMIT  12 line(s) from z/a suppressed',
    '? not a verdict line',
  ]);

  const out2 = new PassThrough();
  let text2 = '';
  out2.on('data', (c) => (text2 += c));
  t.equal(await run(['--file', f, '--verdicts-only', '-o', 'json'], out2), 0);
  const lines2 = text2.trimEnd().split('\n');
  t.equal(lines2.length, 4, 'the foreign line is skipped');
  t.same(JSON.parse(lines2[1]!).audit, true);
});

// Cluster policy rule names are free text (up to 100 characters, any of them): a newline or a
// terminal escape in one went through the JSON line into the human form as it was, so one
// rule could write a made-up line, or recolour and clear the operator's terminal.
t.test('control characters in user text are shown escaped: one record, one line, nothing for the terminal to act on', async (t) => {
  const ESC = '\u001b';
  const cases: [string, string, string][] = [
    // [what, the line in the file, what the human form must contain]
    ['a newline in a rule name', line(1, { reason: 'ingress of x/b: denied by admin/p/evil\n2026-11-22T03:00:09.000Z ALLOW      TCP fake' }), 'denied by admin/p/evil\\n2026-11-22T03:00:09.000Z ALLOW'],
    ['an escape sequence', line(2, { reason: `denied by admin/p/${ESC}[2J${ESC}[31mred` }), 'denied by admin/p/\\u001b[2J\\u001b[31mred'],
    ['a carriage return in a pod', line(3, { src: { ip: '10.244.3.1', pod: 'z/a\rDENY' } }), '(z/a\\rDENY)'],
    ['bidi overrides and C1 controls', line(4, { dstName: 'x', reason: 'by admin/p/\u202eevil\u009b1m' }), 'by admin/p/\\u202eevil\\u009b1m'],
    ['a foreign line', `agent said ${ESC}]0;title\u0007 here`, '? agent said \\u001b]0;title\\u0007 here'],
  ];
  const f = tmp();
  writeFileSync(f, cases.map((c) => c[1]).join('\n') + '\n');
  const out = new PassThrough();
  let text = '';
  out.on('data', (c) => (text += c));
  t.equal(await run(['--file', f], out), 0);
  const lines = text.trimEnd().split('\n');
  t.equal(lines.length, cases.length, 'one line per record');
  cases.forEach(([what, , want], i) => {
    t.ok(lines[i]?.includes(want), `${what}: ${JSON.stringify(lines[i])} shows ${JSON.stringify(want)}`);
    t.notMatch(lines[i] ?? '', /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/, `${what}: no control character left`);
  });
});

t.test('bad input is a clear CliError', async (t) => {
  await t.rejects(run(['--file', '/nonexistent/verdicts.log'], new PassThrough()), new CliError('--file /nonexistent/verdicts.log: no such file'));
  // A folder opens (read fails later with EISDIR): it gets one line too, not a stack trace.
  const folder = mkdtempSync(join(tmpdir(), 'palisade-logs-'));
  for (const follow of [[], ['--follow']]) {
    await t.rejects(run(['--file', folder, ...follow], new PassThrough()), new CliError(`--file ${folder}: is a folder, not a file`), `a folder ${follow.join(' ')}`);
  }
  await t.rejects(run([], new PassThrough()), /--file PATH or --lab \[NAME\] is required/);
  await t.rejects(run(['--file', 'x', '-o', 'yaml'], new PassThrough()), /-o must be text or json, got "yaml"/);
  await t.rejects(run(['--file', 'x', '--interval', '0'], new PassThrough()), /--interval must be between 10 and 60000/);
});

t.test('follow: appended lines, a line split across writes, truncation, rotation', async (t) => {
  const f = tmp();
  writeFileSync(f, line(1) + '\n');
  const seen: string[] = [];
  const notes: string[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  const until = (n: number) => new Promise<void>((resolve) => {
    if (seen.length >= n) resolve();
    else waiter = { n, resolve };
  });
  const ac = new AbortController();
  const done = readLog(f, (l) => {
    seen.push(l);
    if (waiter && seen.length >= waiter.n) { waiter.resolve(); waiter = undefined; }
  }, { signal: ac.signal, follow: true, intervalMs: 20, onNote: (n) => notes.push(n) });

  await until(1);
  const two = line(2);
  appendFileSync(f, two.slice(0, 40));
  appendFileSync(f, two.slice(40) + '\n' + line(3) + '\n');
  await until(3);
  t.equal(seen[1], two, 'a line written in two pieces arrives whole');

  writeFileSync(f, line(4) + '\n'); // truncate and rewrite (shorter than what was read)
  await until(4);
  t.equal(seen[3], line(4));
  t.match(notes.join('\n'), /was truncated/);

  renameSync(f, f + '.1');
  writeFileSync(f, line(5) + '\n');
  await until(5);
  t.equal(seen[4], line(5));
  t.match(notes.join('\n'), /was replaced/);

  ac.abort();
  await done;
  t.equal(seen.length, 5);
});

t.test('--lab [NAME]: the verdict log a lab\'s agent keeps, found from the lab\'s state', async (t) => {
  // A lab's state folder as lab up leaves it (only what `logs --lab` reads); the real thing,
  // agent and all, is in test/lab/lab-agent.test.ts.
  const root = mkdtempSync(join(tmpdir(), 'palisade-logs-labs-'));
  const saved = { root: process.env.PALISADE_LAB_STATE_DIR, lab: process.env.PALISADE_LAB };
  process.env.PALISADE_LAB_STATE_DIR = root;
  delete process.env.PALISADE_LAB;
  t.teardown(() => {
    if (saved.root === undefined) delete process.env.PALISADE_LAB_STATE_DIR;
    else process.env.PALISADE_LAB_STATE_DIR = saved.root;
    if (saved.lab !== undefined) process.env.PALISADE_LAB = saved.lab;
  });
  const lab = (name: string, agent?: Record<string, unknown>) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'state.json'), JSON.stringify({
      version: 1, name, dir, nodeNetns: `plab.${name}.node`, node: { ips: [] }, manifestsDir: dir,
      pods: [], externals: [], endpoints: {}, nodePorts: { tcp: [], udp: [], sctp: [] }, nextSocket: 0,
      ...(agent ? { agent: { pid: 1, backend: 'nfqueue', statusFile: join(dir, 's.json'), log: join(dir, 'a.log'), argv: [], ...agent } } : {}),
    }));
    return dir;
  };
  const collect = async (argv: string[]) => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => (text += c));
    t.equal(await run(argv, out), 0, argv.join(' '));
    return text.trimEnd().split('\n');
  };
  const named = lab('mylab', { verdictLog: join(root, 'mylab', 'verdicts.log') });
  writeFileSync(join(named, 'verdicts.log'), line(1) + '\n');
  t.same(await collect(['--lab', 'mylab']), [
    '2026-11-22T03:00:01.000Z DENY       TCP 10.244.3.1 (z/a) -> 10.244.1.2:80 (x/b) [ingress]: ingress of x/b: denied: isolated by x/deny-ingress, no rule allows',
  ]);
  const dflt = lab('palisade', { verdictLog: join(root, 'elsewhere.log') });
  writeFileSync(join(root, 'elsewhere.log'), line(2) + '\n' + line(3) + '\n');
  t.equal(dflt, join(root, 'palisade'));
  t.equal((await collect(['--lab'])).length, 2, 'no NAME: the default lab, wherever its log is');
  t.same((await collect(['--lab', '-o', 'json'])).map((l) => JSON.parse(l).time), ['2026-11-22T03:00:02.000Z', '2026-11-22T03:00:03.000Z'], 'a flag after --lab is not a NAME');
  process.env.PALISADE_LAB = 'mylab';
  t.equal((await collect(['--lab'])).length, 1, 'PALISADE_LAB names the default, as for the lab commands');
  delete process.env.PALISADE_LAB;

  lab('noagent');
  lab('nolog', {});
  await t.rejects(run(['--lab', 'nolab'], new PassThrough()), new CliError('--lab nolab: no lab "nolab" here (palisade lab status lists the labs)'));
  await t.rejects(run(['--lab', 'noagent'], new PassThrough()), /--lab noagent: the lab runs no agent/);
  await t.rejects(run(['--lab', 'nolog'], new PassThrough()), /--lab nolog: the lab's agent keeps no verdict log/);
  await t.rejects(run(['--lab', 'Bad_Name'], new PassThrough()), /--lab: lab name "Bad_Name" must be/);
  await t.rejects(run(['--lab', 'mylab', '--file', 'x'], new PassThrough()), /give --file or --lab, not both/);
});
