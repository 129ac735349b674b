// DNS answer parser (src/dataplane/dns-parser.ts): what it learns from well-formed answers (A,
// AAAA, CNAME chains, compression, case, TTL rules) and how it refuses hostile ones.

import t from 'tap';
import { DNS_RESULT, DnsAnswer, MAX_ANSWERS, parseDnsAnswer } from '../../src/dataplane/dns-parser.ts';
import { formatIP } from '../../src/net/address.ts';
import { buildAnswer, type RR } from '../../support/dns-messages.ts';

/** What the parser learned: "address names... ttl" per address. */
function learned(buf: Buffer, off = 0, len = buf.length): { result: number; got: string[] } {
  const out = new DnsAnswer();
  const result = parseDnsAnswer(buf, off, len, out);
  const got: string[] = [];
  for (let i = 0; i < out.count; i++) {
    const w = out.words.subarray(4 * i, 4 * i + 4);
    const ip = out.family[i] === 4
      ? formatIP({ family: 'IPv4', words: [w[0]! >>> 0] } as never)
      : formatIP({ family: 'IPv6', words: [w[0]! >>> 0, w[1]! >>> 0, w[2]! >>> 0, w[3]! >>> 0] } as never);
    got.push(`${ip} ${out.names.slice(0, out.owner[i]! + 1).join(',')} ${out.ttl[i]}`);
  }
  return { result, got };
}

const cases: { name: string; q: string; rr: RR[]; compress?: boolean; flags?: number; want: string[]; result?: number }[] = [
  { name: 'one A record', q: 'api.example.com', rr: [{ name: 'api.example.com', type: 'A', data: '192.0.2.7', ttl: 30 }], want: ['192.0.2.7 api.example.com 30'] },
  { name: 'two A records and an AAAA', q: 'api.example.com', rr: [
    { name: 'api.example.com', type: 'A', data: '192.0.2.7' }, { name: 'api.example.com', type: 'A', data: '192.0.2.8' },
    { name: 'api.example.com', type: 'AAAA', data: '2001:db8:0:0:0:0:0:7' }],
  want: ['192.0.2.7 api.example.com 300', '192.0.2.8 api.example.com 300', '2001:db8::7 api.example.com 300'] },
  { name: 'CNAME chain of two, lowest TTL on the way wins', q: 'www.example.com', compress: true, rr: [
    { name: 'www.example.com', type: 'CNAME', data: 'edge.cdn.net', ttl: 20 },
    { name: 'edge.cdn.net', type: 'CNAME', data: 'lb.cdn.net', ttl: 600 },
    { name: 'lb.cdn.net', type: 'A', data: '198.51.100.1', ttl: 60 }],
  want: ['198.51.100.1 www.example.com,edge.cdn.net,lb.cdn.net 20'] },
  { name: 'records out of order still chain', q: 'www.example.com', rr: [
    { name: 'lb.cdn.net', type: 'A', data: '198.51.100.1', ttl: 60 },
    { name: 'www.example.com', type: 'CNAME', data: 'lb.cdn.net', ttl: 90 }],
  want: ['198.51.100.1 www.example.com,lb.cdn.net 60'] },
  { name: 'case-insensitive owner names, names reported in lower case', q: 'API.Example.COM', rr: [{ name: 'api.EXAMPLE.com', type: 'A', data: '192.0.2.9' }], want: ['192.0.2.9 api.example.com 300'] },
  { name: 'an A record for a name the question never reaches is ignored', q: 'api.example.com', rr: [
    { name: 'api.example.com', type: 'A', data: '192.0.2.7' }, { name: 'bank.example.org', type: 'A', data: '203.0.113.66' }],
  want: ['192.0.2.7 api.example.com 300'] },
  { name: 'TTL with the top bit set counts as 0 (RFC 2181 8)', q: 'a.example', rr: [{ name: 'a.example', type: 'A', data: '192.0.2.1', ttl: 0x80000000 }], want: ['192.0.2.1 a.example 0'] },
  { name: 'TTL 2^31 - 1 is kept (clamping is the store\'s)', q: 'a.example', rr: [{ name: 'a.example', type: 'A', data: '192.0.2.1', ttl: 0x7fffffff }], want: ['192.0.2.1 a.example 2147483647'] },
  { name: 'a non-IN class record teaches nothing', q: 'a.example', rr: [{ name: 'a.example', type: 'A', data: '192.0.2.1', cls: 3 }], want: [] },
  { name: 'TXT and other types are skipped', q: 'a.example', rr: [{ name: 'a.example', type: 'TXT', data: [3, 97, 98, 99] }, { name: 'a.example', type: 'A', data: '192.0.2.2' }], want: ['192.0.2.2 a.example 300'] },
  { name: 'NXDOMAIN', q: 'a.example', flags: 0x8183, rr: [], want: [], result: DNS_RESULT.RCODE },
  // TC set: the resolver asks again over TCP, but what the cut answer holds is the server's word
  // all the same (learning is allow-only, a subset of the full answer).
  { name: 'TC set: the records it holds are learned', q: 'a.example', flags: 0x8380, rr: [{ name: 'a.example', type: 'A', data: '192.0.2.4' }], want: ['192.0.2.4 a.example 300'] },
  { name: 'an uppercase CNAME target and a trailing-dot-free chain', q: 'WWW.Example.com', rr: [
    { name: 'www.example.COM', type: 'CNAME', data: 'LB.CDN.Example.NET' }, { name: 'lb.cdn.example.net', type: 'AAAA', data: '2001:db8:0:0:0:0:0:9' }, { name: 'lb.cdn.example.net', type: 'A', data: '192.0.2.9' }],
  want: ['2001:db8::9 www.example.com,lb.cdn.example.net 300', '192.0.2.9 www.example.com,lb.cdn.example.net 300'] },
  { name: 'a query (QR clear)', q: 'a.example', flags: 0x0100, rr: [{ name: 'a.example', type: 'A', data: '192.0.2.2' }], want: [], result: DNS_RESULT.NOT_RESPONSE },
  { name: 'an A record with 5 bytes of RDATA', q: 'a.example', rr: [{ name: 'a.example', type: 1, data: [1, 2, 3, 4, 5] }], want: [], result: DNS_RESULT.BAD_RDATA },
  { name: 'a CNAME loop stops after the chain limit', q: 'a.example', rr: [
    { name: 'a.example', type: 'CNAME', data: 'b.example' }, { name: 'b.example', type: 'CNAME', data: 'a.example' }, { name: 'b.example', type: 'A', data: '192.0.2.3' }],
  want: ['192.0.2.3 a.example,b.example 300'] },
];

t.test('answers', async (t) => {
  for (const c of cases) {
    for (const compress of c.compress === undefined ? [false, true] : [c.compress]) {
      const buf = buildAnswer(c.q, c.rr, { compress, ...(c.flags !== undefined ? { flags: c.flags } : {}) });
      const r = learned(buf);
      t.equal(r.result, c.result ?? DNS_RESULT.OK, `${c.name} (compress ${compress}): result`);
      t.same(r.got, c.want, `${c.name} (compress ${compress})`);
    }
  }
});

t.test('hostile messages are refused, never thrown on', async (t) => {
  const ok = buildAnswer('api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7' }], { compress: true });
  // Every truncation of a good answer: refused (or a parse that learned nothing wrong).
  for (let n = 0; n < ok.length; n++) {
    const r = learned(ok, 0, n);
    t.ok(r.result !== DNS_RESULT.OK, `truncated to ${n} bytes is refused`);
  }
  // A pointer to itself, and one pointing forward: loops and forward jumps are refused.
  const self = Buffer.from(ok);
  self[12] = 0xc0; self[13] = 12;
  t.equal(learned(self).result, DNS_RESULT.BAD_NAME, 'a pointer to itself');
  const fwd = Buffer.from(ok);
  fwd[12] = 0xc0; fwd[13] = 40;
  t.equal(learned(fwd).result, DNS_RESULT.BAD_NAME, 'a pointer forward');
  // Two answer names pointing at each other (each points at the other, one of them forward).
  const loop = buildAnswer('a.example', [{ name: 'a.example', type: 'A', data: '192.0.2.1' }]);
  const rrAt = 12 + 11 + 4;
  loop[rrAt] = 0xc0; loop[rrAt + 1] = rrAt;
  t.equal(learned(loop).result, DNS_RESULT.BAD_NAME, 'an answer name pointing at itself');
  // Reserved label types 0x40 and 0x80.
  for (const b of [0x40, 0x80]) {
    const r = Buffer.from(ok);
    r[12] = b | 3;
    t.equal(learned(r).result, DNS_RESULT.BAD_NAME, `label type 0x${b.toString(16)}`);
  }
  // Absurd counts: more answers than the parser keeps, or than the message holds.
  const many = Buffer.from(ok);
  many.writeUInt16BE(MAX_ANSWERS + 1, 6);
  t.equal(learned(many).result, DNS_RESULT.BAD_NAME, 'ANCOUNT over the limit, past the end of the message (the next owner name is missing)');
  const more = Buffer.from(ok);
  more.writeUInt16BE(5, 6);
  t.not(learned(more).result, DNS_RESULT.OK, 'ANCOUNT past the end of the message');
  const qd = Buffer.from(ok);
  qd.writeUInt16BE(2, 4);
  t.equal(learned(qd).result, DNS_RESULT.BAD_QUESTION, 'two questions');
  // A name longer than 255 bytes.
  const long = buildAnswer(Array.from({ length: 9 }, () => 'x'.repeat(30)).join('.'), []);
  t.equal(learned(long).result, DNS_RESULT.BAD_NAME, 'a 279-byte name');
  // A label holding a "." would read as two labels: refused.
  const dotted = buildAnswer('a.example', [{ name: 'a.example', type: 'A', data: '192.0.2.1' }]);
  dotted[13] = 0x2e; // "a" -> "." in the question's first label
  dotted[12 + 11 + 4 + 1] = 0x2e; // and in the answer's, so they still match
  t.equal(learned(dotted).result, DNS_RESULT.BAD_NAME, 'a label with a dot');
  // Found by the fuzz: a dot inside a later label ("n.t") still reads as a valid host name when
  // joined; it must be refused all the same.
  const inner = buildAnswer('api.nxt', [{ name: 'api.nxt', type: 'A', data: '192.0.2.1' }]);
  for (const at of [12 + 4 + 2, 12 + 9 + 4 + 4 + 2]) inner[at] = 0x2e; // "nxt" -> "n.t" in the question and the answer
  t.equal(learned(inner).result, DNS_RESULT.BAD_NAME, 'a label "n.t" is not the two labels n and t');
  // Bad offsets from the caller.
  t.equal(learned(ok, 5, ok.length).result, DNS_RESULT.TRUNCATED, 'off + len past the buffer');
  t.equal(learned(ok, -1, 4).result, DNS_RESULT.TRUNCATED, 'negative offset');
});

t.test('a name is at most 255 octets on the wire, its length octets and the root octet included (RFC 1035 2.3.4, 3.1)', async (t) => {
  // Labels of the given lengths: 1 length octet each plus the root's zero octet.
  const name = (lens: number[]) => lens.map((n, i) => String.fromCharCode(97 + i).repeat(n)).join('.');
  const rows: [lens: number[], octets: number, want: number][] = [
    [[63, 63, 63, 61], 255, DNS_RESULT.OK],
    [[63, 63, 63, 62], 256, DNS_RESULT.BAD_NAME],
    [[63, 63, 63, 63], 257, DNS_RESULT.BAD_NAME],
  ];
  for (const [lens, octets, want] of rows) {
    t.equal(lens.reduce((a, n) => a + n + 1, 1), octets, `${octets} octets: the row's arithmetic`);
    for (const compress of [false, true]) {
      const q = name(lens);
      const r = learned(buildAnswer(q, [{ name: q, type: 'A', data: '192.0.2.1' }], { compress }));
      t.equal(r.result, want, `a ${octets}-octet name (compress ${compress})`);
      t.same(r.got, want === DNS_RESULT.OK ? [`192.0.2.1 ${q} 300`] : [], `a ${octets}-octet name (compress ${compress}): learned`);
    }
  }
  // Through a CNAME too: the target is the 256-octet name.
  const long = name([63, 63, 63, 62]);
  const viaCname = learned(buildAnswer('a.example', [{ name: 'a.example', type: 'CNAME', data: long }, { name: long, type: 'A', data: '192.0.2.1' }], { compress: true }));
  t.not(viaCname.result, DNS_RESULT.OK, 'a 256-octet CNAME target: refused');
});

t.test('records of the authority and additional sections are never learned (cache poisoning)', async (t) => {
  // The builder writes every record as an answer; the header then moves the last ones to the
  // authority (NSCOUNT) and additional (ARCOUNT) sections, where a server (or an injected
  // answer) could slip in addresses for the question name or a CNAME target.
  const rows: { name: string; q: string; rr: RR[]; an: number; ns: number; ar: number; want: string[] }[] = [
    { name: 'an additional A record for the question name', q: 'api.example.com', an: 1, ns: 0, ar: 1,
      rr: [{ name: 'api.example.com', type: 'A', data: '192.0.2.7' }, { name: 'api.example.com', type: 'A', data: '203.0.113.66' }],
      want: ['192.0.2.7 api.example.com 300'] },
    { name: 'an authority CNAME from the question name, its target\'s A additional', q: 'api.example.com', an: 0, ns: 1, ar: 1,
      rr: [{ name: 'api.example.com', type: 'CNAME', data: 'evil.example.net' }, { name: 'evil.example.net', type: 'A', data: '203.0.113.66' }],
      want: [] },
    { name: 'an answer CNAME whose target\'s A is additional only', q: 'www.example.com', an: 1, ns: 0, ar: 1,
      rr: [{ name: 'www.example.com', type: 'CNAME', data: 'lb.example.net' }, { name: 'lb.example.net', type: 'A', data: '203.0.113.66' }],
      want: [] },
    { name: 'an authority AAAA for the question name', q: 'api.example.com', an: 1, ns: 1, ar: 0,
      rr: [{ name: 'api.example.com', type: 'A', data: '192.0.2.7' }, { name: 'api.example.com', type: 'AAAA', data: '2001:db8:0:0:0:0:0:66' }],
      want: ['192.0.2.7 api.example.com 300'] },
  ];
  for (const r of rows) {
    for (const compress of [false, true]) {
      const b = buildAnswer(r.q, r.rr, { compress });
      b.writeUInt16BE(r.an, 6); b.writeUInt16BE(r.ns, 8); b.writeUInt16BE(r.ar, 10);
      const got = learned(b);
      t.equal(got.result, DNS_RESULT.OK, `${r.name} (compress ${compress}): parsed`);
      t.same(got.got, r.want, `${r.name} (compress ${compress}): learned`);
    }
  }
});

t.test('a message at an offset inside a larger buffer (as in a packet)', async (t) => {
  const msg = buildAnswer('a.example', [{ name: 'a.example', type: 'A', data: '192.0.2.1' }], { compress: true });
  const buf = Buffer.concat([Buffer.alloc(28, 0xee), msg, Buffer.alloc(9, 0xee)]);
  t.same(learned(buf, 28, msg.length).got, ['192.0.2.1 a.example 300']);
});

t.test('a name may follow at most 128 compression pointers', async (t) => {
  // Each pointer must point backward, so a chain of them ends, but a hostile answer can still
  // stack thousands into one name (below 16 KiB, where pointers reach): every comparison of that
  // name walked them all, thousands of times per answer. No encoder needs more pointers than a
  // name has labels.
  /** a.example, then a TXT record holding `chain` pointers (each to the one before, the first to the question), then an A record named by a pointer to the last. */
  const chained = (chain: number): Buffer => {
    const b: number[] = [];
    const u16 = (v: number) => b.push((v >> 8) & 255, v & 255);
    u16(1); u16(0x8180); u16(1); u16(2); u16(0); u16(0);
    b.push(1, 97, 7, ...Buffer.from('example'), 0); u16(1); u16(1);
    u16(0xc00c); u16(16); u16(1); u16(0); u16(300); u16(2 * chain);
    let last = 12;
    for (let k = 0; k < chain; k++) { const at = b.length; u16(0xc000 | last); last = at; }
    u16(0xc000 | last); u16(1); u16(1); u16(0); u16(300); u16(4); b.push(192, 0, 2, 1);
    return Buffer.from(b);
  };
  const rows: [pointers: number, want: number][] = [[1, DNS_RESULT.OK], [2, DNS_RESULT.OK], [128, DNS_RESULT.OK], [129, DNS_RESULT.BAD_NAME], [8100, DNS_RESULT.BAD_NAME]];
  for (const [pointers, want] of rows) {
    const r = learned(chained(pointers - 1));
    t.equal(r.result, want, `${pointers} pointers`);
    t.same(r.got, want === DNS_RESULT.OK ? ['192.0.2.1 a.example 300'] : [], `${pointers} pointers: learned`);
  }
});

t.test('comparing names costs a bounded amount of work per answer', async (t) => {
  // Every record's owner is compared with every name of the CNAME chain. Names of 120 one-byte
  // labels, each reached through a pointer, equal but for their last label, made every
  // comparison walk the whole name: about a millisecond per answer, hundreds of normal ones.
  const ladders = (owners: number): Buffer => {
    const b: number[] = [];
    const u16 = (v: number) => b.push((v >> 8) & 255, v & 255);
    const rr = (name: number, type: number, data: number[]) => { u16(0xc000 | name); u16(type); u16(1); u16(0); u16(300); u16(data.length); b.push(...data); };
    u16(1); u16(0x8180); u16(1); u16(1 + 7 + owners); u16(0); u16(0);
    b.push(1, 97, 7, ...Buffer.from('example'), 0); u16(1); u16(1);
    // A TXT record holding two ladders of 120 labels "x", each label followed by a pointer to the
    // rung before: one ends in a.example (the question), the other in "q".
    const ladder: number[] = [];
    const at0 = b.length + 12;
    const rung = (prev: number) => { const at = at0 + ladder.length; ladder.push(1, 120, 0xc0 | (prev >> 8), prev & 255); return at; };
    let x = 12;
    for (let k = 0; k < 120; k++) x = rung(x);
    const q = at0 + ladder.length;
    ladder.push(1, 113, 0);
    let y = q;
    for (let k = 0; k < 120; k++) y = rung(y);
    rr(12, 16, ladder);
    // The question CNAMEs to ladder x, which CNAMEs to itself: a chain of 9 long names.
    rr(12, 5, [0xc0 | (x >> 8), x & 255]);
    for (let i = 1; i < 7; i++) rr(x, 5, [0xc0 | (x >> 8), x & 255]);
    // A records owned by ladder y: equal to ladder x but for the end.
    for (let i = 0; i < owners; i++) rr(y, 1, [192, 0, 2, i]);
    return Buffer.from(b);
  };
  const r = learned(ladders(55));
  t.equal(r.result, DNS_RESULT.TOO_MANY, 'refused: too much comparing for one answer');
  t.same(r.got, [], 'nothing learned');
  // The largest ordinary answer stays well inside the bound: 8 CNAME links, addresses in every other record.
  const links = Array.from({ length: 9 }, (_, i) => `host-${i}.region-${i}.service.cloud-provider.example.com`);
  const rrs: RR[] = links.slice(0, 8).map((n, i) => ({ name: n, type: 'CNAME', data: links[i + 1]! }));
  for (let i = 0; i < MAX_ANSWERS - 8; i++) rrs.push({ name: links[8]!, type: 'A', data: `198.51.100.${i}` });
  for (const compress of [false, true]) {
    const big = learned(buildAnswer(links[0]!, rrs, { compress }));
    t.equal(big.result, DNS_RESULT.OK, `a large ordinary answer (compress ${compress})`);
    t.equal(big.got.length, MAX_ANSWERS - 8, `all its addresses (compress ${compress})`);
  }
});

t.test('an answer with 100 addresses for the name is learned whole', async (t) => {
  // The domainNames proposal (network-policy-api NPEP-133, "Expected Behavior") asks for at
  // least 100 addresses per name; a headless Service of 100 pods answers that many at once.
  const v4 = (i: number) => `198.51.${100 + (i >> 8)}.${i & 255}`;
  const v6 = (i: number) => `2001:db8:0:0:0:0:1:${i.toString(16)}`;
  const rows: { name: string; cname: boolean; data: (i: number) => string; type: 'A' | 'AAAA'; show: (i: number) => string }[] = [
    { name: '100 A records', cname: false, data: v4, type: 'A', show: v4 },
    { name: 'a CNAME, then 100 AAAA records', cname: true, data: v6, type: 'AAAA', show: (i) => `2001:db8::1:${i.toString(16)}` },
  ];
  for (const r of rows) {
    const owner = r.cname ? 'pods.svc.example.net' : 'api.example.com';
    const rr: RR[] = r.cname ? [{ name: 'api.example.com', type: 'CNAME', data: owner }] : [];
    for (let i = 0; i < 100; i++) rr.push({ name: owner, type: r.type, data: r.data(i) });
    const got = learned(buildAnswer('api.example.com', rr, { compress: true }));
    t.equal(got.result, DNS_RESULT.OK, `${r.name}: parsed`);
    const names = r.cname ? 'api.example.com,pods.svc.example.net' : 'api.example.com';
    t.same(got.got, Array.from({ length: 100 }, (_, i) => `${r.show(i)} ${names} 300`), `${r.name}: every address`);
  }
});

t.test('an answer with more than 128 records: the first 128 are read, the rest only framed', async (t) => {
  // Refusing it whole denied every connection to the name. Learning is allow-only, so learning
  // what the first MAX_ANSWERS records give (a chain made of those records only) is a subset of
  // what reading them all would give; the rest must still frame to the end of the message.
  const a = (i: number): RR => ({ name: 'api.example.com', type: 'A', data: `198.51.${100 + (i >> 8)}.${i & 255}` });
  const want = (n: number, names = 'api.example.com') => Array.from({ length: n }, (_, i) => `198.51.${100 + (i >> 8)}.${i & 255} ${names} 300`);
  const cut = (b: Buffer, by: number) => b.subarray(0, b.length - by);
  const rows: { name: string; msg: () => Buffer; result: number; got: string[]; leftOut: number }[] = [
    { name: '200 A records', msg: () => buildAnswer('api.example.com', Array.from({ length: 200 }, (_, i) => a(i)), { compress: true }), result: DNS_RESULT.OK, got: want(MAX_ANSWERS), leftOut: 200 - MAX_ANSWERS },
    { name: '129 A records, uncompressed', msg: () => buildAnswer('api.example.com', Array.from({ length: 129 }, (_, i) => a(i))), result: DNS_RESULT.OK, got: want(MAX_ANSWERS), leftOut: 1 },
    { name: 'exactly 128: nothing left out', msg: () => buildAnswer('api.example.com', Array.from({ length: 128 }, (_, i) => a(i)), { compress: true }), result: DNS_RESULT.OK, got: want(MAX_ANSWERS), leftOut: 0 },
    {
      name: 'a CNAME past the 128th record is not followed', result: DNS_RESULT.OK, got: [], leftOut: 1,
      msg: () => buildAnswer('www.example.com', [...Array.from({ length: 128 }, (_, i) => a(i)), { name: 'www.example.com', type: 'CNAME', data: 'api.example.com' }], { compress: true }),
    },
    {
      name: 'a CNAME among the first 128 is', result: DNS_RESULT.OK, got: want(127, 'www.example.com,api.example.com'), leftOut: 72,
      msg: () => buildAnswer('www.example.com', [{ name: 'www.example.com', type: 'CNAME', data: 'api.example.com' }, ...Array.from({ length: 199 }, (_, i) => a(i))], { compress: true }),
    },
    { name: 'the last record cut short: refused whole', msg: () => cut(buildAnswer('api.example.com', Array.from({ length: 200 }, (_, i) => a(i)), { compress: true }), 1), result: DNS_RESULT.TRUNCATED, got: [], leftOut: 0 },
    { name: 'an ANCOUNT of 65535 on 200 records: refused whole', msg: () => { const b = buildAnswer('api.example.com', Array.from({ length: 200 }, (_, i) => a(i)), { compress: true }); b.writeUInt16BE(0xffff, 6); return b; }, result: DNS_RESULT.BAD_NAME, got: [], leftOut: 0 },
    {
      name: 'an A record of 5 bytes past the 128th: refused whole', result: DNS_RESULT.BAD_RDATA, got: [], leftOut: 0,
      msg: () => buildAnswer('api.example.com', [...Array.from({ length: 130 }, (_, i) => a(i)), { name: 'api.example.com', type: 1, data: [1, 2, 3, 4, 5] }], { compress: true }),
    },
    {
      name: 'a forward pointer past the 128th: refused whole', result: DNS_RESULT.BAD_NAME, got: [], leftOut: 0,
      msg: () => { const b = buildAnswer('api.example.com', Array.from({ length: 130 }, (_, i) => a(i)), { compress: true }); const last = b.length - 16; b.writeUInt16BE(0xc000 | (last + 4), last); return b; },
    },
  ];
  for (const r of rows) {
    const out = new DnsAnswer();
    const b = r.msg();
    const got = learned(b);
    t.equal(got.result, r.result, `${r.name}: result`);
    t.same(got.got, r.got, `${r.name}: addresses`);
    parseDnsAnswer(b, 0, b.length, out);
    t.equal(out.leftOut, r.leftOut, `${r.name}: records left out`);
  }
});
