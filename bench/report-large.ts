// `node --import tsx bench/report-large.ts [out.html]`: connlist's model and the HTML report on
// the benchmark's 10,000-pod cluster (bench/large-cluster.ts), timed phase by phase. The figure
// in the README ("Live clusters, the kubectl plugin and the HTML report") comes from here.

import { writeFileSync } from 'node:fs';
import { computeConnectivity } from '../src/analysis/connectivity.ts';
import { connectivityDot } from '../src/cli/connectivity-format.ts';
import { dotToSvg } from '../src/cli/report/graph-svg.ts';
import { LABEL_LIMIT, buildReport } from '../src/cli/report/report-data.ts';
import { reportHTML } from '../src/cli/report/report-html.ts';
import { buildLargeCluster } from './large-cluster.ts';

const ms = (t: number) => `${((performance.now() - t) / 1000).toFixed(1)} s`;
let t = performance.now();
const state = buildLargeCluster();
console.log(`cluster built: ${state.pods.size} pods, ${state.policies.size} policies (${ms(t)})`);
t = performance.now();
const c = computeConnectivity(state);
console.log(`connlist model: ${c.endpoints.length} endpoints, ${c.edges.length} edges (${ms(t)})`);
t = performance.now();
const data = buildReport(state, { input: 'bench/large-cluster.ts' });
console.log(`report data (model again, aggregation, lint, texts): ${ms(t)}`);
const t2 = performance.now();
const dot = connectivityDot(data.connectivity);
const c0 = data.connectivity;
const keep = c0.edges.length > LABEL_LIMIT ? new Set(c0.edges.map((e, i) => [e, data.edgeWeight[i]!] as const).sort((a, b) => b[1] - a[1]).slice(0, LABEL_LIMIT).map(([e]) => e)) : undefined;
const svg = await dotToSvg(keep ? connectivityDot({ ...c0, edges: c0.edges.filter((e) => keep.has(e)) }) : dot);
console.log(`graph layout: ${ms(t2)}`);
const html = reportHTML(data, svg);
if (process.argv[2]) writeFileSync(process.argv[2], html);
console.log(`report: ${data.connectivity.endpoints.length} endpoints, ${data.connectivity.edges.length} edges drawn${data.aggregated ? ' (by namespace)' : ''}, ${(html.length / 1e6).toFixed(1)} MB (${ms(t)}, the model computed again inside)`);
