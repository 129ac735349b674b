// Packet-level differential test on seeded random clusters (support/random-cluster.ts):
// every random probe is built as real packet bytes, classified, and compared with the plain
// evaluator (the oracle) after each random mutation delivered through ClusterState.

import t from 'tap';
import { Classifier, ACCEPT, REASON_NAMES } from '../../src/dataplane/classifier.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { protocolNumber } from '../../src/cluster/model.ts';
import { Rng, randomCluster, stateOf, probeAddresses, randomProbe, randomMutation } from '../../support/random-cluster.ts';
import { packet } from '../../support/packets.ts';

const CLUSTERS = 120;
const MUTATIONS = 4;
const PROBES = 60;

t.test(`${CLUSTERS} random clusters, packet by packet, against the evaluator`, async (t) => {
  let probes = 0;
  const mismatches: string[] = [];
  for (let ci = 0; ci < CLUSTERS; ci++) {
    const seed = 0xc1a55 + ci * 7919;
    const r = new Rng(seed);
    const rc = randomCluster(r);
    const state = stateOf(rc);
    const engine = new CompiledEngine(state);
    state.onChange((ch) => engine.update(ch));
    const cls = new Classifier(engine.snapshot());
    for (let m = 0; m <= MUTATIONS; m++) {
      let what = 'initial';
      if (m > 0) what = randomMutation(r, state, rc.outside);
      cls.setSnapshot(engine.snapshot());
      const addrs = probeAddresses(state, rc.outside);
      for (let i = 0; i < PROBES; i++) {
        const conn = randomProbe(r, addrs);
        const q = packet(conn.src, conn.dst, protocolNumber(conn.protocol), 33000 + i, conn.port);
        const got = cls.classify(q, 0, q.length, 0) === ACCEPT;
        const want = evaluate(state, conn).allowed;
        probes++;
        if (got !== want && mismatches.length < 10) {
          mismatches.push(`seed ${seed} after ${what}: ${conn.protocol} ${conn.src} -> ${conn.dst}:${conn.port}: classify ${got} (${REASON_NAMES[cls.lastReason]}, egress ${cls.lastEgressCode}, ingress ${cls.lastIngressCode}), evaluator ${want}`);
        }
      }
    }
  }
  t.same(mismatches, [], 'classify() agrees with the evaluator');
  t.equal(probes, CLUSTERS * (MUTATIONS + 1) * PROBES);
});
