// Egress to domain names in the running agent (issue 16): hands the DNS answers to the pods a
// domainNames policy selects (iptables.ts PALISADE-DNS) to the DNS learner before delivery, runs
// the expiry tick, says which pods' answers to divert, and exports the records for the status
// file (`dns` section), explain and metrics.
// - NFQUEUE backend: the answers go to the DNS queue; the verdict (accept) follows the batch's
//   endBatch, so the policies are re-stored before the pod gets the answer.
// - TUN backend: PALISADE-DNS marks them with the DNS divert mark, which policy-routes them into
//   a TUN device of their own (tun-routing.ts: its own table and rule, right after the judge's),
//   read by the learner; the shim writes each batch back after endBatch, with the same
//   guarantee. A device apart from the judge's, because nothing in a packet read from a TUN says
//   why it was routed there: an answer and a new connection from port 53 look alike, and only
//   the second may be judged.

import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { setCounter } from './metrics.ts';
import type { ClusterState } from '../cluster/state.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import { describeRecord } from '../dataplane/name-store.ts';
import { NfqueueEnforcer } from '../enforce/nfqueue.ts';
import { TunEnforcer } from '../enforce/tun.ts';
import { dnsTunRouting, installTunRouting, removeTunRouting, tunRoutingProblems, type TunRoutingOptions } from '../enforce/tun-routing.ts';
import { dnsQueue, type RulePlan } from '../enforce/iptables.ts';
import type { Enforcer } from '../enforce/judge.ts';
import { clusterPolicySelectsPod } from '../policy/cluster-facts.ts';
import { clusterPolicyUsesDomainNames } from '../policy/domain-names.ts';
import { DnsLearner, type DnsLearnerOptions } from './dns-learner.ts';
import { dnsStatusSection, type DnsStatusSection } from './dns-status.ts';

/** Packets per batch on the DNS queue and the DNS TUN. */
const DNS_BATCH = 16;

export interface DnsWiringOptions extends DnsLearnerOptions {
  readonly node: string;
  /** The agent's rule plan: the DNS queue (NFQUEUE) or DNS TUN device and mark (TUN). */
  readonly plan: RulePlan;
  /** TUN: the judge's policy routing; the DNS device's comes right after it (table and preference + 1). */
  readonly routing?: TunRoutingOptions;
  readonly onError: (e: Error) => void;
}


/** Addresses of this node's pods that a cluster policy with domainNames peers selects: their DNS answers are queued. */
export function dnsPodMatch(state: ClusterState, node: string): { v4: string[]; v6: string[] } {
  const pols = [...state.clusterPolicies.values()].filter(clusterPolicyUsesDomainNames);
  const v4: string[] = [], v6: string[] = [];
  if (pols.length === 0) return { v4, v6 };
  for (const p of state.pods.values()) {
    if (p.nodeName !== node || p.hostNetwork) continue;
    const labels = namespaceLabels(state, p.namespace);
    if (!pols.some((q) => clusterPolicySelectsPod(q, p, labels))) continue;
    for (const ip of p.ips) (ip.includes(':') ? v6 : v4).push(ip);
  }
  return { v4: v4.sort(), v6: v6.sort() };
}

/**
 * Is this address (canonical text) one of `node`'s pods (not host-network)? Asked for every DNS
 * answer, so the addresses are kept in a set, rebuilt at the first question after a Pod change:
 * a walk of the cluster's pods per answer cost a large cluster a millisecond each.
 */
function localPodTest(state: ClusterState, node: string): { test: (ip: string) => boolean; stop: () => void } {
  let ips: Set<string> | undefined;
  const stop = state.onChange((changes) => {
    if (changes.some((c) => c.kind === 'Pod')) ips = undefined;
  });
  const test = (ip: string): boolean => {
    if (!ips) {
      ips = new Set();
      for (const p of state.pods.values()) if (p.nodeName === node && !p.hostNetwork) for (const a of p.ips) ips.add(a);
    }
    return ips.has(ip);
  };
  return { test, stop };
}

export class DnsWiring {
  readonly learner: DnsLearner;
  /** Stops the local-pod test's watch on Pod changes. */
  private readonly stopLocal: () => void;
  private enforcer?: Enforcer;
  /** TUN: the DNS device's policy routing. */
  private readonly routing?: TunRoutingOptions;
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly state: ClusterState, private readonly o: DnsWiringOptions) {
    const local = localPodTest(state, o.node);
    this.stopLocal = local.stop;
    this.learner = new DnsLearner(state, local.test, o);
    const p = o.plan;
    if (p.mode === 'tun' && o.routing && p.dnsTunDevice && p.dnsDivertMark) {
      this.routing = dnsTunRouting(o.routing, p.dnsTunDevice, p.dnsDivertMark);
    }
    this.timer = setInterval(() => {
      try {
        this.learner.tick();
      } catch (e) {
        o.onError(e as Error);
      }
    }, 1000);
    this.timer.unref();
  }

  static async open(state: ClusterState, o: DnsWiringOptions): Promise<DnsWiring> {
    const w = new DnsWiring(state, o);
    try {
      // Accepted answers get a plain NF_ACCEPT (acceptMark 0): they are replies of a flow
      // Palisade already judged, nothing to mark. Whole packets are copied (the judge's queues
      // copy only headers): an answer cut short cannot be read. Small batches keep the shared
      // buffer at DNS_BATCH * 64 KiB.
      if (o.plan.mode === 'nfqueue') w.enforcer = await NfqueueEnforcer.open(w.learner, { queue: dnsQueue(o.plan), acceptMark: 0, failOpen: o.plan.failOpen, onError: o.onError, copyRange: 65535, batch: DNS_BATCH });
      else if (w.routing) {
        // Persistent like the judge's: while the agent is down answers routed here are dropped.
        w.enforcer = await TunEnforcer.open(w.learner, { name: w.routing.device, batch: DNS_BATCH, persist: true, onError: o.onError });
        await installTunRouting(w.routing);
      }
    } catch (e) {
      await w.enforcer?.close().catch(() => {});
      w.learner.close();
      w.stopLocal();
      clearInterval(w.timer);
      throw e;
    }
    return w;
  }

  /**
   * For the verdict log: what the address is by DNS (the newest live record), or, for a
   * connection a pod's egress was denied, that no live record names it; undefined while no
   * policy uses domainNames (nothing to say).
   */
  nameOf(ip: string, egressDenied: boolean): string | undefined {
    const now = Date.now();
    const r = this.learner.store.about(ip, now)[0];
    if (r) return describeRecord(r, now);
    if (!egressDenied || ![...this.state.clusterPolicies.values()].some(clusterPolicyUsesDomainNames)) return undefined;
    return `${ip} has no live DNS record on this node (no domainNames rule can allow it)`;
  }

  /** The status file's `dns` section (dns-status.ts): live records in words, and the counters. */
  status(): DnsStatusSection {
    return dnsStatusSection(this.learner, this.enforcer?.counters() ?? {}, Date.now());
  }

  /** DNS gauges; `learner` is read at each scrape (the DNS queue is bound after metrics start; 0 without it). */
  static registerMetrics(registry: Registry, learner: () => DnsLearner | undefined): void {
    new Gauge({ name: 'palisade_dns_records', help: 'Live name records (address -> names) learned from DNS answers', registers: [registry], collect() { this.set(learner()?.store.size ?? 0); } });
    // Counts only go up: counters (they were gauges named _total, which Prometheus tooling reads
    // as the wrong type: promtool rejects the name, rate() warns, dashboards treat them as levels).
    const c = (name: string, help: string, read: (l: DnsLearner) => number) => new Counter({ name, help, registers: [registry], collect() { const l = learner(); this.reset(); setCounter(this, {}, l ? read(l) : 0); } });
    c('palisade_dns_answers_total', 'DNS answers queued to the agent', (l) => l.counters.answers);
    c('palisade_dns_learned_total', 'Name records learned or changed', (l) => l.store.counters.learned);
    c('palisade_dns_evictions_total', 'Name records evicted by the per-pod or total cap', (l) => l.store.counters.evictions);
    c('palisade_dns_expired_total', 'Name records expired', (l) => l.store.counters.expired);
    c('palisade_dns_parse_errors_total', 'DNS answers refused by the parser or not for a local pod', (l) => Object.values(l.counters.errors).reduce((a, b) => a + b, 0));
  }

  /** TUN: what is missing from the DNS device's policy routing (for the rule watchdog). */
  async routingProblems(): Promise<string[]> {
    return this.routing ? (await tunRoutingProblems(this.routing)).map((p) => `DNS: ${p}`) : [];
  }

  /** TUN: puts the DNS device's policy routing back. */
  async installRouting(): Promise<void> {
    if (this.routing) await installTunRouting(this.routing);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.learner.close();
    this.stopLocal();
    // The DNS device and its routing go (answers are delivered unlearned until the next agent
    // binds them); keepRules keeps the judge's device, which is what keeps the node closed.
    if (this.routing) await removeTunRouting(this.routing).catch(() => {});
    await this.enforcer?.close();
  }
}
