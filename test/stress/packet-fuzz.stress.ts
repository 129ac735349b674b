// Hostile packets at volume: 10 million seeded inputs (random bytes, mutated real packets,
// truncations, IPv6 extension-header chains far past the limit, bogus IPv4/IPv6 length fields,
// out-of-range offsets) through the classifier with a real compiled engine and a small
// conntrack table (so eviction runs). Nothing may throw, the heap must not grow (the hot path
// allocates nothing), and every input must be counted exactly once with a reason.
//
// STRESS_FUZZ_INPUTS overrides the count.

import t from 'tap';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Classifier, ACCEPT, DROP, REASON, REASON_NAMES } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { INVALID_NAMES } from '../../src/dataplane/packet-info.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { loadCases, buildClusterForCase, applyStep } from '../support/conformance-cases.ts';
import {
  PROTO, NH, TCPF, packet, replyPacket, ipv4, ipv6, udp, tcp, icmp, echo, extHeader, ahHeader, fragHeader, icmpErrorFor,
} from '../../support/packets.ts';
import { bindRow, envInt, round, MB } from './support/results.ts';

const TOTAL = envInt('STRESS_FUZZ_INPUTS', 10_000_000);

// A callable gc without restarting node with --expose-gc: V8 reads the flag when a new context
// is created.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// xorshift32, fixed seed: the same 10 million inputs every run.
let s = 0x2545f491;
function rnd(): number {
  s ^= s << 13; s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5; s >>>= 0;
  return s;
}

const A = '10.244.1.1', B = '10.244.2.2', A6 = 'fd00:10:244::11', B6 = 'fd00:10:244::22';

/** Real packets to mutate: every protocol both families, replies, ICMP errors, fragments, ext headers. */
function corpus(): Buffer[] {
  const out: Buffer[] = [];
  for (const [a, b] of [[A, B], [A6, B6], ['10.0.0.1', A], [B, A]] as const) {
    for (const p of [PROTO.TCP, PROTO.UDP, PROTO.SCTP, PROTO.ICMP]) {
      out.push(packet(a, b, p, 40000, 80), replyPacket(a, b, p, 40000, 80), icmpErrorFor(packet(a, b, p, 40000, 80), b));
    }
    out.push(packet(a, b, PROTO.TCP, 40001, 80, TCPF.ACK), packet(a, b, PROTO.TCP, 40002, 80, TCPF.FIN | TCPF.ACK), packet(a, b, PROTO.TCP, 40003, 80, TCPF.RST));
  }
  out.push(ipv4({ src: A, dst: B, proto: PROTO.UDP, mf: true, id: 9 }, udp({ sport: 1, dport: 53, length: 900 }, Buffer.alloc(24))));
  out.push(ipv4({ src: A, dst: B, proto: PROTO.UDP, fragOffset: 3, id: 9, rawPayload: true }, Buffer.alloc(24)));
  out.push(ipv4({ src: A, dst: B, proto: PROTO.TCP, fragOffset: 1, id: 10, rawPayload: true }, Buffer.alloc(24)));
  out.push(ipv4({ src: A, dst: B, proto: PROTO.TCP, options: Buffer.from([0x94, 4, 0, 0, 1, 1, 1, 0]) }, tcp({ sport: 5, dport: 6 })));
  out.push(ipv6({ src: A6, dst: B6, nextHeader: NH.HOP, rawPayload: true }, Buffer.concat([extHeader(NH.ROUTING), extHeader(NH.AH, 1), ahHeader(NH.FRAGMENT), fragHeader(PROTO.UDP, 0, true, 3), udp({ sport: 1, dport: 2 })])));
  out.push(ipv6({ src: A6, dst: B6, nextHeader: NH.FRAGMENT, rawPayload: true }, Buffer.concat([fragHeader(PROTO.UDP, 3, false, 3), Buffer.alloc(16)])));
  out.push(ipv6({ src: A6, dst: B6, nextHeader: NH.DEST, rawPayload: true }, Buffer.concat([extHeader(NH.ESP), Buffer.alloc(24)])));
  out.push(ipv6({ src: 'fe80::1', dst: 'ff02::1', nextHeader: 58, hopLimit: 255 }, icmp(135, 0, 0, Buffer.alloc(16))));
  out.push(ipv6({ src: A6, dst: B6, nextHeader: 58 }, echo(129, 3)), ipv6({ src: A6, dst: B6, nextHeader: 58 }, echo(128, 4)));
  return out;
}

/** IPv6 packets whose extension-header chain is 17..200 headers long (over MAX_EXT_HEADERS). */
function longChains(): Buffer[] {
  const out: Buffer[] = [];
  for (const n of [17, 20, 33, 64, 120, 200]) {
    const hdrs: Buffer[] = [];
    for (let i = 0; i < n; i++) hdrs.push(i % 3 === 2 ? ahHeader(i === n - 1 ? PROTO.TCP : NH.DEST) : extHeader(i === n - 1 ? PROTO.TCP : i % 3 === 1 ? NH.AH : NH.DEST, i % 4));
    out.push(ipv6({ src: A6, dst: B6, nextHeader: NH.DEST, rawPayload: true }, Buffer.concat([...hdrs, tcp({ sport: 7, dport: 80 })])));
  }
  return out;
}

t.test(`packet fuzz: ${TOTAL} hostile inputs through parser + classifier`, async (t) => {
  const r = bindRow(t, 'hostile', 'packet fuzz (parser + classifier)', 'packet-fuzz.stress.ts');
  const c0 = loadCases().find((c) => c.file.includes('901')) ?? loadCases()[0]!;
  const state = buildClusterForCase(c0);
  const engine = new CompiledEngine(state);
  state.onChange((ch) => engine.update(ch));
  applyStep(state, c0.steps[0]!);
  const ct = new Conntrack({ capacity: 1024, seed: 7, evictScan: 16 });
  const cls = new Classifier(engine.snapshot(), { conntrack: ct });
  const base = corpus();
  const chains = longChains();
  const work = Buffer.alloc(8192);

  // Warm up (JIT, inline caches) before measuring the heap, then count GCs during the run.
  for (let i = 0; i < 20_000; i++) {
    const b = base[i % base.length]!;
    b.copy(work, 0);
    cls.classify(work, 0, b.length, i);
  }
  cls.resetCounters();
  let scavenges = 0, majors = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
      else majors++;
    }
  });
  gc();
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  obs.observe({ entryTypes: ['gc'] });

  let threw = 0, accepted = 0, invalidNotDropped = 0, badVerdict = 0, maxEntries = 0;
  let firstThrow = '';
  const kinds = [0, 0, 0, 0, 0, 0];
  const t0 = performance.now();
  for (let i = 0; i < TOTAL; i++) {
    const mode = rnd() % 10;
    let off = rnd() & 63;
    let len: number;
    if (mode === 0) {
      // Random bytes, half the time with a plausible IP version nibble.
      len = rnd() % 300;
      for (let k = 0; k < len; k++) work[off + k] = rnd() & 255;
      if (len > 0 && (rnd() & 1)) work[off] = (work[off]! & 0x0f) | ((rnd() & 1) ? 0x40 : 0x60);
      kinds[0]++;
    } else if (mode === 1) {
      // Extension-header chains past the limit, sometimes mutated.
      const b = chains[rnd() % chains.length]!;
      b.copy(work, off);
      len = b.length;
      if (rnd() & 1) work[off + 40 + (rnd() % (len - 40))] = rnd() & 255;
      kinds[1]++;
    } else if (mode === 2) {
      // Bogus length fields: IPv4 total length / IHL, IPv6 payload length, UDP length.
      const b = base[rnd() % base.length]!;
      b.copy(work, off);
      len = b.length;
      const v = work[off]! >> 4;
      const which = rnd() & 3;
      if (v === 4 && which === 0) { work[off + 2] = rnd() & 255; work[off + 3] = rnd() & 255; }
      else if (v === 4 && which === 1) work[off] = 0x40 | (rnd() & 15);
      else if (v === 6) { work[off + 4] = rnd() & 255; work[off + 5] = rnd() & 255; }
      else { const l4 = off + (v === 4 ? 20 : 40); work[l4 + 4] = rnd() & 255; work[l4 + 5] = rnd() & 255; }
      kinds[2]++;
    } else if (mode <= 6) {
      // A real packet with 1-4 random bytes changed.
      const b = base[rnd() % base.length]!;
      b.copy(work, off);
      len = b.length;
      const flips = 1 + (rnd() % 4);
      for (let k = 0; k < flips; k++) work[off + (rnd() % len)] = rnd() & 255;
      kinds[3]++;
    } else if (mode <= 8) {
      // Truncated anywhere, or claiming more bytes than the packet has (trailing junk).
      const b = base[rnd() % base.length]!;
      b.copy(work, off);
      len = (rnd() & 3) === 0 ? b.length + (rnd() % 64) : rnd() % (b.length + 1);
      kinds[4]++;
    } else {
      // Untouched valid packets keep the flow table busy (inserts, replies, evictions).
      const b = base[rnd() % base.length]!;
      b.copy(work, off);
      len = b.length;
      // Vary the source port so new flows keep arriving.
      if (work[off]! >> 4 === 4 && work[off + 9] !== PROTO.ICMP) { work[off + 20] = rnd() & 255; work[off + 21] = rnd() & 255; }
      kinds[5]++;
    }
    // Caller bugs: offsets and lengths outside the buffer.
    if ((rnd() & 1023) === 0) off = -1 - (rnd() & 7);
    if ((rnd() & 1023) === 0) len = work.length + (rnd() & 255);
    // A capture shorter than the wire length (NFQUEUE copy range).
    const wire = (rnd() & 7) === 0 ? len + (rnd() % 3000) : len;
    try {
      const v = cls.classify(work, off, len, i, wire);
      if (v === ACCEPT) accepted++;
      else if (v !== DROP) badVerdict++;
      if (cls.lastReason === REASON.INVALID && v !== DROP) invalidNotDropped++;
    } catch (e) {
      if (threw++ === 0) firstThrow = `input ${i}: ${(e as Error).stack}`;
    }
    if ((i & 0xffff) === 0 && ct.entries > maxEntries) maxEntries = ct.entries;
  }
  const seconds = (performance.now() - t0) / 1000;
  obs.disconnect();
  gc();
  gc();
  const heapAfter = process.memoryUsage().heapUsed;

  const verdicts = cls.verdictCounts[0]! + cls.verdictCounts[1]!;
  const reasons = cls.reasonCounts.reduce((a, b) => a + b, 0);
  const invalidSum = cls.invalidCounts.reduce((a, b) => a + b, 0);
  const growth = heapAfter - heapBefore;

  Object.assign(r.figures, {
    inputs: TOTAL,
    'inputs/s': round(TOTAL / seconds),
    seconds: round(seconds),
    exceptions: threw,
    'counted (verdicts)': verdicts,
    'counted (reasons)': reasons,
    invalid: cls.reasonCounts[REASON.INVALID]!,
    accepted,
    'heap growth KB': round(growth / 1024),
    'minor GCs': scavenges,
    'major GCs': majors,
    'flow table max': Math.max(maxEntries, ct.entries),
    evictions: ct.evictions,
  });
  const topInvalid = INVALID_NAMES.map((n, i) => [n, cls.invalidCounts[i]!] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 4);
  const topReasons = REASON_NAMES.map((n, i) => [n, cls.reasonCounts[i]!] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 4);
  r.tried = { n: TOTAL, what: 'hostile packets' };
  r.wrong = threw + badVerdict + invalidNotDropped + Math.abs(TOTAL - verdicts) + Math.abs(TOTAL - reasons);
  r.note = `mix random/long-chains/bad-lengths/mutated/truncated/valid = ${kinds.join('/')}; top invalid: ${topInvalid.map(([n, c]) => `${n} ${c}`).join(', ')}; top reasons: ${topReasons.map(([n, c]) => `${n} ${c}`).join(', ')}`;

  t.equal(threw, 0, `no exception${firstThrow ? ` (first: ${firstThrow})` : ''}`);
  t.equal(badVerdict, 0, 'every verdict is ACCEPT or DROP');
  t.equal(invalidNotDropped, 0, 'every invalid input is dropped');
  t.equal(verdicts, TOTAL, 'verdict counters sum to the number of inputs');
  t.equal(reasons, TOTAL, 'reason counters sum to the number of inputs');
  t.equal(invalidSum, cls.reasonCounts[REASON.INVALID], 'invalid-code counters sum to the invalid reason count');
  t.ok(cls.reasonCounts[REASON.INVALID]! > TOTAL / 10 && accepted > 0, 'the mix exercised both rejection and acceptance');
  t.ok(cls.invalidCounts[INVALID_NAMES.indexOf('ext-chain-too-long')]! > 0, 'over-long extension chains were refused as such');
  t.ok(ct.entries <= ct.capacity && maxEntries <= ct.capacity, 'flow table never past its capacity');
  // The loop allocates nothing, so the heap after a full GC is where it started; 1 MB of slack
  // covers tap's own bookkeeping (timers, stream buffers) during the run.
  t.ok(growth < 1 * MB, `heap did not grow (${round(growth / 1024)} KB after a full GC)`);
  // A per-input allocation of even 16 bytes would be 160 MB over 10M inputs: dozens of
  // scavenges of the 16 MB young generation. A handful comes from the rest of the process.
  t.ok(scavenges <= 8, `no allocation pressure during the run (${scavenges} minor GCs)`);
});
