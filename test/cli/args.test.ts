// The flag parser's helpers: one row per way a flag can be written.

import t from 'tap';
import { CliError, intFlag, onOffFlag, parseArgs } from '../../src/cli/args.ts';

t.test('onOffFlag: an on flag, its --no- twin, =true/=false, and contradictions', async (t) => {
  const spec = { cache: 'bool', 'no-cache': 'bool' } as const;
  // [argv, the setting, or the error]
  const cases: [string[], boolean | undefined | RegExp][] = [
    [[], undefined],
    [['--cache'], true],
    [['--no-cache'], false],
    [['--cache=true'], true],
    [['--cache=false'], false],
    [['--no-cache=false'], true],
    [['--no-cache=true'], false],
    [['--cache=false', '--no-cache'], false],
    [['--cache', '--no-cache=false'], true],
    [['--cache', '--no-cache'], /^--cache and --no-cache contradict each other$/],
    [['--cache=false', '--no-cache=false'], /^--cache and --no-cache contradict each other$/],
  ];
  for (const [argv, want] of cases) {
    const { flags } = parseArgs(argv, spec);
    if (want instanceof RegExp) {
      let err: unknown;
      try {
        onOffFlag(flags, 'cache');
      } catch (e) {
        err = e;
      }
      t.ok(err instanceof CliError && want.test(err.message), `${argv.join(' ')}: ${String(err)}`);
    } else t.equal(onOffFlag(flags, 'cache'), want, argv.join(' ') || '(none)');
  }
});

t.test('parseArgs: only the spec\'s own flags are known, never Object.prototype\'s members', async (t) => {
  const spec = { port: 'string', manifests: 'list', why: 'bool' } as const;
  // [argv, the error]
  const cases: [string[], RegExp][] = [
    [['--__proto__', 'x'], /^unknown flag --__proto__$/],
    [['--constructor', 'x'], /^unknown flag --constructor$/],
    [['--toString'], /^unknown flag --toString$/],
    [['--hasOwnProperty=1'], /^unknown flag --hasOwnProperty$/],
    [['-constructor'], /^unknown flag -constructor$/],
  ];
  for (const [argv, want] of cases) {
    let err: unknown;
    try {
      parseArgs(argv, spec, { '-o': 'output' });
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof CliError && want.test(err.message), `${argv.join(' ')}: ${String(err)}`);
  }
});

t.test('parseArgs: an unknown flag a typo away from a known one says which was meant', async (t) => {
  const spec = { port: 'string', manifests: 'list', family: 'string', probes: 'string', why: 'bool' } as const;
  // [argv, the error]
  const cases: [string[], string][] = [
    [['--manifest', 'a'], 'unknown flag --manifest (did you mean --manifests?)'],
    [['--manifets=a'], 'unknown flag --manifets (did you mean --manifests?)'],
    [['--familly', 'IPv6'], 'unknown flag --familly (did you mean --family?)'],
    [['--prot', '80'], 'unknown flag --prot (did you mean --port?)'],
    [['--bogus'], 'unknown flag --bogus'],
    [['--manifests-dir', 'a'], 'unknown flag --manifests-dir'],
  ];
  for (const [argv, want] of cases) {
    let err: unknown;
    try {
      parseArgs(argv, spec);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof CliError, `${argv.join(' ')}: refused`);
    t.equal((err as Error).message, want, argv.join(' '));
  }
});

t.test('parseArgs: a flag followed by another flag has no value, short flags included', async (t) => {
  const spec = { from: 'string', port: 'string', manifests: 'list', output: 'string', help: 'bool' } as const;
  const aliases = { '-o': 'output', '-h': 'help' };
  // [argv, the flags parsed, or the error]: `--from -o json` must not read "-o" as the pod and
  // then call "json" an unexpected argument.
  const cases: [string[], Record<string, unknown> | RegExp][] = [
    [['--from', '-o', 'json'], /^flag --from needs a value$/],
    [['--manifests', '-o', 'json'], /^flag --manifests needs a value$/],
    [['--manifests', '-h'], /^flag --manifests needs a value$/],
    [['--port', '-o=json'], /^flag --port needs a value$/],
    [['--port', '--from', 'x'], /^flag --port needs a value$/],
    // A value that starts with a dash and is no flag of the command is a value (a negative
    // number, for the range check to name).
    [['--port', '-1'], { port: '-1' }],
    [['--from', '-x'], { from: '-x' }],
    [['--manifests', 'a', 'b', '-o', 'json'], { manifests: ['a', 'b'], output: 'json' }],
  ];
  for (const [argv, want] of cases) {
    let got: unknown;
    try {
      got = parseArgs(argv, spec, aliases).flags;
    } catch (e) {
      got = e;
    }
    if (want instanceof RegExp) t.ok(got instanceof CliError && want.test(got.message), `${argv.join(' ')}: ${String(got)}`);
    else t.same(got, want, argv.join(' '));
  }
});

t.test('intFlag: the value, or an error that quotes what was written', async (t) => {
  // [value, the number, or the error]
  const cases: [string | undefined, number | RegExp][] = [
    ['80', 80],
    ['080', 80],
    ['1', 1],
    ['65535', 65535],
    [undefined, /^--port is required$/],
    ['0', /^--port must be between 1 and 65535, got 0$/],
    ['-1', /^--port must be between 1 and 65535, got -1$/],
    ['70000', /^--port must be between 1 and 65535, got 70000$/],
    ['99999999999999999999999', /^--port must be between 1 and 65535, got 99999999999999999999999$/],
    ['80x', /^--port must be a whole number, got "80x"$/],
    ['', /^--port must be a whole number, got ""$/],
  ];
  for (const [value, want] of cases) {
    let got: number | undefined, err: unknown;
    try {
      got = intFlag(value, 'port', 1, 65535);
    } catch (e) {
      err = e;
    }
    if (want instanceof RegExp) {
      t.ok(err instanceof CliError, `${String(value)}: a CliError`);
      t.match((err as Error | undefined)?.message, want, String(value));
    } else t.equal(got, want, String(value));
  }
});

// A string flag given twice is an error; a bool given twice with opposite values
// (`--keep-rules ... --keep-rules=false`, one from an image's entrypoint and one from the
// DaemonSet's args) silently took the last. Said once it is the same value, it is fine.
t.test('parseArgs: a bool flag given twice with opposite values is an error naming it', async (t) => {
  const spec = { 'keep-rules': 'bool', follow: 'bool' } as const;
  const cases: [string[], Record<string, boolean> | RegExp][] = [
    [['--keep-rules', '--keep-rules'], { 'keep-rules': true }],
    [['--keep-rules=false', '--keep-rules=false'], { 'keep-rules': false }],
    [['--follow', '-f'], { follow: true }],
    [['--keep-rules', '--keep-rules=false'], /^flag --keep-rules=false contradicts --keep-rules given before it$/],
    [['--keep-rules=false', '--keep-rules'], /^flag --keep-rules contradicts --keep-rules=false given before it$/],
    [['-f', '--follow=false'], /^flag --follow=false contradicts -f given before it$/],
  ];
  for (const [argv, want] of cases) {
    let got: unknown;
    try {
      got = parseArgs(argv, spec, { '-f': 'follow' }).flags;
    } catch (e) {
      got = e;
    }
    if (want instanceof RegExp) t.ok(got instanceof CliError && want.test(got.message), `${argv.join(' ')}: ${String(got)}`);
    else t.same(got, want, argv.join(' '));
  }
});
