// What the flow table (conntrack.ts) knows of a flow and how long it keeps it: the TCP states it
// tracks, the per-flow verdict values, the timeouts (after Linux nf_conntrack's) and the table's
// options. Kept apart from the table itself so the classifier, the agent and tests can read
// them without the storage layout.

/** TCP tracking states: only what is needed to know whether a connection is open or closing. */
export const TCP_STATE = {
  NONE: 0,
  /** SYN seen from the originator. */
  SYN_SENT: 1,
  /** SYN+ACK seen from the responder. */
  SYN_RECV: 2,
  ESTABLISHED: 3,
  /** A FIN was seen: closing, short timeout. */
  FIN: 4,
  /** An RST was seen: closed, shorter timeout. */
  CLOSED: 5,
} as const;
export const TCP_STATE_NAMES: readonly string[] = ['none', 'syn-sent', 'syn-recv', 'established', 'fin', 'closed'];

/** Per-flow verdicts as stored (same values as classifier VERDICT). */
export const FLOW_DROP = 0;
export const FLOW_ACCEPT = 1;

/** Timeouts in milliseconds. Defaults follow the spirit of Linux nf_conntrack, shortened where an idle flow is cheap to re-judge. */
export interface ConntrackTimeouts {
  /** SYN_SENT / SYN_RECV (Linux: 120 s / 60 s). */
  tcpHandshake: number;
  /** Established (Linux: 5 days; we re-judge after a day idle). */
  tcpEstablished: number;
  /** After a FIN (Linux fin_wait/time_wait: 120 s). */
  tcpClosing: number;
  /** After an RST (Linux close: 10 s). */
  tcpClosed: number;
  /** UDP with traffic in one direction only (Linux: 30 s). */
  udp: number;
  /** UDP after a reply was seen (Linux udp_stream: 120 s). */
  udpStream: number;
  /** ICMP echo (Linux: 30 s). */
  icmp: number;
  /** SCTP and other protocols. */
  other: number;
  /** Fragment-id entries letting later fragments follow their first fragment (Linux ipfrag_time: 30 s). */
  fragment: number;
}

export const DEFAULT_TIMEOUTS: ConntrackTimeouts = {
  tcpHandshake: 60_000,
  tcpEstablished: 86_400_000,
  tcpClosing: 60_000,
  tcpClosed: 10_000,
  udp: 30_000,
  udpStream: 120_000,
  icmp: 30_000,
  other: 600_000,
  fragment: 30_000,
};

export interface ConntrackOptions {
  /** Hard limit on live entries (flows + fragment ids). */
  readonly capacity: number;
  readonly timeouts?: Partial<ConntrackTimeouts>;
  /** How many entries the eviction clock inspects before giving up (full-drop). Default 64. */
  readonly evictScan?: number;
  /** Hash seed; random by default so remote peers cannot aim flows at one bucket. */
  readonly seed?: number;
}
