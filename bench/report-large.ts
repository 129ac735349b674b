// `node --import tsx bench/report-large.ts [out.html]`: connlist's model and the HTML report on
// the benchmark's 10,000-pod cluster (bench/large-cluster.ts), timed phase by phase. The figure
// in the README ("Live clusters, the kubectl plugin and the HTML report") comes from here.

import { writeFileSync } from 'node:fs';
import { computeConnectivity } from '../src/analysis/connectivity.ts';
import { connectivityDot } from '../src/cli/connectivity-format.ts';
import { dotToSvg } from '../src/cli/report/graph-svg.ts';
import { buildReport, drawnConnectivity } from '../src/cli/report/report-data.ts';
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
const data = buildReport(state, { input: 'bench/large-cluster.ts', connectivity: c });
console.log(`report data (aggregation, lint, texts; the model above reused): ${ms(t)}`);
const t2 = performance.now();
const drawn = drawnConnectivity(data);
const svg = await dotToSvg(connectivityDot(drawn.connectivity));
console.log(`graph layout: ${drawn.connectivity.edges.length} of ${data.connectivity.edges.length} edges drawn (${ms(t2)})`);
const html = reportHTML(data, svg);
if (process.argv[2]) writeFileSync(process.argv[2], html);
console.log(`report: ${data.connectivity.endpoints.length} endpoints, ${data.connectivity.edges.length} edges${data.aggregated ? ' (by namespace)' : ''}, ${(html.length / 1e6).toFixed(1)} MB (${ms(t)} from the report data on)`);
