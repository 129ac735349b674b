// The agent's side of the verdict cache (src/enforce/verdict-cache.ts): opening it with exact
// counting wired to the observer, and emptying it for a new rule generation.
//
// Counting: each cached entry remembers the snapshot and the two side codes that allowed it; the
// cache reads its per-entry counters every second and the observer counts what they admitted as
// allowed connections of those rules (ConnectionObserver.countCached), so per-policy allow
// counts are whole. With --log-allowed the cache stays on: the connections it admits are logged
// aggregated, one line per tuple and read with `cached: N` (N more connections on the decision of
// the line the agent wrote for the first one), since the agent never sees them one by one. Who
// wants a line per connection runs --no-verdict-cache.

import { VerdictCache } from '../enforce/verdict-cache.ts';
import type { Family } from '../enforce/iptables.ts';
import type { RuleSnapshot } from '../policy/engine-api.ts';
import type { ConnectionObserver } from './observe.ts';

export function openVerdictCache(o: { families: readonly Family[]; timeoutSeconds?: number; readMs?: number; observer: ConnectionObserver; snapshot: RuleSnapshot }): Promise<VerdictCache> {
  return VerdictCache.open({
    families: o.families,
    timeoutSeconds: o.timeoutSeconds,
    readIntervalMs: o.readMs,
    context: o.snapshot,
    onCounted: (d, t, n) => o.observer.countCached(d, t, n),
  });
}

/**
 * Empties the cache before `next` judges (the entries are the previous rules' answers; their
 * counts are still read, under those rules). Returns an error to report when it could not.
 */
export function flushForGeneration(cache: VerdictCache, next: RuleSnapshot): string | undefined {
  try {
    cache.flush(next);
    return undefined;
  } catch (e) {
    // Entries expire on their own (kernelTimeout); until then the kernel may still admit
    // connections the previous rules allowed. Say so loudly.
    return `verdict cache not flushed, previous verdicts may admit connections for up to ${cache.kernelTimeoutSeconds} s: ${(e as Error).message}`;
  }
}
