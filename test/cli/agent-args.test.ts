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
