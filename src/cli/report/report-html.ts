// The report as one self-contained HTML file: inline CSS, inline script, the graph as inline SVG
// (laid out at generation time), the data as JSON in a script element. Nothing is fetched when
// it is opened (a Content-Security-Policy forbids it), so it works offline and attached to a PR.

import { portSetText } from '../../analysis/ports.ts';
import { DETAIL_LIMIT, type ReportData } from './report-data.ts';
import { leftOutText } from '../connectivity-format.ts';
import { LEFT_OUT } from '../vocabulary.ts';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON safe inside <script>: no "</script>" or "<!--" can close or confuse the element. */
function scriptJSON(x: unknown): string {
  return JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
#graph{border:1px solid #ccc;overflow:auto;max-height:70vh}
#graph svg{max-width:none}
#graph g.edge,#graph g.node{cursor:pointer}
#graph g.edge:hover path{stroke:#c00;stroke-width:2}
table.hm{border-collapse:collapse;font-size:12px}
table.hm th{font-weight:normal;padding:2px 4px;white-space:nowrap}
table.hm thead th{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left}
table.hm td{width:18px;height:18px;border:1px solid #fff;cursor:pointer}
table.hm td.sel{outline:2px solid #000}
#explain{white-space:pre-wrap;font:12px/1.35 ui-monospace,monospace;background:#f6f6f6;border:1px solid #ddd;padding:.6em;min-height:3em}
.finding{margin:.4em 0}.error{color:#a00}.warning{color:#850}
.legend span{display:inline-block;width:14px;height:14px;vertical-align:middle;margin:0 4px}
`;

// The page script: colours the matrix for the chosen port, shows the precomputed text of a
// clicked cell or edge. Plain DOM, no library.
const SCRIPT = `
const D = JSON.parse(document.getElementById('report-data').textContent);
const eps = D.endpoints, sel = document.getElementById('port'), out = document.getElementById('explain');
function colour(v) { return v < 0 ? '#fff' : 'hsl(' + Math.round(v * 120) + ',70%,' + (v === 0 ? 80 : 45) + '%)'; }
function value(i, j) {
  const k = sel.value;
  if (k === 'all') { const c = D.cells[i][j]; return c.reduce((a, b) => a + b, 0) / c.length; }
  return D.cells[i][j][Number(k)];
}
function paint() {
  for (const td of document.querySelectorAll('table.hm td')) td.style.background = colour(value(Number(td.dataset.i), Number(td.dataset.j)));
}
function show(text, what) { out.textContent = text; out.dataset.what = what; }
document.querySelector('table.hm').addEventListener('click', (ev) => {
  const td = ev.target.closest('td'); if (!td) return;
  document.querySelectorAll('td.sel').forEach((x) => x.classList.remove('sel'));
  td.classList.add('sel');
  const i = Number(td.dataset.i), j = Number(td.dataset.j);
  const ks = sel.value === 'all' ? D.ports.map((_, k) => k) : [Number(sel.value)];
  const seen = new Set(); const parts = [];
  for (const k of ks) { const t = D.cellText[i][j][k]; if (!seen.has(t)) { seen.add(t); parts.push(D.texts[t]); } }
  show(parts.join('\\n\\n'), 'cell ' + eps[i] + ' -> ' + eps[j]);
});
const edgeIndex = new Map(D.edges.map((e, n) => [e[0] + '->' + e[1], n]));
document.getElementById('graph').addEventListener('click', (ev) => {
  const g = ev.target.closest('g.edge, g.node'); if (!g) return;
  const title = g.querySelector('title').textContent;
  if (g.classList.contains('edge')) { const n = edgeIndex.get(title); if (n !== undefined) show(D.texts[D.edgeText[n]], 'edge ' + title); }
  else { const lines = D.edges.filter((e) => e[0] === title || e[1] === title).map((e) => e[0] + ' => ' + e[1] + ' : ' + e[2]); show(title + ': ' + lines.length + ' allowed connection(s)\\n' + lines.join('\\n'), 'node ' + title); }
});
sel.addEventListener('change', paint);
paint();
`;

export function reportHTML(d: ReportData, svg: string): string {
  const c = d.connectivity;
  const ids = c.endpoints.map((e) => e.id);
  const data = {
    endpoints: ids, ports: d.ports.map((p) => `${p.protocol}/${p.port}`), cells: d.cells, cellText: d.cellText,
    edges: c.edges.map((e) => [e.from, e.to, portSetText(e.ports)]), edgeText: d.edgeText, texts: d.texts,
  };
  const head = `<tr><th></th>${ids.map((id) => `<th>${esc(id)}</th>`).join('')}</tr>`;
  const rows = ids.map((id, i) => `<tr><th>${esc(id)}</th>${ids.map((_, j) => `<td data-i="${i}" data-j="${j}"></td>`).join('')}</tr>`).join('\n');
  const options = ['<option value="all">all listed ports (share allowed)</option>', ...d.ports.map((p, k) => `<option value="${k}">${p.protocol}/${p.port}</option>`)].join('');
  const findings = d.findings.length
    ? d.findings.map((f) => `<div class="finding ${f.severity}"><b>${f.severity}</b>: ${esc(f.object)}${f.field ? ` <code>${esc(f.field)}</code>` : ''} [${esc(f.code)}]<br>why: ${esc(f.reason)}<br>fix: ${esc(f.fix)}</div>`).join('\n')
    : '<p>No findings.</p>';
  const scale = d.aggregated
    ? `<p>${d.podCount} pods, more than ${DETAIL_LIMIT} endpoints: drawn <b>by namespace</b> (each box one namespace; an edge merges every allowed pair between two namespaces; <code>palisade connlist --focus NS</code> lists them).</p>`
    : '';
  // Pods no box stands for (host network, finished, no address of the family drawn, an address
  // another pod wins), each with its reason in connlist's words: else they vanish without a word.
  const left = c.leftOut.length
    ? `<p>Pods not drawn (${LEFT_OUT}, as <code>palisade connlist</code> says): ${esc(c.leftOut.map((l) => leftOutText(l, c.family)).join(', '))}.</p>`
    : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(d.title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(d.title)}</h1>
<p>Input: ${esc(d.input)}. ${d.modelEndpoints} endpoints, ${d.modelEdges} allowed connections (${c.family})${d.aggregated ? `, drawn by namespace as ${c.endpoints.length} boxes and ${c.edges.length} edges` : ''}, ${d.findings.length} lint finding(s).</p>
${scale}
${left}
<h2>Allowed connections</h2>
<p>Click an edge (or a box) for why it is allowed.</p>
<div id="graph">${svg}</div>
<h2>Matrix</h2>
<p>Rows: from; columns: to. Port: <select id="port">${options}</select>
<span class="legend"><span style="background:hsl(120,70%,45%)"></span>allowed <span style="background:hsl(60,70%,45%)"></span>for some pods <span style="background:hsl(0,70%,80%)"></span>denied</span>. Click a cell for its explanation.</p>
<table class="hm"><thead>${head}</thead><tbody>
${rows}
</tbody></table>
<h2>Explanation</h2>
<div id="explain">Click a matrix cell or a graph edge.</div>
<h2>Lint findings</h2>
${findings}
<script type="application/json" id="report-data">${scriptJSON(data)}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
