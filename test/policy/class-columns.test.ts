// New selector classes written into an image's room (table-growth.ts, appendColumns): a table
// whose new identities each make a new class is re-encoded with room at its first new class (a
// fresh build has none), then takes the classes' columns and verdict rows in place while the
// room lasts, then is re-encoded with new room; every answer, of the current
// snapshot and of snapshots published before (which share the arena's memory), stays exact.

import t from 'tap';
import type { Pod } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { decideOn } from '../../src/policy/decide.ts';
import { evaluate } from '../../src/policy/evaluator.ts';

t.test('new classes take the room for columns in place, then a re-encode; old snapshots answer as before', async (t) => {
  const sel = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });
  const pod = (name: string, ip: string, labels: Record<string, string>): Pod => ({
    namespace: 'a', name, labels, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips: [ip], ports: [],
  });
  const K = 8;
  const state = new ClusterState();
  state.batch(() => {
    state.upsertNamespace({ name: 'a', labels: {} });
    state.upsertPod(pod('web', '10.0.0.1', { app: 'web' }));
    // One pod per rule: the table starts with K + 1 classes (room for 2 more columns).
    for (let i = 0; i < K; i++) state.upsertPod(pod(`p${i}`, `10.0.1.${i}`, { [`k${i}`]: 'y' }));
    state.upsertPolicy({
      namespace: 'a', name: 'web', podSelector: sel({ app: 'web' }), policyTypes: { ingress: false, egress: true }, ingress: [],
      egress: Array.from({ length: K }, (_, i) => ({ peers: [{ podSelector: sel({ [`k${i}`]: 'y' }) }], ports: [{ protocol: 'TCP' as const, port: 1000 + i }] })),
    });
  });
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  const built = e.stats().tablesBuilt;
  const conns = (ips: readonly string[]) => ips.flatMap((dst) => Array.from({ length: K + 1 }, (_, q) => ({ src: '10.0.0.1', dst, protocol: 'TCP' as const, port: 1000 + q })));
  const ips = ['10.0.0.1', ...Array.from({ length: K }, (_, i) => `10.0.1.${i}`)];
  let wrong = 0, oldWrong = 0, checked = 0, inPlace = 0, reencoded = 0;
  const olds: { snap: ReturnType<CompiledEngine['snapshot']>; want: string[]; ips: string[] }[] = [];
  // Each new pod matches two rules: a combination no class has, answering unlike any class.
  for (let i = 0; i < K; i++) {
    for (let j = i + 1; j < K && ips.length < 30; j++) {
      const snap = e.snapshot();
      olds.push({ snap, ips: [...ips], want: conns(ips).map((c) => JSON.stringify(decideOn(snap, c))) });
      const s0 = e.stats();
      const ip = `10.0.2.${ips.length}`;
      state.upsertPod(pod(`q${i}-${j}`, ip, { [`k${i}`]: 'y', [`k${j}`]: 'y' }));
      ips.push(ip);
      const s1 = e.stats();
      if (s1.tablesExtendedInPlace > s0.tablesExtendedInPlace && s1.tableBytes === s0.tableBytes) inPlace++;
      if (s1.tablesExtended > s0.tablesExtended && s1.tableBytes !== s0.tableBytes) reencoded++;
      for (const c of conns(ips)) {
        checked++;
        if (JSON.stringify(e.decide(c)) !== JSON.stringify(evaluate(state, c))) wrong++;
      }
      // Every snapshot published so far still answers for the pods it knew as it did then.
      for (const o of olds) {
        const got = conns(o.ips).map((c) => JSON.stringify(decideOn(o.snap, c)));
        for (let k = 0; k < got.length; k++) if (got[k] !== o.want[k]) oldWrong++;
      }
    }
  }
  t.equal(e.stats().tablesBuilt, built, 'no table was rebuilt');
  t.ok(inPlace >= 5, `new classes written in place (${inPlace} additions)`);
  t.ok(reencoded >= 1, `and re-encoded first and when the room ran out (${reencoded} additions)`);
  t.equal(wrong, 0, `${checked} connections agree with the evaluator after each addition`);
  t.equal(oldWrong, 0, 'published snapshots answer as they did');
});
