// Runs the system tools the enforcers program the kernel with (iptables-restore, ip, sysctl).
// Arguments go straight to execve (no shell); failures carry the command line and its stderr.
// They start on the command thread (command-thread.ts), not on the event loop that judges packets.

import { CommandThread } from './command-thread.ts';

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

/** The process's command thread (command-thread.ts): every command starts there. */
export const commandThread = new CommandThread();

/** The Debian package of each tool Palisade runs (scripts/bootstrap.sh installs them); iptables' many names below. */
const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  ip: 'iproute2', tc: 'iproute2', ipset: 'ipset', conntrack: 'conntrack', nft: 'nftables', sysctl: 'procps', modprobe: 'kmod',
};

/** How to install `tool` (`apt-get install -y ipset`), or undefined for a tool of no known package. */
export function installHint(tool: string): string | undefined {
  const name = tool.slice(tool.lastIndexOf('/') + 1);
  const pkg = /^ip6?tables(-(nft|legacy))?(-save|-restore)?$/.test(name) ? 'iptables' : Object.hasOwn(TOOL_PACKAGES, name) ? TOOL_PACKAGES[name] : undefined;
  return pkg && `apt-get install -y ${pkg}`;
}

/** Runs argv (with `input` on stdin); resolves with the exit code, never throws for a non-zero exit. */
export async function runCommand(argv: readonly string[], opts: { input?: string; prefix?: CommandPrefix; timeoutMs?: number } = {}): Promise<CommandResult> {
  const full = [...(opts.prefix ?? []), ...argv];
  const a = await commandThread.run(full, opts.input ?? '', opts.timeoutMs ?? 30_000);
  if ('error' in a) {
    const e = new CommandError(full.join(' '), null, a.error);
    // Node says "spawn ipset ENOENT": the user needs the tool's name and where to get it.
    if (/\bENOENT\b/.test(a.error)) {
      const hint = installHint(full[0]!);
      e.message = `${full[0]} is not installed here (not on PATH)${hint ? `: install it (${hint})` : ''}; needed for: ${full.join(' ')}`;
    }
    throw e;
  }
  return { code: a.code, stdout: a.stdout, stderr: a.stderr };
}

/** Like runCommand but throws CommandError on a non-zero exit. */
export async function mustRun(argv: readonly string[], opts: { input?: string; prefix?: CommandPrefix; timeoutMs?: number } = {}): Promise<CommandResult> {
  const r = await runCommand(argv, opts);
  if (r.code !== 0) throw new CommandError([...(opts.prefix ?? []), ...argv].join(' '), r.code, r.stderr || r.stdout);
  return r;
}
