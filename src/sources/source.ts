// Where the cluster state comes from. A source fills a ClusterState and keeps it current; the
// agent compiles whatever it delivers. `--source files` (files-source.ts) follows a manifests
// folder, `--source kube` (kube-source.ts) follows the API server; both only talk to the state,
// never to the engine or the kernel (one-way flow: source -> state -> engine -> enforcer).

import type { ClusterState } from '../cluster/state.ts';

/** One completed pass of a source over its input (whether or not it changed anything). */
export interface SyncInfo {
  /** Wall-clock ms when the pass started reading its input: everything written before is in it. */
  readonly startedAt: number;
  /** Problems found in this pass (bad files, invalid objects), one line each. */
  readonly errors: readonly string[];
}

export interface Source {
  /**
   * Starts feeding `state`. Resolves after the first full sync (the state then reflects the
   * whole input); rejects when that cannot happen. Later changes keep arriving as batches.
   */
  start(state: ClusterState): Promise<void>;
  /** Stops watching. The state keeps what it has. */
  stop(): Promise<void> | void;
  /** Optional: called after every pass (files source), so callers can tell "applied" from "pending". */
  onSync?(listener: (info: SyncInfo) => void): () => void;
  /**
   * Optional (the kube source): seconds for which the state may have been missing changes of its
   * input, 0 while the source follows it (every watch up). The agent's palisade_sync_lag_seconds.
   */
  lagSeconds?(): number;
  /** Optional (the kube source): what the first full sync still waits for (kinds not listed yet; [] once synced). */
  pending?(): readonly string[];
  /** Optional (the kube source): every watch is up. Part of readiness (agent/health.ts); absent = always. */
  readonly isConnected?: boolean;
}
