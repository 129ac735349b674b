// The agent's status file over the agent's life (agent.ts): what its status holds, read from the
// agent's parts (the shape: agent-stats.ts AgentStatus), and when it is written (the writing
// itself: status-file.ts). The first write comes as the start begins, so a reader sees the agent
// wait for its first sync rather than no file; then one every statusIntervalMs, and one whenever
// the agent has something new to show (an enforced generation, restored rules, cut flows).

import type { ClusterState } from '../cluster/state.ts';
import type { CompiledEngine } from '../policy/compiler.ts';
import type { Classifier } from '../dataplane/classifier.ts';
import type { SyncInfo } from '../sources/source.ts';
import type { Log } from '../sources/log.ts';
import type { Enforcer } from '../enforce/judge.ts';
import type { VerdictCache } from '../enforce/verdict-cache.ts';
import type { FlowCutter } from '../enforce/flow-cutter.ts';
import type { ConnectionObserver } from './observe.ts';
import type { VerdictLogWiring } from './verdict-log-wiring.ts';
import type { KernelAdmission } from './admit-wiring.ts';
import type { DnsWiring } from './dns-wiring.ts';
import type { WasmCopier } from './wasm-copy.ts';
import type { SourceGuard } from './source-guard.ts';
import type { RuleWatchdog } from './rule-watchdog.ts';
import type { AgentOptions } from './options.ts';
import { StatusFile } from './status-file.ts';
import { statusCounters, statusReadiness, waitingForFirstSync, type AgentStats, type AgentStatus } from './agent-stats.ts';

/** What the agent's status is read from: its parts (absent until built) and where its run is. */
export interface StatusParts {
  readonly opts: AgentOptions;
  readonly state: ClusterState;
  readonly stats: AgentStats;
  readonly enforcer?: Enforcer;
  readonly classifier?: Classifier;
  readonly observer?: ConnectionObserver;
  readonly vlog?: VerdictLogWiring;
  readonly cache?: VerdictCache;
  readonly admission?: KernelAdmission;
  readonly engine?: CompiledEngine;
  readonly cutter?: FlowCutter;
  readonly wasmCopy: WasmCopier;
  readonly sourceGuard?: SourceGuard;
  readonly watchdog?: RuleWatchdog;
  readonly dns?: DnsWiring;
  /** The source's first full sync is done. */
  readonly synced: boolean;
  /** The first rules are in force. */
  readonly ready: boolean;
  readonly stopped: boolean;
  readonly generation: number;
  readonly enforcedAt?: string;
  readonly enforcedSync?: SyncInfo;
  readonly lastError?: string;
  /** When the agent was made: since when it waits for its first sync. */
  readonly createdAt: string;
}

/** The agent's status, as the status file holds it. */
export function agentStatus(p: StatusParts): AgentStatus {
  const { counters, reasons, invalid } = statusCounters({
    enforcer: p.enforcer, classifier: p.classifier, observer: p.observer, verdictLog: p.vlog?.log, sinks: p.vlog?.sinks, cache: p.cache, admission: p.admission,
  });
  return {
    pid: process.pid,
    node: p.opts.node,
    backend: p.opts.backend,
    ...statusReadiness({ synced: p.synced, enforcing: p.ready && !p.stopped, connected: p.opts.source.isConnected ?? true }),
    stopped: p.stopped,
    generation: p.generation,
    snapshotGeneration: p.classifier ? p.classifier.snapshot.generation : 0,
    enforcedAt: p.enforcedAt,
    sourceSyncStartedAt: p.enforcedSync?.startedAt,
    sourceErrors: p.enforcedSync?.errors ?? [],
    rejected: p.state.rejected.size,
    managedAddresses: p.stats.managedAddresses,
    counters,
    reasons,
    invalid,
    lastError: p.lastError,
    strict: p.cutter !== undefined || ((p.opts.strict ?? true) && !p.ready),
    flowsCut: p.cutter?.cutTotal ?? 0,
    strictSweeps: p.cutter?.sweeps ?? 0,
    rulesRestored: p.stats.rulesRestored,
    rulesRestoredAt: p.stats.rulesRestoredAt,
    tierChains: p.engine ? { pending: p.engine.pendingChains, made: p.engine.stats().chainsMade } : undefined,
    wasmJudge: p.wasmCopy.status(),
    sourceGuard: p.sourceGuard?.status(),
    ruleWatchdog: p.watchdog?.status(),
    updatedAt: new Date().toISOString(),
    ...(!p.synced && !p.stopped ? { waitingForFirstSync: waitingForFirstSync(p.opts.source, p.createdAt) } : {}),
    ...(p.dns ? { dns: p.dns.status() } : {}),
  };
}

/** When the agent's status file (if it has one) is written (see the top of this file). */
export class StatusWriter {
  private file?: StatusFile;
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: { readonly path?: string; readonly intervalMs?: number; readonly log: Log }, private readonly status: () => AgentStatus) {}

  /** The first write, then one every intervalMs (default 1 s). */
  async begin(): Promise<void> {
    await this.write();
    if (this.o.path) (this.timer = setInterval(() => void this.write(), this.o.intervalMs ?? 1000)).unref();
  }

  /** A write; `last` (stopping) without waiting for the file's write rate. */
  write(last = false): Promise<void> {
    if (this.o.path) this.file ??= new StatusFile(this.o.path, this.o.log);
    return this.file?.write(this.status, { force: last }) ?? Promise.resolve();
  }

  /** No more periodic writes. */
  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
