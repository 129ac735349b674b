// The agent's Node flags (src/agent/node-flags.ts) are what `npm run bench` runs the engine with,
// so its figures are the agent's, and this Node accepts every one of them. (The Dockerfile's
// ENTRYPOINT: dockerfile.test.ts; the lab's agents: test/lab/lab-agent.test.ts; the tests' and
// benches' agents start through support/netns.ts, which takes the list itself.)

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS, missingAgentNodeFlags } from '../../src/agent/node-flags.ts';

const ROOT = join(import.meta.dirname, '..', '..');

t.test('npm run bench runs node with the agent\'s flags', async (t) => {
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const words = scripts.bench!.split(/\s+/);
  t.equal(words[0], 'node');
  const script = words.indexOf('bin/palisade.js');
  t.ok(script > 0, 'the bench runs bin/palisade.js');
  for (const f of AGENT_NODE_FLAGS) t.ok(words.slice(1, script).includes(f), `${f} before the script`);
});

t.test('this Node accepts every flag', async (t) => {
  for (const f of AGENT_NODE_FLAGS) {
    const r = spawnSync(process.execPath, [f, '-e', '0'], { encoding: 'utf8' });
    t.equal(r.status, 0, `node ${f}: ${r.stderr.trim()}`);
  }
  const bad = spawnSync(process.execPath, ['--v8-pool-size-typo=1', '-e', '0'], { encoding: 'utf8' });
  t.not(bad.status, 0, 'a flag Node does not know fails (the check above can fail)');
});

t.test('which of the flags a hand-started agent lacks (its warning)', async (t) => {
  const cases: Array<[string, readonly string[], string, readonly string[]]> = [
    ['none given', [], '', AGENT_NODE_FLAGS],
    ['all before the script', [...AGENT_NODE_FLAGS], '', []],
    ['all in NODE_OPTIONS', [], AGENT_NODE_FLAGS.join(' '), []],
    ['other flags only', ['--expose-gc', '--import', 'tsx'], '--max-old-space-size=4096', AGENT_NODE_FLAGS],
    ['--flag value spelling', AGENT_NODE_FLAGS.flatMap((f) => f.split('=')), '', []],
    ['another value', AGENT_NODE_FLAGS.map((f) => f.replace(/=.*/, '=4')), '', AGENT_NODE_FLAGS],
  ];
  for (const [name, argv, env, want] of cases) t.same(missingAgentNodeFlags(argv, env), want, name);
});
