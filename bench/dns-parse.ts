// DNS answer parsing speed on one core (issue 16): how many answers per second
// src/dataplane/dns-parser.ts reads, for a few typical shapes.
//   node --import tsx bench/dns-parse.ts [--seconds 2]
// Prints one JSON line: per shape, answers parsed per second and the message size. The agent's
// learner adds the name store and packet parsing on top (measure with the learner row).

import { parseArgs } from 'node:util';
import { DnsAnswer, parseDnsAnswer } from '../src/dataplane/dns-parser.ts';
import { DnsLearner } from '../src/agent/dns-learner.ts';
import { ClusterState } from '../src/cluster/state.ts';
import { buildAnswer } from '../support/dns-messages.ts';
import { ipv4, udp } from '../support/packets.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string' } } });
const SECONDS = Number(values.seconds ?? 2);

const shapes: Record<string, Buffer> = {
  'one A': buildAnswer('api.example.com', [{ name: 'api.example.com', type: 'A', data: '192.0.2.7' }], { compress: true }),
  'four A': buildAnswer('api.example.com', [1, 2, 3, 4].map((i) => ({ name: 'api.example.com', type: 'A' as const, data: `192.0.2.${i}` })), { compress: true }),
  'CNAME chain of 2 + 2 A + 2 AAAA': buildAnswer('www.example.com', [
    { name: 'www.example.com', type: 'CNAME', data: 'www.example.com.edgekey.net' },
    { name: 'www.example.com.edgekey.net', type: 'CNAME', data: 'e1234.a.akamaiedge.net' },
    { name: 'e1234.a.akamaiedge.net', type: 'A', data: '23.1.2.3' }, { name: 'e1234.a.akamaiedge.net', type: 'A', data: '23.1.2.4' },
    { name: 'e1234.a.akamaiedge.net', type: 'AAAA', data: '2600:1400:0:0:0:0:0:1' }, { name: 'e1234.a.akamaiedge.net', type: 'AAAA', data: '2600:1400:0:0:0:0:0:2' },
  ], { compress: true }),
  'NXDOMAIN': buildAnswer('nope.example.com', [], { flags: 0x8183 }),
};

function rate(fn: () => void): number {
  for (let i = 0; i < 20_000; i++) fn();
  let n = 0;
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = performance.now();
  }
  return Math.round(n / ((now - t0) / 1000));
}

const out: Record<string, unknown> = { bench: 'dns-parse', seconds: SECONDS, node: process.version, parser: {} as Record<string, unknown> };
const a = new DnsAnswer();
for (const [name, buf] of Object.entries(shapes)) {
  (out.parser as Record<string, unknown>)[name] = { bytes: buf.length, answersPerSecond: rate(() => parseDnsAnswer(buf, 0, buf.length, a)) };
}
// The learner on whole packets: IP + UDP parse, DNS parse, name store refresh (the steady state:
// the same answer again, so no policy is re-stored).
const st = new ClusterState();
const learner = new DnsLearner(st, () => true);
const pkt = ipv4({ src: '10.96.0.10', dst: '10.0.0.1', proto: 17, rawPayload: true }, udp({ sport: 53, dport: 40000 }, shapes['CNAME chain of 2 + 2 A + 2 AAAA']!));
out.learner = { shape: 'CNAME chain of 2 + 2 A + 2 AAAA, refresh', answersPerSecond: rate(() => learner.classify(pkt, 0, pkt.length, 0)) };
process.stdout.write(JSON.stringify(out) + '\n');
