// The classifier on real packet bytes against the real compiled engine and the plain evaluator,
// on every conformance case (NetworkPolicy and ClusterNetworkPolicy sets), step and probe, in
// the family each probe names (a host-network pod's address is its node's). Connect
// probes are a TCP SYN / UDP datagram / SCTP INIT from the client's IP to the server's IP and
// port; reply probes open the connection first and then send the server's answer. A connect
// probe's side codes are the snapshot's full judgement's, the ingress side skipped after an
// egress denial.

import t from 'tap';
import { Classifier, ACCEPT, REASON_NAMES } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { protocolNumber } from '../../src/cluster/model.ts';
import { buildClusterForCase, applyStep, probesForGroup, probeLabel } from '../support/conformance-cases.ts';
import { packet, replyPacket, TCPF } from '../../support/packets.ts';
import { everyCase } from '../conformance/case-set.ts';
import { numericAnswer } from '../../support/differential.ts';
import { SIDE, sideDenies } from '../../src/policy/engine-api.ts';

const cases = everyCase();

t.test('conformance cases: classify() == CompiledEngine.decide == evaluate == expectation', async (t) => {
  t.ok(cases.length > 0, 'cases found');
  let probes = 0;
  let sport = 20000;
  for (const c of cases) {
    const state = buildClusterForCase(c);
    const engine = new CompiledEngine(state);
    state.onChange((changes) => engine.update(changes));
    const stateless = new Classifier(engine.snapshot());
    const ct = new Conntrack({ capacity: 4096, seed: 1 });
    const stateful = new Classifier(engine.snapshot(), { conntrack: ct });
    let failures = 0;
    c.steps.forEach((step, si) => {
      const errors = applyStep(state, step, `${c.file} step ${si}`);
      t.same(errors, [], `${c.file} step ${si} applies cleanly`);
      const snap = engine.snapshot();
      stateless.setSnapshot(snap);
      stateful.setSnapshot(snap);
      // Flows of the previous step were judged under other rules; strict mode re-judges them,
      // but probes should start from a clean table (each probe is a fresh connection).
      ct.clear();
      step.probes.forEach((group, gi) => {
        const proto = protocolNumber(group.protocol);
        for (const p of probesForGroup(c, group)) {
          probes++;
          const label = probeLabel(c, si, gi, p);
          const sp = sport = sport >= 60000 ? 20000 : sport + 1;
          const q = packet(p.src, p.dst, proto, sp, p.port);
          const conn = { src: p.src, dst: p.dst, protocol: group.protocol, port: p.port };
          const oracle = evaluate(state, conn).allowed;
          const compiled = engine.decide(conn).allowed;
          const now = probes;
          if (p.kind === 'connect') {
            const v = stateless.classify(q, 0, q.length, now) === ACCEPT;
            // Its side codes: the full judgement's, except that the ingress side is skipped after
            // an egress denial; judgeSkippedSide() then gives the full one.
            const full = numericAnswer(snap, conn, false);
            const skip = sideDenies(full.egress);
            const e = stateless.lastEgressCode, i = stateless.lastIngressCode;
            stateless.judgeSkippedSide();
            if (e !== full.egress || i !== (skip ? SIDE.SKIPPED : full.ingress) || stateless.lastIngressCode !== full.ingress) {
              failures++;
              t.fail(`${label}: side codes ${e} / ${i} (${stateless.lastIngressCode} judged in full), the full judgement's ${full.egress} / ${full.ingress}`);
            }
            const vs = stateful.classify(q, 0, q.length, now) === ACCEPT;
            if (v !== p.expect || v !== oracle || v !== compiled || vs !== v) {
              failures++;
              t.fail(`${label}: expected ${p.expect}, classify ${v} (stateful ${vs}, ${REASON_NAMES[stateful.lastReason]}), evaluator ${oracle}, compiled ${compiled}`);
            }
            if (vs) {
              // Its replies must pass through conntrack.
              const r = replyPacket(p.src, p.dst, proto, sp, p.port, TCPF.SYN | TCPF.ACK);
              if (stateful.classify(r, 0, r.length, now) !== ACCEPT) {
                failures++;
                t.fail(`${label}: reply of an accepted connection dropped (${REASON_NAMES[stateful.lastReason]})`);
              }
            }
          } else {
            // kind reply: `from` opened a connection to `to`; the answers must get through.
            const opened = stateful.classify(q, 0, q.length, now) === ACCEPT;
            const r = replyPacket(p.src, p.dst, proto, sp, p.port, TCPF.SYN | TCPF.ACK);
            const v = stateful.classify(r, 0, r.length, now) === ACCEPT;
            if (v !== p.expect || opened !== oracle) {
              failures++;
              t.fail(`${label}: reply expected ${p.expect}, got ${v} (${REASON_NAMES[stateful.lastReason]}); connection opened ${opened}, evaluator ${oracle}`);
            }
          }
        }
      });
    });
    t.equal(failures, 0, `${c.file.split('/').pop()}: all probes agree`);
  }
  t.ok(probes > 1000, `${probes} probes classified`);
});
