// The README's figures for defaults and limits against the values the code uses: each row finds
// one sentence of the README (line breaks read as spaces) and compares the number it states
// with the agent's parsed defaults (parseAgentArgs with no flags) or the exported constant.
// A sentence reworded so that its row no longer finds it fails too: the row is then updated
// with the new wording, not dropped.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAgentArgs } from '../../src/cli/commands/agent.ts';
import { kernelTimeout } from '../../src/enforce/verdict-cache.ts';
import { QUIET_DOUBLINGS } from '../../src/enforce/cache-counters.ts';
import { ADMISSION_SLOTS } from '../../src/enforce/cache-admission.ts';
import { WATCH_SILENCE_MS } from '../../src/sources/kube-client.ts';
import { DEFAULT_HEALTH_PORT } from '../../src/agent/health.ts';
import { DEFAULT_METRICS_PORT } from '../../src/agent/metrics.ts';
import { LOCAL_MAX_CONNECTIONS } from '../../src/agent/local-http.ts';
import { COPY_DELAY_MS, COPY_SHARE } from '../../src/agent/wasm-copy.ts';
import { MAX_RANGE } from '../../src/agent/admit-entries.ts';
import { STATUS_FILE_DEFAULTS } from '../../src/agent/status-file.ts';
import { MAX_ANSWERS, MAX_CHAIN } from '../../src/dataplane/dns-parser.ts';
import { DETAIL_LIMIT, LABEL_LIMIT, MAX_PORTS } from '../../src/cli/report/report-data.ts';
import { tmpDir } from './run-cli.ts';

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8').replace(/\s+/g, ' ');

const invocation = parseAgentArgs(['--node', 'n1', '--manifests', tmpDir()], {});
if (invocation === 'help') throw new Error('parseAgentArgs answered help');
const agent = invocation.settings;

/** A number as the README writes it: 65,536 or 65536. */
const num = (s: string) => Number(s.replace(/,/g, ''));

// [what, the sentence with the figure as its one capture group, the value the code uses]
const ROWS: [string, RegExp, number][] = [
  ['verdict cache entry lifetime', /the agent keeps an entry (\d+) s, `--verdict-cache-s`/, agent.verdictCacheSeconds!],
  ['a dead agent\'s cached allows', /plus a quarter \(rounded up\) plus 5 s, (\d+) s by default/, kernelTimeout(agent.verdictCacheSeconds!)],
  ['cache admission table', /one 32-bit hash per slot of a ([\d,]+)-slot table/, ADMISSION_SLOTS],
  ['cache counter reads, quiet', /doubled after each read that found nothing new, up to every (\d+) s/, (agent.verdictCacheReadMs! * 2 ** QUIET_DOUBLINGS) / 1000],
  ['kernel admission interval cap', /of an interval wider than ([\d,]+) ports/, MAX_RANGE],
  ['wasm copy quiet time', /updates have been quiet for (\d+) ms/, COPY_DELAY_MS],
  ['wasm copy spacing', /waiting at least (\d+) times the last copy's time/, COPY_SHARE],
  ['CNAME chain', /CNAME chains up to (\d+) links/, MAX_CHAIN],
  ['answer records read', /Of an answer with over (\d+) records/, MAX_ANSWERS],
  ['--dns-min-ttl', /`--dns-min-ttl` \(default (\d+) s/, agent.dns!.minTtl!],
  ['--dns-max-ttl', /`--dns-max-ttl` \(default (\d+) s\)/, agent.dns!.maxTtl!],
  ['--dns-records-per-pod', /`--dns-records-per-pod` \((\d+)\)/, agent.dns!.perPod!],
  ['--dns-records', /`--dns-records` \((\d+)\) in all/, agent.dns!.total!],
  ['status file rate', /rewritten at most at (\d+) MB\/s on average/, STATUS_FILE_DEFAULTS.bytesPerSecond / 1e6],
  ['status file wait', /S \/ 2 MB\/s, at most (\d+) s/, STATUS_FILE_DEFAULTS.maxDelayMs / 1000],
  ['report: endpoints before namespaces', /up to (\d+) endpoints it shows every endpoint/, DETAIL_LIMIT],
  ['report: edges drawn', /above (\d+) edges the graph draws/, LABEL_LIMIT],
  ['report: ports in the matrix', /a heat map for each of the (\d+) ports/, MAX_PORTS],
  ['verdict log size', /A verdict log file past (\d+) MiB/, agent.verdictLogMaxBytes! / 2 ** 20],
  ['metrics port', /With `--metrics 127\.0\.0\.1:(\d+)`/, DEFAULT_METRICS_PORT],
  ['health port', /Health: `--health 127\.0\.0\.1:(\d+)`/, DEFAULT_HEALTH_PORT],
  ['health and metrics sockets', /metrics endpoints each keep at most (\d+) sockets open/, LOCAL_MAX_CONNECTIONS],
  ['rule watchdog period', /`--rules-check-ms` \(default (\d+)\)/, agent.rulesCheckMs!],
  ['quiet watch', /an answered watch silent for (\d+) s is reopened/, WATCH_SILENCE_MS / 1000],
];

t.test('each default or limit the README states is the one the code uses', async (t) => {
  for (const [what, re, value] of ROWS) {
    const found = [...readme.matchAll(new RegExp(re.source, 'g'))];
    t.equal(found.length, 1, `${what}: the README states it once (${re.source})`);
    if (found.length > 0) t.equal(num(found[0]![1]!), value, `${what}: README says ${found[0]![0]}`);
  }
});

t.test('the kinds the README says manifests are read for are the kinds registry\'s', async (t) => {
  // "Namespace, Pod, Node and NetworkPolicy are read" left out the cluster policy kinds.
  const { KINDS } = await import('../../src/cluster/kinds.ts');
  const sentence = /PATH is a YAML\/JSON file .*?; (.*?) are read, other kinds are ignored with a note/.exec(readme);
  t.ok(sentence, 'the sentence is there');
  const named = [...(sentence?.[1] ?? '').matchAll(/\b([A-Z][A-Za-z]+)\b/g)].map((m) => m[1]!);
  t.same([...new Set(named)].sort(), KINDS.map((k) => k.kind).sort(), `README: ${sentence?.[1]}`);
});
