// Child process for the observer's zero-allocation check (run with --expose-gc):
//   node --expose-gc --import tsx test/support/observe-alloc-probe.ts [packets]
// The real compiled engine and Classifier wrapped in ObservedJudge (counters, per-rule hits, a
// verdict log and an audit config attached), fed only traffic the policies ALLOW (new
// connections allowed by rules, replies, established packets): the path every packet of a
// healthy cluster takes. Denied new connections allocate by design (the log line) and are
// rate limited, so they are not part of this stream. Prints heap growth and GC count as JSON.

import { Classifier } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { buildClusterForCase, loadCases } from './conformance-cases.ts';
import { AgentCounters, PolicyCounters } from '../../src/agent/metrics.ts';
import { VerdictLog } from '../../src/agent/verdict-log.ts';
import { ConnectionObserver, ObservedJudge } from '../../src/agent/observe.ts';
import { PROTO, TCPF, packet, replyPacket, pack } from '../../support/packets.ts';
import { exposedGc, measureHeap } from '../../support/heap-measure.ts';

const total = Number(process.argv[2] ?? 1_000_000);
exposedGc();

const c = loadCases().find((k) => k.file.includes('001-default-deny-ingress'))!;
const st = buildClusterForCase(c);
// Every pod isolated both ways, everything allowed by rules: each new connection hits two rule ids.
applyDecoded(st, decodeObject({
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'open' },
  spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ namespaceSelector: {} }] }], egress: [{ to: [{ namespaceSelector: {} }] }] },
}));
const engine = new CompiledEngine(st);

const pkts: Buffer[] = [];
let sp = 30000;
for (const a of c.pods) {
  for (const b of c.pods) {
    for (const proto of [PROTO.TCP, PROTO.UDP, PROTO.SCTP]) {
      sp++;
      pkts.push(packet(a.ip, b.ip, proto, sp, 80), replyPacket(a.ip, b.ip, proto, sp, 80), packet(a.ip, b.ip, proto, sp, 80, TCPF.ACK));
    }
  }
}
const { buf, offs, lens } = pack(pkts);
const n = pkts.length;

function observed(conntrack: boolean): ObservedJudge {
  const cl = new Classifier(engine.snapshot(), conntrack ? { conntrack: new Conntrack({ capacity: 4096, seed: 1 }) } : {});
  const obs = new ConnectionObserver({
    counters: new AgentCounters(),
    policies: new PolicyCounters(),
    log: new VerdictLog({ write: () => { throw new Error('an allowed packet was logged'); } }),
    audit: { global: false, namespaces: new Set(['y']) },
  });
  obs.bindSnapshot(engine.snapshot(), engine.stats().ruleIds);
  return new ObservedJudge(cl, obs);
}
const stateless = observed(false);
const stateful = observed(true);

function run(count: number, t0: number): number {
  let acc = 0;
  for (let i = 0; i < count; i++) {
    const k = i % n;
    acc += stateless.classify(buf, offs[k]!, lens[k]!, t0 + i);
    acc += stateful.classify(buf, offs[k]!, lens[k]!, t0 + i);
  }
  return acc;
}

run(200_000, 0);
const { value: acc, heapDelta, gcs } = await measureHeap(() => run(total / 2, 1_000_000));
const hits = stateless.observer.policies.read().get('x/open')?.allow ?? 0;
process.stdout.write(JSON.stringify({ packets: total, distinct: n, heapDelta, gcs, acc, ruleHits: hits }) + '\n');
