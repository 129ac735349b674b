// Hostile DNS answers at volume (issue 16): a million seeded inputs (random valid answers with
// CNAME chains, A and AAAA records and name compression, then mutated: bytes flipped, truncated,
// counts and TTLs set to absurd values, compression pointers aimed at themselves or forward, or
// plain random bytes) through src/dataplane/dns-parser.ts. Nothing may throw, and every record
// it learns must be one a slow reference reader (below, written separately: recursive, building
// label arrays) finds in the same bytes: a learned record the reference does not have is a
// "wrongly learned record". The two must also agree on which messages are refused.
//
// STRESS_DNS_INPUTS overrides the count.

import t from 'tap';
import { DnsAnswer, MAX_ANSWERS, MAX_CHAIN, parseDnsAnswer } from '../../src/dataplane/dns-parser.ts';
import { buildAnswer, type RR } from '../../support/dns-messages.ts';
import { TcpDnsReassembly } from '../../src/dataplane/tcp-dns-reassembly.ts';
import { PacketInfo } from '../../src/dataplane/packet-info.ts';
import { bindRow, envInt, round } from './support/results.ts';

const TOTAL = envInt('STRESS_DNS_INPUTS', 1_000_000);

let s = 0x1b873593;
function rnd(): number {
  s ^= s << 13; s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5; s >>>= 0;
  return s;
}

const LABELS = ['a', 'api', 'WWW', 'cdn', 'example', 'com', 'net', 'x-1', 'b_2', 'lb'];
function randName(): string {
  const n = 1 + (rnd() % 4);
  return Array.from({ length: n }, () => LABELS[rnd() % LABELS.length]!).join('.');
}

function randAnswer(): Buffer {
  const q = randName();
  const rr: RR[] = [];
  let cur = q;
  const hops = rnd() % 4;
  for (let i = 0; i < hops; i++) {
    const next = randName();
    rr.push({ name: cur, type: 'CNAME', data: next, ttl: rnd() % 1000 });
    cur = next;
  }
  const n = rnd() % 5;
  for (let i = 0; i < n; i++) {
    const owner = (rnd() & 3) === 0 ? randName() : cur;
    if (rnd() & 1) rr.push({ name: owner, type: 'A', data: `${rnd() & 255}.${rnd() & 255}.${rnd() & 255}.${rnd() & 255}`, ttl: rnd() });
    else rr.push({ name: owner, type: 'AAAA', data: Array.from({ length: 8 }, () => (rnd() & 0xffff).toString(16)).join(':'), ttl: rnd() % 100000 });
  }
  if (rnd() % 3 === 0) rr.push({ name: cur, type: 'TXT', data: [2, 104, 105] });
  for (let i = rr.length - 1; i > 0; i--) { const j = rnd() % (i + 1); [rr[i], rr[j]] = [rr[j]!, rr[i]!]; }
  return buildAnswer(q, rr, { compress: (rnd() & 1) === 1, id: rnd() & 0xffff });
}

// ---------------------------------------------------------------------------------------------
// Reference reader: the same rules as the parser (see its header), written the obvious way.

type Name = string[];
class Refused extends Error {}
function refuse(): never { throw new Refused(); }

/** `frameOnly` (records past MAX_ANSWERS): the name up to its first pointer, which must point back. */
function readName(b: Buffer, base: number, end: number, p: number, frameOnly = false): { name: Name; next: number } {
  const labels: Name = [];
  let next = -1, bytes = 0, pointers = 0;
  for (;;) {
    if (p >= end) refuse();
    const len = b[p]!;
    if (len === 0) return { name: labels, next: next < 0 ? p + 1 : next };
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= end || ++pointers > 128) refuse();
      const target = base + ((len & 0x3f) * 256 + b[p + 1]!);
      if (target >= p) refuse();
      if (next < 0) next = p + 2;
      if (frameOnly) return { name: labels, next };
      p = target;
      continue;
    }
    if (len & 0xc0) refuse();
    bytes += len + 1;
    if (bytes > 255 || p + 1 + len > end) refuse();
    labels.push(b.toString('latin1', p + 1, p + 1 + len).replace(/[A-Z]/g, (c) => c.toLowerCase()));
    p += 1 + len;
  }
}

function reference(b: Buffer): string[] | 'refused' {
  try {
    const end = b.length;
    if (end < 12) refuse();
    const flags = b.readUInt16BE(2);
    if (!(flags & 0x8000) || (flags & 0x7800) || (flags & 15)) refuse();
    if (b.readUInt16BE(4) !== 1) refuse();
    const an = b.readUInt16BE(6);
    const q = readName(b, 0, end, 12);
    let p = q.next;
    if (p + 4 > end || b.readUInt16BE(p + 2) !== 1) refuse();
    p += 4;
    const rrs: { owner: Name; type: number; ttl: number; data: Buffer; target?: Name }[] = [];
    for (let i = 0; i < an; i++) {
      // Past MAX_ANSWERS records are framed, not read (the parser's header).
      const frameOnly = i >= MAX_ANSWERS;
      const o = readName(b, 0, end, p, frameOnly);
      p = o.next;
      if (p + 10 > end) refuse();
      const type = b.readUInt16BE(p), cls = b.readUInt16BE(p + 2), ttl = b.readUInt32BE(p + 4), len = b.readUInt16BE(p + 8);
      p += 10;
      if (p + len > end) refuse();
      let target: Name | undefined;
      if (cls === 1) {
        if (type === 1 && len !== 4) refuse();
        if (type === 28 && len !== 16) refuse();
        if (type === 5) { const r = readName(b, 0, p + len, p, frameOnly); if (r.next !== p + len) refuse(); target = r.name; }
      }
      if (frameOnly) { p += len; continue; }
      rrs.push({ owner: o.name, type: cls === 1 ? type : 0, ttl: ttl >= 0x80000000 ? 0 : ttl, data: b.subarray(p, p + len), ...(target ? { target } : {}) });
      p += len;
    }
    const same = (x: Name, y: Name) => JSON.stringify(x) === JSON.stringify(y);
    const chain: { name: Name; ttl: number }[] = [{ name: q.name, ttl: Infinity }];
    while (chain.length <= MAX_CHAIN) {
      const last = chain[chain.length - 1]!;
      const c = rrs.find((r) => r.type === 5 && same(r.owner, last.name));
      if (!c) break;
      chain.push({ name: c.target!, ttl: Math.min(last.ttl, c.ttl) });
    }
    const out: string[] = [];
    for (const r of rrs) {
      if (r.type !== 1 && r.type !== 28) continue;
      const at = chain.findIndex((c) => same(c.name, r.owner));
      if (at < 0) continue;
      const addr = r.type === 1 ? [...r.data].join('.') : Array.from({ length: 8 }, (_, k) => r.data.readUInt16BE(2 * k).toString(16)).join(':');
      out.push(`${addr} ${chain.slice(0, at + 1).map((c) => c.name.join('.')).join(',')} ${Math.min(r.ttl, chain[at]!.ttl)}`);
    }
    if (out.length > 0 && chain.some((c) => !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(c.name.join('.')) || c.name.some((l) => l.includes('.')))) refuse();
    return out;
  } catch (e) {
    if (e instanceof Refused) return 'refused';
    throw e;
  }
}

function parsed(a: DnsAnswer, r: number): string[] | 'refused' {
  if (r !== 0) return 'refused';
  const out: string[] = [];
  for (let i = 0; i < a.count; i++) {
    const w = a.words;
    const addr = a.family[i] === 4
      ? [24, 16, 8, 0].map((sh) => (w[4 * i]! >>> sh) & 255).join('.')
      : Array.from({ length: 8 }, (_, k) => ((w[4 * i + (k >> 1)]! >>> ((k & 1) ? 0 : 16)) & 0xffff).toString(16)).join(':');
    out.push(`${addr} ${a.names.slice(0, a.owner[i]! + 1).join(',')} ${a.ttl[i]}`);
  }
  return out;
}

t.test('a million hostile DNS answers: no throw, nothing learned that is not in the message', async (t) => {
  const r = bindRow(t, 'hostile', 'DNS answer fuzz (parser vs reference reader)', 'dns-fuzz.stress.ts');
  const a = new DnsAnswer();
  let threw = 0, wrong = 0, disagreed = 0, learnedRecords = 0, refusedBoth = 0;
  let firstProblem = '';
  const kinds = [0, 0, 0, 0, 0, 0];
  const t0 = performance.now();
  let parseMs = 0;
  for (let i = 0; i < TOTAL; i++) {
    let b = randAnswer();
    const mode = rnd() % 8;
    kinds[Math.min(mode, 5)]++;
    if (mode === 0) { b = Buffer.alloc(rnd() % 200); for (let k = 0; k < b.length; k++) b[k] = rnd() & 255; if (b.length > 3 && (rnd() & 1)) { b[2] = 0x81; b[3] = 0x80; } }
    else if (mode === 1) { const n = 1 + (rnd() % 4); for (let k = 0; k < n; k++) b[rnd() % b.length] = rnd() & 255; }
    else if (mode === 2) b = b.subarray(0, rnd() % b.length);
    else if (mode === 3) { b.writeUInt16BE(rnd() % 3 === 0 ? 0xffff : rnd() % 70, 6); }
    else if (mode === 4) {
      // A compression pointer planted at a random label position, aimed at itself, forward or back.
      const at = 12 + (rnd() % Math.max(1, b.length - 13));
      const aim = [at - 12, at - 12 + 1 + (rnd() % 20), rnd() % Math.max(1, at - 12)][rnd() % 3]!;
      b[at] = 0xc0 | ((aim >> 8) & 0x3f); b[at + 1] = aim & 255;
    } else if (mode === 5) {
      // TTLs of 0 and 2^31 and above: find the TTL fields the easy way, by rewriting every 4-byte run after a class IN.
      for (let k = 12; k + 8 < b.length; k++) if (b[k] === 0 && b[k + 1] === 1 && (rnd() & 1)) b.writeUInt32BE([0, 0x80000000, 0xffffffff, 0x7fffffff][rnd() & 3]!, k + 2);
    }
    let got: string[] | 'refused';
    const p0 = performance.now();
    try {
      got = parsed(a, parseDnsAnswer(b, 0, b.length, a));
    } catch (e) {
      threw++;
      if (!firstProblem) firstProblem = `threw on ${b.toString('hex')}: ${(e as Error).message}`;
      continue;
    }
    parseMs += performance.now() - p0;
    const want = reference(b);
    if (got === 'refused' && want === 'refused') { refusedBoth++; continue; }
    if (got === 'refused' || want === 'refused') {
      disagreed++;
      if (!firstProblem) firstProblem = `parser ${JSON.stringify(got)} reference ${JSON.stringify(want)} on ${b.toString('hex')}`;
      continue;
    }
    learnedRecords += got.length;
    const extra = got.filter((g) => !want.includes(g));
    wrong += extra.length;
    if (extra.length > 0 || got.length !== want.length) {
      if (extra.length === 0) disagreed++;
      if (!firstProblem) firstProblem = `parser ${JSON.stringify(got)} reference ${JSON.stringify(want)} on ${b.toString('hex')}`;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  r.tried = { n: TOTAL, what: 'hostile DNS answers' };
  r.wrong = threw + wrong + disagreed;
  Object.assign(r.figures, {
    inputs: TOTAL, crashes: threw, 'wrongly learned records': wrong, 'disagreements with the reference': disagreed,
    'records learned': learnedRecords, 'refused (both)': refusedBoth, seconds: round(seconds), 'parser-only seconds': round(parseMs / 1000),
  });
  if (firstProblem) t.comment(firstProblem);
  t.equal(threw, 0, 'the parser never throws');
  t.equal(wrong, 0, 'no record learned that the reference reader does not find');
  t.equal(disagreed, 0, 'parser and reference refuse the same messages and learn the same records');
  t.ok(learnedRecords > TOTAL / 10, `the mutations leave plenty of answers to learn from (${learnedRecords})`);
  t.ok(refusedBoth > TOTAL / 10, `and plenty are refused (${refusedBoth})`);
});

// DNS over TCP (src/dataplane/tcp-dns-reassembly.ts): the same hostile answers, several per
// connection, framed with their length prefix and cut into random segments (cuts inside the
// prefix included), some segments sent twice (retransmissions) and, on some connections, one
// left out (a gap). What comes out of the reassembly must be exactly the messages sent, in order,
// up to the gap and none after it; nothing may throw.
const TCP_TOTAL = envInt('STRESS_DNS_TCP_INPUTS', 100_000);

t.test('hostile answers over TCP, split over random segments: the messages come out whole or not at all', async (t) => {
  const r = bindRow(t, 'hostile', 'DNS over TCP reassembly fuzz (random segments, retransmits, gaps)', 'dns-fuzz.stress.ts');
  let got: string[] = [];
  const re = new TcpDnsReassembly((b, off, len) => got.push(b.toString('hex', off, off + len)), { maxFlows: 8 });
  const a = new DnsAnswer();
  const info = new PacketInfo();
  info.family = 4; info.proto = 6; info.srcPort = 53; info.src4 = 0x0a000035; info.dst4 = 0x0a000001;
  let threw = 0, wrong = 0, messages = 0, connections = 0, firstProblem = '';
  const t0 = performance.now();
  for (let sent = 0, port = 1; sent < TCP_TOTAL; port = (port % 60000) + 1) {
    const msgs: Buffer[] = [];
    for (let k = 1 + (rnd() % 3); k > 0; k--) { let b = randAnswer(); if (rnd() % 4 === 0) { const n = 1 + (rnd() % 4); for (let j = 0; j < n; j++) b[rnd() % b.length] = rnd() & 255; } if (rnd() % 8 === 0) b = b.subarray(0, rnd() % b.length); msgs.push(b); }
    sent += msgs.length;
    connections++;
    const stream = Buffer.concat(msgs.flatMap((m) => [Buffer.from([m.length >> 8, m.length & 255]), m]));
    const cuts = [0];
    while (cuts[cuts.length - 1]! < stream.length) cuts.push(Math.min(stream.length, cuts[cuts.length - 1]! + 1 + (rnd() % 300)));
    const gapAt = rnd() % 4 === 0 && cuts.length > 2 ? 1 + (rnd() % (cuts.length - 2)) : -1;
    const isn = rnd();
    got = [];
    info.dstPort = port;
    try {
      info.tcpFlags = 0x12;
      re.segment(info, isn, stream, 0, 0, true, sent);
      for (let i = 0; i + 1 < cuts.length; i++) {
        if (i === gapAt) continue;
        info.tcpFlags = i + 2 === cuts.length ? 0x11 : 0x10;
        const reps = rnd() % 6 === 0 ? 2 : 1;
        for (let k = 0; k < reps; k++) re.segment(info, (isn + 1 + cuts[i]!) >>> 0, stream, cuts[i]!, cuts[i + 1]! - cuts[i]!, true, sent);
      }
      for (const m of got) parseDnsAnswer(Buffer.from(m, 'hex'), 0, m.length / 2, a);
    } catch (e) {
      threw++;
      if (!firstProblem) firstProblem = `threw: ${(e as Error).message}`;
      continue;
    }
    // Messages wholly before the gap's first byte are due; none after.
    const due: string[] = [];
    for (let i = 0, at = 0; i < msgs.length; i++) {
      at += 2 + msgs[i]!.length;
      if (gapAt >= 0 && at > cuts[gapAt]!) break;
      due.push(msgs[i]!.toString('hex'));
    }
    messages += got.length;
    if (JSON.stringify(got) !== JSON.stringify(due)) {
      wrong++;
      if (!firstProblem) firstProblem = `got ${got.length} messages, due ${due.length} (gap at segment ${gapAt})`;
    }
  }
  r.tried = { n: TCP_TOTAL, what: 'hostile DNS answers over TCP' };
  r.wrong = threw + wrong;
  Object.assign(r.figures, { answers: TCP_TOTAL, connections, 'messages reassembled': messages, crashes: threw, 'connections with wrong messages': wrong, seconds: round((performance.now() - t0) / 1000) });
  if (firstProblem) t.comment(firstProblem);
  t.equal(threw, 0, 'nothing throws');
  t.equal(wrong, 0, 'every connection yields exactly the messages before its gap, byte for byte');
  t.ok(re.size <= 8, 'the flow cap holds');
});
