// The cluster read once, for the analysis commands (`palisade explain --kubeconfig ...`): every
// kind of the registry listed once (paginated, a consistent read, no watch), decoded and applied
// exactly as the agent's kube source does (KubeLister + KubeApplier), into a fresh ClusterState.
// An optional kind whose CRD is not installed (404 in every version) is simply empty, as for the agent. Objects
// the API server holds but Palisade finds invalid are rejected (state.rejected) and left out.

import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { ClusterState } from '../cluster/state.ts';
import { KINDS, resourcePath } from '../cluster/kinds.ts';
import { objectKey } from './kube-resource.ts';
import { ApiError, KubeLister, describeError, loadKubeConfig } from './kube-client.ts';
import { KubeApplier, type Prepared } from './kube-apply.ts';

export interface SnapshotOptions {
  readonly kubeconfig: string;
  /** A context of the kubeconfig other than its current-context. */
  readonly context?: string;
  /** Per-page list timeout. */
  readonly timeoutMs?: number;
  readonly pageSize?: number;
}

export interface Snapshot {
  readonly state: ClusterState;
  /** The API server the objects came from (for messages). */
  readonly server: string;
  /** Optional kinds whose CRD is not installed. */
  readonly absent: readonly string[];
}

/** Throws an Error naming the kubeconfig, the context or the server when the read fails. */
export async function readClusterOnce(opts: SnapshotOptions): Promise<Snapshot> {
  const kc: KubeConfig = loadKubeConfig(opts.kubeconfig, opts.context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig ${opts.kubeconfig}: no current cluster (check current-context)`);
  const server = cluster.server.replace(/\/+$/, '');
  const lister = new KubeLister(kc, server, opts.pageSize ?? 500, opts.timeoutMs ?? 30_000);
  // Rejections are reported by the caller from state.rejected, one line each; the applier's
  // own log lines (meant for a long-running agent) would repeat them.
  const applier = new KubeApplier(() => {});
  const absent: string[] = [];
  // The kinds are independent reads: in parallel, so a slow pod list is the whole wait. Items
  // are decoded page by page (the raw JSON is dropped as it comes) and queued in kind order.
  const lists = await Promise.all(KINDS.map(async (entry) => {
    // A CRD serves some of its kind's versions: each is tried in the registry's order, as the
    // agent's kube source does, and the kind is absent when none is served.
    for (let i = 0, expired = 0; i < entry.versions.length; i++) {
      const version = entry.versions[i]!;
      const prepared: Prepared[] = [];
      try {
        let index = 0;
        await lister.listPages(resourcePath(entry, version), false, (items) => {
          for (const item of items) {
            // The agent skips such an element with a warning (kube-source.ts); a one-shot read for
            // an analysis has nowhere to say it but its error.
            if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new Error(`${resourcePath(entry, version)}: element ${index} of items is not an object`);
            index++;
            const raw = item as KubernetesObject;
            const key = objectKey(entry, raw);
            if (key !== undefined) prepared.push(applier.prepare({ kind: entry.kind, key, raw }));
          }
        });
        return prepared;
      } catch (e) {
        if (entry.optional && e instanceof ApiError && e.statusCode === 404) continue;
        // A continue token can expire between pages (410): the list again from the top, as the
        // agent's kube source does, twice at most.
        if (e instanceof ApiError && e.statusCode === 410 && expired++ < 2) {
          i--;
          continue;
        }
        const ctx = kc.getCurrentContext();
        throw new Error(`API server ${server} (context ${ctx}): ${describeError(e)}`);
      }
    }
    return undefined;
  }));
  // Absent kinds named in the registry's order, whichever read ended first.
  for (const [i, prepared] of lists.entries()) {
    if (prepared === undefined) absent.push(KINDS[i]!.kind);
    else for (const p of prepared) applier.enqueuePrepared(p);
  }
  const state = new ClusterState();
  applier.applyAll(state);
  return { state, server, absent };
}
