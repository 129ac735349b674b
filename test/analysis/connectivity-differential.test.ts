// The connectivity model against the plain evaluator: on random clusters (every policy feature,
// cluster policies in half of them, replicas so groups have several members), every endpoint
// pair is judged by the model; then sampled connections between random MEMBERS of the two
// endpoints (any two pods of a group, any outside address of a block, each pod's own node) on
// sampled ports (every run's ends and their neighbours, and random ports) must get the
// evaluator's verdict and the evaluator's side decisions (reason, policies, deciding rule).
// PALISADE_SEED=<n> reproduces a run.

import t from 'tap';
import { podIsSelectable } from '../../src/policy/spec-facts.ts';
import type { Family, Pod, Protocol } from '../../src/cluster/model.ts';
import { PROTOCOLS, podKey } from '../../src/cluster/model.ts';
import type { ClusterState } from '../../src/cluster/state.ts';
import { cidrContains, parseCIDR, parseIP } from '../../src/net/address.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { ConnectivityAnalysis, type Edge, type EdgePart, type Endpoint } from '../../src/analysis/connectivity.ts';
import { canonical } from '../../support/differential.ts';
import { Rng, randomCluster, stateOf, withReplicas } from '../../support/random-cluster.ts';

const CLUSTERS = Number(process.env.PALISADE_CLUSTERS ?? 12);
const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`connectivity seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

function members(e: Endpoint, state: ClusterState): Pod[] {
  return (e.pods ?? []).map((k) => state.pods.get(k)!);
}

function addressIn(p: Pod, family: Family): string {
  return p.ips.find((a) => parseIP(a)?.family === family)!;
}

function inBlock(e: Endpoint, ip: string): boolean {
  const a = parseIP(ip)!;
  return cidrContains(parseCIDR(e.cidr!)!, a) && !e.except!.some((x) => cidrContains(parseCIDR(x)!, a));
}

/** Concrete (src, dst) address pairs standing for the endpoint pair. */
function concretePairs(r: Rng, state: ClusterState, a: Endpoint, b: Endpoint, family: Family, outside: readonly string[]): [string, string][] {
  const pick = (e: Endpoint, other: Endpoint, asSrc: boolean): { addr: () => string | undefined } => {
    if (e.kind === 'external') {
      const pool = [e.address!, ...outside.filter((o) => parseIP(o)?.family === family && inBlock(e, o))];
      return { addr: () => r.pick(pool) };
    }
    return { addr: () => (e.pods ? addressIn(r.pick(members(e, state)), family) : undefined) };
  };
  const out: [string, string][] = [];
  for (let i = 0; i < 3; i++) {
    if (a.kind === 'node' || b.kind === 'node') {
      const g = a.kind === 'node' ? b : a;
      const p = r.pick(members(g, state));
      const node = state.nodes.get(p.nodeName!)!.addresses.find((x) => parseIP(x)?.family === family)!;
      // The generator lets a (non-host-network) pod claim an address that is also its node's;
      // there the address is that pod's, not the node's, and the model's `node` endpoint (the
      // node itself) does not stand for it. Real clusters give pods and nodes distinct addresses.
      if ([...state.pods.values()].some((q) => podIsSelectable(q) && q.ips.includes(node))) continue;
      out.push(a.kind === 'node' ? [node, addressIn(p, family)] : [addressIn(p, family), node]);
      continue;
    }
    if (a.id === b.id) {
      const ms = members(a, state);
      const x = r.int(ms.length);
      const y = (x + 1 + r.int(ms.length - 1)) % ms.length;
      out.push([addressIn(ms[x]!, family), addressIn(ms[y]!, family)]);
      continue;
    }
    out.push([pick(a, b, true).addr()!, pick(b, a, false).addr()!]);
  }
  return out;
}

/** The edge, or its variant covering the two pods when it is split. */
function caseOf(e: Edge, srcPod: string | undefined, dstPod: string | undefined): Pick<Edge, 'ports' | 'parts'> | undefined {
  if (!e.split) return e;
  return e.split.find((v) => v.fromPods.includes(srcPod!) && v.toPods.includes(dstPod!));
}

function partFor(e: Pick<Edge, 'parts'>, protocol: Protocol, port: number): EdgePart | undefined {
  return e.parts.find((p) => p.protocol === protocol && p.ranges.some((x) => x.from <= port && port <= x.to));
}

function samplePorts(r: Rng, e: Edge, protocol: Protocol): number[] {
  const s = new Set<number>([1, 65535, 1 + r.int(65535)]);
  for (const p of [...e.parts, ...(e.split ?? []).flatMap((v) => v.parts)]) {
    if (p.protocol !== protocol) continue;
    for (const x of p.ranges) for (const v of [x.from, x.to, x.from - 1, x.to + 1, x.from + r.int(x.to - x.from + 1)]) if (v >= 1 && v <= 65535) s.add(v);
  }
  return [...s];
}

t.test('connectivity = evaluator on members of every endpoint pair, sampled ports', async (t) => {
  let checks = 0, splits = 0, pairs = 0, grouped = 0, externals = 0, nodes = 0;
  const mismatches: string[] = [];
  const covered = () => checks > 10000 && grouped > 100 && splits > 5 && externals > 100 && nodes > 50;
  // Address-split pairs are rare in random clusters (1 to 150 over CLUSTERS clusters, by seed):
  // a seed that falls short draws more clusters rather than failing the coverage floor below.
  let c = 0;
  for (; (c < CLUSTERS || (!covered() && c < CLUSTERS * 4)) && mismatches.length < 5; c++) {
    const r = new Rng((seed + c * 7919) >>> 0);
    const cluster = randomCluster(r);
    const state = stateOf(cluster);
    withReplicas(r, state);
    for (const family of ['IPv4', 'IPv6'] as const) {
      const an = new ConnectivityAnalysis(state, { family });
      const eps = an.result.endpoints;
      const listed = new Map(an.result.edges.map((e) => [`${e.from}\u0000${e.to}`, e]));
      for (const a of eps) {
        for (const b of eps) {
          const e = an.pair(a.id, b.id);
          if (!e) continue;
          pairs++;
          const hasAllowed = PROTOCOLS.some((p) => e.ports[p].length > 0);
          if (hasAllowed !== listed.has(`${a.id}\u0000${b.id}`)) mismatches.push(`cluster ${c} ${family}: ${a.id} -> ${b.id} edge listing disagrees with pair()`);
          if ((a.pods?.length ?? 0) > 1 || (b.pods?.length ?? 0) > 1) grouped++;
          if (a.kind === 'external' || b.kind === 'external') externals++;
          if (a.kind === 'node' || b.kind === 'node') nodes++;
          if (e.split) splits++;
          for (const [src, dst] of concretePairs(r, state, a, b, family, cluster.outside)) {
            const owner = (ip: string) => [...state.pods.values()].find((p) => p.ips.includes(ip) && (a.pods?.includes(podKey(p)) || b.pods?.includes(podKey(p))));
            const k = caseOf(e, owner(src) && podKey(owner(src)!), owner(dst) && podKey(owner(dst)!));
            if (!k) {
              mismatches.push(`cluster ${c} ${family}: ${a.id} -> ${b.id}: no variant covers ${src} -> ${dst}`);
              continue;
            }
            for (const protocol of PROTOCOLS) {
              for (const port of samplePorts(r, e, protocol)) {
                checks++;
                const d = evaluate(state, { src, dst, protocol, port });
                const part = partFor(k, protocol, port);
                const inSet = k.ports[protocol].some((x) => x.from <= port && port <= x.to);
                if (!part || d.allowed !== inSet || d.allowed !== part.allowed || canonical(d.egress) !== canonical(part.egress) || canonical(d.ingress) !== canonical(part.ingress)) {
                  mismatches.push(`cluster ${c} ${family}: ${a.id} -> ${b.id} as ${src} -> ${dst} ${protocol}/${port}: evaluator ${canonical(d)}, model ${inSet} ${canonical(part)}`);
                }
              }
            }
          }
        }
      }
      // Every pod the model leaves out is one policy ignores or that has no address of the family.
      const inModel = new Set(eps.flatMap((e) => e.pods ?? []));
      for (const p of state.pods.values()) {
        if (!inModel.has(podKey(p)) && !an.result.leftOut.some((l) => l.pod === podKey(p))) mismatches.push(`cluster ${c} ${family}: pod ${podKey(p)} neither an endpoint nor left out`);
      }
    }
  }
  t.comment(`${c} clusters: ${checks} sampled connections over ${pairs} endpoint pairs (${grouped} with a group, ${splits} split by address, ${externals} external, ${nodes} node)`);
  for (const m of mismatches.slice(0, 5)) t.fail(`seed ${seed}: ${m}`);
  t.equal(mismatches.length, 0, 'no mismatches');
  t.ok(covered(), 'every kind of endpoint was exercised');
});
