// childCommands: what a lab agent that is slow to get ready is running (its child processes'
// command lines), named in startLabAgent's timeout error.

import t from 'tap';
import { spawn } from 'node:child_process';
import { childCommands } from '../../src/lab/lab-agent.ts';

const waitFor = async (ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
};

t.test('a process waiting on a command names it; one without children names nothing', async (t) => {
  // Its own process group, so the teardown ends the sleeps with it.
  const parent = spawn('sh', ['-c', 'sleep 30 & sleep 31 & wait'], { stdio: 'ignore', detached: true });
  t.teardown(() => { process.kill(-parent.pid!, 'SIGKILL'); });
  // Both children exist once forked, but each shows the shell's command line until it has
  // exec'd sleep: wait for what the test expects, then check it (a timeout still fails below).
  const both = /^\d+: sleep 30; \d+: sleep 31$|^\d+: sleep 31; \d+: sleep 30$/;
  await waitFor(() => both.test(childCommands(parent.pid!)));
  t.match(childCommands(parent.pid!), both, 'both children, with their arguments');

  const lone = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => { lone.kill('SIGKILL'); });
  t.equal(childCommands(lone.pid!), '', 'no children: nothing');
});

t.test('a process that does not exist names nothing (the caller reports that it exited)', async (t) => {
  t.equal(childCommands(2 ** 22 + 1), '');
});
