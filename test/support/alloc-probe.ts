// Child process for the zero-allocation check (run with --expose-gc):
//   node --expose-gc --import tsx test/support/alloc-probe.ts [packets]
// Builds the real compiled engine for a dual-stack conformance case, prebuilds a mixed packet
// stream into one Buffer, warms the classifier up, then classifies `packets` packets and prints
// one JSON line: heap growth (no GC in between) and how many GCs ran during the loop. A hot path
// that allocates even one heap number per packet grows the heap by >= 16 bytes a packet and
// triggers scavenges.

import { wasmCopyOf } from '../../src/policy/wasm-snapshot.ts';
import { Classifier, REASON } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { loadCases, buildClusterForCase, applyStep } from './conformance-cases.ts';
import { PROTO, TCPF, packet, replyPacket, icmpErrorFor, ipv4, pack } from '../../support/packets.ts';
import { exposedGc, measureHeap } from '../../support/heap-measure.ts';
import { formatIP, parseIP } from '../../src/net/address.ts';

const total = Number(process.argv[2] ?? 2_000_000);
exposedGc();

const cases = loadCases();
const c = cases.find((x) => x.pods.some((p) => p.ipv6) && x.nodeIPv6) ?? cases[0]!;
const state = buildClusterForCase(c);
const engine = new CompiledEngine(state);
state.onChange((ch) => engine.update(ch));
for (const s of c.steps) applyStep(state, s);

const pkts: Buffer[] = [];
let sp = 30000;
for (const a of c.pods) {
  for (const b of c.pods) {
    for (const fam of [4, 6]) {
      const src = fam === 4 ? a.ip : a.ipv6;
      const dst = fam === 4 ? b.ip : b.ipv6;
      if (!src || !dst) continue;
      for (const proto of [PROTO.TCP, PROTO.UDP, PROTO.SCTP, PROTO.ICMP]) {
        sp++;
        const q = packet(src, dst, proto, sp, 80);
        pkts.push(q, replyPacket(src, dst, proto, sp, 80), packet(src, dst, proto, sp, 80, TCPF.ACK));
        if (proto === PROTO.UDP) pkts.push(icmpErrorFor(q, dst));
      }
    }
  }
}
// Local pod ranges around the pods' addresses, and new connections from addresses in them that no
// pod holds (dropped as unknown local pods): the range scan runs on the hot path too.
const p0 = c.pods[0]!;
const ranges = [`${p0.ip}/16`, ...(p0.ipv6 ? [`${p0.ipv6}/64`] : [])];
const unknown4 = formatIP({ family: 'IPv4', words: [(parseIP(p0.ip)!.words[0]! ^ 0xf1) >>> 0] });
for (const b of c.pods) {
  for (const proto of [PROTO.TCP, PROTO.UDP]) pkts.push(packet(unknown4, b.ip, proto, ++sp, 80), packet(b.ip, unknown4, proto, ++sp, 80));
  if (p0.ipv6 && b.ipv6) {
    const w = parseIP(p0.ipv6)!.words;
    const unknown6 = formatIP({ family: 'IPv6', words: [w[0]!, w[1]!, w[2]!, (w[3]! ^ 0xf1f1) >>> 0] });
    pkts.push(packet(unknown6, b.ipv6, PROTO.TCP, ++sp, 80), packet(b.ipv6, unknown6, PROTO.UDP, ++sp, 80));
  }
}
// Invalid and fragment packets.
pkts.push(Buffer.from([0x45, 0, 0, 10]));
pkts.push(ipv4({ src: c.pods[0]!.ip, dst: c.pods[1]!.ip, proto: PROTO.UDP, fragOffset: 7, rawPayload: true }, Buffer.alloc(16)));
const { buf, offs, lens } = pack(pkts);
const n = pkts.length;
// The stateful classifier reads a second buffer, as two queues' receive buffers would be read in
// turn: every packet switches buffers, so a parser view made per switch would show here.
const buf2 = Buffer.from(buf);

// argv[3] 'wasm': the snapshot's WebAssembly copy judges (src/policy/wasm-snapshot.ts, the agent's default).
const judge = process.argv[3] === 'wasm' ? wasmCopyOf(engine.snapshot())! : engine.snapshot();
const stateless = new Classifier(judge);
const stateful = new Classifier(judge, { conntrack: new Conntrack({ capacity: 1024, seed: 1 }) });
stateless.setLocalPodRanges({ cidrs: ranges, nodeAddresses: [] });
stateful.setLocalPodRanges({ cidrs: ranges, nodeAddresses: [] });

function run(count: number, t0: number): number {
  let acc = 0;
  for (let i = 0; i < count; i++) {
    const k = i % n;
    acc += stateless.classify(buf, offs[k]!, lens[k]!, t0 + i);
    acc += stateful.classify(buf2, offs[k]!, lens[k]!, t0 + i);
  }
  return acc;
}

run(300_000, 0);
const { value: acc, ...measured } = await measureHeap(() => run(total / 2, 1_000_000));

// Control: the same loop plus one small object per packet, to show the measurement notices an
// allocation of that size (if it did not, a clean result above would prove nothing).
let keep: { v: number } | undefined;
function runAllocating(count: number, t0: number): number {
  let a = 0;
  for (let i = 0; i < count; i++) {
    const k = i % n;
    keep = { v: stateless.classify(buf, offs[k]!, lens[k]!, t0 + i) };
    a += keep.v;
  }
  return a;
}
runAllocating(300_000, 0);
const { value: _controlAcc, ...control } = await measureHeap(() => runAllocating(total, 2_000_000));
process.stdout.write(JSON.stringify({ packets: total, distinct: n, ...measured, control, acc, unknownLocalDrops: stateless.reasonCounts[REASON.UNKNOWN_LOCAL_POD]! + stateful.reasonCounts[REASON.UNKNOWN_LOCAL_POD]!, case: c.file }) + '\n');
