// Sorting and merging a long list a bounded step at a time, for work that must not hold the
// agent's loop (the status file's 65,536 dns records: one Array.sort of them took about 50 ms of
// the loop that answers NFQUEUE packets). Generators: each `yield` ends a step of about `step`
// items; the caller decides when to let the loop run (status-file.ts).

/**
 * `a` and `b` (each sorted by `cmp`) merged, `a` first between equals; `a` itself when `b` is
 * empty. Where each item of `b` goes in `a` is found by doubling then halving from the last
 * place: a few new records among 65,536 listed cost a few comparisons each, not one per record.
 */
export function* mergeInSteps<T>(a: readonly T[], b: readonly T[], cmp: (x: T, y: T) => number, step: number): Generator<undefined, readonly T[]> {
  if (b.length === 0) return a;
  const out: T[] = [];
  let i = 0, work = 0;
  for (const y of b) {
    // a[i, lo) go before y; a[hi], when there is one, after it.
    let lo = i, hi = i;
    for (let d = 1; hi < a.length && cmp(a[hi], y) <= 0; d *= 2) {
      lo = hi + 1;
      hi += d;
      work++;
    }
    hi = Math.min(hi, a.length);
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (cmp(a[m], y) <= 0) lo = m + 1;
      else hi = m;
      work++;
    }
    while (i < lo) {
      out.push(a[i++]);
      if (++work >= step) {
        work = 0;
        yield undefined;
      }
    }
    out.push(y);
    if (++work >= step) {
      work = 0;
      yield undefined;
    }
  }
  while (i < a.length) {
    out.push(a[i++]);
    if (++work >= step) {
      work = 0;
      yield undefined;
    }
  }
  return out;
}

/** `items` sorted by `cmp` (a new list): runs of `step` items sorted, then merged pairwise. */
export function* sortInSteps<T>(items: readonly T[], cmp: (x: T, y: T) => number, step: number): Generator<undefined, readonly T[]> {
  let runs: (readonly T[])[] = [];
  for (let i = 0; i < items.length; i += step) {
    runs.push(items.slice(i, i + step).sort(cmp));
    yield undefined;
  }
  while (runs.length > 1) {
    const next: (readonly T[])[] = [];
    for (let i = 0; i < runs.length; i += 2) next.push(i + 1 < runs.length ? yield* mergeInSteps(runs[i], runs[i + 1], cmp, step) : runs[i]);
    runs = next;
  }
  return runs[0] ?? [];
}

/** The items of `items` that pass `keep`, in order. */
export function* filterInSteps<T>(items: readonly T[], keep: (x: T) => boolean, step: number): Generator<undefined, T[]> {
  const out: T[] = [];
  for (let i = 0; i < items.length; i += step) {
    for (let k = i; k < Math.min(items.length, i + step); k++) if (keep(items[k])) out.push(items[k]);
    yield undefined;
  }
  return out;
}
