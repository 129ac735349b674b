// Long-lived tools for listings the agent repeats every watchdog tick: each `nft` or `tc`
// process costs a few ms of CPU to start (issue 14's budget counts the agent at rest), a line
// written to one that runs costs next to nothing. `nft -j -i` (interactive, JSON) and
// `tc -j -batch -` both answer each listing with one JSON line on stdout, flushed, and an error
// (the table or the device is gone) only on stderr. nft's queries end with a sentinel command
// whose answer is recognisable: the lines before it, if any, are the answer. tc has no command
// whose answer is always there and unlike a filter listing (a loopback that is down has no
// qdisc to show), but every command of its batch either prints one line or reports
// "Command failed" on stderr: a query is answered when lines and failures add up to its
// commands, in whatever order the two pipes are read. Both fetch the kernel's state for every command (counters and set elements included),
// so nothing is cached here. Anything unexpected (no answer in time, the child exited) ends the
// child; the caller then runs a one-off process and the next query starts a new child.

import { spawn, type ChildProcess } from 'node:child_process';
import type { CommandPrefix } from './command.ts';

const TIMEOUT_MS = 5000;

/** What makes a tool a session: its argv, and either a sentinel (the command, how its answer looks) or an answer counted per command. */
type SessionTool = { readonly argv: readonly string[] } & (
  | { readonly sentinel: string; readonly isSentinel: (line: string) => boolean }
  | { readonly sentinel?: undefined; readonly failed: RegExp }
);

interface Pending {
  readonly resolve: (answer: string | undefined) => void;
  lines: string[];
  /** Counted answers: the commands of the query, and how many reported a failure so far. */
  readonly expect: number;
  failed: number;
  readonly timer: NodeJS.Timeout;
}

class ToolSession {
  private child?: ChildProcess;
  private buf = '';
  private pending?: Pending;
  /** Queries answered by the session (status; a test sees it is used). */
  answered = 0;

  constructor(private readonly tool: SessionTool, private readonly prefix: CommandPrefix = []) {}

  private start(): ChildProcess {
    const argv = [...this.prefix, ...this.tool.argv];
    const tool = this.tool;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', tool.sentinel === undefined ? 'pipe' : 'ignore'] });
    this.buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => this.data(d));
    if (tool.sentinel === undefined) {
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        const p = this.pending;
        if (!p) return;
        p.failed += d.match(new RegExp(tool.failed.source, 'g'))?.length ?? 0;
        this.settle(p);
      });
      (child.stderr as unknown as { unref?: () => void }).unref?.();
    }
    child.stdin!.on('error', () => this.stop());
    child.on('error', () => this.stop());
    child.on('exit', () => {
      if (this.child === child) this.stop();
    });
    child.unref();
    for (const h of [child.stdout, child.stdin]) (h as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    return child;
  }

  private data(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const p = this.pending;
      if (!p) continue;
      if (this.tool.sentinel !== undefined && this.tool.isSentinel(line)) this.answer(p);
      else {
        p.lines.push(line);
        this.settle(p);
      }
    }
  }

  /** A counted query is answered once every command printed its line or reported its failure. */
  private settle(p: Pending): void {
    if (this.tool.sentinel === undefined && p.lines.length + p.failed >= p.expect) this.answer(p);
  }

  private answer(p: Pending): void {
    this.pending = undefined;
    clearTimeout(p.timer);
    this.answered++;
    p.resolve(p.lines.join('\n'));
  }

  /**
   * The JSON lines the tool prints for `commands` (one per command that printed one; '' when
   * none did: errors), or undefined when the session failed (the caller runs the commands
   * another way). One query at a time; one command per line (nft 1.0.6 fails `list ...; list ...`).
   */
  query(commands: string | readonly string[]): Promise<string | undefined> {
    if (this.pending) return Promise.resolve(undefined);
    const child = this.child ?? this.start();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.stop(), TIMEOUT_MS);
      const list = [commands].flat();
      this.pending = { resolve, lines: [], expect: list.length, failed: 0, timer };
      child.stdin!.write(`${list.join('\n')}\n${this.tool.sentinel !== undefined ? `${this.tool.sentinel}\n` : ''}`);
    });
  }

  /** Ends the child; a query in flight resolves undefined. */
  stop(): void {
    const p = this.pending;
    this.pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null) c.kill();
  }
}

/** `nft -j -i`; the sentinel `list tables inet` answers table objects only (a table's own listing also has its chains and sets). */
export class NftSession extends ToolSession {
  constructor(prefix: CommandPrefix = []) {
    super({ argv: ['nft', '-j', '-i'], sentinel: 'list tables inet', isSentinel: isNftSentinel }, prefix);
  }
}

/** `tc -s -j -force -batch -` (-force: a failed command does not end the batch), answers counted: one line per listing, or `Command failed -:N` on stderr. */
export class TcSession extends ToolSession {
  constructor(prefix: CommandPrefix = []) {
    super({ argv: ['tc', '-s', '-j', '-force', '-batch', '-'], failed: /Command failed/ }, prefix);
  }
}

function isNftSentinel(line: string): boolean {
  try {
    const items = (JSON.parse(line) as { nftables?: Record<string, unknown>[] }).nftables ?? [];
    return items.every((x) => 'metainfo' in x || 'table' in x);
  } catch {
    return false;
  }
}
