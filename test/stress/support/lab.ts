// Lab helpers for the load and fault stress files, on top of support/netns.ts (Topology,
// startAgent): a counting server in a pod, a bounded flood from a pod, agent RSS sampling, and
// the agent's flags (to find out whether an optional flag exists in this build).

import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ROOT, run, type PodName, type Topology } from '../../../support/netns.ts';
import { rssOf } from './results.ts';

const TSX = ['--import', 'tsx'];

export type Counts = Record<string, Record<string, number>>;

/** test/stress/fixtures/counter-server.ts in a pod: counts arrivals per port and source. */
export class CounterServer {
  private readonly proc: ChildProcess;
  private readonly lines: ((l: string) => void)[] = [];
  private readonly ready: Promise<void>;

  constructor(topo: Topology, pod: PodName, ports: readonly number[]) {
    this.proc = topo.spawn(topo.in(topo.ns[pod], [process.execPath, ...TSX, join(ROOT, 'test', 'stress', 'fixtures', 'counter-server.ts'), ports.join(',')]));
    let err = '';
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => { onReady = res; onFail = rej; });
    this.proc.on('exit', (code) => onFail(new Error(`counter server exited (${code}): ${err}`)));
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      if (l.includes('"ready"')) onReady();
      else this.lines.shift()?.(l);
    });
  }

  start(): Promise<void> {
    return this.ready;
  }

  async counts(): Promise<{ tcp: Counts; udp: Counts }> {
    const got = new Promise<string>((res) => this.lines.push(res));
    this.proc.stdin!.write('report\n');
    return JSON.parse(await got) as { tcp: Counts; udp: Counts };
  }
}

/** Sum of arrivals in counts matching port and source predicates. */
export function arrivals(c: Counts, match: (port: number, from: string) => boolean): number {
  let n = 0;
  for (const [port, bySrc] of Object.entries(c)) for (const [from, k] of Object.entries(bySrc)) if (match(Number(port), from)) n += k;
  return n;
}

export interface FloodArgs {
  host: string;
  tcpPorts: number[];
  udpPorts: number[];
  seconds: number;
  maxConnections: number;
  inflight: number;
  connectTimeoutMs: number;
  udpSockets: number;
  maxDatagrams: number;
}
export interface FloodResult {
  tcp: Record<string, { ok: number; failed: number }>;
  udp: Record<string, number>;
  seconds: number;
}

/** Runs test/stress/fixtures/flood.ts in a pod until it reports (bounded by its own limits + 60 s). */
export async function flood(topo: Topology, pod: PodName, a: FloodArgs): Promise<FloodResult> {
  // Wide ephemeral range and quick reuse in the client pod: tens of thousands of connections.
  await run(topo.in(topo.ns[pod], ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1']));
  const r = await run(topo.in(topo.ns[pod], [process.execPath, ...TSX, join(ROOT, 'test', 'stress', 'fixtures', 'flood.ts'), JSON.stringify(a)]), undefined, (a.seconds + 60) * 1000);
  if (r.code !== 0) throw new Error(`flood from ${pod} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as FloodResult;
}

/** Samples a process's RSS every `ms` until stop(). */
export class RssSampler {
  readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number, ms = 200) {
    this.sample();
    this.timer = setInterval(() => this.sample(), ms);
  }
  private sample(): void {
    const v = rssOf(this.pid);
    if (v !== undefined) this.samples.push(v);
  }
  stop(): { first: number; max: number; last: number } {
    clearInterval(this.timer);
    this.sample();
    return { first: this.samples[0] ?? 0, max: Math.max(0, ...this.samples), last: this.samples[this.samples.length - 1] ?? 0 };
  }
}

let helpText: string | undefined;
/** Whether `palisade agent` of this tree knows a flag (optional features built by others). */
export async function agentHasFlag(flag: string): Promise<boolean> {
  if (helpText === undefined) {
    const r = await run([process.execPath, join(ROOT, 'bin', 'palisade.js'), 'agent', '--help']);
    helpText = r.stdout + r.stderr;
  }
  return helpText.includes(flag);
}

/** Kernel NFQUEUE counters of one queue in the node namespace (zeros when unbound). */
export async function queueCounters(topo: Topology, queue: number): Promise<{ queued: number; dropped: number; userDropped: number; bound: boolean }> {
  const q = (await topo.queueStats()).get(queue);
  return q ? { queued: q.idSequence, dropped: q.dropped, userDropped: q.userDropped, bound: true } : { queued: 0, dropped: 0, userDropped: 0, bound: false };
}

export { RemoteApiServer } from '../../support/remote-apiserver.ts';
