// The verdict log: one JSON line per denied NEW connection (and, when asked, per allowed one),
// saying who talked to whom and which policies decided. It is built from the classifier's
// numeric side codes through the RuleSnapshot that judged the packet, off the hot path: the
// classifier only hands over numbers for connections it already denied.
//
// A pod scanning the network must not turn the log into a second denial of service: lines are
// rate limited per source pod with a token bucket, and what a bucket swallowed is reported in a
// summary line (so the log never silently loses the fact that it lost lines).
//
// A denied connection is one line, not one per packet: the observer (observe.ts) tells
// retransmitted SYNs and further datagrams of a denied 5-tuple apart (recent-flows.ts) and
// only counts them here (countRepeat).

import { closeSync, createWriteStream, fstatSync, openSync, readSync, renameSync, statSync, type WriteStream } from 'node:fs';
import { sideAllows, sideDenies, sideReason, sideRule, sideSkipped, type RuleSnapshot } from '../policy/engine-api.ts';
import { ruleLabel } from '../policy/decision.ts';
import { sideText } from '../policy/side-words.ts';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, protocolOfNumber } from '../cluster/model.ts';

export type DenySide = 'egress' | 'ingress' | 'both';

export interface VerdictLine {
  /** ISO 8601. */
  readonly time: string;
  readonly verdict: 'allow' | 'deny';
  /** The policy denied but audit mode let it pass ("would deny"). */
  readonly audit?: true;
  /** Which side denied: the source pod's egress, the destination pod's ingress, or both. */
  readonly direction?: DenySide;
  readonly src: { readonly ip: string; readonly pod?: string };
  readonly dst: { readonly ip: string; readonly pod?: string; readonly port: number };
  readonly protocol: string;
  /**
   * Each deciding side in the words of `palisade explain` (policy/side-words.ts) after its lead:
   * "ingress of x/b: denied: isolated by x/p, x/q, no rule allows", "egress of x/a: allowed by
   * x/p egress[0]"; a denied line names its denied sides ("; and " between two).
   */
  readonly reason: string;
  /**
   * The rules that decided each side, when a rule did (ruleLabel: "ns/name ingress[0]", or
   * "admin/<policy>/<rule>" and "baseline/..." for cluster policy tiers), so tools need not
   * parse `reason`.
   */
  readonly rules?: { readonly egress?: string; readonly ingress?: string };
  /** Snapshot generation that judged it (rule ids are only meaningful within one). */
  readonly generation: number;
  /**
   * An aggregated line of the verdict cache (--log-allowed with the cache): this many more
   * connections of this tuple, admitted by the kernel from the cache since the last such line,
   * on the decision shown (the agent judged the first one and logged it as usual).
   */
  readonly cached?: number;
  /**
   * Strict mode: an established flow the agent cut because newer rules deny it (agent.ts logCut),
   * not a new connection refused.
   */
  readonly cut?: true;
  /** domainNames: which name the destination is ("10.0.3.7 is api.example.com (learned 12 s ago ...)") or that none is live. */
  readonly dstName?: string;
}

export interface SummaryLine {
  readonly time: string;
  readonly summary: 'rate-limited';
  /** The source pod ("ns/name") or "<not a pod>". */
  readonly source: string;
  readonly suppressed: number;
}

/** A packet dropped in the kernel because its source is not its interface's pod's (agent/source-guard.ts). */
export interface SpoofLine {
  readonly time: string;
  readonly verdict: 'deny';
  readonly reason: 'spoofed-source';
  /** The pod behind the interface ("ns/name"), the one that sent it. */
  readonly pod: string;
  readonly iface: string;
  /** The forged source address. */
  readonly src: { readonly ip: string };
}

export type LogLine = VerdictLine | SummaryLine | SpoofLine;

/** What the classifier hands over for one judged NEW connection (copied out of the snapshot). */
export interface JudgedConnection {
  readonly src: string;
  readonly dst: string;
  /** IP protocol number. */
  readonly proto: number;
  readonly port: number;
  readonly egressCode: number;
  readonly ingressCode: number;
  readonly srcSlot: number;
  readonly dstSlot: number;
  /** Set when audit mode let a denied connection pass. */
  readonly audit?: boolean;
  /** Connections the verdict cache admitted on this decision (an aggregated line, see VerdictLine.cached). */
  readonly cached?: number;
}

export function protocolName(proto: number): string {
  const named = protocolOfNumber(proto);
  if (named !== undefined) return named;
  return proto === IPPROTO_ICMP ? 'ICMP' : proto === IPPROTO_ICMPV6 ? 'ICMPv6' : `proto-${proto}`;
}

// A side in the analysis commands' words (policy/side-words.ts), after its lead: "ingress of
// x/b: denied: isolated by x/p, no rule allows" is the line `palisade explain` prints for it.
// What only the agent meets keeps phrases of its own: a side the judge skipped, and a pod's side
// it has no judgement for (the commands judge the whole cluster: for them 'not-a-pod' is no pod).
function sideLine(snap: RuleSnapshot, dir: 'egress' | 'ingress', code: number, slot: number): string {
  const pod = slot >= 0 ? snap.podName(slot) : undefined;
  const who = pod ? `${dir} of ${pod}` : dir;
  if (sideSkipped(code)) return `${who}: not judged: the egress side denied first`;
  const reason = sideReason(code);
  if (reason === 'not-a-pod' && pod !== undefined) {
    // A pod after all: another node judges it, or (a line of admit-entries.ts's kernel admission)
    // the kernel let it through on the ingress side's answer without asking this side.
    return snap.isLocal(slot) ? `${who}: not judged: the kernel admitted it on the ingress side alone` : `${who}: not judged: another node's pod, judged on its own node`;
  }
  const rule = reason === 'rule' ? snap.ruleRef(sideRule(code)) : undefined;
  // Should the snapshot name no isolating policy, "(unknown)" keeps the phrase readable.
  const isolating = reason === 'no-rule' && slot >= 0 ? snap.isolatingPolicies(slot, dir) : [];
  const policies = reason === 'no-rule' && isolating.length === 0 ? ['(unknown)'] : isolating;
  return `${who}: ${sideText({ allowed: sideAllows(code), reason, policies, ...(rule ? { rule } : {}) })}`;
}

/** Turns one judged connection into its log line (off the hot path; allocates freely). */
export function describeConnection(snap: RuleSnapshot, c: JudgedConnection, time: Date): VerdictLine {
  const eDeny = sideDenies(c.egressCode);
  const iDeny = sideDenies(c.ingressCode);
  const srcPod = c.srcSlot >= 0 ? snap.podName(c.srcSlot) : undefined;
  const dstPod = c.dstSlot >= 0 ? snap.podName(c.dstSlot) : undefined;
  const denied = eDeny || iDeny;
  let reason: string;
  if (denied) {
    const parts: string[] = [];
    if (eDeny) parts.push(sideLine(snap, 'egress', c.egressCode, c.srcSlot));
    if (iDeny) parts.push(sideLine(snap, 'ingress', c.ingressCode, c.dstSlot));
    reason = parts.join('; and ');
  } else {
    reason = `${sideLine(snap, 'egress', c.egressCode, c.srcSlot)}; ${sideLine(snap, 'ingress', c.ingressCode, c.dstSlot)}`;
  }
  return {
    time: time.toISOString(),
    verdict: denied ? 'deny' : 'allow',
    ...(denied && c.audit ? { audit: true as const } : {}),
    ...(denied ? { direction: (eDeny && iDeny ? 'both' : eDeny ? 'egress' : 'ingress') as DenySide } : {}),
    src: srcPod ? { ip: c.src, pod: srcPod } : { ip: c.src },
    dst: dstPod ? { ip: c.dst, pod: dstPod, port: c.port } : { ip: c.dst, port: c.port },
    protocol: protocolName(c.proto),
    reason,
    ...decidingRules(snap, c),
    generation: snap.generation,
    ...(c.cached !== undefined ? { cached: c.cached } : {}),
  };
}

function decidingRules(snap: RuleSnapshot, c: JudgedConnection): { rules?: { egress?: string; ingress?: string } } {
  const e = sideRule(c.egressCode), i = sideRule(c.ingressCode);
  if (e < 0 && i < 0) return {};
  const rules: { egress?: string; ingress?: string } = {};
  if (e >= 0) rules.egress = ruleLabel(snap.ruleRef(e));
  if (i >= 0) rules.ingress = ruleLabel(snap.ruleRef(i));
  return { rules };
}

// ---------------------------------------------------------------------------------------------
// Rate limiting.

export interface RateOptions {
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Bucket size: lines allowed in a burst. */
  readonly burst: number;
  /** At most this many buckets are kept; the least recently used is dropped beyond it. */
  readonly maxKeys?: number;
}

interface Bucket {
  tokens: number;
  last: number;
  suppressed: number;
}

/** Token buckets keyed by source. Time is passed in (ms), so tests drive it. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  constructor(private readonly opts: RateOptions) {
    if (!(opts.perSecond > 0) || !(opts.burst >= 1)) throw new Error('rate limit: perSecond must be > 0 and burst >= 1');
  }

  /**
   * Takes a token. Returns -1 when the line must be suppressed, otherwise the number of lines
   * suppressed for this key since the last one that passed (to report in a summary first).
   */
  take(key: string, nowMs: number): number {
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-insert: Map order is our LRU order
    } else {
      b = { tokens: this.opts.burst, last: nowMs, suppressed: 0 };
    }
    this.buckets.set(key, b);
    this.evict();
    const elapsed = Math.max(0, nowMs - b.last) / 1000;
    b.tokens = Math.min(this.opts.burst, b.tokens + elapsed * this.opts.perSecond);
    b.last = nowMs;
    if (b.tokens < 1) {
      b.suppressed++;
      return -1;
    }
    b.tokens -= 1;
    const s = b.suppressed;
    b.suppressed = 0;
    return s;
  }

  /** Keys with suppressed lines not yet reported; resets their counters. */
  drainSuppressed(): [string, number][] {
    const out: [string, number][] = [];
    for (const [k, b] of this.buckets) {
      if (b.suppressed > 0) {
        out.push([k, b.suppressed]);
        b.suppressed = 0;
      }
    }
    return out;
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(): void {
    const max = this.opts.maxKeys ?? 10000;
    while (this.buckets.size > max) {
      const oldest = this.buckets.keys().next().value as string;
      this.buckets.delete(oldest);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The log itself.

export const NOT_A_POD = '<not a pod>';

export interface VerdictLogOptions {
  /** Receives each line (without the newline). See openSinks() for stdout and files. */
  readonly write: (line: string) => void;
  /** Log allowed new connections too (off by default: only denials). */
  readonly logAllowed?: boolean;
  readonly rate?: RateOptions;
  /** Clock in ms (tests inject it). */
  readonly now?: () => number;
  /** What a destination address is by DNS (agent/dns-wiring.ts), for the `dstName` field; undefined: nothing to say. */
  readonly dstName?: (ip: string, egressDenied: boolean) => string | undefined;
}

export interface VerdictLogStats {
  written: number;
  suppressed: number;
  /** Packets of an already logged denied connection (retransmitted SYNs, further datagrams). */
  repeats: number;
}

export class VerdictLog {
  private readonly buckets: TokenBuckets;
  private readonly now: () => number;
  readonly stats: VerdictLogStats = { written: 0, suppressed: 0, repeats: 0 };

  constructor(private readonly opts: VerdictLogOptions) {
    this.buckets = new TokenBuckets(opts.rate ?? { perSecond: 10, burst: 20 });
    this.now = opts.now ?? Date.now;
  }

  /** Whether allowed new connections are logged too. */
  get logAllowed(): boolean {
    return this.opts.logAllowed === true;
  }

  /** Logs one judged connection. Returns true when a line was written. */
  record(snap: RuleSnapshot, c: JudgedConnection): boolean {
    const denied = sideDenies(c.egressCode) || sideDenies(c.ingressCode);
    if (!denied && !this.opts.logAllowed) return false;
    const t = this.now();
    // Decide on the rate limit before building the line: a flood costs one map lookup each.
    const key = c.srcSlot >= 0 ? snap.podName(c.srcSlot) : NOT_A_POD;
    const pending = this.buckets.take(key, t);
    if (pending < 0) {
      this.stats.suppressed++;
      return false;
    }
    const date = new Date(t);
    if (pending > 0) this.emit({ time: date.toISOString(), summary: 'rate-limited', source: key, suppressed: pending });
    const line = describeConnection(snap, c, date);
    const name = this.opts.dstName?.(line.dst.ip, sideDenies(c.egressCode));
    this.emit(name === undefined ? line : { ...line, dstName: name });
    return true;
  }

  /** Counts a packet of a denied connection already logged (it takes no rate-limit token). */
  countRepeat(): void {
    this.stats.repeats++;
  }

  /** Reports every bucket's suppressed count now (the agent calls this on a timer and at exit). */
  flush(): void {
    const time = new Date(this.now()).toISOString();
    for (const [source, suppressed] of this.buckets.drainSuppressed()) {
      this.emit({ time, summary: 'rate-limited', source, suppressed });
    }
  }

  private emit(line: LogLine): void {
    this.stats.written++;
    this.opts.write(JSON.stringify(line));
  }
}

// ---------------------------------------------------------------------------------------------
// Sinks: stdout and/or an appended file.

export interface Sinks {
  readonly write: (line: string) => void;
  /** Lines dropped because a destination was backed up or broken. */
  readonly dropped: () => number;
  readonly close: () => Promise<void>;
}

/** Above this many buffered bytes a destination is considered stuck and lines are dropped. */
const MAX_BUFFERED = 4 << 20;

export interface SinkOptions {
  readonly stdout?: boolean;
  readonly file?: string;
  readonly stdoutStream?: NodeJS.WritableStream & { writableLength?: number };
  /**
   * Told when the file cannot be written (an unwritable or vanished path, a full disk: level
   * 'error') and when it can be again ('info'). One call per change, not per line.
   */
  readonly report?: (level: 'error' | 'info', message: string) => void;
  /** How long a broken file is left alone before the next line tries to open it again (default 10 s). */
  readonly retryMs?: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
  /**
   * The file's size cap in bytes (default DEFAULT_VERDICT_LOG_MAX_BYTES; 0: none, for an outside
   * logrotate with copytruncate). A line that would take the file past it first renames the
   * file to FILE.1 (replacing the previous one) and starts a new FILE, so the log holds at most
   * about twice the cap; `palisade logs --follow` reads on into the new file.
   */
  readonly maxBytes?: number;
}

/** The verdict log file's default size cap: with FILE.1, at most about 200 MiB on the node. */
export const DEFAULT_VERDICT_LOG_MAX_BYTES = 100 << 20;

/** Whether a non-empty file's last byte is not a newline (a line cut short by a full disk or a kill). */
function endsMidLine(path: string): boolean {
  let fd: number | undefined;
  try {
    const size = statSync(path).size;
    if (size === 0) return false;
    fd = openSync(path, 'r');
    const b = Buffer.alloc(1);
    return readSync(fd, b, 0, 1, size - 1) === 1 && b[0] !== 0x0a;
  } catch {
    return false; // no file yet, or unreadable: the stream's own open reports what matters
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function openSinks(opts: SinkOptions): Sinks {
  let dropped = 0;
  const now = opts.now ?? Date.now;
  const retryMs = opts.retryMs ?? 10_000;
  const path = opts.file;
  let file: WriteStream | undefined;
  // Set while the file cannot be written: lines are dropped (counted) until retryAt, when the next
  // line opens the file again (`trying`: lines go to that attempt; if it fails too they are
  // counted and the episode goes on, reported once). Before, the first error (EACCES, ENOENT,
  // ENOSPC) silently stopped the file for good: no log line, no counter, and every later line
  // vanished while palisade_verdict_log_lines_total{outcome="written"} kept counting them.
  let broken: { retryAt: number; trying: boolean; droppedBefore: number } | undefined;
  let written: (e: Error | null | undefined) => void = () => {};
  // Without a cap the file grew as long as the agent ran (10 lines a second per noisy pod),
  // until it filled the node's disk, or its memory where the file is on tmpfs (the lab's /run).
  const maxBytes = opts.maxBytes ?? DEFAULT_VERDICT_LOG_MAX_BYTES;
  let size = 0;
  const openFile = (): void => {
    // Opened here, not by the stream (which opens by name later, on the thread pool): a rotation
    // renames FILE while this stream may still be unopened, and it would then create a new FILE
    // and write the old file's lines there, past the cap. An fd keeps writing to the file it
    // opened, FILE.1 after the rename. A file that cannot be opened is left to the stream, which
    // fails by name and reports through its 'error' event (below).
    let fd: number | undefined;
    try {
      fd = openSync(path!, 'a');
      size = fstatSync(fd).size;
    } catch {
      fd = undefined;
      size = 0;
    }
    const f = fd === undefined ? createWriteStream(path!, { flags: 'a' }) : createWriteStream(path!, { fd, flags: 'a' });
    file = f;
    // Lines this stream loses before its error event (still buffered) count in the episode.
    const droppedAtOpen = dropped;
    // A line a previous writer left half-written (full disk, killed mid-write) must not swallow
    // the first line of this one: `palisade logs` would show both as one unreadable line.
    if (endsMidLine(path!)) f.write('\n');
    f.on('error', (e: Error) => {
      if (file !== f) return;
      if (broken) {
        // A retry that failed: same episode, already reported.
        broken.trying = false;
        broken.retryAt = now() + retryMs;
        return;
      }
      broken = { retryAt: now() + retryMs, trying: false, droppedBefore: droppedAtOpen };
      // Enforcement goes on: only the log is lost, and it says so.
      opts.report?.('error', `verdict log ${path}: ${e.message}; its lines are dropped (counted: verdictLogDropped, palisade_verdict_log_lines_total{outcome="dropped"}) and the file is tried again every ${Math.round(retryMs / 1000)} s`);
    });
    // A line still in the stream's buffer when the file fails is lost too: its callback says so.
    // A line that made it ends the episode.
    written = (e) => {
      if (e) dropped++;
      else if (broken && file === f) {
        const lost = dropped - broken.droppedBefore;
        broken = undefined;
        opts.report?.('info', `verdict log ${path} is written again; ${lost} line(s) were dropped meanwhile`);
      }
    };
  };
  if (path) openFile();
  const rotate = (): void => {
    try {
      renameSync(path!, `${path}.1`);
    } catch (e) {
      // The file goes on growing; the next try is another cap's worth of lines later.
      size = 0;
      opts.report?.('error', `verdict log ${path}: cannot rotate it to ${path}.1 (${(e as Error).message}); it grows past its cap`);
      return;
    }
    // The old stream writes what it still buffers into FILE.1 and closes.
    file!.end();
    openFile();
  };
  const out = opts.stdoutStream ?? process.stdout;
  // stdout whose reader went away (EPIPE: a closed pipe, a log shipper that died) emits 'error';
  // with no listener that was an uncaught exception that ended the agent, and enforcement with
  // it. A closed pipe does not come back: its lines are dropped (counted) from then on.
  let outBroken = false;
  const onOutError = (e: Error): void => {
    if (outBroken) return;
    outBroken = true;
    opts.report?.('error', `verdict log (stdout): ${e.message}; its lines are dropped from now on (counted: verdictLogDropped, palisade_verdict_log_lines_total{outcome="dropped"})`);
  };
  const onOutWritten = (e?: Error | null): void => {
    if (e) dropped++;
  };
  if (opts.stdout) out.on('error', onOutError);
  return {
    write(line: string) {
      const text = line + '\n';
      if (opts.stdout) {
        if (outBroken || (out.writableLength ?? 0) > MAX_BUFFERED) dropped++;
        else out.write(text, onOutWritten);
      }
      if (file) {
        if (broken && !broken.trying && now() >= broken.retryAt) {
          broken.trying = true;
          file.destroy();
          openFile();
        }
        if ((broken && !broken.trying) || file.writableLength > MAX_BUFFERED) {
          dropped++;
          return;
        }
        const bytes = Buffer.byteLength(text);
        if (maxBytes > 0 && !broken && size > 0 && size + bytes > maxBytes) rotate();
        file.write(text, written);
        size += bytes;
      }
    },
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        if (opts.stdout) out.off('error', onOutError);
        if (!file || file.destroyed) return resolve();
        file.once('error', () => resolve());
        file.end(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Reading it back (palisade logs).

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses one line of the log; undefined when it is not one of ours. */
export function parseLogLine(text: string): LogLine | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(v) || typeof v.time !== 'string') return undefined;
  if (v.summary === 'rate-limited') {
    return typeof v.source === 'string' && typeof v.suppressed === 'number' ? (v as unknown as SummaryLine) : undefined;
  }
  if (v.reason === 'spoofed-source') {
    return v.verdict === 'deny' && typeof v.pod === 'string' && typeof v.iface === 'string' && isObj(v.src) && typeof v.src.ip === 'string' ? (v as unknown as SpoofLine) : undefined;
  }
  if ((v.verdict !== 'allow' && v.verdict !== 'deny') || !isObj(v.src) || !isObj(v.dst)) return undefined;
  if (typeof v.src.ip !== 'string' || typeof v.dst.ip !== 'string' || typeof v.dst.port !== 'number') return undefined;
  if (typeof v.protocol !== 'string' || typeof v.reason !== 'string') return undefined;
  return v as unknown as VerdictLine;
}

// Characters a terminal acts on rather than shows: C0 and C1 controls (a newline, ESC, CSI), the
// line and paragraph separators, and the bidirectional overrides and isolates, which reorder
// what follows them on screen.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const ESCAPED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every character a terminal would act on written as an escape (\n, \u001b). What
 * `palisade logs` prints comes from user text (cluster policy rule names may hold any
 * character): a newline in one made up a line of its own, an escape sequence drove the terminal.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => ESCAPED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One log line in the words `palisade logs` prints, escaped as printable() says. */
export function formatHuman(line: LogLine): string {
  return printable(humanText(line));
}

function humanText(line: LogLine): string {
  if ('summary' in line) {
    return `${line.time} RATE-LIMIT  ${line.suppressed} line(s) from ${line.source} suppressed`;
  }
  if ('iface' in line) {
    return `${line.time} ${'DENY'.padEnd(10)} ${line.pod} on ${line.iface} sent as ${line.src.ip}: spoofed-source (dropped in the kernel)`;
  }
  // A cut flow is told apart from a refused connection: it had been allowed and was running.
  const tag = line.verdict === 'allow' ? 'ALLOW' : line.audit ? 'WOULD-DENY' : line.cut === true ? 'CUT' : 'DENY';
  const src = line.src.pod ? `${line.src.ip} (${line.src.pod})` : line.src.ip;
  const dstAddr = line.dst.ip.includes(':') ? `[${line.dst.ip}]:${line.dst.port}` : `${line.dst.ip}:${line.dst.port}`;
  const dst = line.dst.pod ? `${dstAddr} (${line.dst.pod})` : dstAddr;
  const side = line.direction ? ` [${line.direction}]` : '';
  const cached = line.cached !== undefined ? ` (${line.cached} more admitted by the verdict cache)` : '';
  return `${line.time} ${tag.padEnd(10)} ${line.protocol} ${src} -> ${dst}${side}: ${line.reason}${cached}`;
}
