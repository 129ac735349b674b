// Glue between the classifier and the observability pieces: counts every packet into the
// agent's typed-array counters, and for a denied NEW connection (only then) applies audit mode
// and writes the verdict log. It wraps a Classifier as the PacketJudge an enforcer takes, so
// wiring is `enforcer.setJudge(new ObservedJudge(classifier, observer))`.
//
// Hot path: an allowed packet costs a few integer increments here, nothing else. Everything that
// allocates (IP text, pod names, the JSON line) happens on the deny path, which is rate limited.

import { ACCEPT, REASON, judgedPort, type Classifier } from '../dataplane/classifier.ts';
import { formatIP } from '../net/address.ts';
import type { PacketInfo } from '../dataplane/packet-info.ts';
import { sideDenies, sideHasRule, sideSkipped, type RuleSnapshot } from '../policy/engine-api.ts';
import { auditAllowsCodes, ENFORCE_ALL, type AuditConfig } from './audit.ts';
import { AgentCounters, DIRECTION, PolicyCounters, VERDICT, protoSlot, verdictSlot } from './metrics.ts';
import { RecentFlows } from './recent-flows.ts';
import type { VerdictLog } from './verdict-log.ts';
import type { CachedDecision, CachedTuple } from '../enforce/cache-counters.ts';
import { checkMirrors } from '../net/mirrored-constants.ts';

// What after() and ObservedJudge.classify() compare with for every packet is a const enum, which
// the compiler writes as numbers: the optimized code would otherwise load each imported const
// (and its property) from the module cell and check it on every packet. Checked against the
// sources when the module loads.
const enum H {
  /** REASON.POLICY_ALLOW, REASON.POLICY_DENY (classifier.ts) */
  POLICY_ALLOW = 1,
  POLICY_DENY = 2,
  /** ACCEPT (classifier.ts) */
  ACCEPT = 1,
  /** VERDICT.ALLOW, VERDICT.DENY, DIRECTION.NONE (metrics.ts) */
  ALLOW = 0,
  DENY = 1,
  NONE = 0,
}
checkMirrors('observe.ts', [
  [H.POLICY_ALLOW, REASON.POLICY_ALLOW, 'REASON.POLICY_ALLOW'], [H.POLICY_DENY, REASON.POLICY_DENY, 'REASON.POLICY_DENY'],
  [H.ACCEPT, ACCEPT, 'ACCEPT'], [H.ALLOW, VERDICT.ALLOW, 'VERDICT.ALLOW'], [H.DENY, VERDICT.DENY, 'VERDICT.DENY'],
  [H.NONE, DIRECTION.NONE, 'DIRECTION.NONE'],
]);


export interface ObserverOptions {
  readonly counters: AgentCounters;
  readonly policies: PolicyCounters;
  readonly log?: VerdictLog;
  readonly audit?: AuditConfig;
  /** Packets of a denied 5-tuple within this many ms count as one connection (default 130 s; 0: every packet is one). */
  readonly repeatWindowMs?: number;
}

export class ConnectionObserver {
  readonly counters: AgentCounters;
  readonly policies: PolicyCounters;
  log: VerdictLog | undefined;
  /** Replace on Namespace changes / flag reload (auditConfig() in audit.ts). */
  audit: AuditConfig;
  /** Denied connections audit mode let through. */
  audited = 0;
  /** Packets of denied connections already counted (retransmitted SYNs, further datagrams). */
  repeats = 0;
  /** Denied 5-tuples seen recently (see recent-flows.ts). */
  readonly recent: RecentFlows;

  constructor(o: ObserverOptions) {
    this.counters = o.counters;
    this.policies = o.policies;
    this.log = o.log;
    this.audit = o.audit ?? ENFORCE_ALL;
    this.recent = new RecentFlows(o.repeatWindowMs);
  }

  /** Call when a new snapshot is published (before the classifier gets it): ruleCount = engine.stats().ruleIds. */
  bindSnapshot(snap: RuleSnapshot, ruleCount: number): void {
    this.policies.bind(snap, ruleCount);
  }

  /**
   * Call right after classifier.classify() returned `verdict` for a packet. Returns the verdict
   * to enforce: the same, or ACCEPT when audit mode waves a denied new connection through.
   */
  after(c: Classifier, verdict: number, now: number): number {
    const p = protoSlot(c.info.proto);
    const reason = c.lastReason;
    if (reason === H.POLICY_ALLOW) {
      const slot = verdictSlot(H.ALLOW, H.NONE, p);
      this.counters.packets[slot]!++;
      this.counters.connections[slot]!++;
      const hits = this.policies.hits;
      // Per rule code (rule and action), see PolicyCounters.
      const e = c.lastEgressCode, i = c.lastIngressCode;
      if (sideHasRule(e) && e < hits.length) hits[e]!++;
      if (sideHasRule(i) && i < hits.length) hits[i]!++;
      // Allowed connections are logged only when the log asks for them (a debugging option).
      if (this.log !== undefined && this.log.logAllowed) this.logNew(c, false);
      return verdict;
    }
    if (reason !== H.POLICY_DENY) {
      // Tracked flows, replies, ICMP errors, invalid packets: counted as packets only.
      this.counters.packets[verdictSlot(verdict === H.ACCEPT ? H.ALLOW : H.DENY, H.NONE, p)]!++;
      return verdict;
    }
    return this.denied(c, p, now);
  }

  /**
   * Connections the verdict cache admitted (its counters, read off the packet path): counted like
   * the ones the agent allowed itself, in the snapshot that made the decision, and with
   * --log-allowed one aggregated line per tuple and read (VerdictLine.cached).
   */
  countCached(d: CachedDecision, t: CachedTuple, n: number): void {
    const snap = d.context as RuleSnapshot;
    const slot = verdictSlot(VERDICT.ALLOW, DIRECTION.NONE, protoSlot(t.proto));
    this.counters.packets[slot]! += n;
    this.counters.connections[slot]! += n;
    this.policies.countAllowedSide(snap, d.egress, n);
    this.policies.countAllowedSide(snap, d.ingress, n);
    if (this.log === undefined || !this.log.logAllowed) return;
    const v4 = t.family === 4;
    const family = v4 ? 'IPv4' as const : 'IPv6' as const;
    const slotOf = (w: readonly number[]) => (v4 ? snap.podSlot4(w[0]!) : snap.podSlot6(w[0]!, w[1]!, w[2]!, w[3]!));
    this.log.record(snap, {
      src: formatIP({ family, words: [...t.src] }), dst: formatIP({ family, words: [...t.dst] }),
      proto: t.proto, port: t.port,
      egressCode: d.egress, ingressCode: d.ingress, srcSlot: slotOf(t.src), dstSlot: slotOf(t.dst), cached: n,
    });
  }

  /** The deny path (off the hot path by construction: only denied NEW connections get here). */
  private denied(c: Classifier, p: number, now: number): number {
    const snap = c.snapshot;
    const e = c.lastEgressCode;
    // The classifier stops at an egress denial (ingress SIDE.SKIPPED). When audit mode waves that
    // denial through, the packet goes on to the destination's ingress, which must decide too.
    if (sideSkipped(c.lastIngressCode) && auditAllowsCodes(this.audit, snap, e, c.lastIngressCode, c.lastSrcSlot, c.lastDstSlot)) c.judgeSkippedSide();
    const i = c.lastIngressCode;
    const eDeny = sideDenies(e), iDeny = sideDenies(i);
    const dir = eDeny && iDeny ? DIRECTION.BOTH : eDeny ? DIRECTION.EGRESS : DIRECTION.INGRESS;
    const audit = auditAllowsCodes(this.audit, snap, e, i, c.lastSrcSlot, c.lastDstSlot);
    const slot = verdictSlot(audit ? VERDICT.AUDIT : VERDICT.DENY, dir, p);
    this.counters.packets[slot]!++;
    // A retransmitted SYN (or a further datagram) of a connection denied moments ago is the same
    // connection: a packet, not another connection or log line. Audit mode still decides it.
    if (this.recent.repeat(c.info, now, audit ? 1 : 0)) {
      this.repeats++;
      this.log?.countRepeat();
    } else {
      this.counters.connections[slot]!++;
      if (eDeny) this.policies.countDeniedSide(snap, e, c.lastSrcSlot, 'egress', audit);
      if (iDeny) this.policies.countDeniedSide(snap, i, c.lastDstSlot, 'ingress', audit);
      if (this.log) this.logNew(c, audit);
    }
    if (!audit) return c.lastVerdict;
    this.audited++;
    // With the userspace connection table (TUN backend) the flow must be tracked as accepted,
    // or its replies would be judged as new reverse connections and dropped. (NFQUEUE: the
    // enforcer's connmark remembers the ACCEPT and the kernel passes the rest of the flow.)
    const ct = c.conntrack;
    if (ct !== undefined) ct.insert(c.info, now, ACCEPT, snap.generation, e, i);
    return ACCEPT;
  }

  /** Hands the classifier's last new connection to the verdict log (off the hot path). */
  private logNew(c: Classifier, audit: boolean): void {
    const info = c.info;
    const v4 = info.family === 4;
    const proto = info.proto;
    this.log!.record(c.snapshot, {
      src: v4 ? formatIP({ family: 'IPv4', words: [info.src4 >>> 0] }) : formatIP({ family: 'IPv6', words: [info.src6a >>> 0, info.src6b >>> 0, info.src6c >>> 0, info.src6d >>> 0] }),
      dst: v4 ? formatIP({ family: 'IPv4', words: [info.dst4 >>> 0] }) : formatIP({ family: 'IPv6', words: [info.dst6a >>> 0, info.dst6b >>> 0, info.dst6c >>> 0, info.dst6d >>> 0] }),
      proto,
      port: judgedPort(info),
      egressCode: c.lastEgressCode, ingressCode: c.lastIngressCode, srcSlot: c.lastSrcSlot, dstSlot: c.lastDstSlot,
      ...(audit ? { audit: true } : {}),
    });
  }

  /**
   * After classifier.rejudge() (strict mode, on a snapshot swap): flows the new rules deny are in
   * c.deniedFlows[0..deniedCount). Those whose denying side is in audit are re-accepted (and
   * logged as would-deny) and removed from the list, so the enforcer cuts only the rest. Call
   * rejudge WITHOUT an onDenied callback, then this, then cut c.deniedFlows[0..return value).
   */
  reviewDeniedFlows(c: Classifier, now: number): number {
    const ct = c.conntrack;
    if (ct === undefined) return c.deniedCount;
    const snap = c.snapshot;
    let kept = 0;
    for (let k = 0; k < c.deniedCount; k++) {
      const e = c.deniedFlows[k]!;
      const eCode = ct.egressCode(e), iCode = ct.ingressCode(e);
      const v4 = ct.family(e) === 4;
      const srcSlot = v4 ? snap.podSlot4(ct.srcWord(e, 0)) : snap.podSlot6(ct.srcWord(e, 0), ct.srcWord(e, 1), ct.srcWord(e, 2), ct.srcWord(e, 3));
      const dstSlot = v4 ? snap.podSlot4(ct.dstWord(e, 0)) : snap.podSlot6(ct.dstWord(e, 0), ct.dstWord(e, 1), ct.dstWord(e, 2), ct.dstWord(e, 3));
      if (auditAllowsCodes(this.audit, snap, eCode, iCode, srcSlot, dstSlot)) {
        ct.setVerdict(e, ACCEPT, snap.generation, eCode, iCode);
        this.audited++;
        if (this.log) {
          const words = (get: (i: number) => number) => (v4 ? [get(0) >>> 0] : [get(0) >>> 0, get(1) >>> 0, get(2) >>> 0, get(3) >>> 0]);
          const family = v4 ? 'IPv4' as const : 'IPv6' as const;
          this.log.record(snap, {
            src: formatIP({ family, words: words((i) => ct.srcWord(e, i)) }), dst: formatIP({ family, words: words((i) => ct.dstWord(e, i)) }),
            proto: ct.protocol(e), port: ct.judgedPort(e),
            egressCode: eCode, ingressCode: iCode, srcSlot, dstSlot, audit: true,
          });
        }
      } else {
        c.deniedFlows[kept++] = e;
      }
    }
    c.deniedCount = kept;
    return kept;
  }
}

/** What the verdict cache (src/enforce/verdict-cache.ts) needs from the judge: the packet and the decision's side codes. */
export interface AllowedConnectionSink {
  record(info: PacketInfo, egressCode: number, ingressCode: number): void;
  commit(): void;
}

/**
 * A Classifier observed: the PacketJudge to give the enforcer. With a verdict cache, each new
 * connection the rules allowed (not one audit mode waved through) is recorded, and the batch's
 * records are committed before its verdicts go out.
 */
export class ObservedJudge {
  constructor(readonly classifier: Classifier, readonly observer: ConnectionObserver, readonly cache?: AllowedConnectionSink) {}
  classify(buf: Buffer, off: number, len: number, now: number): number {
    const c = this.classifier;
    const v = this.observer.after(c, c.classify(buf, off, len, now), now);
    if (this.cache !== undefined && v === H.ACCEPT && c.lastReason === H.POLICY_ALLOW) this.cache.record(c.info, c.lastEgressCode, c.lastIngressCode);
    return v;
  }
  endBatch(): void {
    this.cache?.commit();
  }
}
