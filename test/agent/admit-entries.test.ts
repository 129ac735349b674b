// Kernel admission entries (src/agent/admit-entries.ts) against the engine that enforces: on
// random clusters (every policy feature, cluster policies in half of them), a connection the
// entries admit, read the way the kernel reads a hash:ip,port,net set (the longest source prefix
// present decides, `nomatch` fails the lookup), must be one the engine allows, with the ingress
// code the entry counts it under. Probes: every pod, node and outside address, random addresses
// inside every entry's source network, on the ports at and next to every entry's ends and the
// generator's port numbers. Only connections that can reach PALISADE-ADMIT are probed: not from
// a local pod judged for egress (queued before), not a pod to itself.
// PALISADE_SEED=<n> reproduces a run.

import t from 'tap';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { admitEntries, entryText, type AdmitResult } from '../../src/agent/admit-entries.ts';
import type { AdmitEntry, ReturnEntry } from '../../src/enforce/admit-sets.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import type { ClusterView } from '../../src/cluster/state.ts';
import { parseIP, type ParsedIP } from '../../src/net/address.ts';
import { bigToIP, ipToBig } from '../../src/analysis/address-blocks.ts';
import type { RuleSnapshot } from '../../src/policy/engine-api.ts';
import { Rng, randomCluster, stateOf } from '../../support/random-cluster.ts';

const CLUSTERS = Number(process.env.PALISADE_CLUSTERS ?? 100);
const envSeed = process.env.PALISADE_SEED;
const seed = envSeed !== undefined && envSeed !== '' ? Number(envSeed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
t.comment(`admit-entries seed ${seed} (reproduce with PALISADE_SEED=${seed})`);

const NODE = 'node-1';

function build(view: ClusterView, snap: RuleSnapshot, o: { maxEntries?: number; maxJudges?: number } = {}): AdmitResult {
  const g = admitEntries({ snap, view, node: NODE, families: [4, 6], maxEntries: o.maxEntries ?? 1 << 20, maxJudges: o.maxJudges ?? 1e9, slice: 64 });
  for (;;) {
    const s = g.next();
    if (s.done) return s.value;
  }
}

const big = (ip: ParsedIP): bigint => ipToBig(ip);
const bits = (f: 4 | 6) => (f === 4 ? 32 : 128);
const wordsBig = (w: readonly number[]): bigint => ipToBig({ family: w.length === 1 ? 'IPv4' : 'IPv6', words: [...w] });

/** The kernel's answer: the entry that admits src -> dst:proto/port, or undefined. */
function kernelLookup(entries: readonly AdmitEntry[], src: ParsedIP, dst: ParsedIP, proto: number, port: number): AdmitEntry | undefined {
  const f = src.family === 'IPv4' ? 4 : 6;
  const s = big(src), d = big(dst);
  let best: AdmitEntry | undefined;
  for (const e of entries) {
    if (e.family !== f || e.proto !== proto || port < e.portFrom || port > e.portTo || wordsBig(e.dst) !== d) continue;
    const shift = BigInt(bits(f) - e.prefix);
    if (s >> shift !== wordsBig(e.src) >> shift) continue;
    if (!best || e.prefix > best.prefix) best = e;
  }
  return best && !best.nomatch ? best : undefined;
}

function judge(snap: RuleSnapshot, src: ParsedIP, dst: ParsedIP, proto: number, port: number): boolean {
  const s = src.words, d = dst.words;
  return src.family === 'IPv4'
    ? snap.judge4(s[0]! | 0, d[0]! | 0, proto, port)
    : snap.judge6(s[0]! | 0, s[1]! | 0, s[2]! | 0, s[3]! | 0, d[0]! | 0, d[1]! | 0, d[2]! | 0, d[3]! | 0, proto, port);
}

/**
 * Can a connection from src reach PALISADE-ADMIT's set lookup (see the file header)? Not from a
 * local pod judged for egress, and not from an address the return set holds (hash:net: the
 * longest prefix present decides, `nomatch` fails the lookup).
 */
function reachesAdmit(snap: RuleSnapshot, src: ParsedIP, returns: readonly ReturnEntry[]): boolean {
  const w = src.words;
  const slot = src.family === 'IPv4' ? snap.podSlot4(w[0]! | 0) : snap.podSlot6(w[0]! | 0, w[1]! | 0, w[2]! | 0, w[3]! | 0);
  if (slot >= 0 && snap.isLocal(slot) && snap.judgesSide!(slot, 'egress')) return false;
  const f = src.family === 'IPv4' ? 4 : 6, s = big(src);
  let best: ReturnEntry | undefined;
  for (const e of returns) {
    const shift = BigInt(bits(f) - e.prefix);
    if (e.family === f && s >> shift === wordsBig(e.words) >> shift && (!best || e.prefix > best.prefix)) best = e;
  }
  return best === undefined || best.nomatch;
}

/**
 * Pod ranges for the random cluster's nodes (Node spec.podCIDRs): some hold its pods (10.1.<ns>.x,
 * fd00::<ns>:x), some nest in others, some hold no pod at all.
 */
function withPodRanges(r: Rng, state: ClusterState): void {
  const nodes = [...state.nodes.values()];
  nodes.forEach((n, k) => {
    const podCIDRs = [`10.1.${k}.0/24`, `fd00::${k}:0/112`];
    if (r.chance(0.5)) podCIDRs.push(r.pick(['10.1.0.0/20', '10.1.2.0/23', '10.1.0.0/16', '10.9.0.0/16', 'fd00::/64', 'fd00::2:0/111']));
    state.upsertNode({ ...n, podCIDRs });
  });
}

function randomIn(r: Rng, e: AdmitEntry): ParsedIP {
  const f = e.family;
  const host = bits(f) - e.prefix;
  const off = host === 0 ? 0n : BigInt(r.int(2 ** Math.min(host, 30))) * (host > 30 ? BigInt(r.int(4) + 1) : 1n);
  return bigToIP(wordsBig(e.src) + (off & ((1n << BigInt(host)) - 1n)), f === 4 ? 'IPv4' : 'IPv6');
}

t.test('every connection the entries admit is one the engine allows, with the same ingress code', async (t) => {
  const r = new Rng(seed);
  let admitted = 0, probes = 0, entryCount = 0, rangeNets = 0;
  for (let c = 0; c < CLUSTERS; c++) {
    const cluster = randomCluster(r);
    const state = stateOf(cluster);
    if (r.chance(0.75)) withPodRanges(r, state);
    const snap = new CompiledEngine(state, { localNode: NODE }).snapshot();
    const res = build(state, snap);
    entryCount += res.entries.length;
    rangeNets += res.entries.filter((e) => !e.nomatch && e.prefix < bits(e.family) && res.returns.some((x) => !x.nomatch && x.family === e.family && x.prefix === e.prefix && wordsBig(x.words) === wordsBig(e.src))).length;
    const addrs = [...new Set([...[...state.pods.values()].flatMap((p) => p.ips), ...[...state.nodes.values()].flatMap((n) => n.addresses), ...cluster.outside])].map((a) => parseIP(a)!);
    const dsts = [...new Set(res.entries.map((e) => `${e.family}|${e.dst.join('.')}`))].map((k) => res.entries.find((e) => `${e.family}|${e.dst.join('.')}` === k)!);
    for (const de of dsts) {
      const dst: ParsedIP = { family: de.family === 4 ? 'IPv4' : 'IPv6', words: [...de.dst] };
      const mine = res.entries.filter((e) => e.family === de.family && wordsBig(e.dst) === wordsBig(de.dst));
      const ports = new Set<number>([1, 53, 80, 81, 443, 5000, 8080, 9090, 65535]);
      for (const e of mine) for (const p of [e.portFrom - 1, e.portFrom, e.portTo, e.portTo + 1]) if (p >= 1 && p <= 65535) ports.add(p);
      const srcs = addrs.filter((a) => a.family === dst.family);
      for (const e of mine) for (let k = 0; k < 3; k++) srcs.push(randomIn(r, e));
      for (const src of srcs) {
        if (big(src) === big(dst) || !reachesAdmit(snap, src, res.returns)) continue;
        for (const proto of [6, 17, 132]) {
          for (const port of ports) {
            probes++;
            const hit = kernelLookup(mine, src, dst, proto, port);
            if (!hit) continue;
            admitted++;
            const ok = judge(snap, src, dst, proto, port);
            if (!ok || snap.ingressCode !== hit.decision!.ingress) {
              t.fail(`cluster ${c}: ${entryText(hit)} admits ${src.words.join('.')} -> ${proto}/${port}, the engine says ${ok ? `allowed by code ${snap.ingressCode}` : 'denied'} (seed ${seed})`);
              return;
            }
          }
        }
      }
    }
  }
  t.ok(entryCount > 0 && admitted > 0, `entries admit something (${entryCount} entries, ${admitted} of ${probes} probes admitted)`);
  t.ok(rangeNets > 0, `pod ranges are written as networks (${rangeNets} positive range entries)`);
});

const BENCH_LIKE = (): ClusterState => {
  const s = new ClusterState();
  s.batch(() => {
    s.upsertNamespace({ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } });
    s.upsertNode({ name: NODE, addresses: ['192.168.0.1'] });
    const pod = (name: string, ip: string, labels: Record<string, string>) => s.upsertPod({ namespace: 'x', name, labels, nodeName: NODE, hostNetwork: false, phase: 'Running', ips: [ip], ports: [] });
    pod('a', '10.77.1.2', { role: 'client' });
    pod('b', '10.77.2.2', { app: 'b' });
    pod('t1', '10.77.1.16', { app: 't' });
    pod('t2', '10.77.1.17', { app: 't' });
    // t1's kind (identity) too, in the block's allowed part: judged apart from t1 and t2.
    pod('t3', '10.77.1.20', { app: 't' });
    s.upsertPolicy({
      namespace: 'x', name: 'b', podSelector: { matchLabels: { app: 'b' }, matchExpressions: [] }, policyTypes: { ingress: true, egress: false }, egress: [],
      ingress: [
        { peers: [{ podSelector: { matchLabels: { role: 'client' }, matchExpressions: [] } }], ports: [{ protocol: 'TCP', port: 8080 }] },
        { peers: [{ ipBlock: { cidr: '10.77.1.0/24', except: ['10.77.1.16/31'] } }], ports: [{ protocol: 'TCP', port: 10000, endPort: 10003 }] },
      ],
    });
  });
  return s;
};

t.test('entries of a small cluster, as the kernel gets them', async (t) => {
  const state = BENCH_LIKE();
  const snap = new CompiledEngine(state, { localNode: NODE }).snapshot();
  const res = build(state, snap);
  t.same(res.entries.map(entryText).sort(), [
    '10.77.2.2/32,6:10000-10003,10.77.1.0/24',
    '10.77.2.2/32,6:10000-10003,10.77.1.16/32 nomatch',
    '10.77.2.2/32,6:10000-10003,10.77.1.17/32 nomatch',
    '10.77.2.2/32,6:8080,10.77.1.2/32',
  ], 'the block; its except, all pods, as a nomatch per pod (not t3, of their identity but outside the except); the selected pod on its port; not the node (the agent judges node traffic)');
  t.equal(res.pods, 1, 'b is the one destination (a and the others are not isolated)');
  const tight = build(state, snap, { maxEntries: 4 });
  t.same(tight.entries, [], 'a destination whose entries do not fit gets none at all');
  t.match(tight.notes.join('\n'), /x\/b: more entries than the 4 left for IPv4/, 'and the agent says why');
});
