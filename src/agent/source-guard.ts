// The agent's side of source-address validation (the kernel rules: enforce/nft-guard.ts, a native
// nftables table, where `nft` runs; else enforce/spoof-guard.ts, iptables raw chains and ipsets):
// which local pod owns which addresses, on which host interface (the route to the address), and
// what the kernel dropped. Pod adds, deletes and address changes are applied in the reconcile of
// the generation that carries them (a route lookup each time). On a rule-watchdog tick the
// routes are looked up again only when it can matter, so an idle node spawns nothing for it: a
// pod still waits for its interface (its veth or route came after its Pod object; fail-closed
// meanwhile), the node's interface names changed (a veth appeared, went or was recreated under a
// new name), the native table's listing (read every tick anyway) shows an honest pair under an
// index its interface no longer has (a veth recreated under the same name: until then its pod's
// packets are all dropped, fail-closed; the tc layout: the interface's index is not the one its
// filters were written on, and it is unguarded until then), or every REFRESH_TICKS ticks in any
// case (a route moved with no interface change).

import { Counter, Gauge, type Registry } from 'prom-client';
import { setCounter } from './metrics.ts';
import type { ClusterState } from '../cluster/state.ts';
import type { Log } from '../sources/log.ts';
import type { CommandPrefix } from '../enforce/command.ts';
import type { Family, IptablesBackend } from '../enforce/iptables.ts';
import { SpoofGuard, findInterfaces, linkFingerprint, type GuardEntries, type KernelGuard } from '../enforce/spoof-guard.ts';
import { NftSpoofGuard, nftAvailable } from '../enforce/nft-guard.ts';
import { TcSpoofGuard, TC_NOIF_SETS, tcAvailable } from '../enforce/tc-guard.ts';

/** Forged sources logged per watchdog tick; the rest are summed up in one line. */
const LOG_LIMIT = 20;
/** Watchdog ticks between route lookups when nothing says one is needed. */
const REFRESH_TICKS = 10;

export interface SourceGuardStatus {
  /** Packets dropped because their source was not their interface's pod's (kernel counters). */
  readonly spoofedPackets: number;
  /** Per pod ("ns/name"). */
  readonly spoofedByPod: Record<string, number>;
  /** Packets dropped because their source is a local pod whose interface is not known yet. */
  readonly noInterfaceDrops: number;
  /** Local pods whose interface is not found yet (fail-closed unless --fail-open). */
  readonly podsWithoutInterface: readonly string[];
  readonly interfaces: number;
  /** Route lookups so far (each one `ip -batch` process). */
  readonly routeLookups: number;
  /** Which kernel layout holds the guard: tc filters on the pod veths, a native nftables table, or iptables raw chains with ipsets. */
  readonly layout: 'tc' | 'nft' | 'iptables';
}

/**
 * 'auto' (the default): tc filters on each pod veth when `tc` and `nft` run on the node (nft
 * holds the sink that records forged sources), else the native nftables table when `nft` runs,
 * else iptables.
 */
export type GuardLayout = 'auto' | 'tc' | 'nft' | 'iptables';
export const GUARD_LAYOUTS: readonly GuardLayout[] = ['auto', 'tc', 'nft', 'iptables'];

export interface SourceGuardOptions {
  readonly node: string;
  readonly backend: IptablesBackend;
  readonly families: readonly Family[];
  readonly failOpen: boolean;
  readonly layout?: GuardLayout;
  readonly log: Log;
  /** Where verdict-log lines go (the agent's sinks); undefined: the agent log. */
  readonly write?: (line: string) => void;
  readonly prefix?: CommandPrefix;
}

export class SourceGuard {
  private readonly o: SourceGuardOptions;
  private readonly guard: KernelGuard;
  /** iface -> pod key, from the last lookup. */
  private podOfIface = new Map<string, string>();
  private unbound: string[] = [];
  /** Last kernel counter per iface, to add up deltas (an entry recreated starts at 0 again). */
  private readonly lastCount = new Map<string, number>();
  private lastNoIface = 0;
  private spoofed = 0;
  private noIfaceDrops = 0;
  private readonly byPod = new Map<string, number>();
  /** Interface names at the last route lookup (linkFingerprint), and ticks since it. */
  private links: string | undefined;
  private ticksSinceLookup = 0;
  /** Route lookups made (status: the watchdog's cost is visible). */
  private lookups = 0;

  private constructor(o: SourceGuardOptions, guard: KernelGuard) {
    this.o = o;
    this.guard = guard;
  }

  /**
   * Installs the guard for the local pods of `state` in the layout chosen, then removes the other
   * layout's if a previous run left it (installed first: no moment unguarded); with `enabled`
   * false removes what a previous run left of either (a CNI that validates sources itself) and
   * returns undefined.
   */
  static async open(o: SourceGuardOptions, state: ClusterState, enabled: boolean): Promise<SourceGuard | undefined> {
    const nftRuns = await nftAvailable(o.prefix);
    const tcRuns = nftRuns && (await tcAvailable(o.prefix));
    if (o.layout === 'nft' && !nftRuns) throw new Error('source guard layout nft: `nft list tables` does not run on this node');
    if (o.layout === 'tc' && !tcRuns) throw new Error('source guard layout tc: needs both `tc` and `nft` (the sink that records forged sources) on this node');
    const ipt = new SpoofGuard({ backend: o.backend, families: o.families, failOpen: o.failOpen, prefix: o.prefix });
    const nft = nftRuns ? new NftSpoofGuard({ families: o.families, failOpen: o.failOpen, prefix: o.prefix }) : undefined;
    const tc = tcRuns ? new TcSpoofGuard({ families: o.families, failOpen: o.failOpen, prefix: o.prefix }) : undefined;
    const all: KernelGuard[] = [tc, nft, ipt].filter((g): g is NonNullable<typeof g> => g !== undefined);
    if (!enabled) {
      for (const g of all) await g.remove();
      return undefined;
    }
    // In order of preference; auto falls back to the next on a kernel that refuses part of one
    // (a module missing), an explicit layout does not.
    const order = o.layout === undefined || o.layout === 'auto' ? all : all.filter((g) => g.layout === o.layout);
    let chosen: SourceGuard | undefined;
    let lastError: Error | undefined;
    for (const use of order) {
      const g = new SourceGuard(o, use);
      try {
        await use.install(await g.entries(state));
        chosen = g;
        break;
      } catch (e) {
        lastError = e as Error;
        if (o.layout !== undefined && o.layout !== 'auto') throw e;
        o.log('warn', `source guard: the ${use.layout} layout failed, trying the next`, { error: lastError.message });
        await use.remove().catch(() => undefined);
      }
    }
    if (!chosen) throw lastError ?? new Error('source guard: no layout could be installed');
    // The others' leftovers (a previous run's) go after this one is in: no moment unguarded.
    for (const g of all) if (g !== chosen.guard) await g.remove();
    return chosen;
  }

  /**
   * The sets the agent's filter chains drop local pods' sources from while their interface is
   * not found (RulePlan.noIfaceSets): the tc layout's, which has no PREROUTING hook of its own;
   * undefined for the other layouts (their hook drops them) and with --fail-open.
   */
  get noIfaceSets(): Readonly<Record<Family, string>> | undefined {
    return this.guard.layout === 'tc' && !this.o.failOpen ? TC_NOIF_SETS : undefined;
  }

  /** The families noIfaceSets has members of now (PodMatch.noIfaceFamilies); undefined where there is no such rule. */
  get noIfaceFamilies(): readonly Family[] | undefined {
    return this.noIfaceSets ? this.guard.noIfaceFamilies ?? [] : undefined;
  }

  /** The iptables layout reads its sets from the tick's shared `ipset save`; the others list their own. */
  get sharesIpsetListing(): boolean {
    return this.guard.layout === 'iptables';
  }

  /** Local pods' addresses per family, bound to the interface their route goes through. */
  private async entries(state: ClusterState): Promise<Map<Family, GuardEntries>> {
    this.links = linkFingerprint(this.o.prefix);
    this.ticksSinceLookup = 0;
    this.lookups++;
    const pods: { key: string; ips: readonly string[] }[] = [];
    for (const p of state.pods.values()) {
      if (p.nodeName !== this.o.node || p.hostNetwork || p.ips.length === 0) continue;
      pods.push({ key: `${p.namespace}/${p.name}`, ips: p.ips });
    }
    const found = await findInterfaces(pods.flatMap((p) => p.ips), this.o.prefix);
    const ifaces = found.dev;
    const out = new Map<Family, { bound: Map<string, string[]>; noIface: string[]; index: Map<string, number>; mac: Map<string, string> }>();
    for (const f of this.o.families) out.set(f, { bound: new Map(), noIface: [], index: found.index, mac: found.mac });
    const podOfIface = new Map<string, string>();
    const unbound = new Set<string>();
    for (const p of pods) {
      for (const ip of p.ips) {
        const e = out.get(ip.includes(':') ? 6 : 4);
        if (!e) continue;
        const iface = ifaces.get(ip);
        if (!iface) {
          e.noIface.push(ip);
          unbound.add(p.key);
          continue;
        }
        const l = e.bound.get(iface) ?? [];
        l.push(ip);
        e.bound.set(iface, l);
        // A shared interface (a bridge) names its first pod; the drop is the same.
        if (!podOfIface.has(iface)) podOfIface.set(iface, p.key);
      }
    }
    this.podOfIface = podOfIface;
    this.unbound = [...unbound].sort();
    return out;
  }

  /** Applies the newest state (reconcile: before the generation counts as enforced). */
  async update(state: ClusterState): Promise<void> {
    await this.guard.update(await this.entries(state));
    this.forgetGone(state);
  }

  /**
   * Drops the counts of interfaces no longer guarded and of pods that no longer exist: without
   * this, lastCount kept every veth the node ever had and palisade_spoofed_packets_total a series
   * for every pod that ever forged a source, for as long as the agent ran (pods come and go, a
   * CronJob's under a new name each run). Nothing is counted twice: the update just took those
   * interfaces' entries out of the kernel, so one that comes back counts from 0.
   */
  private forgetGone(state: ClusterState): void {
    for (const iface of this.lastCount.keys()) if (!this.podOfIface.has(iface)) this.lastCount.delete(iface);
    for (const pod of this.byPod.keys()) {
      const unknown = /^<interface (.+)>$/.exec(pod);
      if (unknown ? !this.podOfIface.has(unknown[1]!) : !state.pods.has(pod)) this.byPod.delete(pod);
    }
  }

  /**
   * One watchdog tick: follows interface changes, puts missing or altered rules and sets back
   * (returning what was wrong), and reports what the kernel dropped since the last tick.
   */
  async check(state: ClusterState, o: { listing?: string; rulesUnchanged?: boolean } = {}): Promise<string[]> {
    const links = linkFingerprint(this.o.prefix);
    if (links === undefined || links !== this.links || this.unbound.length > 0 || ++this.ticksSinceLookup >= REFRESH_TICKS) await this.update(state);
    // One listing per tick for the check and the counters: the iptables layout's sets from the
    // `ipset save` shared with the agent's other sets when the watchdog passes one, its raw table
    // only when the rule watchdog's change monitor says some rule changed since its last clean
    // read; the native table whole, through the long-lived nft (the agent spawns little).
    let saved = await this.guard.read(o.listing);
    // A recreated veth: followed in this tick, before anything counts as tampering.
    if (this.guard.stale?.(saved)) {
      await this.update(state);
      saved = await this.guard.read();
    }
    const problems = await this.guard.verify(saved, { tables: !o.rulesUnchanged });
    if (problems.length > 0) {
      // Written anew from a fresh lookup: what was last written may be what went stale.
      await this.guard.install(await this.entries(state));
      saved = await this.guard.read();
    }
    await this.report(saved);
    return problems;
  }

  private async report(saved: string): Promise<void> {
    const r = await this.guard.poll(saved);
    for (const [iface, n] of r.droppedByIface) {
      const last = this.lastCount.get(iface) ?? 0;
      const d = n >= last ? n - last : n;
      this.lastCount.set(iface, n);
      if (d === 0) continue;
      this.spoofed += d;
      const pod = this.podOfIface.get(iface) ?? `<interface ${iface}>`;
      this.byPod.set(pod, (this.byPod.get(pod) ?? 0) + d);
    }
    const dn = r.droppedNoIface >= this.lastNoIface ? r.droppedNoIface - this.lastNoIface : r.droppedNoIface;
    this.lastNoIface = r.droppedNoIface;
    this.noIfaceDrops += dn;
    const time = new Date().toISOString();
    for (const f of r.forged.slice(0, LOG_LIMIT)) {
      const pod = this.podOfIface.get(f.iface) ?? '<unknown>';
      const line = { time, verdict: 'deny', reason: 'spoofed-source', pod, iface: f.iface, src: { ip: f.src } };
      if (this.o.write) this.o.write(JSON.stringify(line));
      else this.o.log('warn', 'dropped a packet with a forged source address', { pod, iface: f.iface, src: f.src, reason: 'spoofed-source' });
    }
    if (r.forged.length > LOG_LIMIT) {
      this.o.log('warn', `${r.forged.length - LOG_LIMIT} more forged source address(es) dropped this second, not logged one by one`, { reason: 'spoofed-source' });
    }
  }

  status(): SourceGuardStatus {
    return {
      spoofedPackets: this.spoofed,
      spoofedByPod: Object.fromEntries(this.byPod),
      noInterfaceDrops: this.noIfaceDrops,
      podsWithoutInterface: this.unbound,
      interfaces: this.podOfIface.size,
      routeLookups: this.lookups,
      layout: this.guard.layout,
    };
  }

  remove(): Promise<void> {
    return this.guard.remove();
  }

  /** Prometheus view of status(); `guard` is read at each scrape (undefined with --no-source-guard). */
  static registerMetrics(registry: Registry, guard: () => SourceGuard | undefined): void {
    // Counts only go up: counters, not gauges named _total (the wrong type for Prometheus tooling).
    new Counter({
      name: 'palisade_spoofed_packets_total', help: 'Packets dropped in the kernel because their source address is not their interface\'s pod\'s', labelNames: ['pod'], registers: [registry],
      collect() {
        this.reset();
        for (const [pod, n] of Object.entries(guard()?.status().spoofedByPod ?? {})) setCounter(this, { pod }, n);
      },
    });
    new Counter({
      name: 'palisade_spoof_no_interface_drops_total', help: 'Packets dropped because their source is a local pod whose interface is not found yet', registers: [registry],
      collect() { this.reset(); setCounter(this, {}, guard()?.status().noInterfaceDrops ?? 0); },
    });
    new Gauge({
      name: 'palisade_pods_without_interface', help: 'Local pods whose host-side interface is not found yet (their sources are dropped unless --fail-open)', registers: [registry],
      collect() { this.set(guard()?.status().podsWithoutInterface.length ?? 0); },
    });
  }
}
