// What the kernel may admit on its own (src/enforce/admit-sets.ts): for each local pod whose
// ingress some tier judges, the (pod address, protocol:port, source network) the current rule
// generation allows, so a first connection from an allowed source never waits for the queue.
//
// Why it is exact. A new connection reaches PALISADE-ADMIT's lookup only when its source is not a
// local pod judged for egress (PALISADE-PODS queues those first), not an address of this node's
// pod ranges that no known pod holds, and not an address of the cluster's pod ranges that no pod
// or node holds (PALISADE-ADMIT returns those to the queue, the latter by the return set this
// build writes with the entries: AdmitResult.returns), so the egress side
// is the default answer of every tier (a local pod no tier judges) or not judged here (any other
// address): only the destination's ingress side is left, and that is what is computed here, with
// the engine's own judge (RuleSnapshot.judge4/judge6), never a second reading of the policies.
// The ingress answer for source address q, protocol and port depends on
// - the port only through the interval it falls in, between the boundaries of the rules of the
//   policies selecting the pod and the pod's named container ports (analysis/ports.ts:
//   portBoundaries, intervalStarts), so one port judges an interval;
// - the address only through the policy CIDRs containing it (the block, analysis/address-blocks.ts)
//   and, when q is a pod's or a node's address, that pod or node (its identity, the node
//   exemption). So the block's representative (an address no pod or node holds) judges every
//   other address of the block, and every pod and node address is judged on its own; two of one
//   identity (or two addresses of no pod) inside the same innermost policy CIDR get one answer
//   (the engine reads nothing else of a source: `nodes` peers are egress only, and the node
//   exemption is this node's addresses, never admitted), so one judges for both.
// The entries follow the kernel's rule for hash:ip,port,net (the most specific source prefix
// present decides; a `nomatch` entry fails the lookup): blocks are written widest first, each
// only where the kernel's answer from the wider entries would be wrong; then each pod range of
// the cluster (Node spec.podCIDRs) with the answer most of its sources get (what it answers for
// its other addresses never counts: those return to the queue); and then every pod and node
// address whose own answer differs from what the network entries give it gets a host entry,
// positive or nomatch. A host or block with no entry falls back to the queue: entries only ever
// admit what the engine allows, with the decision (ingress code) the engine gives.
//
// Limits (all fall back to the queue, never open anything): of an interval wider than MAX_RANGE
// ports (the set holds one entry per port) only the pod's own container ports of the protocol
// are written (where its servers listen; any subset of an interval is as exact as the whole); a pod whose entries would overflow the family's
// budget gets none at all (its exceptions are part of its entries); and a build that would take
// more than maxJudges (source, interval) steps, judged or reused, stops, with the pods finished by
// then.

import type { AdmitEntry, ReturnEntry } from '../enforce/admit-sets.ts';
import type { CachedDecision } from '../enforce/cache-counters.ts';
import { PROTOCOLS, podKey, type NetworkPolicy, type Pod, type Protocol } from '../cluster/model.ts';
import type { ClusterView } from '../cluster/state.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import { formatCIDR, parseCIDR, parseIP, type ParsedIP } from '../net/address.ts';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../net/ip-protocols.ts';
import { addressBlocks, bigToIP, ipToBig, policyCIDRs } from '../analysis/address-blocks.ts';
import { intervalStarts, MAX_PORT, portBoundaries } from '../analysis/ports.ts';
import { CidrTrie4, CidrTrie6 } from '../policy/cidr-trie.ts';
import { clusterPolicySelectsPod } from '../policy/cluster-facts.ts';
import { SIDE, sideAllows, type RuleSnapshot } from '../policy/engine-api.ts';
import { policySelectsPod } from '../policy/spec-facts.ts';

type Family = 4 | 6;

/** Widest port interval written as entries (one per port); wider ones are judged by the agent. */
export const MAX_RANGE = 1024;

const PROTO_NUMBER: Record<Protocol, number> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP };

export interface AdmitInput {
  readonly snap: RuleSnapshot;
  readonly view: ClusterView;
  /** This node's name: its pods are the destinations. */
  readonly node: string;
  readonly families: readonly Family[];
  /** Entries (ports counted one by one) per family at most (the kernel set's maxelem). */
  readonly maxEntries: number;
  /** (source, interval) steps per build at most, judged or reusing the answer of a source of the same kind. */
  readonly maxJudges: number;
  /** Judge calls between two yields of the generator (the agent turns its event loop there). */
  readonly slice?: number;
}

export interface AdmitResult {
  readonly entries: AdmitEntry[];
  /**
   * What PALISADE-ADMIT returns to the queue before its set lookup (admit-sets.ts, the return
   * set): the cluster's pod ranges (Node spec.podCIDRs), each with every pod and node address in
   * it as a `nomatch` exception, so only addresses of the ranges no pod or node holds return.
   */
  readonly returns: ReturnEntry[];
  /** Destinations written, and those left to the queue (budget, interval width shown in `notes`). */
  readonly pods: number;
  readonly podsLeft: number;
  readonly judges: number;
  readonly notes: string[];
}

/** The kind of a source no other source shares: judged without remembering its answer. */
const ALONE = -Infinity;

/** What the kernel answers for a source: an ingress code it admits with, or NONE (not admitted here). */
const NONE = 0x7fffffff;
/** mostCommon's answer for a range no source is in (above NONE: no code). */
const NO_SOURCE = 0x7fffffff + 1;

interface Block {
  readonly cidr: Cidr;
  readonly rep: ParsedIP;
}

interface Cidr {
  readonly words: readonly number[];
  readonly prefix: number;
  /** First and last address, for containment. */
  readonly first: bigint;
  readonly last: bigint;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

function cidrOf(ip: ParsedIP, prefix: number, family: Family): Cidr {
  const first = (ipToBig(ip) >> BigInt(BITS[family] - prefix)) << BigInt(BITS[family] - prefix);
  return { words: bigToIP(first, family === 4 ? 'IPv4' : 'IPv6').words, prefix, first, last: first + (1n << BigInt(BITS[family] - prefix)) - 1n };
}

/** The kernel refuses a /0 source: the two halves stand for it. */
function kernelCidrs(c: Cidr, family: Family): Cidr[] {
  if (c.prefix > 0) return [c];
  const zero: ParsedIP = { family: family === 4 ? 'IPv4' : 'IPv6', words: family === 4 ? [0] : [0, 0, 0, 0] };
  const high: ParsedIP = { family: zero.family, words: family === 4 ? [0x80000000] : [0x80000000, 0, 0, 0] };
  return [cidrOf(zero, 1, family), cidrOf(high, 1, family)];
}

interface Entry {
  readonly cidr: Cidr;
  readonly code: number;
  readonly nomatch: boolean;
}

/**
 * The entries one destination needs for one protocol and port interval, kept as the kernel
 * would hold them, so `answer` is the kernel's lookup (the longest prefix present decides).
 * Networks (the blocks and the cluster's pod ranges: thousands at scale) sit in one map per
 * prefix length and hosts (every pod and node address, up to the whole cluster's) in another, so
 * a lookup costs a probe per prefix length present, not a scan.
 */
class IntervalEntries {
  /** Prefix length -> network address -> entry; `lengths` the prefix lengths present, longest first. */
  private readonly nets = new Map<number, Map<bigint, Entry>>();
  private lengths: number[] = [];
  readonly hosts = new Map<bigint, Entry>();
  private netCount = 0;
  constructor(private readonly hostBits: number) {}
  get size(): number {
    return this.netCount + this.hosts.size;
  }
  /** The kernel's answer from the networks for the cidr [first, last] of length `prefix` (the longest present holding it). */
  private netAnswer(first: bigint, prefix: number): number {
    for (const len of this.lengths) {
      if (len > prefix) continue;
      const shift = BigInt(this.hostBits - len);
      const e = this.nets.get(len)!.get((first >> shift) << shift);
      if (e) return e.nomatch ? NONE : e.code;
    }
    return NONE;
  }
  /**
   * Makes the kernel answer `want` for the cidr, adding an entry only where it answers otherwise
   * now. Networks are settled widest first, then hosts, each address once.
   */
  settle(cidr: Cidr, want: number): void {
    const entry = { cidr, code: want, nomatch: want === NONE };
    if (cidr.prefix === this.hostBits) {
      const held = this.hosts.get(cidr.first);
      if ((held ? (held.nomatch ? NONE : held.code) : this.netAnswer(cidr.first, cidr.prefix)) !== want) this.hosts.set(cidr.first, entry);
      return;
    }
    if (this.netAnswer(cidr.first, cidr.prefix - 1) === want && !this.nets.get(cidr.prefix)?.has(cidr.first)) return;
    let m = this.nets.get(cidr.prefix);
    if (!m) {
      this.nets.set(cidr.prefix, (m = new Map()));
      this.lengths = [...this.nets.keys()].sort((a, b) => b - a);
    }
    if (!m.has(cidr.first)) this.netCount++;
    m.set(cidr.first, entry);
  }
  *all(): Iterable<Entry> {
    for (const m of this.nets.values()) yield* m.values();
    yield* this.hosts.values();
  }
}

/** Local pods of the family whose ingress the snapshot judges, with their slot and address words. */
function destinations(input: AdmitInput, family: Family): { pod: Pod; ip: ParsedIP }[] {
  const out: { pod: Pod; ip: ParsedIP }[] = [];
  for (const pod of input.view.pods.values()) {
    if (pod.nodeName !== input.node || pod.hostNetwork) continue;
    for (const text of pod.ips) {
      const ip = parseIP(text);
      if (!ip || (ip.family === 'IPv4' ? 4 : 6) !== family) continue;
      const slot = slotOf(input.snap, ip);
      if (slot < 0 || !input.snap.isLocal(slot) || !(input.snap.judgesSide?.(slot, 'ingress') ?? true)) continue;
      // The address may be another pod's (a finished pod and its replacement share one): the
      // policies, ports and named ports read below must be those of the pod the engine judges.
      if (input.snap.podName(slot) !== podKey(pod)) continue;
      out.push({ pod, ip });
    }
  }
  return out;
}

function slotOf(snap: RuleSnapshot, ip: ParsedIP): number {
  const w = ip.words;
  return ip.family === 'IPv4' ? snap.podSlot4(w[0]! | 0) : snap.podSlot6(w[0]! | 0, w[1]! | 0, w[2]! | 0, w[3]! | 0);
}

/** The ingress code of src -> dst:port, or NONE when denied. */
function ingressOf(snap: RuleSnapshot, src: ParsedIP, dst: ParsedIP, proto: number, port: number): number {
  const s = src.words, d = dst.words;
  const ok = src.family === 'IPv4'
    ? snap.judge4(s[0]! | 0, d[0]! | 0, proto, port)
    : snap.judge6(s[0]! | 0, s[1]! | 0, s[2]! | 0, s[3]! | 0, d[0]! | 0, d[1]! | 0, d[2]! | 0, d[3]! | 0, proto, port);
  return ok && sideAllows(snap.ingressCode) ? snap.ingressCode : NONE;
}

/**
 * Builds the entries for the snapshot, yielding every `slice` judge calls so the caller can let
 * its event loop run (and drop the build when the snapshot changed meanwhile).
 */
export function* admitEntries(input: AdmitInput): Generator<void, AdmitResult> {
  const { snap, view } = input;
  const slice = input.slice ?? 4096;
  const entries: AdmitEntry[] = [];
  const returns: ReturnEntry[] = [];
  const notes: string[] = [];
  // steps: (source, interval) pairs visited, judged or not (a step's settle costs about what its
  // judge does, so the budget counts both); judges: those judged.
  let steps = 0, judges = 0, sinceYield = 0, pods = 0, podsLeft = 0;
  const decisionOf = new Map<number, CachedDecision>();
  // The egress side of an admitted connection names no rule (see the header): NOT_JUDGED stands
  // for both "not judged here" and the default answer, which count alike.
  const decision = (code: number): CachedDecision => {
    let d = decisionOf.get(code);
    if (!d) decisionOf.set(code, (d = { context: snap, egress: SIDE.NOT_JUDGED, ingress: code }));
    return d;
  };
  for (const family of input.families) {
    const fam = family === 4 ? 'IPv4' as const : 'IPv6' as const;
    // Every pod and node address of the family: judged one by one.
    const used = new Map<bigint, ParsedIP>();
    for (const pod of view.pods.values()) {
      for (const t of pod.ips) addUsed(used, t, fam);
      if (++sinceYield >= slice) {
        sinceYield = 0;
        yield;
      }
    }
    for (const n of view.nodes.values()) for (const t of n.addresses) addUsed(used, t, fam);
    const usedKeys = new Set(used.keys());
    // The cluster's pod ranges, widest first: a range is one network entry for the sources in
    // it, as only the pod and node addresses in it reach the set (the return set below).
    const podNets = podRanges(view, family);
    const rangeOf = innermostOf(podNets, family);
    for (const rg of podNets) returns.push({ family, words: rg.words, prefix: rg.prefix, nomatch: false });
    for (const ip of used.values()) if (rangeOf(ip) >= 0) returns.push({ family, words: ip.words, prefix: BITS[family], nomatch: true });
    // Sources that may reach PALISADE-ADMIT: not a local pod judged for egress (queued before it).
    // This node's own addresses are never admitted (want NONE): their connections to its pods
    // pass PALISADE-ADMIT only while cluster policies make the agent judge node traffic, and
    // the agent judges those.
    const own = new Set<bigint>();
    for (const t of view.nodes.get(input.node)?.addresses ?? []) {
      const ip = parseIP(t);
      if (ip && ip.family === fam) own.add(ipToBig(ip));
    }
    const sources: { ip: ParsedIP; at: bigint; own: boolean; host: Cidr; range: number; who: number }[] = [];
    for (const [at, ip] of used) {
      if (++sinceYield >= slice) {
        sinceYield = 0;
        yield;
      }
      const slot = slotOf(snap, ip);
      if (slot >= 0 && snap.isLocal(slot) && (snap.judgesSide?.(slot, 'egress') ?? true)) continue;
      // Who the engine sees (see the header on kinds of sources): the slot's identity, or
      // no pod's (0); without identities every pod is a kind of its own.
      const who = slot < 0 ? 0 : snap.identityOf ? snap.identityOf(slot) : -1 - sources.length;
      sources.push({ ip, at, own: own.has(at) && slot < 0, host: { words: ip.words, prefix: BITS[family], first: at, last: at }, range: rangeOf(ip), who });
    }
    const codes = new Array<number>(sources.length).fill(NONE);
    const kinds = new Float64Array(sources.length);
    // 1 for a source whose identity no other source has.
    const alone = new Uint8Array(sources.length);
    {
      const n = new Map<number, number>();
      for (const s of sources) n.set(s.who, (n.get(s.who) ?? 0) + 1);
      sources.forEach((s, k) => { if (n.get(s.who) === 1) alone[k] = 1; });
    }
    let budget = input.maxEntries;
    for (const { pod, ip: dst } of destinations(input, family)) {
      if (steps >= input.maxJudges) {
        podsLeft++;
        continue;
      }
      const nsLabels = namespaceLabels(view, pod.namespace);
      const policies: NetworkPolicy[] = [];
      for (const p of view.policies.values()) {
        if (policySelectsPod(p, pod)) policies.push(p);
        if (++sinceYield >= slice) {
          sinceYield = 0;
          yield;
        }
      }
      const clusterPolicies = [...view.clusterPolicies.values()].filter((cp) => clusterPolicySelectsPod(cp, pod, nsLabels));
      const bounds = portBoundaries(policies, clusterPolicies, 'ingress');
      // The blocks of the CIDRs of the policies selecting the pod: the only ones its ingress
      // tables tell apart (a finer cut would be as exact; the cluster's thousands of CIDRs
      // would cost seconds to cut and a judgement each per port interval).
      // Ingress rules only: egress `nodes` peers would turn every node address into a CIDR.
      const ingressOnly = { ...view, policies: keyed(policies.map((p) => ({ ...p, egress: [] }))), clusterPolicies: keyed(clusterPolicies.map((cp) => ({ ...cp, egress: [] }))) };
      const blocks: Block[] = addressBlocks(ingressOnly, fam, usedKeys).map((b) => {
        const c = parseCIDR(b.cidr)!;
        return { cidr: cidrOf(c, c.prefix, family), rep: parseIP(b.address)! };
      }).sort((a, b) => a.cidr.prefix - b.cidr.prefix);
      const dstAt = ipToBig(dst);
      // Each source's kind for this destination: its identity and the innermost of the CIDRs
      // the destination's ingress tables cut the address space by.
      // (A number: identities and CIDRs are far fewer than 2^26 each.)
      const cidrs = policyCIDRs(ingressOnly, fam).map((c) => cidrOf(c, c.prefix, family));
      // Worked out when the loop below first visits the source (NaN until then): a destination
      // over its budget stops after a few of the cluster's sources, and looking every source up
      // in the CIDRs first was most of a build at scale. The only source of its identity is a
      // kind of its own (no CIDR to look up).
      const cidrOfSource = cidrs.length === 0 ? undefined : innermostOf(cidrs, family);
      const kindOf = (k: number): number => {
        let kind = kinds[k]!;
        if (kind !== kind) {
          const s = sources[k]!;
          kind = kinds[k] = alone[k] === 1 ? ALONE : cidrOfSource ? s.who * (cidrs.length + 1) + cidrOfSource(s.ip) + 1 : s.who;
        }
        return kind;
      };
      kinds.fill(NaN);
      const mine: AdmitEntry[] = [];
      let count = 0, over = false;
      // All of a pod's entries or none (its exceptions are part of them): past the budget, the
      // pod is left to the agent at once, before judging the rest of the cluster for it.
      pod: for (const proto of PROTOCOLS) {
        const starts = intervalStarts(bounds[proto], pod.ports, proto);
        const p = PROTO_NUMBER[proto];
        for (let i = 0; i < starts.length; i++) {
          const from = starts[i]!, to = i + 1 < starts.length ? starts[i + 1]! - 1 : MAX_PORT;
          // One entry per port: of a wide interval, only the ports the pod declares (a rule
          // without ports, the usual "from these pods" policy, is one interval of 65,535).
          const ranges = to - from + 1 <= MAX_RANGE ? [[from, to] as const] : declaredIn(pod, proto, from, to);
          if (ranges.length === 0) continue;
          const width = ranges.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
          const kernel = new IntervalEntries(BITS[family]);
          for (const b of blocks) {
            const code = ingressOf(snap, b.rep, dst, p, from);
            judges++;
            for (const c of kernelCidrs(b.cidr, family)) {
              // A /1 half of the rest of the space that is itself a policy CIDR is that block's.
              if (c !== b.cidr && blocks.some((o) => o.cidr.prefix === c.prefix && o.cidr.first === c.first)) continue;
              kernel.settle(c, code);
            }
          }
          const judged = new Map<number, number>();
          for (let k = 0; k < sources.length; k++) {
            const s = sources[k]!;
            if (s.at === dstAt) continue; // a pod to itself never crosses the node's forwarding path
            // A source alone of its kind is judged without the map (no other source would reuse
            // it); this node's own addresses are never admitted, so they need no kind.
            const kind = s.own ? ALONE : kindOf(k), lone = kind === ALONE;
            const known = s.own ? NONE : lone ? undefined : judged.get(kind);
            steps++;
            if (known !== undefined) codes[k] = known;
            else {
              codes[k] = ingressOf(snap, s.ip, dst, p, from);
              if (!lone) judged.set(kind, codes[k]!);
              judges++;
            }
            if (++sinceYield >= slice) {
              sinceYield = 0;
              yield;
            }
            if (steps >= input.maxJudges) {
              over = true;
              break pod;
            }
            // Without pod ranges a host's entry depends on its own answer only: settled at once,
            // so a destination over the budget stops here, before the rest of the cluster is judged.
            if (podNets.length === 0) {
              kernel.settle(s.host, codes[k]!);
              if (count + kernel.size * width > budget) {
                over = true;
                break pod;
              }
            }
          }
          if (podNets.length > 0) {
            // Each pod range answers what most of its sources want; the others get host entries.
            const wants = mostCommon(podNets.length, sources, codes, dstAt);
            for (let ri = 0; ri < podNets.length; ri++) if (wants[ri] !== NO_SOURCE) kernel.settle(podNets[ri]!, wants[ri]!);
            for (let k = 0; k < sources.length; k++) {
              if (sources[k]!.at === dstAt) continue;
              kernel.settle(sources[k]!.host, codes[k]!);
              if (count + kernel.size * width > budget) {
                over = true;
                break pod;
              }
            }
          }
          for (const e of kernel.all()) {
            for (const [lo, hi] of ranges) {
              mine.push({
                family, dst: dst.words, proto: p, portFrom: lo, portTo: hi, src: e.cidr.words, prefix: e.cidr.prefix,
                nomatch: e.nomatch, ...(e.nomatch ? {} : { decision: decision(e.code) }),
              });
            }
          }
          count += kernel.size * width;
          if (count > budget) {
            over = true;
            break pod;
          }
        }
      }
      if (over) {
        podsLeft++;
        if (steps < input.maxJudges) notes.push(`${pod.namespace}/${pod.name}: more entries than the ${budget} left for IPv${family}, judged by the agent`);
        continue;
      }
      budget -= count;
      pods++;
      for (const e of mine) entries.push(e);
    }
  }
  if (podsLeft > 0 && steps >= input.maxJudges) notes.push(`stopped after ${steps} steps, ${judges} of them judged (budget ${input.maxJudges}): ${podsLeft} pods judged by the agent`);
  return { entries, returns, pods, podsLeft, judges, notes };
}

/** Node spec.podCIDRs of the family, distinct, widest first (a /0 is no range: the kernel refuses it). */
function podRanges(view: ClusterView, family: Family): Cidr[] {
  const out = new Map<string, Cidr>();
  for (const n of view.nodes.values()) {
    for (const text of n.podCIDRs ?? []) {
      const c = parseCIDR(text);
      if (!c || (c.family === 'IPv4' ? 4 : 6) !== family || c.prefix === 0) continue;
      const cidr = cidrOf(c, c.prefix, family);
      out.set(`${cidr.first}/${cidr.prefix}`, cidr);
    }
  }
  return [...out.values()].sort((a, b) => a.prefix - b.prefix);
}

/**
 * The index of the innermost of `cidrs` holding an address, or -1: the longest-prefix match of
 * cidr-trie.ts, with each CIDR's index as its value.
 */
function innermostOf(cidrs: readonly Cidr[], family: Family): (ip: ParsedIP) => number {
  const prefixes = cidrs.map((c, i) => ({ words: c.words, prefix: c.prefix, value: i }));
  if (family === 4) {
    const t = new CidrTrie4(prefixes, -1);
    return (ip) => t.lookup(ip.words[0]!);
  }
  const t = new CidrTrie6(prefixes, -1);
  return (ip) => t.lookup(ip.words[0]!, ip.words[1]!, ip.words[2]!, ip.words[3]!);
}

/** Per range, the code most of its sources have (ties: the smaller), or NO_SOURCE when it has none. */
function mostCommon(ranges: number, sources: readonly { at: bigint; range: number }[], codes: readonly number[], skip: bigint): number[] {
  const tally = new Map<number, Map<number, number>>();
  for (let k = 0; k < sources.length; k++) {
    const ri = sources[k]!.range;
    if (ri < 0 || sources[k]!.at === skip) continue;
    let n = tally.get(ri);
    if (!n) tally.set(ri, (n = new Map()));
    n.set(codes[k]!, (n.get(codes[k]!) ?? 0) + 1);
  }
  const out = new Array<number>(ranges).fill(NO_SOURCE);
  for (const [ri, n] of tally) {
    let best = NO_SOURCE, most = 0;
    for (const [code, c] of n) if (c > most || (c === most && code < best)) { best = code; most = c; }
    out[ri] = best;
  }
  return out;
}

/** The pod's container ports of a protocol inside [from, to], each as a one-port range. */
function declaredIn(pod: Pod, proto: Protocol, from: number, to: number): (readonly [number, number])[] {
  const ports = new Set<number>();
  for (const cp of pod.ports) if (cp.protocol === proto && cp.containerPort >= from && cp.containerPort <= to) ports.add(cp.containerPort);
  return [...ports].sort((a, b) => a - b).map((x) => [x, x] as const);
}

/** Objects as the view's maps hold them (only their values are read). */
function keyed<T>(objects: readonly T[]): ReadonlyMap<string, T> {
  return new Map(objects.map((o, i) => [String(i), o]));
}

function addUsed(used: Map<bigint, ParsedIP>, text: string, fam: 'IPv4' | 'IPv6'): void {
  const ip = parseIP(text);
  if (ip && ip.family === fam) used.set(ipToBig(ip), ip);
}

/** The entry as text (tests, logs): "dst,proto:from-to,src/prefix [nomatch]". */
export function entryText(e: AdmitEntry): string {
  const fam = e.family === 4 ? 'IPv4' as const : 'IPv6' as const;
  const ports = e.portFrom === e.portTo ? `${e.portFrom}` : `${e.portFrom}-${e.portTo}`;
  return `${formatCIDR({ family: fam, words: [...e.dst], prefix: BITS[e.family] })},${e.proto}:${ports},${formatCIDR({ family: fam, words: [...e.src], prefix: e.prefix })}${e.nomatch ? ' nomatch' : ''}`;
}
