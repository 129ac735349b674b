// The command thread (src/enforce/command-thread.ts) and runCommand on it: the same answers as a
// command run on the calling thread (exit code, stdout, stderr, stdin, a missing program, a
// timeout), commands in flight at once each get their own answer, a worker that dies fails only
// what was pending and the next command starts a new one, and without a worker commands run on
// the calling thread. (How long the event loop is held is measured, not asserted:
// scripts/spawn-stall.ts.)

import t from 'tap';
import { Worker } from 'node:worker_threads';
import { CommandThread, type ThreadAnswer } from '../../src/enforce/command-thread.ts';
import { CommandError, commandThread, mustRun, runCommand } from '../../src/enforce/command.ts';

const ok = (a: ThreadAnswer) => ('error' in a ? { error: a.error } : { code: a.code, stdout: a.stdout, stderr: a.stderr });

t.test('answers like the command: code, stdout, stderr, stdin, missing program, timeout', async (t) => {
  const thread = new CommandThread();
  t.teardown(() => thread.close());
  const cases: [string, readonly string[], string, number, Record<string, unknown>][] = [
    ['stdout', ['echo', 'hi'], '', 10_000, { code: 0, stdout: 'hi\n', stderr: '' }],
    ['stdin', ['cat'], 'from stdin', 10_000, { code: 0, stdout: 'from stdin', stderr: '' }],
    ['exit code and stderr', ['sh', '-c', 'echo err >&2; exit 3'], '', 10_000, { code: 3, stdout: '', stderr: 'err\n' }],
    ['killed at its timeout', ['sleep', '5'], '', 150, { code: 128, stdout: '', stderr: 'killed by SIGKILL' }],
    ['input the tool never reads', ['true'], 'x'.repeat(1 << 20), 10_000, { code: 0, stdout: '', stderr: '' }],
  ];
  for (const [name, argv, input, timeout, want] of cases) t.same(ok(await thread.run(argv, input, timeout)), want, name);
  const missing = await thread.run(['/nonexistent/palisade-tool'], '', 10_000);
  t.match(ok(missing), { error: /ENOENT/ }, 'a missing program is an error, not an exit code');
  t.equal(thread.answered, cases.length + 1, 'every command ran in the worker');
  t.equal(thread.inline, 0);
});

t.test('commands in flight at once get their own answers', async (t) => {
  const thread = new CommandThread();
  t.teardown(() => thread.close());
  // Later ones finish first: answers are matched by id, not by order.
  const runs = Array.from({ length: 12 }, (_, i) => thread.run(['sh', '-c', `sleep 0.${12 - i}; echo ${i}`], '', 10_000));
  const got = (await Promise.all(runs)).map((a) => ('error' in a ? a.error : a.stdout.trim()));
  t.same(got, Array.from({ length: 12 }, (_, i) => String(i)));
});

t.test('a worker that dies fails what was pending; the next command starts a new one', async (t) => {
  const thread = new CommandThread();
  t.teardown(() => thread.close());
  t.same(ok(await thread.run(['true'], '', 10_000)), { code: 0, stdout: '', stderr: '' });
  const pending = thread.run(['sleep', '5'], '', 10_000);
  const first = thread.current!;
  await first.terminate();
  t.match(ok(await pending), { error: /command thread exited/ }, 'the pending command is answered');
  t.same(ok(await thread.run(['echo', 'again'], '', 10_000)), { code: 0, stdout: 'again\n', stderr: '' });
  t.not(thread.current, first, 'a new worker');
});

t.test('without a worker, commands run on the calling thread', async (t) => {
  const thread = new CommandThread(() => {
    throw new Error('no threads here');
  });
  t.same(ok(await thread.run(['cat'], 'inline', 10_000)), { code: 0, stdout: 'inline', stderr: '' });
  t.match(ok(await thread.run(['/nonexistent/palisade-tool'], '', 10_000)), { error: /ENOENT/ });
  t.equal(thread.inline, 2);
  t.equal(thread.answered, 0);
});

t.test('runCommand and mustRun go through the process command thread', async (t) => {
  const before = commandThread.answered;
  t.same(await runCommand(['cat'], { input: 'x' }), { code: 0, stdout: 'x', stderr: '' });
  await t.rejects(mustRun(['sh', '-c', 'echo bad >&2; exit 2']), new CommandError('sh -c echo bad >&2; exit 2', 2, 'bad\n'));
  const failed = await runCommand(['/nonexistent/palisade-tool']).then(() => undefined, (e: unknown) => e);
  t.ok(failed instanceof CommandError && failed.exitCode === null && /ENOENT/.test(failed.stderr), 'a program that cannot start rejects with a CommandError');
  t.equal(commandThread.answered - before, 3);
  // Referenced only while a command is pending: an idle thread does not keep the process alive
  // (this test file would not end otherwise).
  t.type(commandThread.current, Worker);
});
