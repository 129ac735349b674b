// `palisade bench [--json] [--only NAME...] [--packets N] [--reps N] [--no-bjs]`: the per-packet
// and compile benchmarks of bench/suite.ts. --json prints ONE JSON object {results, env};
// otherwise a table. Progress goes to stderr.

import { CliError, intFlag, parseArgs } from '../args.ts';

const HELP = `usage: palisade bench [--json] [--only NAME...] [--packets N] [--reps N] [--no-bjs]

Benchmarks (all by default):
  parse-only      header parsing of the large cluster's traffic
  classify-small  the 9-pod e2e model (x,y,z x a,b,c), mixed probes and policies
  classify-large  10,000 pods / 1,000 policies, NEW connections (no conntrack)
  conntrack-hit   packets of established flows (conntrack fast path)
  compile-large   full compile, RSS, incremental recompile p50/p99

  --json          one JSON object {"results": [...], "env": {...}} on stdout
  --packets N     packets per measured loop (default 10000000)
  --reps N        measured incremental recompiles per kind in compile-large (default 200,
                  after 10 warm-up rounds)
  --no-bjs        skip the benchmark.js sampling (faster)

Run on an otherwise idle machine for meaningful figures (env.loadavg is reported).`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(
    argv,
    { json: 'bool', only: 'list', packets: 'string', reps: 'string', 'no-bjs': 'bool', help: 'bool' },
    { '-h': 'help' },
  );
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positional.length > 0) throw new CliError(`unexpected argument "${positional[0]}"`);
  const packets = intFlag(flags.packets, 'packets', 1000, 1_000_000_000, 10_000_000);
  const reps = intFlag(flags.reps, 'reps', 1, 10_000, 200);
  const only = ((flags.only as string[] | undefined) ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
  // Loaded here so `palisade bench --help` and flag errors stay instant.
  const { BENCH_NAMES, runSuite } = await import('../../../bench/suite.ts');
  for (const o of only) {
    if (!(BENCH_NAMES as readonly string[]).includes(o)) throw new CliError(`--only: unknown benchmark "${o}" (known: ${BENCH_NAMES.join(', ')})`);
  }
  const report = await runSuite({
    packets,
    reps,
    only,
    benchmarkjs: !flags['no-bjs'],
    log: (l) => process.stderr.write(`bench: ${l}\n`),
  });
  if (flags.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return 0;
  }
  const lines: string[] = [];
  for (const r of report.results) {
    if (r.pps !== undefined) {
      const target = typeof r.target_pps === 'number' ? `  target ${(r.target_pps / 1e6).toFixed(0)} Mpps${r.meets_target ? '' : ' (missed)'}` : '';
      lines.push(`${r.name.padEnd(15)} ${(r.pps / 1e6).toFixed(2).padStart(7)} Mpps  ${String(r.ns_per_packet).padStart(8)} ns/pkt  cpu ${(Number(r.pps_cpu) / 1e6).toFixed(2)} Mpps  heap +${r.heap_delta_bytes} B  gcs ${r.gcs}${target}`);
    } else {
      lines.push(`${r.name.padEnd(15)} ${JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'name')))}`);
    }
  }
  const e = report.env;
  lines.push(`env: node ${e.node}, ${e.cpu} x${e.cores}, kernel ${e.kernel}, loadavg ${JSON.stringify(e.loadavg)}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
