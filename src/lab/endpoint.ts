// The process that plays one pod (or the node, or an outside host) in the lab. It runs inside
// that namespace (started through `ip netns exec`) because a socket belongs to the network
// namespace of the process that opens it, and Node cannot switch namespaces itself.
//
// It serves: HTTP on every TCP port (so an HTTP client gets a real answer), a request/answer
// exchange on every UDP port, and SCTP INIT -> INIT-ACK on every SCTP port (sctp.ts: this kernel
// has no SCTP sockets). A port it does not serve answers like a closed port of a real host: the
// kernel sends a TCP RST or an ICMP port unreachable, and the SCTP responder (always running)
// sends an ABORT; probes report those as 'refused', never as a drop. It also opens probes FROM
// this namespace on request: an HTTP GET on a new TCP connection, a datagram and its answer for
// UDP, INIT and INIT-ACK for SCTP. Both directions carry the endpoint's label, so the controller
// can check that the answer came from the pod it dialled.
//
// Run: node [--import tsx] endpoint.(ts|js) --socket PATH --label TEXT

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { sctpExchange, startSctpResponder } from './sctp.ts';
import type { EndpointRequest, EndpointResponse, ProbeAnswer, ServePorts } from './endpoint-wire.ts';
import { ANSWER_PREFIX, UDP_PROBE_PREFIX } from './endpoint-wire.ts';

export interface EndpointOptions {
  readonly socket: string;
  readonly label: string;
}

export class Endpoint {
  private readonly tcp = new Map<number, HttpServer>();
  private readonly udp = new Map<number, UdpSocket>();
  private readonly sctpPorts = new Set<number>();
  private sctpResponder: { close(): void } | undefined;
  private readonly control = createNetServer((c) => this.onControl(c));

  constructor(readonly opts: EndpointOptions) {}

  async start(): Promise<void> {
    rmSync(this.opts.socket, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.control.once('error', reject);
      this.control.listen(this.opts.socket, () => resolve());
    });
  }

  close(): void {
    this.control.close();
    for (const s of this.tcp.values()) s.close();
    for (const s of this.udp.values()) s.close();
    this.sctpResponder?.close();
    rmSync(this.opts.socket, { force: true });
  }

  serving(): ServePorts {
    const sorted = (xs: Iterable<number>) => [...xs].sort((a, b) => a - b);
    return { tcp: sorted(this.tcp.keys()), udp: sorted(this.udp.keys()), sctp: sorted(this.sctpPorts) };
  }

  /** Makes the served ports exactly `want`; returns the ports that could not be opened. */
  async serve(want: ServePorts): Promise<string[]> {
    const errors: string[] = [];
    for (const [port, s] of this.tcp) if (!want.tcp.includes(port)) { s.close(); this.tcp.delete(port); }
    for (const [port, s] of this.udp) if (!want.udp.includes(port)) { s.close(); this.udp.delete(port); }
    await Promise.all([
      ...want.tcp.filter((p) => !this.tcp.has(p)).map((p) => this.openTcp(p).catch((e: Error) => { errors.push(`TCP ${p}: ${e.message}`); })),
      ...want.udp.filter((p) => !this.udp.has(p)).map((p) => this.openUdp(p).catch((e: Error) => { errors.push(`UDP ${p}: ${e.message}`); })),
    ]);
    this.sctpPorts.clear();
    for (const p of want.sctp) this.sctpPorts.add(p);
    if (!this.sctpResponder) {
      // The responder reads the live set, so later `serve` calls only edit it. It runs even with
      // no SCTP port served: it is what answers an INIT to a closed port with ABORT (without it
      // the INIT would meet silence, indistinguishable from a policy drop).
      let starting = true;
      this.sctpResponder = startSctpResponder(this.sctpPorts, (e) => {
        // Errors while opening fail a `serve` that asks for SCTP ports; the rest are logged.
        if (starting && want.sctp.length > 0) errors.push(`SCTP: ${e.message}`);
        else process.stderr.write(`endpoint ${this.opts.label}: SCTP: ${e.message}\n`);
      });
      starting = false;
    }
    return errors;
  }

  private openTcp(port: number): Promise<void> {
    const server = createHttpServer((req, res) => {
      // One short answer naming who answered; the connection closes so nothing lingers.
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`${ANSWER_PREFIX}${this.opts.label} TCP ${port}\n`);
      req.resume();
    });
    server.keepAliveTimeout = 1;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      // '::' without ipv6Only takes IPv4 too (as v4-mapped addresses): one socket per port.
      server.listen({ port, host: '::', ipv6Only: false }, () => {
        this.tcp.set(port, server);
        resolve();
      });
    });
  }

  private openUdp(port: number): Promise<void> {
    const sock = createSocket({ type: 'udp6', ipv6Only: false });
    sock.on('message', (msg, rinfo) => {
      const text = msg.toString('utf8');
      if (!text.startsWith(UDP_PROBE_PREFIX)) return;
      const nonce = text.slice(UDP_PROBE_PREFIX.length).trim();
      sock.send(`${ANSWER_PREFIX}${this.opts.label} UDP ${port} ${nonce}\n`, rinfo.port, rinfo.address);
    });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port, address: '::' }, () => {
        sock.removeListener('error', reject);
        sock.on('error', () => { /* an ICMP error for one answer must not stop the server */ });
        this.udp.set(port, sock);
        resolve();
      });
    });
  }

  private onControl(c: Socket): void {
    const rl = createInterface({ input: c });
    c.on('error', () => rl.close());
    rl.on('line', (line) => {
      let req: EndpointRequest;
      try {
        req = JSON.parse(line) as EndpointRequest;
      } catch {
        return;
      }
      this.handle(req).then(
        (res) => c.writable && c.write(JSON.stringify(res) + '\n'),
        (e: Error) => c.writable && c.write(JSON.stringify({ id: req.id, ok: false, error: e.message } satisfies EndpointResponse) + '\n'),
      );
    });
  }

  private async handle(req: EndpointRequest): Promise<EndpointResponse> {
    switch (req.op) {
      case 'ping':
        return { id: req.id, ok: true, label: this.opts.label, pid: process.pid, serving: this.serving() };
      case 'serve': {
        const errors = await this.serve(req.ports);
        if (errors.length) return { id: req.id, ok: false, error: `${this.opts.label}: cannot serve ${errors.join('; ')}` };
        return { id: req.id, ok: true, label: this.opts.label, pid: process.pid, serving: this.serving() };
      }
      case 'probe': {
        const t0 = performance.now();
        let a: Omit<ProbeAnswer, 'ms'>;
        if (req.protocol === 'TCP') a = await tcpProbe(req.dst, req.port, req.timeoutMs);
        else if (req.protocol === 'UDP') a = await udpProbe(req.dst, req.port, req.timeoutMs);
        else {
          const o = await sctpExchange(req.dst, req.port, req.timeoutMs);
          a = o === 'answered' ? { allowed: true, detail: 'answered' }
            : o === 'refused' ? { allowed: false, detail: 'refused', message: 'ABORT: nobody serves the port' }
            : o === 'error' ? { allowed: false, detail: 'error', message: 'the INIT could not be sent' }
            : { allowed: false, detail: 'timeout' };
        }
        return { id: req.id, ok: true, probe: { ...a, ms: Math.round(performance.now() - t0) } };
      }
      default:
        return { id: (req as { id: number }).id, ok: false, error: `unknown op ${JSON.stringify((req as { op: unknown }).op)}` };
    }
  }
}

function answerLabel(body: string): string | undefined {
  const line = body.split('\n')[0] ?? '';
  if (!line.startsWith(ANSWER_PREFIX)) return undefined;
  const words = line.slice(ANSWER_PREFIX.length).split(' ');
  return words[0];
}

/**
 * A new TCP connection from this namespace and an HTTP GET on it, answered by the destination
 * endpoint's HTTP server: the handshake and the request/answer go through the node like any
 * pod's traffic. Opened by this process rather than by a curl child: exec'ing curl costs about
 * 25 ms of CPU (it loads some 30 libraries), which made curl most of the conformance suite's
 * time; the packets on the wire are the same. Timeouts as curl's --connect-timeout (the
 * handshake) and --max-time (the handshake + 2 s for the answer).
 */
function tcpProbe(dst: string, port: number, timeoutMs: number): Promise<Omit<ProbeAnswer, 'ms'>> {
  return new Promise((resolve) => {
    let done = false;
    const req = httpRequest({ host: dst, port, path: '/', method: 'GET', agent: false, headers: { connection: 'close' } });
    const finish = (a: Omit<ProbeAnswer, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(connectTimer);
      clearTimeout(maxTimer);
      req.destroy();
      resolve(a);
    };
    const connectTimer = setTimeout(() => finish({ allowed: false, detail: 'timeout' }), timeoutMs);
    const maxTimer = setTimeout(() => finish({ allowed: false, detail: 'timeout', message: 'connected, but no answer' }), timeoutMs + 2000);
    req.on('socket', (s) => s.once('connect', () => clearTimeout(connectTimer)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // ECONNREFUSED: a RST came back (the SYN got there, nobody listens on the port). Anything
      // else (an ICMP unreachable: EHOSTUNREACH, ENETUNREACH) is a problem of the lab's wiring.
      if (e.code === 'ECONNREFUSED') finish({ allowed: false, detail: 'refused', message: 'RST: nobody listens on the port' });
      else finish({ allowed: false, detail: 'error', message: e.message });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('error', (e) => finish({ allowed: false, detail: 'error', message: e.message }));
      res.on('end', () => {
        const by = res.statusCode === 200 ? answerLabel(body) : undefined;
        if (by !== undefined) finish({ allowed: true, detail: 'answered', answeredBy: by });
        else finish({ allowed: false, detail: 'error', message: `unexpected answer: HTTP ${res.statusCode} ${JSON.stringify(body.slice(0, 80))}` });
      });
    });
    req.end();
  });
}

/** One datagram and its answer; resent every 200 ms in case the first one raced a rule change. */
function udpProbe(dst: string, port: number, timeoutMs: number): Promise<Omit<ProbeAnswer, 'ms'>> {
  const sock = createSocket(dst.includes(':') ? 'udp6' : 'udp4');
  const nonce = randomBytes(8).toString('hex');
  const msg = Buffer.from(`${UDP_PROBE_PREFIX}${nonce}\n`);
  return new Promise((resolve) => {
    let done = false;
    let resend: NodeJS.Timeout | undefined;
    const finish = (a: Omit<ProbeAnswer, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(resend);
      sock.close();
      resolve(a);
    };
    const timer = setTimeout(() => finish({ allowed: false, detail: 'timeout' }), timeoutMs);
    sock.on('error', (e: NodeJS.ErrnoException) => {
      // A connected UDP socket reports ICMP port unreachable as ECONNREFUSED.
      if (e.code === 'ECONNREFUSED') finish({ allowed: false, detail: 'refused', message: 'ICMP port unreachable: nobody listens on the port' });
      else finish({ allowed: false, detail: 'error', message: e.message });
    });
    sock.on('message', (data) => {
      const text = data.toString('utf8');
      if (!text.trim().endsWith(nonce)) return;
      finish({ allowed: true, detail: 'answered', answeredBy: answerLabel(text) });
    });
    sock.connect(port, dst, () => {
      const send = () => sock.send(msg);
      send();
      resend = setInterval(send, 200);
    });
  });
}

function flag(argv: string[], name: string): string {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? argv[i + 1] : undefined;
  if (!v) {
    process.stderr.write(`endpoint: --${name} is required\n`);
    process.exit(2);
  }
  return v;
}

async function main(argv: string[]): Promise<void> {
  const ep = new Endpoint({ socket: flag(argv, 'socket'), label: flag(argv, 'label') });
  await ep.start();
  // Exits even when closing a socket throws (dgram's close() throws on a socket already closed):
  // an endpoint left running after SIGTERM holds its namespace until `lab down` kills it.
  const stop = () => {
    try {
      ep.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`endpoint ${ep.opts.label} pid ${process.pid} listening on ${ep.opts.socket}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`endpoint: ${e.message}\n`);
    process.exit(1);
  });
}
