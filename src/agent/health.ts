// The agent's health endpoints for the kubelet's probes.
//
// /healthz (liveness): answers 200 while the event loop keeps turning. A heartbeat timer records
// when it last ran; if the loop stalls (a runaway synchronous compile, a blocked native call) the
// heartbeat goes stale and the next probe that does get served says 503, and if the loop is stuck
// for good the probe times out. Either way the kubelet restarts the container.
//
// /readyz (readiness): 200 only once the cluster state has been fully listed AND the first rule
// set is installed in the kernel, because before that the node enforces nothing (or stale
// rules). While the API server watch is down it is 503 again: rules keep being enforced from the
// last known state, but the pod reports that the state may be getting stale.
//
// The server binds 127.0.0.1 by default: with hostNetwork the kubelet probes from the node
// itself, so nothing needs to reach it from elsewhere.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { DEFAULT_LOCAL_HOST, LOCAL_MAX_CONNECTIONS, closeLocal, createLocalServer, listenLocal, parseLocalAddress, type LocalAddress } from './local-http.ts';

export type HealthAddress = LocalAddress;

export const DEFAULT_HEALTH_HOST = DEFAULT_LOCAL_HOST;
// Not 9808: that is the CSI livenessprobe sidecar's usual port, and with hostNetwork ports are per node.
export const DEFAULT_HEALTH_PORT = 9747;

/**
 * Parses "PORT", "HOST:PORT" or "[IPv6]:PORT". HOST must be an IP literal (no name lookups at
 * startup). Throws an Error whose message names the value and what is wrong.
 */
export function parseHealthAddress(text: string): HealthAddress {
  return parseLocalAddress(text, 'health');
}

export interface HealthOptions {
  readonly host?: string;
  /** 0 picks a free port (tests); see address() for the one chosen. */
  readonly port?: number;
  /** Heartbeat period. */
  readonly heartbeatMs?: number;
  /** /healthz fails when the heartbeat is older than this. */
  readonly stallMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** What readiness is made of (see the top of this file). */
export interface ReadinessFacts {
  /** The cluster state has been listed completely at least once. */
  readonly synced: boolean;
  /** The first compiled rule set is installed and in force. */
  readonly rulesInstalled: boolean;
  /** The source's watches are connected. */
  readonly connected: boolean;
}

/** The readiness answer: /readyz's, and the status file's `ready` (agent-stats.ts statusReadiness). */
export function readinessOf(f: ReadinessFacts): ReadinessReport {
  const reasons: string[] = [];
  if (!f.synced) reasons.push('cluster state not fully listed yet');
  if (!f.rulesInstalled) reasons.push('rules not installed yet');
  if (!f.connected) reasons.push('API server watch disconnected, reconnecting');
  return { ready: reasons.length === 0, reasons };
}

export class HealthServer {
  private synced = false;
  private rulesInstalled = false;
  private connected = true;
  private lastBeat: number;
  private beat?: NodeJS.Timeout;
  private server?: Server;
  private readonly host: string;
  private port: number;
  private readonly heartbeatMs: number;
  private readonly stallMs: number;
  private readonly now: () => number;

  constructor(opts: HealthOptions = {}) {
    this.host = opts.host ?? DEFAULT_HEALTH_HOST;
    this.port = opts.port ?? DEFAULT_HEALTH_PORT;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.stallMs = opts.stallMs ?? 30_000;
    this.now = opts.now ?? Date.now;
    this.lastBeat = this.now();
  }

  /** The cluster state has been listed completely at least once (the kube source's `synced`). */
  setSynced(v: boolean): void {
    this.synced = v;
  }

  /** The first compiled rule set is installed in the kernel / classifier. */
  setRulesInstalled(v: boolean): void {
    this.rulesInstalled = v;
  }

  /** The source's watches are connected; false while it is reconnecting. */
  setConnected(v: boolean): void {
    this.connected = v;
  }

  readiness(): ReadinessReport {
    return readinessOf({ synced: this.synced, rulesInstalled: this.rulesInstalled, connected: this.connected });
  }

  liveness(): ReadinessReport {
    const age = this.now() - this.lastBeat;
    if (age > this.stallMs) return { ready: false, reasons: [`event loop heartbeat is ${age} ms old (limit ${this.stallMs} ms)`] };
    return { ready: true, reasons: [] };
  }

  address(): HealthAddress {
    return { host: this.host, port: this.port };
  }

  async start(): Promise<HealthAddress> {
    if (this.server) return this.address();
    // Probes are tiny: do not let a slow or malformed client hold sockets open, and cap the
    // sockets so a flood of them cannot exhaust the process's descriptors.
    const server = createLocalServer(
      { headersTimeoutMs: 5000, requestTimeoutMs: 5000, keepAliveTimeoutMs: 2000, maxConnections: LOCAL_MAX_CONNECTIONS },
      (req, res) => this.handle(req, res),
    );
    this.port = (await listenLocal(server, { host: this.host, port: this.port })).port;
    this.server = server;
    this.lastBeat = this.now();
    this.beat = setInterval(() => {
      this.lastBeat = this.now();
    }, this.heartbeatMs);
    // The heartbeat alone must not keep the process alive.
    this.beat.unref();
    return this.address();
  }

  async stop(): Promise<void> {
    if (this.beat) clearInterval(this.beat);
    this.beat = undefined;
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await closeLocal(s);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // Only the path matters; anything that is not one of our two paths is a 404.
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let report: ReadinessReport;
    if (path === '/healthz' || path === '/livez') report = this.liveness();
    else if (path === '/readyz') report = this.readiness();
    else return send(res, 404, { error: 'not found', paths: ['/healthz', '/readyz'] });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' }, false, { Allow: 'GET, HEAD' });
    send(res, report.ready ? 200 : 503, report.ready ? { status: 'ok' } : { status: 'unavailable', reasons: report.reasons }, req.method === 'HEAD');
  }
}

function send(res: ServerResponse, code: number, body: unknown, headOnly = false, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(headOnly ? undefined : text);
}
