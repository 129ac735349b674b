// Prometheus metrics of the agent, on a registry of its own (not prom-client's global default,
// so tests and several agents in one process do not share state).
//
// The hot path never touches prom-client: it increments plain numbers in typed arrays
// (AgentCounters, PolicyCounters), and the metrics are filled from them when scraped, in the
// collect() callbacks. A scrape therefore costs the scraper, never the packets.

import { readFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../cluster/model.ts';
import { checkMirrors } from '../net/mirrored-constants.ts';
import { ruleCodeCount, sideAllows, sideRule, type RuleSnapshot } from '../policy/engine-api.ts';
import { DEFAULT_LOCAL_HOST, LOCAL_MAX_CONNECTIONS, closeLocal, createLocalServer, listenLocal, parseLocalAddress, type LocalAddress } from './local-http.ts';

// ---------------------------------------------------------------------------------------------
// Hot-path counters: one flat Float64Array (exact integers up to 2^53) indexed by slot.

/** allow; deny; audit = the policy denied but audit mode let it pass. */
export const VERDICTS = ['allow', 'deny', 'audit'] as const;
/**
 * Which side denied: none (allowed), the source's egress, the destination's ingress, both (for a
 * new connection only when audit mode let the egress denial through: otherwise the classifier's
 * judge stops there, engine-api.ts SIDE.SKIPPED).
 */
export const DIRECTIONS = ['none', 'egress', 'ingress', 'both'] as const;
export const PROTOCOL_LABELS = ['tcp', 'udp', 'sctp', 'icmp', 'other'] as const;

export const VERDICT = { ALLOW: 0, DENY: 1, AUDIT: 2 } as const;
export const DIRECTION = { NONE: 0, EGRESS: 1, INGRESS: 2, BOTH: 3 } as const;

export const VERDICT_SLOTS = VERDICTS.length * DIRECTIONS.length * PROTOCOL_LABELS.length;

// protoSlot and verdictSlot run for every packet the agent judges (observe.ts). What they compare
// with and multiply by is a const enum, which the compiler writes as numbers: the optimized code
// would otherwise load each import and module-level const from its module cell (and an array's
// length) and check it on every use. Checked against the sources when the module loads.
const enum S {
  TCP = 6,
  UDP = 17,
  SCTP = 132,
  ICMP = 1,
  ICMPV6 = 58,
  /** DIRECTIONS.length */
  DIRECTIONS = 4,
  /** PROTOCOL_LABELS.length */
  PROTOCOLS = 5,
}
checkMirrors('metrics.ts', [
  [S.TCP, IPPROTO_TCP, 'IPPROTO_TCP'], [S.UDP, IPPROTO_UDP, 'IPPROTO_UDP'], [S.SCTP, IPPROTO_SCTP, 'IPPROTO_SCTP'],
  [S.ICMP, IPPROTO_ICMP, 'IPPROTO_ICMP'], [S.ICMPV6, IPPROTO_ICMPV6, 'IPPROTO_ICMPV6'],
  [S.DIRECTIONS, DIRECTIONS.length, 'DIRECTIONS.length'], [S.PROTOCOLS, PROTOCOL_LABELS.length, 'PROTOCOL_LABELS.length'],
]);

/** Protocol slot of an IP protocol number (ICMP and ICMPv6 share "icmp"). */
export function protoSlot(ipProto: number): number {
  switch (ipProto) {
    case S.TCP: return 0;
    case S.UDP: return 1;
    case S.SCTP: return 2;
    case S.ICMP: case S.ICMPV6: return 3;
    default: return 4;
  }
}

/** Index into AgentCounters.packets / .connections. */
export function verdictSlot(verdict: number, direction: number, proto: number): number {
  return (verdict * S.DIRECTIONS + direction) * S.PROTOCOLS + proto;
}

export class AgentCounters {
  /** Packets the classifier judged (with NFQUEUE on ctstate NEW, about one per new flow). */
  readonly packets = new Float64Array(VERDICT_SLOTS);
  /** New connections judged. */
  readonly connections = new Float64Array(VERDICT_SLOTS);
}

/**
 * Hits per rule code of the current snapshot (hot path: `hits[code]++` for a side code that names
 * a rule, see engine-api.ts: the code says the rule and whether it accepted or denied), folded
 * into per-policy totals when a new snapshot is bound, so counts survive recompiles. Denied
 * connections are counted off the hot path (countDeniedSide): against the denying rule's policy,
 * or, for a side no rule decided (an isolated pod's implicit deny), against every policy
 * isolating it.
 */
export class PolicyCounters {
  hits: Float64Array = new Float64Array(0);
  private snap: RuleSnapshot | undefined;
  private readonly totals = new Map<string, { allow: number; deny: number; audit: number }>();

  /**
   * `exists` says whether a policy (a NetworkPolicy's "ns/name" or a cluster policy's id) is still
   * in the cluster state. Without it the totals (and the series of
   * palisade_policy_verdicts_total) kept every policy ever seen: on a cluster where policies come
   * and go (one per preview environment, per tenant) the series and the agent's memory grew
   * without bound. With it, a deleted policy's totals are dropped when the next snapshot is bound
   * (the state changes before the snapshot built from it), and counts that arrive for it later
   * (the verdict cache's counters, read after the fact) are not kept: they would bring the
   * series back from 0, which Prometheus reads as a counter reset. A policy created again under
   * the same name starts a new series from 0.
   */
  constructor(private readonly exists?: (policy: string) => boolean) {}

  /** Binds a new snapshot (call before publishing it to the classifier). */
  bind(snap: RuleSnapshot, ruleCount: number): Float64Array {
    this.fold();
    if (this.exists) for (const p of this.totals.keys()) if (!this.exists(p)) this.totals.delete(p);
    this.snap = snap;
    this.hits = new Float64Array(ruleCodeCount(ruleCount));
    return this.hits;
  }

  /** Counts one denied side of a new connection (off the hot path). */
  countDeniedSide(snap: RuleSnapshot, code: number, slot: number, dir: 'egress' | 'ingress', audit = false): void {
    const rule = sideRule(code);
    if (rule >= 0) this.countDeny([snap.ruleRef(rule).policy], audit);
    else if (slot >= 0) this.countDeny(snap.isolatingPolicies(slot, dir), audit);
  }

  /**
   * Counts `n` connections allowed by one side's rule code of `snap` (the verdict cache's
   * counters, read after the fact: `snap` may be an earlier generation's).
   */
  countAllowedSide(snap: RuleSnapshot, code: number, n: number): void {
    if (code < 0 || !sideAllows(code) || sideRule(code) < 0) return;
    if (snap === this.snap && code < this.hits.length) this.hits[code]! += n;
    else this.entry(snap.ruleRef(sideRule(code)).policy).allow += n;
  }

  countDeny(policies: readonly string[], audit = false): void {
    for (const p of policies) {
      const t = this.entry(p);
      if (audit) t.audit++;
      else t.deny++;
    }
  }

  /** Totals including the current snapshot's unfolded hits. */
  read(): Map<string, { allow: number; deny: number; audit: number }> {
    const out = new Map<string, { allow: number; deny: number; audit: number }>();
    for (const [k, v] of this.totals) out.set(k, { ...v });
    if (this.snap) {
      for (let code = 0; code < this.hits.length; code++) {
        if (this.hits[code] === 0) continue;
        const pol = this.snap.ruleRef(sideRule(code)).policy;
        const e = out.get(pol) ?? { allow: 0, deny: 0, audit: 0 };
        if (sideAllows(code)) e.allow += this.hits[code]!;
        else e.deny += this.hits[code]!;
        out.set(pol, e);
      }
    }
    return out;
  }

  private fold(): void {
    if (!this.snap) return;
    for (let code = 0; code < this.hits.length; code++) {
      if (this.hits[code] === 0) continue;
      const e = this.entry(this.snap.ruleRef(sideRule(code)).policy);
      if (sideAllows(code)) e.allow += this.hits[code]!;
      else e.deny += this.hits[code]!;
    }
    this.hits.fill(0);
  }

  private entry(p: string): { allow: number; deny: number; audit: number } {
    let e = this.totals.get(p);
    if (!e) {
      // A deleted policy's late counts go nowhere (see the constructor).
      if (this.exists && !this.exists(p)) return { allow: 0, deny: 0, audit: 0 };
      this.totals.set(p, (e = { allow: 0, deny: 0, audit: 0 }));
    }
    return e;
  }
}

// ---------------------------------------------------------------------------------------------
// /proc/net/netfilter/nfnetlink_queue

export interface NfQueueStats {
  readonly queue: number;
  /** Netlink port id of the consumer bound to the queue. */
  readonly peerPortId: number;
  /** Packets waiting for a verdict right now. */
  readonly queueTotal: number;
  readonly copyMode: number;
  readonly copyRange: number;
  /** Dropped by the kernel because queue_total reached the queue's maximum length. */
  readonly queueDropped: number;
  /** Dropped because the netlink socket buffer of the consumer was full. */
  readonly userDropped: number;
  /** Id of the last packet queued (ids count up from 1 per queue). */
  readonly idSequence: number;
}

/**
 * Parses the file's text. The kernel prints one line per bound queue (nfnetlink_queue.c,
 * seq_show): queue number, peer portid, queue total, copy mode, copy range, queue dropped,
 * user dropped, id sequence, and a constant 1. Lines that do not have that shape are skipped.
 */
export function parseNfnetlinkQueue(text: string): NfQueueStats[] {
  const out: NfQueueStats[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 9 || !f.every((x) => /^-?\d+$/.test(x))) continue;
    const n = f.map(Number);
    out.push({
      queue: n[0]!, peerPortId: n[1]!, queueTotal: n[2]!, copyMode: n[3]!, copyRange: n[4]!,
      queueDropped: n[5]!, userDropped: n[6]!, idSequence: n[7]!,
    });
  }
  return out;
}

export const NFQUEUE_PROC_FILE = '/proc/net/netfilter/nfnetlink_queue';

// ---------------------------------------------------------------------------------------------
// The registry.

export interface MetricsSources {
  readonly counters?: AgentCounters;
  readonly policies?: PolicyCounters;
  /** The proc file to read queue stats from; null disables it. Default NFQUEUE_PROC_FILE. */
  readonly nfqueueFile?: string | null;
  /** Report only these queue numbers (the agent's); default all. */
  readonly queues?: readonly number[];
  /** Entries per rule table, e.g. {pods: 120, rules: 340, cidrs: 12}. */
  readonly ruleTables?: () => Readonly<Record<string, number>>;
  // No connection-table or userspace-backlog metric: the agent keeps no flow table (the kernel's
  // conntrack holds the flows), and it judges each batch the queue hands it before reading the
  // next, so what waits for a verdict waits in the kernel (palisade_nfqueue_waiting).
  /** Seconds the cluster state may be missing API server changes (since a watch went down; 0 while all are up). */
  readonly syncLag?: () => number;
  readonly generation?: () => number;
  readonly verdictLog?: () => { readonly written: number; readonly suppressed: number; readonly repeats?: number; readonly dropped?: number };
  /**
   * Per-reason packet counts kept by the classifier (classifier.reasonCounts with REASON_NAMES,
   * classifier.invalidCounts with INVALID_NAMES): why packets passed or were dropped. Several
   * classifiers (one per worker) are summed.
   */
  readonly reasons?: { readonly counts: readonly Float64Array[]; readonly names: readonly string[] };
  readonly invalid?: { readonly counts: readonly Float64Array[]; readonly names: readonly string[] };
}

export interface AgentMetrics {
  readonly registry: Registry;
  /** Records one policy compile (full or incremental) and how long it took. */
  observeCompile(seconds: number, kind: 'full' | 'incremental'): void;
}

/** Sets a counter from a monotonic value kept elsewhere (after this.reset() in its collect). */
export function setCounter(c: Counter<string>, labels: Record<string, string>, v: number): void {
  c.inc(labels, v > 0 && Number.isFinite(v) ? v : 0);
}

export function createMetrics(src: MetricsSources = {}): AgentMetrics {
  const registry = new Registry();
  const labelNames = ['verdict', 'direction', 'protocol'] as const;

  const fromSlots = (arr: Float64Array) =>
    function (this: Counter<string>) {
      this.reset();
      for (let v = 0; v < VERDICTS.length; v++) {
        for (let d = 0; d < DIRECTIONS.length; d++) {
          for (let p = 0; p < PROTOCOL_LABELS.length; p++) {
            const n = arr[verdictSlot(v, d, p)]!;
            if (n > 0) setCounter(this, { verdict: VERDICTS[v]!, direction: DIRECTIONS[d]!, protocol: PROTOCOL_LABELS[p]! }, n);
          }
        }
      }
    };

  if (src.counters) {
    new Counter({
      name: 'palisade_packets_total',
      help: 'Packets judged by the classifier, by verdict, denying side and protocol.',
      labelNames, registers: [registry], collect: fromSlots(src.counters.packets),
    });
    new Counter({
      name: 'palisade_connections_total',
      help: 'New connections judged, by verdict (audit = would deny, passed), denying side and protocol.',
      labelNames, registers: [registry], collect: fromSlots(src.counters.connections),
    });
  }

  if (src.policies) {
    const pc = src.policies;
    new Counter({
      name: 'palisade_policy_verdicts_total',
      help: 'New connections a policy allowed or denied by one of its rules, or denied as one of the policies isolating the pod (no rule allows); audit = would deny.',
      labelNames: ['policy', 'action'], registers: [registry],
      collect(this: Counter<string>) {
        this.reset();
        for (const [policy, v] of pc.read()) {
          if (v.allow) setCounter(this, { policy, action: 'allow' }, v.allow);
          if (v.deny) setCounter(this, { policy, action: 'deny' }, v.deny);
          if (v.audit) setCounter(this, { policy, action: 'audit' }, v.audit);
        }
      },
    });
  }

  const nfFile = src.nfqueueFile === undefined ? NFQUEUE_PROC_FILE : src.nfqueueFile;
  if (nfFile !== null) {
    // One read per scrape feeds all four metrics: prom-client collects every metric of a scrape
    // concurrently, so the first collect starts the read and the others await the same promise.
    let inflight: Promise<NfQueueStats[]> | undefined;
    const wanted = (q: NfQueueStats) => !src.queues || src.queues.includes(q.queue);
    const read = (): Promise<NfQueueStats[]> => {
      if (!inflight) {
        inflight = readFile(nfFile, 'utf8').then(
          (text) => parseNfnetlinkQueue(text).filter(wanted),
          () => [] as NfQueueStats[], // module not loaded or no queue bound yet: report nothing, do not fail the scrape
        );
        const clear = () => { inflight = undefined; };
        inflight.then(clear, clear);
      }
      return inflight;
    };
    new Gauge({
      name: 'palisade_nfqueue_waiting',
      help: 'Packets in the kernel NFQUEUE waiting for a verdict (queue_total).',
      labelNames: ['queue'], registers: [registry],
      async collect(this: Gauge<string>) {
        const qs = await read();
        this.reset();
        for (const q of qs) this.set({ queue: String(q.queue) }, q.queueTotal);
      },
    });
    const fromLast = (pick: (q: NfQueueStats) => number) =>
      async function (this: Counter<string>) {
        const qs = await read();
        this.reset();
        for (const q of qs) setCounter(this, { queue: String(q.queue) }, pick(q));
      };
    new Counter({
      name: 'palisade_nfqueue_dropped_total',
      help: 'Packets the kernel dropped because the NFQUEUE was full (queue_dropped).',
      labelNames: ['queue'], registers: [registry], collect: fromLast((q) => q.queueDropped),
    });
    new Counter({
      name: 'palisade_nfqueue_user_dropped_total',
      help: 'Packets the kernel dropped because the consumer socket buffer was full (user_dropped).',
      labelNames: ['queue'], registers: [registry], collect: fromLast((q) => q.userDropped),
    });
    new Counter({
      name: 'palisade_nfqueue_queued_total',
      help: 'Packets queued to userspace since the queue was bound (id_sequence).',
      labelNames: ['queue'], registers: [registry], collect: fromLast((q) => q.idSequence),
    });
  }

  const compile = new Histogram({
    name: 'palisade_compile_seconds',
    help: 'Time to compile the policy into rule tables.',
    labelNames: ['kind'], registers: [registry],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  });

  if (src.ruleTables) {
    const f = src.ruleTables;
    new Gauge({
      name: 'palisade_rule_table_entries', help: 'Entries in each compiled rule table.',
      labelNames: ['table'], registers: [registry],
      collect(this: Gauge<string>) {
        this.reset();
        for (const [table, n] of Object.entries(f())) this.set({ table }, n);
      },
    });
  }

  if (src.syncLag) {
    const f = src.syncLag;
    new Gauge({
      name: 'palisade_sync_lag_seconds', help: 'Seconds the cluster state may be missing API server changes: since a watch went down, 0 while every watch is up.',
      registers: [registry], collect(this: Gauge) { this.set(f()); },
    });
  }

  if (src.generation) {
    const f = src.generation;
    new Gauge({
      name: 'palisade_rules_generation', help: 'Generation of the rule snapshot in use.',
      registers: [registry], collect(this: Gauge) { this.set(f()); },
    });
  }

  if (src.verdictLog) {
    const f = src.verdictLog;
    new Counter({
      name: 'palisade_verdict_log_lines_total', help: 'Verdict log lines written (dropped: of those, lost because the file or stdout could not take them), lines suppressed by the per-pod rate limit, and repeats of an already logged denied connection (retransmitted SYNs, further datagrams).',
      labelNames: ['outcome'], registers: [registry],
      collect(this: Counter<string>) {
        this.reset();
        const s = f();
        setCounter(this, { outcome: 'written' }, s.written);
        setCounter(this, { outcome: 'suppressed' }, s.suppressed);
        setCounter(this, { outcome: 'repeat' }, s.repeats ?? 0);
        // Lines made but lost: the file or stdout could not take them (verdict-log.ts, openSinks).
        setCounter(this, { outcome: 'dropped' }, s.dropped ?? 0);
      },
    });
  }

  const namedCounts = (name: string, help: string, label: string, src: { counts: readonly Float64Array[]; names: readonly string[] }) =>
    new Counter({
      name, help, labelNames: [label], registers: [registry],
      collect(this: Counter<string>) {
        this.reset();
        src.names.forEach((n, i) => {
          let sum = 0;
          for (const arr of src.counts) sum += arr[i] ?? 0;
          setCounter(this, { [label]: n }, sum);
        });
      },
    });
  if (src.reasons) {
    namedCounts('palisade_classifier_packets_total', 'Packets by the classifier\'s reason for the verdict (policy-allow, policy-deny, reply, invalid, ...).', 'reason', src.reasons);
  }
  if (src.invalid) {
    namedCounts('palisade_invalid_packets_total', 'Packets dropped as unparseable or hostile, by what was wrong with them.', 'problem', src.invalid);
  }

  return {
    registry,
    observeCompile(seconds, kind) {
      if (Number.isFinite(seconds) && seconds >= 0) compile.observe({ kind }, seconds);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The HTTP endpoint.

export type MetricsAddress = LocalAddress;

export const DEFAULT_METRICS_HOST = DEFAULT_LOCAL_HOST;
export const DEFAULT_METRICS_PORT = 9809;

/** "PORT", "HOST:PORT" or "[IPv6]:PORT"; HOST must be an IP literal. Errors name the value. */
export function parseMetricsAddress(text: string): MetricsAddress {
  return parseLocalAddress(text, 'metrics');
}

export interface MetricsServer {
  readonly server: Server;
  /** The bound address (port resolved when 0 was asked). */
  readonly address: MetricsAddress;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics from the registry. Bad requests get 400/404/405; nothing crashes it.
 * `beforeScrape` brings counts kept outside the process up to date first (the verdict cache's
 * kernel counters), so a scrape sees every connection admitted before it.
 */
export function startMetricsServer(registry: Registry, addr: Partial<MetricsAddress> = {}, beforeScrape?: () => Promise<void>): Promise<MetricsServer> {
  const host = addr.host ?? DEFAULT_METRICS_HOST;
  const port = addr.port ?? DEFAULT_METRICS_PORT;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    (beforeScrape ? beforeScrape().catch(() => {}) : Promise.resolve()).then(() => registry.metrics()).then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`collecting metrics failed: ${(err as Error)?.message ?? String(err)}\n`);
      },
    );
  };
  // Slow or half-open clients must not pin sockets forever; a scrape may take longer than a probe.
  const server = createLocalServer({ headersTimeoutMs: 5000, requestTimeoutMs: 10000, keepAliveTimeoutMs: 5000, maxConnections: LOCAL_MAX_CONNECTIONS }, handle);
  return listenLocal(server, { host, port }).then(
    (address) => {
      // Errors after startup (e.g. EMFILE on accept) are logged by the agent, not fatal.
      server.on('error', () => {});
      return { server, address, close: () => closeLocal(server) };
    },
    (err: Error) => {
      throw new Error(`metrics server: cannot listen on ${host}:${port}: ${err.message}`);
    },
  );
}
