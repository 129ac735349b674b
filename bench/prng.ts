// The benchmarks' deterministic randomness: xorshift32, so a seed gives the same cluster and the
// same traffic on every run (figures from different runs then differ by the machine alone).

export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}
