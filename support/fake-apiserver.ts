// An in-process stand-in for kube-apiserver's list/watch protocol, for the four resources the
// agent watches. It is deliberately faithful where clients depend on the details:
//
// - One global resourceVersion counter (etcd's revision): every create/update/delete bumps it and
//   stamps the object's metadata.resourceVersion; a list reports the counter as the list's
//   metadata.resourceVersion.
// - List items carry no kind/apiVersion (the API server strips them from typed lists); watch
//   event objects do. A client that decodes by `kind` must fill them in for list items.
// - `?watch=true&resourceVersion=N` replays every event newer than N from the history and then
//   streams new ones as newline-delimited JSON {type, object}; no or "0" resourceVersion starts
//   with a synthetic ADDED per existing object ("Start at Most Recent" / "Any").
// - After compact(), a watch from a resourceVersion older than the compaction point fails with
//   410 Gone: either as an ERROR event carrying a Status {code: 410, reason: 'Expired'} on an
//   HTTP 200 stream (what the watch cache does) or as an HTTP 410 response (both are sent by
//   real servers depending on where the watch is served).
// - A watch from a resourceVersion newer than the server's (an etcd restored from a backup, or a
//   replica whose cache lags behind the one the client last read: watchCacheLag) is refused with 504
//   "Too large resource version" (reason Timeout, cause ResourceVersionTooLarge), as the watch
//   cache refuses it once its wait for that revision runs out.
// - limit/continue pagination over a snapshot taken by the first page; an expired continue
//   token is a 410 as well. A resourceVersion=0 list ignores the limit, as the watch cache does.
// - allowWatchBookmarks=true gets BOOKMARK events (object = kind/apiVersion/metadata only).
// - An optional bearer token is enforced (401 Status otherwise).
//
// - The Network Policy API kinds (ClusterNetworkPolicy, AdminNetworkPolicy,
//   BaselineAdminNetworkPolicy) are CRDs: absent until installCRD(kind), their paths answer 404
//   NotFound as the API server does for a resource it does not serve. removeCRD() deletes the
//   objects (DELETED events, as the CRD finalizer does, unless `silently`), closes the watches
//   and brings the 404 back. A CRD serves some of its kind's versions (ClusterNetworkPolicy:
//   v1alpha2, the default, and v1beta1): installCRD(kind, versions) and serveVersions() set
//   which, each version's path answers 404 while it is not served, and objects go out with the
//   apiVersion of the path they were read from and nothing else changed, as a CRD without a
//   conversion webhook ("None" strategy) serves them.
//
// Test controls: apply/create/update/remove/relabel objects, dropWatches() (abrupt or graceful),
// compact(), backup()/restore(), bookmark(), injectEvent() (a corrupt event), rawListItems (corrupt list elements), corruptNextEvent (a line that is not JSON), installCRD()/removeCRD(), stop()/start() (the port stays the same so a
// client can come back), freeze()/thaw() (silent but connected, as behind a network partition),
// and writeKubeconfig() for a plain-http kubeconfig pointing here.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

export type CrdKind = 'ClusterNetworkPolicy' | 'AdminNetworkPolicy' | 'BaselineAdminNetworkPolicy';
export type FakeKind = 'Pod' | 'Namespace' | 'Node' | 'NetworkPolicy' | CrdKind;

interface KindInfo {
  readonly apiVersion: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  /** Plural resource name (paths, RBAC messages). */
  readonly resource: string;
  /** Served only while its CRD is installed. */
  readonly crd?: boolean;
  /** A CRD's versions a test may serve (installCRD, serveVersions); `apiVersion`'s is the default. */
  readonly versions?: readonly string[];
}

export const KIND_INFO: Readonly<Record<FakeKind, KindInfo>> = {
  Pod: { apiVersion: 'v1', listKind: 'PodList', namespaced: true, resource: 'pods' },
  Namespace: { apiVersion: 'v1', listKind: 'NamespaceList', namespaced: false, resource: 'namespaces' },
  Node: { apiVersion: 'v1', listKind: 'NodeList', namespaced: false, resource: 'nodes' },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', listKind: 'NetworkPolicyList', namespaced: true, resource: 'networkpolicies' },
  ClusterNetworkPolicy: {
    apiVersion: 'policy.networking.k8s.io/v1alpha2', listKind: 'ClusterNetworkPolicyList', namespaced: false, resource: 'clusternetworkpolicies', crd: true,
    versions: ['v1alpha2', 'v1beta1'],
  },
  AdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', listKind: 'AdminNetworkPolicyList', namespaced: false, resource: 'adminnetworkpolicies', crd: true },
  BaselineAdminNetworkPolicy: {
    apiVersion: 'policy.networking.k8s.io/v1alpha1', listKind: 'BaselineAdminNetworkPolicyList', namespaced: false, resource: 'baselineadminnetworkpolicies', crd: true,
  },
};

const FAKE_KINDS = Object.keys(KIND_INFO) as FakeKind[];

/** The cluster-wide collection path of a kind, in one of its apiVersions (the default one unless given). */
function collectionPath(kind: FakeKind, apiVersion = KIND_INFO[kind].apiVersion): string {
  const info = KIND_INFO[kind];
  return apiVersion.includes('/') ? `/apis/${apiVersion}/${info.resource}` : `/api/${apiVersion}/${info.resource}`;
}

/** Every apiVersion a kind can be served in. */
function apiVersionsOf(kind: FakeKind): string[] {
  const info = KIND_INFO[kind];
  if (!info.versions) return [info.apiVersion];
  const group = info.apiVersion.slice(0, info.apiVersion.indexOf('/'));
  return info.versions.map((v) => `${group}/${v}`);
}

/** A raw object as stored: JSON, with metadata.name (and namespace when namespaced). */
export type RawObject = Record<string, any> & { metadata: Record<string, any> };

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEvent {
  readonly rv: number;
  readonly kind: FakeKind;
  readonly type: EventType;
  readonly object: RawObject;
}

/** backup()'s copy of the server's objects (stored objects are never mutated, so the maps suffice). */
export interface FakeBackup {
  readonly rv: number;
  readonly objects: Readonly<Record<FakeKind, ReadonlyMap<string, RawObject>>>;
  readonly crds: ReadonlySet<FakeKind>;
}

interface Watcher {
  readonly kind: FakeKind;
  /** The apiVersion of the path it watches: its events carry it. */
  readonly apiVersion: string;
  readonly namespace?: string;
  readonly res: ServerResponse;
  readonly socket: Socket;
  readonly bookmarks: boolean;
  timer?: NodeJS.Timeout;
}

interface Snapshot {
  readonly rv: number;
  /** The stored objects (never mutated once stored: every change stores a new copy), in key order. */
  readonly items: RawObject[];
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly watch: boolean;
  readonly status: number;
}

export interface FakeApiServerOptions {
  /** Listen address; loopback only by default. */
  readonly host?: string;
  /** 0 = any free port (kept across stop()/start()). */
  readonly port?: number;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Interval of periodic BOOKMARK events on watches that asked for them; 0 = only on bookmark(). */
  readonly bookmarkIntervalMs?: number;
  /** How a watch from a compacted resourceVersion fails: ERROR event on a 200 stream, or HTTP 410. */
  readonly expired?: 'event' | 'status';
  /** Page a resourceVersion=0 list by its limit too (the watch cache does not: see serveList). */
  readonly pagesFromCache?: boolean;
}

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

function status(code: number, reason: string, message: string): RawObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** kind of an object by its `kind` field, or an error naming what is wrong. */
function kindOf(obj: RawObject): FakeKind {
  const k = obj.kind;
  if ((FAKE_KINDS as unknown[]).includes(k)) return k as FakeKind;
  throw new Error(`fake apiserver: unsupported kind ${JSON.stringify(k)}`);
}

function keyOf(kind: FakeKind, namespace: string | undefined, name: string): string {
  return KIND_INFO[kind].namespaced ? `${namespace ?? 'default'}/${name}` : name;
}

interface Route {
  readonly kind: FakeKind;
  /** The apiVersion the path names. */
  readonly apiVersion: string;
  readonly namespace?: string;
}

/** Maps a collection path to its kind (and namespace for namespaced collections). */
function route(path: string): Route | undefined {
  const p = path.replace(/\/+$/, '');
  let m: RegExpExecArray | null;
  if (p === '/api/v1/pods') return { kind: 'Pod', apiVersion: 'v1' };
  if (p === '/api/v1/namespaces') return { kind: 'Namespace', apiVersion: 'v1' };
  if (p === '/api/v1/nodes') return { kind: 'Node', apiVersion: 'v1' };
  if (p === '/apis/networking.k8s.io/v1/networkpolicies') return { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1' };
  for (const k of FAKE_KINDS) {
    if (!KIND_INFO[k].crd) continue;
    for (const v of apiVersionsOf(k)) if (p === collectionPath(k, v)) return { kind: k, apiVersion: v };
  }
  if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p))) return { kind: 'Pod', apiVersion: 'v1', namespace: decodeURIComponent(m[1]!) };
  if ((m = /^\/apis\/networking\.k8s\.io\/v1\/namespaces\/([^/]+)\/networkpolicies$/.exec(p))) {
    return { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', namespace: decodeURIComponent(m[1]!) };
  }
  return undefined;
}

export class FakeApiServer {
  /** etcd-like global revision; the last one handed out. */
  resourceVersion = 1;
  /** Watches from a resourceVersion below this get 410 Gone. */
  compactedRV = 0;
  /** Every request served, in order (for assertions such as "it relisted"). */
  readonly requests: RequestRecord[] = [];
  /** Kinds the client may not read: 403 Forbidden, as RBAC answers a missing permission. */
  readonly forbidden = new Set<FakeKind>();
  /** Kinds the client may list but not watch (a ClusterRole granting get and list only): 403 on the watch. */
  readonly forbiddenWatch = new Set<FakeKind>();
  /**
   * How many revisions the watch cache is behind (a replica that lags): a watch from a
   * resourceVersion newer than resourceVersion - watchCacheLag is refused with 504.
   */
  watchCacheLag = 0;
  /** CRD kinds currently served (installCRD / removeCRD). */
  readonly crds = new Set<FakeKind>();
  /**
   * Per kind, JSON texts served as extra elements at the end of every list of it, stored nowhere
   * else: what a broken server or proxy might put in `items` (a number, an array, a nameless object).
   */
  readonly rawListItems = new Map<FakeKind, string[]>();
  /** Kinds whose next event goes out to the open watches cut short, a line that is not JSON (the history keeps it whole). */
  readonly corruptNextEvent = new Set<FakeKind>();
  /** The apiVersions each installed CRD serves (installCRD, serveVersions). */
  private readonly served = new Map<FakeKind, readonly string[]>();

  private readonly objects = Object.fromEntries(FAKE_KINDS.map((k) => [k, new Map<string, RawObject>()])) as Record<FakeKind, Map<string, RawObject>>;
  private history: HistoryEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly snapshots = new Map<string, Snapshot>();
  /**
   * Each stored object's JSON as a list item (no kind/apiVersion), made once: a list of 150,000
   * pods is then pages of joined text, as the API server's watch cache serves it, instead of a
   * deep copy of the whole collection (seconds at the scale benchmark's size, during which the
   * client under test would wait on the fake, not on itself).
   */
  private readonly itemText = new WeakMap<RawObject, string>();
  private server?: Server;
  /** freeze(): requests held unanswered, open watch streams silent. */
  private frozen = false;
  private readonly held = new Set<ServerResponse>();
  private _port: number;
  private readonly host: string;
  private readonly opts: FakeApiServerOptions;

  private constructor(opts: FakeApiServerOptions) {
    this.opts = opts;
    this.host = opts.host ?? '127.0.0.1';
    this._port = opts.port ?? 0;
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await s.start();
    return s;
  }

  get port(): number {
    return this._port;
  }

  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h}:${this._port}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Number of watch streams currently open (optionally for one kind). */
  openWatches(kind?: FakeKind): number {
    let n = 0;
    for (const w of this.watchers) if (!kind || w.kind === kind) n++;
    return n;
  }

  /** (Re)starts listening on the same port. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    // A malformed request must not take the fake down either.
    server.on('clientError', (_err, sock) => sock.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this._port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') this._port = addr.port;
    this.server = server;
  }

  /** Makes the server unreachable: stops listening and cuts every connection abruptly. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const w of this.watchers) this.endWatcher(w, false);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Writes a kubeconfig for this server (plain http) and returns its path. */
  writeKubeconfig(path: string, token = this.opts.token): string {
    const user = token ? `    token: ${token}\n` : `    {}\n`;
    const text =
      `apiVersion: v1\nkind: Config\n` +
      // client-node refuses plain http unless TLS verification is explicitly switched off.
      `clusters:\n- name: fake\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true\n` +
      `users:\n- name: tester\n  user:\n${user}` +
      `contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n` +
      `current-context: fake\n`;
    writeFileSync(path, text);
    return path;
  }

  // ---- object controls -------------------------------------------------------------------------

  get(kind: FakeKind, namespaceOrName: string, name?: string): RawObject | undefined {
    const key = name === undefined ? namespaceOrName : keyOf(kind, namespaceOrName, name);
    const o = this.objects[kind].get(key);
    return o ? clone(o) : undefined;
  }

  list(kind: FakeKind): RawObject[] {
    return [...this.objects[kind].values()].map(clone);
  }

  /**
   * Creates or replaces an object (kind from obj.kind); returns the stored copy. `silent` stores
   * it without a watch event, simulating an event a client missed: only a fresh list shows it.
   */
  apply(obj: RawObject, opts: { silent?: boolean } = {}): RawObject {
    return clone(this.store(obj, opts));
  }

  /** apply() of each object in order (one watch event each); returns the last resourceVersion. */
  applyMany(objs: readonly RawObject[]): string | undefined {
    let rv: string | undefined;
    for (const o of objs) rv = this.store(o, {}).metadata.resourceVersion as string;
    return rv;
  }

  /** apply() without the copy it returns: the stored object itself, which no one may change. */
  private store(obj: RawObject, opts: { silent?: boolean }): RawObject {
    const kind = kindOf(obj);
    const info = KIND_INFO[kind];
    if (info.crd && !this.crds.has(kind)) throw new Error(`fake apiserver: no CRD installed for ${kind} (installCRD first)`);
    const o = clone(obj);
    o.apiVersion = info.apiVersion;
    o.metadata ??= {};
    if (typeof o.metadata.name !== 'string' || o.metadata.name === '') throw new Error('fake apiserver: metadata.name is required');
    if (info.namespaced) o.metadata.namespace ??= 'default';
    else delete o.metadata.namespace;
    const key = keyOf(kind, o.metadata.namespace, o.metadata.name);
    const prev = this.objects[kind].get(key);
    o.metadata.uid = prev?.metadata.uid ?? randomUUID();
    o.metadata.creationTimestamp = prev?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    o.metadata.resourceVersion = String(++this.resourceVersion);
    this.objects[kind].set(key, o);
    if (!opts.silent) this.record(kind, prev ? 'MODIFIED' : 'ADDED', o);
    return o;
  }

  create(obj: RawObject): RawObject {
    const kind = kindOf(obj);
    const key = keyOf(kind, obj.metadata?.namespace, obj.metadata?.name);
    if (this.objects[kind].has(key)) throw new Error(`fake apiserver: ${kind} ${key} already exists`);
    return this.apply(obj);
  }

  update(obj: RawObject): RawObject {
    const kind = kindOf(obj);
    const key = keyOf(kind, obj.metadata?.namespace, obj.metadata?.name);
    if (!this.objects[kind].has(key)) throw new Error(`fake apiserver: ${kind} ${key} not found`);
    return this.apply(obj);
  }

  /** Changes an object in place through fn (which gets a copy), like a read-modify-write client. */
  modify(kind: FakeKind, key: string, fn: (o: RawObject) => void): RawObject {
    const cur = this.objects[kind].get(key);
    if (!cur) throw new Error(`fake apiserver: ${kind} ${key} not found`);
    const o = clone(cur);
    fn(o);
    return this.apply(o);
  }

  /** Replaces metadata.labels. key is "ns/name" for namespaced kinds, "name" otherwise. */
  relabel(kind: FakeKind, key: string, labels: Record<string, string>): RawObject {
    return this.modify(kind, key, (o) => {
      o.metadata.labels = { ...labels };
    });
  }

  /** Deletes an object; returns false when it did not exist. `silent` as for apply(). */
  remove(kind: FakeKind, key: string, opts: { silent?: boolean } = {}): boolean {
    const prev = this.objects[kind].get(key);
    if (!prev) return false;
    this.objects[kind].delete(key);
    // The DELETED event carries the object's last state at the deletion's revision.
    const o = clone(prev);
    o.metadata.resourceVersion = String(++this.resourceVersion);
    if (!opts.silent) this.record(kind, 'DELETED', o);
    return true;
  }

  // ---- CRDs ------------------------------------------------------------------------------------

  /**
   * Starts serving a CRD kind's path (as once its CustomResourceDefinition is Established), in
   * the given versions (default: the kind's default apiVersion's alone).
   */
  installCRD(kind: FakeKind, versions?: readonly string[]): void {
    if (!KIND_INFO[kind].crd) throw new Error(`fake apiserver: ${kind} is not a CRD kind`);
    this.crds.add(kind);
    this.serveVersions(kind, versions ?? [KIND_INFO[kind].apiVersion.slice(KIND_INFO[kind].apiVersion.indexOf('/') + 1)]);
  }

  /**
   * Changes the versions an installed CRD serves (a CRD upgrade adding v1beta1, a later one
   * dropping v1alpha2). Objects stay; the watches of a version no longer served end, and its path
   * answers 404.
   */
  serveVersions(kind: FakeKind, versions: readonly string[]): void {
    if (!this.crds.has(kind)) throw new Error(`fake apiserver: no CRD installed for ${kind}`);
    const group = KIND_INFO[kind].apiVersion.slice(0, KIND_INFO[kind].apiVersion.indexOf('/'));
    const known = apiVersionsOf(kind);
    const apiVersions = versions.map((v) => `${group}/${v}`);
    for (const v of apiVersions) if (!known.includes(v)) throw new Error(`fake apiserver: ${kind} has no version ${v}`);
    this.served.set(kind, apiVersions);
    for (const w of [...this.watchers]) if (w.kind === kind && !apiVersions.includes(w.apiVersion)) this.endWatcher(w, true);
  }

  /**
   * Deletes a CRD: its objects go (each with a DELETED event, as the CRD's finalizer deletes
   * them, unless `silently`: then only a fresh request notices), its watches end, and its path
   * answers 404 again.
   */
  removeCRD(kind: FakeKind, opts: { silently?: boolean } = {}): void {
    if (!this.crds.has(kind)) return;
    for (const key of [...this.objects[kind].keys()]) this.remove(kind, key, { silent: opts.silently });
    this.crds.delete(kind);
    this.served.delete(kind);
    for (const w of [...this.watchers]) if (w.kind === kind) this.endWatcher(w, true);
  }

  // ---- failure controls ------------------------------------------------------------------------

  /**
   * Closes every open watch stream. Abrupt (default) destroys the socket mid-stream, which a
   * client sees as a network error; graceful ends the chunked response cleanly, as the API server
   * does when a watch's timeout expires.
   */
  dropWatches(opts: { graceful?: boolean } = {}): number {
    let n = 0;
    for (const w of [...this.watchers]) {
      this.endWatcher(w, opts.graceful ?? false);
      n++;
    }
    return n;
  }

  /**
   * Forgets all history, like an etcd compaction: a later watch from any resourceVersion handed
   * out so far (and any continue token) gets 410 Gone, forcing a relist. With
   * dropWatches the open streams are cut too, so clients must come back through that path.
   */
  compact(opts: { dropWatches?: boolean; graceful?: boolean } = {}): void {
    // Bump the revision so every resourceVersion a client can hold is now older than the
    // compaction point, while a fresh list (which reports the new revision) can watch again.
    this.compactedRV = ++this.resourceVersion;
    this.history = [];
    for (const [id, snap] of this.snapshots) if (snap.rv < this.compactedRV) this.snapshots.delete(id);
    if (opts.dropWatches) this.dropWatches({ graceful: opts.graceful });
  }

  /** The objects and revision as they are now, for restore(). */
  backup(): FakeBackup {
    return { rv: this.resourceVersion, objects: Object.fromEntries(FAKE_KINDS.map((k) => [k, new Map(this.objects[k])])) as Record<FakeKind, Map<string, RawObject>>, crds: new Set(this.crds) };
  }

  /**
   * Puts back what backup() saw, revision included, as an etcd restored from a snapshot: later
   * writes are gone with no event, the history before the snapshot is compacted, and every watch
   * is cut. A client that saw a later revision now holds one the server has not reached.
   */
  restore(b: FakeBackup): void {
    for (const k of FAKE_KINDS) {
      this.objects[k].clear();
      for (const [key, o] of b.objects[k]) this.objects[k].set(key, o);
    }
    this.crds.clear();
    for (const k of b.crds) this.crds.add(k);
    this.resourceVersion = b.rv;
    this.compactedRV = b.rv;
    this.history = [];
    this.snapshots.clear();
    this.dropWatches();
  }

  /**
   * Writes one event to every open watch of a kind as given, stored nowhere and in no history:
   * what a broken proxy or server bug might put on a stream (an object null, without metadata).
   */
  injectEvent(kind: FakeKind, type: string, object: unknown): void {
    for (const w of this.watchers) if (w.kind === kind && !w.res.writableEnded && !w.socket.destroyed) w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  /** Sends a BOOKMARK at the current revision to every watch that allowed bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) if (w.bookmarks) this.sendBookmark(w);
  }

  /**
   * Goes silent without closing anything, as an API server behind a network partition (or hung)
   * looks to a client: connections are still accepted, but no request is answered and open watch
   * streams deliver nothing more (writes meanwhile still happen, and are in the history).
   */
  freeze(): void {
    this.frozen = true;
  }

  /**
   * Ends a freeze(): the held requests and the silenced watch streams are cut (as the partition's
   * dead connections are once it heals), so clients come back and resume from their resourceVersion.
   */
  thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    for (const res of this.held) res.socket?.destroy();
    this.held.clear();
    this.dropWatches();
  }

  // ---- protocol --------------------------------------------------------------------------------

  /** `object` is a stored (or just deleted) copy, which nothing mutates. */
  private record(kind: FakeKind, type: EventType, object: RawObject): void {
    const ev: HistoryEvent = { rv: this.resourceVersion, kind, type, object };
    this.history.push(ev);
    const corrupt = this.corruptNextEvent.delete(kind);
    for (const w of this.watchers) {
      if (w.kind !== kind) continue;
      if (w.namespace !== undefined && object.metadata.namespace !== w.namespace) continue;
      if (!corrupt) this.send(w, type, ev.object);
      else if (!this.frozen && !w.res.writableEnded && !w.socket.destroyed) {
        const line = JSON.stringify({ type, object: ev.object });
        w.res.write(line.slice(0, line.length >> 1) + '\n');
      }
    }
  }

  private send(w: Watcher, type: string, object: RawObject): void {
    if (this.frozen || w.res.writableEnded || w.socket.destroyed) return;
    // An object of the watched kind goes out in the watched version (the stored copy unchanged).
    const o = object.kind === w.kind && object.apiVersion !== w.apiVersion ? { ...object, apiVersion: w.apiVersion } : object;
    w.res.write(JSON.stringify({ type, object: o }) + '\n');
  }

  private sendBookmark(w: Watcher): void {
    this.send(w, 'BOOKMARK', {
      kind: w.kind,
      apiVersion: w.apiVersion,
      metadata: { resourceVersion: String(this.resourceVersion), annotations: { 'k8s.io/initial-events-end': 'false' } },
    });
  }

  private endWatcher(w: Watcher, graceful: boolean): void {
    this.watchers.delete(w);
    if (w.timer) clearInterval(w.timer);
    if (graceful) w.res.end();
    else w.socket.destroy();
  }

  private reply(req: IncomingMessage, res: ServerResponse, code: number, body: unknown, watch = false): void {
    this.replyText(req, res, code, JSON.stringify(body), watch);
  }

  private replyText(req: IncomingMessage, res: ServerResponse, code: number, text: string, watch = false): void {
    this.recordRequest(req, code, watch);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private recordRequest(req: IncomingMessage, code: number, watch: boolean): void {
    const u = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? '', path: u.pathname, query: Object.fromEntries(u.searchParams), watch, status: code });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.frozen) {
      this.held.add(res);
      res.on('close', () => this.held.delete(res));
      return;
    }
    let u: URL;
    try {
      u = new URL(req.url ?? '/', 'http://x');
    } catch {
      this.reply(req, res, 400, status(400, 'BadRequest', 'malformed request URI'));
      return;
    }
    if (this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      this.reply(req, res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (u.pathname === '/version') {
      this.reply(req, res, 200, { major: '1', minor: '33', gitVersion: 'v1.33.0-fake' });
      return;
    }
    const r = route(u.pathname);
    if (!r) {
      this.reply(req, res, 404, status(404, 'NotFound', `the server could not find the requested resource (${u.pathname})`));
      return;
    }
    if (KIND_INFO[r.kind].crd && !this.served.get(r.kind)?.includes(r.apiVersion)) {
      this.reply(req, res, 404, status(404, 'NotFound', 'the server could not find the requested resource'), u.searchParams.get('watch') === 'true');
      return;
    }
    const watching = u.searchParams.get('watch') === 'true';
    if (this.forbidden.has(r.kind) || (watching && this.forbiddenWatch.has(r.kind))) {
      const resource = KIND_INFO[r.kind].resource;
      const apiVersion = KIND_INFO[r.kind].apiVersion;
      const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
      const verb = watching ? 'watch' : 'list';
      this.reply(req, res, 403, status(403, 'Forbidden',
        `${resource} is forbidden: User "system:serviceaccount:kube-system:palisade" cannot ${verb} resource "${resource}" in API group "${group}" at the cluster scope`), watching);
      return;
    }
    if (req.method !== 'GET') {
      this.reply(req, res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported by the fake`));
      return;
    }
    const q = u.searchParams;
    if (q.get('watch') === 'true' || q.get('watch') === '1') this.serveWatch(req, res, r, q);
    else this.serveList(req, res, r, q);
  }

  private matching(r: Route): RawObject[] {
    const keyed: [string, RawObject][] = [];
    for (const e of this.objects[r.kind]) {
      if (r.namespace !== undefined && e[1].metadata.namespace !== r.namespace) continue;
      keyed.push(e);
    }
    // The API server lists in key order (etcd range read); the map's keys are those keys.
    keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return keyed.map((e) => e[1]);
  }

  /** A stored object as a list item's JSON: without kind/apiVersion, as the API server serves typed lists. */
  private listItemText(o: RawObject): string {
    let t = this.itemText.get(o);
    if (t === undefined) {
      const { kind: _kind, apiVersion: _apiVersion, ...item } = o;
      t = JSON.stringify(item);
      this.itemText.set(o, t);
    }
    return t;
  }

  private serveList(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams): void {
    const info = KIND_INFO[r.kind];
    const limitText = q.get('limit');
    // resourceVersion=0 is served from the watch cache, which answers with every object and no
    // continue token whatever the limit (client-go's pager and reflector are written for it), so a
    // client's first list of 150,000 pods is one response. `pagesFromCache` pages it anyway.
    const fromCache = q.get('resourceVersion') === '0' && !q.get('continue') && !this.opts.pagesFromCache;
    const limit = !fromCache && limitText !== null && /^\d+$/.test(limitText) ? Number(limitText) : 0;
    let snap: Snapshot;
    let offset = 0;
    let id: string;
    const token = q.get('continue');
    if (token) {
      let parsed: { id?: unknown; offset?: unknown; rv?: unknown };
      try {
        parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      } catch {
        this.reply(req, res, 400, status(400, 'BadRequest', 'continue key is not valid'));
        return;
      }
      const s = typeof parsed.id === 'string' ? this.snapshots.get(parsed.id) : undefined;
      if (!s || typeof parsed.rv !== 'number' || parsed.rv < this.compactedRV) {
        this.reply(req, res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'));
        return;
      }
      snap = s;
      id = parsed.id as string;
      offset = typeof parsed.offset === 'number' ? parsed.offset : 0;
    } else {
      snap = { rv: this.resourceVersion, items: this.matching(r) };
      id = randomUUID();
    }
    const end = limit > 0 ? Math.min(offset + limit, snap.items.length) : snap.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) };
    if (end < snap.items.length) {
      this.snapshots.set(id, snap);
      metadata.continue = Buffer.from(JSON.stringify({ id, offset: end, rv: snap.rv })).toString('base64url');
      metadata.remainingItemCount = snap.items.length - end;
    } else {
      this.snapshots.delete(id);
    }
    const items: string[] = [];
    for (let i = offset; i < end; i++) items.push(this.listItemText(snap.items[i]!));
    if (end === snap.items.length) items.push(...(this.rawListItems.get(r.kind) ?? []));
    // The same text JSON.stringify gives for {kind, apiVersion, metadata, items}.
    const head = JSON.stringify({ kind: info.listKind, apiVersion: r.apiVersion, metadata });
    this.replyText(req, res, 200, `${head.slice(0, -1)},"items":[${items.join(',')}]}`);
  }

  private serveWatch(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams): void {
    const rvText = q.get('resourceVersion') ?? '';
    let from: number | undefined; // undefined: start with synthetic ADDED events for the current state
    if (rvText !== '' && rvText !== '0') {
      if (!/^\d+$/.test(rvText)) {
        this.reply(req, res, 400, status(400, 'BadRequest', `invalid resource version: ${rvText}`), true);
        return;
      }
      from = Number(rvText);
    }
    if (from !== undefined && from > this.resourceVersion - this.watchCacheLag) {
      this.reply(req, res, 504, {
        ...status(504, 'Timeout', `Too large resource version: ${from}, current: ${this.resourceVersion - this.watchCacheLag}`),
        details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 },
      }, true);
      return;
    }
    const expired = from !== undefined && from < this.compactedRV;
    if (expired && this.opts.expired === 'status') {
      this.reply(req, res, 410, status(410, 'Expired', `too old resource version: ${from} (${this.compactedRV})`), true);
      return;
    }
    this.recordRequest(req, 200, true);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // The API server answers a watch's headers at once; clients wait for them before streaming.
    res.flushHeaders();
    const socket = req.socket;
    const w: Watcher = { kind: r.kind, apiVersion: r.apiVersion, namespace: r.namespace, res, socket, bookmarks: q.get('allowWatchBookmarks') === 'true' };
    if (expired) {
      // The watch cache's way: a 200 stream whose only event is the 410 Status, then EOF.
      this.send(w, 'ERROR', status(410, 'Expired', `too old resource version: ${from} (${this.compactedRV})`));
      res.end();
      return;
    }
    if (from === undefined) {
      for (const o of this.matching(r)) this.send(w, 'ADDED', o);
    } else {
      for (const ev of this.history) {
        if (ev.rv <= from || ev.kind !== r.kind) continue;
        if (r.namespace !== undefined && ev.object.metadata.namespace !== r.namespace) continue;
        this.send(w, ev.type, ev.object);
      }
    }
    this.watchers.add(w);
    const done = () => {
      this.watchers.delete(w);
      if (w.timer) clearInterval(w.timer);
    };
    res.on('close', done);
    const interval = this.opts.bookmarkIntervalMs ?? 0;
    if (w.bookmarks && interval > 0) w.timer = setInterval(() => this.sendBookmark(w), interval);
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (Number.isFinite(timeout) && timeout > 0) {
      // The API server ends a watch gracefully when its timeoutSeconds runs out.
      const t = setTimeout(() => this.endWatcher(w, true), timeout * 1000);
      res.on('close', () => clearTimeout(t));
    }
  }
}
