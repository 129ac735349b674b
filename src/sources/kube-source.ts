// The Kubernetes source: keeps a ClusterState in step with the API server through one informer
// (list, then watch from the list's resourceVersion) per resource: Namespaces, Pods, Nodes and
// NetworkPolicies, cluster-wide (a node needs every pod's labels and IPs to judge its own pods'
// peers).
//
// Why the code below does more than call makeInformer():
//
// - client-node's ListWatch reconnects by itself only after a clean end of the stream (and
//   relists after a 410 Gone). On any other failure (connection refused, reset mid-stream, a
//   failed list, 403) it fires 'error' and stays stopped. We restart it with a capped,
//   jittered exponential backoff, from its last resourceVersion; if that is too old the server
//   answers 410 and the informer relists; if the server has not reached it (504, e.g. etcd
//   restored from a backup) a fresh informer relists (onError).
// - A stopped ListWatch that was sleeping in its reconnect delay, or connecting, still opens a
//   watch afterwards and keeps feeding callbacks. Each informer therefore gets its own
//   ClosableWatch that refuses new requests and aborts live ones once retired, and every
//   callback checks it still belongs to the current informer.
// - List items come from our own list call, paginated (limit/continue), so they are the same raw
//   JSON as watch events (the generated typed clients rebuild objects and drop unknown fields,
//   which would hide the very typos decode.ts reports). Typed lists carry no kind, so items are
//   decoded with decodeAs(kind), page by page as they arrive, and queued once the list is
//   complete.
// - The informer's own cache gets SlimObjects (name, namespace, resourceVersion: all it reads),
//   never the raw objects, which the kube source decodes once and drops (slim-object.ts).
// - Every list is reconciled against what this source put into the state, so an object deleted
//   while we were away disappears after a relist even when the informer's own cache is new
//   (periodic resync replaces the informer to re-read everything from the server).
// - Events are coalesced for a short window into one ClusterState.batch(), so a burst (a
//   Deployment scaling up, a relist) costs one recompile. Updates that do not change the decoded
//   model (pod status heartbeats, annotations) do not reach the state at all.
// - An invalid object is rejected with its errors (logged once per version) and its last good
//   version stays in force: a broken update must not silently open traffic.
// - Kinds marked `optional` in the registry are CRDs (the Network Policy API's cluster policies)
//   that a cluster may not have. A 404 on their list or watch is no failure: the kind counts as
//   listed (empty) so the first sync and readiness do not wait for it, whatever this source had
//   of it is deleted from the state (a removed CRD takes its objects and their rules with it),
//   and its path is listed again after a backoff (crdRecheck*), which picks the kind up once the
//   CRD is installed. Re-listing the resource's own path needs no RBAC beyond get/list/watch on
//   it, where watching CustomResourceDefinitions would.
// - A CRD serves some of the versions the registry lists for its kind (ClusterNetworkPolicy:
//   v1beta1 from the release that added it, v1alpha2 before, both for a while). The source
//   watches the first one served, and a 404 moves it to the next at once; only when every
//   version has answered 404 is the kind absent. So a CRD upgrade that stops serving the version
//   being watched takes none of the kind's objects out of force: the next version's list finds
//   them again (same objects, same resourceVersions), with no gap.

import { KubeConfig, ListWatch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { ClusterState } from '../cluster/state.ts';
import { KINDS, type ObjectKind } from '../cluster/kinds.ts';
import { formatObjectError } from '../cluster/model.ts';
import { ApiError, ClosableWatch, KubeLister, describeError, jitter, jitter10, loadKubeConfig } from './kube-client.ts';
import { KubeApplier, type Pending, type Prepared } from './kube-apply.ts';
import { SlimObject, slimEventObject } from './slim-object.ts';
import { stderrLog, type Log } from './log.ts';
import type { Source, SyncInfo } from './source.ts';
import { newResource, objectKey, resourceStatus, statusCodeOf, useVersion, type Instance, type KubeSourceStatus, type Resource, type ResourceStatus, type StatusListener } from './kube-resource.ts';

export type { KubeSourceStatus, ResourceStatus, StatusListener } from './kube-resource.ts';

export { loadKubeConfig } from './kube-client.ts';

export interface KubeSourceOptions {
  /** Path of a kubeconfig file; without it the in-cluster service account config is used. */
  readonly kubeconfig?: string;
  /** An already loaded config (takes precedence over kubeconfig). */
  readonly kubeConfig?: KubeConfig;
  /** This node's name; defaults to $NODE_NAME (the downward API's spec.nodeName). */
  readonly nodeName?: string;
  /** Events arriving within this window are applied as one batch. */
  readonly coalesceMs?: number;
  /** Full relist of every resource this often (jittered +-10%); 0 disables. */
  readonly resyncMs?: number;
  /** Restart backoff after a watch or list failure: initial delay, doubled per failure up to max. */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Items per list page (limit/continue). */
  readonly pageSize?: number;
  /** Per-page list timeout. */
  readonly listTimeoutMs?: number;
  /** A watch request unanswered this long fails (ClosableWatch; 30 s by default). */
  readonly watchTimeoutMs?: number;
  /** An answered watch stream silent this long is reopened (ClosableWatch; WATCH_SILENCE_MS by default). */
  readonly watchSilenceMs?: number;
  /** An absent optional kind (its CRD is not installed) is listed again after this, doubled per miss up to max. */
  readonly crdRecheckInitialMs?: number;
  readonly crdRecheckMaxMs?: number;
  readonly log?: Log;
}

/** How long a watch must stay up (or deliver an event) before its failure counter resets. */
const HEALTHY_AFTER_MS = 10_000;

export class KubeSource implements Source {
  readonly nodeName: string | undefined;
  private readonly kc: KubeConfig;
  private readonly server: string;
  private readonly lister: KubeLister;
  private readonly applier: KubeApplier;
  private readonly log: Log;
  private readonly coalesceMs: number;
  private readonly resyncMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly crdRecheckInitialMs: number;
  private readonly crdRecheckMaxMs: number;
  private readonly watchTimeoutMs: number | undefined;
  private readonly watchSilenceMs: number | undefined;
  private readonly resources: Record<ObjectKind, Resource>;
  private state?: ClusterState;
  private flushTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private readonly delayTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private synced = false;
  /** The first full sync is reported to onSync listeners even when the cluster is empty. */
  private announceSync = false;
  private lastConnected = false;
  /** Wall-clock ms since when some watch has been down (since construction before the first connect): lagSeconds. */
  private disconnectedAt?: number = Date.now();
  private lastEventAt?: number;
  private resyncs = 0;
  /** Failed lists and watches before the first full sync, and when the first one failed (firstListFailed). */
  private failuresBeforeSync = 0;
  private waitingSince?: number;
  private readonly listeners: StatusListener[] = [];
  private readonly syncListeners: ((info: SyncInfo) => void)[] = [];
  private syncWaiter?: { resolve: () => void; reject: (e: Error) => void };

  constructor(opts: KubeSourceOptions = {}) {
    this.kc = opts.kubeConfig ?? loadKubeConfig(opts.kubeconfig);
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kube config has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.nodeName = opts.nodeName ?? (process.env.NODE_NAME || undefined);
    this.log = opts.log ?? stderrLog('kube-source');
    this.coalesceMs = opts.coalesceMs ?? 50;
    // Long by default: each resync is a full consistent list of every pod, for every node's agent.
    this.resyncMs = opts.resyncMs ?? 30 * 60_000;
    this.backoffInitialMs = opts.backoffInitialMs ?? 500;
    this.backoffMaxMs = opts.backoffMaxMs ?? 30_000;
    // A CRD is installed rarely; a list of a path that is not there is cheap, but every node's
    // agent does it, so the re-check slows down to once per 5 minutes.
    this.crdRecheckInitialMs = opts.crdRecheckInitialMs ?? 5_000;
    this.crdRecheckMaxMs = opts.crdRecheckMaxMs ?? 5 * 60_000;
    this.watchTimeoutMs = opts.watchTimeoutMs;
    this.watchSilenceMs = opts.watchSilenceMs;
    this.lister = new KubeLister(this.kc, this.server, opts.pageSize ?? 500, opts.listTimeoutMs ?? 60_000);
    this.applier = new KubeApplier(this.log);
    const rs = {} as Record<ObjectKind, Resource>;
    for (const entry of KINDS) {
      rs[entry.kind] = newResource(entry, this.applier.known[entry.kind]);
    }
    this.resources = rs;
  }

  /** Starts all informers; resolves once every resource is listed and applied to `state`. */
  start(state: ClusterState): Promise<void> {
    if (this.state) throw new Error('kube source already started');
    this.state = state;
    const synced = new Promise<void>((resolve, reject) => {
      this.syncWaiter = { resolve, reject };
    });
    this.log('info', 'starting informers', { server: this.server, node: this.nodeName ?? null });
    for (const r of Object.values(this.resources)) void this.runStart(r, this.newInstance(r));
    this.armResync();
    return synced;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    for (const t of this.delayTimers) clearTimeout(t);
    this.delayTimers.clear();
    const stops: Promise<void>[] = [];
    for (const r of Object.values(this.resources)) {
      if (r.restartTimer) clearTimeout(r.restartTimer);
      r.restartTimer = undefined;
      if (r.current) stops.push(this.retire(r.current));
    }
    await Promise.all(stops);
    // What already arrived is still the best knowledge of the cluster; before the first full sync
    // it is a partial picture, which is never applied.
    if (this.synced) this.flush();
    if (this.syncWaiter) {
      this.syncWaiter.reject(new Error('kube source stopped before the first full sync'));
      this.syncWaiter = undefined;
    }
  }

  /**
   * Called after each applied batch that changed the state or the set of rejected objects, and
   * once at the first full sync. startedAt is when the batch's oldest event was received (the
   * API server's own write happened shortly before); errors are every current rejection.
   */
  onSync(l: (info: SyncInfo) => void): () => void {
    this.syncListeners.push(l);
    return () => {
      const i = this.syncListeners.indexOf(l);
      if (i !== -1) this.syncListeners.splice(i, 1);
    };
  }

  /** Called on every change of synced/connected (and after each sync-relevant step). */
  onStatus(l: StatusListener): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i !== -1) this.listeners.splice(i, 1);
    };
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** The kinds not listed yet: what the first full sync waits for. */
  pending(): string[] {
    return Object.values(this.resources).filter((r) => !r.listed).map((r) => r.kind);
  }

  /** Every watch is up; an optional kind whose CRD is absent has nothing to watch and does not count. */
  get isConnected(): boolean {
    return Object.values(this.resources).every((r) => r.connected || r.absent);
  }

  /** Seconds since a watch went down (events may be missing since), 0 while every watch is up. */
  lagSeconds(): number {
    return this.isConnected || this.disconnectedAt === undefined ? 0 : Math.max(0, Date.now() - this.disconnectedAt) / 1000;
  }

  status(): KubeSourceStatus {
    const resources = {} as Record<ObjectKind, ResourceStatus>;
    let restarts = 0;
    let relists = 0;
    for (const r of Object.values(this.resources)) {
      restarts += r.restarts;
      relists += r.relists;
      resources[r.kind] = resourceStatus(r);
    }
    return {
      synced: this.synced,
      connected: this.isConnected,
      ...(this.lastEventAt !== undefined ? { lastEventAt: this.lastEventAt } : {}),
      watchRestarts: restarts,
      relists,
      resyncs: this.resyncs,
      rejected: this.state ? this.state.rejected.size : 0,
      resources,
    };
  }

  // ---- informer lifecycle ----------------------------------------------------------------------

  private newInstance(r: Resource): Instance {
    const watch = new ClosableWatch(this.kc, {
      slim: slimEventObject,
      timeoutMs: this.watchTimeoutMs,
      silenceMs: this.watchSilenceMs,
      malformed: (type, problem, name) => this.log('warn', 'malformed watch event dropped', { resource: r.path, type, ...(name !== undefined ? { name } : {}), problem }),
    });
    const inst: Instance = {
      watch,
      // Bookmarks keep the resourceVersion moving on quiet resources, so a reconnect after a
      // long idle period resumes instead of hitting 410 and relisting everything.
      informer: new ListWatch<KubernetesObject>(`${r.path}?allowWatchBookmarks=true`, watch, () => this.list(r, inst), false, undefined, undefined, {
        delayFn: (ms) => this.sleep(jitter(ms)),
      }),
      retired: false,
      connects: 0,
      connectedAt: 0,
      sawEvent: false,
    };
    const live = () => !inst.retired && !this.stopped && r.current === inst;
    const onObject = (o: KubernetesObject, deleted: boolean) => {
      // Taken first, so that the informer's cache never keeps it.
      const raw = o instanceof SlimObject ? o.takeRaw() : o;
      if (!live()) return;
      this.lastEventAt = Date.now();
      // A list item (a SlimObject without its raw object): list() has queued it already. It says
      // nothing about the watch: counted as an event, a list that succeeds before a watch that
      // keeps failing (a 504 relists, onError) reset the backoff each time, a full relist every
      // backoffInitialMs, and marked the resource connected before any watch was.
      if (!deleted && raw === undefined) return;
      inst.sawEvent = true;
      if (!r.connected) {
        r.connected = true;
        this.statusChanged();
      }
      const key = objectKey(r.entry, o);
      if (key === undefined) return;
      this.enqueue({ kind: r.kind, key, raw: deleted ? undefined : raw });
    };
    inst.informer.on('add', (o) => onObject(o, false));
    inst.informer.on('update', (o) => onObject(o, false));
    inst.informer.on('delete', (o) => onObject(o, true));
    inst.informer.on('connect', () => {
      if (!live()) return;
      if (inst.connects++ > 0) r.restarts++;
    });
    inst.informer.on('error', (err) => {
      if (live()) this.onError(r, inst, err);
    });
    r.current = inst;
    return inst;
  }

  private async retire(inst: Instance): Promise<void> {
    inst.retired = true;
    inst.watch.close();
    await inst.informer.stop();
  }

  private async runStart(r: Resource, inst: Instance): Promise<void> {
    if (inst.retired || this.stopped) return;
    const errorsBefore = r.errors;
    inst.sawEvent = false;
    try {
      // Resolves once the list (if one was needed) is applied and the watch request is answered,
      // or right after a failure, which the 'error' handler has already seen.
      await inst.informer.start();
    } catch (e) {
      this.onError(r, inst, e);
      return;
    }
    if (inst.retired || this.stopped || r.errors !== errorsBefore) return;
    inst.connectedAt = Date.now();
    if (!r.connected) {
      r.connected = true;
      this.statusChanged();
    }
  }

  private onError(r: Resource, inst: Instance, err: unknown): void {
    if (r.entry.optional && statusCodeOf(err) === 404) {
      if (++r.unserved < r.entry.versions.length) this.nextVersion(r, inst);
      else this.crdAbsent(r, inst);
      return;
    }
    r.errors++;
    r.lastError = describeError(err);
    if (!this.synced) this.firstListFailed(r);
    if (r.connected) {
      r.connected = false;
      this.statusChanged();
    }
    if (r.restartTimer) return;
    if (inst.sawEvent || (inst.connectedAt > 0 && Date.now() - inst.connectedAt >= HEALTHY_AFTER_MS)) r.failures = 0;
    const delay = jitter(Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(r.failures, 20)));
    r.failures++;
    // A restart resumes the watch from the informer's resourceVersion, except after a 504: the
    // API server's answer to a resourceVersion it has not reached ("Too large resource version":
    // etcd restored from a backup, or a replica behind the one last read). Resuming would be
    // refused the same way until the server's revision passes ours, which after a restore may be
    // never, while the objects the restore took back stayed enforced (and the periodic resync
    // skips a resource in restart backoff). client-node's Watch drops the Status body, so the
    // code is all there is; a proxy's 504 costs a needless relist, nothing worse.
    const relist = statusCodeOf(err) === 504;
    this.log('warn', 'list/watch failed; restarting', { resource: r.path, error: r.lastError, failures: r.failures, retryInMs: Math.round(delay), ...(relist ? { relist } : {}) });
    r.restartTimer = setTimeout(() => {
      r.restartTimer = undefined;
      if (!relist) {
        void this.runStart(r, inst);
        return;
      }
      // A fresh informer lists (a consistent read, reconciled against the state) before it watches.
      void this.retire(inst);
      void this.runStart(r, this.newInstance(r));
    }, delay);
  }

  /**
   * A failure before the first full sync. Until that sync nothing is compiled or installed, so
   * the agent enforces no policy at all, which the per-retry lines do not say: this one does,
   * once, with the server and the cause (checkSynced says when the wait is over).
   */
  private firstListFailed(r: Resource): void {
    this.failuresBeforeSync++;
    if (this.waitingSince !== undefined) return;
    this.waitingSince = Date.now();
    this.log('warn', 'not enforcing yet: the first list from the API server has not completed, so no policy is compiled or installed (rules a previous agent left in place drop new connections meanwhile); retrying', { server: this.server, resource: r.path, error: r.lastError });
  }

  /**
   * An optional kind's version answered 404 and another is still untried: lists and watches that
   * one at once (the file header says why). Its objects stay in force meanwhile.
   */
  private nextVersion(r: Resource, inst: Instance): void {
    void this.retire(inst);
    // A restart scheduled for the retired instance would start nothing: the new one replaces it.
    if (r.restartTimer) clearTimeout(r.restartTimer);
    r.restartTimer = undefined;
    useVersion(r, (r.version + 1) % r.entry.versions.length);
    void this.runStart(r, this.newInstance(r));
  }

  /**
   * An optional kind answered 404 in every version: its CRD is not installed (or was just
   * removed). Its objects leave the state, it counts as listed, and its path is listed again
   * after a backoff, from its most preferred version.
   */
  private crdAbsent(r: Resource, inst: Instance): void {
    void this.retire(inst);
    r.unserved = 0;
    if (r.restartTimer) return;
    if (!r.absent) {
      r.absent = true;
      r.absentChecks = 0;
      const had = r.known.size;
      this.log('info', `${r.kind} is not served (its CRD is not installed); enforcing without it and checking again`, {
        resource: r.path, ...(had ? { deleted: had } : {}), recheckInMs: this.crdRecheckInitialMs,
      });
      for (const key of r.known.keys()) this.enqueue({ kind: r.kind, key });
      for (const key of this.applier.queuedUpserts(r.kind)) this.enqueue({ kind: r.kind, key });
    }
    if (r.connected) r.connected = false;
    r.failures = 0;
    if (!r.listed) {
      r.listed = true;
      this.checkSynced();
    }
    this.statusChanged();
    const delay = jitter(Math.min(this.crdRecheckMaxMs, this.crdRecheckInitialMs * 2 ** Math.min(r.absentChecks, 20)));
    r.absentChecks++;
    r.restartTimer = setTimeout(() => {
      r.restartTimer = undefined;
      useVersion(r, 0);
      // A fresh informer: the old one's resourceVersion belongs to a resource that is gone.
      void this.runStart(r, this.newInstance(r));
    }, delay);
  }

  private armResync(): void {
    if (this.resyncMs <= 0 || this.stopped) return;
    this.resyncTimer = setTimeout(() => {
      this.resync();
      this.armResync();
    }, jitter10(this.resyncMs));
    this.resyncTimer.unref();
  }

  /**
   * Re-reads everything: each connected resource gets a fresh informer, whose list is reconciled
   * against what we applied. The old informer stops first, so no event of the old stream can
   * land after the new list (which, being a fresh read, already includes everything the old
   * stream had delivered).
   */
  resync(): void {
    if (this.stopped || !this.state) return;
    this.resyncs++;
    for (const r of Object.values(this.resources)) {
      // A resource in restart backoff relists (or resumes) on its own when it comes back.
      if (!r.connected || r.restartTimer || !r.current) continue;
      void this.retire(r.current);
      void this.runStart(r, this.newInstance(r));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.delayTimers.delete(t);
        resolve();
      }, ms);
      this.delayTimers.add(t);
    });
  }

  // ---- listing ---------------------------------------------------------------------------------

  /**
   * The informer's list function: every page, decoded as it arrives and queued once the list is
   * complete, as upserts plus deletes for what vanished. The informer gets SlimObjects.
   */
  private async list(r: Resource, inst: Instance): Promise<KubernetesListObject<KubernetesObject>> {
    let result: { items: SlimObject[]; prepared: Prepared[]; resourceVersion: string } | undefined;
    for (let attempt = 0; !result; attempt++) {
      const items: SlimObject[] = [];
      const prepared: Prepared[] = [];
      let index = 0;
      try {
        const resourceVersion = await this.lister.listPages(r.path, !r.listed, (page) => {
          if (inst.retired || this.stopped) return;
          for (const item of page) {
            const p = this.applier.prepareListItem(r.entry, r.path, item, index++);
            if (p === undefined) continue;
            items.push(new SlimObject(item as KubernetesObject, false));
            prepared.push(p);
          }
        });
        result = { items, prepared, resourceVersion };
      } catch (e) {
        // A continue token can expire between pages (410); a fresh list from the top is fine.
        if (e instanceof ApiError && e.statusCode === 410 && attempt < 2) continue;
        throw e;
      }
    }
    if (inst.retired || this.stopped) throw new Error('informer retired');
    // Counted once answered: the re-checks of an absent optional kind (404) are no relists.
    if (r.lists++ > 0) r.relists++;
    r.unserved = 0;
    this.lastEventAt = Date.now();
    if (r.absent) {
      r.absent = false;
      r.absentChecks = 0;
      this.log('info', `${r.kind} is served now (its CRD is installed); watching it`, { resource: r.path, objects: result.items.length });
    } else if (r.entry.versions.length > 1 && r.listedVersion !== r.apiVersion) {
      // Which version of a kind read in several is watched: once, and again when it changes.
      const msg = r.listedVersion ? `${r.kind} ${r.listedVersion} is not served any more; watching ${r.apiVersion}` : `${r.kind}: watching ${r.apiVersion}`;
      this.log('info', msg, { resource: r.path });
    }
    r.listedVersion = r.apiVersion;
    // What this source has of the kind (applied or queued) and the list lacks is gone. The first
    // list has nothing to compare (no set of its 150,000 keys is made).
    const queued = this.applier.queuedUpserts(r.kind);
    const gone: string[] = [];
    if (r.known.size > 0 || queued.length > 0) {
      const seen = new Set<string>();
      for (const p of result.prepared) seen.add(p.key);
      for (const key of r.known.keys()) if (!seen.has(key)) gone.push(key);
      for (const key of queued) if (!seen.has(key)) gone.push(key);
    }
    for (const p of result.prepared) this.enqueuePrepared(p);
    for (const key of gone) this.enqueue({ kind: r.kind, key });
    if (!r.listed) {
      r.listed = true;
      this.checkSynced();
    }
    return { apiVersion: r.apiVersion, kind: `${r.kind}List`, metadata: { resourceVersion: result.resourceVersion }, items: result.items };
  }

  private checkSynced(): void {
    if (this.synced || !Object.values(this.resources).every((r) => r.listed)) return;
    this.synced = true;
    this.announceSync = true;
    this.flush();
    const s = this.state!;
    this.log('info', 'initial sync complete', {
      namespaces: s.namespaces.size, pods: s.pods.size, nodes: s.nodes.size, policies: s.policies.size, clusterPolicies: s.clusterPolicies.size, rejected: s.rejected.size,
    });
    if (this.waitingSince !== undefined) {
      this.log('info', 'the first list from the API server has completed; enforcement starts once the rules are compiled and installed', {
        server: this.server, failures: this.failuresBeforeSync, waitedMs: Date.now() - this.waitingSince,
      });
    }
    if (this.nodeName && !s.nodes.has(this.nodeName)) {
      this.log('warn', 'this node is not in the API server\'s node list (check NODE_NAME / --node)', { node: this.nodeName });
    }
    this.statusChanged();
    this.syncWaiter?.resolve();
    this.syncWaiter = undefined;
  }

  // ---- applying --------------------------------------------------------------------------------

  private enqueue(p: Pending): void {
    this.enqueuePrepared(this.applier.prepare(p));
  }

  private enqueuePrepared(p: Prepared): void {
    this.applier.enqueuePrepared(p);
    // Before the first full sync everything waits for checkSynced(), which applies the whole
    // cluster as one batch: a partial state (policies without their pods) is never compiled.
    if (!this.flushTimer && !this.stopped && this.synced) this.flushTimer = setTimeout(() => this.flush(), this.coalesceMs);
  }

  /** Applies everything queued as one batch (one recompile downstream). */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const state = this.state;
    if (!state || (this.applier.size === 0 && !this.announceSync)) return;
    const { startedAt, changed } = this.applier.applyAll(state);
    if (!changed && !this.announceSync) return;
    this.announceSync = false;
    if (this.syncListeners.length === 0) return;
    const errors = [...state.rejected.values()].flat().map(formatObjectError);
    for (const l of this.syncListeners) l({ startedAt, errors });
  }

  private statusChanged(): void {
    const connected = this.isConnected;
    if (connected !== this.lastConnected) {
      this.lastConnected = connected;
      this.disconnectedAt = connected ? undefined : Date.now();
      if (this.synced) this.log('info', connected ? 'watches connected' : 'a watch is disconnected; enforcing the last known state', { connected });
    }
    if (this.listeners.length === 0) return;
    const s = this.status();
    for (const l of this.listeners) l(s);
  }
}
