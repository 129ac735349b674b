// Egress to domain names in the running agent (issue 16): binds the DNS queue (iptables.ts
// PALISADE-DNS sends DNS answers to the pods a domainNames policy selects there) to the DNS
// learner, runs the expiry tick, says which pods' answers to queue, and exports the records for
// the status file (`dns` section), explain and metrics. NFQUEUE backend only: in TUN mode no
// answer is queued, nothing is learned, and domainNames peers match nothing (README).

import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import type { ClusterState } from '../cluster/state.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import { describeRecord, type NameStoreOptions } from '../dataplane/name-store.ts';
import { NfqueueEnforcer } from '../enforce/nfqueue.ts';
import type { Enforcer } from '../enforce/judge.ts';
import { clusterPolicySelectsPod } from '../policy/cluster-facts.ts';
import { clusterPolicyUsesDomainNames } from '../policy/domain-names.ts';
import { DnsLearner } from './dns-learner.ts';
import { dnsStatusSection, type DnsStatusSection } from './dns-status.ts';

export interface DnsWiringOptions extends NameStoreOptions {
  readonly node: string;
  /** NFQUEUE number of the DNS queue (iptables.ts dnsQueue). */
  readonly queue: number;
  readonly failOpen: boolean;
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

export class DnsWiring {
  readonly learner: DnsLearner;
  private enforcer?: Enforcer;
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly state: ClusterState, private readonly o: DnsWiringOptions) {
    const local = (ip: string): boolean => {
      for (const p of state.pods.values()) if (p.nodeName === o.node && !p.hostNetwork && p.ips.includes(ip)) return true;
      return false;
    };
    this.learner = new DnsLearner(state, local, o);
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
      // Palisade already judged, nothing to mark.
      w.enforcer = await NfqueueEnforcer.open(w.learner, { queue: o.queue, acceptMark: 0, failOpen: o.failOpen, onError: o.onError });
    } catch (e) {
      w.learner.close();
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
    const g = (name: string, help: string, read: (l: DnsLearner) => number) => new Gauge({ name, help, registers: [registry], collect() { const l = learner(); this.set(l ? read(l) : 0); } });
    g('palisade_dns_records', 'Live name records (address -> names) learned from DNS answers', (l) => l.store.size);
    g('palisade_dns_answers_total', 'DNS answers queued to the agent', (l) => l.counters.answers);
    g('palisade_dns_learned_total', 'Name records learned or changed', (l) => l.store.counters.learned);
    g('palisade_dns_evictions_total', 'Name records evicted by the per-pod or total cap', (l) => l.store.counters.evictions);
    g('palisade_dns_expired_total', 'Name records expired', (l) => l.store.counters.expired);
    g('palisade_dns_parse_errors_total', 'DNS answers refused by the parser or not for a local pod', (l) => Object.values(l.counters.errors).reduce((a, b) => a + b, 0));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.learner.close();
    await this.enforcer?.close();
  }
}
