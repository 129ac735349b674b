// Real probes through the lab: each one is a new connection opened from the source namespace
// to the destination address, by the source namespace's endpoint process:
//
//   TCP   a new connection and GET http://dst:port/ (allowed = the server's HTTP answer came back)
//   UDP   one datagram (resent every 200 ms) and the server's answer datagram
//   SCTP  INIT and the server's INIT-ACK (then ABORT), over raw sockets (see sctp.ts)
//
// A denied probe is one that got no answer before the timeout (a dropped packet looks like
// nothing at all: the agent drops, it never rejects), so the timeout is short: allowed probes
// answer in milliseconds. A TCP RST / ICMP port unreachable / SCTP ABORT is its own verdict,
// 'refused': the packets flowed both ways, so the policy allowed the connection, but nothing
// serves that port (a pod serves its containerPorts, the node and outside hosts every pod's).
//
// `kind: reply` (the reply packets of a connection `from` opened to `to`) is checked with the
// same exchange: an answer only counts when the server's reply packets (SYN-ACK and HTTP
// response, the answer datagram, INIT-ACK) were delivered back to `from`, so an allowed reply
// probe proves the return direction was let through even where `from` is isolated for ingress
// (stateful: the reply belongs to a connection the source opened). What it cannot show is the
// reply path of a connection that was denied: there is none, and the probe reports deny.

import type { Family, Protocol } from '../cluster/model.ts';
import { canonicalIP, parseIP } from '../net/address.ts';
import { podsThere } from '../cluster/pods-there.ts';
import { EndpointClient } from './endpoint-client.ts';
import type { ProbeDetail } from './endpoint-wire.ts';
import { labNodes, type LabNodeRecord, type LabState } from './lab-state.ts';

export interface LabProbe {
  /** "node" (single-node labs), "node:<name>", "ns/pod" (host-network pods too), "ext:<name>" or an IP address of the lab. */
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly family: Family;
  readonly kind?: 'connect' | 'reply';
}

export type LabVerdict = 'allow' | 'deny' | 'refused' | 'error';

/** Whether a verdict shows that policy let the connection through (answered, or refused by the host). */
export function policyAllowed(v: LabVerdict): boolean {
  return v === 'allow' || v === 'refused';
}

/**
 * Whether a probe result meets an expectation about policy. An 'error' (a reset after the
 * handshake, an unreachable route, an answer from the wrong pod: the lab itself misbehaved)
 * says nothing about policy, so it meets neither expectation.
 */
export function meetsExpectation(v: LabVerdict, expect: 'allow' | 'deny'): boolean {
  return v !== 'error' && policyAllowed(v) === (expect === 'allow');
}

export interface LabProbeResult {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly family: Family;
  readonly kind: 'connect' | 'reply';
  readonly src: string;
  readonly dst: string;
  /**
   * allow: the server answered. deny: nothing came back (a drop). refused: the connection got
   * through but nobody serves the port. error: the probe failed in a way that is no policy
   * verdict (see `message`).
   */
  readonly verdict: LabVerdict;
  readonly detail: ProbeDetail;
  readonly answeredBy?: string;
  readonly message?: string;
  readonly ms: number;
}

export interface LabEndpointRef {
  readonly netns: string;
  /** The label its endpoint answers with. */
  readonly label: string;
  readonly ip: string;
}

export class LabProbeError extends Error {}

/**
 * Where an endpoint reference lives in the lab and its address in a family. A host-network
 * pod, "node" (a single-node lab) and "node:<name>" live in their node's namespace and answer
 * with the node's label.
 */
export function resolveLabEndpoint(state: LabState, ref: string, family: Family): LabEndpointRef {
  const famIP = (ips: readonly string[]) => ips.find((ip) => parseIP(ip)?.family === family);
  const nodes = labNodes(state);
  const onNode = (n: LabNodeRecord, what: string): LabEndpointRef => {
    const ip = famIP(n.ips);
    if (!ip) throw new LabProbeError(`${what} has no ${family} address (${n.name !== undefined ? `Node ${n.name}` : 'Node'} status.addresses: ${n.ips.join(', ') || 'none'})`);
    return { netns: n.netns, label: n.label, ip };
  };
  if (ref === 'node') {
    if (nodes.length > 1) throw new LabProbeError(`the lab has ${nodes.length} nodes: say which with node:<name> (${nodes.map((n) => n.name).join(', ')})`);
    return onNode(nodes[0]!, 'the lab node');
  }
  if (ref.startsWith('node:')) {
    const n = nodes.find((x) => x.name === ref.slice(5));
    if (!n) throw new LabProbeError(`no node ${ref.slice(5)} in the lab (have: ${nodes.map((x) => x.name ?? '(unnamed)').join(', ')})`);
    return onNode(n, `node ${n.name}`);
  }
  if (ref.startsWith('ext:')) {
    const e = state.externals.find((x) => x.name === ref.slice(4));
    if (!e) throw new LabProbeError(`no outside host ${ref.slice(4)} in the lab (have: ${state.externals.map((x) => x.name).join(', ') || 'none'})`);
    const ip = famIP(e.ips);
    if (!ip) throw new LabProbeError(`outside host ${e.name} has no ${family} address`);
    return { netns: e.netns, label: ref, ip };
  }
  const lit = parseIP(ref);
  if (lit) {
    if (lit.family !== family) throw new LabProbeError(`${ref} is an ${lit.family} address but the probe is ${family}`);
    const ip = canonicalIP(ref)!;
    const pod = state.pods.find((p) => p.ips.includes(ip));
    if (pod) return { netns: pod.netns, label: pod.key, ip };
    const node = nodes.find((n) => n.ips.includes(ip));
    if (node) return { netns: node.netns, label: node.label, ip };
    const ext = state.externals.find((e) => e.ips.includes(ip));
    if (ext) return { netns: ext.netns, label: `ext:${ext.name}`, ip };
    throw new LabProbeError(`${ip} belongs to nothing in the lab (no pod, node or outside host has it)`);
  }
  if (ref.includes('/')) {
    const pod = state.pods.find((p) => p.key === ref);
    if (pod) {
      const ip = famIP(pod.ips);
      if (!ip) throw new LabProbeError(`pod ${ref} has no ${family} address (${pod.ips.join(', ')})`);
      return { netns: pod.netns, label: pod.key, ip };
    }
    const host = state.hostPods?.find((p) => p.key === ref);
    const node = host && nodes.find((n) => n.netns === host.nodeNetns);
    if (node) return onNode(node, `host-network pod ${ref} (played by its node)`);
    throw new LabProbeError(`no pod ${ref} in the lab (${podsThere([...state.pods, ...(state.hostPods ?? [])], ref.split('/')[0]!)}; a pod of the manifests without an IP, or finished, has none: see lab up's notes)`);
  }
  throw new LabProbeError(`${JSON.stringify(ref)} is not node, node:<name>, ns/pod, ext:<name> or an IP address`);
}

export interface RunProbesOptions {
  /** Probes in flight at once. */
  readonly concurrency?: number;
  /** How long a probe waits for its answer: the time a denied probe costs. */
  readonly timeoutMs?: number;
}

/** Keeps one control connection per endpoint for a batch of probes. */
export class LabProber {
  private readonly clients = new Map<string, Promise<EndpointClient>>();

  constructor(readonly state: LabState) {}

  private client(netns: string): Promise<EndpointClient> {
    let c = this.clients.get(netns);
    if (!c) {
      const rec = this.state.endpoints[netns];
      if (!rec) return Promise.reject(new LabProbeError(`no endpoint process recorded for namespace ${netns}`));
      c = EndpointClient.open(rec.socket, rec.label, 5000);
      c.catch(() => this.clients.delete(netns));
      this.clients.set(netns, c);
    }
    return c;
  }

  /** Runs one probe; throws LabProbeError when an endpoint cannot be resolved. */
  async probe(p: LabProbe, timeoutMs = 1000): Promise<LabProbeResult> {
    const from = resolveLabEndpoint(this.state, p.from, p.family);
    const to = resolveLabEndpoint(this.state, p.to, p.family);
    const c = await this.client(from.netns);
    const a = await c.probe(p.protocol, to.ip, p.port, timeoutMs);
    let { allowed, detail } = a;
    let message = a.message;
    if (allowed && a.answeredBy !== undefined && a.answeredBy !== to.label) {
      // The lab is mis-wired: the answer came from someone else. Never count that as a pass.
      allowed = false;
      detail = 'error';
      message = `answered by ${a.answeredBy}, expected ${to.label}`;
    }
    return {
      from: p.from, to: p.to, port: p.port, protocol: p.protocol, family: p.family, kind: p.kind ?? 'connect',
      src: from.ip, dst: to.ip,
      verdict: allowed ? 'allow' : detail === 'refused' ? 'refused' : detail === 'error' ? 'error' : 'deny', detail,
      ...(a.answeredBy !== undefined ? { answeredBy: a.answeredBy } : {}),
      ...(message !== undefined ? { message } : {}),
      ms: a.ms,
    };
  }

  /** Runs probes with bounded concurrency; results in input order. */
  async run(probes: readonly LabProbe[], opts: RunProbesOptions = {}): Promise<LabProbeResult[]> {
    const out: LabProbeResult[] = new Array(probes.length);
    let next = 0;
    const worker = async () => {
      while (next < probes.length) {
        const i = next++;
        out[i] = await this.probe(probes[i]!, opts.timeoutMs ?? 1000);
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 16, probes.length) }, worker));
    return out;
  }

  close(): void {
    for (const c of this.clients.values()) c.then((x) => x.close(), () => {});
    this.clients.clear();
  }
}

/** Runs probes against a lab and closes the connections afterwards. */
export async function runLabProbes(state: LabState, probes: readonly LabProbe[], opts: RunProbesOptions = {}): Promise<LabProbeResult[]> {
  // Resolve everything first so a bad reference fails before any packet is sent.
  for (const p of probes) {
    resolveLabEndpoint(state, p.from, p.family);
    resolveLabEndpoint(state, p.to, p.family);
  }
  const prober = new LabProber(state);
  try {
    return await prober.run(probes, opts);
  } finally {
    prober.close();
  }
}
