// explain with a node agent's name records (--dns-status, issue 16). In process, table-driven:
// the explain text for an address allowed by a name, through a CNAME, with an expired record, a
// name the wildcard does not cover, no record, IPv6, the wrong port, a pod of another node, and
// without the flag; both engines must agree on the resolved policies. Then the real CLI on a
// status file made by the agent's own learner and section writer (dns-status-fixture.ts):
// explain from a file and from stdin, -o json, verify, `palisade dns`, a missing file and a
// file without names.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDnsStatus } from '../../src/agent/dns-status.ts';
import type { Protocol } from '../../src/cluster/model.ts';
import { applyDnsStatus } from '../../src/cli/dns-input.ts';
import { formatExplanation } from '../../src/cli/explain-format.ts';
import { tierWalks } from '../../src/cli/explain-tiers.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { explain } from '../../src/policy/evaluator.ts';
import { loadManifests } from '../../src/sources/manifests.ts';
import { A, A6, agentDnsStatus, dnsClusterDir, writeAgentDnsStatus, type Answer } from './dns-status-fixture.ts';
import { runCli, tmpDir } from './run-cli.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const a = (ip: string) => ({ type: 'A' as const, data: ip });
const ANSWERS: Answer[] = [
  { to: A, q: 'api.example.com', rr: [{ name: 'api.example.com', ...a('203.0.113.7'), ttl: 30 }], at: T0 },
  { to: A, q: 'www.example.com', rr: [{ name: 'www.example.com', type: 'CNAME', data: 'edge.cdn.net', ttl: 60 }, { name: 'edge.cdn.net', ...a('203.0.113.9'), ttl: 60 }], at: T0 },
  { to: A, q: 'www.other.org', rr: [{ name: 'www.other.org', ...a('203.0.113.8'), ttl: 300 }], at: T0 },
  { to: A, q: 'short.example.com', rr: [{ name: 'short.example.com', ...a('203.0.113.20'), ttl: 15 }], at: T0 },
  { to: A6, q: 'v6.example.com', rr: [{ name: 'v6.example.com', type: 'AAAA', data: '2001:db8:0:0:0:0:0:7', ttl: 300 }], at: T0 },
];
// Written 10 s after the answers (short.example.com still live then), explained 20 s after them.
const WRITTEN = T0 + 10_000, NOW = T0 + 20_000;
const SRC = 'DNS (agent status agent-status.json, node n1, written 10 s ago)';
const LIVE_FOR_THEM = '(live records give them 2001:db8::7, 203.0.113.7, 203.0.113.9)';

interface Case {
  readonly name: string;
  readonly src?: string;
  readonly dst: string;
  readonly port?: number;
  readonly dns?: false;
  readonly allowed: boolean;
  readonly lines: readonly string[];
}

const CASES: Case[] = [
  {
    name: 'allowed by name', dst: '203.0.113.7', allowed: true, lines: [
      `${SRC}: 203.0.113.7 is api.example.com (learned 20 s ago from 10.96.0.10, TTL 30 s)`,
      'egress of x/a: allowed by admin/allow-names/api',
      '  allowed by admin/allow-names/api: 203.0.113.7 is api.example.com (learned 20 s ago from 10.96.0.10, TTL 30 s)',
      '      egress[0] `api` Accept: MATCHES: to[0] domainNames *.example.com; protocols TCP 443 -> Accept',
      '          to[0]: 203.0.113.7 is api.example.com (learned 20 s ago from 10.96.0.10, TTL 30 s)',
    ],
  },
  {
    name: 'allowed through a CNAME chain', dst: '203.0.113.9', allowed: true, lines: [
      '  allowed by admin/allow-names/api: 203.0.113.9 is edge.cdn.net (via www.example.com) (learned 20 s ago from 10.96.0.10, TTL 60 s)',
    ],
  },
  {
    name: 'expired record', dst: '203.0.113.20', allowed: false, lines: [
      `${SRC}: no live record names 203.0.113.20 (its record for short.example.com expired 5 s ago)`,
      'egress of x/a: denied by admin/deny-rest/all',
      `  not allowed by admin/allow-names/api: no live record names 203.0.113.20 (its record for short.example.com expired 5 s ago); the rule's names: *.example.com ${LIVE_FOR_THEM}`,
    ],
  },
  {
    name: 'name the wildcard does not cover', dst: '203.0.113.8', allowed: false, lines: [
      '  not allowed by admin/allow-names/api: 203.0.113.8 is www.other.org (learned 20 s ago from 10.96.0.10, TTL 300 s), which *.example.com does not cover',
      '          to[0] domainNames *.example.com: 203.0.113.8 is www.other.org (learned 20 s ago from 10.96.0.10, TTL 300 s), which *.example.com does not cover',
    ],
  },
  {
    name: 'no record', dst: '198.51.100.1', allowed: false, lines: [
      `${SRC}: no live record names 198.51.100.1`,
      `  not allowed by admin/allow-names/api: no live record names 198.51.100.1; the rule's names: *.example.com ${LIVE_FOR_THEM}`,
    ],
  },
  {
    name: 'IPv6 (AAAA), the address written another way', src: A6, dst: '2001:DB8::7', allowed: true, lines: [
      `${SRC}: 2001:db8::7 is v6.example.com (learned 20 s ago from fd00::53, TTL 300 s)`,
      '  allowed by admin/allow-names/api: 2001:db8::7 is v6.example.com (learned 20 s ago from fd00::53, TTL 300 s)',
    ],
  },
  {
    name: 'the name matches, the port does not', dst: '203.0.113.7', port: 80, allowed: false, lines: [
      '  not allowed by admin/allow-names/api: 203.0.113.7 is api.example.com (learned 20 s ago from 10.96.0.10, TTL 30 s), but no protocols entry matches TCP/80',
    ],
  },
  {
    name: 'a pod of another node', src: '10.0.1.5', dst: '203.0.113.7', allowed: true, lines: [
      "note: x/b runs on node n2, and these are node n1's records: each node's agent judges its pods with the names its own pods looked up",
      '  allowed by admin/allow-names/api: 203.0.113.7 is api.example.com (learned 20 s ago from 10.96.0.10, TTL 30 s)',
    ],
  },
  {
    name: 'without --dns-status', dst: '203.0.113.7', dns: false, allowed: false, lines: [
      "  not allowed by admin/allow-names/api: a domainNames peer matches only addresses a node agent learned from DNS answers, and explain has none: --dns-status FILE (the agent's status file) judges with that node's live records",
    ],
  },
];

t.test('explain text with a node agent\'s name records', async (t) => {
  const file = join(dnsClusterDir(), 'cluster.yaml');
  // As the CLI reads it: the agent's JSON, parsed back.
  const status = JSON.parse(JSON.stringify(agentDnsStatus(ANSWERS, WRITTEN)));
  for (const c of CASES) {
    t.test(c.name, async (t) => {
      const { state, errors } = loadManifests([file]);
      t.same(errors, []);
      const dns = c.dns === false ? undefined : await applyDnsStatus('explain', { ...readDnsStatus(status), file: 'agent-status.json' }, state, NOW);
      const conn = { src: c.src ?? A, dst: c.dst, protocol: 'TCP' as Protocol, port: c.port ?? 443 };
      const x = explain(state, conn);
      t.equal(x.decision.allowed, c.allowed, 'verdict');
      t.equal(new CompiledEngine(state).decide(conn).allowed, c.allowed, 'the compiled engine agrees on the resolved policies');
      const text = formatExplanation(x, { view: state, walks: tierWalks(state, x), ...(dns ? { dns } : {}) });
      for (const line of c.lines) {
        if (text.includes(line)) t.pass(line);
        else t.fail(`missing line: ${line}\n--- text:\n${text.join('\n')}`);
      }
      if (!dns) t.notOk(text.some((l) => l.startsWith('DNS (')), 'no DNS line without records');
    });
  }
});

t.test('the real CLI on a status file the agent\'s writer made', async (t) => {
  const dir = dnsClusterDir();
  const now = Date.now();
  // Long TTLs: the CLI starts slowly on a loaded machine, and these records must still be live.
  const answers: Answer[] = [
    { to: A, q: 'api.example.com', rr: [{ name: 'api.example.com', ...a('203.0.113.7'), ttl: 600 }], at: now - 12_000 },
    { to: A, q: 'www.other.org', rr: [{ name: 'www.other.org', ...a('203.0.113.8'), ttl: 600 }], at: now - 5_000 },
  ];
  const file = writeAgentDnsStatus(answers, now);
  const base = ['explain', '--manifests', dir, '--from', 'x/a', '--port', '443'];

  const ok = runCli([...base, '--to', '203.0.113.7', '--dns-status', file]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /TCP\/443: allowed\nDNS \(agent status \S+agent-status\.json, node n1, written \d+ s ago\): 203\.0\.113\.7 is api\.example\.com \(learned \d+ s ago from 10\.96\.0\.10, TTL 600 s\)\n/);
  t.match(ok.stdout, /\n  allowed by admin\/allow-names\/api: 203\.0\.113\.7 is api\.example\.com \(learned \d+ s ago from 10\.96\.0\.10, TTL 600 s\)\n/);

  // The dns section alone, on stdin.
  const section = JSON.stringify(agentDnsStatus(answers, now).dns);
  const no = runCli([...base, '--to', '203.0.113.8', '--dns-status', '-'], { input: section });
  t.equal(no.code, 0, no.stderr);
  t.match(no.stdout, /TCP\/443: DENIED\nDNS \(agent status stdin, written \d+ s ago\): 203\.0\.113\.8 is www\.other\.org/);
  t.match(no.stdout, /not allowed by admin\/allow-names\/api: 203\.0\.113\.8 is www\.other\.org \(learned \d+ s ago from 10\.96\.0\.10, TTL 600 s\), which \*\.example\.com does not cover/);

  const json = runCli([...base, '--to', '203.0.113.7', '--dns-status', file, '-o', 'json']);
  t.equal(json.code, 0, json.stderr);
  const x = JSON.parse(json.stdout);
  t.equal(x.decision.allowed, true);
  t.match(x.dns, { node: 'n1', records: [{ pod: A, names: ['api.example.com'], server: '10.96.0.10', ttl: 600 }] });

  // verify: the same records decide the probes (both engines); without them the name allows nothing.
  const probes = join(tmpDir(), 'probes.yaml');
  writeFileSync(probes, '- {from: x/a, to: 203.0.113.7, port: 443, expect: allow}\n- {from: x/a, to: 203.0.113.8, port: 443, expect: deny}\n');
  const v = runCli(['verify', '--manifests', dir, '--probes', probes, '--dns-status', file]);
  t.equal(v.code, 0, v.stdout + v.stderr);
  t.match(v.stdout, /allowed by admin\/allow-names\/api/);
  const v0 = runCli(['verify', '--manifests', dir, '--probes', probes]);
  t.equal(v0.code, 1, 'without the records the first probe is denied');

  const list = runCli(['dns', '--status-file', file]);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /^agent status \S+, node n1, written \d+ s ago: 2 live record\(s\)\npod 10\.0\.0\.1:\n  203\.0\.113\.7 is api\.example\.com \(learned \d+ s ago from 10\.96\.0\.10, TTL 600 s\), expires in \d+ min\n  203\.0\.113\.8 is www\.other\.org/);
  t.match(list.stdout, /\ncounters: answers 2, parsed 2, /);

  // The DNS queue's counters as the agent writes them (NfqueueEnforcer.counters()): the text keeps
  // what a reader acts on, -o json keeps them all.
  const queue = { packets: 7, accepts: 7, drops: 0, batches: 5, errors: 1, judgeErrors: 0, overruns: 1, sendErrors: 0, netlinkErrors: 0, verdictMessages: 5, recvCalls: 12 };
  const withQueue = JSON.stringify(agentDnsStatus(answers, now, 'n1', queue).dns);
  const q = runCli(['dns', '--status-file', '-'], { input: withQueue });
  t.equal(q.code, 0, q.stderr);
  t.match(q.stdout, /\ncounters: answers 2, parsed 2, .*queue\.packets 7, queue\.errors 1\n$/);
  t.notMatch(q.stdout, /batches|recvCalls|verdictMessages|overruns|accepts/, 'the queue\'s mechanics stay out of the text');
  const qj = runCli(['dns', '--status-file', '-', '-o', 'json'], { input: withQueue });
  t.same(JSON.parse(qj.stdout).counters.queue, queue, 'and in -o json');

  // A missing file is a bad flag, found before anything is judged.
  const nope = runCli(['matrix', '--manifests', dir, '--port', '443', '--dns-status', join(tmpDir(), 'nope.json')]);
  t.equal(nope.code, 2);
  t.match(nope.stderr, /^palisade matrix: --dns-status \S+nope\.json: no such file\n$/);
  t.equal(nope.stdout, '', 'nothing judged');

  // A status without a dns section (an agent still starting).
  const tun = join(tmpDir(), 'status.json');
  writeFileSync(tun, JSON.stringify({ node: 'n1', backend: 'tun', updatedAt: new Date().toISOString() }));
  const bad = runCli([...base, '--to', '203.0.113.7', '--dns-status', tun]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^palisade explain: --dns-status \S+status\.json: no `dns` section: the agent writes one once its rules are in place, with either backend;/);
});
