// The agent's status file shape, its own counters (rule restorations, managed addresses), and
// how the status file and /metrics gather the counters of the parts the agent wires together
// (enforcer, classifier, observer, verdict log, verdict cache, flow cutter). The per-packet
// counters live in those parts; this module only reads them.

import type { WatchdogStatus } from './rule-watchdog.ts';
import { Counter, type Registry } from 'prom-client';
import { REASON_NAMES, type Classifier } from '../dataplane/classifier.ts';
import { INVALID_NAMES } from '../dataplane/packet-info.ts';
import type { Enforcer } from '../enforce/judge.ts';
import type { VerdictCache } from '../enforce/verdict-cache.ts';
import type { KernelAdmission } from './admit-wiring.ts';
import type { FlowCutter } from '../enforce/flow-cutter.ts';
import type { ConnectionObserver } from './observe.ts';
import type { Sinks, VerdictLog } from './verdict-log.ts';
import type { Backend } from './options.ts';
import type { SourceGuardStatus } from './source-guard.ts';
import type { DnsStatusSection } from './dns-status.ts';
import { readinessOf } from './health.ts';
import type { Source } from '../sources/source.ts';

/** What the status file holds (rewritten atomically every statusIntervalMs and on every enforced generation; a large file less often: status-file.ts). */
export interface AgentStatus {
  readonly pid: number;
  readonly node: string;
  readonly backend: Backend;
  /**
   * The kubelet's Ready, as /readyz answers it (health.ts readinessOf): listed, rules in force AND
   * every watch up. notReadyReasons are /readyz's reasons ([] when ready).
   */
  readonly ready: boolean;
  readonly notReadyReasons: readonly string[];
  /** The rules are installed and judging; stays true while a watch is down (the last known state is enforced). */
  readonly enforcing: boolean;
  readonly stopped: boolean;
  /** ClusterState generation whose rules are fully enforced (snapshot swapped and pod rules installed). */
  readonly generation: number;
  readonly snapshotGeneration: number;
  readonly enforcedAt?: string;
  /** startedAt of the newest source pass whose result is enforced (files source). */
  readonly sourceSyncStartedAt?: number;
  readonly sourceErrors: readonly string[];
  readonly rejected: number;
  readonly managedAddresses: number;
  readonly counters: Record<string, number>;
  readonly reasons: Record<string, number>;
  readonly invalid: Record<string, number>;
  readonly lastError?: string;
  /** Strict mode: established flows cut because a newer generation denies them. */
  readonly strict: boolean;
  readonly flowsCut: number;
  readonly strictSweeps: number;
  /** Rule watchdog: times Palisade's rules were found missing or altered and put back. */
  readonly rulesRestored: number;
  readonly rulesRestoredAt?: string;
  /**
   * Cluster-policy tier chains (tier-tables.ts): `pending` stand in for Admin or Baseline tables
   * the agent is still building after an update (0 once converged), `made` since the start.
   */
  readonly tierChains?: { readonly pending: number; readonly made: number };
  /**
   * The WebAssembly judge (agent/wasm-copy.ts): whether it is on, whether the snapshot in force is
   * its copy (false between an update and the copy made after it), copies made, and the last
   * copy's memory and time.
   */
  readonly wasmJudge?: { readonly enabled: boolean; readonly judging: boolean; readonly copies: number; readonly lastBytes: number; readonly lastMs: number };
  /** Source-address validation (absent with --no-source-guard). */
  readonly sourceGuard?: SourceGuardStatus;
  /** Rule watchdog: full reads of the rules, and ticks the nftables change monitor made unnecessary. */
  readonly ruleWatchdog?: WatchdogStatus;
  readonly updatedAt: string;
  /**
   * Until the source's first full sync (nothing is compiled or enforced before it): since when the
   * agent waits, and what for (the kube source: the kinds not listed yet). Absent once synced.
   */
  readonly waitingForFirstSync?: { readonly since: string; readonly pending?: readonly string[] };
  /** Egress to domain names (NFQUEUE): live name records and DNS counters (agent/dns-wiring.ts). */
  readonly dns?: DnsStatusSection;
}

/** The status file's waitingForFirstSync (see AgentStatus), from the source and when the agent started. */
export function waitingForFirstSync(source: Source, since: string): NonNullable<AgentStatus['waitingForFirstSync']> {
  const pending = source.pending?.();
  return { since, ...(pending !== undefined ? { pending } : {}) };
}

/** The status file's ready, notReadyReasons and enforcing, from what readiness is made of. */
export function statusReadiness(f: { synced: boolean; enforcing: boolean; connected: boolean }): Pick<AgentStatus, 'ready' | 'notReadyReasons' | 'enforcing'> {
  const r = readinessOf({ synced: f.synced, rulesInstalled: f.enforcing, connected: f.connected });
  return { ready: r.ready, notReadyReasons: r.reasons, enforcing: f.enforcing };
}

export class AgentStats {
  /** Rule watchdog: times Palisade's rules were found missing or altered and put back. */
  rulesRestored = 0;
  rulesRestoredAt?: string;
  /** Addresses in PALISADE-PODS after the last reconcile. */
  managedAddresses = 0;

  /** Counts one restoration; returns the total. */
  restored(): number {
    this.rulesRestored++;
    this.rulesRestoredAt = new Date().toISOString();
    return this.rulesRestored;
  }
}

/** The parts whose counters the status file shows; absent before the agent has built them. */
export interface CounterSources {
  readonly enforcer?: Enforcer;
  readonly classifier?: Classifier;
  readonly observer?: ConnectionObserver;
  readonly verdictLog?: VerdictLog;
  /** Where the verdict log's lines go: lines dropped because the file or stdout could not take them. */
  readonly sinks?: Sinks;
  readonly cache?: VerdictCache;
  readonly admission?: KernelAdmission;
}

/** The status file's counters, reasons and invalid-packet counts. */
export function statusCounters(p: CounterSources): {
  counters: Record<string, number>;
  reasons: Record<string, number>;
  invalid: Record<string, number>;
} {
  const counters: Record<string, number> = p.enforcer ? p.enforcer.counters() : {};
  const reasons: Record<string, number> = {};
  const invalid: Record<string, number> = {};
  const c = p.classifier;
  if (c) {
    REASON_NAMES.forEach((n, i) => (reasons[n] = c.reasonCounts[i]!));
    INVALID_NAMES.forEach((n, i) => {
      if (i > 0) invalid[n] = c.invalidCounts[i]!;
    });
  }
  if (p.observer) {
    counters.audited = p.observer.audited;
    counters.deniedRepeats = p.observer.repeats;
    if (p.verdictLog) {
      counters.verdictLogWritten = p.verdictLog.stats.written;
      counters.verdictLogSuppressed = p.verdictLog.stats.suppressed;
      counters.verdictLogRepeats = p.verdictLog.stats.repeats;
      if (p.sinks) counters.verdictLogDropped = p.sinks.dropped();
    }
  }
  if (p.cache) {
    counters.verdictCacheAdded = p.cache.added;
    // Allowed connections not cached because their tuple was new in the window (cache-admission.ts).
    counters.verdictCacheDeferred = p.cache.deferred;
    counters.verdictCacheFlushes = p.cache.flushes;
    counters.verdictCacheAddFailures = p.cache.addFailures;
    // Connections the kernel admitted from the cache (read from its counters), and flushes that
    // could not keep their counts (every spare set still being read).
    counters.verdictCacheAdmitted = p.cache.counted;
    counters.verdictCacheReads = p.cache.reads;
    counters.verdictCacheReadErrors = p.cache.readErrors;
    counters.verdictCacheRotations = p.cache.rotations;
    counters.verdictCacheUncountedFlushes = p.cache.uncountedFlushes;
  }
  if (p.admission) {
    // Kernel admission (admit-wiring.ts): entries of the last build, local pods left to the queue
    // (budget), builds installed and dropped for a newer generation, the sets emptied for a new
    // generation before it judged, the last build's wall time and event-loop work, connections
    // the kernel admitted.
    counters.kernelAdmitEntries = p.admission.lastEntries;
    counters.kernelAdmitPodsLeft = p.admission.lastPodsLeft;
    counters.kernelAdmitBuilds = p.admission.builds;
    counters.kernelAdmitDropped = p.admission.dropped;
    counters.kernelAdmitEmptied = p.admission.sets.stats.empties;
    counters.kernelAdmitBuildMs = Math.round(p.admission.lastBuildMs);
    counters.kernelAdmitWorkMs = Math.round(p.admission.lastWorkMs);
    counters.kernelAdmitted = p.admission.sets.stats.counted;
  }
  return { counters, reasons, invalid };
}

/** The agent's own Prometheus counters, read at scrape time. */
export function registerAgentMetrics(registry: Registry, stats: AgentStats, cutter: () => FlowCutter | undefined): void {
  new Counter({
    name: 'palisade_flows_cut_total', help: 'Established flows cut (kernel conntrack entry deleted) because a newer rule generation denies them (strict mode).',
    registers: [registry],
    collect() { this.reset(); this.inc(cutter()?.cutTotal ?? 0); },
  });
  new Counter({
    name: 'palisade_rules_restored_total', help: 'Times Palisade\'s iptables rules were found missing or altered and reinstalled by the watchdog.',
    registers: [registry],
    collect() { this.reset(); this.inc(stats.rulesRestored); },
  });
}
