// The verdict log words each side as explain and verify do: a user who searches a log line's
// phrase in `palisade explain` output (or the other way round) must find it. For connections
// whose sides between them have every side reason, the compiled engine judges as the agent does
// and the log line's phrase after its lead ("egress of ns/pod") must be vocabulary's sideText of
// the evaluator's decision for the same connection.

import t from 'tap';
import { loadManifests } from '../../src/sources/manifests.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import type { SideDecision } from '../../src/policy/decision.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { SIDE } from '../../src/policy/engine-api.ts';
import { IPPROTO_TCP } from '../../src/cluster/model.ts';
import { parseIP } from '../../src/net/address.ts';
import { describeConnection, type JudgedConnection } from '../../src/agent/verdict-log.ts';
import { sideText } from '../../src/cli/vocabulary.ts';
import { clusterPolicyDir } from '../cli/cluster-policy-fixture.ts';

const state = loadManifests([clusterPolicyDir()]).state;

/** The kind of a side's reason as the brief of this test names them (a rule allowing and denying are two). */
const kindOf = (d: SideDecision) => (d.reason === 'rule' ? (d.allowed ? 'rule allow' : 'rule deny') : d.reason);
const KINDS = ['rule allow', 'rule deny', 'no-rule', 'not-isolated', 'node', 'self', 'not-a-pod'];

// [src, dst, port]: pods by address (cluster-policy-fixture.ts), a node (172.18.0.4, node-b),
// an outside host (192.0.2.9).
const ROWS: [string, string, number][] = [
  ['10.244.1.10', '10.244.2.10', 5432], // app/web -> db/pg: NetworkPolicy rules allow both sides
  ['10.244.1.11', '10.244.2.10', 5432], // app/batch -> db/pg: Baseline and Admin rules deny
  ['10.244.1.10', '10.244.3.10', 80], // app/web -> ops/mon: isolated, no rule allows
  ['10.244.1.10', '172.18.0.3', 22], // app/web -> its own node
  ['10.244.1.10', '10.244.1.10', 8080], // app/web to itself
  ['192.0.2.9', '10.244.3.10', 80], // an outside host -> ops/mon, not isolated for ingress
  ['172.18.0.4', '10.244.3.10', 80], // a node -> ops/mon
];

const v4 = (ip: string) => parseIP(ip)!.words[0]!;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

t.test('the verdict log words each side reason as vocabulary\'s sideText does', async (t) => {
  const snap = new CompiledEngine(state).snapshot();
  const seen = new Set<string>();
  for (const [src, dst, port] of ROWS) {
    const d = evaluate(state, { src, dst, protocol: 'TCP', port });
    snap.judge4(v4(src), v4(dst), IPPROTO_TCP, port);
    const c: JudgedConnection = { src, dst, proto: IPPROTO_TCP, port, egressCode: snap.egressCode, ingressCode: snap.ingressCode, srcSlot: snap.srcSlot, dstSlot: snap.dstSlot };
    const line = describeConnection(snap, c, new Date(0));
    t.equal(line.verdict, d.allowed ? 'allow' : 'deny', `${src} -> ${dst}:${port}: the engines agree`);
    for (const [dir, side, pod] of [['egress', d.egress, d.srcPod], ['ingress', d.ingress, d.dstPod]] as const) {
      // A denied line names the denied sides only.
      if (!d.allowed && side.allowed) continue;
      const lead = pod ? `${dir} of ${pod}` : dir;
      // The side's text runs from its lead to the next side's lead or the end.
      const text = new RegExp(`(?:^|; (?:and )?)(${esc(lead)}.*?)(?:; (?:and )?ingress\\b|$)`).exec(line.reason)?.[1];
      t.equal(text, `${lead}: ${sideText(side)}`, `${src} -> ${dst}:${port}, ${dir} (${kindOf(side)}): ${line.reason}`);
      seen.add(kindOf(side));
    }
  }
  t.same([...seen].sort(), [...KINDS].sort(), 'every side reason was compared');
});

t.test('a pod side the agent has no judgement for is not called "not a pod" in the verdict log', async (t) => {
  // [what, node-a's agent or every pod local, the egress code as handed over, the phrase]
  const cases: [string, string | undefined, number | undefined, RegExp][] = [
    // ops/mon is on node-b: node-a's agent does not judge its ingress.
    ['another node\'s pod', 'node-a', undefined, /; ingress of ops\/mon: not judged: another node's pod, judged on its own node$/],
    // A kernel admission (admit-entries.ts) hands over NOT_JUDGED for its source's egress.
    ['a kernel admission', undefined, SIDE.NOT_JUDGED, /^egress of app\/web: not judged: the kernel admitted it on the ingress side alone; /],
  ];
  for (const [what, localNode, egressCode, want] of cases) {
    const snap = new CompiledEngine(state, localNode === undefined ? {} : { localNode }).snapshot();
    snap.judge4(v4('10.244.1.10'), v4('10.244.3.10'), IPPROTO_TCP, 80);
    const c: JudgedConnection = { src: '10.244.1.10', dst: '10.244.3.10', proto: IPPROTO_TCP, port: 80, egressCode: egressCode ?? SIDE.NOT_ISOLATED, ingressCode: snap.ingressCode, srcSlot: snap.srcSlot, dstSlot: snap.dstSlot };
    const line = describeConnection(snap, c, new Date(0));
    t.match(line.reason, want, what);
    t.notMatch(line.reason, /not a pod/, what);
  }
});
