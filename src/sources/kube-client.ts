// The API server side of the kube source: client configuration, a watch that can be retired,
// and paginated lists that return the raw JSON (see kube-source.ts for why these exist).

import {
  HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, RequestContext, Watch, type KubernetesObject,
} from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { fetch, type Dispatcher, type Response } from 'undici';
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
 *
 * It makes the request and reads the stream itself, not through client-node's Watch.watch, which
 * armed one timer for both the answer's deadline and the stream's silence limit (at its 30 s a
 * quiet resource's watch, namespaces or policies, was reopened every 30 s by every node's agent,
 * although the API server's bookmarks say about once a minute that it is alive: 5,000 nodes made
 * about a thousand needless watch requests a second), and which dropped a line that is not JSON
 * without a word (see watch()).
 */
export class ClosableWatch extends Watch {
  private closed = false;
  private readonly live = new Set<AbortController>();

  private readonly timeoutMs: number;
  private readonly silenceMs: number;
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
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.silenceMs = opts.silenceMs ?? WATCH_SILENCE_MS;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    const c = new AbortController();
    if (this.closed) return c;
    const resource = path.replace(/\?.*$/, '');
    // Set once ListWatch has been told this request ended: nothing more of it reaches ListWatch.
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      this.live.delete(c);
      c.abort();
      if (!this.closed) done(err);
    };
    // Two deadlines (see the class). A request nobody answers is an API server out of reach
    // without a refusal or reset (a network partition, a hung server): a plain Error, which
    // ListWatch reports (the source marks the resource disconnected, logs it and restarts with
    // backoff). An answered stream that goes silent is reopened as routine: a TimeoutError, which
    // ListWatch takes as such (it reopens the watch at once and reports nothing).
    const arm = (answered: boolean) => {
      clearTimeout(timer);
      timer = setTimeout(() => end(answered
        ? Object.assign(new Error(`watch ${resource}: silent for ${this.silenceMs / 1000} s`), { name: 'TimeoutError' })
        : new Error(`watch ${path}: no response from the API server within ${this.timeoutMs / 1000} s`)), answered ? this.silenceMs : this.timeoutMs);
      timer.unref();
    };
    this.live.add(c);
    let response: Response;
    try {
      const cluster = this.config.getCurrentCluster();
      if (!cluster) throw new Error('kube config has no current cluster');
      const url = new URL(cluster.server + path);
      url.searchParams.set('watch', 'true');
      for (const [k, v] of Object.entries(queryParams)) if (v !== undefined) url.searchParams.set(k, String(v));
      const ctx = new RequestContext(url.toString(), HttpMethod.GET);
      // Credentials are read per request (an exec plugin, a token file) and may fail: through done,
      // that is a failure like any other, reported and retried with backoff. (ListWatch awaits
      // watch() unguarded on its reconnect path: a throw was an unhandled rejection, the end of
      // the agent's process.)
      await this.config.applySecurityAuthentication(ctx);
      arm(false);
      response = await fetch(url, { method: 'GET', headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher(), signal: c.signal });
    } catch (err) {
      end(err);
      return c;
    }
    if (response.status !== 200) {
      // A refusal: the verb and the resource say which request was refused (RBAC may grant list
      // but not watch); the code stays for ListWatch (410 relists).
      const text = await response.text().catch(() => '');
      end(Object.assign(new Error(`watch ${resource}: HTTP ${response.status} ${statusMessage(text) || STATUS_CODES[response.status] || ''}`), { statusCode: response.status }));
      return c;
    }
    if (ended || response.body === null) {
      end(new Error(`watch ${resource}: response has no body`));
      return c;
    }
    arm(true);
    // Nothing more reaches ListWatch once the request ended or was aborted (by ListWatch, or close()).
    void this.readLines(response.body, () => ended || c.signal.aborted || this.closed, () => arm(true), (line) => {
      // client-node's Watch dropped a line that is not JSON without a word: the event it carried
      // (a truncated write, a proxy's damage) was lost until the next resync, up to 30 minutes, and
      // nothing said so. It ends the watch as a logged failure instead: ListWatch resumes after the
      // backoff from the last event it took, so the server sends that event again (or answers
      // 410, and the informer relists).
      let data: unknown;
      try {
        data = JSON.parse(line);
      } catch {
        end(new Error(`watch ${resource}: a line of the stream is not JSON, its event is lost (${line.length} bytes: ${line.slice(0, 80)})`));
        return;
      }
      const ev = (typeof data === 'object' && data !== null ? data : {}) as { type?: unknown; object?: unknown };
      this.event(String(ev.type), ev.object as any, data, resource, end, callback);
    }).then(() => end(null), (err: unknown) => end(err));
    return c;
  }

  /** Reads a watch stream line by line (one JSON event each) until it ends or stop() says so. */
  private async readLines(body: AsyncIterable<Uint8Array>, stop: () => boolean, chunkSeen: () => void, line: (l: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of body) {
      if (stop()) return;
      chunkSeen();
      buf += decoder.decode(chunk, { stream: true });
      let from = 0;
      for (let i = buf.indexOf('\n'); i !== -1 && !stop(); i = buf.indexOf('\n', from)) {
        const l = buf.slice(from, i);
        from = i + 1;
        if (l.trim() !== '') line(l);
      }
      buf = buf.slice(from);
    }
    buf += decoder.decode();
    if (buf.trim() !== '' && !stop()) line(buf);
  }

  /** One event of a watch stream: checked, then handed to ListWatch (or ending the watch). */
  private event(phase: string, obj: any, w: unknown, resource: string, end: (err: unknown) => void, callback: (phase: string, apiObj: any, watchObj?: any) => void): void {
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
