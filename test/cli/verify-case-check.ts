// `palisade verify` on conformance cases (the cluster after each step, written out as a
// manifests folder: namespaces, nodes, pods, policies): one probe per matrix cell and per connect
// pair, JSON output compared with the case's expectations and with the in-process evaluator's
// full decision. Shared by verify.test.ts (NetworkPolicy cases) and verify-cnp.test.ts (cluster
// policy cases): each file spawns the CLI a few hundred times, and one file for both sets came
// close to tap's per-file timeout on a loaded machine.

import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConformanceCase } from '../support/conformance-cases.ts';
import { applyStep, buildClusterForCase, probesForGroup } from '../support/conformance-cases.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { caseManifestDir, expectedExit, hasStackTrace, runCli } from './run-cli.ts';

export function verifyEveryCase(t: Test, cases: ConformanceCase[]): void {
  for (const c of cases) t.test(c.file.split('/').pop()!, async (t) => {
    const state = buildClusterForCase(c);
    for (const [si, step] of c.steps.entries()) {
      applyStep(state, step);
      const dir = caseManifestDir(c, si);
      const probes: Record<string, unknown>[] = [];
      const expected: { expect: boolean; src: string; dst: string; port: number; protocol: string; label: string }[] = [];
      for (const [gi, g] of step.probes.entries()) {
        for (const p of probesForGroup(c, g)) {
          if (p.kind === 'reply') continue; // established-flow behaviour: the dataplane's tests
          // Pods (host-network ones too) by name; nodes and outside hosts by address (the CLI
          // works them out).
          const from = p.from.includes('/') ? p.from : p.src;
          const to = p.to.includes('/') ? p.to : p.dst;
          probes.push({ from, to, port: p.port, protocol: p.protocol, family: p.family });
          expected.push({ expect: p.expect, src: p.src, dst: p.dst, port: p.port, protocol: p.protocol, label: `step ${si} probes[${gi}] ${p.protocol}/${p.port} ${p.family} ${p.from} -> ${p.to}` });
        }
      }
      // A step that only sets up (upstream's manifests step) has nothing to ask; verify refuses
      // an empty probe list, and the next step's run loads the same objects.
      if (probes.length === 0) continue;
      const probeFile = join(dir, 'probes.json');
      writeFileSync(probeFile, JSON.stringify(probes));
      const r = runCli(['verify', '--manifests', dir + '/cluster.yaml', '--probes', probeFile, '-o', 'json']);
      t.equal(r.code, expectedExit(c, si), `step ${si}: exit status (stderr: ${r.stderr})`);
      t.notOk(hasStackTrace(r.stderr), 'no stack trace');
      const out = JSON.parse(r.stdout) as Record<string, unknown>[];
      t.equal(out.length, probes.length, `step ${si}: one result per probe, in order`);
      let bad = 0;
      out.forEach((res, i) => {
        const e = expected[i]!;
        const verdict = e.expect ? 'allow' : 'deny';
        if (res.verdict !== verdict) {
          bad++;
          t.fail(`${e.label}: expected ${verdict}, got ${String(res.verdict)}`);
        }
        const d = evaluate(state, { src: e.src, dst: e.dst, port: e.port, protocol: e.protocol as 'TCP' });
        const want = {
          ...probes[i], src: e.src, ...(d.srcPod !== undefined ? { srcPod: d.srcPod } : {}), dst: e.dst, ...(d.dstPod !== undefined ? { dstPod: d.dstPod } : {}),
          verdict: d.allowed ? 'allow' : 'deny',
          allowed: d.allowed,
          egress: JSON.parse(JSON.stringify({ isolated: d.egress.isolated, allowed: d.egress.allowed, reason: d.egress.reason, policies: d.egress.policies, rule: d.egress.rule })),
          ingress: JSON.parse(JSON.stringify({ isolated: d.ingress.isolated, allowed: d.ingress.allowed, reason: d.ingress.reason, policies: d.ingress.policies, rule: d.ingress.rule })),
        };
        if (JSON.stringify(res) !== JSON.stringify(want)) {
          bad++;
          t.same(res, want, `${e.label}: full JSON result`);
        }
      });
      t.equal(bad, 0, `step ${si}: ${out.length} probes match`);
    }
  });
}

