// Every shared conformance case through the compiled engine, three ways per step:
// - one engine compiled before step 0 and kept current through ClusterState.onChange (the
//   incremental path),
// - a fresh engine compiled from the state after the step (the full path);
// - a node-local engine ({ localNode }) kept current incrementally, as the agent runs it.
// Each answer is also compared in full with the plain evaluator's.
// 'connect' probes are new connections and are judged here; 'reply' probes are about conntrack
// state and belong to the dataplane tests.

import t from 'tap';
import { CASE_NODE_NAME, applyStep, buildClusterForCase, probeLabel, probesForGroup } from '../support/conformance-cases.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { allCases } from './case-set.ts';

const cases = allCases();
t.ok(cases.length > 0, 'conformance cases found');

for (const c of cases) {
  t.test(c.file.split('/').pop()!, async (t) => {
    const state = buildClusterForCase(c);
    const incremental = new CompiledEngine(state);
    // What an agent runs: only its node's pods judged (every case pod is on CASE_NODE_NAME).
    const agent = new CompiledEngine(state, { localNode: CASE_NODE_NAME });
    state.onChange((changes) => {
      incremental.update(changes);
      agent.update(changes);
    });
    let checked = 0;
    c.steps.forEach((step, si) => {
      const errors = applyStep(state, step, `step ${si}`);
      t.same(errors, [], `step ${si} applies cleanly`);
      const fresh = new CompiledEngine(state);
      step.probes.forEach((group, gi) => {
        for (const p of probesForGroup(c, group)) {
          if (p.kind !== 'connect') continue;
          const conn = { src: p.src, dst: p.dst, protocol: p.protocol, port: p.port };
          const a = incremental.decide(conn);
          const b = fresh.decide(conn);
          checked++;
          if (a.allowed !== p.expect) t.fail(`incremental: ${probeLabel(c, si, gi, p)}: got ${a.allowed ? 'allow' : 'deny'}`, { decision: a });
          if (b.allowed !== p.expect) t.fail(`fresh: ${probeLabel(c, si, gi, p)}: got ${b.allowed ? 'allow' : 'deny'}`, { decision: b });
          const g = agent.decide(conn);
          if (g.allowed !== p.expect) t.fail(`node-local: ${probeLabel(c, si, gi, p)}: got ${g.allowed ? 'allow' : 'deny'}`, { decision: g });
          if (JSON.stringify(a) !== JSON.stringify(b)) t.same(a, b, `incremental = fresh: ${probeLabel(c, si, gi, p)}`);
          // The whole Decision (reasons, policies, rule refs) must be the evaluator's.
          const e = evaluate(state, conn);
          if (JSON.stringify(a) !== JSON.stringify(e)) t.same(a, e, `compiled = evaluator: ${probeLabel(c, si, gi, p)}`);
        }
      });
    });
    t.ok(checked > 0, `${checked} connect probes judged`);
  });
}
