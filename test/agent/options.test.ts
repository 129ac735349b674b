// agentOptionsError: the agent's option checks, one line naming the `palisade agent` flag; and
// which flags go with which backend, source or feature (AGENT_FLAG_SCOPES).

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_FLAG_SCOPES, agentOptionsError, defaultQueueCount, flagScopeHelp, flagScopeProblems, rulePlan, staticPodRanges, type AgentOptions, type FlagContext } from '../../src/agent/options.ts';

const source = { start: async () => {}, stop: () => {} };
const base: AgentOptions = { source, node: 'n1', backend: 'nfqueue' };

t.test('bad options name their flag', async (t) => {
  const cases: [Partial<AgentOptions>, RegExp][] = [
    [{ node: '' }, /^--node: /],
    [{ podIfaces: ['eth0', 'eth0;x'] }, /^--pod-iface: interface "eth0;x"/],
    [{ podCidrs: ['10.0.0.0/33'] }, /^--pod-cidr: "10.0.0.0\/33" is not a valid CIDR/],
    [{ dns: { servers: ['10.96.0.10', 'kube-dns'] } }, /^--dns-servers: "kube-dns" is not a valid IP address/],
    [{ dns: { servers: ['10.96.0.0/40'] } }, /^--dns-servers: "10.96.0.0\/40" is not a valid CIDR/],
    [{ dns: { servers: [] } }, /^--dns-servers: no address given/],
    [{ queueAll: true, kernelAdmit: true }, /^--kernel-admit needs the judged sets, which --queue-all turns off/],
    [{ logAllowed: true, kernelAdmit: true }, /^--kernel-admit cannot name each admitted connection/],
  ];
  for (const [o, err] of cases) t.match(agentOptionsError({ ...base, ...o }), err, JSON.stringify(o));
});

t.test('good options pass; defaults fill the rule plan', async (t) => {
  t.equal(agentOptionsError({ ...base, podIfaces: ['veth+'], podCidrs: ['10.1.0.0/16', 'fd00::1'], verdictCache: true }), undefined);
  t.equal(agentOptionsError({ ...base, backend: 'tun', logAllowed: true }), undefined);
  // NFQUEUE: one queue per CPU, the verdict cache on (--log-allowed too: what the cache admits is logged aggregated; off with TUN),
  // kernel admission on with it.
  t.same(rulePlan(base), { mode: 'nfqueue', allowMark: 0x2000000, queue: 0, queues: defaultQueueCount(), failOpen: false, tunDevice: undefined, divertMark: undefined, strict: true, verdictCache: true, kernelAdmit: true });
  // Kernel admission follows the cache, and stays off where it cannot be exact or has nothing to
  // stand on: --log-allowed (a line per connection), --queue-all (no judged sets), TUN.
  const admits: [Partial<AgentOptions>, boolean][] = [
    [{}, true], [{ verdictCache: false }, false], [{ logAllowed: true }, false], [{ queueAll: true }, false], [{ backend: 'tun' }, false],
    [{ kernelAdmit: false }, false], [{ verdictCache: false, kernelAdmit: true }, true],
  ];
  for (const [o, on] of admits) t.equal(rulePlan({ ...base, ...o }).kernelAdmit, on, `kernelAdmit with ${JSON.stringify(o)}`);
  t.ok(defaultQueueCount() >= 1 && defaultQueueCount() <= 64, 'between 1 and 64 queues');
  t.equal(rulePlan({ ...base, logAllowed: true }).verdictCache, true);
  t.equal(agentOptionsError({ ...base, verdictCache: true, logAllowed: true }), undefined, 'the cache and --log-allowed go together');
  t.equal(rulePlan({ ...base, verdictCache: false }).verdictCache, false);
  t.equal(rulePlan({ ...base, backend: 'tun' }).verdictCache, false);
  // Nothing of the cache or of kernel admission exists with TUN, whatever the options say (the
  // CLI refuses the flags: flagScopeProblems).
  t.match(rulePlan({ ...base, backend: 'tun', verdictCache: true, kernelAdmit: true }), { verdictCache: false, kernelAdmit: false });
  t.equal(agentOptionsError({ ...base, backend: 'tun', kernelAdmit: true, queueAll: true }), undefined, 'the --queue-all clash is nfqueue\'s');
  t.equal(rulePlan({ ...base, queues: 3 }).queues, 3);
  t.match(rulePlan({ ...base, backend: 'tun' }), { mode: 'tun', tunDevice: 'palisade0', divertMark: 0x4000000 });
  t.same(staticPodRanges({ ...base, podCidrs: ['10.1.0.0/16', 'FD00::1'] }), { v4: ['10.1.0.0/16'], v6: ['fd00::1'] });
});

// Each scoped flag in each setting (a column each): ok (takes effect), warn (changes nothing,
// said) or error (refused). Written by hand, not read from AGENT_FLAG_SCOPES, so a wrong entry
// there fails here; every entry there needs a row here.
t.test('flag x backend, source and feature: each cell', async (t) => {
  const columns: Record<string, FlagContext> = {
    nfqueue: { backend: 'nfqueue', source: 'files', verdictLog: '/v.log' },
    tun: { backend: 'tun', source: 'files', verdictLog: '/v.log' },
    kube: { backend: 'nfqueue', source: 'kube', verdictLog: '/v.log' },
    noCache: { backend: 'nfqueue', source: 'files', noVerdictCache: true, verdictLog: '/v.log' },
    noLog: { backend: 'nfqueue', source: 'files' },
    stdoutLog: { backend: 'nfqueue', source: 'files', verdictLog: 'stdout' },
    noGuard: { backend: 'nfqueue', source: 'files', verdictLog: '/v.log', noSourceGuard: true },
  };
  //                          nfqueue  tun       kube     noCache  noLog    stdoutLog noGuard
  const rows: Record<string, string> = {
    queue:                   'ok      error     ok       ok       ok       ok        ok',
    queues:                  'ok      error     ok       ok       ok       ok        ok',
    'verdict-cache':         'ok      error     ok       ok       ok       ok        ok',
    'no-verdict-cache':      'ok      warn      ok       ok       ok       ok        ok',
    'kernel-admit':          'ok      error     ok       ok       ok       ok        ok',
    'no-kernel-admit':       'ok      warn      ok       ok       ok       ok        ok',
    'verdict-cache-s':       'ok      error     ok       error    ok       ok        ok',
    'verdict-cache-read-ms': 'ok      error     ok       error    ok       ok        ok',
    'tun-name':              'error   ok        error    error    error    error     error',
    'tun-mark':              'error   ok        error    error    error    error     error',
    'tun-table':             'error   ok        error    error    error    error     error',
    manifests:               'ok      ok        error    ok       ok       ok        ok',
    'rescan-ms':             'ok      ok        error    ok       ok       ok        ok',
    kubeconfig:              'error   error     ok       error    error    error     error',
    'log-allowed':           'ok      ok        ok       ok       error    ok        ok',
    'verdict-log-max-mb':    'ok      ok        ok       ok       error    error     ok',
    'source-guard-layout':   'ok      ok        ok       ok       ok       ok        error',
    // Flags of every agent: never refused.
    'fail-open':             'ok      ok        ok       ok       ok       ok        ok',
    mark:                    'ok      ok        ok       ok       ok       ok        ok',
    'queue-all':             'ok      ok        ok       ok       ok       ok        ok',
    'dns-servers':           'ok      ok        ok       ok       ok       ok        ok',
    'dns-max-ttl':           'ok      ok        ok       ok       ok       ok        ok',
  };
  const names = Object.keys(columns);
  for (const [flag, line] of Object.entries(rows)) {
    const want = line.split(/\s+/);
    t.equal(want.length, names.length, `${flag}: a cell per column`);
    names.forEach((col, i) => {
      const r = flagScopeProblems([flag], columns[col]!);
      const got = r.error ? 'error' : r.warnings.length > 0 ? 'warn' : 'ok';
      t.equal(got, want[i], `--${flag} with ${col}`);
      // One line, starting with the flag, and naming the flag that rules it out (--backend,
      // --source, --no-verdict-cache, --verdict-log, --no-source-guard).
      const text = r.error ?? r.warnings[0];
      if (text) t.match(text, new RegExp(`^--${flag} [^\\n]*--(backend|source|no-verdict-cache|verdict-log|no-source-guard)\\b[^\\n]*$`), `--${flag} with ${col}: ${text}`);
    });
  }
  t.same(Object.keys(AGENT_FLAG_SCOPES).filter((f) => !(f in rows)), [], 'every scoped flag has a row');
  // The first refused flag is the error; the harmless ones before it are kept as warnings.
  t.same(flagScopeProblems(['no-kernel-admit', 'queue', 'tun-name'], columns.tun!), { error: '--queue is for --backend nfqueue, not --backend tun', warnings: ['--no-kernel-admit changes nothing: it is for --backend nfqueue, not --backend tun'] });
  t.match(flagScopeProblems(['tun-name'], { ...columns.nfqueue!, defaulted: { backend: true } }).error, /not --backend nfqueue \(the default\)$/);
  // --help's lines name every scoped flag once.
  const help = flagScopeHelp().join('\n');
  for (const f of Object.keys(AGENT_FLAG_SCOPES)) t.equal(help.split(new RegExp(`--${f}(?![\\w-])`)).length - 1, 1, `--help names --${f} once`);
});

// The README's table of the rule says what `--help` prints from AGENT_FLAG_SCOPES, row for row.
t.test('the README lists each scope with the flags the table gives it', async (t) => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const m of readme.matchAll(/^\| ([^|]+) \| ([^|]+) \| [^|]+ \|$/gm)) rows.set(m[1]!.replaceAll('`', ''), m[2]!.replaceAll('`', ''));
  for (const line of flagScopeHelp()) {
    const [what, flags] = line.split(/: (?=--)/);
    t.equal(rows.get(what!), flags, `README row "${what}"`);
  }
});
