// `connlist-large`: the connectivity model (src/analysis/connectivity.ts) of the benchmark's large
// cluster (10,000 pods, 1,000 NetworkPolicies, large-cluster.ts) and its connlist text, timed
// (wall and CPU: this machine is shared, so CPU time is the figure that compares). Prints one
// JSON object like the other benchmarks:
//   node --import tsx bench/connlist-large.ts [--family IPv4|IPv6]

import { buildLargeCluster } from './large-cluster.ts';
import { ConnectivityAnalysis } from '../src/analysis/connectivity.ts';
import { connectivityText } from '../src/cli/connectivity-format.ts';

function timed<T>(fn: () => T): { value: T; wall_ms: number; cpu_ms: number } {
  const c0 = process.cpuUsage(), t0 = performance.now();
  const value = fn();
  const c = process.cpuUsage(c0);
  return { value, wall_ms: Math.round(performance.now() - t0), cpu_ms: Math.round((c.user + c.system) / 1000) };
}

const fi = process.argv.indexOf('--family');
const family = fi > 0 && process.argv[fi + 1] === 'IPv6' ? 'IPv6' : 'IPv4';
const state = buildLargeCluster();
const analysis = timed(() => new ConnectivityAnalysis(state, { family }));
const c = analysis.value.result;
const text = timed(() => connectivityText(c));
const kinds = (k: string) => c.endpoints.filter((e) => e.kind === k).length;
process.stdout.write(JSON.stringify({
  name: 'connlist-large',
  family,
  pods: state.pods.size,
  policies: state.policies.size,
  endpoints: c.endpoints.length,
  groups: kinds('group'),
  single_pods: kinds('pod'),
  external_blocks: kinds('external'),
  edges: c.edges.length,
  split_edges: c.edges.filter((e) => e.split).length,
  analysis_wall_ms: analysis.wall_ms,
  analysis_cpu_ms: analysis.cpu_ms,
  text_wall_ms: text.wall_ms,
  text_bytes: text.value.length,
  node: process.version,
}, null, 2) + '\n');
