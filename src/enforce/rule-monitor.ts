// Tells the rule watchdog whether anything may have changed the node's iptables rules since it
// last read them, without reading them. With the nft backend every change to iptables rules is
// an nftables transaction, and the kernel announces each one on the NFNLGRP_NFTABLES netlink
// group; `xtables-monitor -e` (shipped with iptables) prints a line per event. One long-lived
// child replaces the `iptables -S` processes the watchdog would otherwise start every second:
// an idle node then lists nothing (issue 14's cost budget).
//
// Only what the monitor has proven it sees is trusted:
// - Events are counted; a caller remembers the count read at the start of a clean full check
//   and may skip the next check only while the count has not moved since.
// - A count of 0 proves nothing: the child may not be subscribed yet, and a change made before
//   it subscribed would go unseen. The first event proves the subscription, so a clean check
//   started after it covers everything earlier. On a quiet node nothing else changes, so the
//   watchdog makes that first event itself: probe() is one transaction that creates and
//   deletes a chain, reported like any other and leaving nothing behind.
// - Anything on stderr (e.g. the socket overran: events lost) counts as an event; an exit turns
//   the monitor off (mark() undefined: check every time) until it is started again.
// The legacy backend has no such announcement: no monitor, the watchdog reads the rules.

import { spawn, type ChildProcess } from 'node:child_process';
import type { CommandPrefix } from './command.ts';
import { restoreTable } from './iptables.ts';

export class RuleChangeMonitor {
  private child?: ChildProcess;
  /** Events ever counted, across children: a mark from before a restart never matches one after. */
  private events = 0;
  /** `events` when the current child started: it vouches once it has counted past this. */
  private childStart = 0;
  private alive = false;

  private constructor(private readonly prefix: CommandPrefix) {}

  /** Starts `xtables-monitor -e` (line-buffered through stdbuf: a pipe would hold the lines back). */
  static start(prefix: CommandPrefix = []): RuleChangeMonitor {
    const m = new RuleChangeMonitor(prefix);
    m.spawn();
    return m;
  }

  private spawn(): void {
    const argv = [...this.prefix, 'stdbuf', '-oL', 'xtables-monitor', '-e'];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.alive = true;
    this.childStart = this.events;
    const bump = (d: Buffer): void => {
      // Whole lines or not, any output means something happened (or was lost): count it.
      if (d.length > 0) this.events++;
    };
    child.stdout!.on('data', bump);
    child.stderr!.on('data', bump);
    const dead = (): void => {
      if (this.child === child) this.alive = false;
    };
    child.on('error', dead);
    child.on('exit', dead);
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
  }

  /**
   * The event count to compare later, or undefined when the monitor cannot vouch for anything
   * (not running, or no event seen yet).
   */
  mark(): number | undefined {
    return this.alive && this.events > this.childStart ? this.events : undefined;
  }

  /** Running, but no event seen yet: probe() would prove the subscription. */
  get unproven(): boolean {
    return this.alive && this.events === this.childStart;
  }

  /** A transaction that changes nothing (a chain created and deleted in it), for its event. */
  async probe(): Promise<void> {
    await restoreTable('nft', 4, 'filter', [':PALISADE-PROBE - [0:0]', '-X PALISADE-PROBE'], this.prefix);
  }

  /** Starts the child again after it died (the watchdog calls this now and then). */
  revive(): void {
    if (!this.alive) this.spawn();
  }

  get running(): boolean {
    return this.alive;
  }

  stop(): void {
    const c = this.child;
    this.child = undefined;
    this.alive = false;
    if (c && c.exitCode === null) c.kill('SIGTERM');
  }
}
