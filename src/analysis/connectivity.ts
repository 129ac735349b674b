// The connectivity model: every (source, destination) endpoint pair of a cluster view with the
// exact set of ports on which a new connection is allowed, and for each run of ports the
// decision of each side (the deciding policy and rule, for explain). connlist prints it, diff
// compares two of them, the HTML report draws it.
//
// How it is exact without probing 65,535 ports x 3 protocols per pair:
// - Endpoints are equivalence classes: pods grouped so that every member is judged like every
//   other (pod-groups.ts), external address blocks every policy CIDR judges alike
//   (address-blocks.ts), and "the node" (each pod's own node, for the node exemption).
//   One representative address per endpoint judges the whole class.
// - Ports: every rule's port clause is constant on each interval between the port boundaries of
//   all policies and the destination's container ports (ports.ts), so one port per interval
//   judges the interval. Only the rules of the policies selecting the source (its egress) and
//   the destination (its ingress) can decide a pair, so the pair is cut by their boundaries
//   only: a few intervals instead of every boundary of a thousand policies.
// - Each (source, destination, port) is judged by the compiled engine through its public
//   contract (RuleSnapshot.judge4/judge6 and the side codes of engine-api.ts, read the way
//   decide.ts reads them): the same code that enforces, all three tiers (Admin, NetworkPolicy,
//   Baseline), source egress AND destination ingress. Tests cross-check it with the plain
//   evaluator on random clusters and sampled ports.
//
// Limits: endpoints are judged for one address family at a time (pods without an address of the
// family are left out, listed in `leftOut` with host-network and finished pods); the node
// endpoint is each pod's own node, and other nodes' addresses count as the external block they
// fall in (exact for NetworkPolicy; a cluster policy `nodes` peer may tell them apart).

import type { ContainerPort, Family, Labels, Pod, Protocol } from '../cluster/model.ts';
import { PROTOCOLS } from '../cluster/model.ts';
import type { ClusterView } from '../cluster/state.ts';
import { cidrContains, parseCIDR, parseIP, type ParsedCIDR, type ParsedIP } from '../net/address.ts';
import { namespaceLabels } from '../cluster/namespace-labels.ts';
import { podsThere } from '../cluster/pods-there.ts';
import { clusterPeerCIDRs, clusterPolicySelectsPod } from '../policy/cluster-facts.ts';
import { CompiledEngine } from '../policy/compiler.ts';
import type { SideDecision } from '../policy/decision.ts';
import { PortScanner } from './port-scan.ts';
import type { RuleSnapshot } from '../policy/engine-api.ts';
import { policySelectsPod, type Direction } from '../policy/spec-facts.ts';
import { addressBlocks, addressKey, blockLocator, blockName, ipToBig } from './address-blocks.ts';
import { groupPods, type LeftOut, type PodGroup } from './pod-groups.ts';
import { intervalStarts, normaliseRanges, portBoundaries, type PortRange, type PortSet } from './ports.ts';

export type { LeftOut } from './pod-groups.ts';
export type { PortRange, PortSet } from './ports.ts';

export type EndpointKind =
  /** One pod. */
  | 'pod'
  /** Several pods of one template (see pod-groups.ts), judged alike. */
  | 'group'
  /** A block of addresses outside the cluster's pods and nodes that every policy CIDR judges alike. */
  | 'external'
  /** Each pod's own node (the NetworkPolicy node exemption applies to it). */
  | 'node';

export interface Endpoint {
  /** Stable id: "ns/pod", "ns/<prefix>*" (a group), the block's name (external), "node". */
  readonly id: string;
  readonly kind: EndpointKind;
  readonly namespace?: string;
  /** pod / group: "namespace/name" of every member, sorted. */
  readonly pods?: readonly string[];
  /** pod / group: the members' labels. */
  readonly labels?: Labels;
  /** external: the block is `cidr` minus the `except` CIDRs. */
  readonly cidr?: string;
  readonly except?: readonly string[];
  /** The address the endpoint is judged with (pod / group: the first member's; absent for the node: each pod's own). */
  readonly address?: string;
}

/** One run of ports of one protocol with the same decision on both sides. */
export interface EdgePart {
  readonly protocol: Protocol;
  readonly ranges: readonly PortRange[];
  /** Both sides allow. */
  readonly allowed: boolean;
  /** The source's egress side, as evaluate()/decideOn() answer it (reason, policies, deciding rule). */
  readonly egress: SideDecision;
  /** The destination's ingress side. */
  readonly ingress: SideDecision;
}

export interface Edge {
  readonly from: string;
  readonly to: string;
  /** The allowed ports (never empty in Connectivity.edges); with `split`, those allowed for some pods (the union). */
  readonly ports: PortSet;
  /** Every port of every protocol, allowed and denied runs, protocol by protocol, ascending (with `split`: its first variant's). */
  readonly parts: readonly EdgePart[];
  /**
   * Present only when the members of a group are not all judged alike on this pair (an
   * ipBlock of the pair's rules holds some of them): each variant with the pods it covers.
   */
  readonly split?: readonly EdgeVariant[];
}

/** One case of a split edge: every connection from a pod of fromPods to a pod of toPods. */
export interface EdgeVariant {
  readonly fromPods: readonly string[];
  readonly toPods: readonly string[];
  readonly ports: PortSet;
  readonly parts: readonly EdgePart[];
}

export interface Connectivity {
  readonly family: Family;
  readonly endpoints: readonly Endpoint[];
  /** Pairs with at least one allowed port, in endpoint order (from, then to). A group's edge to itself: between two of its pods. */
  readonly edges: readonly Edge[];
  /** Pods that are no endpoint, and why. */
  readonly leftOut: readonly LeftOut[];
}

export interface ConnectivityOptions {
  /** Default IPv4. */
  readonly family?: Family;
  /** "ns/pod" or "ns": only pairs with an end containing that pod / in that namespace. */
  readonly focus?: string;
  /** Extra grouping key per pod: pods with different keys are never one group (diff uses it). */
  readonly refine?: PodGroupRefiner;
  /** More CIDRs to cut external blocks by (diff: the other side's, so both sides have the same blocks). */
  readonly extraCIDRs?: readonly string[];
}

function groupsOf(view: ClusterView, opts: ConnectivityOptions): ReturnType<typeof groupPods> {
  const family = opts.family ?? 'IPv4';
  const blockOf = blockLocator(view, family, opts.extraCIDRs);
  const nodeLabelsMatter = [...view.clusterPolicies.values()].some((p) => [...p.ingress, ...p.egress].some((r) => r.peers.some((x) => x.nodes)));
  return groupPods(view, { family, blockOf, nodeLabelsMatter, ...(opts.refine ? { refine: opts.refine } : {}) });
}

/** The endpoint id of every pod that is one ("ns/name" -> group id), as ConnectivityAnalysis would group them. */
export function podEndpointIds(view: ClusterView, opts: ConnectivityOptions = {}): Map<string, string> {
  const out = new Map<string, string>();
  for (const g of groupsOf(view, opts).groups) for (const p of g.pods) out.set(p, g.id);
  return out;
}

export type PodGroupRefiner = (pod: Pod) => string;

/** Bad analysis input (an unknown focus): one line for the CLI. */
export class AnalysisInputError extends Error {}

interface Vertex {
  readonly endpoint: Endpoint;
  readonly group?: PodGroup;
}

/** A computed model that can also judge pairs it did not list (diff explains what was removed). */
export class ConnectivityAnalysis {
  readonly result: Connectivity;
  private readonly snap: RuleSnapshot;
  private readonly byId = new Map<string, Vertex>();
  private readonly scanner: PortScanner;
  /** judge()'s (source cell, destination cell) of each scan, reused. */
  private readonly cellPairs: (readonly number[])[] = [];
  private readonly cellPods = new Map<readonly number[], readonly string[]>();
  private readonly groupWords = new Map<PodGroup, readonly (readonly number[])[]>();
  private readonly groupIPs = new Map<PodGroup, { readonly ips: readonly ParsedIP[]; readonly low: bigint; readonly high: bigint }>();
  private readonly cidrRanges = new Map<ParsedCIDR, { readonly first: bigint; readonly last: bigint }>();
  private readonly wordCache = new Map<string, readonly number[]>();
  /** Port boundaries, interned by content: index 0 is none (a side no policy can judge: not a pod). */
  private readonly boundSets: Record<Protocol, ReadonlySet<number>>[] = [{ TCP: new Set(), UDP: new Set(), SCTP: new Set() }];
  private readonly boundIndex = new Map<string, number>();
  private readonly groupBounds = new Map<PodGroup, { egress: number; ingress: number }>();
  /** Destination container ports by the named ports in them (all intervalStarts reads), interned: 0 is none. */
  private readonly portsIds = new Map<readonly ContainerPort[], number>();
  private readonly portsIndex = new Map<string, number>();
  /** Interval starts per (egress bounds, ingress bounds, destination ports). */
  private readonly starts = new Map<number, Map<number, Record<Protocol, Int32Array>>>();
  private readonly family: Family;
  private readonly view: ClusterView;
  private readonly egressCIDRs = new Map<PodGroup, readonly ParsedCIDR[]>();
  private readonly ingressCIDRs = new Map<PodGroup, readonly ParsedCIDR[]>();
  private readonly cidrLists = new Map<string, readonly ParsedCIDR[]>();
  private readonly cellCache = new Map<readonly ParsedCIDR[], Map<PodGroup, readonly (readonly number[])[]>>();
  private readonly whole = new Map<PodGroup, readonly (readonly number[])[]>();

  constructor(view: ClusterView, opts: ConnectivityOptions = {}) {
    this.view = view;
    const family = (this.family = opts.family ?? 'IPv4');
    const { groups, leftOut } = groupsOf(view, opts);
    const used = new Set<bigint>();
    for (const p of view.pods.values()) for (const a of p.ips) used.add(addressKey(a)!);
    for (const n of view.nodes.values()) for (const a of n.addresses) used.add(addressKey(a)!);
    // Node addresses no endpoint pod holds may judge a block that has nothing else (a policy
    // CIDR of exactly one node): other nodes are external to the node endpoint (each pod's own).
    const podAddresses = new Set<bigint>();
    for (const g of groups) for (const a of g.addresses) podAddresses.add(addressKey(a)!);
    const nodeOnly = new Set<bigint>();
    for (const n of view.nodes.values()) for (const a of n.addresses) if (!podAddresses.has(addressKey(a)!)) nodeOnly.add(addressKey(a)!);
    const blocks = addressBlocks(view, family, used, opts.extraCIDRs, nodeOnly);

    const nodes: Vertex[] = [];
    for (const g of groups) {
      const endpoint: Endpoint = {
        id: g.id, kind: g.pods.length === 1 ? 'pod' : 'group', namespace: g.namespace, pods: g.pods, labels: g.labels, address: g.addresses[0]!,
      };
      nodes.push({ endpoint, group: g });
    }
    if (groups.some((g) => g.nodeAddress)) nodes.push({ endpoint: { id: 'node', kind: 'node' } });
    for (const b of blocks) nodes.push({ endpoint: { id: blockName(b), kind: 'external', cidr: b.cidr, except: b.except, address: b.address } });
    for (const n of nodes) this.byId.set(n.endpoint.id, n);

    this.snap = new CompiledEngine(view).snapshot();
    this.scanner = new PortScanner(this.snap, family);

    const focus = opts.focus === undefined ? undefined : this.focusTest(view, opts.focus);
    const edges: Edge[] = [];
    const seen = new Set<string>();
    for (const a of nodes) {
      for (const b of nodes) {
        if (focus && !focus(a) && !focus(b)) continue;
        const e = this.judge(a, b, true);
        if (!e || !PROTOCOLS.some((p) => e.ports[p].length > 0)) continue;
        edges.push(e);
        seen.add(e.from).add(e.to);
      }
    }
    const endpoints = nodes.filter((n) => !focus || focus(n) || seen.has(n.endpoint.id)).map((n) => n.endpoint);
    this.result = { family, endpoints, edges, leftOut };
  }

  /** Every port of the pair judged (parts cover allowed and denied runs); undefined when an id is unknown or the pair is never judged (two non-pods, a lone pod with itself). */
  pair(from: string, to: string): Edge | undefined {
    const a = this.byId.get(from), b = this.byId.get(to);
    return a && b ? this.judge(a, b, false) : undefined;
  }

  endpoint(id: string): Endpoint | undefined {
    return this.byId.get(id)?.endpoint;
  }

  private focusTest(view: ClusterView, focus: string): (n: Vertex) => boolean {
    if (focus.includes('/')) {
      if (!view.pods.has(focus)) throw new AnalysisInputError(`--focus ${focus}: no pod ${focus} in the input (${podsThere(view.pods.values(), focus.split('/')[0]!)})`);
      return (n) => n.endpoint.pods?.includes(focus) === true;
    }
    if (![...view.pods.values()].some((p) => p.namespace === focus)) throw new AnalysisInputError(`--focus ${focus}: ${podsThere(view.pods.values(), focus)}`);
    return (n) => n.endpoint.namespace === focus;
  }

  /** The CIDRs of the rules of the policies selecting a group's pods, for one direction (what can tell its peers apart by address). */
  private cidrsOf(g: PodGroup, dir: Direction): readonly ParsedCIDR[] {
    const cache = dir === 'egress' ? this.egressCIDRs : this.ingressCIDRs;
    let c = cache.get(g);
    if (!c) {
      const seen = new Map<string, ParsedCIDR>();
      const add = (text: string) => {
        const x = parseCIDR(text);
        if (x && x.family === this.family) seen.set(text, x);
      };
      for (const pol of this.view.policies.values()) {
        if (!policySelectsPod(pol, g.rep)) continue;
        for (const r of dir === 'egress' ? pol.egress : pol.ingress) for (const peer of r.peers) if (peer.ipBlock) [peer.ipBlock.cidr, ...peer.ipBlock.except].forEach(add);
      }
      const nsLabels = namespaceLabels(this.view, g.namespace);
      for (const cp of this.view.clusterPolicies.values()) {
        if (!clusterPolicySelectsPod(cp, g.rep, nsLabels)) continue;
        for (const r of dir === 'egress' ? cp.egress : cp.ingress) for (const peer of r.peers) clusterPeerCIDRs(peer, this.view.nodes).forEach(add);
      }
      // The members' own nodes: traffic between a pod and its node is exempt whatever the
      // policies say (spec-facts), so a peer address that is a member's node is a cell of its own.
      for (const name of new Set(g.members.map((p) => p.nodeName))) {
        for (const a of (name !== undefined ? this.view.nodes.get(name)?.addresses : undefined) ?? []) add(`${a}/${a.includes(':') ? 128 : 32}`);
      }
      // Interned by content, so cells() can cache per (group, CIDR list).
      const list = [...seen.values()];
      const content = [...seen.keys()].sort().join(' ');
      c = this.cidrLists.get(content);
      if (!c) this.cidrLists.set(content, (c = list));
      cache.set(g, c);
    }
    return c;
  }

  /** A group's members split by which of the CIDRs hold their address (one cell when none can tell). */
  private cells(g: PodGroup, cidrs: readonly ParsedCIDR[]): readonly (readonly number[])[] {
    if (cidrs.length === 0 || g.members.length === 1) return this.wholeGroup(g);
    let perGroup = this.cellCache.get(cidrs);
    if (!perGroup) this.cellCache.set(cidrs, (perGroup = new Map()));
    const hit = perGroup.get(g);
    if (hit) return hit;
    // Only a CIDR holding some members but not all can tell them apart (a CIDR is one range of
    // addresses: compared with the members' lowest and highest address first).
    const { ips, low, high } = this.ipsOf(g);
    const cutting: ParsedCIDR[] = [];
    for (const c of cidrs) {
      let r = this.cidrRanges.get(c);
      if (!r) {
        const first = ipToBig(c);
        this.cidrRanges.set(c, (r = { first, last: first + (1n << BigInt((c.family === 'IPv4' ? 32 : 128) - c.prefix)) - 1n }));
      }
      if (r.last < low || r.first > high || (r.first <= low && r.last >= high)) continue;
      cutting.push(c);
    }
    if (cutting.length === 0) {
      const w = this.wholeGroup(g);
      perGroup.set(g, w);
      return w;
    }
    const by = new Map<string, number[]>();
    ips.forEach((ip, i) => {
      const sig = cutting.map((c) => (cidrContains(c, ip) ? '1' : '0')).join('');
      let l = by.get(sig);
      if (!l) by.set(sig, (l = []));
      l.push(i);
    });
    const cells = [...by.values()];
    perGroup.set(g, cells);
    return cells;
  }

  /** The members' addresses parsed, and the lowest and highest of them. */
  private ipsOf(g: PodGroup): { readonly ips: readonly ParsedIP[]; readonly low: bigint; readonly high: bigint } {
    let r = this.groupIPs.get(g);
    if (!r) {
      const ips = g.addresses.map((a) => parseIP(a)!);
      const keys = ips.map(ipToBig);
      let low = keys[0]!, high = keys[0]!;
      for (const k of keys) {
        if (k < low) low = k;
        if (k > high) high = k;
      }
      this.groupIPs.set(g, (r = { ips, low, high }));
    }
    return r;
  }

  /** The members' addresses as judge4/judge6 words, in member order. */
  private wordsOf(g: PodGroup): readonly (readonly number[])[] {
    let w = this.groupWords.get(g);
    if (!w) this.groupWords.set(g, (w = this.ipsOf(g).ips.map((ip) => ip.words.map((x) => x | 0))));
    return w;
  }

  private wholeGroup(g: PodGroup): readonly (readonly number[])[] {
    let w = this.whole.get(g);
    if (!w) this.whole.set(g, (w = [g.members.map((_, i) => i)]));
    return w;
  }

  /**
   * Every port of a -> b judged. `listing`: the pair is wanted only when some port is allowed, so
   * one that allows nothing is dropped after the scan, before any object is built.
   */
  private judge(a: Vertex, b: Vertex, listing: boolean): Edge | undefined {
    const ga = a.group, gb = b.group;
    const from = a.endpoint.id, to = b.endpoint.id;
    const scanner = this.scanner;
    if (ga && gb) {
      const scs = this.cells(ga, this.cidrsOf(gb, 'ingress')), dcs = this.cells(gb, this.cidrsOf(ga, 'egress'));
      const sw = this.wordsOf(ga), dw = this.wordsOf(gb);
      let n = 0, any = false;
      const pairs = this.cellPairs;
      pairs.length = 0;
      for (const sc of scs) {
        for (const dc of dcs) {
          // A group with itself: between two different pods (a cell pair holding one pod only is no pair).
          let si: number | undefined = sc[0], di: number | undefined = dc[0];
          if (ga === gb) {
            si = di = undefined;
            for (let x = 0; x < sc.length && si === undefined; x++) {
              for (let y = 0; y < dc.length; y++) {
                if (dc[y] !== sc[x]) { si = sc[x]; di = dc[y]; break; }
              }
            }
            if (si === undefined) continue;
          }
          if (scanner.scan(n++, sw[si!]!, dw[di!]!, this.startsFor(ga, gb, gb.members[di!]!.ports))) any = true;
          pairs.push(sc, dc);
        }
      }
      if (n === 0 || (listing && !any)) return undefined;
      const first = scanner.build(0);
      if (n === 1) return { from, to, ports: first.ports, parts: first.parts };
      const variants: EdgeVariant[] = [];
      let same = true;
      for (let v = 0; v < n; v++) {
        const j = v === 0 ? first : scanner.build(v);
        if (v > 0 && same && !sameParts(j.parts, first.parts)) same = false;
        variants.push({ fromPods: this.podsOf(ga, pairs[2 * v]!), toPods: this.podsOf(gb, pairs[2 * v + 1]!), ...j });
      }
      if (same) return { from, to, ports: first.ports, parts: first.parts };
      const ports: PortSet = {
        TCP: normaliseRanges(variants.flatMap((v) => v.ports.TCP)),
        UDP: normaliseRanges(variants.flatMap((v) => v.ports.UDP)),
        SCTP: normaliseRanges(variants.flatMap((v) => v.ports.SCTP)),
      };
      return { from, to, ports, parts: first.parts, split: variants };
    }
    let ok: boolean;
    if (ga && b.endpoint.kind === 'node') {
      if (!ga.nodeAddress) return undefined;
      ok = scanner.scan(0, this.wordsOf(ga)[0]!, this.words(ga.nodeAddress), this.startsFor(ga, undefined, undefined));
    } else if (gb && a.endpoint.kind === 'node') {
      if (!gb.nodeAddress) return undefined;
      ok = scanner.scan(0, this.words(gb.nodeAddress), this.wordsOf(gb)[0]!, this.startsFor(undefined, gb, gb.rep.ports));
    } else if (ga) ok = scanner.scan(0, this.wordsOf(ga)[0]!, this.words(b.endpoint.address!), this.startsFor(ga, undefined, undefined));
    else if (gb) ok = scanner.scan(0, this.words(a.endpoint.address!), this.wordsOf(gb)[0]!, this.startsFor(undefined, gb, gb.rep.ports));
    else return undefined;
    if (listing && !ok) return undefined;
    return { from, to, ...scanner.build(0) };
  }

  /** "ns/name" of the members in a cell (interned per cell: only split edges ask). */
  private podsOf(g: PodGroup, cell: readonly number[]): readonly string[] {
    let p = this.cellPods.get(cell);
    if (!p) this.cellPods.set(cell, (p = cell.map((i) => g.pods[i]!)));
    return p;
  }

  /** The boundaries of the rules of the policies selecting a group's pods (all alike: one template), per direction. */
  private boundsOf(g: PodGroup | undefined, dir: Direction): number {
    if (!g) return 0;
    let b = this.groupBounds.get(g);
    if (!b) {
      const nsLabels = namespaceLabels(this.view, g.namespace);
      const pols = [...this.view.policies.values()].filter((p) => policySelectsPod(p, g.rep));
      const cps = [...this.view.clusterPolicies.values()].filter((cp) => clusterPolicySelectsPod(cp, g.rep, nsLabels));
      b = { egress: this.internBounds(portBoundaries(pols, cps, 'egress')), ingress: this.internBounds(portBoundaries(pols, cps, 'ingress')) };
      this.groupBounds.set(g, b);
    }
    return b[dir];
  }

  private internBounds(b: Record<Protocol, Set<number>>): number {
    const key = PROTOCOLS.map((p) => [...b[p]].sort((x, y) => x - y).join(',')).join('|');
    let i = this.boundIndex.get(key);
    if (i === undefined) {
      i = key === '||' ? 0 : this.boundSets.push(b) - 1;
      this.boundIndex.set(key, i);
    }
    return i;
  }

  private portsId(ports: readonly ContainerPort[] | undefined): number {
    if (!ports) return 0;
    let i = this.portsIds.get(ports);
    if (i === undefined) {
      const key = ports.filter((p) => p.name !== undefined).map((p) => `${p.protocol}/${p.containerPort}`).sort().join(',');
      i = this.portsIndex.get(key);
      if (i === undefined) this.portsIndex.set(key, (i = key === '' ? 0 : this.portsIndex.size + 1));
      this.portsIds.set(ports, i);
    }
    return i;
  }

  /** The first port of each interval of src -> dst, per protocol (see the file header). */
  private startsFor(src: PodGroup | undefined, dst: PodGroup | undefined, dstPorts: readonly ContainerPort[] | undefined): Record<Protocol, Int32Array> {
    const e = this.boundsOf(src, 'egress'), i = this.boundsOf(dst, 'ingress');
    const rest = i * 2 ** 20 + this.portsId(dstPorts);
    let byRest = this.starts.get(e);
    if (!byRest) this.starts.set(e, (byRest = new Map()));
    let s = byRest.get(rest);
    if (!s) {
      const be = this.boundSets[e]!, bi = this.boundSets[i]!;
      const one = (p: Protocol) => intervalStarts([...be[p], ...bi[p]], dstPorts, p);
      s = { TCP: one('TCP'), UDP: one('UDP'), SCTP: one('SCTP') };
      byRest.set(rest, s);
    }
    return s;
  }

  /** An address as the int32 words judge4/judge6 take (see engine-api.ts: int32 avoids boxing). */
  private words(addr: string): readonly number[] {
    let w = this.wordCache.get(addr);
    if (!w) this.wordCache.set(addr, (w = parseIP(addr)!.words.map((x) => x | 0)));
    return w;
  }
}

/** Equal runs with the same decisions (side decisions are interned per analysis, so identity compares them). */
function sameParts(a: readonly EdgePart[], b: readonly EdgePart[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x.protocol !== y.protocol || x.allowed !== y.allowed || x.egress !== y.egress || x.ingress !== y.ingress || x.ranges.length !== y.ranges.length) return false;
    for (let k = 0; k < x.ranges.length; k++) if (x.ranges[k]!.from !== y.ranges[k]!.from || x.ranges[k]!.to !== y.ranges[k]!.to) return false;
  }
  return true;
}

/** The connectivity of a view (see the file header). Throws AnalysisInputError for an unknown focus. */
export function computeConnectivity(view: ClusterView, opts: ConnectivityOptions = {}): Connectivity {
  return new ConnectivityAnalysis(view, opts).result;
}
