// What an enforcer needs from the layer below: a verdict per packet, read straight out of the
// enforcer's shared receive buffer. The Classifier (src/dataplane/classifier.ts) has exactly this
// shape, so it plugs in as is; tests can use any small judge.

export { ACCEPT, DROP } from '../dataplane/classifier.ts';

export interface PacketJudge {
  /**
   * Judges the IP packet (IPv4 or IPv6 header first) at buf[off, off+len) at time `now` (ms).
   * Returns ACCEPT to let it through; any other value drops it. `len` may be shorter than the
   * packet (NFQUEUE copies only the first bytes). Must not allocate per packet; if it throws, the
   * packet is dropped and counted as an error.
   */
  classify(buf: Buffer, off: number, len: number, now: number): number;
  /** Called after the last packet of each batch, before its verdicts go to the kernel (optional). */
  endBatch?(): void;
}

/** Counters every enforcer keeps (totals since it started). */
export interface EnforcerCounters {
  /** Packets handed to userspace and judged. */
  packets: number;
  accepts: number;
  drops: number;
  /** Batches handed to JS (one per recvmmsg round / TUN read round). */
  batches: number;
  /** Judge exceptions, callback failures, netlink/TUN I/O errors, socket overruns. */
  errors: number;
}

export interface Enforcer {
  readonly backend: 'nfqueue' | 'tun';
  /** Replaces the judge; the next batch uses it. */
  setJudge(judge: PacketJudge): void;
  counters(): EnforcerCounters & Record<string, number>;
  /** Stops reading; what is still queued in the kernel is dropped by it (fail-closed). */
  close(): Promise<void>;
}
