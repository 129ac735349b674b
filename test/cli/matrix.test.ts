// `palisade matrix` prints exactly each conformance case's expected matrix (every step, every
// probe group: protocol, port and family).

import t from 'tap';
import { caseManifestDir, expectedExit, hasStackTrace, runCli } from './run-cli.ts';
import { allCases } from '../conformance/case-set.ts';
import { POLICIES, clusterPolicyDir } from './cluster-policy-fixture.ts';

function parseTable(text: string): { cols: string[]; cells: Map<string, string> } {
  const lines = text.trim().split('\n').map((l) => l.split('\t').map((f) => f.trim()));
  const cols = lines[0]!.slice(1);
  const cells = new Map<string, string>();
  for (const row of lines.slice(1)) row.slice(1).forEach((m, j) => cells.set(`${row[0]} -> ${cols[j]}`, m));
  return { cols, cells };
}

for (const c of allCases()) {
  t.test(c.file.split('/').pop()!, async (t) => {
    for (const [si, step] of c.steps.entries()) {
      const groups = step.probes.filter((g) => g.cells.length > 0);
      if (groups.length === 0) continue;
      const dir = caseManifestDir(c, si);
      for (const [gi, g] of groups.entries()) {
        const r = runCli(['matrix', '--manifests', dir, '--port', String(g.port), '--protocol', g.protocol, '--family', g.family]);
        t.equal(r.code, expectedExit(c, si), `step ${si} group ${gi}: exit status (${r.stderr})`);
        t.notOk(hasStackTrace(r.stderr));
        const { cols, cells } = parseTable(r.stdout);
        t.same(cols, [...g.order].sort(), 'columns: every pod, sorted by namespace/name');
        const diffs = g.cells.filter((cell) => cells.get(`${cell.from} -> ${cell.to}`) !== (cell.allow ? '.' : 'X'));
        t.same(diffs.map((d) => `${d.from} -> ${d.to}`), [], `step ${si} ${g.protocol}/${g.port} ${g.family}: matrix equals the expected one`);
        if (g.order.join() === cols.join() && g.matrixText) {
          const printed = r.stdout.trim().split('\n').slice(1).map((l) => l.split('\t').slice(1).map((f) => f.trim()).join(' '));
          const want = g.matrixText.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
          t.same(printed, want, 'row text identical to the case file');
        }
      }
    }
  });
}

// Cluster policies: the verdicts of every tier, and --why naming the tier that denied a cell.
t.test('cluster policies: verdicts and --why', async (t) => {
  const dir = clusterPolicyDir();
  const r = runCli(['matrix', '--manifests', dir, '--port', '5432']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /left out: ops\/agent \(host network\)/);
  const { cols, cells } = parseTable(r.stdout);
  t.same(cols, ['app/batch', 'app/web', 'db/pg', 'ops/mon']);
  t.equal(cells.get('app/web -> db/pg'), '.', 'Admin Pass on both sides, NetworkPolicies allow');
  t.equal(cells.get('app/batch -> db/pg'), 'X', 'Baseline denies the egress (and Admin the ingress)');
  t.equal(cells.get('ops/mon -> db/pg'), 'X', 'Admin accepts the ingress, Baseline denies the egress');
  t.equal(cells.get('db/pg -> db/pg'), '.', 'self');
  const why = parseTable(runCli(['matrix', '--manifests', dir, '--port', '5432', '--why']).stdout).cells;
  t.equal(why.get('app/web -> db/pg'), '.');
  t.equal(why.get('app/batch -> db/pg'), 'B', 'the source egress denied first: a Baseline rule');
  t.equal(why.get('app/web -> app/batch'), 'N', 'app/web is isolated for egress by a NetworkPolicy');
  const admin = parseTable(runCli(['matrix', '--manifests', clusterPolicyDir(POLICIES.replace(/- \{name: nodes-ok[^\n]*\n  - \{action: Deny[^\n]*\n/, '- {action: Accept, to: [{namespaces: {}}]}\n')), '--port', '5432', '--why']).stdout).cells;
  t.equal(admin.get('app/batch -> db/pg'), 'A', 'with the Baseline egress open, the Admin ingress Deny is named');
  t.equal(admin.get('ops/mon -> db/pg'), '.', 'Admin Accept for ops');
});
