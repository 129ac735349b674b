// The agent's rule watchdog: every `intervalMs` it compares what Palisade installed in the kernel
// with what is there, and puts back what someone flushed or altered (iptables has no way to
// protect a chain from root, so until then the node is unenforced; flows that slipped through
// meanwhile were never judged, and the agent's strict sweep judges every flow afterwards).
//
// What is read each tick, and what it costs (every process is a fork of the agent plus the
// tool's own start, a few ms of CPU; the node pays it every second):
// - iptables rules (filter/mangle chains, and the source guard's raw chains): read with
//   `iptables -S` per table and family, unless enforce/rule-monitor.ts vouches that no nftables
//   transaction happened since the last clean read (nft backend). Every REFRESH_TICKS ticks
//   they are read regardless, so a monitor that went wrong costs at most that long.
// - ipsets (judged pods, the source guard's bindings and drop counters): one `ipset save`
//   shared by both; ipset changes are announced nowhere, so this is read every tick.
// - TUN policy routing (TUN backend only): `ip rule`/`ip route`, not covered by the monitor.

import type { ClusterState } from '../cluster/state.ts';
import type { Iptables, IptablesBackend } from '../enforce/iptables.ts';
import { saveAllSets } from '../enforce/ipset-save.ts';
import type { JudgedSets } from '../enforce/judged-sets.ts';
import { RuleChangeMonitor } from '../enforce/rule-monitor.ts';
import type { SourceGuard } from './source-guard.ts';

/** Ticks between full reads of the iptables rules while the monitor reports nothing. */
export const REFRESH_TICKS = 10;

export interface WatchedParts {
  readonly iptables: Iptables;
  readonly backend: IptablesBackend;
  readonly state: ClusterState;
  readonly sourceGuard?: SourceGuard;
  readonly judged?: JudgedSets;
  /** TUN backend: the policy routing that sends diverted packets (and DNS answers) into the devices. */
  readonly routing?: { problems(): Promise<string[]>; install(): Promise<void> };
}

export interface WatchdogHooks {
  /** Runs rule work one operation at a time with the agent's other rule changes. */
  serialize<T>(fn: () => Promise<T>): Promise<T>;
  /** Whether the agent still enforces (false: skip the tick). */
  active(): boolean;
  /** Something was missing and has been put back: one problem line per part. */
  restored(problems: string[]): void;
  /** The check or the restoration failed (it is retried next tick). */
  failed(e: Error): void;
}

/** What the watchdog needs of enforce/rule-monitor.ts. */
export type ChangeMonitor = Pick<RuleChangeMonitor, 'mark' | 'revive' | 'running' | 'stop' | 'unproven' | 'probe'>;

export interface WatchdogStatus {
  /** Ticks that read the iptables rules, and ticks that relied on the change monitor instead. */
  readonly fullChecks: number;
  readonly skippedChecks: number;
  readonly monitor: 'running' | 'stopped' | 'none';
}

export class RuleWatchdog {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  private readonly monitor?: ChangeMonitor;
  /** Monitor event count at the start of the last full check that found nothing wrong. */
  private verifiedMark?: number;
  private quietTicks = 0;
  private deadTicks = 0;
  private fullChecks = 0;
  private skippedChecks = 0;

  /** `monitor`: tests give their own; by default one for the nft backend, none for legacy. */
  constructor(private readonly parts: WatchedParts, private readonly hooks: WatchdogHooks, private readonly intervalMs: number, monitor?: ChangeMonitor | null) {
    // Started before the first check, so the first event it reports proves it was subscribed
    // before any check that may later be skipped on its word.
    this.monitor = monitor === null ? undefined : (monitor ?? (intervalMs > 0 && parts.backend === 'nft' ? RuleChangeMonitor.start() : undefined));
  }

  start(): void {
    if (this.intervalMs <= 0 || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.check().finally(() => {
        this.running = undefined;
        this.start();
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.running) await this.running.catch(() => {});
    this.monitor?.stop();
  }

  status(): WatchdogStatus {
    return { fullChecks: this.fullChecks, skippedChecks: this.skippedChecks, monitor: this.monitor ? (this.monitor.running ? 'running' : 'stopped') : 'none' };
  }

  /** One tick: true when something was put back. */
  async check(): Promise<boolean> {
    if (!this.hooks.active()) return false;
    const p = this.parts;
    try {
      return await this.hooks.serialize(async () => {
        if (!this.hooks.active()) return false;
        // A monitor that died is started again at once, then every REFRESH_TICKS ticks (not
        // every second if it cannot run at all).
        if (this.monitor && !this.monitor.running && this.deadTicks++ % REFRESH_TICKS === 0) this.monitor.revive();
        // Its event arms the monitor for the next tick (this one reads the rules anyway).
        if (this.monitor?.unproven) await this.monitor.probe();
        const mark = this.monitor?.mark();
        const quiet = mark !== undefined && mark === this.verifiedMark && ++this.quietTicks < REFRESH_TICKS;
        if (quiet) this.skippedChecks++;
        else {
          this.quietTicks = 0;
          this.fullChecks++;
        }
        const bad: { part: string; problems: string[] }[] = quiet ? [] : (await p.iptables.verify()).map((b) => ({ part: `IPv${b.family}`, problems: b.problems }));
        const ipRules = bad.length > 0;
        // Without it a diverted packet would be routed normally, unjudged.
        const routing = p.routing ? await p.routing.problems() : [];
        if (routing.length > 0) bad.push({ part: 'routing', problems: routing });
        const listing = p.sourceGuard?.sharesIpsetListing && p.judged ? await saveAllSets() : undefined; // one `ipset save` for both
        const guard = (await p.sourceGuard?.check(p.state, { listing, rulesUnchanged: quiet })) ?? []; // restores itself
        if (guard.length > 0) bad.push({ part: 'source-guard', problems: guard });
        // An interface gone or found in this tick changed who is without one: the drop rule follows.
        const noIf = p.sourceGuard?.noIfaceFamilies;
        if (noIf) await p.iptables.setNoIfaceFamilies(noIf);
        const sets = (await p.judged?.problems(listing)) ?? [];
        if (sets.length > 0) bad.push({ part: 'sets', problems: sets });
        if (bad.length === 0) {
          if (!quiet) this.verifiedMark = mark;
          return false;
        }
        // Putting things back is itself a change: the next tick reads everything again.
        this.verifiedMark = undefined;
        if (sets.length > 0) await p.judged!.restore(); // before rules that name the sets
        if (ipRules) await p.iptables.reinstall();
        if (routing.length > 0) await p.routing!.install();
        this.hooks.restored(bad.map((b) => `${b.part}: ${b.problems.join('; ')}`));
        return true;
      });
    } catch (e) {
      this.verifiedMark = undefined;
      this.hooks.failed(e as Error);
      return false;
    }
  }
}
