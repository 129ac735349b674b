// What one re-store of the domainNames policies costs the agent's loop (DnsLearner.republish,
// run after each batch of DNS answers that taught something, while the pod's answer waits):
// 8,192 live records (a quarter under names the policies name), 10 cluster policies of three
// domainNames entries each (exact and wildcard). Three cases: a new record a policy names, a
// new record none names, nothing new. Prints JSON, ms a re-store (mean of `rounds`).
//   node --import tsx scripts/dns-restore-cpu.ts [rounds, default 200]

import type { ClusterPolicy } from '../src/cluster/model.ts';
import { ClusterState } from '../src/cluster/state.ts';
import { DnsLearner } from '../src/agent/dns-learner.ts';

const rounds = Number(process.argv[2] ?? 200);
const every = { matchLabels: {}, matchExpressions: [] };
const now = 1_000_000;
const state = new ClusterState();
const learner = new DnsLearner(state, () => true, {}, () => now);
state.batch(() => {
  for (let i = 0; i < 10; i++) {
    const p: ClusterPolicy = {
      kind: 'ClusterNetworkPolicy', name: `names-${i}`, tier: 'Admin', priority: i,
      subject: { pods: { namespaceSelector: every, podSelector: every } }, ingress: [],
      egress: [{ name: 'names', action: 'Accept', peers: [{ domainNames: [`api${i}.example.com`, `*.svc${i}.example.net`, `static${i}.cdn.org`] }], protocols: [] }],
    };
    state.upsert('ClusterNetworkPolicy', p);
  }
});
for (let i = 0; i < 8192; i++) {
  const name = i % 4 === 0 ? `api${i % 10}.example.com` : i % 4 === 1 ? `h${i}.svc${i % 10}.example.net` : `other${i}.example.org`;
  learner.store.learn(`10.1.${i >> 9}.1`, `198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, [name], '10.96.0.10', 300, now);
}
learner.republish();

let k = 0;
function msPer(f: () => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) f();
  return Math.round(Number(process.hrtime.bigint() - t0) / 1e3 / rounds) / 1e3;
}
const named = msPer(() => { learner.store.learn('10.1.0.1', `203.0.${(k >> 8) & 255}.${k++ & 255}`, ['api3.example.com'], '10.96.0.10', 300, now); learner.republish(); });
const unnamed = msPer(() => { learner.store.learn('10.1.0.1', `203.1.${(k >> 8) & 255}.${k++ & 255}`, ['other.example.org'], '10.96.0.10', 300, now); learner.republish(); });
const nothing = msPer(() => learner.republish());
process.stdout.write(JSON.stringify({ records: learner.store.size, policies: state.clusterPolicies.size, rounds, ms_new_named_record: named, ms_new_unnamed_record: unnamed, ms_nothing_new: nothing }, null, 2) + '\n');
learner.close();
