// The process that plays one pod (or the node, or an outside host) in the lab. It runs inside
// that namespace (started through `ip netns exec`) because a socket belongs to the network
// namespace of the process that opens it, and Node cannot switch namespaces itself.
//
// It serves: HTTP on every TCP port (so curl gets a real answer), a request/answer exchange on
// every UDP port, and SCTP INIT -> INIT-ACK on every SCTP port (sctp.ts: this kernel has no
// SCTP sockets). A port it does not serve answers like a closed port of a real host: the
// kernel sends a TCP RST or an ICMP port unreachable, and the SCTP responder (always running)
// sends an ABORT; probes report those as 'refused', never as a drop. It also opens probes FROM
// this namespace on request: curl for TCP, a datagram and its answer for UDP, INIT and INIT-ACK
// for SCTP. Both directions carry the endpoint's label, so the controller can check that the
// answer came from the pod it dialled.
//
// Run: node [--import tsx] endpoint.(ts|js) --socket PATH --label TEXT

import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
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
        if (req.protocol === 'TCP') a = await curlProbe(req.dst, req.port, req.timeoutMs);
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

/** A new TCP connection and an HTTP GET, by curl (what the e2e suite's agnhost probes do too). */
function curlProbe(dst: string, port: number, timeoutMs: number): Promise<Omit<ProbeAnswer, 'ms'>> {
  const host = dst.includes(':') ? `[${dst}]` : dst;
  const args = [
    // -v: only the verbose trace says why a connect failed ("Connection refused" vs "No route
    // to host"); the one-line error of curl >= 7.85 says "Couldn't connect to server" for both.
    '-sSv', '--globoff', '--noproxy', '*',
    '--connect-timeout', (timeoutMs / 1000).toFixed(3),
    '--max-time', ((timeoutMs + 2000) / 1000).toFixed(3),
    `http://${host}:${port}/`,
  ];
  return new Promise((resolve) => {
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => resolve({ allowed: false, detail: 'error', message: `curl: ${e.message}` }));
    child.on('close', (code) => {
      if (code === 0) {
        const by = answerLabel(out);
        if (by !== undefined) resolve({ allowed: true, detail: 'answered', answeredBy: by });
        else resolve({ allowed: false, detail: 'error', message: `unexpected answer ${JSON.stringify(out.slice(0, 80))}` });
      } else if (code === 28) resolve({ allowed: false, detail: 'timeout' });
      else if (code === 7) {
        // "Failed to connect": a RST (refused: the SYN got there, nobody listens) or an ICMP
        // error (unreachable: a routing problem of the lab, not a policy verdict).
        const why = /connect to .* failed: (.*)/.exec(err)?.[1]?.trim() ?? lastLine(err);
        if (/refused/i.test(why)) resolve({ allowed: false, detail: 'refused', message: 'RST: nobody listens on the port' });
        else resolve({ allowed: false, detail: 'error', message: `curl: ${why}` });
      } else resolve({ allowed: false, detail: 'error', message: `curl exit ${code}: ${lastLine(err)}` });
    });
  });
}

/** The last non-verbose line curl wrote (its error message), without the trace lines -v adds. */
function lastLine(err: string): string {
  const lines = err.split('\n').map((l) => l.trim()).filter((l) => l && !/^[*<>{}]/.test(l));
  return lines[lines.length - 1] ?? err.trim();
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
  const stop = () => {
    ep.close();
    process.exit(0);
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
