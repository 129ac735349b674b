// Randomized: a seeded stream of API writes (create, modify, relabel, delete of every kind,
// including invalid policies) interleaved with failures (cut watches, compaction, the server
// stopping and starting). Whatever happens, once things settle the ClusterState must mirror
// exactly what the server holds, and the evaluator and the incrementally fed compiled engine
// must agree on it.

import t from 'tap';
import { mirrorDiff, node, ns, pod, policy, sleep, startHarness, verdict, waitFor } from '../support/kube-fixtures.ts';
import type { FakeKind } from '../../support/fake-apiserver.ts';
import { Rng } from '../../support/random-cluster.ts';

/** The tests' seeded generator (support/random-cluster.ts Rng), as a function. */
function rng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.next();
}

const NAMESPACES = ['x', 'y', 'z'];
const LABELS = ['a', 'b', 'c'];

for (const seed of [1, 2, 3]) {
  t.test(`seed ${seed}: the state converges to the server through writes and failures`, async (t) => {
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const h = await startHarness({
      source: { backoffInitialMs: 50, backoffMaxMs: 400, coalesceMs: 20 },
      server: { expired: seed % 2 === 0 ? 'status' : 'event' },
    });
    t.teardown(() => h.close());

    const ipOf = (nsName: string, i: number) => `10.244.${NAMESPACES.indexOf(nsName) + 1}.${10 + i}`;
    const randomPolicy = (nsName: string, name: string) => {
      if (r() < 0.15) return policy(nsName, name, { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/99' } }] }] }); // invalid
      const peer = r() < 0.5 ? { podSelector: { matchLabels: { app: pick(LABELS) } } } : { namespaceSelector: { matchLabels: { team: pick(LABELS) } } };
      return policy(nsName, name, {
        podSelector: r() < 0.3 ? {} : { matchLabels: { app: pick(LABELS) } },
        ingress: r() < 0.2 ? [] : [{ from: [peer], ports: r() < 0.5 ? [{ port: 80 }] : [] }],
        ...(r() < 0.3 ? { egress: [{ to: [peer] }] } : {}),
      });
    };

    let failures = 0;
    for (let step = 0; step < 80; step++) {
      const x = r();
      const nsName = pick(NAMESPACES);
      const i = Math.floor(r() * 4);
      if (x < 0.3) h.server.apply(pod(nsName, `p${i}`, { app: pick(LABELS) }, ipOf(nsName, i)));
      else if (x < 0.45) h.server.apply(randomPolicy(nsName, `np${i % 3}`));
      else if (x < 0.55) h.server.apply(ns(nsName, { team: pick(LABELS) }));
      else if (x < 0.6) h.server.apply(node(`node-${i % 2 + 1}`, `10.0.0.${i % 2 + 1}`));
      else if (x < 0.75) {
        const kind = pick<FakeKind>(['Pod', 'NetworkPolicy', 'Namespace', 'Node']);
        const existing = h.server.list(kind);
        if (existing.length > 0) {
          const o = pick(existing);
          h.server.remove(kind, o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);
        }
      } else if (x < 0.85) {
        const existing = h.server.list('Pod');
        if (existing.length > 0) {
          const o = pick(existing);
          h.server.relabel('Pod', `${o.metadata.namespace}/${o.metadata.name}`, { app: pick(LABELS) });
        }
      } else if (x < 0.9) {
        failures++;
        h.server.dropWatches({ graceful: r() < 0.5 });
      } else if (x < 0.95) {
        failures++;
        h.server.compact({ dropWatches: r() < 0.5 });
      } else if (x < 0.97) {
        failures++;
        await h.server.stop();
        await sleep(Math.floor(r() * 300));
        await h.server.start();
      }
      if (r() < 0.3) await sleep(Math.floor(r() * 30));
    }
    // Settle: one more change of every kind proves the watches are live, then compare.
    h.server.apply(ns('final', { team: 'a' }));
    h.server.apply(pod('final', 'f1', { app: 'a' }, '10.244.9.1'));
    h.server.apply(pod('final', 'f2', { app: 'b' }, '10.244.9.2'));
    await waitFor('settled on the server\'s state', () => h.source.isConnected && h.state.pods.has('final/f2') && mirrorDiff(h).length === 0, 20_000);
    t.same(mirrorDiff(h), [], `mirrors the server after ${failures} injected failures`);

    // Both engines agree on every pod pair (verdict() throws on disagreement).
    const ips = [...h.state.pods.values()].flatMap((p) => p.ips);
    let checked = 0;
    for (const a of ips) for (const b of ips) {
      verdict(h, a, b, 80);
      verdict(h, a, b, 443);
      checked += 2;
    }
    t.ok(checked >= 8, `${checked} verdicts, evaluator and compiled engine agree on each`);
    t.equal(h.source.status().synced, true);
  });
}
