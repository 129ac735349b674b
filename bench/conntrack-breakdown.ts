// Where a conntrack-hit's time goes: the same packets through parsing alone, parsing + flow
// lookup, + state update, and the whole classify(), in interleaved rounds of one process (the
// VMs vary 20-40 % between runs, so only figures of one run compare). CPU ns per packet.
//
//   node --import tsx bench/conntrack-breakdown.ts [--flows N] [--shuffle] [--rounds N] [--packets N]
//
// --flows: flows in the table (default 50,000 as conntrack-hit; 2,000 keeps them all in cache,
// which shows the cost without misses). --shuffle: packets in random flow order; by default they
// replay the flows in the order they were opened, which is the order of their records, so
// records are read in sequence and the bucket head is the one random read (docs/speed-history.md).

import { parsePacket } from '../src/dataplane/packet-parser.ts';
import { PacketInfo } from '../src/dataplane/packet-info.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';
import { buildLargeCluster } from './large-cluster.ts';
import { openFlows } from './suite.ts';

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}
const flows = flag('--flows', 50_000);
const rounds = flag('--rounds', 8);
const packets = flag('--packets', 1_000_000);
const shuffle = process.argv.includes('--shuffle');

const { cls, ct, stream: s } = openFlows(new CompiledEngine(buildLargeCluster()).snapshot(), flows, shuffle);
const info = new PacketInfo();
const { buf, offs, lens, n } = s;
const NOW = 1000;

// One loop per stage so each call site stays monomorphic.
function parseOnly(count: number): number {
  let acc = 0, k = 0;
  for (let i = 0; i < count; i++) {
    if (parsePacket(buf, offs[k]!, lens[k]!, info)) acc = (acc + info.dstPort) & 0xfffffff;
    if (++k === n) k = 0;
  }
  return acc;
}
function withLookup(count: number): number {
  let acc = 0, k = 0;
  for (let i = 0; i < count; i++) {
    if (parsePacket(buf, offs[k]!, lens[k]!, info)) acc = (acc + ct.lookup(info, NOW)) & 0xfffffff;
    if (++k === n) k = 0;
  }
  return acc;
}
function withUpdate(count: number): number {
  let acc = 0, k = 0;
  for (let i = 0; i < count; i++) {
    if (parsePacket(buf, offs[k]!, lens[k]!, info)) {
      const e = ct.lookup(info, NOW);
      if (e !== -1) ct.update(e, info, ct.lastReply, NOW);
      acc = (acc + e) & 0xfffffff;
    }
    if (++k === n) k = 0;
  }
  return acc;
}
function classify(count: number): number {
  let acc = 0, k = 0;
  for (let i = 0; i < count; i++) {
    acc = (acc + cls.classify(buf, offs[k]!, lens[k]!, NOW)) & 0xfffffff;
    if (++k === n) k = 0;
  }
  return acc;
}

const stages = [['parse', parseOnly], ['+lookup', withLookup], ['+update', withUpdate], ['classify', classify]] as const;
let sink = 0;
for (const [, f] of stages) for (let w = 0; w < 5; w++) sink = (sink + f(250_000)) & 0xfffffff;
const cpu = stages.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) {
  stages.forEach(([, f], j) => {
    const c0 = process.cpuUsage();
    sink = (sink + f(packets)) & 0xfffffff;
    const c = process.cpuUsage(c0);
    cpu[j]!.push(((c.user + c.system) * 1000) / packets);
  });
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(JSON.stringify({
  flows: ct.entries, packets_per_round: packets, rounds, shuffle,
  cpu_ns_per_packet: Object.fromEntries(stages.map(([name], j) => [name, +median(cpu[j]!).toFixed(1)])),
  classify_mpps_cpu: +(1e3 / median(cpu[3]!)).toFixed(2),
  sink,
}));
