// One connection, four commands: verify's table, explain's side lines, connlist --why (an
// allowed connection) and diff (a denied one: closed against the same cluster without policies)
// must word each side's decision the same, name the same deciding rule, and give the same
// verdict word. A user reading two commands side by side should never wonder whether "deny: no
// rule of ..." and "denied: isolated by ..." are the same fact.

import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../../src/sources/manifests.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { ruleLabel, type SideDecision } from '../../src/policy/decision.ts';
import { resolveEndpoint } from '../../src/cli/probes.ts';
import { runCli, tmpDir, verifyRows } from './run-cli.ts';
import { probeVerdictText, verdictText } from '../../src/cli/vocabulary.ts';
import type { LabVerdict } from '../../src/lab/probe.ts';
import { CLUSTER, clusterPolicyDir } from './cluster-policy-fixture.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The same cluster with every policy object left out: the "before" of a diff in which every denied connection closes. */
function withoutPolicies(file: string): string {
  const docs = readFileSync(file, 'utf8').split(/^---\s*$/m);
  const dir = tmpDir('palisade-vocab-');
  writeFileSync(join(dir, 'cluster.yaml'), docs.filter((d) => !/^kind:\s*"?\w*NetworkPolicy"?\s*$/m.test(d)).join('\n---\n'));
  return dir;
}

const demoDir = join(ROOT, 'examples', 'demo');
const cnpDir = clusterPolicyDir();
const cnpBare = tmpDir('palisade-vocab-');
writeFileSync(join(cnpBare, 'cluster.yaml'), CLUSTER);

const CLUSTERS = {
  demo: { dir: demoDir, bare: withoutPolicies(join(demoDir, 'cluster.yaml')) },
  cnp: { dir: cnpDir, bare: cnpBare },
} as const;

interface Row {
  readonly cluster: keyof typeof CLUSTERS;
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol?: 'TCP' | 'UDP';
  /** connlist's and diff's name for `from` when it is not a pod ("node"). */
  readonly listedFrom?: string;
}

// Every side reason: rules of both kinds allowing and denying, isolation without a rule, not
// isolated, own node, not a pod.
const ROWS: Row[] = [
  { cluster: 'demo', from: 'frontend/web', to: 'backend/api', port: 8080 },
  { cluster: 'demo', from: 'frontend/web', to: 'db/postgres', port: 5432 },
  { cluster: 'demo', from: 'frontend/web', to: 'kube-system/coredns', port: 53, protocol: 'UDP' },
  { cluster: 'demo', from: '10.0.0.1', to: 'db/postgres', port: 5432, listedFrom: 'node' },
  { cluster: 'cnp', from: 'app/batch', to: 'db/pg', port: 5432 },
  { cluster: 'cnp', from: 'app/web', to: 'db/pg', port: 5432 },
  { cluster: 'cnp', from: 'ops/mon', to: 'db/pg', port: 5432 },
  { cluster: 'cnp', from: 'app/web', to: 'ops/mon', port: 80 },
  { cluster: 'cnp', from: 'app/web', to: 'app/batch', port: 80 },
];

/** Does connlist's port text ("all", "TCP 53; UDP 53", "TCP 80,8080-8090") hold protocol/port? */
function portsHold(text: string, protocol: string, port: number): boolean {
  if (text === 'all') return true;
  return text.split('; ').some((seg) => {
    const [proto, list] = seg.split(' ');
    if (proto !== protocol) return false;
    if (list === 'all') return true;
    return list!.split(',').some((r) => {
      const [a, b] = r.split('-').map(Number);
      return port >= a! && port <= (b ?? a!);
    });
  });
}

/** The two side phrases of the why line for the port under `from => to` (connlist: "    PORTS: egress X; ingress Y"; diff: "    closed PORTS: ..."). */
function listedSides(out: string, head: RegExp, lead: string, protocol: string, port: number): [string, string] | undefined {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => head.test(l));
  if (at < 0) return undefined;
  for (const l of lines.slice(at + 1)) {
    if (!l.startsWith('    ')) break;
    const m = new RegExp(`^ {4}${lead}(.*?): egress (.*); ingress (.*)$`).exec(l);
    if (m && portsHold(m[1]!, protocol, port)) return [m[2]!, m[3]!];
  }
  return undefined;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

t.test('verify, explain, connlist --why and diff word each side of a connection alike', async (t) => {
  const verifyRuns = new Map<string, string[][]>();
  for (const name of Object.keys(CLUSTERS) as (keyof typeof CLUSTERS)[]) {
    const rows = ROWS.filter((r) => r.cluster === name);
    const probes = join(tmpDir('palisade-vocab-'), 'probes.json');
    writeFileSync(probes, JSON.stringify(rows.map((r) => ({ from: r.from, to: r.to, port: r.port, protocol: r.protocol ?? 'TCP' }))));
    const v = runCli(['verify', '--manifests', CLUSTERS[name].dir, '--probes', probes]);
    t.equal(v.code, 0, v.stderr);
    verifyRuns.set(name, verifyRows(v.stdout));
  }
  const connlists = new Map<string, string>();
  const diffs = new Map<string, string>();
  for (const [name, c] of Object.entries(CLUSTERS)) {
    connlists.set(name, runCli(['connlist', '--manifests', c.dir, '--why']).stdout);
    diffs.set(name, runCli(['diff', '--before', c.bare, '--after', c.dir]).stdout);
  }

  for (const row of ROWS) {
    const protocol = row.protocol ?? 'TCP';
    const label = `${row.cluster}: ${row.from} -> ${row.to} ${protocol}/${row.port}`;
    t.test(label, async (t) => {
      const state = loadManifests([CLUSTERS[row.cluster].dir]).state;
      const src = resolveEndpoint(state, row.from, 'IPv4', 'from');
      const dst = resolveEndpoint(state, row.to, 'IPv4', 'to');
      const d = evaluate(state, { src, dst, protocol, port: row.port });

      const cells = verifyRuns.get(row.cluster)![ROWS.filter((r) => r.cluster === row.cluster).indexOf(row)]!;
      const [verdict, vEgress, vIngress] = cells.slice(5, 8) as [string, string, string];

      const x = runCli(['explain', '--manifests', CLUSTERS[row.cluster].dir, '--from', row.from, '--to', row.to, '--port', String(row.port), '--protocol', protocol]);
      t.equal(x.code, 0, x.stderr);
      const xHead = /: (\S+)$/.exec(x.stdout.split('\n')[0]!)?.[1];
      t.equal(verdict, xHead, 'verify and explain give the verdict in the same word');
      t.equal(verdict, d.allowed ? 'allowed' : 'DENIED', 'the verdict is allowed or DENIED');

      const from = row.listedFrom ?? row.from;
      const head = new RegExp(`^[-~]? ?${esc(from)} => ${esc(row.to)} : `);
      const listed = d.allowed
        ? listedSides(connlists.get(row.cluster)!, head, '', protocol, row.port)
        : listedSides(diffs.get(row.cluster)!, head, 'closed ', protocol, row.port);
      t.ok(listed, `${d.allowed ? 'connlist --why' : 'diff'} lists the connection`);

      for (const [dir, side, vText, lText] of [['egress', d.egress, vEgress, listed?.[0]], ['ingress', d.ingress, vIngress, listed?.[1]]] as [string, SideDecision, string, string | undefined][]) {
        t.equal(lText, vText, `${dir}: ${d.allowed ? 'connlist --why' : 'diff'} words it as verify does`);
        const who = dir === 'egress' ? (d.srcPod ?? src) : (d.dstPod ?? dst);
        t.match(x.stdout, new RegExp(`^${esc(dir)} of ${esc(who)}: ${esc(vText)}( \\(|$)`, 'm'), `${dir}: explain words it as verify does`);
        t.match(vText, side.allowed ? /^allowed\b/ : /^denied\b/, `${dir}: the phrase starts with the side's outcome`);
        if (side.rule) t.match(vText, new RegExp(` by ${esc(ruleLabel(side.rule))}$`), `${dir}: names the deciding rule ${ruleLabel(side.rule)}`);
        // The walk through the tiers ends as the side does: a cluster rule's action as the API
        // writes it (Accept, Deny), else the NetworkPolicy tier's or the default's verdict.
        const walk = new RegExp(`^${esc(dir)} of ${esc(who)}: .*\n  tiers: (.*)$`, 'm').exec(x.stdout)?.[1];
        if (walk !== undefined) {
          const last = walk.split(' -> ').at(-1)!;
          const want = side.rule?.tier !== undefined ? (side.allowed ? 'Accept' : 'Deny') : side.allowed ? 'allowed' : 'denied';
          t.ok(last === want || last.endsWith(`: ${want}`), `${dir}: the tier walk ends in ${want}: ${walk}`);
        }
      }
    });
  }
});

t.test('lab probe words a policy verdict as verify does; refused and error are no verdict', async (t) => {
  const cases: [LabVerdict, string][] = [['allow', verdictText(true)], ['deny', verdictText(false)], ['refused', 'refused'], ['error', 'error']];
  for (const [v, want] of cases) t.equal(probeVerdictText(v), want, v);
});

t.test('connlist and matrix name the pods they leave out in the same words', async (t) => {
  const notes = new Map<string, string | undefined>();
  for (const args of [['connlist'], ['matrix', '--port', '80']]) {
    const r = runCli([...args, '--manifests', cnpDir]);
    notes.set(args[0]!, new RegExp(`^palisade ${args[0]}: note: (.*)$`, 'm').exec(r.stderr)?.[1]);
  }
  t.equal(notes.get('connlist'), notes.get('matrix'), 'one note for the host-network pod');
  t.match(notes.get('matrix'), /ops\/agent \(host network\)/);
});

t.test('verify -o json carries "allowed" as explain -o json and connlist -o json do (beside its older "verdict")', async (t) => {
  for (const [name, c] of Object.entries(CLUSTERS)) {
    const rows = ROWS.filter((r) => r.cluster === name);
    const probes = join(tmpDir('palisade-vocab-'), 'probes.json');
    writeFileSync(probes, JSON.stringify(rows.map((r) => ({ from: r.from, to: r.to, port: r.port, protocol: r.protocol ?? 'TCP' }))));
    const out = JSON.parse(runCli(['verify', '--manifests', c.dir, '--probes', probes, '-o', 'json']).stdout) as { allowed?: boolean; verdict: string }[];
    rows.forEach((r, i) => {
      const x = JSON.parse(runCli(['explain', '--manifests', c.dir, '--from', r.from, '--to', r.to, '--port', String(r.port), '--protocol', r.protocol ?? 'TCP', '-o', 'json']).stdout) as { decision: { allowed: boolean } };
      t.equal(out[i]!.allowed, x.decision.allowed, `${name}: ${r.from} -> ${r.to}: allowed as explain says`);
      t.equal(out[i]!.verdict, x.decision.allowed ? 'allow' : 'deny', 'verdict kept');
    });
  }
});

t.test('a Markdown table names its columns as the same command\'s JSON names the fields', async (t) => {
  const header = (md: string) => md.split('\n')[0]!.split('|').map((c) => c.trim()).filter((c) => c !== '');
  const c = CLUSTERS.cnp;
  const cases: [string, string[], string[], string[]][] = [
    // [what, the command, the JSON fields the columns stand for, those only some entries have
    // (an edge's split: its address cases, when an ipBlock tells its pods apart)]
    ['connlist', ['connlist', '--manifests', c.dir], ['from', 'to', 'ports', 'split'], ['split']],
    ['diff', ['diff', '--before', c.bare, '--after', c.dir], ['kind', 'from', 'to', 'before', 'after'], []],
  ];
  for (const [what, args, fields, optional] of cases) {
    const json = JSON.parse(runCli([...args, '-o', 'json']).stdout) as Record<string, unknown> | Record<string, unknown>[];
    const first = Array.isArray(json) ? json[0]! : (json.edges as Record<string, unknown>[])[0]!;
    for (const f of fields) if (!optional.includes(f)) t.ok(f in first, `${what} -o json has ${f}`);
    const cols = header(runCli([...args, '-o', 'md']).stdout);
    // diff's first column is the change ("kind" in JSON), its last the text's why lines.
    const named = what === 'diff' ? cols.slice(1, 5) : cols;
    t.same(named, what === 'diff' ? fields.slice(1) : fields, `${what} -o md columns: ${cols.join(', ')}`);
  }
});
