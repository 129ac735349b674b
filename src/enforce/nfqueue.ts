// The NFQUEUE enforcer: for each bound queue, the native shim hands over a batch of packets in a
// shared buffer (packet i at i * stride, lens[i] bytes), this loop judges each one in place and
// writes verdicts[i] / marks[i], and the shim answers the whole batch with NFQNL_MSG_VERDICT_BATCH
// runs. Nothing is allocated per packet.
//
// Accepted packets get the "allowed" mark bit and verdict NF_REPEAT: the kernel runs the same
// iptables hook again (nf_reinject: "NF_REPEAT: re-run this hook function"), where Palisade's
// first rule sees the mark, saves it to the connmark and accepts. The rest of that flow (and
// later packets of a one-way UDP flow, which conntrack still calls NEW) then never leaves the
// kernel. With acceptMark 0 accepted packets get a plain NF_ACCEPT instead.

import { loadNative, NFQ_ARRAY, u32View, type NativeAddon, type NativeError, type NativeNfqHandle } from './native.ts';
import { endJudgeBatch, judgeBatch } from './batch-judge.ts';
import { type Enforcer, type EnforcerCounters, type PacketJudge } from './judge.ts';
import { nfqueueModuleHint, withHint } from './kernel-modules.ts';

export interface NfqueueOptions {
  /** First queue number (0-65535). */
  readonly queue: number;
  /** Number of consecutive queues to bind (iptables --queue-balance queue:queue+queues-1). */
  readonly queues?: number;
  /** Bytes of each packet copied to userspace (headers are all we read). */
  readonly copyRange?: number;
  /** Packets per batch (recvmmsg vector length). */
  readonly batch?: number;
  /** Kernel queue length (NFQA_CFG_QUEUE_MAXLEN); beyond it the kernel drops (or, fail-open, accepts). */
  readonly maxLen?: number;
  /** NFQA_CFG_F_FAIL_OPEN: accept rather than drop when the queue overflows. Off by default. */
  readonly failOpen?: boolean;
  /** Mark bit(s) OR-ed into accepted packets (then NF_REPEAT); 0 = plain NF_ACCEPT, no mark. */
  readonly acceptMark?: number;
  /** Runtime errors (socket errors after binding). */
  readonly onError?: (e: NativeError) => void;
  /** How long to wait for the kernel to confirm the bind. */
  readonly bindTimeoutMs?: number;
}

class QueueLoop {
  readonly handle: NativeNfqHandle;
  readonly buf: Buffer;
  readonly lens: Uint32Array;
  readonly marks: Uint32Array;
  readonly verdicts: Uint32Array;
  packets = 0;
  accepts = 0;
  drops = 0;
  batches = 0;
  judgeErrors = 0;
  lastJudgeError: unknown = undefined;
  private bound?: { resolve: () => void; reject: (e: Error) => void };
  private statusSeen = false;

  constructor(
    private readonly native: NativeAddon,
    private readonly owner: NfqueueEnforcer,
    opts: NfqueueOptions,
    queue: number,
    private readonly acceptMark: number,
    private readonly onError: ((e: NativeError) => void) | undefined,
  ) {
    const acceptVerdict = acceptMark !== 0 ? native.NF_REPEAT : native.NF_ACCEPT;
    const dropVerdict = native.NF_DROP;
    // The batch callback closes over typed arrays created once; it allocates nothing.
    const onBatch = (n: number): void => {
      const verdicts = this.verdicts;
      const judge = this.owner.judge;
      judgeBatch(judge, this.buf, this.lens, this.handle.stride, n, Date.now(), verdicts, acceptVerdict, dropVerdict, this);
      endJudgeBatch(judge, this);
      // An accepted packet carries the accept mark back to the kernel, where the rules right
      // after the queue save it to the connmark (see the top of this file).
      const mark = this.acceptMark;
      if (mark === 0) return;
      const marks = this.marks;
      for (let i = 0; i < n; i++) if (verdicts[i] === acceptVerdict) marks[i] = (marks[i]! | mark) >>> 0;
    };
    const onStatus = (err: NativeError | null): void => {
      if (!this.statusSeen) {
        this.statusSeen = true;
        const w = this.bound;
        this.bound = undefined;
        if (w) {
          if (err) {
            // nfqnl_recv_config answers EPERM when the queue is bound to another socket
            // (queue->peer_portid differs), and EPERM too without CAP_NET_ADMIN.
            if (err.code === 'EPERM') err.message = `${err.message}: queue ${queue} is held by another process (another agent?), or this process lacks CAP_NET_ADMIN`;
            w.reject(err);
          } else w.resolve();
          return;
        }
      }
      if (err && this.onError) this.onError(err);
    };
    this.handle = native.nfqOpen(
      { queue, copyRange: opts.copyRange, batch: opts.batch, maxLen: opts.maxLen, failOpen: opts.failOpen ?? false, gso: true },
      onBatch,
      onStatus,
    );
    const h = this.handle;
    this.buf = Buffer.from(h.memory, 0, h.batch * h.stride);
    this.lens = u32View(h, NFQ_ARRAY.LENS);
    this.marks = u32View(h, NFQ_ARRAY.MARKS);
    this.verdicts = u32View(h, NFQ_ARRAY.VERDICTS);
  }

  /** Resolves once the kernel acknowledged the bind and configuration. */
  waitBound(timeoutMs: number): Promise<void> {
    if (this.statusSeen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.bound = undefined;
        reject(new Error(`nfqueue ${this.handle.queue}: the kernel did not confirm the bind within ${timeoutMs} ms`));
      }, timeoutMs);
      this.bound = {
        resolve: () => { clearTimeout(t); resolve(); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
    });
  }

  close(): void {
    this.native.nfqClose(this.handle);
  }
}

export class NfqueueEnforcer implements Enforcer {
  readonly backend = 'nfqueue' as const;
  judge: PacketJudge;
  private readonly loops: QueueLoop[] = [];
  private readonly native: NativeAddon;
  private closed = false;

  private constructor(judge: PacketJudge, native: NativeAddon) {
    this.judge = judge;
    this.native = native;
  }

  /**
   * Binds queues opts.queue .. opts.queue + queues - 1 and starts judging. Rejects with the
   * kernel's error (EBUSY: another process holds the queue; EPERM: needs CAP_NET_ADMIN; a
   * missing module is named, see kernel-modules.ts).
   */
  static async open(judge: PacketJudge, opts: NfqueueOptions): Promise<NfqueueEnforcer> {
    const queues = opts.queues ?? 1;
    if (!Number.isInteger(opts.queue) || opts.queue < 0 || opts.queue > 65535) throw new RangeError(`queue must be 0-65535, got ${opts.queue}`);
    if (!Number.isInteger(queues) || queues < 1 || opts.queue + queues - 1 > 65535) throw new RangeError(`queues must be at least 1 and end at or below 65535, got ${queues}`);
    const mark = opts.acceptMark ?? 0;
    if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) throw new RangeError(`acceptMark must be a 32-bit value, got ${mark}`);
    const e = new NfqueueEnforcer(judge, loadNative());
    try {
      for (let q = opts.queue; q < opts.queue + queues; q++) {
        e.loops.push(new QueueLoop(e.native, e, opts, q, mark, opts.onError));
      }
      await Promise.all(e.loops.map((l) => l.waitBound(opts.bindTimeoutMs ?? 3000)));
    } catch (err) {
      await e.close();
      // A kernel without nfnetlink / nfnetlink_queue answers with an errno that names neither.
      const ne = err as NativeError;
      throw ne instanceof Error ? withHint(ne, nfqueueModuleHint(ne.code, ne.syscall)) : ne;
    }
    return e;
  }

  get queues(): readonly number[] {
    return this.loops.map((l) => l.handle.queue);
  }

  setJudge(judge: PacketJudge): void {
    this.judge = judge;
  }

  /** Keeps (true) or stops (false) the bound queues from holding the process open. */
  ref(ref: boolean): void {
    for (const l of this.loops) if (!this.closed) this.native.nfqRef(l.handle, ref);
  }

  counters(): EnforcerCounters & Record<string, number> {
    const c = { packets: 0, accepts: 0, drops: 0, batches: 0, errors: 0, judgeErrors: 0, overruns: 0, sendErrors: 0, netlinkErrors: 0, verdictMessages: 0, recvCalls: 0 };
    for (const l of this.loops) {
      c.packets += l.packets;
      c.accepts += l.accepts;
      c.drops += l.drops;
      c.batches += l.batches;
      c.judgeErrors += l.judgeErrors;
      const s = this.native.nfqStats(l.handle);
      c.overruns += s.overruns;
      c.sendErrors += s.sendErrors;
      c.netlinkErrors += s.netlinkErrors + s.callbackErrors;
      c.verdictMessages += s.verdictMessages;
      c.recvCalls += s.recvCalls;
    }
    c.errors = c.judgeErrors + c.overruns + c.sendErrors + c.netlinkErrors;
    return c;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.loops) l.close();
  }
}
