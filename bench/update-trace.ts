// Per-update trace of the cluster-large bench's incremental rows (PALISADE_BENCH_TRACE=1, to
// stderr): for each update its wall time, the main thread's CPU and run-queue wait (Linux
// /proc/self/task/<tid>/schedstat), the CPU of the process's other threads (V8's helpers:
// concurrent sweeping and marking, TurboFan) over the same span, and the collections inside it
// (v8.GCProfiler); for the idle work after it, its collections. A slow rep is then told apart:
// the engine's own CPU, a collection inside the update, V8's helper threads taking the two
// cores, or another process (run-queue wait without helper CPU). process.cpuUsage() cannot: it
// counts every thread. Off, it costs one branch per update.

import v8 from 'node:v8';
import { readFileSync, readdirSync } from 'node:fs';

type GcStats = { statistics: { gcType: string; cost: number }[] };

function threadMs(tid: string): [cpu: number, wait: number] {
  const f = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
  return [Number(f[0]) / 1e6, Number(f[1]) / 1e6];
}

function helpersMs(): number {
  let ms = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (tid === String(process.pid)) continue;
    try {
      ms += threadMs(tid)[0];
    } catch {
      // the thread ended
    }
  }
  return ms;
}

const gcList = (s: GcStats) => s.statistics.map((g) => `${g.gcType}:${(g.cost / 1000).toFixed(1)}`).join(',');

export class UpdateTrace {
  static fromEnv(): UpdateTrace | undefined {
    if (process.env.PALISADE_BENCH_TRACE !== '1') return undefined;
    try {
      threadMs(String(process.pid));
    } catch {
      return undefined; // no schedstat (not Linux, or not enabled in the kernel)
    }
    return new UpdateTrace();
  }

  label = '';
  private main: [number, number] = [0, 0];
  private helpers = 0;
  private prof?: v8.GCProfiler;

  /** Right before the update (or the idle work) it measures. */
  begin(): void {
    this.helpers = helpersMs();
    this.main = threadMs(String(process.pid));
    this.prof = new v8.GCProfiler();
    this.prof.start();
  }

  /** Right after it: one line, `what` being "update" or "idle". */
  end(what: string, wallMs: number): void {
    const gcs = gcList(this.prof!.stop() as GcStats);
    const [cpu, wait] = threadMs(String(process.pid));
    const helpers = helpersMs() - this.helpers;
    process.stderr.write(
      `trace ${this.label} ${what} wall ${wallMs.toFixed(2)} main-cpu ${(cpu - this.main[0]).toFixed(2)} ` +
        `runq-wait ${(wait - this.main[1]).toFixed(2)} helper-cpu ${helpers.toFixed(2)} gc [${gcs}]\n`,
    );
  }
}
