// The TUN enforcer, for kernels or setups where NFQUEUE is not available. New connections of
// managed pods are policy-routed into a TUN device (tun-routing.ts, iptables.ts TUN mode); the
// native shim reads them in batches into a shared buffer, this loop judges each one in place,
// and the shim writes the accepted ones back into the device. The kernel receives a written
// packet as if it had arrived on the TUN interface and forwards it with the main routing table;
// PALISADE-PREROUTING marks its connection as allowed, so the rest of the flow is routed
// directly and never comes back here. Dropping is not writing.

import { loadNative, TUN_ARRAY, u32View, type NativeAddon, type NativeError, type NativeTunHandle } from './native.ts';
import { endJudgeBatch, judgeBatch } from './batch-judge.ts';
import { type Enforcer, type EnforcerCounters, type PacketJudge } from './judge.ts';
import { tunModuleHint, withHint } from './kernel-modules.ts';

export interface TunOptions {
  /** Device name (at most 15 bytes); created if missing. */
  readonly name: string;
  /** Packets per batch. */
  readonly batch?: number;
  /** Largest packet accepted (the device's MTU should not exceed it). */
  readonly mtu?: number;
  /**
   * Keep the device when the process exits (default true): its routes then keep pointing at a
   * reader-less device and diverted packets are dropped while the agent is down (fail-closed).
   */
  readonly persist?: boolean;
  readonly onError?: (e: NativeError) => void;
}

export class TunEnforcer implements Enforcer {
  readonly backend = 'tun' as const;
  judge: PacketJudge;
  readonly name: string;
  private readonly native: NativeAddon;
  private readonly handle: NativeTunHandle;
  private readonly buf: Buffer;
  private readonly lens: Uint32Array;
  private readonly verdicts: Uint32Array;
  packets = 0;
  accepts = 0;
  drops = 0;
  batches = 0;
  judgeErrors = 0;
  lastJudgeError: unknown = undefined;
  private closed = false;

  private constructor(judge: PacketJudge, opts: TunOptions) {
    this.judge = judge;
    this.native = loadNative();
    // 1 = write back (see native/src/tun.c); anything else is dropped.
    const onBatch = (n: number): void => {
      const judge = this.judge;
      judgeBatch(judge, this.buf, this.lens, this.handle.stride, n, Date.now(), this.verdicts, 1, 0, this);
      // Before the shim writes the accepted packets back (the DNS learner re-stores policies here).
      endJudgeBatch(judge, this);
    };
    const onStatus = (err: NativeError): void => {
      if (opts.onError) opts.onError(err);
    };
    this.handle = this.native.tunOpen({ name: opts.name, batch: opts.batch ?? 32, mtu: opts.mtu ?? 65535, persist: opts.persist ?? true }, onBatch, onStatus);
    this.name = this.handle.name;
    this.buf = Buffer.from(this.handle.memory, 0, this.handle.batch * this.handle.stride);
    this.lens = u32View(this.handle, TUN_ARRAY.LENS);
    this.verdicts = u32View(this.handle, TUN_ARRAY.VERDICTS);
  }

  /** Opens (creating if needed) the TUN device and starts judging what the kernel routes into it. */
  static async open(judge: PacketJudge, opts: TunOptions): Promise<TunEnforcer> {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(opts.name)) throw new Error(`TUN device name "${opts.name}": 1-15 characters of A-Z a-z 0-9 _ . -`);
    try {
      return new TunEnforcer(judge, opts);
    } catch (e) {
      // open(/dev/net/tun) fails with ENOENT (no device node here) or ENODEV (no driver).
      const ne = e as NativeError;
      throw ne.syscall?.startsWith('open') ? withHint(ne, tunModuleHint(ne.code)) : ne;
    }
  }

  setJudge(judge: PacketJudge): void {
    this.judge = judge;
  }

  ref(ref: boolean): void {
    if (!this.closed) this.native.tunRef(this.handle, ref);
  }

  counters(): EnforcerCounters & Record<string, number> {
    const s = this.native.tunStats(this.handle);
    const errors = this.judgeErrors + s.readErrors + s.writeErrors + s.callbackErrors;
    return {
      packets: this.packets,
      accepts: this.accepts,
      drops: this.drops,
      batches: this.batches,
      errors,
      judgeErrors: this.judgeErrors,
      written: s.written,
      oversize: s.oversize,
      readErrors: s.readErrors,
      writeErrors: s.writeErrors,
    };
  }

  /** Stops reading. keepDevice leaves a persistent device in place (restart without a fail-open gap). */
  async close(keepDevice = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.native.tunClose(this.handle, keepDevice);
  }
}
