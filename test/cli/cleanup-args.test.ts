// `palisade cleanup`'s command line: what each flag combination asks for, and the one-line error
// (exit 2) for the ones it refuses, read without touching the kernel (parseCleanupArgs). The
// removal itself runs in a network namespace: test/enforce/cleanup.test.ts.

import t from 'tap';
import { parseCleanupArgs } from '../../src/cli/commands/cleanup.ts';
import { CliError } from '../../src/cli/args.ts';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from './run-cli.ts';

const ok: [string[], { dryRun: boolean; yes: boolean; force: boolean; tunDevice: string; tunTable: number }][] = [
  [[], { dryRun: false, yes: false, force: false, tunDevice: 'palisade0', tunTable: 7077 }],
  [['--dry-run'], { dryRun: true, yes: false, force: false, tunDevice: 'palisade0', tunTable: 7077 }],
  [['--yes'], { dryRun: false, yes: true, force: false, tunDevice: 'palisade0', tunTable: 7077 }],
  [['-y'], { dryRun: false, yes: true, force: false, tunDevice: 'palisade0', tunTable: 7077 }],
  [['--yes', '--force'], { dryRun: false, yes: true, force: true, tunDevice: 'palisade0', tunTable: 7077 }],
  [['--dry-run', '--yes=false'], { dryRun: true, yes: false, force: false, tunDevice: 'palisade0', tunTable: 7077 }],
  [['--yes', '--tun-name', 'judge1', '--tun-table=9000'], { dryRun: false, yes: true, force: false, tunDevice: 'judge1', tunTable: 9000 }],
  [['--yes', '--tun-table=251'], { dryRun: false, yes: true, force: false, tunDevice: 'palisade0', tunTable: 251 }],
  [['--yes', '--tun-table=256'], { dryRun: false, yes: true, force: false, tunDevice: 'palisade0', tunTable: 256 }],
];

t.test('accepted command lines', async (t) => {
  for (const [argv, want] of ok) {
    const inv = parseCleanupArgs(argv);
    if (inv === 'help') {
      t.fail(`${argv.join(' ')}: help`);
      continue;
    }
    t.same({ dryRun: inv.dryRun, yes: inv.yes, force: inv.force, tunDevice: inv.options.tunDevice, tunTable: inv.options.tunTable }, want, argv.join(' ') || '(no flags)');
  }
  t.equal(parseCleanupArgs(['--help']), 'help');
  t.equal(parseCleanupArgs(['-h', '--yes']), 'help');
});

const bad: [string[], RegExp][] = [
  [['--dry-run', '--yes'], /^--dry-run and --yes contradict each other$/],
  [['-y', '--dry-run'], /^--dry-run and --yes contradict each other$/],
  [['now'], /^unexpected argument "now"$/],
  [['--yess'], /^unknown flag --yess \(did you mean --yes\?\)$/],
  [['--dryrun'], /^unknown flag --dryrun \(did you mean --dry-run\?\)$/],
  [['--tun-name', 'a-name-far-too-long'], /^--tun-name must be 1-15 characters/],
  [['--tun-name', 'x y'], /^--tun-name must be/],
  [['--tun-table', '0'], /^--tun-table must be between 1 and 4294967294, got 0$/],
  [['--tun-table', 'main'], /^--tun-table must be a whole number, got "main"$/],
  [['--tun-table', '254'], /^--tun-table 254: table 254 is the kernel's own \(253 default, 254 main, 255 local\)/],
  [['--tun-table', '255'], /^--tun-table 255: table 255 is the kernel's own/],
  [['--tun-table', '253'], /^--tun-table 253: table 253 is the kernel's own/],
  [['--tun-table', '252'], /^--tun-table 252: table 253 \(the DNS learner's, --tun-table \+ 1\) is the kernel's own/],
  [['--tun-table'], /^flag --tun-table needs a value$/],
  [['--force=maybe'], /^flag --force takes no value/],
];

t.test('refused command lines: one line naming the flag, exit 2', async (t) => {
  for (const [argv, msg] of bad) {
    try {
      parseCleanupArgs(argv);
      t.fail(`${argv.join(' ')}: accepted`);
    } catch (e) {
      t.ok(e instanceof CliError, `${argv.join(' ')}: a CliError`);
      t.match((e as Error).message, msg, argv.join(' '));
      t.equal((e as CliError).exitCode, 2, `${argv.join(' ')}: exit 2`);
    }
  }
});

t.test('the real CLI: help on stdout, a bad flag on stderr with the command named', async (t) => {
  const help = runCli(['cleanup', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: palisade cleanup /);
  t.match(help.stdout, /--yes/);
  const r = runCli(['cleanup', '--dry-run', '--yes']);
  t.equal(r.code, 2);
  t.equal(r.stdout, '');
  t.match(r.stderr, /^palisade cleanup: --dry-run and --yes contradict each other\n/);
  t.match(runCli(['--help']).stdout, /^ {2}cleanup /m, 'listed among the commands');
});

t.test('a user who cannot list the tables is told so, not "nothing to do"', async (t) => {
  // As nobody: iptables cannot read the tables (nothing is changed either way). Without tap's
  // environment, whose loader would write files nobody may not.
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-i', `PATH=${process.env.PATH ?? ''}`, process.execPath, join(import.meta.dirname, '..', '..', 'bin', 'palisade.js'), 'cleanup', '--dry-run'], { encoding: 'utf8', timeout: 120_000 });
  t.notOk(r.error, `setpriv (util-linux) runs: ${r.error?.message ?? ''}`);
  t.equal(r.status, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, /^palisade cleanup: iptables needs root here: run it as root \(or with CAP_NET_ADMIN\) \(iptables-nft: .*\)\n$/);
});
