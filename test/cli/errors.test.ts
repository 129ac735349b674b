// Malformed input: one clear line naming the object and field, a non-zero exit, no stack trace.

import t from 'tap';
import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCases } from '../support/conformance-cases.ts';
import { sampleCase } from '../conformance/sample-cases.ts';
import { caseManifestDir, hasStackTrace, runCli, tmpDir } from './run-cli.ts';

// Any case with the 9-pod model (pods x/a and y/a, IPv4 only) will do; 001 is the sample one.
const c = sampleCase('001-') ?? loadCases()[0]!;
const good = caseManifestDir(c, 0);

function check(t: Test, args: string[], code: number, stderr: RegExp, name: string) {
  const r = runCli(args);
  t.equal(r.code, code, `${name}: exit ${code}`);
  t.match(r.stderr, stderr, `${name}: message`);
  t.notOk(hasStackTrace(r.stderr + r.stdout), `${name}: no stack trace`);
  return r;
}

t.test('manifest errors: reported, the rest is still evaluated, exit 1', async (t) => {
  const dir = tmpDir();
  writeFileSync(join(dir, 'bad-policy.yaml'), [
    'apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata: {name: broken, namespace: x}', 'spec:',
    '  podSelector: {}', '  ingress:', '  - from:', '    - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}',
    '    ports:', '    - {port: 70000}', '',
  ].join('\n'));
  const r = check(t, ['matrix', '--manifests', good, dir, '--port', '80'], 1, /NetworkPolicy x\/broken: spec\.ingress\[0\]\.from\[0\]\.ipBlock\.except\[0\]: .*strict subset/, 'invalid policy');
  t.match(r.stderr, /NetworkPolicy x\/broken: spec\.ingress\[0\]\.ports\[0\]\.port: invalid value 70000/);
  // file:line:column of the field (an editor can jump there), the document number as context.
  t.match(r.stderr, /^palisade matrix: error: \S*bad-policy\.yaml:8:44: NetworkPolicy x\/broken: spec\.ingress\[0\]\.from\[0\]\.ipBlock\.except\[0\]: .* \(document 1\)$/m);
  t.match(r.stderr, /^palisade matrix: error: \S*bad-policy\.yaml:10:8: NetworkPolicy x\/broken: spec\.ingress\[0\]\.ports\[0\]\.port: .* \(document 1\)$/m);
  t.match(r.stderr, /^palisade matrix: 1 manifest document\(s\) had errors/m, 'two errors of one document: one document');
  t.match(r.stderr, /left out/);
  t.match(r.stdout, /^- *\tx\/a/, 'the matrix is still printed');

  writeFileSync(join(dir, 'bad-policy.yaml'), 'kind: NetworkPolicy\nmetadata:\n  name: x\n   namespace: y\n');
  check(t, ['matrix', '--manifests', good, dir, '--port', '80'], 1, /^palisade matrix: error: \S*bad-policy\.yaml:\d+:\d+: bad YAML: document 1: /m, 'bad YAML');

  check(t, ['verify', '--manifests', join(dir, 'nope.yaml'), '--probes', join(dir, 'bad-policy.yaml')], 2, /./, 'missing manifests + bad probes');
});

t.test('a YAML mistake: one line for it, starting with file:line:column, not every error it causes', async (t) => {
  // file:line:column first, as for an object's field, so an editor or terminal can jump there.
  // The parser goes on past a mistake and reports what follows from it too (an unclosed "[" is
  // also an unclosed "{" one column on); the first one is what to fix.
  const dir = tmpDir();
  const cases: [string, string, RegExp][] = [
    ['unclosed list', 'kind: Pod\nmetadata:\n  name: a\n  labels: {app: [1,2}\n', /bad-yaml\.yaml:4:\d+: bad YAML: document 1: .*; 1 more error after it in the document, probably caused by it$/m],
    ['bad indentation', 'kind: NetworkPolicy\nmetadata:\n  name: x\n   namespace: y\n', /bad-yaml\.yaml:[34]:\d+: bad YAML: document 1: .*; 1 more error after it in the document, probably caused by it$/m],
    // One error alone: no count.
    ['a tab for indentation', 'kind: Pod\nmetadata:\n\tname: a\n', /bad-yaml\.yaml:3:1: bad YAML: document 1: Tabs are not allowed as indentation$/m],
    // Found only when the document is turned into data: they crashed the command.
    ['an alias to no anchor', 'kind: Pod\nmetadata: {name: a, namespace: x, labels: *common}\n', /bad-yaml\.yaml:2:43: bad YAML: document 1: .*alias.*common/m],
    ['an alias bomb', 'kind: Pod\na: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n', /bad-yaml\.yaml:\d+:\d+: bad YAML: document 1: .*alias/im],
  ];
  for (const [what, text, re] of cases) {
    writeFileSync(join(dir, 'bad-yaml.yaml'), text);
    const r = check(t, ['lint', '--manifests', good, dir], 1, re, what);
    t.equal(r.stderr.split('\n').filter((l) => /bad YAML/.test(l)).length, 1, `${what}: one line`);
  }
});

t.test('a mapping key that is a list: the field error, not a Node.js process warning', async (t) => {
  // The YAML reader turns such a key into text and warns through process.emitWarning, a
  // "(node:PID) Warning:" line that names neither the command nor the file.
  const dir = tmpDir();
  writeFileSync(join(dir, 'pol.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x, labels: {? [a] : b}}\nspec: {podSelector: {}}\n');
  const r = check(t, ['lint', '--manifests', dir], 1, /NetworkPolicy x\/p: metadata\.labels\[\[ a \]\]: invalid label key/, 'list key');
  t.notMatch(r.stderr, /^\(node:\d+\)|Warning:/m, 'no process warning');
});

t.test('a metadata field of the wrong type: one error saying its type, not also "required"', async (t) => {
  const dir = tmpDir();
  const pol = (metadata: string) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: ${metadata}\nspec: {podSelector: {}}\n`;
  // [metadata, the field, the one error it must get]
  const cases: [string, string, RegExp][] = [
    ['{name: 5, namespace: x}', 'metadata.name', /metadata\.name: must be a string, got number 5/],
    ['{name: p, namespace: [x]}', 'metadata.namespace', /metadata\.namespace: must be a string, got a list/],
    ['"p"', 'metadata', /metadata: must be an object, got string "p"/],
    // Absent or empty: required, once.
    ['{namespace: x}', 'metadata.name', /metadata\.name: required/],
    ['{name: "", namespace: x}', 'metadata.name', /metadata\.name: required/],
    ['{name: p}', 'metadata.namespace', /metadata\.namespace: required/],
  ];
  for (const [metadata, field, want] of cases) {
    writeFileSync(join(dir, 'pol.yaml'), pol(metadata));
    const r = check(t, ['lint', '--manifests', dir], 1, want, `metadata: ${metadata}`);
    const about = r.stderr.split('\n').filter((l) => l.includes(`: ${field}: `));
    t.equal(about.length, 1, `metadata: ${metadata}: one error about ${field} (${about.join(' | ')})`);
  }
});

t.test('a --manifests path that does not exist is a bad flag: one line, exit 2', async (t) => {
  const dir = tmpDir();
  const p = join(dir, 'ok-probes.yaml');
  writeFileSync(p, '- {from: x/a, to: y/a, port: 80}\n');
  const nope = join(dir, 'nope');
  const commands: [string, string[]][] = [
    ['verify', ['--probes', p]],
    ['explain', ['--from', 'x/a', '--to', 'y/a', '--port', '80']],
    ['matrix', ['--port', '80']],
    ['lint', []],
    // Found before the agent touches iptables.
    ['agent', ['--node', 'n1', '--source', 'files']],
  ];
  for (const [cmd, rest] of commands) {
    const r = check(t, [cmd, '--manifests', good, nope, ...rest], 2, new RegExp(`^palisade ${cmd}: --manifests \\S*nope: no such file or directory\n$`), `${cmd} with a missing path`);
    t.equal(r.stdout, '', `${cmd}: nothing judged`);
  }
});

t.test('a --manifests folder with no manifest file in it: a warning naming it, the rest is read', async (t) => {
  // A folder of Helm templates (*.tpl) or an empty checkout reads as an empty cluster; a user
  // would otherwise get "no findings" or an empty listing and take it for an answer.
  const empty = tmpDir();
  const other = tmpDir();
  writeFileSync(join(other, 'policy.yaml.tpl'), 'kind: NetworkPolicy\n');
  const cases: [string, string[]][] = [
    ['lint', []],
    ['connlist', []],
    ['matrix', ['--port', '80']],
    ['explain', ['--from', 'x/a', '--to', 'y/a', '--port', '80']],
  ];
  for (const [cmd, rest] of cases) {
    const without = runCli([cmd, '--manifests', good, ...rest]);
    t.notMatch(without.stderr, /nothing was read/, `${cmd}: a folder with manifests: no warning`);
    for (const dir of [empty, other]) {
      const r = runCli([cmd, '--manifests', good, dir, ...rest]);
      t.equal(r.code, without.code, `${cmd}: exit status as without the folder`);
      t.equal(r.stdout, without.stdout, `${cmd}: the same answer as without the folder`);
      t.match(r.stderr, new RegExp(`^palisade ${cmd}: warning: ${dir}: no \\.yaml, \\.yml or \\.json file in this folder, nothing was read from it$`, 'm'), `${cmd}: the folder is named`);
      t.notOk(hasStackTrace(r.stderr), `${cmd}: no stack trace`);
    }
  }
});

t.test('a folder where a file goes: one line saying so, exit 2', async (t) => {
  // Node's own words ("EISDIR: illegal operation on a directory, read") are not a new user's.
  const dir = tmpDir();
  const cases: [string[], string][] = [
    [['verify', '--manifests', good, '--probes', dir], `palisade verify: ${dir}: is a folder, not a file`],
    [['explain', '--manifests', good, '--from', 'x/a', '--to', 'y/a', '--port', '80', '--dns-status', dir], `palisade explain: --dns-status ${dir}: is a folder, not a file`],
    [['dns', '--status-file', dir], `palisade dns: --status-file ${dir}: is a folder, not a file`],
    [['report', '--manifests', good, '-o', dir], `palisade report: -o ${dir}: is a folder, not a file`],
    [['logs', '--file', dir], `palisade logs: --file ${dir}: is a folder, not a file`],
  ];
  for (const [args, line] of cases) {
    const r = check(t, args, 2, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\n$`), args[0]!);
    t.equal(r.stdout, '', `${args[0]}: nothing on stdout`);
  }
});

t.test('a path given without its flag: one line that names the flag, exit 2', async (t) => {
  // A new user's first try is often `palisade matrix ./policies`: each command says where the
  // path goes, and judges nothing.
  const cases: [string, string][] = [
    ['verify', '--manifests'], ['explain', '--manifests'], ['matrix', '--manifests'], ['connlist', '--manifests'],
    ['lint', '--manifests'], ['report', '--manifests'], ['diff', '--before and --after'], ['dns', '--status-file'],
  ];
  for (const [cmd, flag] of cases) {
    const r = check(t, [cmd, good], 2, new RegExp(`^palisade ${cmd}: unexpected argument "\\S+" \\(paths go after ${flag}\\)\n$`), `${cmd} with a bare path`);
    t.equal(r.stdout, '', `${cmd}: nothing printed on stdout`);
  }
});

t.test('probe file errors name the probe index and field', async (t) => {
  const dir = tmpDir();
  const p = join(dir, 'probes.yaml');
  const cases: [string, RegExp][] = [
    ['- {from: x/a, to: y/a, port: 70000}', /probe\[0\]\.port: must be between 1 and 65535, got 70000/],
    ['- {from: x/a, to: y/a, port: 80}\n- {from: x/a, to: y/a}', /probe\[1\]\.port: required \(a port number\)/],
    ['- {from: x/a, to: y/a, port: 80, protocol: ICMP}', /probe\[0\]\.protocol: must be TCP, UDP or SCTP/],
    ['- {from: x/a, to: y/a, port: 80, family: IPv5}', /probe\[0\]\.family: must be IPv4 or IPv6/],
    ['- {from: x/a, to: y/a, port: 80, family: IPv6}', /probe\[0\]\.from: pod x\/a has no IPv6 address/],
    ['- {from: x/a, to: "fd00::1", port: 80}', /probe\[0\]\.from: pod x\/a has no IPv6 address/],
    ['- {from: x/a, to: q/q, port: 80}', /probe\[0\]\.to: no pod q\/q in the input/],
    ['- {from: nonsense, to: y/a, port: 80}', /probe\[0\]\.from: "nonsense" is neither/],
    ['- {from: x/a, to: y/a, port: 80, porta: 1}', /probe\[0\]\.porta: unknown field/],
    ['- {from: x/a, to: y/a, port: 80, expect: yes}', /probe\[0\]\.expect: must be allow or deny/],
    // Numbers JSON has no text for are named as they are, not as null.
    ['- {from: x/a, to: y/a, port: 1e400}', /probe\[0\]\.port: must be a port number, got Infinity\n/],
    ['- {from: x/a, to: y/a, port: .nan}', /probe\[0\]\.port: must be a port number, got NaN\n/],
    ['- {from: x/a, to: y/a, port: 80, protocol: -.inf}', /probe\[0\]\.protocol: must be TCP, UDP or SCTP, got -Infinity\n/],
    ['- {from: x/a, to: y/a, port: null}', /probe\[0\]\.port: must be a port number, got null\n/],
    ['from: x/a', /must be a list of probes/],
    ['- [x/a, y/a]', /probe\[0\]: must be a mapping/],
    ['- {from: x/a, to: y/a, port: 80', /probes\.yaml:\d+:\d+: bad YAML\/JSON: /],
    // The reader's own words name its API (parseAllDocuments), nothing a user can act on.
    ['- {from: x/a, to: y/a, port: 80}\n---\n- {from: x/a, to: y/a, port: 81}', /probes\.yaml:2:1: bad YAML\/JSON: a second document \(after a --- line\): a probe file is one list of probes\n$/],
  ];
  for (const [text, re] of cases) {
    writeFileSync(p, text + '\n');
    check(t, ['verify', '--manifests', good, '--probes', p], 2, re, text);
  }
});

t.test('a pod that is not there: the message says which pods are', async (t) => {
  // A misspelt pod or namespace: the names to pick from, so the next try is right.
  const dir = tmpDir();
  const p = join(dir, 'probes.yaml');
  const cases: [string, string, RegExp][] = [
    ['x/q', 'y/a', /^palisade (explain: --from|verify: \S+: probe\[0\]\.from): no pod x\/q in the input \(pods of namespace x: a, b, c\)$/m],
    ['x/a', 'q/a', /^palisade (explain: --to|verify: \S+: probe\[0\]\.to): no pod q\/a in the input \(no pod in namespace q; namespaces with pods: x, y, z\)$/m],
  ];
  for (const [from, to, re] of cases) {
    const e = check(t, ['explain', '--manifests', good, '--from', from, '--to', to, '--port', '80'], 2, re, `explain ${from} -> ${to}`);
    t.equal(e.stdout, '', 'explain: nothing printed');
    writeFileSync(p, `- {from: ${from}, to: ${to}, port: 80}\n`);
    const v = check(t, ['verify', '--manifests', good, '--probes', p], 2, re, `verify ${from} -> ${to}`);
    t.equal(v.stdout, '', 'verify: nothing judged');
  }
});

t.test('a pod named without its namespace: the message shows how to write it', async (t) => {
  // `--from web` is a new user's first guess; a bad IP address gets no such hint.
  const dir = tmpDir();
  const p = join(dir, 'probes.yaml');
  const cases: [string, RegExp][] = [
    ['a', /"a" is neither "namespace\/pod" nor an IP address \(a pod is written with its namespace: NAMESPACE\/a\)$/m],
    ['web-7d9f.x', /"web-7d9f\.x" is neither .* \(a pod is written with its namespace: NAMESPACE\/web-7d9f\.x\)$/m],
    // The lab probe's names for its node and outside hosts: not a pod, and said how to write one here.
    ['node', /"node" is neither "namespace\/pod" nor an IP address \(node, node:NAME and ext:NAME are lab probe names; here a node or outside host is its IP address\)$/m],
    ['node:n1', /"node:n1" is neither .* \(node, node:NAME and ext:NAME are lab probe names; here a node or outside host is its IP address\)$/m],
    ['ext:web', /"ext:web" is neither .* \(node, node:NAME and ext:NAME are lab probe names; here a node or outside host is its IP address\)$/m],
    ['10.0.0.300', /"10\.0\.0\.300" is neither "namespace\/pod" nor an IP address$/m],
    ['fd00::zz', /"fd00::zz" is neither "namespace\/pod" nor an IP address$/m],
  ];
  for (const [from, re] of cases) {
    check(t, ['explain', '--manifests', good, '--from', from, '--to', 'y/a', '--port', '80'], 2, re, `explain --from ${from}`);
    writeFileSync(p, `- {from: "${from}", to: y/a, port: 80}\n`);
    check(t, ['verify', '--manifests', good, '--probes', p], 2, re, `verify from: ${from}`);
  }
});

t.test('a bad probe file: every problem of every probe, then exit 2', async (t) => {
  const dir = tmpDir();
  const p = join(dir, 'probes.yaml');
  writeFileSync(p, [
    '- {from: x/a, to: y/a, port: 70000, protocol: ICMP}',
    '- {from: x/a, to: y/a, port: 80}',
    '- {from: x/a, to: y/a, port: 80, porta: 1, expect: yes}',
    '',
  ].join('\n'));
  const r = check(t, ['verify', '--manifests', good, '--probes', p], 2, /probe\[0\]\.port: must be between 1 and 65535/, 'several bad probes');
  t.same(r.stderr.trimEnd().split('\n').map((l) => l.replace(/^palisade verify: \S*probes\.yaml: /, '')), [
    'probe[0].port: must be between 1 and 65535, got 70000',
    'probe[0].protocol: must be TCP, UDP or SCTP, got "ICMP"',
    'probe[2].porta: unknown field (known: from, to, port, protocol, family, expect)',
    'probe[2].expect: must be allow or deny, got "yes"',
  ]);
  writeFileSync(p, '- {from: x/a, to: q/q, port: 80}\n- {from: x/a, to: y/a, port: 80}\n- {from: z/z, to: y/a, port: 80}\n');
  const u = check(t, ['verify', '--manifests', good, '--probes', p], 2, /probe\[0\]\.to: no pod q\/q/, 'unknown pods');
  t.match(u.stderr, /probe\[2\]\.from: no pod z\/z/, 'the second unknown pod too');
  t.equal(u.stdout, '', 'nothing judged');
});

t.test('a probe missing from, to or port: the field is required, not "got undefined"', async (t) => {
  const dir = tmpDir();
  const p = join(dir, 'probes.yaml');
  const cases: [string, string][] = [
    ['{to: y/a, port: 80}', 'probe[0].from: required ("namespace/pod" or an IP address)'],
    ['{form: x/a, to: y/a, port: 80}', 'probe[0].from: required ("namespace/pod" or an IP address)'],
    ['{from: x/a, port: 80}', 'probe[0].to: required ("namespace/pod" or an IP address)'],
    ['{from: x/a, to: y/a}', 'probe[0].port: required (a port number)'],
  ];
  for (const [probe, line] of cases) {
    writeFileSync(p, `- ${probe}\n`);
    const r = check(t, ['verify', '--manifests', good, '--probes', p], 2, /probe\[0\]/, probe);
    const lines = r.stderr.trimEnd().split('\n').map((l) => l.replace(/^palisade verify: \S*probes\.yaml: /, ''));
    t.ok(lines.includes(line), `${probe}: says ${line} (got ${JSON.stringify(lines)})`);
    t.notMatch(r.stderr, /undefined/, `${probe}: no "undefined"`);
  }
});

t.test('flag errors', async (t) => {
  check(t, ['matrix', '--manifests', good, '--port', '0'], 2, /--port must be between 1 and 65535, got 0/, 'port 0');
  check(t, ['matrix', '--manifests', good, '--port', 'http'], 2, /--port must be a whole number/, 'port not a number');
  check(t, ['matrix', '--manifests', good], 2, /--port is required/, 'no port');
  check(t, ['matrix', '--port', '80'], 2, /--manifests PATH\.\.\. is required/, 'no manifests');
  check(t, ['matrix', '--manifests', good, '--port', '80', '--protocol', 'ICMP'], 2, /--protocol must be TCP, UDP or SCTP/, 'protocol');
  check(t, ['matrix', '--manifests', good, '--port', '80', '--family', 'v7'], 2, /--family must be IPv4 or IPv6/, 'family');
  check(t, ['matrix', '--manifests', good, '--port', '80', '--bogus'], 2, /unknown flag --bogus/, 'unknown flag');
  // Names of Object.prototype's members are unknown like any other.
  for (const w of ['constructor', '__proto__', 'toString']) {
    check(t, [w], 2, new RegExp(`^palisade: unknown command "${w}"`), `command ${w}`);
    check(t, ['matrix', '--manifests', good, '--port', '80', `--${w}`, 'x'], 2, new RegExp(`^palisade matrix: unknown flag --${w}\n$`), `flag --${w}`);
  }
  check(t, ['verify', '--manifests', good, '-o', 'yaml', '--probes', 'x'], 2, /-o must be text or json, got "yaml"/, 'bad -o');
  check(t, ['explain', '--manifests', good, '--from', 'x/a', '--port', '80'], 2, /--to is required/, 'explain without --to');
  check(t, ['explain', '--manifests', good, '--from', 'x/a', '--to', '10.0.0.300', '--port', '80'], 2, /--to: "10\.0\.0\.300" is neither/, 'explain bad IP');
  check(t, ['explain', '--manifests', good, '--from', 'x/a', '--to', 'y/a', '--port', '80', '--family', 'IPv6'], 2, /--from: pod x\/a has no IPv6 address/, 'explain family');
  // An on flag and its --no- twin must agree (found before the manifests path, which does not
  // exist here so the agent could never start).
  for (const f of ['strict', 'verdict-cache', 'kernel-admit']) {
    const r = check(t, ['agent', '--node', 'n1', `--${f}`, `--no-${f}`, '--manifests', '/nonexistent-palisade-path'], 2, new RegExp(`^palisade agent: --${f} and --no-${f} contradict each other\n$`), `agent --${f} --no-${f}`);
    t.equal(r.stdout, '', `--${f}: nothing started`);
  }
});

t.test('a list flag stops at a short flag', async (t) => {
  const dir = tmpDir();
  const p = join(dir, 'probes.yaml');
  writeFileSync(p, '- {from: x/a, to: y/a, port: 80}\n');
  const r = runCli(['verify', '--manifests', good, '-o', 'json', '--probes', p]);
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout)[0].verdict, 'allow');
});
