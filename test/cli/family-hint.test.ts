// A pod with no address of the family asked for, when it has one of the other family (a
// single-stack IPv6 cluster judged as IPv4, the default): the error says how to ask for the
// other, in the words of where the family is given (the --family flag, or a probe's family
// field). A pod with no address at all gets no such hint.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tmpDir } from './run-cli.ts';

const dir = tmpDir();
writeFileSync(join(dir, 'cluster.yaml'), `
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
status: {podIPs: [{ip: "fd00::a"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
status: {podIPs: [{ip: "fd00::b"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: none, namespace: x}
`);
const probes = join(dir, 'probes.yaml');
writeFileSync(probes, '- {from: x/a, to: x/b, port: 80}\n');

t.test('no address of the family asked for: how to ask for the other', async (t) => {
  const rows: { args: string[]; err: RegExp }[] = [
    { args: ['explain', '--manifests', join(dir, 'cluster.yaml'), '--from', 'x/a', '--to', 'x/b', '--port', '80'], err: /--from: pod x\/a has no IPv4 address \(status\.podIPs: fd00::a\); for its IPv6 address give --family IPv6$/m },
    { args: ['verify', '--manifests', join(dir, 'cluster.yaml'), '--probes', probes], err: /probe\[0\]\.from: pod x\/a has no IPv4 address \(status\.podIPs: fd00::a\); for its IPv6 address give family: IPv6$/m },
    { args: ['explain', '--manifests', join(dir, 'cluster.yaml'), '--from', 'x/none', '--to', 'x/b', '--port', '80'], err: /--from: pod x\/none has no IPv4 address \(status\.podIPs: none\)$/m },
  ];
  for (const r of rows) {
    const res = runCli(r.args);
    t.equal(res.code, 2, `${r.args[0]}: exit 2`);
    t.match(res.stderr, r.err, `${r.args[0]} ${r.args.join(' ').includes('none') ? '(no address)' : ''}: ${res.stderr.trim()}`);
  }
  const ok = runCli(['explain', '--manifests', join(dir, 'cluster.yaml'), '--from', 'x/a', '--to', 'x/b', '--port', '80', '--family', 'IPv6']);
  t.equal(ok.code, 0, `with --family IPv6 it answers (${ok.stderr.trim()})`);
});

t.test('connlist and matrix: the note on pods left out says how to judge their other family', async (t) => {
  const input = join(dir, 'cluster.yaml');
  const connlist = runCli(['connlist', '--manifests', input]);
  t.match(connlist.stderr, /note: left out: x\/a \(no IPv4 address\), x\/b \(no IPv4 address\), x\/none \(no IPv4 address\); --family IPv6 judges their IPv6 addresses$/m, 'connlist');
  const matrix = runCli(['matrix', '--manifests', input, '--port', '80']);
  t.match(matrix.stderr, /note: left out: x\/a \(no IPv4 address\), x\/b \(no IPv4 address\), x\/none \(no IPv4 address\); --family IPv6 judges their IPv6 addresses$/m, 'matrix');
  // Asked for IPv6, only x/none is left out, and it has no IPv4 address either: no hint.
  const v6 = runCli(['connlist', '--manifests', input, '--family', 'IPv6']);
  t.match(v6.stderr, /note: left out: x\/none \(no IPv6 address\)$/m, 'no hint when none has the other family');
});

t.test('a probe file takes the family as --family does (ipv6, IPv6, 6)', async (t) => {
  // `--family ipv6` works, so a user writes `family: ipv6` in a probe file too.
  const spellings: [string, string][] = [['IPv6', 'IPv6'], ['ipv6', 'IPv6'], ['IPV6', 'IPv6'], ['6', 'IPv6'], ['ipv4', 'IPv4'], ['4', 'IPv4']];
  const demo = join(import.meta.dirname, '..', '..', 'examples', 'demo');
  const file = join(tmpDir(), 'probes.yaml');
  for (const [given, family] of spellings) {
    const flag = runCli(['explain', '--manifests', demo, '--from', 'frontend/web', '--to', 'backend/api', '--port', '8080', '--family', given]);
    t.equal(flag.code, 0, `--family ${given}: taken (${flag.stderr.trim()})`);
    writeFileSync(file, `- {from: frontend/web, to: backend/api, port: 8080, family: "${given}"}\n`);
    const r = runCli(['verify', '--manifests', demo, '--probes', file, '-o', 'json']);
    t.equal(r.code, 0, `family: ${given}: taken (${r.stderr.trim()})`);
    if (r.code === 0) t.equal((JSON.parse(r.stdout) as { family: string }[])[0]!.family, family, `family: ${given} is ${family}`);
  }
  writeFileSync(file, '- {from: frontend/web, to: backend/api, port: 8080, family: IPv5}\n');
  t.match(runCli(['verify', '--manifests', demo, '--probes', file]).stderr, /probe\[0\]\.family: must be IPv4 or IPv6, got "IPv5"/, 'a family that is neither: refused');
});
