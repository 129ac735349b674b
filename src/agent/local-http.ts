// The plumbing both of the agent's small HTTP endpoints (health probes, Prometheus metrics) share:
// parsing where to listen, hardening the server against slow or malformed clients, and
// listening/closing. Each endpoint keeps its own routes, limits and error wording.
//
// Both bind 127.0.0.1 by default: with hostNetwork the kubelet and a node-local scraper reach
// them from the node itself, so nothing needs to reach them from elsewhere.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';

export interface LocalAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_LOCAL_HOST = '127.0.0.1';

/**
 * Parses "PORT", "HOST:PORT" or "[IPv6]:PORT"; a bare PORT listens on DEFAULT_LOCAL_HOST. HOST
 * must be an IP literal (no name lookups at startup). Throws an Error whose message starts with
 * `${what} address "${text}"` and says what is wrong.
 */
export function parseLocalAddress(text: string, what: string): LocalAddress {
  let host = DEFAULT_LOCAL_HOST;
  let portText = text;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (text.includes(':')) {
    const i = text.lastIndexOf(':');
    host = text.slice(0, i);
    portText = text.slice(i + 1);
  }
  if (isIP(host) === 0) throw new Error(`${what} address "${text}": host must be an IP address, got "${host}"`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new Error(`${what} address "${text}": port must be a number from 0 to 65535, got "${portText}"`);
  }
  return { host, port: Number(portText) };
}

/**
 * Whether two servers could not both listen on these addresses: the same port (0 excepted: the
 * kernel gives each its own) on the same host, or where one host is the unspecified address,
 * which takes the port on every address of its family; "::" takes IPv4's too (Node listens
 * dual-stack).
 */
export function addressesClash(a: LocalAddress, b: LocalAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  if (a.host === b.host || a.host === '::' || b.host === '::') return true;
  const v4 = (h: string) => isIP(h) === 4;
  return (a.host === '0.0.0.0' && v4(b.host)) || (b.host === '0.0.0.0' && v4(a.host));
}

/**
 * Sockets one endpoint keeps open at most: a kubelet's probes or a scraper need a few, and a
 * flood of idle ones must not use up the descriptors the agent's queues and tools need.
 */
export const LOCAL_MAX_CONNECTIONS = 64;

export interface LocalServerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Sockets beyond this are refused by Node; unset means no limit. */
  readonly maxConnections?: number;
}

/** Node's codes for a refused request that is not simply malformed, and the answer each gets. */
const CLIENT_ERROR_STATUS: Readonly<Record<string, string>> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
};

/** An HTTP server that does not let slow, half-open or malformed clients pin its sockets. */
export function createLocalServer(
  limits: LocalServerLimits,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  // Node enforces headersTimeout/requestTimeout only when its periodic connection check runs
  // (every 30 s by default), so check every second; otherwise a handful of slow clients could
  // hold every socket (and lock the kubelet's probes out) for half a minute.
  const server = createServer({ connectionsCheckingInterval: 1000 }, handle);
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  if (limits.maxConnections !== undefined) server.maxConnections = limits.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // A request the HTTP parser rejects (garbage, oversized headers) or that took too long:
    // answer with the status that says which, if the socket still takes it, and close it. The
    // server itself carries on.
    const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  });
  return server;
}

/**
 * Listens on addr and resolves with the bound address (the port the kernel picked when 0 was
 * asked); rejects with the listen error (EADDRINUSE, EADDRNOTAVAIL, ...) as Node reports it.
 */
export function listenLocal(server: Server, addr: LocalAddress): Promise<LocalAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : addr);
    });
  });
}

/** Stops accepting, drops open (keep-alive) connections, and resolves once the server is closed. */
export function closeLocal(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
