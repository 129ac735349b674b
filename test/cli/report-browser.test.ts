// The HTML report as a person sees it: opened from disk in a real headless Chromium (Debian's
// chromium package, driven by puppeteer-core; scripts/bootstrap.sh installs it). The graph must
// render with as many nodes and edges as `connlist -o json` lists, a click on a matrix cell must
// show exactly what `palisade explain` prints for that pair and port, a click on an edge its
// ports and rules, with no console error and no request leaving the file. A screenshot is
// written to test-output/report.png (gitignored) for people to look at.

import t, { type Test } from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';
import { clusterPolicyDir } from './cluster-policy-fixture.ts';
import { runCliAsync, tmpDir } from './run-cli.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CHROMIUM = process.env.PALISADE_CHROMIUM ?? '/usr/bin/chromium';


/** Headless Debian chromium, closed when the test ends. */
async function launchChromium(t: Test) {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (CI) Chromium refuses to start without --no-sandbox; nothing here is untrusted.
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--no-first-run', '--disable-extensions'],
  });
  t.teardown(() => browser.close());
  return browser;
}

t.test('report.html in headless Chromium: graph, counts, cell and edge explanations, no errors', async (t) => {
  const manifests = clusterPolicyDir();
  const html = join(tmpDir('palisade-report-'), 'report.html');
  const gen = await runCliAsync(['report', '--manifests', manifests, '-o', html]);
  t.equal(gen.code, 0, gen.stderr);
  const list = await runCliAsync(['connlist', '--manifests', manifests, '-o', 'json']);
  t.equal(list.code, 0, list.stderr);
  const model = JSON.parse(list.stdout) as { endpoints: { id: string }[]; edges: { from: string; to: string }[] };
  t.ok(model.edges.length > 0, 'the fixture has allowed connections');
  const explainCli = await runCliAsync(['explain', '--manifests', manifests, '--from', 'app/batch', '--to', 'db/pg', '--port', '5432']);
  t.equal(explainCli.code, 0, explainCli.stderr);

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const url = r.url();
    if (url.startsWith('file:') || url.startsWith('data:')) return void r.continue();
    requests.push(url);
    void r.abort();
  });
  await page.setViewport({ width: 1400, height: 1000 });
  await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });

  const counts = await page.evaluate(() => ({
    nodes: document.querySelectorAll('#graph svg g.node').length,
    edges: document.querySelectorAll('#graph svg g.edge').length,
    cells: document.querySelectorAll('table.hm td').length,
  }));
  t.equal(counts.nodes, model.endpoints.length, 'one graph node per connlist endpoint');
  t.equal(counts.edges, model.edges.length, 'one graph edge per connlist edge');
  t.equal(counts.cells, model.endpoints.length ** 2, 'a matrix cell per pair');

  // The matrix for TCP/5432, then the app/batch -> db/pg cell, as a person would click it.
  const option = await page.evaluate(() => [...document.querySelectorAll('#port option')].find((o) => o.textContent === 'TCP/5432')?.getAttribute('value'));
  t.ok(option, 'TCP/5432 is one of the matrix ports');
  await page.select('#port', option!);
  const ids = model.endpoints.map((e) => e.id);
  const i = ids.indexOf('app/batch');
  const j = ids.indexOf('db/pg');
  await page.click(`table.hm td[data-i="${i}"][data-j="${j}"]`);
  const cellText = await page.$eval('#explain', (e) => e.textContent);
  t.equal(cellText, explainCli.stdout.trimEnd(), 'the cell shows what palisade explain prints');
  const colour = await page.$eval(`table.hm td[data-i="${i}"][data-j="${j}"]`, (e) => (e as HTMLElement).style.background);
  t.match(colour, /rgb\(/, 'the cell is coloured');

  // An edge: click its path in the SVG.
  const edge = model.edges.find((e) => e.from === 'app/web' && e.to === 'db/pg') ?? model.edges[0]!;
  const handle = await page.evaluateHandle((title: string) => [...document.querySelectorAll('#graph g.edge')].find((g) => g.querySelector('title')?.textContent === title)?.querySelector('path'), `${edge.from}->${edge.to}`);
  const el = handle.asElement();
  t.ok(el, `edge ${edge.from}->${edge.to} drawn`);
  // On a point of the drawn curve where this edge is on top, as a person would aim: the middle
  // of the path's bounding box (ElementHandle.click) can lie off a curved edge, on whatever the
  // layout put there, or on another edge crossing it.
  const at = await (el as import('puppeteer-core').ElementHandle<SVGPathElement>).evaluate((p) => {
    p.scrollIntoView({ block: 'center', inline: 'center' });
    const g = p.closest('g.edge');
    const len = p.getTotalLength();
    for (const f of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
      const pt = p.getPointAtLength(len * f).matrixTransform(p.getScreenCTM()!);
      if (document.elementFromPoint(pt.x, pt.y)?.closest('g.edge') === g) return { x: pt.x, y: pt.y };
    }
    return undefined;
  });
  t.ok(at, 'a point of the edge is not covered by another');
  await page.mouse.click(at!.x, at!.y);
  const edgeText = await page.$eval('#explain', (e) => e.textContent ?? '');
  t.match(edgeText, new RegExp(`^${edge.from} => ${edge.to} : `), 'the edge shows its ports');
  t.match(edgeText, /allowed because:/);

  const outDir = join(ROOT, 'test-output');
  mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: join(outDir, 'report.png'), fullPage: true });
  t.same(problems, [], 'no console errors or page errors');
  t.same(requests, [], 'no request left the file');
});

/** 20 namespaces of 3 pods, each pod its own endpoint (labels differ), no policies: 60 endpoints, all allowed. */
function wideCluster(): string {
  const docs: string[] = [];
  for (let n = 0; n < 20; n++) {
    const ns = `ns${String(n).padStart(2, '0')}`;
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}`);
    for (let p = 0; p < 3; p++) {
      const ip = `10.1.${n}.${p + 1}`;
      docs.push(`apiVersion: v1\nkind: Pod\nmetadata: {namespace: ${ns}, name: p${p}, labels: {app: a${p}}}\nspec: {nodeName: n1, containers: [{name: c, ports: [{containerPort: 80}]}]}\nstatus: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}`);
    }
  }
  const dir = tmpDir('palisade-report-wide-');
  writeFileSync(join(dir, 'cluster.yaml'), docs.join('\n---\n') + '\n');
  return dir;
}

t.test('above 40 endpoints: namespaces drawn, 300 edges at most, the page still works', async (t) => {
  const manifests = wideCluster();
  const html = join(tmpDir('palisade-report-'), 'report.html');
  const gen = await runCliAsync(['report', '--manifests', manifests, '-o', html]);
  t.equal(gen.code, 0, gen.stderr);
  const list = await runCliAsync(['connlist', '--manifests', manifests, '-o', 'json']);
  const model = JSON.parse(list.stdout) as { endpoints: { id: string; namespace?: string }[]; edges: unknown[] };
  t.ok(model.endpoints.length > 40, `connlist: ${model.endpoints.length} endpoints, above the detail limit`);
  // 20 namespace boxes and 0.0.0.0/0 (no Node object: no node endpoint); every pair allowed
  // but outside -> outside (never judged).
  const m = /: (\d+) endpoints, (\d+) edges \((\d+) drawn\) \(by namespace\)/.exec(gen.stderr);
  t.ok(m, `aggregated and capped: ${gen.stderr}`);
  const [endpoints, edges, drawn] = m ? m.slice(1).map(Number) : [0, 0, 0];
  t.equal(endpoints, 21, 'one endpoint per namespace, and the outside');
  t.ok(edges! > 300, `${edges} namespace edges, above the cap`);
  t.equal(drawn, 300, 'the graph draws 300 of them');

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warn') problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
  await page.setViewport({ width: 1400, height: 1000 });
  await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
  const counts = await page.evaluate(() => ({
    nodes: [...document.querySelectorAll('#graph svg g.node title')].map((x) => x.textContent ?? ''),
    edges: [...document.querySelectorAll('#graph svg g.edge title')].map((x) => x.textContent ?? ''),
    cells: document.querySelectorAll('table.hm td').length,
  }));
  t.equal(counts.nodes.length, 21, 'a graph node per namespace, and the outside');
  t.ok(counts.nodes.includes('ns07/*'), 'namespaces are the nodes');
  t.equal(counts.edges.length, 300, '300 edges drawn');
  // The heaviest stand for 3 x 3 pod pairs: between two namespaces (within one: 3 x 2, outside: 3).
  t.ok(counts.edges.every((e) => /^ns\d\d\/\*->ns\d\d\/\*$/.test(e) && e.slice(0, 4) !== e.slice(8, 12)), 'only namespace-to-namespace edges, the heaviest');
  t.equal(counts.cells, 21 * 21, 'the matrix keeps every pair');
  const ids = await page.evaluate(() => (JSON.parse(document.getElementById('report-data')!.textContent!) as { endpoints: string[] }).endpoints);
  const i = ids.indexOf('ns03/*'), j = ids.indexOf('ns11/*');
  await page.click(`table.hm td[data-i="${i}"][data-j="${j}"]`);
  const cell = await page.$eval('#explain', (e) => e.textContent ?? '');
  t.match(cell, /^ns03\/\* => ns11\/\*: 9 allowed pair\(s\) between their pods and groups\n {2}ns03\/p0 => ns11\/p0 : all\n/, 'the cell lists the pairs it merges');
  const handle = await page.evaluateHandle((title: string) => [...document.querySelectorAll('#graph g.edge')].find((g) => g.querySelector('title')?.textContent === title)?.querySelector('path'), counts.edges[0]!);
  // 300 edges overlap: a mouse click at the path's centre may land on another edge, so the
  // click event goes to this one's path (the handler the page installs is what is tested).
  t.ok(handle.asElement(), 'the heaviest edge is drawn');
  await page.evaluate((el) => (el as Element).dispatchEvent(new MouseEvent('click', { bubbles: true })), handle);
  const edgeText = await page.$eval('#explain', (e) => e.textContent ?? '');
  t.match(edgeText, new RegExp(`^${counts.edges[0]!.replace('->', ' => ').replace(/[*/]/g, '\\$&')} : all\n`), 'a drawn edge shows its pairs');
  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'test-output', 'report-namespaces.png'), fullPage: true });
  t.same(problems, [], 'no console errors or page errors');
});
