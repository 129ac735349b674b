// Strict mode for flows that are already established in the kernel.
//
// Only the first packet of a connection reaches the judge; the rest of an allowed flow is
// accepted by its connmark (iptables.ts) without leaving the kernel. So when a new rule
// generation denies a connection that an older one allowed, the kernel would keep passing it
// until it ends. After every enforced generation the agent runs a sweep:
//
//   1. list the kernel conntrack entries carrying Palisade's allow bit in their connmark
//      (kernel-conntrack.ts; one child process per family, off the event loop);
//   2. judge each one again with the current snapshot, like a new connection: source = the
//      original source, destination and port = where the first packet was going when the judge
//      saw it (NFQUEUE judges in filter FORWARD, after DNAT: that is the REPLY tuple's source
//      and source port; the TUN divert runs in mangle PREROUTING, before DNAT: the ORIGINAL
//      destination). Only entries with a local managed pod on either side are judged;
//   3. delete the entries now denied (`conntrack -D` with the exact tuple).
//
// The next packet of a deleted flow finds no entry. For TCP the kernel then picks the
// connection up mid-stream as NEW: with net.netfilter.nf_conntrack_tcp_loose=1 (the default)
// "conntrack will also pick up already established connections" (nf_conntrack sysctl docs;
// tcp_new() accepts a non-SYN packet as a new connection when tcp_loose is set). UDP, ICMP and
// SCTP flows simply start a new entry. Either way the packet is ctstate NEW, goes through
// PALISADE-PODS to the queue (or the TUN), is judged by the new rules and dropped; so is every
// later packet, since a dropped NEW packet never confirms its entry.
//
// Caveat (documented, not hidden): the first packet after the cut decides the direction of the
// new entry. If the RESPONDER speaks first (say b:8080 -> a:43210 after a -> b:8080 was cut), it
// is judged as a connection b -> a:43210, which policies that only isolate b's ingress allow;
// the flow then carries on in the reverse orientation. Stateful NetworkPolicy semantics allow
// exactly that datagram exchange (b may open a:43210), but a TCP connection cut this way can be
// revived by its server. Clients speaking next (the usual case, and every one-way stream) are
// cut for good.
//
// The TUN backend uses the same allow bit (PALISADE-PREROUTING sets it on what the agent writes
// back), so the same sweep applies there.

import { parseIP } from '../net/address.ts';
import type { RuleSnapshot } from '../policy/engine-api.ts';
import type { CommandPrefix } from './command.ts';
import type { Family } from './iptables.ts';
import { deleteKernelFlows, listKernelFlows, type KernelFlow, type MarkFilter } from './kernel-conntrack.ts';
import { protocolHasPorts } from '../net/ip-protocols.ts';


/** One kernel flow judged again: the connection as the judge saw it, and the snapshot's answer. */
export interface JudgedFlow {
  readonly flow: KernelFlow;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly port: number;
  readonly allowed: boolean;
  readonly egressCode: number;
  readonly ingressCode: number;
  readonly srcSlot: number;
  readonly dstSlot: number;
  readonly generation: number;
}

export interface FlowCutterOptions {
  /** Palisade's allow bit(s) in the connmark. */
  readonly allowMark: number;
  readonly families: readonly Family[];
  /** true: the judge saw packets after DNAT (NFQUEUE in FORWARD); false: before (TUN in PREROUTING). */
  readonly judgeAfterDnat: boolean;
  readonly prefix?: CommandPrefix;
}

export interface SweepOptions {
  /** Also judge entries WITHOUT the allow bit (flows admitted while Palisade's rules were missing). */
  readonly unmarked?: boolean;
  /**
   * Called for each denied flow, synchronously with the snapshot that judged it (pod slots and
   * rule ids in `j` are only meaningful with that snapshot). Return true to spare the flow
   * (audit mode, an expired DNS record); otherwise it is cut.
   */
  readonly onDenied?: (j: JudgedFlow, snap: RuleSnapshot) => boolean;
}

export interface SweepResult {
  /** Entries listed by the kernel. */
  listed: number;
  /** Entries with a local managed pod on either side, judged again. */
  judged: number;
  /** Denied and deleted (or attempted). */
  cut: JudgedFlow[];
  /** Denied but spared (audit, or a flow that outlives its DNS record). */
  spared: number;
  /** Lines the tool printed that could not be read (never acted on). */
  unreadable: string[];
}

/** Words of an address as the engine takes them (int32 bit patterns), or undefined. */
function words(text: string): number[] | undefined {
  const p = parseIP(text);
  return p ? p.words.map((w) => w | 0) : undefined;
}

/**
 * Judges one kernel flow with a snapshot. Returns undefined when no local managed pod is on
 * either side (nothing this node decides), or when the flow's addresses cannot be read.
 */
export function judgeKernelFlow(snap: RuleSnapshot, f: KernelFlow, judgeAfterDnat: boolean): JudgedFlow | undefined {
  const src = f.original.src;
  const dst = judgeAfterDnat ? f.reply.src : f.original.dst;
  const hasPorts = protocolHasPorts(f.proto);
  const port = hasPorts ? (judgeAfterDnat ? f.reply.sport : f.original.dport) : 0;
  if (port === undefined) return undefined;
  const s = words(src);
  const d = words(dst);
  if (!s || !d || s.length !== d.length || (s.length === 1) !== (f.family === 4)) return undefined;
  const v4 = s.length === 1;
  const ss = v4 ? snap.podSlot4(s[0]!) : snap.podSlot6(s[0]!, s[1]!, s[2]!, s[3]!);
  const ds = v4 ? snap.podSlot4(d[0]!) : snap.podSlot6(d[0]!, d[1]!, d[2]!, d[3]!);
  if (!(ss >= 0 && snap.isLocal(ss)) && !(ds >= 0 && snap.isLocal(ds))) return undefined;
  const allowed = v4
    ? snap.judge4(s[0]!, d[0]!, f.proto, port)
    : snap.judge6(s[0]!, s[1]!, s[2]!, s[3]!, d[0]!, d[1]!, d[2]!, d[3]!, f.proto, port);
  return {
    flow: f, src, dst, proto: f.proto, port, allowed,
    egressCode: snap.egressCode, ingressCode: snap.ingressCode, srcSlot: snap.srcSlot, dstSlot: snap.dstSlot,
    generation: snap.generation,
  };
}

export class FlowCutter {
  private readonly opts: FlowCutterOptions;
  /** Totals since start. */
  sweeps = 0;
  cutTotal = 0;
  errors = 0;

  constructor(opts: FlowCutterOptions) {
    this.opts = opts;
  }

  /**
   * Lists, judges with `snapshot()` (called per chunk, so the newest generation decides) and cuts.
   * Yields to the event loop between chunks: packets keep being judged during a long sweep.
   */
  async sweep(snapshot: () => RuleSnapshot, o: SweepOptions = {}): Promise<SweepResult> {
    const res: SweepResult = { listed: 0, judged: 0, cut: [], spared: 0, unreadable: [] };
    const marked: MarkFilter = { mark: this.opts.allowMark, mask: this.opts.allowMark };
    for (const fam of this.opts.families) {
      const { flows, bad } = await listKernelFlows(fam, o.unmarked ? undefined : marked, this.opts.prefix);
      res.listed += flows.length;
      res.unreadable.push(...bad);
      const denied: KernelFlow[] = [];
      for (let i = 0; i < flows.length; i++) {
        if (i > 0 && i % 512 === 0) await new Promise((r) => setImmediate(r));
        const f = flows[i]!;
        const snap = snapshot();
        const j = judgeKernelFlow(snap, f, this.opts.judgeAfterDnat);
        if (!j) continue;
        res.judged++;
        if (j.allowed) continue;
        if (o.onDenied?.(j, snap)) {
          res.spared++;
          continue;
        }
        denied.push(f);
        res.cut.push(j);
      }
      if (denied.length === 0) continue;
      // Marked entries are deleted only while they still carry the allow bit; with `unmarked`
      // the sweep covers both kinds, so the exact tuple alone names the entry.
      await deleteKernelFlows(denied, o.unmarked ? undefined : marked, this.opts.prefix);
    }
    this.sweeps++;
    this.cutTotal += res.cut.length;
    return res;
  }
}
