// Runs the system tools the enforcers program the kernel with (iptables-restore, ip, sysctl).
// Arguments go straight to execve (no shell); failures carry the command line and its stderr.

import { spawn } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed${exitCode === null ? '' : ` (exit ${exitCode})`}: ${stderr.trim().split('\n').slice(0, 6).join(' | ') || 'no error output'}`);
  }
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A prefix put before every command, e.g. ['ip', 'netns', 'exec', 'ns1'] to act inside a namespace. */
export type CommandPrefix = readonly string[];

/** Runs argv (with `input` on stdin); resolves with the exit code, never throws for a non-zero exit. */
export function runCommand(argv: readonly string[], opts: { input?: string; prefix?: CommandPrefix; timeoutMs?: number } = {}): Promise<CommandResult> {
  const full = [...(opts.prefix ?? []), ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(full[0]!, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(full.join(' '), null, (e as Error).message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}killed by ${signal}` : stderr });
    });
    child.stdin.on('error', () => { /* the tool may exit before reading its input; its exit code tells */ });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runCommand but throws CommandError on a non-zero exit. */
export async function mustRun(argv: readonly string[], opts: { input?: string; prefix?: CommandPrefix; timeoutMs?: number } = {}): Promise<CommandResult> {
  const r = await runCommand(argv, opts);
  if (r.code !== 0) throw new CommandError([...(opts.prefix ?? []), ...argv].join(' '), r.code, r.stderr || r.stdout);
  return r;
}
