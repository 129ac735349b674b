// Messages between the lab controller (the `palisade lab ...` process, tests) and the endpoint
// process running inside each lab namespace (endpoint.ts). One JSON object per line over a unix
// socket in the lab's state folder: filesystem unix sockets are not tied to a network
// namespace, so the controller reaches every endpoint from wherever it runs.

import type { Protocol } from '../cluster/model.ts';

/** The ports an endpoint answers on, per protocol. */
export interface ServePorts {
  readonly tcp: readonly number[];
  readonly udp: readonly number[];
  readonly sctp: readonly number[];
}

export const NO_PORTS: ServePorts = { tcp: [], udp: [], sctp: [] };

export type EndpointRequest =
  | { readonly id: number; readonly op: 'ping' }
  /** Replace the served ports with exactly these. */
  | { readonly id: number; readonly op: 'serve'; readonly ports: ServePorts }
  /** Open one new connection from this namespace to dst:port and wait for the answer. */
  | { readonly id: number; readonly op: 'probe'; readonly protocol: Protocol; readonly dst: string; readonly port: number; readonly timeoutMs: number };

/** Why a probe got no answer, or how it got one. */
export type ProbeDetail =
  /** The server's answer arrived (HTTP 200, UDP answer, SCTP INIT-ACK). */
  | 'answered'
  /** Nothing came back before the timeout: what a dropped packet looks like. */
  | 'timeout'
  /** A TCP RST, ICMP port unreachable or SCTP ABORT came back: the packets flowed but nobody served the port. */
  | 'refused'
  /** Anything else (unreachable route, bad answer); the message says what. */
  | 'error';

export interface ProbeAnswer {
  readonly allowed: boolean;
  readonly detail: ProbeDetail;
  /** The label of the endpoint that answered (TCP and UDP answers carry it; SCTP's INIT-ACK does not). */
  readonly answeredBy?: string;
  readonly message?: string;
  readonly ms: number;
}

export type EndpointResponse =
  | { readonly id: number; readonly ok: true; readonly label: string; readonly pid: number; readonly serving: ServePorts }
  | { readonly id: number; readonly ok: true; readonly probe: ProbeAnswer }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** First words of every TCP/UDP answer body: "palisade-lab <label>". */
export const ANSWER_PREFIX = 'palisade-lab ';
/** First word of a UDP probe datagram; the answer repeats its nonce. */
export const UDP_PROBE_PREFIX = 'palisade-probe ';
