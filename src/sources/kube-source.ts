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
//   answers 410 and the informer relists.
// - A stopped ListWatch that was sleeping in its reconnect delay, or connecting, still opens a
//   watch afterwards and keeps feeding callbacks. Each informer therefore gets its own
//   ClosableWatch that refuses new requests and aborts live ones once retired, and every
//   callback checks it still belongs to the current informer.
// - List items come from our own list call, paginated (limit/continue), so they are the same raw
//   JSON as watch events (the generated typed clients rebuild objects and drop unknown fields,
//   which would hide the very typos decode.ts reports). Typed lists carry no kind, so items are
//   decoded with decodeAs(kind).
// - Every list is reconciled against what this source put into the state, so an object deleted
//   while we were away disappears after a relist even when the informer's own cache is new
//   (periodic resync replaces the informer to re-read everything from the server).
// - Events are coalesced for a short window into one ClusterState.batch(), so a burst (a
//   Deployment scaling up, a relist) costs one recompile. Updates that do not change the decoded
//   model (pod status heartbeats, annotations) do not reach the state at all.
// - An invalid object is rejected with its errors (logged once per version) and its last good
//   version stays in force: a broken update must not silently open traffic.

import {
  HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, ListWatch, RequestContext, Watch,
  type KubernetesListObject, type KubernetesObject,
} from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import type { ClusterState, ObjectKind } from '../cluster/state.ts';
import { applyDecoded, decodeAs, deleteByKind } from '../cluster/decode.ts';
import { formatObjectError } from '../cluster/model.ts';
import type { Source, SyncInfo } from './source.ts';

/** The resources the agent reads, with their cluster-wide collection paths. */
export const KUBE_RESOURCES: readonly { readonly kind: ObjectKind; readonly apiVersion: string; readonly path: string }[] = [
  { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces' },
  { kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods' },
  { kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes' },
  { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', path: '/apis/networking.k8s.io/v1/networkpolicies' },
];

/** pino-compatible: fields first, message second. */
export interface SourceLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** JSON lines on stderr, for when the caller brings no logger. */
export const stderrLogger: SourceLogger = {
  info: (f, msg) => writeLog('info', f, msg),
  warn: (f, msg) => writeLog('warn', f, msg),
  error: (f, msg) => writeLog('error', f, msg),
};

/** Adapts a `(level, msg, fields)` logger (the agent's) to SourceLogger. */
export function sourceLogger(log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void): SourceLogger {
  return {
    info: (f, msg) => log('info', msg, f as Record<string, unknown>),
    warn: (f, msg) => log('warn', msg, f as Record<string, unknown>),
    error: (f, msg) => log('error', msg, f as Record<string, unknown>),
  };
}

function writeLog(level: string, fields: object, msg: string): void {
  process.stderr.write(JSON.stringify({ level, time: new Date().toISOString(), component: 'kube-source', msg, ...fields }) + '\n');
}

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
  readonly log?: SourceLogger;
}

export interface ResourceStatus {
  /** The first full list of this resource has been applied. */
  readonly listed: boolean;
  readonly connected: boolean;
  /** Objects of this kind currently known from the API (valid or rejected). */
  readonly objects: number;
  readonly lists: number;
  readonly restarts: number;
  readonly errors: number;
  readonly lastError?: string;
}

export interface KubeSourceStatus {
  /** Every resource has been listed completely at least once and applied to the state. */
  readonly synced: boolean;
  /** Every resource's watch is up (false while any is in restart backoff). */
  readonly connected: boolean;
  /** Wall-clock ms of the last list or watch event received. */
  readonly lastEventAt?: number;
  /** Watch reconnections of all kinds (clean reconnects, restarts after errors). */
  readonly watchRestarts: number;
  readonly relists: number;
  readonly resyncs: number;
  /** Objects currently rejected by validation. */
  readonly rejected: number;
  readonly resources: Readonly<Record<ObjectKind, ResourceStatus>>;
}

export type StatusListener = (s: KubeSourceStatus) => void;

/**
 * Loads the API client configuration: the kubeconfig file when a path is given, else the
 * in-cluster service account. Throws an Error naming what is missing.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path !== undefined) {
    if (!existsSync(path)) throw new Error(`kubeconfig ${path}: no such file`);
    try {
      kc.loadFromFile(path);
    } catch (e) {
      throw new Error(`kubeconfig ${path}: ${(e as Error).message}`);
    }
    if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${path}: no current cluster (check current-context)`);
    return kc;
  }
  if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
    throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): pass --kubeconfig PATH');
  }
  kc.loadFromCluster();
  return kc;
}

/**
 * A Watch that can be retired: afterwards it starts no request, aborts the ones it started and
 * delivers nothing more, so a stopped informer cannot come back to life.
 */
class ClosableWatch extends Watch {
  private closed = false;
  private readonly live = new Set<AbortController>();

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    if (this.closed) return new AbortController();
    const c = await super.watch(
      path,
      queryParams,
      (phase, obj, w) => {
        if (!this.closed) callback(phase, obj, w);
      },
      (err) => {
        if (!this.closed) done(err);
      },
    );
    if (this.closed) c.abort();
    else if (!c.signal.aborted) {
      this.live.add(c);
      c.signal.addEventListener('abort', () => this.live.delete(c), { once: true });
    }
    return c;
  }

  close(): void {
    this.closed = true;
    for (const c of this.live) c.abort();
    this.live.clear();
  }
}

/** One informer generation of one resource. */
interface Instance {
  readonly informer: ListWatch<KubernetesObject>;
  readonly watch: ClosableWatch;
  retired: boolean;
  connects: number;
  connectedAt: number;
  sawEvent: boolean;
}

interface Resource {
  readonly kind: ObjectKind;
  readonly apiVersion: string;
  readonly path: string;
  current?: Instance;
  listed: boolean;
  connected: boolean;
  /** Consecutive failures without a healthy connection in between (drives the backoff). */
  failures: number;
  restartTimer?: NodeJS.Timeout;
  /** key -> resourceVersion of the last version applied to (or rejected from) the state. */
  readonly known: Map<string, string>;
  lists: number;
  /** Lists after the first successful one (410 recoveries, resyncs). */
  relists: number;
  restarts: number;
  errors: number;
  lastError?: string;
}

/** A queued change: raw undefined means deleted. */
interface Pending {
  readonly kind: ObjectKind;
  readonly key: string;
  readonly raw?: KubernetesObject;
}

class ApiError extends Error {
  constructor(message: string, readonly statusCode: number) {
    super(message);
  }
}

/** How long a watch must stay up (or deliver an event) before its failure counter resets. */
const HEALTHY_AFTER_MS = 10_000;

export class KubeSource implements Source {
  readonly nodeName: string | undefined;
  private readonly kc: KubeConfig;
  private readonly server: string;
  private readonly http = new IsomorphicFetchHttpLibrary();
  private readonly log: SourceLogger;
  private readonly coalesceMs: number;
  private readonly resyncMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly pageSize: number;
  private readonly listTimeoutMs: number;
  private readonly resources: Record<ObjectKind, Resource>;
  private state?: ClusterState;
  private pending = new Map<string, Pending>();
  private flushTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private readonly delayTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private synced = false;
  /** The first full sync is reported to onSync listeners even when the cluster is empty. */
  private announceSync = false;
  private lastConnected = false;
  private lastEventAt?: number;
  private resyncs = 0;
  private readonly listeners: StatusListener[] = [];
  private readonly syncListeners: ((info: SyncInfo) => void)[] = [];
  /** When the oldest change waiting in `pending` was received. */
  private pendingSince = 0;
  /** Bumped whenever the set of rejected objects (or their errors) changes. */
  private rejectVersion = 0;
  private syncWaiter?: { resolve: () => void; reject: (e: Error) => void };

  constructor(opts: KubeSourceOptions = {}) {
    this.kc = opts.kubeConfig ?? loadKubeConfig(opts.kubeconfig);
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kube config has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.nodeName = opts.nodeName ?? (process.env.NODE_NAME || undefined);
    this.log = opts.log ?? stderrLogger;
    this.coalesceMs = opts.coalesceMs ?? 50;
    // Long by default: each resync is a full consistent list of every pod, for every node's agent.
    this.resyncMs = opts.resyncMs ?? 30 * 60_000;
    this.backoffInitialMs = opts.backoffInitialMs ?? 500;
    this.backoffMaxMs = opts.backoffMaxMs ?? 30_000;
    this.pageSize = opts.pageSize ?? 500;
    this.listTimeoutMs = opts.listTimeoutMs ?? 60_000;
    const rs = {} as Record<ObjectKind, Resource>;
    for (const r of KUBE_RESOURCES) {
      rs[r.kind] = { ...r, listed: false, connected: false, failures: 0, known: new Map(), lists: 0, relists: 0, restarts: 0, errors: 0 };
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
    this.log.info({ server: this.server, node: this.nodeName ?? null }, 'starting informers');
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

  get isConnected(): boolean {
    return Object.values(this.resources).every((r) => r.connected);
  }

  status(): KubeSourceStatus {
    const resources = {} as Record<ObjectKind, ResourceStatus>;
    let restarts = 0;
    let relists = 0;
    for (const r of Object.values(this.resources)) {
      restarts += r.restarts;
      relists += r.relists;
      resources[r.kind] = {
        listed: r.listed, connected: r.connected, objects: r.known.size, lists: r.lists, restarts: r.restarts, errors: r.errors,
        ...(r.lastError !== undefined ? { lastError: r.lastError } : {}),
      };
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
    const watch = new ClosableWatch(this.kc);
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
    const onObject = (raw: KubernetesObject, deleted: boolean) => {
      if (!live()) return;
      inst.sawEvent = true;
      this.lastEventAt = Date.now();
      if (!r.connected) {
        r.connected = true;
        this.statusChanged();
      }
      const key = objectKey(r.kind, raw);
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
    r.errors++;
    r.lastError = describeError(err);
    if (r.connected) {
      r.connected = false;
      this.statusChanged();
    }
    if (r.restartTimer) return;
    if (inst.sawEvent || (inst.connectedAt > 0 && Date.now() - inst.connectedAt >= HEALTHY_AFTER_MS)) r.failures = 0;
    const delay = jitter(Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(r.failures, 20)));
    r.failures++;
    this.log.warn({ resource: r.path, error: r.lastError, failures: r.failures, retryInMs: Math.round(delay) }, 'list/watch failed; restarting');
    r.restartTimer = setTimeout(() => {
      r.restartTimer = undefined;
      void this.runStart(r, inst);
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

  /** The informer's list function: every page, queued as upserts plus deletes for what vanished. */
  private async list(r: Resource, inst: Instance): Promise<KubernetesListObject<KubernetesObject>> {
    r.lists++;
    if (r.listed) r.relists++;
    let result: { items: KubernetesObject[]; resourceVersion: string } | undefined;
    for (let attempt = 0; !result; attempt++) {
      try {
        result = await this.listPages(r.path, !r.listed);
      } catch (e) {
        // A continue token can expire between pages (410); a fresh list from the top is fine.
        if (e instanceof ApiError && e.statusCode === 410 && attempt < 2) continue;
        throw e;
      }
    }
    if (inst.retired || this.stopped) throw new Error('informer retired');
    this.lastEventAt = Date.now();
    const seen = new Set<string>();
    for (const item of result.items) {
      const key = objectKey(r.kind, item);
      if (key === undefined) continue;
      seen.add(key);
      this.enqueue({ kind: r.kind, key, raw: item });
    }
    const gone: string[] = [];
    for (const key of r.known.keys()) if (!seen.has(key)) gone.push(key);
    for (const p of this.pending.values()) if (p.kind === r.kind && p.raw && !seen.has(p.key)) gone.push(p.key);
    for (const key of gone) this.enqueue({ kind: r.kind, key });
    if (!r.listed) {
      r.listed = true;
      this.checkSynced();
    }
    return { apiVersion: r.apiVersion, kind: `${r.kind}List`, metadata: { resourceVersion: result.resourceVersion }, items: result.items };
  }

  /**
   * One full list. The very first list of a resource may be served from the API server's watch
   * cache (resourceVersion=0: cheap for the server when every node's agent starts at once, and
   * possibly a little behind, which the watch from its resourceVersion then catches up on).
   * Every later list is a consistent read: the resync reconcile relies on the list being at
   * least as new as anything the previous informer delivered.
   */
  private async listPages(path: string, fromCache: boolean): Promise<{ items: KubernetesObject[]; resourceVersion: string }> {
    const items: KubernetesObject[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    do {
      const url = new URL(this.server + path);
      url.searchParams.set('limit', String(this.pageSize));
      if (cont) url.searchParams.set('continue', cont);
      else if (fromCache) url.searchParams.set('resourceVersion', '0');
      const ctx = new RequestContext(url.toString(), HttpMethod.GET);
      ctx.setHeaderParam('Accept', 'application/json');
      await this.kc.applySecurityAuthentication(ctx);
      ctx.setSignal(AbortSignal.timeout(this.listTimeoutMs));
      const resp = await this.http.send(ctx).toPromise();
      const text = await resp.body.text();
      if (resp.httpStatusCode !== 200) {
        throw new ApiError(`list ${path}: HTTP ${resp.httpStatusCode}: ${statusMessage(text)}`, resp.httpStatusCode);
      }
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error(`list ${path}: response is not JSON`);
      }
      if (typeof body !== 'object' || body === null || !Array.isArray(body.items)) throw new Error(`list ${path}: response has no items list`);
      // Every page of one list shares the first page's snapshot.
      if (!resourceVersion) resourceVersion = String(body.metadata?.resourceVersion ?? '');
      for (const it of body.items) items.push(it as KubernetesObject);
      cont = typeof body.metadata?.continue === 'string' && body.metadata.continue !== '' ? body.metadata.continue : undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  private checkSynced(): void {
    if (this.synced || !Object.values(this.resources).every((r) => r.listed)) return;
    this.synced = true;
    this.announceSync = true;
    this.flush();
    const s = this.state!;
    this.log.info(
      { namespaces: s.namespaces.size, pods: s.pods.size, nodes: s.nodes.size, policies: s.policies.size, rejected: s.rejected.size },
      'initial sync complete',
    );
    if (this.nodeName && !s.nodes.has(this.nodeName)) {
      this.log.warn({ node: this.nodeName }, 'this node is not in the API server\'s node list (check NODE_NAME / --node)');
    }
    this.statusChanged();
    this.syncWaiter?.resolve();
    this.syncWaiter = undefined;
  }

  // ---- applying --------------------------------------------------------------------------------

  private enqueue(p: Pending): void {
    const id = `${p.kind} ${p.key}`;
    if (this.pending.size === 0) this.pendingSince = Date.now();
    // Last write wins per object; deleting and re-adding keeps the newest state only.
    this.pending.delete(id);
    this.pending.set(id, p);
    // Before the first full sync everything waits for checkSynced(), which applies the whole
    // cluster as one batch: a partial state (policies without their pods) is never compiled.
    if (!this.flushTimer && !this.stopped && this.synced) this.flushTimer = setTimeout(() => this.flush(), this.coalesceMs);
  }

  /** Applies everything queued as one batch (one recompile downstream). */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const state = this.state;
    if (!state || (this.pending.size === 0 && !this.announceSync)) return;
    const ops = [...this.pending.values()];
    const startedAt = this.pendingSince || Date.now();
    this.pending = new Map();
    const gen = state.generation;
    const rejects = this.rejectVersion;
    state.batch(() => {
      for (const op of ops) this.apply(state, op);
    });
    if (state.generation === gen && rejects === this.rejectVersion && !this.announceSync) return;
    this.announceSync = false;
    if (this.syncListeners.length === 0) return;
    const errors = [...state.rejected.values()].flat().map(formatObjectError);
    for (const l of this.syncListeners) l({ startedAt, errors });
  }

  private apply(state: ClusterState, op: Pending): void {
    const r = this.resources[op.kind];
    if (!op.raw) {
      if (!r.known.has(op.key)) return;
      r.known.delete(op.key);
      if (state.rejected.has(`${op.kind} ${op.key}`)) this.rejectVersion++;
      deleteByKind(state, op.kind, op.key);
      return;
    }
    const rv = String(op.raw.metadata?.resourceVersion ?? '');
    // Lists and resyncs re-deliver objects we already have; same version, nothing to do.
    if (rv !== '' && r.known.get(op.key) === rv) return;
    r.known.set(op.key, rv);
    const d = decodeAs(op.kind, op.raw, 'kube-apiserver');
    if (d.kind === 'ignored') return;
    if (d.kind === 'invalid') {
      state.reject(op.kind, op.key, d.errors);
      this.rejectVersion++;
      // Logged once per object version: a version is decoded only once (see `known`).
      this.log.warn(
        { object: `${op.kind} ${op.key}`, resourceVersion: rv, errors: d.errors.map(formatObjectError), keptPrevious: hasObject(state, op.kind, op.key) },
        'object rejected; the previous valid version (if any) stays in force',
      );
      return;
    }
    const rejectedBefore = state.rejected.has(`${op.kind} ${op.key}`);
    if (!rejectedBefore && sameValue(currentValue(state, op.kind, op.key), d.value)) return;
    applyDecoded(state, d);
    if (rejectedBefore) this.rejectVersion++;
    if (rejectedBefore) this.log.info({ object: `${op.kind} ${op.key}`, resourceVersion: rv }, 'object valid again');
  }

  private statusChanged(): void {
    const connected = this.isConnected;
    if (connected !== this.lastConnected) {
      this.lastConnected = connected;
      if (this.synced) this.log.info({ connected }, connected ? 'watches connected' : 'a watch is disconnected; enforcing the last known state');
    }
    if (this.listeners.length === 0) return;
    const s = this.status();
    for (const l of this.listeners) l(s);
  }
}

function objectKey(kind: ObjectKind, raw: KubernetesObject): string | undefined {
  const name = raw?.metadata?.name;
  if (typeof name !== 'string' || name === '') return undefined;
  if (kind === 'Pod' || kind === 'NetworkPolicy') return `${raw.metadata?.namespace ?? ''}/${name}`;
  return name;
}

function currentValue(state: ClusterState, kind: ObjectKind, key: string): unknown {
  switch (kind) {
    case 'Namespace': return state.namespaces.get(key);
    case 'Pod': return state.pods.get(key);
    case 'Node': return state.nodes.get(key);
    case 'NetworkPolicy': return state.policies.get(key);
  }
}

function hasObject(state: ClusterState, kind: ObjectKind, key: string): boolean {
  return currentValue(state, kind, key) !== undefined;
}

/** Structural equality of decoded model values (plain objects, arrays, primitives). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (!sameValue(ao[k], bo[k])) return false;
  return true;
}

/** Full jitter in [ms/2, ms]: spreads reconnects of many agents after an API server restart. */
function jitter(ms: number): number {
  return ms / 2 + Math.random() * (ms / 2);
}

function jitter10(ms: number): number {
  return ms * (0.9 + Math.random() * 0.2);
}

function statusMessage(text: string): string {
  try {
    const s = JSON.parse(text);
    if (s && typeof s.message === 'string') return s.reason ? `${s.reason}: ${s.message}` : s.message;
  } catch {
    // not a Status object
  }
  return text.slice(0, 200);
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const code = (err as { statusCode?: number }).statusCode;
    let s = err.message;
    if (code !== undefined && !s.includes(String(code))) s = `HTTP ${code} ${s}`;
    if (cause?.code) s += ` (${cause.code})`;
    else if (cause?.message) s += ` (${cause.message})`;
    return s;
  }
  return String(err);
}
