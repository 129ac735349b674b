// Minimal typings for the parts of benchmark@2.1.4 the suite uses (the package ships none).
declare module 'benchmark' {
  interface BenchmarkStats {
    /** Relative margin of error, percent. */
    rme: number;
    mean: number;
    sample: number[];
  }
  interface BenchmarkOptions {
    fn: () => void;
    maxTime?: number;
    minSamples?: number;
    initCount?: number;
  }
  class Benchmark {
    constructor(name: string, options: BenchmarkOptions);
    static support: { decompilation: boolean };
    run(options?: { async?: boolean }): Benchmark;
    hz: number;
    stats: BenchmarkStats;
    error?: unknown;
  }
  export default Benchmark;
}
