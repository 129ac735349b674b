// The name store's lookups against the plain reading of them: every live record (list) whose
// names a DomainName pattern matches (domainNameMatches). Random records, names, wildcards,
// caps and expiries; the store's indexes must give the same addresses at every step.

import t from 'tap';
import { NameStore, type NameRecord } from '../../src/dataplane/name-store.ts';
import { domainNameMatches } from '../../src/policy/domain-names.ts';

/** Small deterministic generator (mulberry32), so a failure replays from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

// Few labels, so names share suffixes and patterns hit; odd ones ('' makes "a..b", "Cdn" case,
// "*" a literal label) because the store also holds names read back from status files.
const LABELS = ['a', 'b', 'cdn', 'Cdn', 'example', 'com', 'x-y', '', '*'];

function scan(store: NameStore, patterns: readonly string[], now: number): string[] {
  const live = store.list(now).filter((r: NameRecord) => r.names.some((n) => patterns.some((p) => domainNameMatches(p, n))));
  return [...new Set(live.map((r) => r.address))].sort();
}

t.test('addressesFor gives what a scan of the live records gives', async (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const name = (): string => {
      const n = Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(LABELS)).join('.');
      return r() < 0.1 ? `${n}.` : n;
    };
    const pattern = (): string => (r() < 0.5 ? `*.${name()}` : name());
    const store = new NameStore({ minTtl: 1, maxTtl: 20, perPod: 1 + Math.floor(r() * 30), total: 1 + Math.floor(r() * 60) });
    let now = 1_000_000;
    let mismatches = 0;
    for (let step = 0; step < 300; step++) {
      const op = r();
      if (op < 0.7) {
        const chain = Array.from({ length: 1 + Math.floor(r() * 3) }, name);
        store.learn(`10.0.0.${Math.floor(r() * 5)}`, `192.0.2.${Math.floor(r() * 40)}`, chain, '10.96.0.10', Math.floor(r() * 25), now);
      } else if (op < 0.8) {
        now += Math.floor(r() * 8000);
      } else if (op < 0.9) {
        store.expire(now);
      } else if (op < 0.93) {
        store.dropPod(`10.0.0.${Math.floor(r() * 5)}`);
      }
      const patterns = Array.from({ length: 1 + Math.floor(r() * 3) }, pattern);
      const at = now + Math.floor(r() * 10000) - 2000;
      const got = [...store.addressesFor(patterns, at)].sort();
      const want = scan(store, patterns, at);
      if (got.join() !== want.join()) {
        mismatches++;
        t.same(got, want, `seed ${seed} step ${step}: ${JSON.stringify(patterns)} at +${at - now} ms`);
      }
    }
    t.equal(mismatches, 0, `seed ${seed}: every lookup agrees with the scan`);
  }
});
