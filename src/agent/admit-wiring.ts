// The agent's side of kernel admission (src/enforce/admit-sets.ts, entries from admit-entries.ts):
// first connections the current rules allow are accepted by the kernel, not queued.
//
// Generations. Entries are one generation's answers, so before a new snapshot judges, the live
// sets are swapped with empty ones (closeForGeneration: synchronous netlink, done when it
// returns), exactly like the verdict cache's flush: no older answer admits anything after it.
// The new generation's entries are then built, once changes have settled (SETTLE_MS), in slices
// on the event loop (the build judges a few thousand (source, port interval) pairs per
// destination pod) and swapped in only if that snapshot is still the classifier's, with the
// judged sets holding its selection, when the swap runs (install's `current`, checked with no
// await before the swap). Until then, and whenever a build is dropped or over budget, new
// connections go to the queue, as without admission.
//
// Counting: each entry carries the ingress decision it admits with; the sets' counters go to the
// observer like the verdict cache's (exact per-policy allow counts). A network entry does not
// say which address of the network connected, so --log-allowed (a line per connection) turns
// admission off (options.ts).
//
// The kernel drops entries after their timeout if the agent dies without a stop; while it runs,
// the sets are rebuilt well within it.

import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises';
import { AdmitSets } from '../enforce/admit-sets.ts';
import type { Family } from '../enforce/iptables.ts';
import type { ClusterView } from '../cluster/state.ts';
import type { RuleSnapshot } from '../policy/engine-api.ts';
import { admitEntries, type AdmitResult } from './admit-entries.ts';
import type { ConnectionObserver } from './observe.ts';
import type { Log } from '../sources/log.ts';

/** Kernel entry timeout: what bounds a dead agent's entries. */
const TIMEOUT_S = 600;
/** Judged (source, interval) pairs per build at most (under a second of the agent's CPU on the scale bench's cluster: scripts/admit-build-cpu.ts). */
const MAX_JUDGES = 500_000;
/** Entries per family (ports counted one by one). */
const MAX_ENTRIES = 65536;
/** Quiet time before a build: under a burst of changes each new generation would drop a build started earlier. */
const SETTLE_MS = 100;
/**
 * Builds take at most this share of the agent's time: after one that worked W ms (judging, on
 * the event loop), the next waits (1 / DUTY - 1) * W. On a large cluster a build judges up to
 * MAX_JUDGES pairs (about a second); a change every second would otherwise keep a core busy.
 */
const DUTY = 0.1;

export interface AdmissionOptions {
  readonly families: readonly Family[];
  readonly view: ClusterView;
  readonly node: string;
  readonly observer: ConnectionObserver;
  /** The snapshot the classifier judges with now. */
  readonly judging: () => RuleSnapshot;
  readonly log: Log;
}

export class KernelAdmission {
  /** Builds finished, dropped (a newer snapshot came first) and their last figures, for the status file. */
  builds = 0;
  dropped = 0;
  lastEntries = 0;
  lastPodsLeft = 0;
  lastBuildMs = 0;
  /** Milliseconds of event-loop work of the last build (dropped ones too). */
  lastWorkMs = 0;
  private restUntil = 0;
  private selectedSnap?: RuleSnapshot;
  private running = false;
  private wanted = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private lastNotes = '';
  /** The snapshot whose entries are live, and whether the refresh timer asked for them again. */
  private installedFor?: RuleSnapshot;
  private refreshDue = false;

  private constructor(readonly sets: AdmitSets, private readonly o: AdmissionOptions) {
    // Rebuilt well within the kernel timeout, so a running agent's entries never expire.
    this.timer = setInterval(() => {
      this.refreshDue = true;
      this.schedule();
    }, (TIMEOUT_S / 3) * 1000);
    this.timer.unref();
  }

  static async open(o: AdmissionOptions): Promise<KernelAdmission> {
    const sets = await AdmitSets.open({
      families: o.families,
      timeoutSeconds: TIMEOUT_S,
      maxEntries: MAX_ENTRIES,
      onCounted: (d, t, n) => o.observer.countCached(d, t, n),
    });
    return new KernelAdmission(sets, o);
  }

  /** Before `next` judges: nothing the older rules allowed is admitted any more. An error text to report, or undefined. */
  closeForGeneration(): string | undefined {
    try {
      this.sets.empty();
      return undefined;
    } catch (e) {
      // Entries expire on their own (TIMEOUT_S); until then the kernel may still admit what the
      // previous rules allowed. Say so loudly.
      return `kernel admission sets not emptied, previous rules may admit connections for up to ${TIMEOUT_S} s: ${(e as Error).message}`;
    }
  }

  /** The judged sets and pod rules now hold `snap`'s selection: builds its entries (see current). */
  selected(snap: RuleSnapshot): void {
    this.selectedSnap = snap;
    this.schedule();
  }

  /**
   * The classifier's snapshot when the judged sets hold its selection (which sources reach
   * PALISADE-ADMIT), else undefined. Compared by generation: the agent swaps a snapshot for its
   * WebAssembly copy (agent/wasm-copy.ts), another object with the same generation and answers.
   */
  private current(): RuleSnapshot | undefined {
    const snap = this.o.judging();
    return snap.generation === this.selectedSnap?.generation ? snap : undefined;
  }

  /** Builds and installs the entries of the current snapshot (soon; requests made meanwhile coalesce). */
  schedule(): void {
    if (this.closed) return;
    this.wanted = true;
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.wanted && !this.closed) {
        do {
          this.wanted = false;
          await sleep(Math.max(SETTLE_MS, this.restUntil - performance.now()));
        } while (this.wanted && !this.closed);
        await this.buildOnce();
      }
    } catch (e) {
      this.o.log('error', `kernel admission: ${(e as Error).message}; new connections are judged by the agent`);
    } finally {
      this.running = false;
    }
  }

  private async buildOnce(): Promise<void> {
    const snap = this.current();
    // The judged sets do not hold this snapshot's selection yet: the reconcile that writes them
    // schedules a build. A reconcile without a new snapshot (a resync) changes nothing here.
    if (snap === undefined || (snap.generation === this.installedFor?.generation && !this.refreshDue)) return;
    this.refreshDue = false;
    const t0 = performance.now();
    let work = 0;
    const step = (g: Generator<void, AdmitResult>) => {
      const a = performance.now();
      const r = g.next();
      work += performance.now() - a;
      this.lastWorkMs = work;
      this.restUntil = performance.now() + work * (1 / DUTY - 1);
      return r;
    };
    const g = admitEntries({ snap, view: this.o.view, node: this.o.node, families: this.o.families, maxEntries: MAX_ENTRIES, maxJudges: MAX_JUDGES });
    let s = step(g);
    while (!s.done) {
      await turn();
      // A newer generation already emptied the sets and asked for its own build.
      if (this.closed || this.current()?.generation !== snap.generation) {
        this.dropped++;
        return;
      }
      s = step(g);
    }
    const r = s.value;
    const out = await this.sets.install(r.entries, () => !this.closed && this.current()?.generation === snap.generation, r.returns);
    if (out === 'stale') {
      this.dropped++;
      return;
    }
    this.builds++;
    this.installedFor = snap; // 'too-many' too: the same snapshot would not fit again
    this.lastEntries = out === 'installed' ? r.entries.length : 0;
    this.lastPodsLeft = r.podsLeft;
    this.lastBuildMs = performance.now() - t0;
    const notes = out === 'too-many' ? `${r.entries.length} entries do not fit the sets` : r.notes.join('; ');
    if (notes !== '' && notes !== this.lastNotes) this.o.log('warn', `kernel admission: ${notes}`);
    this.lastNotes = notes;
  }

  /**
   * Stops building. `destroy`: the sets go (the rules naming them are removed first). Else (rules
   * kept for the next agent) they are emptied, as the verdict cache's are: while no agent runs,
   * nothing is admitted from answers a newer rule change may have overturned.
   */
  async close(destroy: boolean): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    if (destroy) await this.sets.close();
    else this.sets.empty();
  }
}
