// `palisade bench [--json] [--out FILE] [--only NAME...] [--packets N] [--reps N] [--cluster-reps N] [--no-bjs]`:
// the per-packet and compile benchmarks of bench/suite.ts. --json prints ONE JSON object
// {results, env}; otherwise a table. --out FILE also writes that JSON object to FILE. Progress
// goes to stderr.
//
// A development command: the suite lives in bench/ and samples with the dev-only `benchmark`
// package, neither of which the container image ships (it holds dist/src and production
// node_modules only), so there it stops with one line saying so.

import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, intFlag, parseArgs, type FlagSpec } from '../args.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { json: 'bool', out: 'string', only: 'list', packets: 'string', reps: 'string', 'cluster-reps': 'string', 'no-bjs': 'bool', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade bench [--json] [--out FILE] [--only NAME...] [--packets N] [--reps N] [--cluster-reps N] [--no-bjs]

A development command: run it in a checkout after \`npm ci\` (the container image has no
bench/ suite and no dev dependencies).

Benchmarks (by default all but cluster-large and scale):
  parse-only      header parsing of the large cluster's traffic
  classify-small  the 9-pod e2e model (x,y,z x a,b,c), mixed probes and policies
  classify-large  10,000 pods / 1,000 policies, NEW connections (no conntrack)
  conntrack-hit   packets of established flows (conntrack fast path)
  compile-large   full compile, RSS, incremental recompile p50/p99
  cluster-large   the large cluster with and without 100 ClusterNetworkPolicies: classify
                  ratio (interleaved rounds), full compile, incremental recompiles of every
                  kind of change; only when named with --only (it takes minutes)
  scale           one node's agent at Kubernetes' limits (150,000 pods, 5,000 nodes,
                  10,000 NetworkPolicies, 200 cluster policies) fed by the fake API server:
                  initial list and compile, full compile, RSS, incremental p50/p99, watch
                  events absorbed; only when named with --only

  --json          one JSON object {"results": [...], "env": {...}} on stdout
  --out FILE      also write that JSON object to FILE
  --packets N     packets per measured loop (default 10000000)
  --reps N        measured incremental recompiles per kind in compile-large (default 200,
                  after 10 warm-up rounds)
  --cluster-reps N  the same for cluster-large and scale (default 10, after 2 warm-up rounds)
  --no-bjs        skip the benchmark.js sampling (faster)

Run on an otherwise idle machine for meaningful figures (env.loadavg is reported).`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(
    argv,
    FLAGS,
    { '-h': 'help' },
  );
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positional.length > 0) throw new CliError(`unexpected argument "${positional[0]}"`);
  const packets = intFlag(flags.packets, 'packets', 1000, 1_000_000_000, 10_000_000);
  const reps = intFlag(flags.reps, 'reps', 1, 10_000, 200);
  const clusterReps = intFlag(flags['cluster-reps'], 'cluster-reps', 1, 10_000, 10);
  const only = ((flags.only as string[] | undefined) ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
  const out = flags.out === undefined ? undefined : resolve(String(flags.out));
  // Checked before the run, which takes a while, rather than when it is over.
  if (out !== undefined && !existsSync(dirname(out))) throw new CliError(`--out: folder ${dirname(out)} does not exist`);
  const missing = missingDevParts();
  if (missing) throw new CliError(`development command only: ${missing}; run it in a checkout after \`npm ci\``, 1);
  // Loaded here so `palisade bench --help` and flag errors stay instant.
  const { BENCH_NAMES, runSuite } = await import('../../../bench/suite.ts');
  for (const o of only) {
    if (!(BENCH_NAMES as readonly string[]).includes(o)) throw new CliError(`--only: unknown benchmark "${o}" (known: ${BENCH_NAMES.join(', ')})`);
  }
  const report = await runSuite({
    packets,
    reps,
    clusterReps,
    only,
    benchmarkjs: !flags['no-bjs'],
    log: (l) => process.stderr.write(`bench: ${l}\n`),
  });
  const json = JSON.stringify(report) + '\n';
  if (out !== undefined) {
    try {
      writeFileSync(out, json);
    } catch (err) {
      throw new CliError(`--out: cannot write ${out}: ${(err as Error).message}`, 1);
    }
    process.stderr.write(`bench: wrote ${out}\n`);
  }
  if (flags.json) {
    process.stdout.write(json);
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

/** What of the development setup is missing (bench/ next to this build, the benchmark package), or undefined. */
function missingDevParts(): string | undefined {
  // This module is src/cli/commands/bench.ts in a checkout, dist/src/cli/commands/bench.js once
  // built; the suite sits at the same place relative to it, with the same extension.
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const suite = fileURLToPath(new URL(`../../../bench/suite.${ext}`, import.meta.url));
  if (!existsSync(suite)) return `the benchmark suite ${suite} is not installed`;
  try {
    createRequire(import.meta.url).resolve('benchmark');
  } catch {
    return 'the dev dependency "benchmark" is not installed';
  }
  return undefined;
}
