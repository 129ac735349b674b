// `palisade agent`: runs the per-node enforcement agent until SIGTERM/SIGINT (see src/agent/agent.ts).

import { NAME_STORE_DEFAULTS } from '../../dataplane/name-store.ts';
import { Agent, type Backend } from '../../agent/agent.ts';
import type { Source } from '../../sources/source.ts';
import { FilesSource } from '../../sources/files-source.ts';
import { HealthServer, parseHealthAddress, type HealthAddress } from '../../agent/health.ts';
import { parseMetricsAddress, type MetricsAddress } from '../../agent/metrics.ts';
import { DEFAULT_LOCAL_HOST, addressesClash } from '../../agent/local-http.ts';
import { agentOptionsError, defaultQueueCount, flagScopeHelp, flagScopeProblems, type AgentOptions } from '../../agent/options.ts';
import { CliError, intFlag, onOffFlag, parseArgs } from '../args.ts';
import { GUARD_LAYOUTS, type GuardLayout } from '../../agent/source-guard.ts';
import { manifestPathsFlag } from '../manifest-input.ts';
import { AGENT_NODE_FLAGS, missingAgentNodeFlags } from '../../agent/node-flags.ts';
import { defaultLog } from '../../agent/agent-log.ts';
import { DEFAULT_VERDICT_LOG_MAX_BYTES } from '../../agent/verdict-log.ts';
import { DEFAULT_TUN_DEVICE, DEFAULT_TUN_TABLE, tunTableProblem } from '../../enforce/tun-routing.ts';
import { DEFAULT_DNS_DIVERT_MARK, dnsQueue } from '../../enforce/iptables.ts';

const HELP = `usage: palisade agent --node NAME [--source files --manifests PATH... | --source kube [--kubeconfig FILE]]
                      [--backend nfqueue|tun] [--queue N] [--queues K] [--fail-open] [--keep-rules]
                      [--pod-iface IF...] [--pod-cidr CIDR...] [--status-file PATH] [--health ADDR] [--metrics ADDR]
                      [--verdict-log DEST [--verdict-log-max-mb N]] [--audit]
                      [--no-strict] [--rules-check-ms N] [--no-verdict-cache] [--no-kernel-admit] [--verdict-cache-s N] [--verdict-cache-read-ms N] [--queue-all]
                      [--no-wasm-judge]
                      [--no-source-guard] [--source-guard-layout auto|tc|nft|iptables]

Enforces the NetworkPolicies of the pods on node NAME (pods whose spec.nodeName is NAME) on the
traffic routed through this machine's network namespace. Runs until SIGTERM or SIGINT, then
removes its iptables rules (unless --keep-rules).

  --source files|kube   where the cluster state comes from (default files)
  --manifests PATH...   files source: manifest files or folders, followed live
  --kubeconfig FILE     kube source: kubeconfig (default: in-cluster service account)
  --node NAME           this node (default $NODE_NAME)
  --backend nfqueue|tun NFQUEUE (default) or the TUN fallback
  --queue N             first NFQUEUE number (default 0)
  --queues K            bind K queues N..N+K-1, iptables --queue-balance --queue-cpu-fanout
                        (default: one per CPU the agent may run on, at most 64); queue N+K
                        is bound too, for the DNS answers domainNames policies learn from
  --fail-open           accept new connections while no agent listens or the queue overflows
                        (default: fail-closed, they are dropped)
  --pod-iface IF...     also judge all traffic in or out of these interfaces ("veth+" = prefix)
  --pod-cidr CIDR...    also judge all traffic from or to these ranges, like the Node's own
                        spec.podCIDRs: an address in them that no known pod holds is dropped
                        (accepted with --fail-open) until its Pod object arrives
  --iptables auto|nft|legacy   iptables backend (default auto: the node's, read from its
                        tables: kubelet chains, else KUBE-* chains, else more rules, else nft)
  --mark M              connmark bit(s) meaning "allowed by Palisade" (default 0x2000000)
  --tun-name NAME       TUN device (default palisade0); --tun-mark M (default 0x4000000;
                        neither it nor --mark may use 0x8000000, the DNS device's mark),
                        --tun-table N (default 7077; N and N+1, the DNS learner's, are
                        Palisade's own: flushed when it stops, so never 253-255)
  --no-ipv6             program IPv4 only
  --keep-rules          leave rules in place on exit (stay fail-closed across a restart)
  --status-file PATH    JSON {generation, ready, counters, ...}, written at start
                        (waitingForFirstSync: the kinds not listed yet), rewritten when a
                        new generation is enforced and every second (a large one at most
                        2 MB/s: at least every 8 s)
  --health ADDR         serve /healthz and /readyz on ADDR: PORT (on ${DEFAULT_LOCAL_HOST}), HOST:PORT
                        or [IPv6]:PORT
  --metrics ADDR        serve Prometheus /metrics on ADDR: PORT (on ${DEFAULT_LOCAL_HOST}), HOST:PORT
                        or [IPv6]:PORT
  --verdict-log DEST    JSON line per denied new connection (rate limited): stdout or a file
  --verdict-log-max-mb N   a file past N MiB (default 100) is renamed to FILE.1, replacing
                        the one before, and a new FILE started; 0: no cap (outside rotation)
  --log-allowed         log allowed new connections too
  --audit               audit mode: denied connections are logged and counted, not dropped
                        (per namespace: annotation palisade.io/audit)
  --rescan-ms N         files source: periodic rescan period (default 1000)
  --strict, --no-strict strict mode (default on): after every new rule generation, established
                        flows it denies are cut (their kernel conntrack entries deleted, so
                        their next packet is judged again and dropped; TCP packets conntrack
                        picks up mid-stream are dropped, not judged). Needs the conntrack
                        tool. --no-strict: an allowed flow keeps going until it ends
  --verdict-cache       nfqueue (default on): once a new connection is allowed, later ones
                        with the same source, protocol, port and destination are accepted by
                        the kernel (ipset PALISADE-CACHE4/6) until the rules change. The
                        agent reads the sets' counters every second: metrics count them
                        exactly, --log-allowed logs them aggregated ("cached": N per tuple).
                        --no-verdict-cache: judge every one
  --kernel-admit, --no-kernel-admit   nfqueue (default on with the verdict cache, off with
                        --log-allowed or --queue-all): for every local pod a policy isolates,
                        the (pod, protocol:port, source network) its rules allow are written
                        to ipset PALISADE-ADMIT4/6 each rule generation, so first connections
                        they allow are accepted by the kernel too, counted exactly
  --verdict-cache-s N   seconds a cached verdict lives (default 30, 1-86400; rotated out
                        within 1.25 times that)
  --verdict-cache-read-ms N   how often the cache's counters are read (default 1000); a
                        metrics scrape and a rule change read them too
  --no-wasm-judge       judge new connections with the JavaScript engine only (default: a
                        copy of each rule generation made in idle time, about 50 ms after
                        the last update, judges them in WebAssembly with the same answers)
  --no-source-guard     do not drop packets that enter from a pod's interface with a source
                        address that is not that pod's (default: dropped before conntrack,
                        IPv4 and IPv6; turn off only where the CNI already validates sources)
  --source-guard-layout auto|tc|nft|iptables   where the guard lives: tc filters on each pod
                        veth's ingress (cheapest per packet), a native nftables table in
                        PREROUTING, or iptables raw chains with ipsets; auto (default): tc when
                        the tc and nft tools run on the node, else nft when nft does, else iptables
  --dns-min-ttl S, --dns-max-ttl S   domainNames: a learned name record lives its answer's TTL
                        raised to S (default 10) and lowered to S (default 3600) seconds;
                        its expiry stops new connections only (strict mode spares the others)
  --dns-records-per-pod N, --dns-records N   caps on live name records per pod (default 512)
                        and in total (default 65536); over a cap a record no policy names
                        goes first, else the oldest (of the pod holding the most)
  --dns-servers ADDR... domainNames: learn only from the answers of these name servers
                        (addresses or CIDRs: the cluster DNS, a node-local cache); answers
                        from others reach the pod unlearned (default: any server a pod asked)
  --queue-all           send every new connection of local pods to the agent, not only those
                        of pods a policy isolates (the default keeps the others in the kernel)
  --rules-check-ms N    rule watchdog: every N ms check that Palisade's iptables chains and
                        jumps are intact and reinstall them if not (default 1000; 0 = off;
                        else 100-600000)

A flag of a backend, source or feature that is not in use is refused (exit 2), never ignored;
one that only turns off what is absent anyway (warning) is logged as having no effect:
${flagScopeHelp().map((l) => wrap(`  ${l}`, 96, '      ')).join('\n')}`;

/** A line cut after a comma before `width` characters, continued with `indent`. */
function wrap(line: string, width: number, indent: string): string {
  const out: string[] = [];
  let rest = line;
  while (rest.length > width) {
    const cut = rest.lastIndexOf(', ', width);
    if (cut <= indent.length) break;
    out.push(rest.slice(0, cut + 1));
    rest = indent + rest.slice(cut + 2);
  }
  return [...out, rest].join('\n');
}

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = {
  source: 'string', manifests: 'list', kubeconfig: 'string', node: 'string', backend: 'string',
  queue: 'string', queues: 'string', 'fail-open': 'bool', 'pod-iface': 'list', 'pod-cidr': 'list',
  iptables: 'string', mark: 'string', 'tun-name': 'string', 'tun-mark': 'string', 'tun-table': 'string',
  'no-ipv6': 'bool', 'keep-rules': 'bool', 'status-file': 'string', health: 'string', 'rescan-ms': 'string',
  metrics: 'string', 'verdict-log': 'string', 'verdict-log-max-mb': 'string', 'log-allowed': 'bool', audit: 'bool',
  strict: 'bool', 'no-strict': 'bool', 'rules-check-ms': 'string', 'verdict-cache': 'bool', 'no-verdict-cache': 'bool', 'verdict-cache-s': 'string', 'verdict-cache-read-ms': 'string',
  'kernel-admit': 'bool', 'no-kernel-admit': 'bool',
  'queue-all': 'bool', 'no-wasm-judge': 'bool', 'no-source-guard': 'bool', 'source-guard-layout': 'string',
  'dns-min-ttl': 'string', 'dns-max-ttl': 'string', 'dns-records-per-pod': 'string', 'dns-records': 'string', 'dns-servers': 'list',
  help: 'bool',
} as const;

function markFlag(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const s = String(v);
  const n = /^0x[0-9a-f]{1,8}$/i.test(s) ? parseInt(s, 16) : /^\d{1,10}$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw new CliError(`--${name} must be a non-zero 32-bit mask (e.g. 0x2000000), got "${s}"`);
  return n >>> 0;
}

/** What a `palisade agent` command line asks for, every flag checked (parseAgentArgs). */
export interface AgentInvocation {
  readonly settings: Omit<AgentOptions, 'source'>;
  readonly source: { readonly kind: 'files'; readonly paths: string[]; readonly rescanMs: number } | { readonly kind: 'kube'; readonly kubeconfig?: string };
  readonly health?: HealthAddress;
  /** Flags that change nothing here (options.ts flagScopeProblems), one line each, logged at start. */
  readonly warnings: readonly string[];
}

/**
 * The flags a command line gives (names without dashes): a bool only when on, and an on/off
 * pair by what it comes to (`--no-verdict-cache=false` is `--verdict-cache`).
 */
function givenFlags(flags: Record<string, unknown>): string[] {
  const pairs = ['verdict-cache', 'kernel-admit'];
  const out = Object.keys(flags).filter((k) => flags[k] !== undefined && flags[k] !== false && !pairs.includes(k.replace(/^no-/, '')));
  for (const name of pairs) {
    const on = onOffFlag(flags, name);
    if (on !== undefined) out.push(on ? name : `no-${name}`);
  }
  return out;
}

/**
 * Reads and checks a `palisade agent` command line (the words after `agent`) without starting
 * anything: every flag, value and combination, as one CliError naming the flag. `run` starts
 * the agent from it; test/deploy checks daemonset.yaml's args with it (the image's entrypoint
 * args and the DaemonSet's together), so a flag or value the agent would refuse at start fails
 * there and not as a crash loop on every node. `env` gives NODE_NAME.
 */
export function parseAgentArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentInvocation | 'help' {
  const { flags, positional } = parseArgs(argv, FLAGS, { '-h': 'help' });
  if (flags.help) return 'help';
  if (positional.length > 0) throw new CliError(`unexpected argument "${positional[0]}"`);
  // An empty value (`--status-file="$STATUS_FILE"` with the variable unset) would read as the
  // flag left out: the agent would run without the file, or with the in-cluster account.
  for (const [f, what] of [['status-file', 'a file path'], ['verdict-log', 'stdout or a file path'], ['kubeconfig', 'a file path']] as const) {
    if (flags[f] === '') throw new CliError(`--${f} needs ${what}, got an empty value`);
  }
  const sourceKind = (flags.source as string | undefined) ?? 'files';
  if (sourceKind !== 'files' && sourceKind !== 'kube') throw new CliError(`--source must be files or kube, got "${sourceKind}"`);
  const backend = ((flags.backend as string | undefined) ?? 'nfqueue') as Backend;
  if (backend !== 'nfqueue' && backend !== 'tun') throw new CliError(`--backend must be nfqueue or tun, got "${String(backend)}"`);
  // A flag of a backend, source or feature not in use is refused before its value is looked
  // at; one that only turns off what is absent is a warning (options.ts AGENT_FLAG_SCOPES).
  const scope = flagScopeProblems(givenFlags(flags), {
    backend, source: sourceKind, defaulted: { backend: flags.backend === undefined, source: flags.source === undefined },
    noVerdictCache: onOffFlag(flags, 'verdict-cache') === false, verdictLog: flags['verdict-log'] as string | undefined, noSourceGuard: flags['no-source-guard'] === true,
  });
  if (scope.error) throw new CliError(scope.error);
  const node = (flags.node as string | undefined) ?? env.NODE_NAME;
  if (!node) throw new CliError('--node is required (or set NODE_NAME)');
  const iptables = (flags.iptables as string | undefined) ?? 'auto';
  if (iptables !== 'auto' && iptables !== 'nft' && iptables !== 'legacy') throw new CliError(`--iptables must be auto, nft or legacy, got "${iptables}"`);
  const queue = intFlag(flags.queue, 'queue', 0, 65535, 0);
  const queues = flags.queues === undefined ? undefined : intFlag(flags.queues, 'queues', 1, 64);
  // The queue after the judge's takes the DNS answers (dnsQueue): it must be a queue number too.
  const dns = dnsQueue({ queue, queues: queues ?? defaultQueueCount() });
  if (dns > 65535) throw new CliError(`--queue ${queue} with --queues ${queues ?? defaultQueueCount()} goes past queue 65535: queue ${dns}, after the judge's, takes the DNS answers`);
  const allowMark = markFlag(flags.mark, 'mark', 0x02000000);
  const divertMark = markFlag(flags['tun-mark'], 'tun-mark', 0x04000000);
  if (backend === 'tun' && (allowMark & divertMark) !== 0) throw new CliError('--mark and --tun-mark must not share bits');
  if (backend === 'tun') {
    // The DNS learner's device is routed by a mark that is no flag: a shared bit would send
    // diverted connections there instead of to the judge, or make answers look allowed.
    for (const [name, mark] of [['mark', allowMark], ['tun-mark', divertMark]] as const) {
      if ((mark & DEFAULT_DNS_DIVERT_MARK) !== 0) throw new CliError(`--${name} 0x${mark.toString(16)} shares bits with 0x${DEFAULT_DNS_DIVERT_MARK.toString(16)}, the mark that routes DNS answers to the DNS learner's device`);
    }
  }
  const tunTable = intFlag(flags['tun-table'], 'tun-table', 1, 0xfffffffe, DEFAULT_TUN_TABLE);
  const tableProblem = tunTableProblem(tunTable);
  if (tableProblem) throw new CliError(`--tun-table ${tunTable}: ${tableProblem}`);
  const rescanMs = intFlag(flags['rescan-ms'], 'rescan-ms', 0, 3_600_000, 1000);
  const strict = onOffFlag(flags, 'strict') ?? true;
  const rulesCheckMs = intFlag(flags['rules-check-ms'], 'rules-check-ms', 0, 600_000, 1000);
  if (rulesCheckMs !== 0 && rulesCheckMs < 100) throw new CliError(`--rules-check-ms must be 0 (off) or between 100 and 600000, got ${rulesCheckMs}`);
  const sourceGuardLayout = ((flags['source-guard-layout'] as string | undefined) ?? 'auto') as GuardLayout;
  if (!(GUARD_LAYOUTS as readonly string[]).includes(sourceGuardLayout)) throw new CliError(`--source-guard-layout must be ${GUARD_LAYOUTS.join(', ')}, got "${sourceGuardLayout}"`);
  const tunName = (flags['tun-name'] as string | undefined) ?? DEFAULT_TUN_DEVICE;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tunName)) throw new CliError(`--tun-name must be 1-15 characters of A-Z a-z 0-9 _ . -, got "${tunName}"`);

  const podIfaces = (flags['pod-iface'] as string[] | undefined) ?? [];
  const podCidrs = (flags['pod-cidr'] as string[] | undefined) ?? [];

  let metrics: MetricsAddress | undefined;
  if (flags.metrics !== undefined) {
    try {
      metrics = parseMetricsAddress(String(flags.metrics));
    } catch (e) {
      throw new CliError(`--metrics: ${(e as Error).message}`);
    }
  }

  // Every flag and flag combination is checked before a source or anything else is built, so a
  // bad invocation is one line and exit 2 whatever else is wrong.
  const settings: Omit<AgentOptions, 'source'> = {
    node, backend, queue, queues, failOpen: flags['fail-open'] === true,
    allowMark, divertMark, tunName, tunTable,
    iptables, podIfaces, podCidrs,
    ipv6: flags['no-ipv6'] !== true, statusFile: flags['status-file'] as string | undefined,
    keepRules: flags['keep-rules'] === true, metrics,
    verdictLog: flags['verdict-log'] as string | undefined,
    verdictLogMaxBytes: intFlag(flags['verdict-log-max-mb'], 'verdict-log-max-mb', 0, 1 << 20, DEFAULT_VERDICT_LOG_MAX_BYTES / 2 ** 20) * 2 ** 20,
    logAllowed: flags['log-allowed'] === true, audit: flags.audit === true,
    strict, rulesCheckMs, queueAll: flags['queue-all'] === true, wasmJudge: flags['no-wasm-judge'] !== true,
    sourceGuard: flags['no-source-guard'] !== true, sourceGuardLayout,
    verdictCache: onOffFlag(flags, 'verdict-cache'), verdictCacheSeconds: intFlag(flags['verdict-cache-s'], 'verdict-cache-s', 1, 86400, 30),
    kernelAdmit: onOffFlag(flags, 'kernel-admit'),
    verdictCacheReadMs: intFlag(flags['verdict-cache-read-ms'], 'verdict-cache-read-ms', 100, 3_600_000, 1000),
    dns: {
      minTtl: intFlag(flags['dns-min-ttl'], 'dns-min-ttl', 0, 86400, NAME_STORE_DEFAULTS.minTtl), maxTtl: intFlag(flags['dns-max-ttl'], 'dns-max-ttl', 1, 604800, NAME_STORE_DEFAULTS.maxTtl),
      perPod: intFlag(flags['dns-records-per-pod'], 'dns-records-per-pod', 1, 1 << 20, NAME_STORE_DEFAULTS.perPod), total: intFlag(flags['dns-records'], 'dns-records', 1, 1 << 24, NAME_STORE_DEFAULTS.total),
      ...(flags['dns-servers'] !== undefined ? { servers: (flags['dns-servers'] as string[]).flatMap((v) => v.split(',')).filter((v) => v !== '') } : {}),
    },
  };
  const bad = agentOptionsError(settings);
  if (bad) throw new CliError(bad);

  let health: HealthAddress | undefined;
  if (flags.health !== undefined) {
    try {
      health = parseHealthAddress(String(flags.health));
    } catch (e) {
      throw new CliError(`--health: ${(e as Error).message}`);
    }
  }
  // Found here rather than as EADDRINUSE from the second server after the first is up.
  if (health && metrics && addressesClash(health, metrics)) {
    throw new CliError(`--metrics ${String(flags.metrics)}: the port is --health ${String(flags.health)}'s; each needs a port of its own`);
  }
  if (sourceKind === 'files') {
    const paths = (flags.manifests as string[] | undefined) ?? [];
    if (paths.length === 0) throw new CliError('--source files needs --manifests PATH...');
    // A path that does not exist is a bad flag (exit 2, as for verify), found before any
    // iptables work; a path that vanishes later is the files source's business.
    manifestPathsFlag(paths);
    return { settings, source: { kind: 'files', paths, rescanMs }, health, warnings: scope.warnings };
  }
  return { settings, source: { kind: 'kube', kubeconfig: flags.kubeconfig as string | undefined }, health, warnings: scope.warnings };
}

export async function run(argv: string[]): Promise<number> {
  const inv = parseAgentArgs(argv);
  if (inv === 'help') {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const { settings } = inv;
  for (const w of inv.warnings) defaultLog('warn', w);
  const node = settings.node;
  let source: Source;
  const health = inv.health ? new HealthServer({ host: inv.health.host, port: inv.health.port }) : undefined;
  if (inv.source.kind === 'files') {
    source = new FilesSource({ paths: inv.source.paths, rescanMs: inv.source.rescanMs });
  } else {
    // Loaded only for --source kube: the API client is heavy.
    const { KubeSource } = await import('../../sources/kube-source.ts');
    let ks;
    try {
      ks = new KubeSource({ kubeconfig: inv.source.kubeconfig, nodeName: node });
    } catch (e) {
      throw new CliError(`--source kube: ${(e as Error).message}`);
    }
    if (health) {
      const h = health;
      ks.onStatus((s) => h.setConnected(s.connected));
    }
    source = ks;
  }

  let agent: Agent;
  try {
    agent = new Agent({ ...settings, source, health });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  // The image and the lab start the agent with these (node-flags.ts says why); by hand they are
  // easy to leave out, and nothing else would say so.
  const missing = missingAgentNodeFlags(process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length > 0) {
    defaultLog('warn', `started without the Node flag(s) ${missing.join(' ')} that the image and the lab run the agent with: V8's helper threads may take the CPU an update needs (start it as node ${AGENT_NODE_FLAGS.join(' ')} bin/palisade.js agent ...)`);
  }

  if (health) {
    try {
      await health.start();
    } catch (e) {
      // A port another process holds is this machine's state, not a bug: one line, like a failed start.
      const { host, port } = health.address();
      const at = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      // Node's "listen EADDRINUSE: address already in use 127.0.0.1:9747", said once.
      const why = (e as Error).message.replace(/^listen \w+: /, '').replace(` ${host}:${port}`, '');
      process.stderr.write(`palisade agent: --health ${at}: cannot listen: ${why}\n`);
      return 1;
    }
  }
  let stopping: Promise<void> | undefined;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`palisade agent: ${sig} again, exiting without cleanup\n`);
      process.exit(130);
    }
    stopping = agent.stop().finally(async () => {
      if (health) await health.stop();
      done();
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await agent.start();
  } catch (e) {
    if (stopping) {
      // A signal arrived during start: that is an orderly stop, not a failure.
      await finished;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      return 0;
    }
    if (health) await health.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.stderr.write(`palisade agent: ${(e as Error).message}\n`);
    return 1;
  }
  await finished;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return 0;
}
