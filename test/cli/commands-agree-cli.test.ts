// The analysis commands through the real CLI (bin/palisade.js) on random clusters written out as
// manifest folders: for sampled connections between pods (and with outside addresses), the plain
// evaluator's verdict on the folder as the CLI reads it must be `verify -o json`'s, `explain`'s
// verdict line, the `matrix --why` cell and `connlist`'s (-o json: the pair listed with the port
// in the two pods' address case; -o csv: the row's ports, or its split column's case); `diff` of
// the folder with itself changes nothing, and `diff -o json` of the folder and a changed copy
// opens or closes exactly the sampled connections whose verdict changed; connlist -o md says
// what -o csv says. test/analysis/commands-agree.test.ts does the same through the library on
// many more clusters. PALISADE_SEED=<n> reproduces a run.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Family, Protocol } from '../../src/cluster/model.ts';
import { ConnectivityAnalysis, type Connectivity } from '../../src/analysis/connectivity.ts';
import { diffConnectivity, type ConnectionChange } from '../../src/analysis/diff.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { loadManifests } from '../../src/sources/manifests.ts';
import { matrixPods } from '../../src/cli/commands/matrix.ts';
import { Rng, randomCluster, randomMutation, stateOf, withReplicas } from '../../support/random-cluster.ts';
import { connlistAllows, csvRowAllows, csvRows, deniedTier, endpointIdOf, inPorts, outsideAddresses, sampleConnections, twinState, writeManifests } from '../support/command-answers.ts';
import { runCliAsync, tmpDir } from './run-cli.ts';

const CLUSTERS = Number(process.env.PALISADE_CLUSTERS ?? 2);
const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`commands-agree-cli seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

const FAMILIES: readonly Family[] = ['IPv4', 'IPv6'];

t.test('verify, explain, matrix, connlist and diff through bin/palisade.js agree with the evaluator', async (t) => {
  let checked = 0, matrixCells = 0, drawn = 0, splitRows = 0;
  const bad: string[] = [];
  // Clusters with fewer than 3 pods of the family in the matrix are drawn again (a bound keeps it finite).
  for (; checked < CLUSTERS && drawn < CLUSTERS * 10; drawn++) {
    const r = new Rng((seed + drawn * 7919) >>> 0);
    const cluster = randomCluster(r);
    const built = stateOf(cluster);
    withReplicas(r, built);
    const family = FAMILIES[checked % 2]!;
    const dir = tmpDir('palisade-agree-');
    writeManifests(built, dir);
    // The oracle judges the folder as the CLI reads it (domainNames peers have learned nothing there).
    // The generator draws some objects the API server would refuse (an except equal to its cidr):
    // the commands leave them out, say so and exit 1, as this load does.
    const { state, badDocuments } = loadManifests([dir]);
    const exit = badDocuments > 0 ? 1 : 0;
    const { pods } = matrixPods(state, family);
    if (pods.length < 3) continue;
    // The first cluster has an edge split by address (an ipBlock telling replicas apart), where
    // the output formats have the most to say; random clusters have one about every other draw.
    if (checked === 0 && drawn < 40 && !new ConnectivityAnalysis(state, { family }).result.edges.some((e) => e.split)) continue;
    checked++;
    const samples = sampleConnections(r, pods, outsideAddresses(state, cluster.outside, family), 40);
    const probes = samples.map((s) => ({ from: s.src ?? s.conn.src, to: s.dst ?? s.conn.dst, port: s.conn.port, protocol: s.conn.protocol, family }));
    // Beside the folder, not in it: the commands would read it as a manifest.
    const probeFile = join(tmpDir('palisade-agree-probes-'), 'probes.json');
    writeFileSync(probeFile, JSON.stringify(probes));
    const m = samples.find((s) => s.src !== undefined && s.dst !== undefined)!.conn;
    // A changed copy of the folder for diff: a few random changes, written out the same way.
    const changedDir = tmpDir('palisade-agree-after-');
    const changed = twinState(built);
    const made = Array.from({ length: r.range(1, 3) }, () => randomMutation(r, changed, cluster.outside));
    writeManifests(changed, changedDir);
    const after = loadManifests([changedDir]);
    const explained = samples.slice(0, 2);
    const fam = ['--family', family];
    const [verify, matrix, json, text, csv, md, diff, changes, ...explains] = await Promise.all([
      runCliAsync(['verify', '--manifests', dir, '--probes', probeFile, '-o', 'json']),
      runCliAsync(['matrix', '--manifests', dir, '--port', String(m.port), '--protocol', m.protocol, ...fam, '--why', '--full-names']),
      runCliAsync(['connlist', '--manifests', dir, ...fam, '-o', 'json']),
      runCliAsync(['connlist', '--manifests', dir, ...fam]),
      runCliAsync(['connlist', '--manifests', dir, ...fam, '-o', 'csv']),
      runCliAsync(['connlist', '--manifests', dir, ...fam, '-o', 'md']),
      runCliAsync(['diff', '--before', dir, '--after', dir, ...fam]),
      runCliAsync(['diff', '--before', dir, '--after', changedDir, ...fam, '-o', 'json']),
      ...explained.map((s, i) => runCliAsync(['explain', '--manifests', dir, '--from', probes[i]!.from, '--to', probes[i]!.to, '--port', String(s.conn.port), '--protocol', s.conn.protocol, ...fam])),
    ]);
    const where = `cluster ${drawn} (${family}, ${dir})`;
    for (const [name, res] of [['verify', verify], ['matrix', matrix], ['connlist -o json', json], ['connlist', text], ['connlist -o csv', csv], ['connlist -o md', md], ['diff', diff], ...explains.map((e) => ['explain', e] as const)] as const) {
      // 1 is owed for invalid manifests only (diff's 1 for a change is checked below by its words).
      if (res!.code !== exit) bad.push(`${where}: ${name} exited ${res!.code}: ${res!.stderr.trim().split('\n').slice(-2).join(' / ')}`);
    }
    if (diff!.stdout !== 'no connection changed\n') bad.push(`${where}: diff of the folder with itself: ${diff!.stdout.split('\n')[0]}`);

    const verdicts = verify!.code === exit ? (JSON.parse(verify!.stdout) as { allowed: boolean }[]) : [];
    const model = JSON.parse(json!.stdout || '{"endpoints":[],"edges":[]}') as Connectivity;
    const rows = csvRows(csv!.stdout);
    if (rows[0]?.join(',') !== 'src,dst,conn,split') bad.push(`${where}: connlist -o csv header ${rows[0]?.join(',')}`);
    // The text says what the CSV says: each pair's line, and under a split one each case (its
    // continuation lines joined). test/cli/connlist-command.test.ts has a split edge in each.
    const said: string[][] = [];
    for (const l of text!.stdout.split('\n')) {
      if (l.startsWith('groups (')) break;
      const pair = /^(\S.*) => (.*) : (.*?)( \(not for every pod: by address below\))?$/.exec(l);
      if (pair) said.push([pair[1]!, pair[2]!, pair[3]!, '']);
      else if (/^ {4}\S/.test(l) && said.length) said.at(-1)![3] += `${said.at(-1)![3] ? ' | ' : ''}${l.trim()}`;
      else if (/^ {6}\S/.test(l) && said.length) said.at(-1)![3] += ` ${l.trim()}`;
    }
    splitRows += said.filter((x) => x[3] !== '').length;
    if (JSON.stringify(said) !== JSON.stringify(rows.slice(1))) bad.push(`${where}: connlist's text differs from -o csv:\n${JSON.stringify(said).slice(0, 400)}\n${JSON.stringify(rows.slice(1)).slice(0, 400)}`);
    // The Markdown table says what the CSV says, row by row (its cases a line each).
    const mdRows = md!.stdout.trimEnd().split('\n').slice(2).map((l) => l.slice(2, -2).split(/(?<!\\) \| /).map((x) => x.replace(/\\([|*])/g, '$1').trim()));
    const csvAsMd = rows.slice(1).map(([a, b, conn, split]) => [a, b, conn, split!.split(' | ').join('<br>')]);
    if (JSON.stringify(mdRows) !== JSON.stringify(csvAsMd)) bad.push(`${where}: connlist -o md rows differ from -o csv's:\n${JSON.stringify(mdRows).slice(0, 400)}\n${JSON.stringify(csvAsMd).slice(0, 400)}`);
    samples.forEach((s, i) => {
      const d = evaluate(state, s.conn);
      const what = `${where}: ${probes[i]!.from} -> ${probes[i]!.to} ${s.conn.protocol}/${s.conn.port}: evaluator ${d.allowed ? 'allows' : 'denies'}`;
      if (verdicts[i]?.allowed !== d.allowed) bad.push(`${what}, verify says ${verdicts[i]?.allowed}`);
      if (s.src !== undefined && s.src === s.dst) return;
      const listed = connlistAllows(model, s);
      if (listed !== d.allowed) bad.push(`${what}, connlist -o json ${listed}`);
      const from = endpointIdOf(model, s.src, s.conn.src), to = endpointIdOf(model, s.dst, s.conn.dst);
      const row = rows.find((x) => x[0] === from && x[1] === to);
      const inCsv = row ? csvRowAllows(row, s) : false;
      if (inCsv !== d.allowed) bad.push(`${what}, connlist -o csv ${inCsv} (row ${row?.join(',')})`);
    });
    // diff -o json of the folder and its changed copy: a sampled connection whose verdict changed
    // is opened or closed on its port for its pods; one whose verdict did not is in no change.
    const list = JSON.parse(changes!.stdout || '[]') as ConnectionChange[];
    const owed = list.length > 0 || exit > 0 || after.badDocuments > 0 ? 1 : 0;
    if (changes!.code !== owed) bad.push(`${where}: diff with the changed copy exited ${changes!.code} for ${list.length} change(s): ${changes!.stderr.trim().split('\n').slice(-1)[0]}`);
    const afterPods = new Map(matrixPods(after.state, family).pods.map((p) => [p.key, p.ip]));
    // The pods each endpoint id of the changes stands for (diff groups pods by both sides at once).
    const sides = diffConnectivity(state, after.state, { family });
    const podsOf = new Map([...sides.before.endpoints, ...sides.after.endpoints].map((e) => [e.id, e.pods ?? []]));
    const holds = (id: string, pod: string) => podsOf.get(id)?.includes(pod) === true;
    let diffChecked = 0;
    for (const s of sampleConnections(r, pods.filter((p) => afterPods.get(p.key) === p.ip), [], 30)) {
      if (s.src === s.dst) continue;
      diffChecked++;
      const was = evaluate(state, s.conn).allowed, now = evaluate(after.state, s.conn).allowed;
      const hits = list.filter((c) => c.pods ? c.pods.from.includes(s.src!) && c.pods.to.includes(s.dst!) : holds(c.from, s.src!) && holds(c.to, s.dst!));
      const opened = hits.some((c) => inPorts({ ports: c.opened }, s.conn.protocol, s.conn.port));
      const closed = hits.some((c) => inPorts({ ports: c.closed }, s.conn.protocol, s.conn.port));
      if (opened !== (!was && now) || closed !== (was && !now)) bad.push(`${where}: after ${made.join('; ')}: ${s.src} -> ${s.dst} ${s.conn.protocol}/${s.conn.port}: evaluator ${was} then ${now}, diff ${opened ? 'opened' : closed ? 'closed' : 'no change'}`);
    }
    if (diffChecked === 0) bad.push(`${where}: no connection sampled for diff`);
    explains.forEach((e, i) => {
      const d = evaluate(state, explained[i]!.conn);
      const head = e!.stdout.split('\n')[0]!;
      if (!head.endsWith(d.allowed ? ': allowed' : ': DENIED')) bad.push(`${where}: explain ${probes[i]!.from} -> ${probes[i]!.to}: "${head}", evaluator ${d.allowed}`);
    });
    // The matrix: every cell, the full-name table split on tabs.
    const lines = matrix!.stdout.trimEnd().split('\n').map((l) => l.split('\t').map((x) => x.trim()));
    const names = lines[0]!.slice(1);
    if (names.join() !== pods.map((p) => p.key).join()) bad.push(`${where}: matrix columns ${names.join(' ')}, pods ${pods.map((p) => p.key).join(' ')}`);
    for (const [i, line] of lines.slice(1).entries()) {
      for (const [j, cell] of line.slice(1).entries()) {
        matrixCells++;
        const d = evaluate(state, { src: pods[i]!.ip, dst: pods[j]!.ip, protocol: m.protocol as Protocol, port: m.port });
        const want = d.allowed ? '.' : deniedTier(d);
        if (cell !== want) bad.push(`${where}: matrix ${pods[i]!.key} -> ${pods[j]!.key} ${m.protocol}/${m.port}: "${cell}", evaluator wants "${want}"`);
      }
    }
  }
  t.comment(`${checked} clusters through the CLI (${drawn} drawn), ${matrixCells} matrix cells, ${splitRows} connlist pairs split by address`);
  for (const m of bad.slice(0, 8)) t.fail(`seed ${seed}: ${m}`);
  t.equal(bad.length, 0, 'no disagreement');
  t.equal(checked, CLUSTERS, 'enough clusters with pods');
});
