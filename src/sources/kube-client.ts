// The API server side of the kube source: client configuration, a watch that can be retired,
// and paginated lists that return the raw JSON (see kube-source.ts for why these exist).

import {
  HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, RequestContext, Watch, type KubernetesObject,
} from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import { ListStream } from './list-stream.ts';

/**
 * Loads the API client configuration: the kubeconfig file when a path is given, else the
 * in-cluster service account. Throws an Error naming what is missing.
 */
export function loadKubeConfig(path?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path !== undefined) {
    if (!existsSync(path)) throw new Error(`kubeconfig ${path}: no such file`);
    try {
      kc.loadFromFile(path);
    } catch (e) {
      // The YAML reader's message ends "(line:column)" and goes on with an excerpt of the
      // file over several lines: the first line says what and where.
      throw new Error(`kubeconfig ${path}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (context !== undefined) {
      // setCurrentContext accepts any name; a typo would then fail later as "no current cluster".
      if (!kc.getContextObject(context)) {
        const names = kc.getContexts().map((c) => c.name);
        throw new Error(`kubeconfig ${path}: no context "${context}" (it has: ${names.length ? names.join(', ') : 'none'})`);
      }
      kc.setCurrentContext(context);
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
 * How long an answered watch stream may stay silent before it is reopened. The API server's watch
 * cache sends each watcher that allows bookmarks one about every minute (the cacher's
 * bookmarkFrequency), so a live stream is never silent much longer than that; two and a half
 * times it leaves room for a busy server. A stream silent longer is reopened as routine, and a
 * server that then does not answer the new request within the request timeout is a failure.
 */
export const WATCH_SILENCE_MS = 150_000;

/**
 * A Watch that can be retired: afterwards it starts no request, aborts the ones it started and
 * delivers nothing more, so a stopped informer cannot come back to life.
 */
export class ClosableWatch extends Watch {
  private closed = false;
  private readonly live = new Set<AbortController>();

  private readonly timeoutMs: number;
  private readonly silenceMs: number;
  /** Reads of requestTimeoutMs since the current request started (see the constructor). */
  private timeoutReads = 0;
  private readonly slim?: (o: KubernetesObject) => KubernetesObject;
  private readonly malformed?: (type: string, problem: string, name?: string) => void;

  /**
   * slim, when given, replaces each ADDED/MODIFIED/DELETED event's object before it is delivered
   * (see SlimObject). timeoutMs: a watch request unanswered this long fails (client-node's 30 s
   * by default). silenceMs: an answered stream that stays silent this long is reopened
   * (WATCH_SILENCE_MS by default). malformed hears of each event dropped because ListWatch or the
   * handlers could not take it (see watch()), with the object's name when it has one.
   */
  constructor(config: KubeConfig, opts: {
    slim?: (o: KubernetesObject) => KubernetesObject;
    timeoutMs?: number;
    silenceMs?: number;
    malformed?: (type: string, problem: string, name?: string) => void;
  } = {}) {
    super(config);
    this.slim = opts.slim;
    this.malformed = opts.malformed;
    // Watch's field (private in its typings; 30 s by default).
    const w = this as unknown as { requestTimeoutMs: number };
    this.timeoutMs = opts.timeoutMs ?? w.requestTimeoutMs;
    this.silenceMs = opts.silenceMs ?? WATCH_SILENCE_MS;
    // client-node's Watch arms one timer with requestTimeoutMs: before the request is sent, then
    // again once the answer came, and at each chunk of the stream; so one value served as both the
    // answer's deadline and the stream's silence limit. At 30 s of silence a quiet resource's watch
    // (namespaces, policies, the cluster policy kinds) was reopened every 30 s by every node's
    // agent, although the API server's bookmarks say about once a minute that it is alive: 5,000
    // nodes made about a thousand needless watch requests a second. The field is read anew each
    // time the timer is armed, and an instance runs one request at a time (ListWatch starts the
    // next after the last has ended), so the first read of a request gets the answer's deadline
    // and every later read the silence limit.
    Object.defineProperty(this, 'requestTimeoutMs', {
      configurable: true,
      get: () => (this.timeoutReads++ === 0 ? this.timeoutMs : this.silenceMs),
    });
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    if (this.closed) return new AbortController();
    // client-node's Watch aborts with a TimeoutError both when the request gets no answer within
    // requestTimeoutMs and when an open stream stays silent that long, and ListWatch takes either
    // as routine: it reopens the watch at once and reports nothing. A quiet resource's stream
    // does go silent (bookmarks come about once a minute), but a request nobody answers is an API
    // server out of reach without a refusal or reset (a network partition, a hung server): left
    // as a TimeoutError, the source went on counting itself connected (Ready) forever while
    // hearing nothing. So a timeout before the answer (super.watch has not returned yet) is
    // handed on as a plain Error, which ListWatch reports: the source then marks the resource
    // disconnected, logs it and restarts with backoff.
    let answered = false;
    let c: AbortController | undefined;
    // Set once ListWatch has been told this request ended: nothing more of it reaches ListWatch
    // (an ERROR event ends it here, and the abort that follows ends it again in client-node).
    let ended = false;
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      done(err);
    };
    const resource = path.replace(/\?.*$/, '');
    this.timeoutReads = 0;
    try {
      c = await super.watch(
        path,
        queryParams,
        (phase, obj, w) => {
          if (this.closed || ended) return;
          const change = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
          // ListWatch reads obj.code / obj.metadata.namespace unchecked, inside an async handler
          // that nobody awaits: an event whose object is null or has no metadata became an
          // unhandled rejection, which ends the agent's process. One without a name would be
          // cached under "" and then ignored without a word. Such an event names no object to
          // reject, so it is dropped here and reported; the stream and every other event go on.
          const problem = typeof obj !== 'object' || obj === null || Array.isArray(obj) ? 'not an object'
            : !change ? undefined
            : typeof obj.metadata !== 'object' || obj.metadata === null ? 'no metadata'
            : typeof obj.metadata.name !== 'string' || obj.metadata.name === '' ? 'no metadata.name' : undefined;
          if (problem !== undefined) {
            this.malformed?.(String(phase), problem);
            return;
          }
          // ListWatch acts on an ERROR event only when it is a 410 (it relists once the stream
          // ends) and drops any other without a word: an etcd error on a watch served from
          // storage ("leader changed", "required revision is a future revision") left the source
          // reconnecting quietly, connected and Ready, however often it came back. Such an event
          // ends the watch as a failure: logged with its Status, the resource disconnected, resumed
          // after the backoff (a 504, "Too large resource version", relists, as its HTTP form does).
          if (phase === 'ERROR' && obj.code !== 410) {
            const code = typeof obj.code === 'number' && obj.code > 0 ? obj.code : undefined;
            const head = [code, typeof obj.reason === 'string' && obj.reason !== '' ? obj.reason : undefined].filter((x) => x !== undefined).join(' ');
            const text = typeof obj.message === 'string' && obj.message !== '' ? obj.message : JSON.stringify(obj).slice(0, 200);
            end(Object.assign(new Error(`watch ${resource}: ERROR event: ${head ? `${head}: ` : ''}${text}`), code !== undefined ? { statusCode: code } : {}));
            c?.abort();
            return;
          }
          // What ListWatch and the source's handlers throw on this event's object (a namespace that
          // cannot be read as text) became an unhandled rejection too (ListWatch's handler is async
          // and not awaited): the event is dropped and reported the same way.
          const name = typeof obj.metadata?.name === 'string' ? obj.metadata.name : undefined;
          const reject = (e: unknown) => this.malformed?.(String(phase), `cannot be read: ${String(e)}`, name);
          try {
            const p: unknown = callback(phase, this.slim && change ? this.slim(obj) : obj, w);
            if (p instanceof Promise) p.catch(reject);
          } catch (e) {
            reject(e);
          }
        },
        (err) => {
          if (this.closed) return;
          const code = (err as { statusCode?: unknown } | null)?.statusCode;
          if (!answered && (err as { name?: unknown } | null)?.name === 'TimeoutError') {
            end(new Error(`watch ${path}: no response from the API server within ${this.timeoutMs / 1000} s`));
          } else if (typeof code === 'number' && err instanceof Error) {
            // A refusal: client-node's Watch keeps only the status text ("Forbidden") and drops the
            // Status body, so nothing told a 403 on the watch (RBAC granting list but not watch)
            // from the list's. The verb and the resource say it; the code stays for ListWatch (410).
            end(Object.assign(new Error(`watch ${resource}: HTTP ${code} ${err.message}`), { statusCode: code }));
          } else end(err);
        },
      );
    } catch (err) {
      // super.watch throws, without calling done, when it cannot even make the request: the
      // credentials failed (an exec plugin or token file, read per request). ListWatch awaits
      // watch() unguarded on its reconnect path, so the throw became an unhandled rejection (the
      // agent's process ended) and the watch stayed dead with the source still "connected".
      // Through done it is a failure like any other: reported, retried with backoff.
      if (!this.closed) end(err);
      const dead = new AbortController();
      dead.abort();
      return dead;
    }
    answered = true;
    if (this.closed || ended) c.abort();
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

export class ApiError extends Error {
  constructor(message: string, readonly statusCode: number) {
    super(message);
  }
}

/** Lists collections page by page (limit/continue) as raw JSON. */
export class KubeLister {
  private readonly http = new IsomorphicFetchHttpLibrary();
  constructor(
    private readonly kc: KubeConfig,
    private readonly server: string,
    private readonly pageSize: number,
    private readonly timeoutMs: number,
  ) {}

  /**
   * One full list. The very first list of a resource may be served from the API server's watch
   * cache (resourceVersion=0: cheap for the server when every node's agent starts at once, and
   * possibly a little behind, which the watch from its resourceVersion then catches up on).
   * Every later list is a consistent read: the resync reconcile relies on the list being at
   * least as new as anything the previous informer delivered.
   *
   * Each page's items go to onPage as they arrive and are not kept (a caller that decodes them
   * lets the raw JSON of 150,000 pods die page by page); they are any JSON value (what is no
   * object is the caller's to skip or refuse). Resolves to the list's resourceVersion
   * once the last page is in; a failure may come after some pages were delivered.
   */
  async listPages(path: string, fromCache: boolean, onPage: (items: unknown[]) => void): Promise<string> {
    // One connection for all the pages of a list: client-node's authentication makes a new agent
    // per request, which is a new connection per page (and a TLS handshake against a real API
    // server: 300 of them for 150,000 pods). The headers are still applied per page (a token may
    // be refreshed meanwhile).
    let dispatcher: Dispatcher | undefined;
    // A page's items come out of the response as it streams in (list-stream.ts says why: a list
    // from the watch cache ignores the limit and can be every pod of the cluster in one
    // response). A page's last items (all of them for a page within the limit) are handed back
    // with its frame, so they are decoded while the next page is asked for.
    const page = async (cont: string | undefined): Promise<{ items: unknown[]; metadata?: { resourceVersion?: unknown; continue?: unknown } }> => {
      const url = new URL(this.server + path);
      url.searchParams.set('limit', String(this.pageSize));
      if (cont) url.searchParams.set('continue', cont);
      else if (fromCache) url.searchParams.set('resourceVersion', '0');
      const ctx = new RequestContext(url.toString(), HttpMethod.GET);
      ctx.setHeaderParam('Accept', 'application/json');
      await this.kc.applySecurityAuthentication(ctx);
      if (dispatcher === undefined) dispatcher = ctx.getDispatcher();
      else ctx.setDispatcher(dispatcher);
      ctx.setSignal(AbortSignal.timeout(this.timeoutMs));
      const resp = await this.http.send(ctx).toPromise();
      if (resp.httpStatusCode !== 200) {
        throw new ApiError(`list ${path}: HTTP ${resp.httpStatusCode}: ${statusMessage(await resp.body.text())}`, resp.httpStatusCode);
      }
      const body = resp.body.stream();
      if (body === null) throw new Error(`list ${path}: response has no items list`);
      // Batches one larger than a page: a page the server cut at the limit comes back whole as `rest`.
      const list = new ListStream(onPage, this.pageSize + 1, `list ${path}`);
      for await (const chunk of body) list.push(chunk);
      const { frame, rest } = list.end();
      return { items: rest, metadata: frame.metadata };
    };
    try {
      let resourceVersion = '';
      let cont: string | undefined;
      let next = page(undefined);
      do {
        const body = await next;
        // Every page of one list shares the first page's snapshot.
        if (!resourceVersion) resourceVersion = String(body.metadata?.resourceVersion ?? '');
        cont = typeof body.metadata?.continue === 'string' && body.metadata.continue !== '' ? body.metadata.continue : undefined;
        // The next page is asked for before this one is handed over, so the API server builds it
        // while onPage decodes this one. (Awaited next round; a failure meanwhile is not unhandled.)
        if (cont) {
          next = page(cont);
          next.catch(() => {});
        }
        onPage(body.items);
      } while (cont);
      return resourceVersion;
    } finally {
      const d = dispatcher as { close?: () => Promise<void> } | undefined;
      void d?.close?.().catch(() => {});
    }
  }
}

/** Full jitter in [ms/2, ms]: spreads reconnects of many agents after an API server restart. */
export function jitter(ms: number): number {
  return ms / 2 + Math.random() * (ms / 2);
}

export function jitter10(ms: number): number {
  return ms * (0.9 + Math.random() * 0.2);
}

export function statusMessage(text: string): string {
  try {
    const s = JSON.parse(text);
    if (s && typeof s.message === 'string') return s.reason ? `${s.reason}: ${s.message}` : s.message;
  } catch {
    // not a Status object
  }
  return text.slice(0, 200);
}

export function describeError(err: unknown): string {
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
