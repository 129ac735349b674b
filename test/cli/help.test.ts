// How a new user finds their way: `palisade help`, `palisade help CMD`, `palisade CMD --help`,
// and `palisade` alone. Help asked for goes to stdout with exit 0; usage shown because the
// command line was wrong goes to stderr with exit 2, so a script's stdout never holds it.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './run-cli.ts';

// The commands that only read their input (demo, lab, agent and bench are left out: they are
// not run by the CLI tests).
const COMMANDS = ['verify', 'explain', 'matrix', 'connlist', 'diff', 'lint', 'report', 'dns', 'logs'];

t.test('`palisade help CMD` prints what `palisade CMD --help` prints', async (t) => {
  for (const cmd of COMMANDS) {
    const own = runCli([cmd, '--help']);
    t.equal(own.code, 0, `${cmd} --help: exit 0`);
    t.match(own.stdout, new RegExp(`^usage: palisade ${cmd} `), `${cmd} --help: its usage`);
    const viaHelp = runCli(['help', cmd]);
    t.equal(viaHelp.code, 0, `help ${cmd}: exit 0`);
    t.equal(viaHelp.stdout, own.stdout, `help ${cmd}: the command's own help`);
    t.equal(viaHelp.stderr, '', `help ${cmd}: nothing on stderr`);
  }
});

t.test('help for a command that does not exist is a usage error', async (t) => {
  for (const name of ['nope', 'constructor']) {
    const r = runCli(['help', name]);
    t.equal(r.code, 2, `help ${name}: exit 2`);
    t.match(r.stderr, new RegExp(`^palisade: unknown command "${name}"`), `help ${name}: says so`);
    t.equal(r.stdout, '', `help ${name}: nothing on stdout`);
  }
});

t.test('the command list: on stdout when asked for, on stderr when no command was given', async (t) => {
  const cases: [string[], number, 'stdout' | 'stderr'][] = [
    [['help'], 0, 'stdout'],
    [['--help'], 0, 'stdout'],
    [['-h'], 0, 'stdout'],
    [[], 2, 'stderr'],
  ];
  for (const [args, code, stream] of cases) {
    const r = runCli(args);
    const name = `palisade ${args.join(' ')}`.trim();
    t.equal(r.code, code, `${name}: exit ${code}`);
    t.match(r[stream], /^usage: palisade <command>/, `${name}: the command list on ${stream}`);
    t.equal(r[stream === 'stdout' ? 'stderr' : 'stdout'], '', `${name}: nothing on the other stream`);
  }
});

t.test('each usage line offers exactly the -o values the command takes', async (t) => {
  // The values taken are read from the command's own refusal of a bad one.
  for (const cmd of ['verify', 'explain', 'connlist', 'diff', 'lint', 'dns']) {
    const refusal = runCli([cmd, '-o', 'bogus']);
    const taken = /-o must be (?:one of )?(.*), got "bogus"/.exec(refusal.stderr)?.[1]?.split(/, | or /);
    t.ok(taken && taken.length > 1, `${cmd}: the refusal lists the values (${refusal.stderr.trim()})`);
    const firstLine = runCli([cmd, '--help']).stdout.split('\n')[0]!;
    const offered = /-o ([a-z|]+)/.exec(firstLine)?.[1]?.split('|');
    t.same([...(offered ?? [])].sort(), [...(taken ?? [])].sort(), `${cmd}: usage offers ${offered?.join('|')}`);
  }
});

t.test('a command given nothing: what is missing, and where its flags are listed', async (t) => {
  // A new user's first try is `palisade verify`; one missing flag at a time would take as many
  // tries as the command has required flags.
  for (const cmd of COMMANDS) {
    const r = runCli([cmd]);
    t.equal(r.code, 2, `${cmd}: exit 2`);
    t.match(r.stderr, new RegExp(`^palisade ${cmd}: .*required.*\nRun \`palisade ${cmd} --help\` for its flags\\.\n$`), `${cmd}: the missing flag, then the pointer`);
    t.equal(r.stdout, '', `${cmd}: nothing on stdout`);
  }
  // Given some flags, the error is the one line it always was.
  const r = runCli(['matrix', '--port', '80']);
  t.equal(r.stderr, 'palisade matrix: --manifests PATH... is required (files or folders of YAML/JSON), or --kubeconfig FILE for a live cluster\n');
});

t.test('`palisade --version` and `palisade version`: the package version and Node\'s, exit 0', async (t) => {
  // The version is the one package.json declares (what `npm view`, the image tag and a bug
  // report go by), not a copy kept in the code.
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  t.match(pkg.version, /^\d+\.\d+\.\d+/, `package.json has a version (${pkg.version})`);
  for (const args of [['--version'], ['version']]) {
    const r = runCli(args);
    const name = `palisade ${args.join(' ')}`;
    t.equal(r.code, 0, `${name}: exit 0`);
    t.equal(r.stdout, `palisade ${pkg.version} (Node ${process.version})\n`, `${name}: both versions on one line`);
    t.equal(r.stderr, '', `${name}: nothing on stderr`);
  }
  t.match(runCli(['--help']).stdout, /^ {2}version +\S/m, '`palisade --help` lists it');
  const help = runCli(['help', 'version']);
  t.equal(help.code, 0, 'help version: exit 0');
  t.match(help.stdout, /^usage: palisade version\b/, 'help version: its usage');
  const extra = runCli(['version', 'now']);
  t.equal(extra.code, 2, 'version with an argument: a usage error');
  t.match(extra.stderr, /^palisade version: unexpected argument "now"/);
});

t.test('every command calls its human format text; verify still takes table, its old name', async (t) => {
  for (const cmd of ['verify', 'explain', 'connlist', 'diff', 'lint', 'dns']) {
    const offered = /-o ([a-z|]+)/.exec(runCli([cmd, '--help']).stdout.split('\n')[0]!)?.[1]?.split('|') ?? [];
    t.ok(offered.includes('text'), `${cmd}: usage offers -o text (${offered.join('|')})`);
  }
  // lab probe (its usage is one line of lab's); -o is checked before the lab is looked for.
  const labProbe = runCli(['lab', '--help']).stdout.split('\n').find((l) => l.includes('lab probe'))!;
  t.match(labProbe, /-o text\|json/, 'lab probe: usage offers -o text');
  t.match(runCli(['lab', 'probe', '--probes', 'p.yaml', '-o', 'yaml']).stderr, /-o must be text or json, got "yaml"/, 'lab probe: -o text or json');
  const demo = join(import.meta.dirname, '..', '..', 'examples');
  const input = ['verify', '--manifests', join(demo, 'demo'), '--probes', join(demo, 'demo-probes.yaml')];
  const plain = runCli(input);
  t.equal(plain.code, 0, `verify with no -o: ${plain.stderr}`);
  t.match(plain.stdout, /^#0  frontend\/web /, 'the default is the text (here a block per probe: the table is wider than 120 columns)');
  for (const output of ['text', 'table']) {
    const r = runCli([...input, '-o', output]);
    t.equal(r.code, 0, `verify -o ${output}: exit 0 (${r.stderr.trim()})`);
    t.equal(r.stdout, plain.stdout, `verify -o ${output}: what verify prints by default`);
  }
});

t.test('the command list names every subcommand of a command with subcommands', async (t) => {
  // `lab status` is how a user finds a lab again; a summary that leaves it out hides it.
  const list = runCli(['help']).stdout;
  for (const cmd of ['lab']) {
    const summary = new RegExp(`^ {2}${cmd} +(.*)$`, 'm').exec(list)?.[1] ?? '';
    const subs = [...new Set([...runCli([cmd, '--help']).stdout.matchAll(new RegExp(`palisade ${cmd} ([a-z]+)`, 'g'))].map((m) => m[1]!))];
    t.ok(subs.length >= 4, `${cmd} --help shows its subcommands (${subs.join(', ')})`);
    for (const sub of subs) t.match(summary, new RegExp(`\\b${sub}\\b`), `the ${cmd} summary names ${sub}`);
  }
});

t.test('`palisade lab` with no subcommand: a usage error, so its usage goes to stderr', async (t) => {
  // As `palisade` alone: stdout stays empty for a script, exit 2; asked for, help is on stdout.
  const bare = runCli(['lab']);
  t.equal(bare.code, 2, 'lab: exit 2');
  t.equal(bare.stdout, '', 'lab: nothing on stdout');
  t.match(bare.stderr, /^usage: palisade lab up /, 'lab: the usage on stderr');
  for (const args of [['lab', '--help'], ['lab', 'help'], ['help', 'lab']]) {
    const r = runCli(args);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0`);
    t.match(r.stdout, /^usage: palisade lab up /, `${args.join(' ')}: the usage on stdout`);
    t.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr`);
  }
});

t.test('an error of a lab subcommand names the subcommand, as its other messages do', async (t) => {
  // `palisade lab probe: 1 probe(s) did not meet their expect` came with `palisade lab: ...` for
  // the same command's bad input. None of these reaches a namespace: each is refused first.
  const cases: [string[], RegExp][] = [
    [['lab', 'up'], /^palisade lab up: --manifests PATH\.\.\. is required/],
    [['lab', 'down', '--name', 'x', '--all'], /^palisade lab down: give --name or --all, not both\n$/],
    [['lab', 'status', 'extra'], /^palisade lab status: unexpected argument "extra"\n$/],
    [['lab', 'probe', '--probes', 'p.yaml', '-o', 'yaml'], /^palisade lab probe: -o must be text or json, got "yaml"\n$/],
    [['lab', 'bogus'], /^palisade lab: unknown subcommand "bogus" \(up, probe, down, status\)\n$/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, re, args.join(' '));
  }
});

t.test('a misspelt command or lab subcommand: the close one is offered, a word close to none gets no guess', async (t) => {
  const cases: [string[], RegExp][] = [
    [['verfy'], /^palisade: unknown command "verfy" \(did you mean verify\?\)\n/],
    [['matirx'], /^palisade: unknown command "matirx" \(did you mean matrix\?\)\n/],
    [['cleanpu'], /^palisade: unknown command "cleanpu" \(did you mean cleanup\?\)\n/],
    [['help', 'explian'], /^palisade: unknown command "explian" \(did you mean explain\?\)\n/],
    [['--verison'], /^palisade: unknown command "--verison" \(did you mean --version\?\)\n/],
    [['nope'], /^palisade: unknown command "nope"\n/],
    [['lab', 'upp'], /^palisade lab: unknown subcommand "upp" \(did you mean up\?\)\n$/],
    [['lab', 'stauts'], /^palisade lab: unknown subcommand "stauts" \(did you mean status\?\)\n$/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, re, args.join(' '));
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
});

t.test('lab probe --help says what each of its number flags does, with the default the code uses', async (t) => {
  // --concurrency was on the usage line alone: what it counts and its default were nowhere.
  const { PROBE_DEFAULTS } = await import('../../src/cli/commands/lab.ts');
  const help = runCli(['lab', '--help']).stdout;
  const cases: [string, RegExp][] = [
    ['--timeout', new RegExp(`--timeout \\(default ${PROBE_DEFAULTS.timeoutMs} ms\\)`)],
    ['--concurrency', new RegExp(`--concurrency N +\\S.*\\(default ${PROBE_DEFAULTS.concurrency}\\b`)],
  ];
  for (const [flag, re] of cases) t.match(help, re, `${flag}: described with its default`);
});

t.test('bench --help: every benchmark, and which run by default as the suite picks them', async (t) => {
  // The header said "all by default" over two benchmarks that run only when named.
  const { BENCH_NAMES } = await import('../../bench/suite.ts');
  const help = runCli(['bench', '--help']).stdout;
  const list = /^Benchmarks(.*):\n([\s\S]*?)\n\n/m.exec(help);
  t.ok(list, 'a list of benchmarks');
  const entries = [...list![2]!.matchAll(/^ {2}([a-z-]+) +([\s\S]*?)(?=\n {2}[a-z-]+ |(?![\s\S]))/gm)].map((m) => ({ name: m[1]!, text: m[2]!.replace(/\s+/g, ' ') }));
  t.same(entries.map((e) => e.name), [...BENCH_NAMES], 'each benchmark the suite knows, in its order');
  const optIn = entries.filter((e) => /only when named/.test(e.text)).map((e) => e.name);
  const header = list![1]!;
  t.notMatch(header, /\ball by default\b/, 'the header does not say all run by default');
  for (const name of optIn) t.match(header, new RegExp(`\\b${name}\\b`), `the header names ${name} as left out by default`);
});

t.test('agent --help: the address forms --health and --metrics take, and where a bare PORT listens', async (t) => {
  // "(PORT, HOST:PORT)" left out where PORT alone listens (loopback, which the README says)
  // and the [IPv6]:PORT form the parser takes.
  const { DEFAULT_LOCAL_HOST, parseLocalAddress } = await import('../../src/agent/local-http.ts');
  const help = runCli(['agent', '--help']).stdout;
  for (const flag of ['health', 'metrics']) {
    // The flag's entry: its line and the lines indented under it.
    const line = (new RegExp(`^ {2}--${flag} ADDR +(.*(?:\\n {4,}.*)*)`, 'm').exec(help)?.[1] ?? '').replace(/\s+/g, ' ');
    t.match(line, new RegExp(`PORT \\(on ${DEFAULT_LOCAL_HOST.replace(/\./g, '\\.')}\\)`), `--${flag}: a bare PORT's host`);
    for (const form of ['HOST:PORT', '[IPv6]:PORT']) t.ok(line.includes(form), `--${flag}: ${form}`);
  }
  t.same(parseLocalAddress('9000', 'x'), { host: DEFAULT_LOCAL_HOST, port: 9000 }, 'PORT alone');
  t.same(parseLocalAddress('[::1]:9000', 'x'), { host: '::1', port: 9000 }, '[IPv6]:PORT');
});
