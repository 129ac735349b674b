// Every conformance case (NetworkPolicy and ClusterNetworkPolicy sets, case-set.ts), every
// step, every probe through the plain evaluator, in the family the probe names. A probe's
// expectation is the whole connection: the source's egress AND the destination's ingress.
// 'reply' pairs are about established-flow state (the replies of an allowed connection), which
// only a dataplane with connection tracking can show; the evaluator judges new connections, so
// those pairs are left to the dataplane tests and counted here as skipped.

import t from 'tap';
import { applyStep, buildClusterForCase, probeLabel, probesForGroup } from '../support/conformance-cases.ts';
import { formatObjectError } from '../../src/cluster/model.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { everyCase } from './case-set.ts';

const cases = everyCase();

t.ok(cases.length > 0, 'found conformance cases');

for (const c of cases) {
  t.test(c.file.split('/').pop()!, async (t) => {
    const state = buildClusterForCase(c);
    let checked = 0, skipped = 0, failed = 0;
    for (const [si, step] of c.steps.entries()) {
      // A case may apply an object the API server would refuse (then the cluster keeps going
      // without it, and the probes say what that means); name such errors in the output.
      const errors = applyStep(state, step, `${c.file}:steps[${si}]`);
      for (const e of errors) t.comment(`step ${si}: rejected: ${formatObjectError(e)}`);
      for (const [gi, group] of step.probes.entries()) {
        for (const p of probesForGroup(c, group)) {
          if (p.kind === 'reply') { skipped++; continue; }
          const d = evaluate(state, { src: p.src, dst: p.dst, protocol: p.protocol, port: p.port });
          checked++;
          if (d.allowed !== p.expect) {
            failed++;
            t.fail(`${probeLabel(c, si, gi, p)}: expected ${p.expect ? 'allow' : 'deny'}, got ${d.allowed ? 'allow' : 'deny'} ` +
              `(egress ${d.egress.reason}, ingress ${d.ingress.reason})`);
          }
        }
      }
    }
    t.ok(checked > 0, `${checked} probes checked, ${failed} failed, ${skipped} reply pairs left to the dataplane`);
  });
}
