// The thread that starts the agent's commands (iptables-restore, ipset, tc, ip...): one worker
// thread per process, so starting a process does not stop the event loop that judges packets.
//
// Why: libuv's spawn forks the whole process and then waits, on the calling thread, until the
// child has exec'd (it reads a close-on-exec pipe to learn whether exec failed), and exec must
// first tear down the child's copy of the parent's address space. Measured on this project's
// VMs: about 7 ms of the caller's thread per command for a small Node process, 17-20 ms with a
// 300 MB heap (`node --import tsx scripts/spawn-stall.ts [--heap 300]`). The agent runs a few commands per rule-watchdog tick and per
// verdict-cache counter read, and a CPU profile of the agent under connection load had 6 % of
// its main thread in ChildProcess.spawn: every queued packet waited behind it. Here the fork
// and the wait happen on the worker's thread; the main thread only posts a message and gets
// one back.
//
// The worker is eval'd JavaScript (no file to find: the same in a checkout run through tsx and
// in the image's compiled dist/). It is referenced only while commands are pending, so an idle
// agent or CLI exits as before. If the worker dies, the commands pending in it fail with the
// reason and the next command starts a new one; if none can be started, commands run on the
// calling thread as they did before.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Worker } from 'node:worker_threads';

/** What the worker answers for one command: how it ended, or why it could not start. */
export type ThreadAnswer =
  | { readonly id: number; readonly code: number; readonly stdout: string; readonly stderr: string }
  | { readonly id: number; readonly error: string };

interface Request {
  readonly id: number;
  readonly argv: readonly string[];
  readonly input: string;
  readonly timeoutMs: number;
}

/**
 * Runs one command and answers once. Arguments go straight to execve (no shell), as command.ts
 * promises; a command still running at its timeout is killed (SIGKILL) and reported as killed.
 * It runs in the worker, from its source text (WORKER_SOURCE), so it uses nothing but its
 * parameters; and here, on the calling thread, when no worker can be started.
 */
function runOne(spawnFn: typeof spawn, r: Request, answer: (a: ThreadAnswer) => void): void {
  let child: ChildProcessWithoutNullStreams;
  try {
    child = spawnFn(r.argv[0]!, r.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    answer({ id: r.id, error: String((e as Error)?.message ?? e) });
    return;
  }
  let stdout = '';
  let stderr = '';
  let done = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), r.timeoutMs);
  child.on('error', (e: Error) => {
    clearTimeout(timer);
    if (done) return;
    done = true;
    answer({ id: r.id, error: String(e?.message ?? e) });
  });
  child.on('close', (code: number | null, signal: string | null) => {
    clearTimeout(timer);
    if (done) return;
    done = true;
    answer({ id: r.id, code: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}killed by ${signal}` : stderr });
  });
  // The tool may exit before reading its input; its exit code tells.
  child.stdin.on('error', () => {});
  child.stdin.end(r.input);
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const runOne = ${runOne.toString()};
parentPort.on('message', (r) => runOne(spawn, r, (a) => parentPort.postMessage(a)));
`;

/** Starts the worker thread from its source (a parameter, so tests can make starting fail). */
export type StartWorker = (source: string) => Worker;
const startWorker: StartWorker = (source) => new Worker(source, { eval: true, stdout: false, stderr: false });

export class CommandThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, (a: ThreadAnswer) => void>();
  private nextId = 1;
  /** Commands the worker answered, and those run on the calling thread for want of one (tests). */
  answered = 0;
  inline = 0;

  constructor(private readonly startFn: StartWorker = startWorker) {}

  /** Runs argv with `input` on stdin in the worker; resolves with its answer (never rejects). */
  run(argv: readonly string[], input: string, timeoutMs: number): Promise<ThreadAnswer> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      let w: Worker;
      try {
        w = this.start();
      } catch {
        // No worker (a runtime without threads, a resource limit): the old way, on this thread.
        this.inline++;
        runOne(spawn, { id, argv, input, timeoutMs }, resolve);
        return;
      }
      this.pending.set(id, resolve);
      // Referenced while something waits for it: a pending command keeps the process alive.
      if (this.pending.size === 1) w.ref();
      const r: Request = { id, argv: [...argv], input, timeoutMs };
      w.postMessage(r);
    });
  }

  /** The running worker, if any (tests end it to see commands survive its death). */
  get current(): Worker | undefined {
    return this.worker;
  }

  /** Ends the worker; pending commands are answered with an error. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failAll('the command thread was closed');
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = this.startFn(WORKER_SOURCE);
    w.unref();
    w.on('message', (a: ThreadAnswer) => {
      const done = this.pending.get(a.id);
      if (!done) return;
      this.pending.delete(a.id);
      this.answered++;
      if (this.pending.size === 0) w.unref();
      done(a);
    });
    const gone = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.failAll(why);
    };
    w.on('error', (e) => gone(`the command thread failed: ${e.message}`));
    w.on('exit', (code) => gone(`the command thread exited (${code})`));
    this.worker = w;
    return w;
  }

  private failAll(why: string): void {
    const all = [...this.pending];
    this.pending.clear();
    for (const [id, done] of all) done({ id, error: why });
  }
}
