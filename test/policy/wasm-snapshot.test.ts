// The WebAssembly copy of a snapshot (src/policy/wasm-snapshot.ts) answers exactly as the
// JavaScript snapshot it copies: every probe of the randomized differential run (random clusters
// of every policy kind, mutation sequences, chains of per-policy tables), and every tuple of the
// large cluster with and without its cluster policies, codes and slots included. The committed
// module is the build of its source, and a copy of the wrong snapshot is caught.

import t from 'tap';
import { compileJudge } from '../../scripts/build-wasm.ts';
import { WASM_JUDGE_BASE64 } from '../../src/policy/wasm-judge-module.ts';
import { describeMismatch, runDifferential } from '../../support/differential.ts';
import { WasmSnapshot, wasmCopyOf } from '../../src/policy/wasm-snapshot.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { SIDE, sideDenies, type RuleSnapshot } from '../../src/policy/engine-api.ts';
import { buildLargeCluster, LARGE } from '../../bench/large-cluster.ts';
import { largeClusterPolicies } from '../../bench/large-cluster-policies.ts';
import { judgeInput, largeTuples } from '../../bench/suite.ts';

const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

t.test('the committed module is the build of wasm/snapshot-judge.ts', async (t) => {
  const built = Buffer.from(await compileJudge());
  t.ok(built.equals(Buffer.from(WASM_JUDGE_BASE64, 'base64')), 'same bytes (else: node --import tsx scripts/build-wasm.ts)');
});

t.test('the copy answers as the snapshot on random clusters and mutation sequences', async (t) => {
  for (const [s, chainAbove] of [[seed, undefined], [seed ^ 0x5a5a, 0], [3, undefined]] as const) {
    const res = runDifferential({ seed: s, probes: 8000, wasm: true, ...(chainAbove === undefined ? {} : { chainAbove }) });
    t.comment(`seed ${s}${chainAbove === 0 ? ' (chains)' : ''}: ${res.probes} probes, ${res.clusters} clusters, ${res.chains} chains`);
    for (const m of res.mismatches) t.fail(describeMismatch(m));
    t.equal(res.mismatches.length, 0, 'no mismatches');
  }
});

/**
 * Per tuple: allowed, both codes and both slots, as one string (all tuples of the input);
 * `stopAtDenial` as the classifier judges (ingress SKIPPED after an egress denial).
 */
function answers(snap: RuleSnapshot, input: ReturnType<typeof judgeInput>, stopAtDenial = false): string[] {
  const { w, meta, n } = input;
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const o = k * 8, m = k * 3;
    const ok = meta[m] === 4
      ? snap.judge4(w[o]!, w[o + 4]!, meta[m + 1]!, meta[m + 2]!, stopAtDenial)
      : snap.judge6(w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!, w[o + 4]!, w[o + 5]!, w[o + 6]!, w[o + 7]!, meta[m + 1]!, meta[m + 2]!, stopAtDenial);
    out.push(`${ok} ${snap.egressCode} ${snap.ingressCode} ${snap.srcSlot} ${snap.dstSlot}`);
  }
  return out;
}

t.test('the large cluster, with and without its cluster policies: every tuple alike', async (t) => {
  const input = judgeInput(largeTuples(20_000, 0x5eed));
  const js: string[][] = [];
  const copies: WasmSnapshot[] = [];
  for (const cnp of [false, true]) {
    const snap = new CompiledEngine(buildLargeCluster(LARGE, cnp ? largeClusterPolicies() : [])).snapshot();
    const copy = wasmCopyOf(snap)!;
    t.ok(copy instanceof WasmSnapshot, 'a copy was made');
    t.equal(copy.generation, snap.generation);
    t.equal(wasmCopyOf(copy), copy, 'a copy is not copied again');
    const a = answers(snap, input), b = answers(copy, input);
    const differ = a.filter((x, i) => x !== b[i]).length;
    t.equal(differ, 0, `cluster policies ${cnp}: ${input.n} tuples, ${differ} differ`);
    t.ok(new Set(a.map((x) => x.split(' ')[1])).size > 10, 'the tuples reach many different egress codes');
    // Stopping at the egress side's denial (the classifier's new connections): the copy answers as
    // the snapshot, and as the full judgement with the ingress side skipped exactly there.
    const sa = answers(snap, input, true), sb = answers(copy, input, true);
    t.equal(sa.filter((x, i) => x !== sb[i]).length, 0, `cluster policies ${cnp}, stopping at the egress denial: the copy answers alike`);
    const skipped = a.map((x) => {
      const [ok, e, i, ...slots] = x.split(' ');
      return [ok, e, sideDenies(Number(e)) ? SIDE.SKIPPED : i, ...slots].join(' ');
    });
    t.equal(sa.filter((x, i) => x !== skipped[i]).length, 0, 'the full answers with the ingress side skipped after each egress denial');
    t.ok(sa.filter((x) => x.split(' ')[2] === String(SIDE.SKIPPED)).length > input.n / 4, 'many tuples skip their ingress side');
    js.push(a);
    copies.push(copy);
  }
  // The comparison can fail: the copy of the other snapshot differs on many tuples.
  const crossed = answers(copies[0]!, input).filter((x, i) => x !== js[1]![i]).length;
  t.ok(crossed > 1000, `a copy of the wrong snapshot differs on ${crossed} tuples`);
});

t.test('a copy that takes an earlier copy\'s memory: the earlier one retires and keeps its answers', async (t) => {
  const input = judgeInput(largeTuples(5_000, 0x5eed));
  const small = new CompiledEngine(buildLargeCluster({ ...LARGE, pods: 400, namespaces: 4 }, [])).snapshot();
  const large = new CompiledEngine(buildLargeCluster(LARGE, largeClusterPolicies())).snapshot();
  const first = wasmCopyOf(small)!;
  const before = answers(first, input);
  const second = wasmCopyOf(large, first)!;
  t.ok(first.isRetired && !second.isRetired, 'the earlier copy is retired, the new one judges');
  t.ok(second.bytes > first.bytes, `the memory grew to hold the larger cluster (${first.bytes} -> ${second.bytes} bytes)`);
  t.same(answers(second, input), answers(large, input), 'the new copy answers as its snapshot');
  t.same(answers(first, input), before, 'the retired copy answers as it did (through its JavaScript snapshot)');
  t.same(answers(first, input), answers(small, input));
  const third = wasmCopyOf(small, second)!;
  t.ok(second.isRetired && third.bytes === second.bytes, 'the same memory again, large enough as it is');
  t.same(answers(third, input), answers(small, input), 'stale words past the smaller copy are never read');
  t.same(answers(second, input), answers(large, input), 'and the second, retired, still answers as the large cluster');
});
