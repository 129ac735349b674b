// One long-lived `nft -j -i` (interactive, JSON) for listings the agent repeats every watchdog
// tick: each `nft` process costs a few ms of CPU to start (issue 14's budget counts the agent at
// rest), a line written to this one costs next to nothing. nft answers each listing with one
// JSON line on stdout, and an error (e.g. the table is gone) only on stderr; so each query is
// followed by a sentinel, `list tables inet`, whose answer (table objects only) ends it: the
// lines before it, if any, are the answer. nft fetches the kernel's state for every command
// (counters and set elements included), so nothing is cached here. Anything unexpected (no
// answer in time, the child exited) ends the child; the caller then runs a one-off process and
// the next query starts a new child.

import { spawn, type ChildProcess } from 'node:child_process';
import type { CommandPrefix } from './command.ts';

const SENTINEL = 'list tables inet';
const TIMEOUT_MS = 5000;

interface Pending {
  readonly resolve: (answer: string | undefined) => void;
  lines: string[];
  readonly timer: NodeJS.Timeout;
}

export class NftSession {
  private child?: ChildProcess;
  private buf = '';
  private pending?: Pending;
  /** Queries answered by the session (status; a test sees it is used). */
  answered = 0;

  constructor(private readonly prefix: CommandPrefix = []) {}

  private start(): ChildProcess {
    const argv = [...this.prefix, 'nft', '-j', '-i'];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
    this.buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => this.data(d));
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
      if (isSentinel(line)) {
        this.pending = undefined;
        clearTimeout(p.timer);
        this.answered++;
        p.resolve(p.lines.join('\n'));
      } else p.lines.push(line);
    }
  }

  /**
   * The JSON lines nft prints for `commands` (one per command that printed one; '' when none
   * did: errors), or undefined when the session failed (the caller runs the commands another
   * way). One query at a time; one command per line (nft 1.0.6 fails `list ...; list ...`).
   */
  query(commands: string | readonly string[]): Promise<string | undefined> {
    if (this.pending) return Promise.resolve(undefined);
    const child = this.child ?? this.start();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.stop(), TIMEOUT_MS);
      this.pending = { resolve, lines: [], timer };
      child.stdin!.write(`${[commands].flat().join('\n')}\n${SENTINEL}\n`);
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

/** The sentinel's answer: a listing of tables only (a table's own listing also has its chains and sets). */
function isSentinel(line: string): boolean {
  try {
    const items = (JSON.parse(line) as { nftables?: Record<string, unknown>[] }).nftables ?? [];
    return items.every((x) => 'metainfo' in x || 'table' in x);
  } catch {
    return false;
  }
}
