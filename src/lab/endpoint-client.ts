// The controller's side of the endpoint control socket (see endpoint-wire.ts): one connection per
// endpoint, requests multiplexed by id so many probes from one namespace run at once.

import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Protocol } from '../cluster/model.ts';
import type { EndpointRequest, EndpointResponse, ProbeAnswer, ServePorts } from './endpoint-wire.ts';

type Pending = { resolve: (r: EndpointResponse) => void; reject: (e: Error) => void };

// Distributive Omit, so each member of the request union keeps its own fields.
type RequestBody = EndpointRequest extends infer R ? (R extends EndpointRequest ? Omit<R, 'id'> : never) : never;

export class EndpointClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  private constructor(readonly label: string, private readonly sock: Socket) {
    const rl = createInterface({ input: sock });
    rl.on('line', (line) => {
      let res: EndpointResponse;
      try {
        res = JSON.parse(line) as EndpointResponse;
      } catch {
        return;
      }
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      p.resolve(res);
    });
    const fail = (why: string) => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(new Error(`endpoint ${label}: ${why}`));
      this.pending.clear();
    };
    sock.on('error', (e) => fail(e.message));
    sock.on('close', () => fail('control connection closed (is the endpoint process still running?)'));
  }

  /** Connects to an endpoint's socket, retrying until it answers a ping or `timeoutMs` passes. */
  static async open(socketPath: string, label: string, timeoutMs = 20_000): Promise<EndpointClient> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(socketPath);
          s.once('connect', () => {
            s.removeListener('error', reject);
            resolve(s);
          });
          s.once('error', reject);
        });
        const c = new EndpointClient(label, sock);
        await c.request({ op: 'ping' });
        return c;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`endpoint ${label} did not answer on ${socketPath} within ${timeoutMs} ms (${last})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  request(body: RequestBody): Promise<EndpointResponse> {
    if (this.closed) return Promise.reject(new Error(`endpoint ${this.label}: connection closed`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(JSON.stringify({ ...body, id }) + '\n');
    });
  }

  async serve(ports: ServePorts): Promise<void> {
    const r = await this.request({ op: 'serve', ports });
    if (!r.ok) throw new Error(r.error);
  }

  async probe(protocol: Protocol, dst: string, port: number, timeoutMs: number): Promise<ProbeAnswer> {
    const r = await this.request({ op: 'probe', protocol, dst, port, timeoutMs });
    if (!r.ok) throw new Error(r.error);
    if (!('probe' in r)) throw new Error(`endpoint ${this.label}: unexpected answer to a probe`);
    return r.probe;
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}
