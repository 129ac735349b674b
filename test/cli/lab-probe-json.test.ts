// `lab probe -o json` rows carry `allowed` as verify's do, with the same meaning: whether policy
// let the connection through. A refused probe was let through (nobody serves the port), so it is
// allowed; an error is no verdict, so `allowed` is null. Only the rows are built here, from
// results written by hand: no namespace is touched.

import t from 'tap';
import { probeRows } from '../../src/cli/commands/lab.ts';
import type { LabProbeResult, LabVerdict } from '../../src/lab/probe.ts';

const result = (verdict: LabVerdict): LabProbeResult => ({
  from: 'frontend/web', to: 'backend/api', port: 8080, protocol: 'TCP', family: 'IPv4', kind: 'connect',
  src: '10.244.1.10', dst: '10.244.2.10', verdict, detail: 'answered', ms: 3,
});

t.test('lab probe -o json: allowed as verify gives it, beside verdict and expect', async (t) => {
  // [verdict, allowed, met by expect: allow, met by expect: deny]
  const cases: [LabVerdict, boolean | null, boolean, boolean][] = [
    ['allow', true, true, false],
    ['deny', false, false, true],
    ['refused', true, true, false],
    ['error', null, false, false],
  ];
  for (const [verdict, allowed, metAllow, metDeny] of cases) {
    const [plain, wantAllow, wantDeny] = probeRows([result(verdict), result(verdict), result(verdict)], [undefined, 'allow', 'deny']);
    const json = JSON.parse(JSON.stringify([plain, wantAllow, wantDeny])) as Record<string, unknown>[];
    for (const row of json) {
      t.ok('allowed' in row, `${verdict}: every row has allowed`);
      t.equal(row.allowed, allowed, `${verdict}: allowed is ${allowed}`);
      t.equal(row.verdict, verdict, `${verdict}: verdict kept`);
    }
    t.notOk('expect' in json[0]! || 'met' in json[0]!, `${verdict}: no expect, no met`);
    t.same([json[1]!.expect, json[1]!.met], ['allow', metAllow], `${verdict} against expect: allow`);
    t.same([json[2]!.expect, json[2]!.met], ['deny', metDeny], `${verdict} against expect: deny`);
  }
});
