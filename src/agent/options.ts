import type { GuardLayout } from './source-guard.ts';
// The agent's options: what `palisade agent` passes in, checked before anything is built
// (agentOptionsError, one line naming the flag), and the iptables rule plan they amount to.

import type { DnsLearnerOptions } from './dns-learner.ts';
import { DEFAULT_ALLOW_MARK, DEFAULT_DIVERT_MARK, DEFAULT_DNS_DIVERT_MARK, checkAddress, dnsTunName, checkIface, type IptablesBackend, type RulePlan } from '../enforce/iptables.ts';
import { availableParallelism } from 'node:os';
import { DEFAULT_TUN_DEVICE } from '../enforce/tun-routing.ts';
import type { Source } from '../sources/source.ts';
import type { Log } from '../sources/log.ts';
import type { HealthServer } from './health.ts';
import type { MetricsAddress } from './metrics.ts';

export type Backend = 'nfqueue' | 'tun';

export interface AgentOptions {
  readonly source: Source;
  /** This node's name: pods with this spec.nodeName are the ones judged here. */
  readonly node: string;
  readonly backend: Backend;
  /** NFQUEUE: first queue number and number of queues (default: one per CPU this process may run on, see defaultQueueCount). */
  readonly queue?: number;
  readonly queues?: number;
  /** NFQUEUE --queue-bypass and NFQA_CFG_F_FAIL_OPEN: accept instead of drop when nobody listens or the queue overflows. */
  readonly failOpen?: boolean;
  readonly allowMark?: number;
  readonly divertMark?: number;
  readonly tunName?: string;
  readonly tunTable?: number;
  readonly tunPriority?: number;
  readonly iptables?: IptablesBackend | 'auto';
  /** Extra selection of managed traffic: interface patterns ("veth+") and CIDRs, besides the local pods' own addresses. */
  readonly podIfaces?: readonly string[];
  readonly podCidrs?: readonly string[];
  /** Program IPv6 too (default true; skipped with a warning when ip6tables does not work). */
  readonly ipv6?: boolean;
  readonly statusFile?: string;
  /** Leave rules (and the TUN device) in place on stop: stay fail-closed across a restart. */
  readonly keepRules?: boolean;
  readonly health?: HealthServer;
  /** Serve Prometheus metrics here. */
  readonly metrics?: Partial<MetricsAddress>;
  /** Verdict log of denied new connections: 'stdout' or a file path. */
  readonly verdictLog?: string;
  /** Size cap of a verdict log file in bytes, rotated to FILE.1 past it (default in verdict-log.ts; 0: none). */
  readonly verdictLogMaxBytes?: number;
  /** Log allowed new connections too. */
  readonly logAllowed?: boolean;
  /** Audit mode everywhere: denied connections are logged and counted but let through. */
  readonly audit?: boolean;
  readonly log?: Log;
  /** Status file refresh period (counters). */
  readonly statusIntervalMs?: number;
  /** Strict mode (default true): cut established flows that a new generation denies. */
  readonly strict?: boolean;
  /** Rule watchdog period in ms (default 1000; 0 disables it). */
  readonly rulesCheckMs?: number;
  /**
   * NFQUEUE: accept repeats of allowed (source, protocol:port, destination) in the kernel
   * (src/enforce/verdict-cache.ts). Default: on with the nfqueue backend (with --log-allowed, what
   * it admits is logged aggregated: agent/cache-wiring.ts).
   */
  readonly verdictCache?: boolean;
  /**
   * NFQUEUE: first connections the current rules allow are accepted by the kernel from entries
   * computed per rule generation (agent/admit-wiring.ts). Default: on whenever the verdict cache
   * is, unless --log-allowed (a line per connection, which a network entry cannot give) or
   * --queue-all.
   */
  readonly kernelAdmit?: boolean;
  /**
   * Queue every new connection of the selected pods, as before the judged sets
   * (enforce/judged-sets.ts); default false: only what some policy judges.
   */
  readonly queueAll?: boolean;
  /** Seconds a cached verdict lives (default 30; rotated out within 1.25 times that). */
  readonly verdictCacheSeconds?: number;
  /** How often the agent reads the cache's counters, in ms (default 1000); scrapes and rule changes read them too. */
  readonly verdictCacheReadMs?: number;
  /**
   * Judge new connections with the WebAssembly copy of each snapshot, made in idle time after
   * every update (agent/wasm-copy.ts; default true). False: the JavaScript snapshot always judges.
   */
  readonly wasmJudge?: boolean;
  /** Drop packets from a pod interface whose source is not that pod's (default true; src/enforce/spoof-guard.ts). */
  readonly sourceGuard?: boolean;
  /** Where the guard lives: 'auto' (default: tc filters on the pod veths when `tc` and `nft` run, else the native nftables table when `nft` runs, else iptables), 'tc', 'nft' or 'iptables' (agent/source-guard.ts). */
  readonly sourceGuardLayout?: GuardLayout;
  /** Name store bounds for domainNames peers (TTL clamp, record caps; defaults in dataplane/name-store.ts). */
  readonly dns?: DnsLearnerOptions;
}

/**
 * The first problem of a set of options, as one line naming the `palisade agent` flag, or
 * undefined when they can be used.
 */
export function agentOptionsError(o: Omit<AgentOptions, 'source'>): string | undefined {
  if (!o.node) return '--node: the agent needs a node name';
  if (o.dns && (o.dns.minTtl ?? 0) > (o.dns.maxTtl ?? Infinity)) return `--dns-min-ttl: ${o.dns.minTtl} is above --dns-max-ttl ${o.dns.maxTtl}`;
  if (o.dns?.servers?.length === 0) return '--dns-servers: no address given (leave the flag out to learn from any server)';
  for (const c of o.dns?.servers ?? []) {
    try {
      checkAddress(c);
    } catch (e) {
      return `--dns-servers: ${(e as Error).message}`;
    }
  }
  for (const i of o.podIfaces ?? []) {
    try {
      checkIface(i);
    } catch (e) {
      return `--pod-iface: ${(e as Error).message}`;
    }
  }
  for (const c of o.podCidrs ?? []) {
    try {
      checkAddress(c);
    } catch (e) {
      return `--pod-cidr: ${(e as Error).message}`;
    }
  }
  if (o.verdictCache && o.backend !== 'nfqueue') return `--verdict-cache works with the nfqueue backend only, not --backend ${o.backend}`;
  if (o.kernelAdmit) {
    if (o.backend !== 'nfqueue') return `--kernel-admit works with the nfqueue backend only, not --backend ${o.backend}`;
    if (o.queueAll) return '--kernel-admit needs the judged sets, which --queue-all turns off';
    if (o.logAllowed) return '--kernel-admit cannot name each admitted connection, which --log-allowed asks for';
  }
  return undefined;
}

/** The iptables rule plan of (valid) options, defaults filled in. */
export function rulePlan(o: AgentOptions): RulePlan {
  return {
    mode: o.backend,
    allowMark: o.allowMark ?? DEFAULT_ALLOW_MARK,
    queue: o.queue ?? 0,
    queues: o.queues ?? defaultQueueCount(),
    failOpen: o.failOpen ?? false,
    tunDevice: o.backend === 'tun' ? o.tunName ?? DEFAULT_TUN_DEVICE : undefined,
    divertMark: o.backend === 'tun' ? o.divertMark ?? DEFAULT_DIVERT_MARK : undefined,
    // DNS answers to the pods domainNames policies select go through the learner's own TUN device.
    dnsTunDevice: o.backend === 'tun' ? dnsTunName(o.tunName ?? DEFAULT_TUN_DEVICE) : undefined,
    dnsDivertMark: o.backend === 'tun' ? DEFAULT_DNS_DIVERT_MARK : undefined,
    strict: o.strict ?? true,
    verdictCache: o.verdictCache ?? o.backend === 'nfqueue',
    kernelAdmit: o.kernelAdmit ?? (o.backend === 'nfqueue' && (o.verdictCache ?? true) && !o.queueAll && !o.logAllowed),
  };
}

/**
 * One queue per CPU the agent may run on (its affinity mask, as libuv reports it), at most 64:
 * with --queue-balance and --queue-cpu-fanout each CPU's softirq queues to its own queue, so
 * CPUs do not contend on one queue's lock and one slow batch does not hold up the others.
 */
export function defaultQueueCount(): number {
  return Math.max(1, Math.min(64, availableParallelism()));
}

/** --pod-cidr values (addresses and CIDRs) in canonical form, per family. */
export function staticPodRanges(o: AgentOptions): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const c of o.podCidrs ?? []) {
    const a = checkAddress(c);
    (a.family === 4 ? v4 : v6).push(a.text);
  }
  return { v4, v6 };
}
