import type { GuardLayout } from './source-guard.ts';
// The agent's options: what `palisade agent` passes in, checked before anything is built
// (agentOptionsError, one line naming the flag), the iptables rule plan they amount to, and
// which of its flags belong to one backend, source or feature (AGENT_FLAG_SCOPES).

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
  // --verdict-cache and --kernel-admit with --backend tun: flagScopeProblems (the CLI's flags);
  // rulePlan never turns them on there.
  if (o.kernelAdmit && o.backend === 'nfqueue') {
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
    verdictCache: o.backend === 'nfqueue' && (o.verdictCache ?? true),
    kernelAdmit: o.backend === 'nfqueue' && (o.kernelAdmit ?? ((o.verdictCache ?? true) && !o.queueAll && !o.logAllowed)),
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

/** What a flag of AGENT_FLAG_SCOPES is for (SCOPES says what turns each off). */
export type FlagScope = 'nfqueue' | 'tun' | 'files' | 'kube' | 'verdict cache' | 'verdict log' | 'verdict log file' | 'source guard';

/**
 * Which backend, source or feature each `palisade agent` flag is for, when not for every agent.
 * Given where that is not in use, the flag would be ignored while its user believed it took
 * effect: flagScopeProblems refuses it, naming the flag that rules it out. A flag that only
 * turns off what is already absent (`harmless`) is a warning instead. The DNS flags are not
 * here: the learner runs with either backend and source, and has no off switch.
 */
export const AGENT_FLAG_SCOPES: Readonly<Record<string, { readonly scope: FlagScope; readonly harmless?: true }>> = {
  queue: { scope: 'nfqueue' },
  queues: { scope: 'nfqueue' },
  'verdict-cache': { scope: 'nfqueue' },
  'no-verdict-cache': { scope: 'nfqueue', harmless: true },
  'kernel-admit': { scope: 'nfqueue' },
  'no-kernel-admit': { scope: 'nfqueue', harmless: true },
  'verdict-cache-s': { scope: 'verdict cache' },
  'verdict-cache-read-ms': { scope: 'verdict cache' },
  'tun-name': { scope: 'tun' },
  'tun-mark': { scope: 'tun' },
  'tun-table': { scope: 'tun' },
  manifests: { scope: 'files' },
  'rescan-ms': { scope: 'files' },
  kubeconfig: { scope: 'kube' },
  'log-allowed': { scope: 'verdict log' },
  'verdict-log-max-mb': { scope: 'verdict log file' },
  'source-guard-layout': { scope: 'source guard' },
};

/** What decides whether a scoped flag takes effect: the command line's backend, source and switches. */
export interface FlagContext {
  readonly backend: Backend;
  readonly source: 'files' | 'kube';
  /** Which of --backend and --source were left to their default (said in the error). */
  readonly defaulted?: { readonly backend?: boolean; readonly source?: boolean };
  /** --no-verdict-cache given (or --verdict-cache=false). */
  readonly noVerdictCache?: boolean;
  /** --verdict-log's value, if given. */
  readonly verdictLog?: string;
  readonly noSourceGuard?: boolean;
}

/** A scope that is one value of --backend or --source: why a flag of it is not in use, or undefined. */
function oneOf(flag: 'backend' | 'source', value: string): (c: FlagContext) => string | undefined {
  return (c) => (c[flag] === value ? undefined : `not --${flag} ${c[flag]}${c.defaulted?.[flag] ? ' (the default)' : ''}`);
}

/** Per scope: what a flag is for (as written in the message), and why it is not in use here, or undefined when it is. */
const SCOPES: Record<FlagScope, { readonly what: string; readonly off: (c: FlagContext) => string | undefined }> = {
  nfqueue: { what: '--backend nfqueue', off: oneOf('backend', 'nfqueue') },
  tun: { what: '--backend tun', off: oneOf('backend', 'tun') },
  files: { what: '--source files', off: oneOf('source', 'files') },
  kube: { what: '--source kube', off: oneOf('source', 'kube') },
  'verdict cache': {
    what: 'the verdict cache',
    off: (c) => (c.backend !== 'nfqueue' ? `which --backend ${c.backend} does not have` : c.noVerdictCache ? 'which --no-verdict-cache turns off' : undefined),
  },
  'verdict log': { what: 'the verdict log', off: (c) => (c.verdictLog === undefined ? 'which is off without --verdict-log' : undefined) },
  'verdict log file': {
    what: 'a --verdict-log file',
    off: (c) => (c.verdictLog === undefined ? 'which is off without --verdict-log' : c.verdictLog === 'stdout' ? 'not --verdict-log stdout' : undefined),
  },
  'source guard': { what: 'the source guard', off: (c) => (c.noSourceGuard ? 'which --no-source-guard turns off' : undefined) },
};

/**
 * The flags (names without dashes, as given) that are for a backend, source or feature not in
 * use: the first refused one as `error`, one line naming it and the flag that rules it out;
 * the harmless ones as `warnings`.
 */
export function flagScopeProblems(given: Iterable<string>, c: FlagContext): { error?: string; warnings: string[] } {
  const warnings: string[] = [];
  for (const flag of given) {
    const entry = Object.hasOwn(AGENT_FLAG_SCOPES, flag) ? AGENT_FLAG_SCOPES[flag] : undefined;
    if (!entry) continue;
    const scope = SCOPES[entry.scope];
    const off = scope.off(c);
    if (off === undefined) continue;
    if (!entry.harmless) return { error: `--${flag} is for ${scope.what}, ${off}`, warnings };
    warnings.push(`--${flag} changes nothing: it is for ${scope.what}, ${off}`);
  }
  return { warnings };
}

/** The rule in `palisade agent --help`: per scope, its flags (harmless ones marked). */
export function flagScopeHelp(): string[] {
  const by = new Map<FlagScope, string[]>();
  for (const [flag, e] of Object.entries(AGENT_FLAG_SCOPES)) {
    const list = by.get(e.scope) ?? [];
    list.push(`--${flag}${e.harmless ? ' (warning)' : ''}`);
    by.set(e.scope, list);
  }
  return [...by].map(([scope, flags]) => `${SCOPES[scope].what}: ${flags.join(', ')}`);
}
