// `palisade agent` flag combinations checked before anything starts (parseAgentArgs, in process:
// nothing here binds a queue, touches iptables or opens a socket). Each refused command line is
// one CliError naming the flag; the ones next to it are accepted.

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from '../../src/cli/args.ts';
import { parseAgentArgs } from '../../src/cli/commands/agent.ts';

const dir = mkdtempSync(join(tmpdir(), 'palisade-agent-args-'));
writeFileSync(join(dir, 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n');
const base = ['--node', 'n1', '--manifests', join(dir, 'ns.yaml')];

/** The error a command line gets, or undefined when it is accepted. */
function errorOf(extra: string[]): string | undefined {
  try {
    parseAgentArgs([...base, ...extra], {});
    return undefined;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    return e.message;
  }
}

t.test('queue numbers: the judge\'s queues N..N+K-1 and the DNS answers\' queue N+K all fit in 0-65535', async (t) => {
  const cases: [string[], RegExp | undefined][] = [
    [['--queue', '65534', '--queues', '1'], undefined],
    [['--queue', '65533', '--queues', '2'], undefined],
    // N+K is the DNS queue (enforce/dns-rules.ts dnsQueue), bound by every nfqueue agent.
    [['--queue', '65535', '--queues', '1'], /^--queue 65535 with --queues 1 goes past queue 65535: queue 65536, after the judge's, takes the DNS answers$/],
    [['--queue', '65534', '--queues', '2'], /^--queue 65534 with --queues 2 goes past queue 65535: queue 65536/],
    [['--queue', '65472', '--queues', '64'], /^--queue 65472 with --queues 64 goes past queue 65535: /],
    [['--queue', '65471', '--queues', '64'], undefined],
  ];
  for (const [extra, want] of cases) {
    const err = errorOf(extra);
    if (want) t.match(err, want, extra.join(' '));
    else t.equal(err, undefined, `${extra.join(' ')} is accepted`);
  }
});
t.test('--health and --metrics cannot share a port on an overlapping address', async (t) => {
  const cases: [string[], RegExp | undefined][] = [
    [['--health', '9000', '--metrics', '9001'], undefined],
    [['--health', '127.0.0.1:9000', '--metrics', '10.0.0.1:9000'], undefined],
    [['--health', '0', '--metrics', '0'], undefined], // each gets a port of its own from the kernel
    [['--health', '[::1]:9000', '--metrics', '127.0.0.1:9000'], undefined],
    [['--health', '9000', '--metrics', '9000'], /^--metrics 9000: .*--health 9000/],
    [['--health', '127.0.0.1:9000', '--metrics', '9000'], /^--metrics 9000: .*--health 127\.0\.0\.1:9000/],
    // The unspecified address listens on every address of its family (and :: on IPv4 too).
    [['--health', '0.0.0.0:9000', '--metrics', '127.0.0.1:9000'], /^--metrics 127\.0\.0\.1:9000: /],
    [['--health', '127.0.0.1:9000', '--metrics', '[::]:9000'], /^--metrics \[::\]:9000: /],
  ];
  for (const [extra, want] of cases) {
    const err = errorOf(extra);
    if (want) t.match(err, want, extra.join(' '));
    else t.equal(err, undefined, `${extra.join(' ')} is accepted`);
  }
});

// `--status-file="$STATUS_FILE"` with the variable unset: an empty value read as "none", so the
// agent ran without the file (or log, or with the in-cluster account) and nothing said so.
t.test('a file flag given an empty value is refused, not read as absent', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--status-file='], /^--status-file needs a file path, got an empty value$/],
    [['--status-file', ''], /^--status-file needs a file path, got an empty value$/],
    [['--verdict-log='], /^--verdict-log needs stdout or a file path, got an empty value$/],
    [['--kubeconfig=', '--source', 'kube'], /^--kubeconfig needs a file path, got an empty value$/],
  ];
  for (const [extra, want] of cases) {
    const argv = extra.includes('kube') ? ['--node', 'n1', ...extra] : [...base, ...extra];
    let err: string | undefined;
    try {
      parseAgentArgs(argv, {});
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      err = e.message;
    }
    t.match(err, want, JSON.stringify(extra));
  }
  t.equal(errorOf(['--status-file', join(dir, 'status.json'), '--verdict-log', 'stdout']), undefined, 'given values are accepted');
});

// TUN: the DNS learner's device is routed by a mark of its own (DEFAULT_DNS_DIVERT_MARK, not a
// flag). --mark or --tun-mark sharing its bit was accepted: diverted connections would be routed
// to the DNS device instead of the judge, or DNS answers read as allowed traffic.
t.test('TUN: --mark and --tun-mark cannot share bits with each other or the DNS device\'s mark', async (t) => {
  const cases: [string[], RegExp | undefined][] = [
    [['--backend', 'tun'], undefined],
    [['--backend', 'tun', '--mark', '0x1000000', '--tun-mark', '0x10000000'], undefined],
    [['--backend', 'tun', '--mark', '0x6000000'], /^--mark and --tun-mark must not share bits/],
    [['--backend', 'tun', '--tun-mark', '0x8000000'], /^--tun-mark 0x8000000 shares bits with 0x8000000, the mark that routes DNS answers to the DNS learner's device/],
    [['--backend', 'tun', '--mark', '0xa000000', '--tun-mark', '0x4000000'], /^--mark 0xa000000 shares bits with 0x8000000, the mark that routes DNS answers/],
    // NFQUEUE: no device, no DNS mark; --tun-mark is not used.
    [['--backend', 'nfqueue', '--mark', '0x8000000'], undefined],
  ];
  for (const [extra, want] of cases) {
    const err = errorOf(extra);
    if (want) t.match(err, want, extra.join(' '));
    else t.equal(err, undefined, `${extra.join(' ')} is accepted`);
  }
});

// A flag of one backend, source or feature given where that is not in use was accepted and
// ignored: `--tun-name` with nfqueue, `--queue` with tun, `--kubeconfig` with a manifests folder,
// `--rescan-ms` with the API server, cache flags with no cache. The user believed it took
// effect. Each cell below is written out by hand (not read from the agent's table), so a wrong
// entry there fails here: 'ok' accepted silently, 'warn' accepted with a warning naming the flag,
// 'error' refused with one line naming the flag and the one that rules it out.
t.test('every backend flag on every backend: accepted, warned about or refused', async (t) => {
  type Cell = 'ok' | 'warn' | 'error';
  const rows: [string[], { nfqueue: Cell; tun: Cell }, RegExp?][] = [
    [['--queue', '3'], { nfqueue: 'ok', tun: 'error' }, /^--queue is for --backend nfqueue, not --backend tun$/],
    [['--queues', '2'], { nfqueue: 'ok', tun: 'error' }, /^--queues is for --backend nfqueue, not --backend tun$/],
    [['--verdict-cache'], { nfqueue: 'ok', tun: 'error' }, /^--verdict-cache is for --backend nfqueue, not --backend tun$/],
    [['--kernel-admit'], { nfqueue: 'ok', tun: 'error' }, /^--kernel-admit is for --backend nfqueue, not --backend tun$/],
    // Turning off what the TUN backend does not have changes nothing: a warning, not a refusal.
    [['--no-verdict-cache'], { nfqueue: 'ok', tun: 'warn' }, /^--no-verdict-cache changes nothing: it is for --backend nfqueue, not --backend tun$/],
    [['--no-kernel-admit'], { nfqueue: 'ok', tun: 'warn' }, /^--no-kernel-admit changes nothing: it is for --backend nfqueue, not --backend tun$/],
    [['--verdict-cache=false'], { nfqueue: 'ok', tun: 'warn' }, /^--no-verdict-cache changes nothing/],
    [['--no-verdict-cache=false'], { nfqueue: 'ok', tun: 'error' }, /^--verdict-cache is for --backend nfqueue, not --backend tun$/],
    [['--verdict-cache-s', '10'], { nfqueue: 'ok', tun: 'error' }, /^--verdict-cache-s is for the verdict cache, which --backend tun does not have$/],
    [['--verdict-cache-read-ms', '500'], { nfqueue: 'ok', tun: 'error' }, /^--verdict-cache-read-ms is for the verdict cache, which --backend tun does not have$/],
    [['--tun-name', 'pal1'], { nfqueue: 'error', tun: 'ok' }, /^--tun-name is for --backend tun, not --backend nfqueue$/],
    [['--tun-mark', '0x10000000'], { nfqueue: 'error', tun: 'ok' }, /^--tun-mark is for --backend tun, not --backend nfqueue$/],
    [['--tun-table', '7000'], { nfqueue: 'error', tun: 'ok' }, /^--tun-table is for --backend tun, not --backend nfqueue$/],
    // Flags of every backend.
    [['--fail-open'], { nfqueue: 'ok', tun: 'ok' }],
    [['--mark', '0x1000000'], { nfqueue: 'ok', tun: 'ok' }],
    [['--queue-all'], { nfqueue: 'ok', tun: 'ok' }],
    [['--dns-min-ttl', '5', '--dns-max-ttl', '60', '--dns-records-per-pod', '10', '--dns-records', '100', '--dns-servers', '10.96.0.10'], { nfqueue: 'ok', tun: 'ok' }],
  ];
  for (const [extra, cells, words] of rows) {
    for (const backend of ['nfqueue', 'tun'] as const) {
      const what = `--backend ${backend} ${extra.join(' ')}`;
      const r = outcomeOf(['--backend', backend, ...extra]);
      t.equal(r.cell, cells[backend], what);
      if (r.cell !== 'ok' && words) t.match(r.text, words, `${what}: the words`);
    }
  }
  // The backend left out is nfqueue, and the error says it is the default.
  t.match(outcomeOf(['--tun-name', 'pal1']).text, /^--tun-name is for --backend tun, not --backend nfqueue \(the default\)$/);
});

t.test('every source flag with every source: accepted or refused', async (t) => {
  type Cell = 'ok' | 'error';
  const path = join(dir, 'ns.yaml');
  const rows: [string[], { files: Cell; kube: Cell }, RegExp][] = [
    [['--manifests', path], { files: 'ok', kube: 'error' }, /^--manifests is for --source files, not --source kube$/],
    [['--rescan-ms', '200'], { files: 'ok', kube: 'error' }, /^--rescan-ms is for --source files, not --source kube$/],
    [['--kubeconfig', join(dir, 'kubeconfig')], { files: 'error', kube: 'ok' }, /^--kubeconfig is for --source kube, not --source files$/],
  ];
  for (const [extra, cells, words] of rows) {
    for (const source of ['files', 'kube'] as const) {
      // The files source needs its --manifests; the flag under test is the other one.
      const argv = ['--node', 'n1', '--source', source, ...(source === 'files' && extra[0] !== '--manifests' ? ['--manifests', path] : []), ...extra];
      const r = outcomeOf(argv, false);
      t.equal(r.cell, cells[source], argv.join(' '));
      if (r.cell === 'error') t.match(r.text, words, `${argv.join(' ')}: the words`);
    }
  }
  t.match(outcomeOf(['--node', 'n1', '--manifests', path, '--kubeconfig', 'k'], false).text, /^--kubeconfig is for --source kube, not --source files \(the default\)$/);
});

t.test('flags of a feature that is off: refused, naming the flag that turns it off', async (t) => {
  const cases: [string[], RegExp | undefined][] = [
    [['--no-verdict-cache', '--verdict-cache-s', '10'], /^--verdict-cache-s is for the verdict cache, which --no-verdict-cache turns off$/],
    [['--no-verdict-cache', '--verdict-cache-read-ms', '500'], /^--verdict-cache-read-ms is for the verdict cache, which --no-verdict-cache turns off$/],
    [['--verdict-cache', '--verdict-cache-s', '10'], undefined],
    [['--log-allowed'], /^--log-allowed is for the verdict log, which is off without --verdict-log$/],
    [['--log-allowed', '--verdict-log', 'stdout'], undefined],
    [['--verdict-log-max-mb', '5'], /^--verdict-log-max-mb is for a --verdict-log file, which is off without --verdict-log$/],
    [['--verdict-log-max-mb', '5', '--verdict-log', 'stdout'], /^--verdict-log-max-mb is for a --verdict-log file, not --verdict-log stdout$/],
    [['--verdict-log-max-mb', '5', '--verdict-log', join(dir, 'v.log')], undefined],
    [['--no-source-guard', '--source-guard-layout', 'nft'], /^--source-guard-layout is for the source guard, which --no-source-guard turns off$/],
    [['--source-guard-layout', 'nft'], undefined],
  ];
  for (const [extra, want] of cases) {
    const r = outcomeOf(extra);
    if (want) {
      t.equal(r.cell, 'error', extra.join(' '));
      t.match(r.text, want, `${extra.join(' ')}: the words`);
    } else t.equal(r.cell, 'ok', `${extra.join(' ')} is accepted`);
  }
});

/** What parseAgentArgs makes of a command line: refused (with its message), warned about, or fine. */
function outcomeOf(argv: string[], withBase = true): { cell: 'ok' | 'warn' | 'error'; text: string } {
  try {
    const inv = parseAgentArgs(withBase ? [...base, ...argv] : argv, {});
    if (inv === 'help') throw new Error('help');
    return inv.warnings.length > 0 ? { cell: 'warn', text: inv.warnings.join('\n') } : { cell: 'ok', text: '' };
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    return { cell: 'error', text: e.message };
  }
}
