// The per-node agent: source -> ClusterState -> CompiledEngine (this node's pods) -> Classifier
// -> enforcer (NFQUEUE or TUN) + iptables rules. It owns the order things happen in:
//
// start: read the whole cluster state first, compile, bind the queue (or open the TUN), and only
//   then install/take over the iptables rules. A previous run's rules may still be in place: until
//   the queue is bound they drop new connections (NFQUEUE without a listener drops), and
//   established ones keep flowing, so a restart never opens anything.
// change: every batch of state changes is compiled incrementally into a new snapshot, swapped
//   into the classifier at once (JS runs one batch of packets at a time, so every packet is
//   judged by exactly one generation), then the set of managed pod addresses in PALISADE-PODS is
//   updated, and the judged sets (enforce/judged-sets.ts: only pods some policy judges are queued).
//   The generation counts as enforced when all are done (status file, log line).
// stop: remove Palisade's rules (unless keepRules), then close the queue. With keepRules the
//   rules stay and the node stays fail-closed until the next agent binds the queue.
// strict (default): after every enforced generation, flows the kernel still passes because an
//   older generation allowed them are judged again and the denied ones cut (enforce/flow-cutter.ts).
// rule watchdog (rule-watchdog.ts): every rulesCheckMs what Palisade installed is compared with
//   what is there; what someone flushed or altered is put back, counted and logged, and strict
//   mode then sweeps every flow (the ones that slipped through were never judged).

import { ClusterState, type Change } from '../cluster/state.ts';
import { CompiledEngine } from '../policy/compiler.ts';
import { Classifier, REASON_NAMES } from '../dataplane/classifier.ts';
import { INVALID_NAMES } from '../dataplane/packet-info.ts';
import type { SyncInfo } from '../sources/source.ts';
import type { Log } from '../sources/log.ts';
import type { Enforcer } from '../enforce/judge.ts';
import { NfqueueEnforcer } from '../enforce/nfqueue.ts';
import { TunEnforcer } from '../enforce/tun.ts';
import { Iptables, settleBackend, type Family, type PodMatch, type RulePlan } from '../enforce/iptables.ts';
import { JudgedSets, judgedAddresses } from '../enforce/judged-sets.ts';
import { RuleWatchdog } from './rule-watchdog.ts';
import { podSelection, type Selection } from './pod-selection.ts';
import { installTunRouting, removeTunRouting, tunRoutingProblems } from '../enforce/tun-routing.ts';
import { AgentCounters, PolicyCounters, createMetrics, startMetricsServer, type MetricsServer } from './metrics.ts';
import { ConnectionObserver, ObservedJudge } from './observe.ts';
import type { VerdictCache } from '../enforce/verdict-cache.ts';
import { flushForGeneration, openVerdictCache } from './cache-wiring.ts';
import { KernelAdmission } from './admit-wiring.ts';
import { DnsWiring, dnsPodMatch } from './dns-wiring.ts';
import { describeConnection } from './verdict-log.ts';
import { VerdictLogWiring } from './verdict-log-wiring.ts';
import { auditAllowsCodes, auditConfig } from './audit.ts';
import { runCommand } from '../enforce/command.ts';
import { FlowCutter, type JudgedFlow, type SweepResult } from '../enforce/flow-cutter.ts';
import { sideAllows, type RuleSnapshot } from '../policy/engine-api.ts';
import { BatchRunner } from './batch-runner.ts';
import { IdleConverge } from './idle-converge.ts';
import { WasmCopier } from './wasm-copy.ts';
import { StatusWriter, agentStatus } from './status-writer.ts';
import { AgentStats, registerAgentMetrics, type AgentStatus } from './agent-stats.ts';
import { defaultLog } from './agent-log.ts';
import { SourceGuard } from './source-guard.ts';
import { agentOptionsError, rulePlan, staticPodRanges, type AgentOptions, type Backend } from './options.ts';

export type { AgentOptions, Backend } from './options.ts';
export type { AgentStatus } from './agent-stats.ts';

/** Cut flows logged one by one per sweep; the rest only in the sweep's summary line. */
const CUT_LOG_LIMIT = 50;

export class Agent {
  readonly state = new ClusterState();
  private readonly opts: AgentOptions;
  private readonly log: Log;
  private engine?: CompiledEngine;
  private classifier?: Classifier;
  private observer?: ConnectionObserver;
  private metricsServer?: MetricsServer;
  private vlog?: VerdictLogWiring;
  private enforcer?: Enforcer;
  private iptables?: Iptables;
  private sourceGuard?: SourceGuard;
  private families: Family[] = [4, 6];
  private readonly plan: RulePlan;
  private cache?: VerdictCache;
  private admission?: KernelAdmission;
  private dns?: DnsWiring;
  private judged?: JudgedSets;
  private readonly staticV4: string[];
  private readonly staticV6: string[];
  private ready = false;
  private sourceSynced = false;
  private stopped = false;
  private enforcedGeneration = 0;
  private enforcedAt?: string;
  private latestSync?: { info: SyncInfo; generation: number };
  private enforcedSync?: SyncInfo;
  private lastError?: string;
  private readonly stats = new AgentStats();
  /** Idle-time steps after an update (idle-converge.ts). */
  private readonly converge = new IdleConverge({
    engine: () => (this.classifier && !this.stopped ? this.engine : undefined),
    publish: (snap) => {
      this.swapIn(snap);
      this.wasmCopy.schedule();
    },
    failed: (e) => this.fail(`converging tier tables failed, chains stay in force: ${e.message}`),
  });
  /** The WebAssembly copy of the snapshot in force, made in idle time (wasm-copy.ts). */
  private readonly wasmCopy: WasmCopier;
  private readonly statusWriter: StatusWriter;
  /** Pod-rule reconciles: one per batch of state changes, bursts merged. */
  private readonly reconciler = new BatchRunner<true>({
    round: () => this.reconcile(),
    merge: () => true,
    mayRun: () => this.ready && !this.stopped,
  });
  /** Strict-mode sweeps (see requestSweep). */
  private readonly sweeper = new BatchRunner<{ unmarked: boolean }>({
    round: (r) => this.sweep(r.unmarked),
    merge: (a, b) => ({ unmarked: a.unmarked || b.unmarked }),
    mayRun: () => !this.stopped && this.cutter !== undefined && this.classifier !== undefined,
  });
  private retryTimer?: NodeJS.Timeout;
  private unsubscribe: (() => void)[] = [];
  private cutter?: FlowCutter;
  private rulesQueue: Promise<unknown> = Promise.resolve();
  private watchdog?: RuleWatchdog;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.log = opts.log ?? defaultLog;
    const problem = agentOptionsError(opts);
    if (problem) throw new Error(problem);
    ({ v4: this.staticV4, v6: this.staticV6 } = staticPodRanges(opts));
    this.plan = rulePlan(opts);
    if (opts.ipv6 === false) this.families = [4];
    this.wasmCopy = new WasmCopier({
      engine: () => (this.classifier && !this.stopped ? this.engine : undefined),
      current: () => this.classifier?.snapshot,
      publish: (copy) => this.swapIn(copy),
      failed: (e) => this.fail(`copying the snapshot for the WebAssembly judge failed, the JavaScript judge stays in force: ${e.message}`),
    }, opts.wasmJudge ?? true);
    this.statusWriter = new StatusWriter({ path: opts.statusFile, intervalMs: opts.statusIntervalMs, log: this.log }, () => this.status());
  }

  private starting?: Promise<void>;
  private readonly createdAt = new Date().toISOString();

  /** Runs until the first state is enforced; throws (after undoing what it did) when it cannot. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const o = this.opts;
    await this.statusWriter.begin();
    const { backend, reason } = await settleBackend(o.iptables ?? 'auto');
    this.log('info', `iptables backend ${backend}: ${reason}`);
    this.iptables = new Iptables({ backend, plan: this.plan, families: this.families });
    const note = await this.iptables.probeFamilies();
    if (note) this.log('warn', note);
    this.families = this.iptables.families;

    this.unsubscribe.push(this.state.onChange((changes) => this.onChanges(changes)));
    if (o.source.onSync) this.unsubscribe.push(o.source.onSync((info) => this.onSync(info)));
    await o.source.start(this.state);
    if (this.stopped) throw new Error('stopped before the first sync was enforced');
    this.sourceSynced = true;
    o.health?.setSynced(true);

    const t0 = performance.now();
    this.engine = new CompiledEngine(this.state, { localNode: o.node });
    const compileSeconds = (performance.now() - t0) / 1000;
    this.classifier = new Classifier(this.engine.snapshot(), { failOpen: o.failOpen ?? false });
    this.refreshLocalRanges();
    // Observability wraps the classifier: counters on every judged packet, verdict log and
    // audit mode on denied new connections only (src/agent/observe.ts).
    if (o.verdictLog) {
      // A file that cannot be written (bad path, full disk) or a closed stdout is an error the agent survives: the
      // log says so once, lastError shows it, the lines are counted as dropped, enforcement goes on.
      this.vlog = new VerdictLogWiring({
        dest: o.verdictLog, maxBytes: o.verdictLogMaxBytes, logAllowed: o.logAllowed ?? false, dstName: (ip, denied) => this.dns?.nameOf(ip, denied),
        report: (level, m) => (level === 'error' ? this.fail(m) : this.log('info', m)),
      });
    }
    this.observer = new ConnectionObserver({ counters: new AgentCounters(), policies: new PolicyCounters((p) => this.state.policies.has(p) || this.state.clusterPolicies.has(p)), log: this.vlog?.log });
    this.refreshAudit();
    this.observer.bindSnapshot(this.engine.snapshot(), this.engine.stats().ruleIds);
    if (this.plan.verdictCache) {
      // Before the rules: they name the sets.
      this.cache = await openVerdictCache({ families: this.families, timeoutSeconds: o.verdictCacheSeconds, readMs: o.verdictCacheReadMs, observer: this.observer, snapshot: this.engine.snapshot() });
    }
    const judge = new ObservedJudge(this.classifier, this.observer, this.cache);
    if (o.metrics) {
      const metrics = createMetrics({
        counters: this.observer.counters,
        policies: this.observer.policies,
        nfqueueFile: o.backend === 'nfqueue' ? undefined : null,
        queues: o.backend === 'nfqueue' ? Array.from({ length: this.plan.queues }, (_, i) => this.plan.queue + i) : undefined,
        ruleTables: () => {
          const st = this.engine!.stats();
          return { pods: st.pods, tables: st.tables, rules: st.ruleIds };
        },
        generation: () => this.enforcedGeneration,
        syncLag: o.source.lagSeconds ? () => o.source.lagSeconds!() : undefined,
        verdictLog: this.vlog ? () => this.vlog!.stats() : undefined,
        reasons: { counts: [this.classifier.reasonCounts], names: REASON_NAMES },
        invalid: { counts: [this.classifier.invalidCounts], names: INVALID_NAMES },
      });
      metrics.observeCompile(compileSeconds, 'full');
      registerAgentMetrics(metrics.registry, this.stats, () => this.cutter);
      DnsWiring.registerMetrics(metrics.registry, () => this.dns?.learner);
      SourceGuard.registerMetrics(metrics.registry, () => this.sourceGuard);
      this.observeCompile = (sec) => metrics.observeCompile(sec, 'incremental');
      const readCounters = async () => { await this.cache?.readNow(); await this.admission?.sets.readNow(); };
      this.metricsServer = await startMetricsServer(metrics.registry, o.metrics, readCounters);
      this.log('info', `metrics on http://${this.metricsServer.address.host}:${this.metricsServer.address.port}/metrics`);
    }
    const onError = (e: Error) => {
      this.lastError = e.message;
      this.log('error', `enforcer: ${e.message}`);
    };
    try {
      if (o.backend === 'nfqueue') {
        this.enforcer = await NfqueueEnforcer.open(judge, {
          queue: this.plan.queue,
          queues: this.plan.queues,
          failOpen: this.plan.failOpen,
          acceptMark: this.plan.allowMark,
          onError,
        });
      } else {
        this.enforcer = await TunEnforcer.open(judge, { name: this.plan.tunDevice!, persist: true, onError });
        await installTunRouting(this.tunRouting());
      }
      // After the judge's queue, so a second agent on the same queues fails on that one first.
      this.dns = await DnsWiring.open(this.state, { ...o.dns, node: o.node, plan: this.plan, routing: o.backend === 'tun' ? this.tunRouting() : undefined, onError });
      if (this.stopped) throw new Error('stopped before the rules were installed');
      const guard = { node: o.node, backend, families: this.families, failOpen: this.plan.failOpen, layout: o.sourceGuardLayout, log: this.log, write: o.verdictLog ? (l: string) => this.vlog?.write(l) : undefined };
      this.sourceGuard = await SourceGuard.open(guard, this.state, o.sourceGuard ?? true);
      this.iptables!.setNoIfaceSets(this.sourceGuard?.noIfaceSets);
      if (!o.queueAll) this.judged = await JudgedSets.open({ families: this.families });
      // Before the rules: they name its sets.
      if (this.plan.kernelAdmit && this.judged) this.admission = await KernelAdmission.open({ families: this.families, view: this.state, node: o.node, observer: this.observer, judging: () => this.classifier!.snapshot, log: this.log });
      await this.withRules(() => this.applySelection(true));
      this.enforcedGeneration = this.state.generation;
      this.enforcedAt = new Date().toISOString();
      if (this.latestSync) this.enforcedSync = this.latestSync.info;
    } catch (e) {
      if (this.enforcer) await this.enforcer.close().catch(() => {});
      this.enforcer = undefined;
      await this.dns?.close().catch(() => {});
      if (this.cache) await this.cache.close({ destroy: true }).catch(() => {});
      this.cache = undefined;
      await this.admission?.close(true).catch(() => {});
      this.admission = undefined;
      await this.closeObservability();
      await o.source.stop();
      throw e;
    }
    this.ready = true;
    o.health?.setRulesInstalled(true);
    // The first compile's idle-time work (the per-policy tables chains will walk: TierTables.warm).
    this.converge.schedule();
    this.wasmCopy.schedule();
    this.log('info', `enforcing generation ${this.enforcedGeneration}`, this.summary());
    if (o.strict ?? true) {
      const tool = await runCommand(['conntrack', '--version']).catch(() => undefined);
      if (tool && tool.code === 0) {
        this.cutter = new FlowCutter({ allowMark: this.plan.allowMark, families: this.families, judgeAfterDnat: o.backend === 'nfqueue' });
        // Flows allowed by a previous run (its connmarks outlive it) are judged by this run's rules.
        this.requestSweep(false);
      } else {
        // New connections are still judged; only the cutting of established ones is missing.
        // Refusing to start would leave the node with no enforcement at all.
        this.fail('strict mode is off: the conntrack tool (conntrack-tools) is not installed, so established flows that new rules deny cannot be cut');
      }
    }
    this.watchdog = new RuleWatchdog(
      { iptables: this.iptables!, backend, state: this.state, sourceGuard: this.sourceGuard, judged: this.judged, routing: o.backend === 'tun' ? this.watchedRouting() : undefined },
      {
        serialize: (fn) => this.withRules(fn),
        active: () => this.ready && !this.stopped,
        restored: (problems) => {
          this.log('warn', 'iptables rules were missing or altered; restored', { problems, restorations: this.stats.restored() });
          // Connections opened while the rules were gone were never judged (and carry no allow
          // mark): judge every flow, not only marked ones.
          this.requestSweep(true);
          void this.writeStatus();
        },
        failed: (e) => this.fail(`rule watchdog: restoring rules failed (retrying): ${e.message}`),
      },
      o.rulesCheckMs ?? 1000,
    );
    this.watchdog.start();
    await this.writeStatus();
  }

  private observeCompile?: (seconds: number) => void;

  /** An error the agent survives: the status file's lastError, and a log line. */
  private fail(message: string): void {
    this.lastError = message;
    this.log('error', message);
  }

  /** A snapshot with the same generation's answers into the classifier (idle-time steps, the WebAssembly copy). */
  private swapIn(snap: RuleSnapshot): void {
    this.observer?.bindSnapshot(snap, this.engine!.stats().ruleIds);
    this.classifier!.setSnapshot(snap);
  }

  /** Audit mode: --audit for everything, or the palisade.io/audit annotation per namespace. */
  private refreshAudit(): void {
    if (!this.observer) return;
    const { config, errors } = auditConfig(this.opts.audit ?? false, this.state.namespaces.values());
    this.observer.audit = config;
    for (const e of errors) this.log('warn', `${e.object}: ${e.field}: ${e.message}`);
  }

  private async closeObservability(): Promise<void> {
    await this.vlog?.close();
    if (this.metricsServer) await this.metricsServer.close().catch(() => {});
    this.vlog = undefined;
    this.metricsServer = undefined;
  }

  /** TUN: the policy routing into the judge's device and the DNS learner's (the watchdog keeps both). */
  private watchedRouting() {
    return {
      problems: async () => [...(await tunRoutingProblems(this.tunRouting())), ...((await this.dns?.routingProblems()) ?? [])],
      install: async () => {
        await installTunRouting(this.tunRouting());
        await this.dns?.installRouting();
      },
    };
  }

  /** The TUN device's policy routing (table and priority default in tun-routing.ts). */
  private tunRouting() {
    return { device: this.plan.tunDevice!, divertMark: this.plan.divertMark!, table: this.opts.tunTable, priority: this.opts.tunPriority, families: this.families };
  }

  /** This node's spec.podCIDRs (canonical CIDR text), from the Node object named by --node. */
  private nodePodCIDRs(): readonly string[] {
    return this.state.nodes.get(this.opts.node)?.podCIDRs ?? [];
  }

  /**
   * Tells the classifier which addresses belong to pods of this node even before each pod's own
   * IP is known (Node spec.podCIDRs plus --pod-cidr), and which are the node's own.
   */
  private refreshLocalRanges(): void {
    if (!this.classifier) return;
    const cidrs = [...this.staticV4, ...this.staticV6].filter((c) => c.includes('/'));
    for (const c of this.nodePodCIDRs()) if (!cidrs.includes(c)) cidrs.push(c);
    try {
      this.classifier.setLocalPodRanges({ cidrs, nodeAddresses: this.state.nodes.get(this.opts.node)?.addresses ?? [] });
    } catch (e) {
      // The previous ranges stay in force; the rest is enforced as before.
      this.fail(`local pod ranges not updated: ${(e as Error).message}`);
    }
  }

  /** What is selected for judging now (pod-selection.ts). */
  podMatch(): PodMatch {
    return this.selection().match;
  }

  private selection(): Selection {
    const sel = podSelection(this.state, { node: this.opts.node, podIfaces: this.opts.podIfaces ?? [], staticV4: this.staticV4, staticV6: this.staticV6, judgedSets: !!this.judged });
    this.stats.managedAddresses = sel.managed;
    // DNS answers to pods that domainNames policies select go through the learner (dns-wiring.ts).
    return this.dns ? { ...sel, match: { ...sel.match, dns: dnsPodMatch(this.state, this.opts.node) } } : sel;
  }

  /**
   * The judged sets for the newest snapshot, then the pod rules (both before the generation counts
   * as enforced). True when some address started being judged: its flows were never queued, so
   * strict mode must look at unmarked flows too.
   */
  private async applySelection(install: boolean): Promise<boolean> {
    const sel = this.selection();
    const snap = this.classifier!.snapshot;
    const grew = this.judged ? (await this.judged.update(judgedAddresses(snap, sel.localPodIPs))).length > 0 : false;
    // The guard first: the pod rules' no-interface drop follows what its sets hold now.
    await this.sourceGuard?.update(this.state);
    const noIfaceFamilies = this.sourceGuard?.noIfaceFamilies;
    const match = noIfaceFamilies ? { ...sel.match, noIfaceFamilies } : sel.match;
    await (install ? this.iptables!.install(match) : this.iptables!.setPods(match));
    // Kernel admission relies on the judged sets of the same snapshot (which sources reach it).
    this.admission?.selected(snap);
    return grew;
  }

  private summary(): Record<string, unknown> {
    return {
      generation: this.enforcedGeneration,
      pods: this.state.pods.size,
      policies: this.state.policies.size,
      rejected: this.state.rejected.size,
      managedAddresses: this.stats.managedAddresses,
    };
  }

  private onChanges(changes: readonly Change[]): void {
    if (!this.engine || !this.classifier || this.stopped) return; // the engine is built from the full state later
    try {
      const t0 = performance.now();
      const snap = this.engine.update(changes);
      this.observeCompile?.((performance.now() - t0) / 1000);
      if (changes.some((c) => c.kind === 'Namespace')) this.refreshAudit();
      // Counters first, so hits of the new generation's rule ids land in the right places.
      this.observer?.bindSnapshot(snap, this.engine.stats().ruleIds);
      // Cached verdicts are the old rules' answers: gone from the kernel before the new rules judge.
      const err = this.cache && flushForGeneration(this.cache, snap);
      if (err) this.fail(err);
      const shut = this.admission?.closeForGeneration();
      if (shut) this.fail(shut);
      this.classifier.setSnapshot(snap);
      if (changes.some((c) => c.kind === 'Node' && c.key === this.opts.node)) this.refreshLocalRanges();
      this.converge.schedule();
      this.wasmCopy.schedule();
    } catch (e) {
      // Keep enforcing the previous snapshot rather than nothing.
      this.fail(`compile failed, previous rules stay in force: ${(e as Error).message}`);
      return;
    }
    this.requestReconcile();
  }

  private onSync(info: SyncInfo): void {
    this.latestSync = { info, generation: this.state.generation };
    if (this.ready) this.requestReconcile();
  }

  private requestReconcile(): void {
    this.reconciler.request(true);
  }

  /** One reconcile round: the pod rules for the newest state; false (stop, retry later) when iptables failed. */
  private async reconcile(): Promise<boolean> {
    const gen = this.state.generation;
    const sync = this.latestSync;
    let grew: boolean;
    try {
      grew = await this.withRules(() => this.applySelection(false));
    } catch (e) {
      this.fail(`updating pod rules failed (retrying): ${(e as Error).message}`);
      if (!this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.requestReconcile();
        }, 1000);
      }
      return false;
    }
    const advanced = gen !== this.enforcedGeneration;
    this.enforcedGeneration = gen;
    this.enforcedAt = new Date().toISOString();
    if (sync && sync.generation <= gen) this.enforcedSync = sync.info;
    if (advanced) {
      this.log('info', `enforcing generation ${gen}`, this.summary());
      this.requestSweep(grew);
    }
    await this.writeStatus();
    return true;
  }

  /** Runs iptables work one operation at a time (reconcile, watchdog, removal). */
  private withRules<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.rulesQueue.then(fn, fn);
    this.rulesQueue = run.catch(() => {});
    return run;
  }

  // --- strict mode ---------------------------------------------------------------------------

  /** Asks for a sweep with the newest snapshot; sweeps never overlap, requests made during one coalesce. */
  private requestSweep(unmarked: boolean): void {
    if (this.cutter && !this.stopped) this.sweeper.request({ unmarked });
  }

  /** One sweep: judge the kernel's flows with the newest snapshot, cut the denied ones. */
  private async sweep(unmarked: boolean): Promise<void> {
    const cutter = this.cutter!, classifier = this.classifier!;
    const spares = this.dns?.learner.sparer(this.opts.node);
    let logged = 0;
    const onDenied = (j: JudgedFlow, snap: RuleSnapshot): boolean => {
      // Spared: what audit mode waves through for new connections; a flow whose egress lost only
      // an expired DNS record (NPEP-133: new connections only, dns-learner.ts spares).
      if (this.observer && auditAllowsCodes(this.observer.audit, snap, j.egressCode, j.ingressCode, j.srcSlot, j.dstSlot)) return true;
      if (!sideAllows(j.egressCode) && sideAllows(j.ingressCode) && spares?.(j.src, j.dst, j.proto, j.port)) return true;
      if (logged++ < CUT_LOG_LIMIT) this.logCut(j, snap);
      return false;
    };
    const t0 = performance.now();
    let r: SweepResult;
    try {
      r = await cutter.sweep(() => classifier.snapshot, { unmarked, onDenied });
    } catch (e) {
      cutter.errors++;
      this.fail(`strict mode: cutting denied flows failed: ${(e as Error).message}`);
      return;
    }
    if (r.unreadable.length > 0) this.log('warn', `strict mode: ${r.unreadable.length} conntrack line(s) not understood, left alone`, { example: r.unreadable[0] });
    if (r.cut.length > 0 || r.spared > 0) {
      this.log('info', `strict mode: cut ${r.cut.length} established flow(s) the current rules deny`, {
        generation: classifier.snapshot.generation, listed: r.listed, judged: r.judged, cut: r.cut.length,
        spared: r.spared, unmarked, ms: Math.round(performance.now() - t0),
      });
      void this.writeStatus();
    }
  }

  /** One cut flow: an agent log line, and a verdict log line marked "cut". */
  private logCut(j: JudgedFlow, snap: RuleSnapshot): void {
    const line = describeConnection(snap, j, new Date());
    this.log('info', 'cut established flow', { src: line.src, dst: line.dst, protocol: line.protocol, reason: line.reason, generation: line.generation });
    this.vlog?.write(JSON.stringify({ ...line, cut: true }));
  }

  status(): AgentStatus {
    return agentStatus({
      opts: this.opts, state: this.state, stats: this.stats, enforcer: this.enforcer, classifier: this.classifier, observer: this.observer, vlog: this.vlog,
      cache: this.cache, admission: this.admission, engine: this.engine, cutter: this.cutter, wasmCopy: this.wasmCopy, sourceGuard: this.sourceGuard,
      watchdog: this.watchdog, dns: this.dns, synced: this.sourceSynced, ready: this.ready, stopped: this.stopped, generation: this.enforcedGeneration,
      enforcedAt: this.enforcedAt, enforcedSync: this.enforcedSync, lastError: this.lastError, createdAt: this.createdAt,
    });
  }

  /** Writes the status file (status-writer.ts), if there is one; `last` (stopping) without waiting for its write rate. */
  writeStatus(last = false): Promise<void> {
    return this.statusWriter.write(last);
  }

  /** Orderly shutdown: stop the source, remove rules (unless keepRules), close the enforcer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // A stop during start (SIGTERM while syncing): abort the source so start gives up, wait for
    // it to settle, then undo whatever it did.
    if (this.starting && !this.ready) {
      await this.opts.source.stop();
      await this.starting.catch(() => {});
    }
    this.statusWriter.stopTimer();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.converge.cancel();
    this.wasmCopy.cancel();
    for (const u of this.unsubscribe) u();
    await this.opts.source.stop();
    await this.reconciler.settled();
    await this.watchdog?.stop();
    await this.sweeper.settled();
    const keep = this.opts.keepRules ?? false;
    try {
      if (!keep && this.iptables) await this.withRules(async () => (await this.iptables!.remove(), await this.sourceGuard?.remove()));
      if (!keep && this.opts.backend === 'tun') await removeTunRouting(this.tunRouting());
    } catch (e) {
      this.fail(`removing rules failed: ${(e as Error).message}`);
    }
    if (this.enforcer) {
      if (this.enforcer instanceof TunEnforcer) await this.enforcer.close(keep);
      else await this.enforcer.close();
    }
    await this.dns?.close();
    // After the rules that name the sets are gone (kept with them otherwise).
    if (this.cache) await this.cache.close({ destroy: !keep }).catch((e: Error) => this.log('error', `verdict cache: ${e.message}`));
    if (this.judged && !keep) await this.judged.destroy();
    await this.admission?.close(!keep).catch((e: Error) => this.log('error', `kernel admission: ${e.message}`));
    this.ready = false;
    await this.closeObservability();
    this.opts.health?.setRulesInstalled(false);
    this.log('info', keep ? 'stopped; rules left in place (fail-closed until the next agent binds)' : 'stopped; Palisade rules removed');
    await this.writeStatus(true);
  }
}
