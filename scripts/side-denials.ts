// Which side decides the bench's new connections, on the large cluster without and with its
// cluster policies (bench/large-cluster-policies.ts): of the 100,000 tuples `classify-large`
// replays, how many are allowed, how many each side denies, and how many sides have a tier
// walk when both are judged and when the judgement stops at the egress side's denial (as the
// classifier's does, engine-api.ts stopAtDenial). Without cluster policies every walked side is
// exactly one table lookup (the NetworkPolicy table), so the last two are lookups per packet.
//   node --import tsx scripts/side-denials.ts

import { CompiledEngine } from '../src/policy/compiler.ts';
import { buildLargeCluster, LARGE } from '../bench/large-cluster.ts';
import { largeClusterPolicies } from '../bench/large-cluster-policies.ts';
import { judgeInput, largeTuples } from '../bench/suite.ts';
import { SIDE, sideDenies, sideJudged, type RuleSnapshot } from '../src/policy/engine-api.ts';

/** Does the side's pod have a table word in some tier (a walk ran), as judgesSide says? */
function walked(snap: RuleSnapshot, code: number, slot: number, dir: 'egress' | 'ingress'): boolean {
  return sideJudged(code) && slot >= 0 && snap.judgesSide!(slot, dir) && code !== SIDE.SELF;
}

const input = judgeInput(largeTuples(100_000, 0x5eed));
for (const cnp of [false, true]) {
  const snap = new CompiledEngine(buildLargeCluster(LARGE, cnp ? largeClusterPolicies() : [])).snapshot();
  const n = { packets: input.n, allowed: 0, egressDenies: 0, ingressDenies: 0, bothDeny: 0, walkedSidesFull: 0, walkedSidesStopped: 0 };
  const { w, meta } = input;
  for (let k = 0; k < input.n; k++) {
    const o = k * 8, m = k * 3;
    for (const stop of [false, true]) {
      const ok = meta[m] === 4
        ? snap.judge4(w[o]!, w[o + 4]!, meta[m + 1]!, meta[m + 2]!, stop)
        : snap.judge6(w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!, w[o + 4]!, w[o + 5]!, w[o + 6]!, w[o + 7]!, meta[m + 1]!, meta[m + 2]!, stop);
      const sides = (walked(snap, snap.egressCode, snap.srcSlot, 'egress') ? 1 : 0) + (walked(snap, snap.ingressCode, snap.dstSlot, 'ingress') ? 1 : 0);
      if (stop) { n.walkedSidesStopped += sides; continue; }
      n.walkedSidesFull += sides;
      const e = sideDenies(snap.egressCode), i = sideDenies(snap.ingressCode);
      if (ok) n.allowed++;
      if (e) n.egressDenies++;
      if (i) n.ingressDenies++;
      if (e && i) n.bothDeny++;
    }
  }
  console.log(JSON.stringify({ clusterPolicies: cnp, ...n, walkedSidesPerPacketFull: +(n.walkedSidesFull / n.packets).toFixed(3), walkedSidesPerPacketStopped: +(n.walkedSidesStopped / n.packets).toFixed(3) }));
}
