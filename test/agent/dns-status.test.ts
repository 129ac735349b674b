// The status file's dns section (src/agent/dns-status.ts): what the agent writes reads back as
// the very records its learner holds (to the millisecond: the expiry is recomputed from them),
// from the whole status file or the section alone; a bad file is refused naming the field.

import t from 'tap';
import { DnsLearner } from '../../src/agent/dns-learner.ts';
import { dnsStatusSection, readDnsStatus, storeOf } from '../../src/agent/dns-status.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { agentDnsStatus } from '../cli/dns-status-fixture.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);

t.test('written records read back exactly', async (t) => {
  let now = T0;
  const learner = new DnsLearner(new ClusterState(), () => true, { minTtl: 1, maxTtl: 100 }, () => now);
  learner.store.learn('10.0.0.1', '203.0.113.7', ['api.example.com'], '10.96.0.10', 30, T0);
  learner.store.learn('10.0.0.1', '203.0.113.9', ['www.example.com', 'edge.cdn.net'], '10.96.0.10', 5000, T0 + 1777);
  learner.store.learn('fd00::1', '2001:db8::7', ['v6.example.com'], 'fd00::53', 0, T0 + 2500);
  now = T0 + 3456;
  const written = JSON.parse(JSON.stringify({ node: 'n1', dns: dnsStatusSection(learner, { q: 1 }, now) }));
  const read = readDnsStatus(written);
  t.equal(read.at, now);
  t.equal(read.node, 'n1');
  t.same(storeOf(read.records).list(now), learner.store.list(now), 'the same records, expiry to the millisecond (TTLs as clamped by the agent: 1 and 100 s)');
  t.same(readDnsStatus(written.dns).records, read.records, 'the section alone reads the same');
  t.match(read.counters, { answers: 0, learned: 3, queue: { q: 1 } });
  t.equal(written.dns.records.find((r: { pod: string }) => r.pod === 'fd00::1').text, '2001:db8::7 is v6.example.com (learned 1 s ago from fd00::53, TTL 1 s)', 'the words are written too');
});

t.test('the test fixture is the agent writer\'s shape', async (t) => {
  const s = agentDnsStatus([{ to: '10.0.0.1', q: 'a.example.com', rr: [{ name: 'a.example.com', type: 'A', data: '192.0.2.1', ttl: 60 }], at: T0 }], T0 + 1000);
  t.same(readDnsStatus(JSON.parse(JSON.stringify(s))).records.map((r) => [r.pod, r.address, r.names, r.ttl, r.learnedAt]), [['10.0.0.1', '192.0.2.1', ['a.example.com'], 60, T0]]);
});

t.test('bad input is refused, naming the field', async (t) => {
  const rec = { pod: '10.0.0.1', address: '192.0.2.1', names: ['a.example.com'], server: '10.96.0.10', ttl: 60, learnedAt: new Date(T0).toISOString() };
  const at = new Date(T0).toISOString();
  t.throws(() => readDnsStatus([]), /expected a JSON object/);
  // Both backends learn names (TUN through its own DNS device): the section is missing only before the agent's rules are in.
  for (const backend of ['nfqueue', 'tun']) {
    t.throws(() => readDnsStatus({ node: 'n1', backend }), { message: 'no `dns` section: the agent writes one once its rules are in place, with either backend; is this an agent status file (--status-file)?' }, backend);
  }
  t.throws(() => readDnsStatus({ dns: { at, records: {} } }), /dns\.records: expected a list/);
  t.throws(() => readDnsStatus({ records: [] }), /dns\.at: expected an ISO time/);
  t.throws(() => readDnsStatus({ at, records: [{ ...rec, names: [] }] }), /dns\.records\[0\]\.names: expected a list of names/);
  t.throws(() => readDnsStatus({ at, records: [rec, { ...rec, learnedAt: 'yesterday' }] }), /dns\.records\[1\]\.learnedAt: expected an ISO time/);
  t.throws(() => readDnsStatus({ at, records: [{ ...rec, ttl: -1 }] }), /dns\.records\[0\]\.ttl: expected seconds/);
  t.throws(() => readDnsStatus({ at, records: [{ ...rec, server: 5 }] }), /dns\.records\[0\]\.server: expected a string/);
});
