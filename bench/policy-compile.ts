// Compile-time figures of the compiled policy engine on a large, realistic cluster:
//   node --expose-gc --import tsx bench/policy-compile.ts [--pods 10000] [--policies 1000]
// Prints one JSON line: full compile time, RSS/heap growth, table counts, and incremental
// update latency (p50/p99 over repeated runs) for one pod relabel (to an existing and to a new
// label set), one pod add, one pod delete and one policy update. Timings are wall clock on
// whatever else the machine is doing; run it alone for stable numbers.

import { parseArgs } from 'node:util';
import type { NetworkPolicy, Pod, PolicyRule } from '../src/cluster/model.ts';
import { ClusterState } from '../src/cluster/state.ts';
import { CompiledEngine } from '../src/policy/compiler.ts';

const { values } = parseArgs({ options: { pods: { type: 'string' }, policies: { type: 'string' }, reps: { type: 'string' }, 'unique-labels': { type: 'boolean' } } });
/** Give every pod a label of its own (worst case for identity sharing: one identity a pod). */
const UNIQUE = values['unique-labels'] === true;
const POD_COUNT = Number(values.pods ?? 10000);
const POLICY_COUNT = Number(values.policies ?? 1000);
const REPS = Number(values.reps ?? 200);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

// 100 namespaces of 10 apps x 10 replicas (at the default size); 10 policies per namespace.
const NS = Math.max(1, Math.round(POD_COUNT / 100));
const APPS = 10;
const perNs = Math.ceil(POD_COUNT / NS);
const TEAMS = ['red', 'green', 'blue', 'gold'];
const TIERS = ['web', 'api', 'db'];

function sel(matchLabels: Record<string, string> = {}) {
  return { matchLabels, matchExpressions: [] };
}

function makePod(ns: number, i: number, labels?: Record<string, string>): Pod {
  const app = i % APPS;
  return {
    namespace: `ns-${ns}`,
    name: `pod-${i}`,
    labels: labels ?? { app: `app-${app}`, tier: TIERS[app % 3]!, version: 'v1', ...(UNIQUE ? { 'pod-id': `${ns}-${i}` } : {}) },
    nodeName: `node-${i % 50}`,
    hostNetwork: false,
    phase: 'Running',
    ips: i % 4 === 0
      ? [`10.${ns >> 8}.${ns & 255}.${i & 255}`.replace(/^10\.0\./, '10.'), `fd00::${ns.toString(16)}:${i.toString(16)}`]
      : [`10.${ns >> 8}.${ns & 255}.${i & 255}`.replace(/^10\.0\./, '10.')],
    ports: [
      { name: 'http', containerPort: 8080 + (app % 2), protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ],
  };
}

function ipOf(ns: number, i: number): string {
  // 10.<ns>.<hi>.<lo>: unique per (ns, i) for up to 65536 pods a namespace.
  return `10.${ns}.${i >> 8}.${i & 255}`;
}

function policy(ns: number, j: number, variant = 0): NetworkPolicy {
  const namespace = `ns-${ns}`;
  const app = `app-${j % APPS}`;
  const ingress: PolicyRule[] = [];
  const egress: PolicyRule[] = [];
  let types = { ingress: true, egress: false };
  let podSelector = sel({ app });
  switch (j) {
    case 0:
      podSelector = sel();
      break; // default deny ingress for the namespace
    case 1:
      podSelector = sel();
      types = { ingress: false, egress: true };
      egress.push({ peers: [{ namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'ns-0' }), podSelector: sel({ app: 'app-0' }) }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] });
      egress.push({ peers: [{ podSelector: sel() }], ports: [] });
      egress.push({ peers: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '169.254.169.254/32'] } }], ports: [{ protocol: 'TCP', port: 443 }] });
      break;
    default:
      ingress.push({ peers: [{ podSelector: sel({ tier: 'web' }) }], ports: [{ protocol: 'TCP', port: 'http' }] });
      ingress.push({ peers: [{ namespaceSelector: sel({ team: TEAMS[ns % 4]! }), podSelector: { matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] } }], ports: [{ protocol: 'TCP', port: 8080 + variant, endPort: 8090 }] });
      ingress.push({ peers: [{ ipBlock: { cidr: '10.0.0.0/8', except: [`10.${ns}.0.0/16`] } }, { ipBlock: { cidr: 'fd00::/16', except: [] } }], ports: [{ protocol: 'TCP', port: 'metrics' }] });
  }
  return { namespace, name: `pol-${j}`, podSelector, policyTypes: types, ingress, egress };
}

const state = new ClusterState();
state.batch(() => {
  for (let n = 0; n < NS; n++) state.upsertNamespace({ name: `ns-${n}`, labels: { 'kubernetes.io/metadata.name': `ns-${n}`, team: TEAMS[n % 4]!, env: n % 2 ? 'prod' : 'dev' } });
  for (let k = 0; k < 50; k++) state.upsertNode({ name: `node-${k}`, addresses: [`192.168.${k >> 8}.${k & 255}`] });
  let made = 0;
  for (let n = 0; n < NS && made < POD_COUNT; n++) {
    for (let i = 0; i < perNs && made < POD_COUNT; i++, made++) state.upsertPod({ ...makePod(n, i), ips: i % 4 === 0 ? [ipOf(n, i), `fd00::${n.toString(16)}:${i.toString(16)}`] : [ipOf(n, i)] });
  }
  const perNsPol = Math.ceil(POLICY_COUNT / NS);
  let pols = 0;
  for (let n = 0; n < NS && pols < POLICY_COUNT; n++) for (let j = 0; j < perNsPol && pols < POLICY_COUNT; j++, pols++) state.upsertPolicy(policy(n, j));
});

gc();
const rss0 = process.memoryUsage().rss;
const heap0 = process.memoryUsage().heapUsed;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const engine = new CompiledEngine(state);
const compileMs = Number(process.hrtime.bigint() - t0) / 1e6;
const cpuD = process.cpuUsage(cpu0);
const compileCpuMs = (cpuD.user + cpuD.system) / 1000;
const rssAfter = process.memoryUsage().rss;
gc();
const heapAfter = process.memoryUsage().heapUsed;
const stats = engine.stats();

state.onChange((changes) => engine.update(changes));

interface Dist { p50: number; p99: number; max: number }
/** Wall and CPU (user+system of this process) milliseconds per run: CPU time is what the work costs; wall time also counts whatever else the machine was doing. */
function timeIt(fn: (i: number) => void): { wallMs: Dist; cpuMs: Dist } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const c = process.cpuUsage();
    const s = process.hrtime.bigint();
    fn(i);
    wall.push(Number(process.hrtime.bigint() - s) / 1e6);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  const dist = (xs: number[]): Dist => {
    xs.sort((a, b) => a - b);
    const q = (p: number) => Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! * 1000) / 1000;
    return { p50: q(0.5), p99: q(0.99), max: q(1) };
  };
  return { wallMs: dist(wall), cpuMs: dist(cpu) };
}

const podKeys = [...state.pods.keys()];
const relabelExisting = timeIt((i) => {
  const p = state.pods.get(podKeys[(i * 7919) % podKeys.length]!)!;
  const app = Number(p.labels.app!.slice(4));
  state.upsertPod({ ...p, labels: { ...p.labels, app: `app-${(app + 1) % APPS}`, tier: TIERS[((app + 1) % APPS) % 3]! } });
});
const relabelNew = timeIt((i) => {
  const p = state.pods.get(podKeys[(i * 104729) % podKeys.length]!)!;
  state.upsertPod({ ...p, labels: { ...p.labels, version: `canary-${i}` } });
});
const podAdd = timeIt((i) => {
  const n = i % NS;
  const idx = 60000 + i;
  state.upsertPod({ ...makePod(n, idx), ips: [ipOf(n, idx)] });
});
const podDelete = timeIt((i) => {
  state.deletePod(`ns-${i % NS}/pod-${60000 + i}`);
});
const policyUpdate = timeIt((i) => {
  const n = i % NS;
  state.upsertPolicy(policy(n, 2 + (i % 8), 1 + (i % 5)));
});

gc();
process.stdout.write(JSON.stringify({
  bench: 'policy-compile', uniqueLabels: UNIQUE,
  pods: stats.pods, policies: state.policies.size, namespaces: NS,
  compileMs: Math.round(compileMs),
  compileCpuMs: Math.round(compileCpuMs),
  loadAverage: (await import('node:os')).loadavg()[0],
  rssGrowthMB: Math.round((rssAfter - rss0) / 1048576),
  rssTotalMB: Math.round(process.memoryUsage().rss / 1048576),
  heapGrowthMB: Math.round((heapAfter - heap0) / 1048576),
  tables: stats.tables, tableUsers: stats.tableUsers, tableKB: Math.round(stats.tableBytes / 1024), identities: stats.identities,
  update: { relabelToExistingLabels: relabelExisting, relabelToNewLabels: relabelNew, podAdd, podDelete, policyUpdate },
  reps: REPS,
}) + '\n');
