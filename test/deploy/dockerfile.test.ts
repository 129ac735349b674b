// The Dockerfile (multi-stage, pinned bases, no compilers or secrets in the runtime stage, runs
// the agent), .dockerignore, and the kind script's syntax.

import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../../src/agent/node-flags.ts';

const ROOT = join(import.meta.dirname, '..', '..');

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}

/** Dockerfile -> instructions: comments dropped, backslash continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#')) return; // comments, including inside continuations
    if (!buf && line === '') return;
    if (!buf) start = i + 1;
    buf += (buf ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      const m = /^(\S+)\s*(.*)$/.exec(buf)!;
      out.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: start });
      buf = '';
    }
  });
  return out;
}

const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const all = parseDockerfile(text);

/** Stages: instructions after each FROM; ARGs before the first FROM are global. */
const globalArgs = new Map<string, string>();
const stages: { from: string; name?: string; body: Instruction[] }[] = [];
for (const ins of all) {
  if (ins.op === 'FROM') {
    const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
    stages.push({ from: m[1]!, name: m[2], body: [] });
  } else if (stages.length === 0) {
    if (ins.op === 'ARG') {
      const [k, v] = ins.args.split('=');
      globalArgs.set(k!, v ?? '');
    }
  } else stages[stages.length - 1]!.body.push(ins);
}
const resolve = (s: string) => s.replace(/\$\{?(\w+)\}?/g, (_, k: string) => globalArgs.get(k) ?? `<unset ${k}>`);
const final = stages[stages.length - 1]!;

t.test('multi-stage: a builder, then a slim runtime that copies from it', async (t) => {
  t.ok(stages.length >= 2, `${stages.length} stages`);
  t.match(resolve(stages[0]!.from), /^node:20\.\d+\.\d+-bookworm$/, 'builder: node:20-bookworm');
  t.match(resolve(final.from), /^node:20\.\d+\.\d+-bookworm-slim$/, 'runtime: node:20-bookworm-slim');
  const builder = stages[0]!;
  t.ok(builder.name, 'the builder stage is named');
  const copiesFromBuilder = final.body.filter((i) => i.op === 'COPY' && i.args.includes(`--from=${builder.name}`));
  t.ok(copiesFromBuilder.length > 0, 'the runtime takes the build output from the builder');
  const buildRuns = builder.body.filter((i) => i.op === 'RUN').map((i) => i.args).join(' ; ');
  t.match(buildRuns, /npm ci/, 'builder installs dependencies from the lockfile');
  t.match(buildRuns, /npm run build|tsc/, 'builder compiles TypeScript');
  t.match(buildRuns, /npm prune --omit=dev/, 'only production node_modules are kept');
});

t.test('the runtime holds what bin/palisade.js and the addon loader look for', async (t) => {
  const workdir = final.body.filter((i) => i.op === 'WORKDIR').map((i) => i.args).pop();
  t.ok(workdir, 'the runtime sets a WORKDIR');
  // `COPY --from=build /src/X ./Y` -> Y, relative to the WORKDIR.
  const dests = new Map(final.body.filter((i) => i.op === 'COPY' && i.args.includes('--from=')).map((i) => {
    const [, from, to] = i.args.split(/\s+/);
    return [to!.replace(/^\.\//, ''), from!] as const;
  }));
  t.ok(dests.has('package.json'), 'package.json: the package root the addon loader walks up to');
  t.ok(dests.has('bin'), 'bin/');
  t.ok(dests.has('dist/src'), 'dist/src: what bin/palisade.js runs when there is no src/');
  t.notOk(dests.has('src'), 'no src/: bin/palisade.js would run it (through tsx) instead of dist/');
  t.match(dests.get('native/build/Release/palisade_native.node') ?? '', /native\/build\/Release\/palisade_native\.node$/, 'the addon at <root>/native/build/Release (src/enforce/native.ts)');
});

t.test('base images pinned by tag, never latest', async (t) => {
  for (const s of stages) {
    const img = resolve(s.from);
    t.notMatch(img, /<unset/, `${s.from}: every ARG used in FROM has a default`);
    const tag = /:([^:/@]+)$/.exec(img)?.[1];
    t.ok(tag, `${img} has a tag`);
    t.not(tag, 'latest');
    t.match(tag!, /\d+\.\d+\.\d+/, `${img}: a full version, not a floating major`);
  }
});

t.test('no build tools in the runtime stage', async (t) => {
  const runs = final.body.filter((i) => i.op === 'RUN').map((i) => i.args);
  for (const r of runs) {
    for (const tool of ['gcc', 'g\\+\\+', 'make', 'python3', 'build-essential', 'clang', 'node-gyp', 'libpcap-dev', '-dev\\b']) {
      t.notMatch(r, new RegExp(`(^|\\s)${tool}(\\s|$)`), `runtime RUN does not install ${tool.replace(/\\/g, '')}`);
    }
  }
  t.match(runs.join(' '), /\biptables\b/, 'iptables is installed for the agent');
  // The agent runs without SYS_MODULE: modprobe in the image could never load anything.
  t.notMatch(runs.join(' '), /(^|\s)kmod(\s|$)/, 'no kmod in the runtime');
  const copies = final.body.filter((i) => i.op === 'COPY').map((i) => i.args);
  t.notOk(copies.some((c) => /\s\.\s+\.?\/?$|\/src\/src\b|native\/src/.test(c)), 'no sources copied into the runtime');
});

t.test('non-interactive apt, no secrets in ENV/ARG, runs the agent', async (t) => {
  for (const s of stages) {
    const runs = s.body.filter((i) => i.op === 'RUN' && /apt-get install/.test(i.args));
    if (runs.length === 0) continue;
    t.ok(s.body.some((i) => i.op === 'ENV' && /DEBIAN_FRONTEND=noninteractive/.test(i.args)), `${s.from}: DEBIAN_FRONTEND=noninteractive`);
    for (const r of runs) {
      t.match(r.args, /apt-get install -y/, 'apt-get install -y');
      t.match(r.args, /--no-install-recommends/);
      t.match(r.args, /rm -rf \/var\/lib\/apt\/lists/, 'apt lists cleaned in the same layer');
    }
  }
  for (const i of all) {
    if (i.op === 'ENV' || i.op === 'ARG') t.notMatch(i.args, /SECRET|TOKEN|PASSW|API_?KEY|CREDENTIAL/i, `line ${i.line}: ${i.op} holds no secret`);
  }
  const ep = final.body.filter((i) => i.op === 'ENTRYPOINT');
  t.equal(ep.length, 1);
  t.same(JSON.parse(ep[0]!.args), ['node', ...AGENT_NODE_FLAGS, 'bin/palisade.js', 'agent', '--source', 'kube'], 'the agent with its Node flags (src/agent/node-flags.ts)');
  t.ok(existsSync(join(ROOT, 'bin', 'palisade.js')));
});

t.test('everything the builder copies exists, and .dockerignore keeps build output and secrets out', async (t) => {
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const p of ['node_modules', 'dist', 'native/build', '.git']) t.ok(ignore.includes(p), `.dockerignore has ${p}`);
  for (const c of stages[0]!.body.filter((i) => i.op === 'COPY' && !i.args.includes('--from'))) {
    const parts = c.args.split(/\s+/);
    for (const src of parts.slice(0, -1)) {
      t.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
      t.notOk(ignore.includes(src), `COPY source ${src} is not ignored`);
    }
  }
});

t.test('scripts/kind-e2e.sh is valid bash', async (t) => {
  const script = join(ROOT, 'scripts', 'kind-e2e.sh');
  t.doesNotThrow(() => execFileSync('bash', ['-n', script]));
  const body = readFileSync(script, 'utf8');
  t.match(body, /^#!\/usr\/bin\/env bash/);
  t.match(body, /set -euo pipefail/);
  t.match(body, /daemonset\.yaml/);
  t.match(body, /kube-network-policies/, 'switches off kind\'s own policy enforcer');
});
