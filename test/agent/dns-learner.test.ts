// Egress to domain names end to end inside one process: DNS answer packets (as NFQUEUE hands them
// over) -> DnsLearner -> name store -> re-stored policies -> both engines. The compiled engine is
// kept up to date incrementally from the state's changes, as the agent does; every probe is
// asked of it and of the plain evaluator, which must agree.

import t, { type Test } from 'tap';
import { ClusterState } from '../../src/cluster/state.ts';
import type { ClusterPolicy, Pod } from '../../src/cluster/model.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { DnsLearner } from '../../src/agent/dns-learner.ts';
import { ACCEPT } from '../../src/enforce/judge.ts';
import { describeRecord } from '../../src/dataplane/name-store.ts';
import { ipv4, ipv6, tcp, udp, TCPF } from '../../support/packets.ts';
import { buildAnswer, type RR } from '../../support/dns-messages.ts';

const ALL = { matchLabels: {}, matchExpressions: [] };
const sel = (l: Record<string, string>) => ({ matchLabels: l, matchExpressions: [] });
const DNS = '10.96.0.10';
const A = '10.0.0.1', A6 = 'fd00::1', B = '10.0.0.2', REMOTE = '10.0.1.5';

function pod(name: string, ips: string[], node = 'n1'): Pod {
  return { namespace: 'x', name, labels: { pod: name }, nodeName: node, hostNetwork: false, phase: 'Running', ips, ports: [] };
}

const allowNames: ClusterPolicy = {
  kind: 'ClusterNetworkPolicy', name: 'allow-names', tier: 'Admin', priority: 10,
  subject: { pods: { namespaceSelector: ALL, podSelector: sel({ pod: 'a' }) } },
  ingress: [],
  egress: [{ name: 'names', action: 'Accept', peers: [{ domainNames: ['api.example.com', '*.cdn.net', 'V6.Example.org.'] }], protocols: [{ protocol: 'TCP', port: 443 }] }],
};
const denyRest: ClusterPolicy = {
  kind: 'ClusterNetworkPolicy', name: 'deny-rest', tier: 'Admin', priority: 20,
  subject: { pods: { namespaceSelector: ALL, podSelector: sel({ pod: 'a' }) } },
  ingress: [],
  egress: [{ name: 'all', action: 'Deny', peers: [{ networks: ['0.0.0.0/0', '::/0'] }], protocols: [] }],
};

function setup(withPolicy = true, servers?: string[]) {
  let now = 1_000_000;
  const st = new ClusterState();
  st.batch(() => {
    st.upsertNamespace({ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } });
    st.upsertPod(pod('a', [A, A6]));
    st.upsertPod(pod('b', [B]));
    st.upsertPod(pod('r', [REMOTE], 'n2'));
  });
  const local = (ip: string) => [...st.pods.values()].some((p) => p.nodeName === 'n1' && p.ips.includes(ip));
  const learner = new DnsLearner(st, local, { minTtl: 10, maxTtl: 300, ...(servers ? { servers } : {}) }, () => now);
  if (withPolicy) st.batch(() => { st.upsert('ClusterNetworkPolicy', allowNames); st.upsert('ClusterNetworkPolicy', denyRest); });
  const engine = new CompiledEngine(st, { localNode: 'n1' });
  let changes = 0;
  st.onChange((c) => { changes++; engine.update(c); });
  /** Both engines' verdict on src -> dst:443/TCP; fails the test when they disagree. */
  const verdict = (t: Test, src: string, dst: string): boolean => {
    const conn = { src, dst, protocol: 'TCP' as const, port: 443 };
    const e = evaluate(st, conn, { localNode: 'n1' });
    const c = engine.decide(conn);
    t.equal(c.allowed, e.allowed, `engines agree on ${src} -> ${dst}`);
    return c.allowed;
  };
  let port = 40000;
  const answer = (to: string, q: string, rr: RR[], o: { tcp?: boolean; from?: string; sport?: number } = {}) => {
    const msg = buildAnswer(q, rr, { compress: true });
    const from = o.from ?? (to.includes(':') ? 'fd00::53' : DNS);
    const send = (l4: Buffer) => {
      const pkt = to.includes(':') ? ipv6({ src: from, dst: to, nextHeader: o.tcp ? 6 : 17, rawPayload: true }, l4)
        : ipv4({ src: from, dst: to, proto: o.tcp ? 6 : 17, rawPayload: true }, l4);
      learner.classify(pkt, 0, pkt.length, 0);
    };
    // TCP: a new connection each time, its SYN-ACK first (the reassembly follows a flow from there).
    const dport = o.tcp ? ++port : 40000;
    if (o.tcp) send(tcp({ sport: o.sport ?? 53, dport, seq: 999, flags: TCPF.SYN | TCPF.ACK }));
    send(o.tcp ? tcp({ sport: o.sport ?? 53, dport, seq: 1000, flags: TCPF.ACK | TCPF.PSH }, Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg]))
      : udp({ sport: o.sport ?? 53, dport }, msg));
    learner.endBatch();
  };
  return { st, learner, engine, verdict, answer, advance: (s: number) => { now += s * 1000; }, now: () => now, changes: () => changes };
}


t.test('an allowed name becomes reachable once answered; another address stays denied', async (t) => {
  const s = setup();
  t.notOk(s.verdict(t, A, '192.0.2.7'), 'before any answer: denied (the peer matches nothing)');
  s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 30 }]);
  t.ok(s.verdict(t, A, '192.0.2.7'), 'api.example.com -> 192.0.2.7 allowed');
  t.notOk(s.verdict(t, A, '192.0.2.8'), 'an address no answer named: denied');
  t.equal(s.learner.store.size, 1);
  const rec = s.learner.store.about('192.0.2.7', s.now())[0]!;
  s.advance(12);
  t.equal(describeRecord(rec, s.now()), '192.0.2.7 is api.example.com (learned 12 s ago from 10.96.0.10, TTL 30 s)');
});

t.test('CNAME chain, wildcard, AAAA, TCP DNS', async (t) => {
  const s = setup();
  s.answer(A, 'www.example.com', [
    { name: 'www.example.com', type: 'CNAME', data: 'edge.cdn.net', ttl: 60 },
    { name: 'edge.cdn.net', type: 'A', data: '198.51.100.1', ttl: 60 }]);
  t.ok(s.verdict(t, A, '198.51.100.1'), 'www.example.com -> CNAME edge.cdn.net matches *.cdn.net');
  s.answer(A, 'cdn.net', [{ name: 'cdn.net', type: 'A', data: '198.51.100.2' }]);
  t.notOk(s.verdict(t, A, '198.51.100.2'), '*.cdn.net does not match cdn.net itself');
  s.answer(A, 'deep.a.b.cdn.net', [{ name: 'deep.a.b.cdn.net', type: 'A', data: '198.51.100.3' }]);
  t.ok(s.verdict(t, A, '198.51.100.3'), '"*" covers several labels');
  s.answer(A6, 'v6.example.org', [{ name: 'v6.example.org', type: 'AAAA', data: '2001:db8:0:0:0:0:0:7' }]);
  t.ok(s.verdict(t, A6, '2001:db8::7'), 'AAAA; the pattern\'s case and trailing dot do not matter');
  s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.44' }], { tcp: true });
  t.ok(s.verdict(t, A, '192.0.2.44'), 'an answer over TCP is learned too');
});

t.test('a TCP answer over several segments is learned when the segment that completes it is judged', async (t) => {
  const s = setup();
  const msg = buildAnswer('api.example.com', Array.from({ length: 40 }, (_, i) => ({ name: 'api.example.com', type: 'A' as const, data: `192.0.2.${100 + i}` })), { compress: true });
  const stream = Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg]);
  const seg = (seq: number, flags: number, data?: Buffer) => {
    const p = ipv4({ src: DNS, dst: A, proto: 6, rawPayload: true }, tcp({ sport: 53, dport: 41000, seq, flags }, data));
    t.equal(s.learner.classify(p, 0, p.length, 0), ACCEPT, 'every segment is let through');
    s.learner.endBatch();
  };
  seg(5000, TCPF.SYN | TCPF.ACK);
  seg(5001, TCPF.ACK, stream.subarray(0, 1));
  seg(5002, TCPF.ACK, stream.subarray(1, 300));
  t.notOk(s.verdict(t, A, '192.0.2.100'), 'not learned while the answer is incomplete');
  seg(5002, TCPF.ACK, stream.subarray(1, 300));
  t.equal(s.learner.tcp.counters.retransmits, 1, 'a retransmitted segment is ignored');
  seg(5301, TCPF.ACK | TCPF.FIN, stream.subarray(300));
  t.ok(s.verdict(t, A, '192.0.2.100') && s.verdict(t, A, '192.0.2.139'), 'the segment that completed it made all 40 addresses reachable');
  t.equal(s.learner.tcp.counters.reassembled, 1);
  t.equal(s.learner.tcp.size, 0, 'FIN ended the flow');
  seg(7001, TCPF.ACK, stream);
  t.equal(s.learner.tcp.counters.unsynced, 1, 'data of a flow whose SYN-ACK was not seen is not read');
});

t.test('TTL expiry cuts new connections; refreshes keep the record', async (t) => {
  const s = setup();
  s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 1 }]);
  t.ok(s.verdict(t, A, '192.0.2.7'));
  s.advance(9);
  t.equal(s.learner.tick(), 0, 'TTL 1 is raised to the 10 s floor: still live at 9 s');
  t.ok(s.verdict(t, A, '192.0.2.7'));
  const before = s.changes();
  s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 20 }]);
  t.equal(s.changes(), before, 'a refresh is no policy change (no recompile, no cache flush)');
  s.advance(15);
  t.equal(s.learner.tick(), 0, 'refreshed at 9 s for 20 s: live at 24 s');
  s.advance(6);
  t.equal(s.learner.tick(), 1, 'expired at 29 s');
  t.ok(s.changes() > before, 'the expiry re-stored the policy (the agent flushes the verdict cache on it)');
  t.notOk(s.verdict(t, A, '192.0.2.7'), 'a new connection after expiry is denied');
});

t.test('a record learned before the policy exists counts as soon as the policy arrives', async (t) => {
  const s = setup(false);
  s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7' }]);
  t.equal(s.learner.store.size, 1, 'learned with no policy yet');
  s.st.batch(() => { s.st.upsert('ClusterNetworkPolicy', allowNames); s.st.upsert('ClusterNetworkPolicy', denyRest); });
  t.ok(s.verdict(t, A, '192.0.2.7'), 'allowed by the new policy');
  t.notOk(s.verdict(t, A, '192.0.2.9'));
  // A policy update (new names) keeps the learned addresses that still match.
  s.st.upsert('ClusterNetworkPolicy', { ...allowNames, egress: [{ ...allowNames.egress[0]!, peers: [{ domainNames: ['*.example.com'] }] }] });
  t.ok(s.verdict(t, A, '192.0.2.7'), 'still allowed under *.example.com');
  s.st.upsert('ClusterNetworkPolicy', { ...allowNames, egress: [{ ...allowNames.egress[0]!, peers: [{ domainNames: ['other.example.com'] }] }] });
  t.notOk(s.verdict(t, A, '192.0.2.7'), 'denied once the policy no longer names it');
});

t.test('what is not learned', async (t) => {
  const s = setup();
  s.answer(REMOTE, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.70' }]);
  t.equal(s.learner.store.size, 0, 'an answer to another node\'s pod');
  t.equal(s.learner.counters.errors['not-local-pod'], 1);
  s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.71' }], { sport: 5353 });
  t.equal(s.learner.store.size, 0, 'not from port 53');
  s.answer(A, 'evil.example.net', [{ name: 'evil.example.net', type: 'CNAME', data: 'x.example.net' }, { name: 'api.example.com', type: 'A', data: '192.0.2.72' }]);
  t.equal(s.learner.store.size, 0, 'a record for a name the question does not reach');
  t.notOk(s.verdict(t, A, '192.0.2.72'));
  t.ok(s.verdict(t, B, '192.0.2.72'), 'b is no subject: the deny policy does not select it either (default allow), engines agree');
});

t.test('--dns-servers: only the answers of the servers believed are learned; the others still reach the pod', async (t) => {
  // [servers, pod, answering server, over TCP, learned]
  const rows: [string[] | undefined, string, string, boolean, boolean][] = [
    [undefined, A, '203.0.113.53', false, true], // no flag: any server the pod asked
    [[DNS], A, DNS, false, true],
    [[DNS], A, '203.0.113.53', false, false], // a server of the pod's own choosing
    [[DNS], A, '203.0.113.53', true, false], // over TCP too
    [[DNS], A, DNS, true, true],
    [['10.96.0.0/16'], A, '10.96.7.1', false, true], // a range
    [['10.96.0.0/16'], A, '10.97.0.1', false, false],
    [['169.254.20.10', 'fd00:10:96::a'], A6, 'fd00:10:96::a', false, true], // a node-local cache and an IPv6 server
    [['169.254.20.10', 'fd00:10:96::a'], A6, 'fd00:10:96::b', false, false],
    [['10.96.0.10'], A6, '::ffff:10.96.0.10', false, false], // IPv4-mapped source of an IPv6 packet: not the IPv4 server
  ];
  for (const [servers, to, from, tcp, learned] of rows) {
    const s = setup(true, servers);
    const v6 = to.includes(':');
    const dst = v6 ? '2001:db8::99' : '192.0.2.99';
    // (The test's message builder takes an IPv6 address with its eight groups written out.)
    s.answer(to, 'api.example.com', [{ name: 'api.example.com', type: v6 ? 'AAAA' : 'A', data: v6 ? '2001:db8:0:0:0:0:0:99' : dst, ttl: 30 }], { from, tcp });
    const what = `servers ${servers?.join(',') ?? '(any)'}, answer from ${from}${tcp ? ' over TCP' : ''}`;
    t.equal(s.learner.store.size, learned ? 1 : 0, `${what}: ${learned ? 'learned' : 'not learned'}`);
    t.equal(s.verdict(t, to, dst), learned, `${what}: the name's address ${learned ? 'reachable' : 'still denied'}`);
    t.equal(s.learner.counters.errors['untrusted-server'], learned ? 0 : tcp ? 2 : 1, `${what}: counted`);
  }
});

t.test('caps: per pod and total, evictions counted', async (t) => {
  const s = setup();
  const small = new DnsLearner(s.st, () => true, { perPod: 2, total: 3 });
  const pkt = (to: string, addr: string) => {
    const msg = buildAnswer('api.example.com', [{ name: 'api.example.com', type: 'A', data: addr }]);
    const p = ipv4({ src: DNS, dst: to, proto: 17, rawPayload: true }, udp({ sport: 53, dport: 1 }, msg));
    small.classify(p, 0, p.length, 0);
  };
  pkt(A, '192.0.2.1'); pkt(A, '192.0.2.2'); pkt(A, '192.0.2.3');
  t.equal(small.store.size, 2, 'per pod cap');
  t.equal(small.store.counters.evictions, 1);
  t.same(small.store.list(Date.now()).map((r) => r.address), ['192.0.2.2', '192.0.2.3'], 'the least recently learned went');
  pkt(B, '192.0.2.4'); pkt(B, '192.0.2.5');
  t.equal(small.store.size, 3, 'total cap');
  t.equal(small.store.counters.evictions, 2, 'one more eviction for the total cap');
  t.same(small.store.list(Date.now()).map((r) => r.address), ['192.0.2.3', '192.0.2.4', '192.0.2.5'], 'the oldest overall went');
  small.close();
});

t.test('an address two names share stays each name\'s until that name\'s own record expires', async (t) => {
  // CDNs and load balancers give many names one address: the answer for another name must not
  // take the address away from the allowed one (nor the allowed name's record outlive its TTL).
  const rows: { name: string; second: string; secondTtl: number; at: number; want: boolean }[] = [
    { name: 'other name later, allowed one still live', second: 'www.other.org', secondTtl: 300, at: 20, want: true },
    { name: 'other name later, allowed one expired', second: 'www.other.org', secondTtl: 300, at: 31, want: false },
    { name: 'allowed name again, refreshed', second: 'api.example.com', secondTtl: 300, at: 31, want: true },
  ];
  for (const r of rows) {
    const s = setup();
    s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 30 }]);
    s.advance(1);
    s.answer(A, r.second, [{ name: r.second, type: 'A', data: '192.0.2.7', ttl: r.secondTtl }]);
    s.advance(r.at - 1);
    s.learner.tick();
    t.equal(s.verdict(t, A, '192.0.2.7'), r.want, r.name);
  }
});

t.test('a record refreshed after its expiry, before the tick dropped it, is in the policy again', async (t) => {
  const s = setup();
  s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 10 }]);
  s.advance(10.2);
  // Before the second's tick: another answer re-stores the policies (the expired address goes)...
  s.answer(A, 'edge.cdn.net', [{ name: 'edge.cdn.net', type: 'A', data: '198.51.100.1' }]);
  t.notOk(s.verdict(t, A, '192.0.2.7'), 'expired: denied');
  // ...and then the pod looks the name up again and gets the same address.
  s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 10 }]);
  s.advance(0.5);
  s.learner.tick();
  t.ok(s.verdict(t, A, '192.0.2.7'), 'learned again: allowed');
});

t.test('the expiry tick asks whether a pod is still local once per pod, not once per record', async (t) => {
  // The agent's test walks the cluster's pods: asked per record, a node with thousands of
  // records in a large cluster spent seconds of every one-second tick in it.
  const s = setup();
  const asked: string[] = [];
  const learner = new DnsLearner(s.st, (ip) => { asked.push(ip); return ip !== B; }, {}, s.now);
  for (let i = 0; i < 300; i++) for (const p of [A, B]) learner.store.learn(p, `192.0.${i >> 8}.${i & 255}`, ['api.example.com'], DNS, 300, s.now());
  asked.length = 0;
  t.equal(learner.tick(), 300, 'the records of the pod that left are dropped');
  t.same(asked.sort(), [A, B], 'each pod asked about once');
  t.equal(learner.store.size, 300, 'the local pod keeps its records');
  learner.close();
});

// NPEP-133: "When the TTL for a DNS record expires, the implementor should stop allowing new
// connections to that IP. Existing connection will still be allowed". The agent's strict sweep
// asks outlives() before it cuts an established flow its egress side now denies.
t.test('an established flow outlives its expired record while a policy still names it', async (t) => {
  const rows: { name: string; steps: (s: ReturnType<typeof setup>) => void; address: string; outlives: boolean }[] = [
    { name: 'a live record (nothing to outlive: new connections are allowed too)', steps: () => {}, address: '192.0.2.7', outlives: false },
    { name: 'expired, the policy still names it', steps: (s) => { s.advance(11); s.learner.tick(); }, address: '192.0.2.7', outlives: true },
    { name: 'expired, named through a CNAME the wildcard covers', steps: (s) => { s.advance(11); s.learner.tick(); }, address: '192.0.2.9', outlives: true },
    { name: 'an address no answer named', steps: (s) => { s.advance(11); s.learner.tick(); }, address: '192.0.2.8', outlives: false },
    { name: 'expired, then learned again and live', steps: (s) => { s.advance(11); s.learner.tick(); s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 30 }]); }, address: '192.0.2.7', outlives: false },
    { name: 'expired, then the policy naming it is deleted', steps: (s) => { s.advance(11); s.learner.tick(); s.st.delete('ClusterNetworkPolicy', 'allow-names'); }, address: '192.0.2.7', outlives: false },
    {
      name: 'expired, then the policy no longer names it',
      steps: (s) => { s.advance(11); s.learner.tick(); s.st.upsert('ClusterNetworkPolicy', { ...allowNames, egress: [{ ...allowNames.egress[0]!, peers: [{ domainNames: ['other.example.com'] }] }] }); },
      address: '192.0.2.7', outlives: false,
    },
  ];
  for (const row of rows) {
    const s = setup();
    s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 10 }]);
    s.answer(A, 'www.example.com', [{ name: 'www.example.com', type: 'CNAME', data: 'edge.cdn.net', ttl: 10 }, { name: 'edge.cdn.net', type: 'A', data: '192.0.2.9', ttl: 10 }]);
    row.steps(s);
    t.equal(s.learner.outlives(row.address), row.outlives, row.name);
  }
  // Remembered addresses are capped like the records: the oldest expiry is forgotten first.
  const s = setup();
  const small = new DnsLearner(s.st, () => true, { total: 2 }, s.now);
  for (const [i, at] of [[1, 0], [2, 1], [3, 2]] as const) {
    small.store.learn(A, `192.0.2.${i}`, ['api.example.com'], DNS, 10, s.now());
    s.advance(at === 2 ? 0 : 11);
    if (at !== 2) small.tick();
  }
  s.advance(11);
  small.tick();
  t.same([1, 2, 3].map((i) => small.outlives(`192.0.2.${i}`)), [false, true, true], 'over the cap, the address that expired first is forgotten');
});

// Strict mode keeps such a flow only while the expiry is all that denies it (spares): judged again
// with the record live, its egress side must allow. A Deny written before the name's Accept, a
// port the Accept does not cover, or a policy that no longer names it: cut.
t.test('strict mode spares a flow only when the expired record is all that denies it', async (t) => {
  const TCP = 6, UDP = 17, ICMP = 1;
  const denyAbove = (addr: string): ClusterPolicy => ({
    kind: 'ClusterNetworkPolicy', name: 'deny-above', tier: 'Admin', priority: 5,
    subject: { pods: { namespaceSelector: ALL, podSelector: sel({ pod: 'a' }) } },
    ingress: [],
    egress: [{ name: 'one', action: 'Deny', peers: [{ networks: [`${addr}/32`] }], protocols: [] }],
  });
  const rows: { name: string; steps?: (s: ReturnType<typeof setup>) => void; src?: string; dst: string; proto?: number; port?: number; spares: boolean }[] = [
    { name: 'expired, the Accept naming it comes first: spared', dst: '192.0.2.7', spares: true },
    { name: 'expired, named through a CNAME the wildcard covers: spared', dst: '192.0.2.9', spares: true },
    { name: 'expired, but a higher-priority Admin Deny of the address: cut', steps: (s) => s.st.upsert('ClusterNetworkPolicy', denyAbove('192.0.2.7')), dst: '192.0.2.7', spares: false },
    { name: 'a Deny of the address below the Accept changes nothing: spared', steps: (s) => s.st.upsert('ClusterNetworkPolicy', { ...denyAbove('192.0.2.7'), name: 'deny-below', priority: 15 }), dst: '192.0.2.7', spares: true },
    { name: 'a port the Accept does not cover (the record live would not allow it): cut', dst: '192.0.2.7', port: 80, spares: false },
    { name: 'UDP, which the Accept (TCP/443) does not cover: cut', dst: '192.0.2.7', proto: UDP, spares: false },
    {
      name: 'another pod, denied by its own policy, which the Accept does not select: cut',
      steps: (s) => s.st.upsert('ClusterNetworkPolicy', { ...denyRest, name: 'deny-b', subject: { pods: { namespaceSelector: ALL, podSelector: sel({ pod: 'b' }) } } }),
      src: B, dst: '192.0.2.7', spares: false,
    },
    { name: 'the policy no longer names it: cut', steps: (s) => s.st.upsert('ClusterNetworkPolicy', { ...allowNames, egress: [{ ...allowNames.egress[0]!, peers: [{ domainNames: ['other.example.com'] }] }] }), dst: '192.0.2.7', spares: false },
    { name: 'an address no answer named: cut', dst: '192.0.2.8', spares: false },
    { name: 'ICMP, which the evaluator does not judge: the address alone decides (spared)', dst: '192.0.2.7', proto: ICMP, port: 0, spares: true },
  ];
  for (const row of rows) {
    const s = setup();
    s.answer(A, 'api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 10 }]);
    s.answer(A, 'www.example.com', [{ name: 'www.example.com', type: 'CNAME', data: 'edge.cdn.net', ttl: 10 }, { name: 'edge.cdn.net', type: 'A', data: '192.0.2.9', ttl: 10 }]);
    s.advance(11);
    s.learner.tick();
    row.steps?.(s);
    t.equal(s.learner.spares(row.src ?? A, row.dst, row.proto ?? TCP, row.port ?? 443, 'n1'), row.spares, row.name);
    // A sweep's sparer gives the same answer, the second ask from its memo.
    const sweep = s.learner.sparer('n1');
    for (let i = 0; i < 2; i++) t.equal(sweep(row.src ?? A, row.dst, row.proto ?? TCP, row.port ?? 443), row.spares, `${row.name} (a sweep's sparer, ask ${i + 1})`);
  }
});

t.test('a re-store looks up only the policies whose names changed', async (t) => {
  // Every batch of answers that teaches something and every tick that drops something re-stores
  // the policies: resolving all of them, each through all records, held the pod's answer for tens
  // of milliseconds with thousands of records. Only the peers covering a changed name are asked.
  const s = setup();
  const other = (i: number): ClusterPolicy => ({
    ...allowNames, name: `other-${i}`, priority: 30 + i,
    egress: [{ name: 'names', action: 'Accept', peers: [{ domainNames: [`svc${i}.example.net`, `*.zone${i}.example.net`] }], protocols: [] }],
  });
  s.st.batch(() => { for (let i = 0; i < 8; i++) s.st.upsert('ClusterNetworkPolicy', other(i)); });
  const asked: string[][] = [];
  const lookup = s.learner.store.addressesFor.bind(s.learner.store);
  s.learner.store.addressesFor = (patterns, now) => { asked.push([...patterns]); return lookup(patterns, now); };
  const rows: { name: string; step: () => void; want: string[][] }[] = [
    { name: 'a name one policy covers', step: () => s.answer(A, 'a.zone3.example.net', [{ name: 'a.zone3.example.net', type: 'A', data: '192.0.2.30', ttl: 10 }]), want: [['svc3.example.net', '*.zone3.example.net']] },
    { name: 'a name no policy covers', step: () => s.answer(A, 'www.other.org', [{ name: 'www.other.org', type: 'A', data: '192.0.2.31', ttl: 20 }]), want: [] },
    { name: 'a refresh (nothing changed)', step: () => s.answer(A, 'a.zone3.example.net', [{ name: 'a.zone3.example.net', type: 'A', data: '192.0.2.30', ttl: 10 }]), want: [] },
    { name: 'the expiry of that name', step: () => { s.advance(11); s.learner.tick(); }, want: [['svc3.example.net', '*.zone3.example.net']] },
    { name: 'a CNAME chain: each name of it', step: () => s.answer(A, 'svc5.example.net', [{ name: 'svc5.example.net', type: 'CNAME', data: 'edge.cdn.net' }, { name: 'edge.cdn.net', type: 'A', data: '192.0.2.32' }]), want: [['api.example.com', '*.cdn.net', 'V6.Example.org.'], ['svc5.example.net', '*.zone5.example.net']] },
  ];
  for (const r of rows) {
    asked.length = 0;
    r.step();
    t.same(asked, r.want, r.name);
  }
  t.notOk(s.verdict(t, A, '192.0.2.30'), 'the expired address is out of its policy');
  t.ok(s.verdict(t, A, '192.0.2.32'), 'the chain\'s address is in (allow-names covers edge.cdn.net)');
});

t.test('over a cap, a record no policy names goes before one a policy names', async (t) => {
  // A pod resolving many unrelated names pushed the one name a policy allows out of the store,
  // and its next connection to it was denied. Records of names no domainNames entry matches go
  // first (least recently learned of them), then the least recently learned of all.
  type Step = [pod: string, last: number, name: string] | 'names-other-only' | 'add-policy';
  const rows: { name: string; policy: boolean; perPod: number; total: number; steps: Step[]; kept: number[]; evictions: number }[] = [
    { name: 'per pod: the unnamed record goes', policy: true, perPod: 3, total: 10, steps: [[A, 1, 'api.example.com'], [A, 2, 'www.other.org'], [A, 3, 'www.other.org'], [A, 4, 'www.other.org']], kept: [1, 3, 4], evictions: 1 },
    { name: 'per pod: every record named, the least recently learned goes', policy: true, perPod: 3, total: 10, steps: [[A, 1, 'api.example.com'], [A, 2, 'x.cdn.net'], [A, 3, 'api.example.com'], [A, 4, 'api.example.com']], kept: [2, 3, 4], evictions: 1 },
    { name: 'per pod: no record named, the least recently learned goes', policy: true, perPod: 2, total: 10, steps: [[A, 1, 'www.other.org'], [A, 2, 'www.other.org'], [A, 3, 'api.example.com']], kept: [2, 3], evictions: 1 },
    { name: 'total: the oldest unnamed record of any pod goes', policy: true, perPod: 3, total: 5, steps: [[A, 1, 'api.example.com'], [A, 2, 'www.other.org'], [B, 3, 'www.other.org'], [B, 4, 'api.example.com'], [B, 5, 'www.other.org'], [B, 6, 'www.other.org'], [A, 7, 'api.example.com']], kept: [1, 4, 5, 6, 7], evictions: 2 },
    { name: 'a policy edit that stops naming a name makes its records go first', policy: true, perPod: 3, total: 10, steps: [[A, 1, 'www.other.org'], [A, 2, 'api.example.com'], [A, 3, 'www.other.org'], 'names-other-only', [A, 4, 'www.other.org']], kept: [1, 3, 4], evictions: 1 },
    { name: 'a policy added after the records names them', policy: false, perPod: 3, total: 10, steps: [[A, 1, 'api.example.com'], [A, 2, 'www.other.org'], [A, 3, 'www.other.org'], 'add-policy', [A, 4, 'www.other.org']], kept: [1, 3, 4], evictions: 1 },
  ];
  for (const r of rows) {
    const s = setup(r.policy);
    const learner = new DnsLearner(s.st, () => true, { perPod: r.perPod, total: r.total }, s.now);
    for (const step of r.steps) {
      if (step === 'names-other-only') s.st.upsert('ClusterNetworkPolicy', { ...allowNames, egress: [{ ...allowNames.egress[0]!, peers: [{ domainNames: ['www.other.org'] }] }] });
      else if (step === 'add-policy') s.st.batch(() => { s.st.upsert('ClusterNetworkPolicy', allowNames); s.st.upsert('ClusterNetworkPolicy', denyRest); });
      else {
        learner.store.learn(step[0], `192.0.2.${step[1]}`, [step[2]], DNS, 300, s.now());
        learner.republish();
      }
    }
    t.same(learner.store.list(s.now()).map((x) => Number(x.address.split('.')[3])).sort((a, b) => a - b), r.kept, `${r.name}: records kept`);
    t.equal(learner.store.counters.evictions, r.evictions, `${r.name}: evictions counted`);
    if (r.kept.includes(1) && !r.steps.includes('names-other-only')) t.ok(s.verdict(t, A, '192.0.2.1'), `${r.name}: the named address is still allowed`);
    learner.close();
  }
});

t.test('an answer with 200 addresses: the first 128 are learned, the answer counted as partial', async (t) => {
  const s = setup();
  const addr = (i: number) => `198.51.${100 + (i >> 8)}.${i & 255}`;
  s.answer(A, 'api.example.com', Array.from({ length: 200 }, (_, i): RR => ({ name: 'api.example.com', type: 'A', data: addr(i) })), { tcp: true });
  t.equal(s.learner.store.size, 128, 'the first 128 records learned');
  t.equal(s.learner.counters.partial, 1, 'counted: an answer some records of which were left out');
  t.equal(s.learner.counters.errors['too-many'], 0, 'not refused');
  t.ok(s.verdict(t, A, addr(0)), 'the first address is allowed');
  t.ok(s.verdict(t, A, addr(127)), 'the 128th too');
  t.notOk(s.verdict(t, A, addr(128)), 'the 129th, not read, stays denied');
});

t.test('random answers, expiries, evictions and policy edits: after each tick every policy holds what a full lookup gives', async (t) => {
  // Re-stores look up only the policies whose names changed; between ticks a policy no change
  // touched may still hold an address whose record just expired (at most until the tick), so
  // the comparison is made right after each tick.
  let seed = 12345;
  const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  const NAMES = ['api.example.com', 'www.example.com', 'a.b.example.com', 'edge.cdn.net', 'cdn.net', 'other.org'];
  const PATTERNS = ['api.example.com', '*.example.com', '*.cdn.net', 'cdn.net', 'other.org', '*.b.example.com', 'none.example'];
  const policy = (i: number): ClusterPolicy => ({
    ...allowNames, name: `p${i}`, priority: 40 + i,
    egress: [{ name: 'r', action: 'Accept', peers: [{ domainNames: [PATTERNS[rnd(PATTERNS.length)]!, PATTERNS[rnd(PATTERNS.length)]!] }], protocols: [] }],
  });
  for (let run = 0; run < 20; run++) {
    const s = setup();
    const learner = new DnsLearner(s.st, () => true, { minTtl: 1, maxTtl: 30, perPod: 1 + rnd(8), total: 1 + rnd(16) }, s.now);
    s.st.batch(() => { for (let i = 0; i < 4; i++) s.st.upsert('ClusterNetworkPolicy', policy(i)); });
    let bad = 0;
    for (let step = 0; step < 150; step++) {
      const op = rnd(10);
      if (op < 6) {
        const chain = rnd(3) === 0 ? [NAMES[rnd(NAMES.length)]!, NAMES[rnd(NAMES.length)]!] : [NAMES[rnd(NAMES.length)]!];
        if (learner.store.learn([A, B][rnd(2)]!, `192.0.2.${rnd(12)}`, chain, DNS, rnd(20), s.now())) learner.republish();
      } else if (op < 8) s.advance(rnd(4000) / 1000);
      else if (op < 9) s.st.upsert('ClusterNetworkPolicy', policy(rnd(4)));
      else {
        learner.tick();
        for (const p of s.st.clusterPolicies.values()) {
          for (const q of p.egress.flatMap((r) => r.peers)) {
            if (!q.domainNames) continue;
            const want = [...new Set(learner.store.addressesFor(q.domainNames, s.now()))].sort();
            if ((q.learned ?? []).join() !== want.join()) {
              bad++;
              t.same(q.learned ?? [], want, `run ${run} step ${step}: ${p.name} ${q.domainNames.join(' ')}`);
            }
          }
        }
      }
    }
    t.equal(bad, 0, `run ${run}: every policy as a full lookup gives it after each tick`);
    learner.close();
  }
});
