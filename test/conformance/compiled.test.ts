// Every conformance case (NetworkPolicy and ClusterNetworkPolicy sets) through the compiled
// engine, three ways per step:
// - one engine compiled before step 0 and kept current through ClusterState.onChange (the
//   incremental path),
// - a fresh engine compiled from the state after the step (the full path);
// - one node-local engine ({ localNode }) per node of the case, kept current incrementally, as
//   the agents run them: a connection is allowed when the source's node allows its egress and
//   the destination's node allows its ingress (an end that is no pod, e.g. an outside host, is
//   judged by the other end's node, where its side is 'not-a-pod').
// Each answer is also compared in full with the plain evaluator's (node-local sides with the
// evaluator's answer for that node), and the node-local engines' with their snapshots'
// WebAssembly copies (src/policy/wasm-snapshot.ts, what the agents judge with once idle).
// 'connect' probes are new connections and are judged here; 'reply' probes are about conntrack
// state and belong to the dataplane tests.

import t from 'tap';
import { applyStep, buildClusterForCase, endpointNode, probeLabel, probesForGroup } from '../support/conformance-cases.ts';
import { CompiledEngine, decideOn } from '../../src/policy/compiler.ts';
import { wasmCopyOf, type WasmSnapshot } from '../../src/policy/wasm-snapshot.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { everyCase } from './case-set.ts';

const cases = everyCase();
t.ok(cases.length > 0, 'conformance cases found');

const verdict = (b: boolean) => (b ? 'allow' : 'deny');

for (const c of cases) {
  t.test(c.file.split('/').pop()!, async (t) => {
    const state = buildClusterForCase(c);
    const incremental = new CompiledEngine(state);
    // What the agents run: each judges only its node's pods.
    const agents = new Map(c.nodes.map((n) => [n.name, new CompiledEngine(state, { localNode: n.name })] as const));
    state.onChange((changes) => {
      incremental.update(changes);
      for (const a of agents.values()) a.update(changes);
    });
    // Each agent's WebAssembly copy, made anew when its snapshot changes.
    const copies = new Map<CompiledEngine, WasmSnapshot>();
    const copyOf = (a: CompiledEngine): WasmSnapshot => {
      const snap = a.snapshot();
      let copy = copies.get(a);
      if (copy?.source !== snap) copies.set(a, (copy = wasmCopyOf(snap, copy)!));
      return copy;
    };
    let wasmChecked = 0;
    const agentOf = (endpoint: string, other: string) =>
      agents.get(endpointNode(c, endpoint) ?? endpointNode(c, other) ?? c.nodes[0]!.name)!;
    let checked = 0;
    c.steps.forEach((step, si) => {
      const errors = applyStep(state, step, `step ${si}`);
      t.same(errors, [], `step ${si} applies cleanly`);
      const fresh = new CompiledEngine(state);
      step.probes.forEach((group, gi) => {
        for (const p of probesForGroup(c, group)) {
          if (p.kind !== 'connect') continue;
          const label = probeLabel(c, si, gi, p);
          const conn = { src: p.src, dst: p.dst, protocol: p.protocol, port: p.port };
          const a = incremental.decide(conn);
          const b = fresh.decide(conn);
          checked++;
          if (a.allowed !== p.expect) t.fail(`incremental: ${label}: expected ${verdict(p.expect)}, got ${verdict(a.allowed)}`, { decision: a });
          if (b.allowed !== p.expect) t.fail(`fresh: ${label}: expected ${verdict(p.expect)}, got ${verdict(b.allowed)}`, { decision: b });
          if (JSON.stringify(a) !== JSON.stringify(b)) t.same(a, b, `incremental = fresh: ${label}`);
          // The whole Decision (reasons, policies, rule refs) must be the evaluator's.
          const e = evaluate(state, conn);
          if (JSON.stringify(a) !== JSON.stringify(e)) t.same(a, e, `compiled = evaluator: ${label}`);

          const srcAgent = agentOf(p.from, p.to);
          const dstAgent = agentOf(p.to, p.from);
          const egress = srcAgent.decide(conn).egress;
          const ingress = dstAgent.decide(conn).ingress;
          const local = egress.allowed && ingress.allowed;
          if (local !== p.expect) {
            t.fail(`node-local: ${label}: expected ${verdict(p.expect)}, got ${verdict(local)} (egress on ${srcAgent.localNode}: ${egress.reason}, ingress on ${dstAgent.localNode}: ${ingress.reason})`, { egress, ingress });
          }
          const eSrc = evaluate(state, conn, { localNode: srcAgent.localNode }).egress;
          const eDst = evaluate(state, conn, { localNode: dstAgent.localNode }).ingress;
          if (JSON.stringify(egress) !== JSON.stringify(eSrc)) t.same(egress, eSrc, `node-local egress on ${srcAgent.localNode} = evaluator: ${label}`);
          if (JSON.stringify(ingress) !== JSON.stringify(eDst)) t.same(ingress, eDst, `node-local ingress on ${dstAgent.localNode} = evaluator: ${label}`);
          const wEgress = decideOn(copyOf(srcAgent), conn).egress;
          const wIngress = decideOn(copyOf(dstAgent), conn).ingress;
          wasmChecked++;
          if (JSON.stringify(wEgress) !== JSON.stringify(egress)) t.same(wEgress, egress, `node-local egress on ${srcAgent.localNode}, wasm copy = snapshot: ${label}`);
          if (JSON.stringify(wIngress) !== JSON.stringify(ingress)) t.same(wIngress, ingress, `node-local ingress on ${dstAgent.localNode}, wasm copy = snapshot: ${label}`);
        }
      });
    });
    t.ok(checked > 0, `${checked} connect probes judged`);
    t.equal(wasmChecked, checked, 'every probe also judged by the agents\' WebAssembly copies');
  });
}
