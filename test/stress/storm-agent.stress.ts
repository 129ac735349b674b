// The policy storm through the real agent: `palisade agent --backend nfqueue --source files` in a
// lab node namespace while its manifests folder is rewritten rapidly (policies created, changed
// and deleted, pod labels flipped; files truncated and rewritten in place, so the agent also reads
// half-written files) with traffic flowing. Afterwards the folder gets its final content and,
// once the agent has enforced a pass that started after that write, real TCP probes between the
// pods must match the plain evaluator on the final manifests exactly. CPU and memory of the agent
// are reported.
//
// STRESS_AGENT_STORM_SECONDS overrides the storm duration (default 12 s; 60 with PALISADE_STRESS_FULL=1).

import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { Topology, PODS, clusterYaml, startAgent, waitFor, must, type AgentStatusFile, type PodName } from '../../support/netns.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { Rng } from '../../support/random-cluster.ts';
import { RssSampler, flood } from './support/lab.ts';
import { bindRow, cpuSecondsOf, envInt, round, FULL, MB } from './support/results.ts';

const NODE = 'n1';
const QUEUE = 64;
const PORTS = [8080, 9090] as const;
const SECONDS = envInt('STRESS_AGENT_STORM_SECONDS', FULL ? 60 : 12);
const WRITES_PER_SECOND = 50;
const topo = new Topology('storm');
t.teardown(() => topo.down());

type Status = AgentStatusFile & { updatedAt: string };

/** clusterYaml with the pods' role labels replaced. */
function cluster(roles: Record<PodName, string>): string {
  return clusterYaml(NODE, [...PORTS])
    .replace('app: a, role: client', `app: a, role: ${roles.a}`)
    .replace('app: b, role: server', `app: b, role: ${roles.b}`)
    .replace('app: c, role: other', `app: c, role: ${roles.c}`);
}

function policy(name: string, target: string, dir: 'Ingress' | 'Egress', peerRole: string | undefined, ports: readonly number[]): string {
  const peers = peerRole === undefined ? '' : `\n    ${dir === 'Ingress' ? 'from' : 'to'}: [{podSelector: {matchLabels: {role: ${peerRole}}}}]`;
  const portList = ports.length ? `\n    ports: [${ports.map((p) => `{port: ${p}, protocol: TCP}`).join(', ')}]` : '';
  const rules = peers || portList ? `\n  ${dir === 'Ingress' ? 'ingress' : 'egress'}:\n  -${(peers + portList).replace(/^\n {4}/, ' ')}` : '';
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: x}
spec:
  podSelector: {matchLabels: {app: ${target}}}
  policyTypes: [${dir}]${rules}
`;
}

function randomPolicies(r: Rng): string {
  const docs: string[] = [];
  const n = r.int(5);
  for (let i = 0; i < n; i++) {
    const ports = PORTS.filter(() => r.chance(0.5));
    docs.push(policy(`p${r.int(6)}-${i}`, r.pick(['a', 'b', 'c']), r.chance(0.75) ? 'Ingress' : 'Egress', r.chance(0.2) ? undefined : r.pick(['client', 'other', 'server']), ports));
  }
  return docs.join('---\n');
}

/** The verdicts the final manifests call for, from the plain evaluator. */
function expected(files: readonly string[]): ClusterState {
  const s = new ClusterState();
  s.batch(() => {
    for (const f of files) for (const d of parseAllDocuments(f)) applyDecoded(s, decodeObject(d.toJS()));
  });
  return s;
}

t.test(`policy storm through the agent: ${WRITES_PER_SECOND} manifest rewrites/s for ${SECONDS} s`, async (t) => {
  const r = bindRow(t, 'load', `policy storm through the agent (${SECONDS} s)`, 'storm-agent.stress.ts');
  r.note = `files source, ${WRITES_PER_SECOND} manifest rewrites/s${SECONDS < 60 ? '; PALISADE_STRESS_FULL=1 runs a minute' : ''}`;
  await topo.up();
  for (const p of ['a', 'b', 'c'] as const) for (const port of PORTS) await topo.servers(p, port);
  const dir = join(topo.dir, 'manifests');
  await must(['mkdir', '-p', dir]);
  const clusterFile = join(dir, 'cluster.yaml');
  const policiesFile = join(dir, 'policies.yaml');
  writeFileSync(clusterFile, cluster({ a: 'client', b: 'server', c: 'other' }));
  writeFileSync(policiesFile, policy('b-in', 'b', 'Ingress', 'client', [8080]));
  const statusFile = join(topo.dir, 'status.json');
  const agent = await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '200'], statusFile);
  const pid = agent.status.pid;
  const status = () => topo.readJSON<Status>(statusFile)!;
  const gen0 = status().generation;
  const cpu0 = cpuSecondsOf(pid) ?? 0;
  const rss = new RssSampler(pid);

  // Traffic during the storm: new connections from a and c to b and c (verdicts change as the
  // policies do; this is load, not a verdict check).
  const traffic = Promise.all([
    flood(topo, 'a', { host: PODS.b.v4, tcpPorts: [...PORTS], udpPorts: [], seconds: SECONDS, inflight: 8, connectTimeoutMs: 300, udpSockets: 0, maxConnections: 50_000, maxDatagrams: 0 }),
    flood(topo, 'c', { host: PODS.b.v4, tcpPorts: [...PORTS], udpPorts: [], seconds: SECONDS, inflight: 8, connectTimeoutMs: 300, udpSockets: 0, maxConnections: 50_000, maxDatagrams: 0 }),
  ]);
  const rng = new Rng(0xa9e7);
  let writes = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < SECONDS * 1000) {
    // In place (truncate + write), as an editor or `cp` would: the agent may read half a file.
    if (rng.chance(0.3)) writeFileSync(clusterFile, cluster({ a: rng.pick(['client', 'other']), b: rng.pick(['server', 'client']), c: rng.pick(['client', 'other']) }));
    else writeFileSync(policiesFile, randomPolicies(rng));
    writes++;
    await new Promise((res) => setTimeout(res, 1000 / WRITES_PER_SECOND));
  }
  const flows = await traffic;

  // The final state, then wait for a pass that started after it to be enforced.
  const finalCluster = cluster({ a: 'client', b: 'server', c: 'other' });
  const finalPolicies = [
    policy('b-in', 'b', 'Ingress', 'client', [8080]),
    policy('c-in', 'c', 'Ingress', 'server', []),
    policy('a-out', 'a', 'Egress', 'server', [8080, 9090]),
  ].join('---\n');
  const finalAt = Date.now();
  writeFileSync(clusterFile, finalCluster);
  writeFileSync(policiesFile, finalPolicies);
  const settled = await waitFor('a pass after the final write enforced', () => {
    const s = status();
    return (s.sourceSyncStartedAt ?? 0) >= finalAt && s.sourceErrors.length === 0 ? s : undefined;
  }, 30_000);
  const settleS = (Date.now() - finalAt) / 1000;
  const mem = rss.stop();
  const cpu = (cpuSecondsOf(pid) ?? 0) - cpu0;

  const want = expected([finalCluster, finalPolicies]);
  const pairs: [PodName, PodName][] = [['a', 'b'], ['c', 'b'], ['a', 'c'], ['b', 'c'], ['b', 'a'], ['c', 'a']];
  let probes = 0, matched = 0;
  const wrong: string[] = [];
  for (const [from, to] of pairs) {
    for (const port of PORTS) {
      const allowed = evaluate(want, { src: PODS[from].v4, dst: PODS[to].v4, protocol: 'TCP', port }, { localNode: NODE }).allowed;
      const got = await topo.tcp(from, to, port);
      probes++;
      if (got === allowed) matched++;
      else wrong.push(`${from} -> ${to}:${port} ${got ? 'passed' : 'dropped'}, evaluator says ${allowed ? 'allow' : 'deny'}`);
    }
  }
  const s = status();
  const attempts = flows.reduce((n, f) => n + Object.values(f.tcp).reduce((m, x) => m + x.ok + x.failed, 0), 0);
  Object.assign(r.figures, {
    'manifest rewrites': writes,
    'generations enforced': settled.generation - gen0,
    'connections tried during': attempts,
    'settled after final write s': round(settleS),
    'agent CPU s': round(cpu),
    'agent CPU %': round((cpu / ((Date.now() - t0) / 1000)) * 100),
    'agent RSS MB start/max/end': `${round(mem.first / MB)}/${round(mem.max / MB)}/${round(mem.last / MB)}`,
    'final probes as evaluator': `${matched}/${probes}`,
    'agent errors': s.counters.errors ?? 0,
  });
  r.tried = { n: writes, what: 'manifest rewrites' };
  r.wrong = wrong.length;
  t.ok(writes >= SECONDS * 10, `the folder was rewritten ${writes} times`);
  t.ok(settled.generation - gen0 > 10, `the agent enforced many generations (${settled.generation - gen0})`);
  t.same(wrong, [], `every real probe after the storm matches the evaluator on the final manifests (${matched}/${probes})`);
  t.ok(mem.max < mem.first + 256 * MB, `agent RSS bounded (${round(mem.first / MB)} -> max ${round(mem.max / MB)} MB)`);
  t.equal(s.counters.errors ?? 0, 0, 'no enforcer errors');
  t.ok(s.ready, 'the agent is still ready');
});
