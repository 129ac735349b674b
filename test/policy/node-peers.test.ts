// `nodes` peers of cluster policies at many nodes: the compiled engine matches node addresses by
// node class (node-classes.ts), one small map shared by every table, instead of one host block
// per node address. This checks it against the plain evaluator (and incremental updates against
// a fresh compile) on random clusters of 20-70 nodes over many label sets, with the corners the
// classes must get right: an address several nodes list (it matches when any of them is
// selected), node addresses inside `networks` peers and NetworkPolicy ipBlocks, IPv6 node
// addresses, a pod's own node (the node exemption), Admin and Baseline, and node changes
// (relabels, address moves, adds and deletes) and policies bringing new node selectors.
//
// Seed: PALISADE_SEED=<n> npx tap test/policy/node-peers.test.ts

import t from 'tap';
import type { ClusterPolicy, ClusterPolicyRule, LabelSelector, Node } from '../../src/cluster/model.ts';
import type { ClusterState } from '../../src/cluster/state.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import type { Connection } from '../../src/policy/decision.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { canonical } from '../../support/differential.ts';
import { randomClusterPolicy } from '../../support/random-cluster-policies.ts';
import { Rng, draws, randomCluster, stateOf } from '../../support/random-cluster.ts';

const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`node-peers seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

const KEYS = ['zone', 'role', 'rack'];
const VALUES = ['a', 'b', 'c'];

function nodeLabels(r: Rng): Record<string, string> {
  const l: Record<string, string> = {};
  for (const k of KEYS) if (r.chance(0.7)) l[k] = r.pick(VALUES);
  if (r.chance(0.3)) l['kubernetes.io/hostname'] = `h${r.int(1000)}`;
  return l;
}

function nodeSelector(r: Rng): LabelSelector {
  if (r.chance(0.15)) return { matchLabels: {}, matchExpressions: [] };
  if (r.chance(0.5)) return { matchLabels: { [r.pick(KEYS)]: r.pick(VALUES) }, matchExpressions: [] };
  return { matchLabels: {}, matchExpressions: [{ key: r.pick(KEYS), operator: r.pick(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const), values: [...new Set(r.some(VALUES, 2).concat(r.pick(VALUES)))] }] };
}

function nodeAddress(r: Rng, i: number, v6: boolean): string {
  return v6 ? `fd01::${(i + 1).toString(16)}` : `192.168.${i >> 4}.${(i & 15) + 1}`;
}

function randomNode(r: Rng, i: number, taken: readonly string[]): Node {
  const addresses = [nodeAddress(r, i, false)];
  if (r.chance(0.4)) addresses.push(nodeAddress(r, i, true));
  // An address another node lists too (a stale object and its replacement, a shared VIP).
  if (taken.length && r.chance(0.08)) addresses.push(r.pick(taken));
  return { name: `node-${i + 1}`, labels: nodeLabels(r), addresses: [...new Set(addresses)] };
}

function nodesRule(r: Rng, tier: 'Admin' | 'Baseline', addresses: readonly string[]): ClusterPolicyRule {
  const peers: ClusterPolicyRule['peers'][number][] = Array.from({ length: r.range(1, 2) }, () => ({ nodes: nodeSelector(r) }));
  // Node addresses inside networks: a node subnet, or one node's host route.
  if (r.chance(0.4)) peers.push({ networks: [r.chance(0.5) ? `192.168.${r.int(3)}.0/28` : `${r.pick(addresses)}/32`] });
  const action = r.pick(tier === 'Baseline' ? (['Accept', 'Deny'] as const) : (['Accept', 'Deny', 'Pass'] as const));
  return { name: '', action, peers, protocols: r.chance(0.5) ? [] : [{ protocol: r.pick(['TCP', 'UDP'] as const), port: r.pick([80, 443]) }] };
}

function withNodeRules(r: Rng, p: ClusterPolicy, nodeAddrs: readonly string[]): ClusterPolicy {
  const tier = p.kind === 'BaselineAdminNetworkPolicy' ? 'Baseline' : p.tier;
  const extra = Array.from({ length: r.range(1, 3) }, () => nodesRule(r, tier, nodeAddrs));
  const at = r.int(p.egress.length + 1);
  return { ...p, egress: [...p.egress.slice(0, at), ...extra, ...p.egress.slice(at)] };
}

interface World {
  readonly state: ClusterState;
  readonly nodes: Node[];
  readonly addresses: string[];
}

function world(r: Rng): World {
  const base = randomCluster(r, { clusterPolicies: 0 });
  const n = r.range(20, 70);
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) nodes.push(randomNode(r, i, nodes.flatMap((x) => x.addresses)));
  const pods = base.pods.map((p) => ({ ...p, nodeName: r.pick(nodes).name }));
  const nodeAddrs = nodes.flatMap((x) => x.addresses);
  const addresses = [...new Set([...pods.flatMap((p) => p.ips), ...nodeAddrs, ...base.outside])];
  const d = draws(addresses);
  const clusterPolicies = Array.from({ length: r.range(2, 7) }, (_, i) => {
    const kind = r.pick(['ClusterNetworkPolicy', 'ClusterNetworkPolicy', 'AdminNetworkPolicy'] as const);
    const p = randomClusterPolicy(r, `cnp${i}`, d, kind);
    return r.chance(0.8) ? withNodeRules(r, p, nodeAddrs) : p;
  });
  if (r.chance(0.5)) clusterPolicies.push(withNodeRules(r, randomClusterPolicy(r, 'default', d, 'BaselineAdminNetworkPolicy'), nodeAddrs));
  const state = stateOf({ ...base, nodes, pods, clusterPolicies });
  return { state, nodes, addresses };
}

function probe(r: Rng, w: World): Connection {
  const pods = [...w.state.pods.values()].filter((p) => p.ips.length > 0);
  const nodeAddrs = [...w.state.nodes.values()].flatMap((n) => n.addresses);
  const pod = pods.length ? r.pick(pods) : undefined;
  const podIp = pod ? r.pick(pod.ips) : r.pick(w.addresses);
  const six = podIp.includes(':');
  const sameFamily = (a: string) => a.includes(':') === six;
  const own = pod ? (w.state.nodes.get(pod.nodeName ?? "")?.addresses ?? []).filter(sameFamily) : [];
  const nodeSide = nodeAddrs.filter(sameFamily);
  const other = own.length && r.chance(0.2) ? r.pick(own) : nodeSide.length && r.chance(0.7) ? r.pick(nodeSide) : r.pick(w.addresses.filter(sameFamily).length ? w.addresses.filter(sameFamily) : w.addresses);
  const [src, dst] = r.chance(0.7) ? [podIp, other] : [other, podIp];
  return { src, dst, protocol: r.pick(['TCP', 'UDP'] as const), port: r.pick([80, 443, 8080]) };
}

/** A random change of nodes or of a cluster policy's node rules. */
function mutate(r: Rng, w: World): string {
  const nodes = [...w.state.nodes.values()];
  const k = r.int(6);
  if (k === 0 && nodes.length) {
    const n = r.pick(nodes);
    w.state.upsertNode({ ...n, labels: nodeLabels(r) });
    return `relabel ${n.name}`;
  }
  if (k === 1 && nodes.length) {
    const n = r.pick(nodes);
    w.state.upsertNode({ ...n, addresses: [r.pick(w.addresses.filter((a) => !a.includes(':')))] });
    return `readdress ${n.name}`;
  }
  if (k === 2 && nodes.length > 1) {
    const n = r.pick(nodes);
    w.state.deleteNode(n.name);
    return `delete ${n.name}`;
  }
  if (k === 3) {
    const n = randomNode(r, 100 + r.int(100), nodes.flatMap((x) => x.addresses));
    w.state.upsertNode(n);
    return `add ${n.name}`;
  }
  const cps = [...w.state.clusterPolicies.values()];
  if (cps.length === 0) return 'nothing';
  const p = r.pick(cps);
  const nodeAddrs = nodes.flatMap((x) => x.addresses);
  w.state.upsert(p.kind, withNodeRules(r, p, nodeAddrs.length ? nodeAddrs : ['192.168.0.1']));
  return `new node rules in ${p.name}`;
}

t.test('node peers: compiled engine = evaluator, incremental = fresh, at many nodes', async (t) => {
  const r = new Rng(seed);
  let probes = 0, failures = 0, sharing = 0;
  for (let c = 0; c < 12 && failures < 3; c++) {
    const w = world(r);
    const local = r.chance(0.3) ? { localNode: r.pick(w.nodes).name } : {};
    const engine = new CompiledEngine(w.state, local);
    const check = (phase: string, fresh?: CompiledEngine) => {
      for (let i = 0; i < 150 && failures < 3; i++) {
        const conn = probe(r, w);
        probes++;
        const want = canonical(evaluate(w.state, conn, local));
        const got = canonical(engine.decide(conn));
        if (want !== got) {
          failures++;
          t.fail(`seed ${seed} cluster ${c} ${phase}: ${conn.protocol} ${conn.src} -> ${conn.dst}:${conn.port}\nevaluator ${want}\ncompiled  ${got}`);
        } else if (fresh) {
          const f = canonical(fresh.decide(conn));
          if (f !== got) {
            failures++;
            t.fail(`seed ${seed} cluster ${c} ${phase}: fresh compile differs on ${conn.src} -> ${conn.dst}:${conn.port}\nfresh    ${f}\ncompiled ${got}`);
          }
        }
      }
    };
    check('initial');
    const off = w.state.onChange((changes) => engine.update(changes));
    for (let m = 0; m < 8 && failures < 3; m++) {
      const what: string[] = [];
      w.state.batch(() => {
        for (let i = r.range(1, 3); i > 0; i--) what.push(mutate(r, w));
      });
      const fresh = new CompiledEngine(w.state, local);
      // The tables with `nodes` rules share one node class map in the arena (table-layout.ts).
      const fs = fresh.stats();
      if (fs.nodeMaps !== (fs.nodeMapTables > 0 ? 1 : 0)) {
        failures++;
        t.fail(`seed ${seed} cluster ${c}: fresh compile holds ${fs.nodeMaps} node class maps for ${fs.nodeMapTables} tables`);
      }
      sharing = Math.max(sharing, fs.nodeMapTables);
      check(`after ${what.join(', ')}`, fresh);
    }
    off();
  }
  t.equal(failures, 0, `${probes} probes agree`);
  t.ok(sharing >= 2, `some compile shares a node class map between tables (up to ${sharing})`);
});
