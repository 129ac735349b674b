// `palisade verify` on every NetworkPolicy conformance case (verify-case-check.ts; the cluster
// policy cases are in verify-cnp.test.ts), then its table output, expect checking and cluster
// policy rule names.

import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate } from '../../src/policy/evaluator.ts';
import { sampleCase } from '../conformance/sample-cases.ts';
import { caseManifestDir, runCli, tmpDir, verifyRows } from './run-cli.ts';
import { verifyEveryCase } from './verify-case-check.ts';
import { probeLines } from '../../src/cli/commands/verify.ts';
import { allCases } from '../conformance/case-set.ts';
import { clusterPolicyDir } from './cluster-policy-fixture.ts';
import { loadManifests } from '../../src/sources/manifests.ts';

verifyEveryCase(t, allCases());

t.test('table output and expect checking', async (t) => {
  const c = sampleCase('001-');
  if (!c) { t.comment('sample case 001 not available'); return; }
  const dir = caseManifestDir(c, 0);
  const probeFile = join(dir, 'probes.yaml');
  writeFileSync(probeFile, [
    '- {from: y/a, to: x/a, port: 80, expect: deny}',
    '- {from: x/a, to: y/a, port: 80, protocol: UDP}',
    '- {from: 10.0.0.1, to: x/b, port: 80, expect: allow}',
    '',
  ].join('\n'));
  const r = runCli(['verify', '--manifests', join(dir, 'cluster.yaml'), '--probes', probeFile]);
  t.equal(r.code, 0, r.stderr);
  // Wider than 120 columns as a table: a block per probe in a pipe.
  const lines = r.stdout.trim().split('\n');
  t.equal(lines.length, 3 * 4 - 1, '3 blocks of 3 lines, a blank line between them');
  t.same(lines.slice(0, 3), [
    '#0  y/a (10.244.2.1) -> x/a (10.244.1.1)  TCP/80  IPv4  DENIED  (expect deny ok)',
    '    egress:  allowed: not isolated',
    '    ingress: denied: isolated by x/deny-ingress, no rule allows',
  ]);
  t.match(lines.slice(8).join('\n'), /^#2  10\.0\.0\.1 -> x\/b \(10\.244\.1\.2\)  TCP\/80  IPv4  allowed  \(expect allow ok\)\n    egress:  allowed: not a pod \(no policy applies\)\n    ingress: allowed: own node \(NetworkPolicy always allows it\)$/);
  // In a terminal wide enough for it, the table (probeLines takes the terminal's width).
  const row = ['0', 'y/a (10.244.2.1)', 'x/a (10.244.1.1)', 'TCP/80', 'IPv4', 'DENIED', 'allowed: not isolated', 'denied: isolated by x/deny-ingress, no rule allows', ''] as const;
  const table = probeLines([row], 200);
  t.equal(table.length, 2, 'header + 1 row');
  t.match(table[1]!, /^0  y\/a \(10\.244\.2\.1\)\s+x\/a \(10\.244\.1\.1\)\s+TCP\/80\s+IPv4\s+DENIED\s+allowed: not isolated\s+denied: isolated by x\/deny-ingress, no rule allows$/);
  t.same(probeLines([row], 120), ['#0  y/a (10.244.2.1) -> x/a (10.244.1.1)  TCP/80  IPv4  DENIED', '    egress:  allowed: not isolated', '    ingress: denied: isolated by x/deny-ingress, no rule allows'], 'the same row in 120 columns: its block');
  // An expect: an EXPECT column after VERDICT (lab probe's words), or the block's "(expect ...)".
  const expecting = [row, ['1', 'x/a (10.244.1.1)', 'y/a (10.244.2.1)', 'UDP/80', 'IPv4', 'allowed', 'allowed: not isolated', 'allowed: not isolated', 'deny MISMATCH']] as const;
  const withExpect = probeLines(expecting, 300);
  t.match(withExpect[0]!, /^#\s+FROM\s+TO\s+PORT\s+FAMILY\s+VERDICT\s+EXPECT\s+EGRESS/);
  t.match(withExpect[2]!, /\sallowed\s+deny MISMATCH\s+allowed: not isolated/);
  t.equal(probeLines(expecting, 80)[4], '#1  x/a (10.244.1.1) -> y/a (10.244.2.1)  UDP/80  IPv4  allowed  (expect deny MISMATCH)');

  writeFileSync(probeFile, '- {from: y/a, to: x/a, port: 80, expect: allow}\n');
  const miss = runCli(['verify', '--manifests', join(dir, 'cluster.yaml'), '--probes', probeFile, '-o', 'json']);
  t.equal(miss.code, 1, 'an unmet expect exits 1');
  t.match(miss.stderr, /probe\[0\] y\/a -> x\/a TCP\/80: expected allow, got deny/);
  t.equal(JSON.parse(miss.stdout).length, 1, 'results are still printed');
});

t.test('a table wider than 120 columns becomes a block per probe', async (t) => {
  // The README's own example was 220 columns wide: two reasons a row wrapped in any terminal.
  const r = runCli(['verify', '--manifests', 'examples/demo', '--probes', 'examples/demo-probes.yaml']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.ok(lines.every((l) => l.length <= 120), 'every line fits in 120 columns');
  const probes = readFileSync('examples/demo-probes.yaml', 'utf8').split('\n').filter((l) => l.startsWith('- '));
  const heads = lines.filter((l) => l.startsWith('#'));
  t.equal(heads.length, probes.length, 'one block per probe');
  t.match(heads[1]!, /^#1  frontend\/web \(10\.244\.1\.10\) -> db\/postgres \(10\.244\.3\.10\)  TCP\/5432  IPv4  DENIED  \(expect deny ok\)$/);
  const i = lines.indexOf(heads[1]!);
  t.match(lines[i + 1]!, /^    egress:  denied: isolated by frontend\/allow-dns, /);
  t.match(lines[i + 2]!, /^    ingress: denied: isolated by db\/default-deny, db\/postgres-from-api, no rule allows$/);
  t.equal(lines[i + 3], '', 'a blank line between blocks');
});

// Cluster policies: both engines judge the tiers (a disagreement would exit 3), a cluster rule
// keeps its tier, action and name, and a Deny reads as one.
t.test('cluster policies: verdicts, rules named with their tier, both engines agree', async (t) => {
  const dir = clusterPolicyDir();
  const probeFile = join(dir, 'probes.yaml');
  writeFileSync(probeFile, [
    '- {from: app/batch, to: db/pg, port: 5432, expect: deny}',
    '- {from: app/web, to: db/pg, port: 5432, expect: allow}',
    '- {from: ops/mon, to: db/pg, port: 5432, expect: deny}',
    '- {from: app/batch, to: 172.18.0.4, port: 22, expect: allow}',
    '- {from: app/batch, to: ops/agent, port: 22, expect: deny}',
    '- {from: app/web, to: 172.18.0.3, port: 22, expect: allow}',
    '',
  ].join('\n'));
  const r = runCli(['verify', '--manifests', join(dir, 'cluster.yaml'), '--probes', probeFile]);
  t.equal(r.code, 0, r.stderr);
  // [#, from, to, port, family, verdict, egress, ingress, expect], whichever layout fits.
  const rows = verifyRows(r.stdout);
  t.equal(rows.length, 6, '6 probes');
  t.same(rows[0]!.slice(1, 8), ['app/batch (10.244.1.11)', 'db/pg (10.244.2.10)', 'TCP/5432', 'IPv4', 'DENIED', 'denied by baseline/default/egress[1]', 'denied by admin/deny-db/block-db']);
  t.same(rows[1]!.slice(5, 8), ['allowed', 'allowed by app/web-egress egress[0]', 'allowed by db/pg-from-web ingress[0]']);
  t.same(rows[2]!.slice(5, 8), ['DENIED', 'denied by baseline/default/egress[1]', 'allowed by admin/deny-db/allow-monitoring']);
  t.same(rows[3]!.slice(5, 8), ['allowed', 'allowed by baseline/default/nodes-ok', 'allowed: not a pod (no policy applies)']);
  t.same(rows[4]!.slice(2, 7), ['ops/agent (172.18.0.3)', 'TCP/22', 'IPv4', 'DENIED', 'denied by baseline/default/egress[1]']);
  t.same(rows[5]!.slice(5, 8), ['allowed', 'allowed: own node (NetworkPolicy always allows it)', 'allowed: not a pod (no policy applies)']);

  const json = runCli(['verify', '--manifests', join(dir, 'cluster.yaml'), '--probes', probeFile, '-o', 'json']);
  t.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout);
  t.same(out[0].ingress, { isolated: true, allowed: false, reason: 'rule', policies: ['db/pg-from-web'], rule: { policy: 'deny-db', direction: 'ingress', index: 2, tier: 'admin', action: 'Deny', name: 'block-db' } });
  t.same(out[0].egress.rule, { policy: 'default', direction: 'egress', index: 1, tier: 'baseline', action: 'Deny' });
  // The same JSON as the in-process evaluator's decision, rule for rule.
  const { state } = loadManifests([join(dir, 'cluster.yaml')]);
  const d = evaluate(state, { src: '10.244.1.11', dst: '10.244.2.10', protocol: 'TCP', port: 5432 });
  t.same(out[0].ingress.rule, d.ingress.rule);
  t.same(out[0].egress.rule, d.egress.rule);
});

// The table shows each endpoint's address (and the pod an address belongs to); the JSON carries
// the same: src/dst are the addresses judged, srcPod/dstPod the pods holding them (absent for a
// node or an outside host). Each row's FROM and TO cells are rebuilt from the JSON too.
t.test('-o json: the resolved addresses and pods the table shows', async (t) => {
  const cases: { probe: string; src: string; srcPod?: string; dst: string; dstPod?: string }[] = [
    { probe: '{from: frontend/web, to: backend/api, port: 8080}', src: '10.244.1.10', srcPod: 'frontend/web', dst: '10.244.2.10', dstPod: 'backend/api' },
    { probe: '{from: 10.244.1.10, to: db/postgres, port: 5432}', src: '10.244.1.10', srcPod: 'frontend/web', dst: '10.244.3.10', dstPod: 'db/postgres' },
    { probe: '{from: 10.0.0.1, to: db/postgres, port: 5432}', src: '10.0.0.1', dst: '10.244.3.10', dstPod: 'db/postgres' },
    { probe: '{from: frontend/web, to: db/postgres, port: 5432, family: IPv6}', src: 'fd00:10:244:1::10', srcPod: 'frontend/web', dst: 'fd00:10:244:3::10', dstPod: 'db/postgres' },
    { probe: '{from: frontend/web, to: 203.0.113.7, port: 443}', src: '10.244.1.10', srcPod: 'frontend/web', dst: '203.0.113.7' },
  ];
  const dir = tmpDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const probeFile = join(dir, 'probes.yaml');
  writeFileSync(probeFile, cases.map((c) => `- ${c.probe}\n`).join(''));
  const manifests = 'examples/demo'; // runCli runs in the repository's root
  const json = runCli(['verify', '--manifests', manifests, '--probes', probeFile, '-o', 'json']);
  t.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as Record<string, unknown>[];
  const table = runCli(['verify', '--manifests', manifests, '--probes', probeFile]);
  t.equal(table.code, 0, table.stderr);
  const rows = verifyRows(table.stdout);
  cases.forEach((c, i) => {
    const r = out[i]!;
    t.same({ src: r.src, srcPod: r.srcPod, dst: r.dst, dstPod: r.dstPod }, { src: c.src, srcPod: c.srcPod, dst: c.dst, dstPod: c.dstPod }, c.probe);
    t.notOk('srcPod' in r && r.srcPod === undefined, 'no empty pod field');
    const cell = (named: unknown, ip: unknown, pod: unknown) => (named !== ip ? `${named} (${ip})` : pod ? `${ip} (${pod})` : `${ip}`);
    const [, from, to] = rows[i]!;
    t.equal(from, cell(r.from, r.src, r.srcPod), `${c.probe}: FROM as the table shows it`);
    t.equal(to, cell(r.to, r.dst, r.dstPod), `${c.probe}: TO as the table shows it`);
  });
});
