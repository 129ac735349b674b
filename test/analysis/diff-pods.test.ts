// diff against the plain evaluator, pod pair by pod pair (a table of cases, then random policy
// changes on random clusters): every connection between two pods whose
// verdict differs before and after (on the sampled ports) must be in a change that covers those
// two pods and that port, and no change may cover a pod pair and port whose verdict is the same.
// The cases are the ones where a group's replicas are told apart by an ipBlock (an edge split by
// address) on one side or both: diff compared only the union of the variants' ports, so a policy
// closing a connection for one replica while another kept it went unreported (exit 0), and one
// opening a port for one replica was reported for the whole group.

import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOLS } from '../../src/cluster/model.ts';
import type { ClusterView } from '../../src/cluster/state.ts';
import { diffConnectivity, type ConnectivityDiff } from '../../src/analysis/diff.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { loadManifests } from '../../src/sources/manifests.ts';
import { podKey, type Family } from '../../src/cluster/model.ts';
import type { ClusterState } from '../../src/cluster/state.ts';
import { parseIP } from '../../src/net/address.ts';
import { Rng, randomCluster, stateOf, withReplicas, type RandomCluster } from '../../support/random-cluster.ts';

const pod = (name: string, app: string, ip: string) => `---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: ${name}, labels: {app: ${app}}}
spec: {containers: [{name: c, image: x}]}
status: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;

/** Two groups of two replicas (web, api) and a lone db. */
const PODS: Record<string, string> = { 'shop/web-a': '10.0.0.1', 'shop/web-b': '10.0.1.1', 'shop/api-a': '10.0.3.1', 'shop/api-b': '10.0.4.1', 'shop/db': '10.0.2.1' };

const policy = (name: string, app: string, spec: string) => `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: shop, name: ${name}}
spec:
  podSelector: {matchLabels: {app: ${app}}}
${spec}
`;

function view(policies: string): ClusterView {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-diff-pods-'));
  const pods = Object.entries(PODS).map(([k, ip]) => {
    const name = k.slice('shop/'.length);
    return pod(name, name.replace(/-[ab]$/, ''), ip);
  });
  writeFileSync(join(dir, 'cluster.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n${pods.join('')}${policies}`);
  const { state } = loadManifests([dir]);
  rmSync(dir, { recursive: true });
  return state;
}

const PORTS = [1, 80, 5432, 6379, 65535];

/** "src dst TCP/80" for every pod pair and sampled port whose verdict differs. */
function truth(before: ClusterView, after: ClusterView): string[] {
  const out: string[] = [];
  for (const [a, ia] of Object.entries(PODS)) {
    for (const [b, ib] of Object.entries(PODS)) {
      if (a === b) continue;
      for (const protocol of PROTOCOLS) {
        for (const port of PORTS) {
          const c = { src: ia, dst: ib, protocol, port };
          if (evaluate(before, c).allowed !== evaluate(after, c).allowed) out.push(`${a} ${b} ${protocol}/${port}`);
        }
      }
    }
  }
  return out.sort();
}

/** The same, as the diff says it: each change's pods (all the endpoint's unless it names some) on its opened and closed ports. */
function claimed(d: ConnectivityDiff, ports: readonly number[] = PORTS): string[] {
  const members = (id: string) => [...d.after.endpoints, ...d.before.endpoints].find((e) => e.id === id)?.pods ?? [];
  const out = new Set<string>();
  for (const c of d.changes) {
    const from = c.pods?.from ?? members(c.from), to = c.pods?.to ?? members(c.to);
    for (const a of from) {
      for (const b of to) {
        if (a === b) continue;
        for (const protocol of PROTOCOLS) {
          for (const port of ports) {
            if ([...c.opened[protocol], ...c.closed[protocol]].some((r) => r.from <= port && port <= r.to)) out.add(`${a} ${b} ${protocol}/${port}`);
          }
        }
      }
    }
  }
  return [...out].sort();
}

const DB_FROM_WEB = policy('db', 'db', '  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]');
const DB_FROM_WEB_A = policy('db', 'db', '  ingress: [{from: [{ipBlock: {cidr: 10.0.0.1/32}}]}]');

const CASES: [string, string, string][] = [
  ['db admits web by label, then by the address of one replica: web-b -> db closes', DB_FROM_WEB, DB_FROM_WEB_A],
  ['the reverse: web-b -> db opens', DB_FROM_WEB_A, DB_FROM_WEB],
  ['a port opened for one replica only', policy('db', 'db', '  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]'),
    policy('db', 'db', '  ingress:\n  - {from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}\n  - {from: [{ipBlock: {cidr: 10.0.0.0/24}}], ports: [{port: 6379}]}')],
  ['one replica admitted before, the other after (the union is the same)', DB_FROM_WEB_A, policy('db', 'db', '  ingress: [{from: [{ipBlock: {cidr: 10.0.1.0/24}}]}]')],
  ['a group with itself: web admits web-a only', '', policy('web', 'web', '  ingress: [{from: [{ipBlock: {cidr: 10.0.0.1/32}}]}]')],
  ['egress to one replica of another group', '', policy('web', 'web', '  policyTypes: [Egress]\n  egress: [{to: [{ipBlock: {cidr: 10.0.3.0/24}}], ports: [{port: 80}]}]')],
  ['split on both ends, by both sides', policy('api', 'api', '  ingress: [{from: [{ipBlock: {cidr: 10.0.1.0/24}}]}]'),
    policy('web', 'web', '  policyTypes: [Egress]\n  egress: [{to: [{ipBlock: {cidr: 10.0.4.0/24}}], ports: [{port: 80, protocol: UDP}]}]')],
  ['no group told apart: a default deny on db', '', policy('db', 'db', '  policyTypes: [Ingress]')],
  ['nothing changes', DB_FROM_WEB_A, DB_FROM_WEB_A],
];

for (const [name, before, after] of CASES) {
  t.test(name, async (t) => {
    const b = view(before), a = view(after);
    const d = diffConnectivity(b, a);
    t.same(claimed(d), truth(b, a), 'the pod pairs and ports the diff reports are exactly those whose verdict changed');
  });
}

// Random clusters: the same pods (with replicas, some on another node) before and after, half
// the policies of each side drawn from another random cluster. PALISADE_SEED=<n> reproduces.
const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;

const RANDOM_PORTS = [1, 52, 53, 54, 79, 80, 81, 82, 443, 5000, 8080, 9090, 65535];

t.test(`random policy changes: diff = evaluator on every pod pair (seed ${seed})`, async (t) => {
  const wrong: string[] = [];
  let changes = 0, partial = 0;
  for (let c = 0; c < 12 && wrong.length === 0; c++) {
    const r = new Rng((seed + c * 7919) >>> 0);
    const base = randomCluster(r), other = randomCluster(r);
    const half = <T>(xs: readonly T[], keep: number) => xs.filter((_, i) => i % 2 === keep);
    const side = (k: number): ClusterState => {
      const x: RandomCluster = { ...base, policies: [...half(base.policies, k), ...half(other.policies, k)], clusterPolicies: [...half(base.clusterPolicies, k), ...half(other.clusterPolicies, k)] };
      const state = stateOf(x);
      withReplicas(new Rng((seed + c) >>> 0), state, 1);
      return state;
    };
    const before = side(0), after = side(1);
    for (const family of ['IPv4', 'IPv6'] as Family[]) {
      const d = diffConnectivity(before, after, { family });
      changes += d.changes.length;
      partial += d.changes.filter((x) => x.pods).length;
      const inModel = new Set(d.after.endpoints.flatMap((e) => e.pods ?? []));
      const pods = [...after.pods.values()].filter((p) => inModel.has(podKey(p)));
      const ip = (p: (typeof pods)[number]) => p.ips.find((a) => parseIP(a)?.family === family)!;
      const truth: string[] = [];
      for (const a of pods) {
        for (const b of pods) {
          if (a === b) continue;
          for (const protocol of PROTOCOLS) {
            for (const port of RANDOM_PORTS) {
              const x = { src: ip(a), dst: ip(b), protocol, port };
              if (evaluate(before, x).allowed !== evaluate(after, x).allowed) truth.push(`${podKey(a)} ${podKey(b)} ${protocol}/${port}`);
            }
          }
        }
      }
      const said = new Set(claimed(d, RANDOM_PORTS));
      const want = new Set(truth);
      for (const x of want) if (!said.has(x)) wrong.push(`cluster ${c} ${family}: not reported: ${x}`);
      for (const x of said) if (!want.has(x)) wrong.push(`cluster ${c} ${family}: reported, unchanged: ${x}`);
    }
  }
  t.comment(`${changes} changes, ${partial} between some pods of their endpoints only`);
  t.same(wrong.slice(0, 5), [], `seed ${seed}: diff agrees with the evaluator`);
});
