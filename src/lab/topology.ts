// A kind-like cluster made of network namespaces on this machine: every Node of the manifests
// is a node namespace with its own Palisade agent, as on a kind cluster.
//
//   plab.<lab>.node                 the node of a single-node lab (one Node in the manifests, none,
//                                   or `--node NAME` to play just that one)
//   plab.<lab>.node.<node>          one per Node when the manifests hold several
//       forwarding on; its addresses (first of each family of Node status.addresses) on lo; one
//       veth per pod running there with a /32 and /128 route per pod; its agent (lab-agent.ts,
//       `--node <node>`: it judges only the pods whose spec.nodeName is that node)
//   plab.<lab>.underlay             multi-node labs: a bridge (kind's docker network) with one
//                                   port per node; the node end of each is `ul0`, holding the
//                                   node's link addresses 169.254.100.<i+1>/24 and fe80::100:<i+1>
//       each node routes the other nodes' addresses, their spec.podCIDRs (when the Node gives
//       them) and a /32 or /128 per pod outside those CIDRs via the owner's link address, with
//       its own node address as source: pod -> remote pod is forwarded by both nodes (egress
//       judged on the source node, ingress on the destination node, like a real cluster), and a
//       node's own connections carry its node IP
//   plab.<lab>.pod.<ns>_<name>      one per pod with IPs: eth0 holds the pod's IPv4 /32 and IPv6
//                                   /128; default routes via 169.254.1.1 and fe80::1, which the node
//                                   end of the veth holds (the shape of kind's ptp CNI and Calico)
//   plab.<lab>.ext.<name>           optional outside hosts, wired like pods to the first node
//
// Pod <-> pod traffic is routed by the node namespaces (FORWARD), pod <-> own node traffic is
// local to the node (INPUT/OUTPUT), exactly the hooks a CNI node has, so an agent running in a
// node namespace sees what it would see on a kind node. Host-network pods get no namespace:
// their node's namespace plays them (its endpoint serves their ports on the node's addresses, a
// probe from one leaves the node namespace with the node IP as source, a probe to one targets
// the node IP). Nothing is connected to the root namespace: no veth leaves the lab, there is no
// default route and no NAT, so lab traffic cannot leave.
//
// Every namespace but the underlay runs one endpoint process (endpoint.ts) that serves the
// pod's (or node's) ports and sends probes from it.
//
// For a conformance runner: labSpecFromCluster(view, {extraPorts, servedPorts}) -> labUp ->
// writeLabManifests + startLabAgent (one agent per node) -> per step writeLabManifests (any
// object, cluster-scoped ones too: the agents follow the folder) + waitForEnforced (every agent)
// + flushLabConntrack (every node) -> LabProber.run with "ns/pod" (host-network pods too),
// "node:<name>" or IPs -> stopLabAgent + labDown.

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Node, Pod, Protocol } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import { podIsFinished } from '../cluster/pod-phase.ts';
import type { ClusterView } from '../cluster/state.ts';
import { canonicalIP, parseIP } from '../net/address.ts';
import { reserveEndpoints, startEndpoints, type EndpointWanted } from './endpoint-procs.ts';
import { NO_PORTS, type ServePorts } from './endpoint-wire.ts';
import type { LabEndpointRecord, LabExternalRecord, LabNodeRecord, LabPodRecord, LabState } from './lab-state.ts';
import { labNodes, labStateDir, readLabState, writeLabState } from './lab-state.ts';
import {
  deleteNetns, externalNetnsName, hostIfName, labNameProblem, labNetnsPrefix, listNetns,
  netnsPids, nodeNetnsName, podNetnsName, underlayNetnsName,
} from './netns.ts';
import { buildLeaf, buildNode, buildUnderlay, killPids, removeLeaf, routeLeafElsewhere, underlayAddresses } from './wiring.ts';

export { GATEWAY_V4, GATEWAY_V6 } from './wiring.ts';

export interface LabSpecPod {
  readonly namespace: string;
  readonly name: string;
  readonly ips: readonly string[];
  readonly ports: ServePorts;
  /** The node it runs on (multi-node labs; absent: the first node). */
  readonly node?: string;
}

/** A host-network pod: its node's namespace plays it. */
export interface LabSpecHostPod {
  readonly namespace: string;
  readonly name: string;
  /** Its node (absent: the first node). */
  readonly node?: string;
  readonly ports: ServePorts;
}

export interface LabSpecExternal {
  readonly name: string;
  readonly ips: readonly string[];
}

export interface LabSpecNode {
  readonly name?: string;
  readonly ips: readonly string[];
  /** Routed to this node as a whole by the other nodes (multi-node labs). */
  readonly podCIDRs: readonly string[];
  /** What its endpoint serves. */
  readonly ports: ServePorts;
}

/** What a lab should hold. */
export interface LabSpec {
  /** The first node (a single-node lab's only node). */
  readonly node: { readonly name?: string; readonly ips: readonly string[] };
  readonly pods: readonly LabSpecPod[];
  readonly externals: readonly LabSpecExternal[];
  /** Ports the first node's namespace serves (for probes whose destination is the node). */
  readonly nodePorts: ServePorts;
  /** Every node, first = `node` (absent: `node` alone, serving `nodePorts`). */
  readonly nodes?: readonly LabSpecNode[];
  readonly hostPods?: readonly LabSpecHostPod[];
}

export interface LabSpecOptions {
  /** Play only this Node (a single-node lab running every pod), when the manifests hold several. */
  readonly node?: string;
  readonly externals?: readonly LabSpecExternal[];
  /** Served by every pod (and every node) on top of its container ports. */
  readonly extraPorts?: ServePorts;
  /** Served by one pod ("ns/name") on top of its container ports (a host-network pod: by its node). */
  readonly servedPorts?: ReadonlyMap<string, ServePorts>;
}

function mergePorts(...sets: ServePorts[]): ServePorts {
  const u = (k: keyof ServePorts) => [...new Set(sets.flatMap((s) => s[k]))].sort((a, b) => a - b);
  return { tcp: u('tcp'), udp: u('udp'), sctp: u('sctp') };
}

function portsOf(ports: readonly { containerPort: number; protocol: Protocol }[]): ServePorts {
  return mergePorts({
    tcp: ports.filter((p) => p.protocol === 'TCP').map((p) => p.containerPort),
    udp: ports.filter((p) => p.protocol === 'UDP').map((p) => p.containerPort),
    sctp: ports.filter((p) => p.protocol === 'SCTP').map((p) => p.containerPort),
  });
}

export const NO_EXTRA: ServePorts = NO_PORTS;

/** First address of each family; a note when the Node has more. */
function nodeAddresses(node: Node, notes: string[]): string[] {
  const ips: string[] = [];
  for (const fam of ['IPv4', 'IPv6'] as const) {
    const ip = node.addresses.find((a) => parseIP(a)?.family === fam);
    if (ip) ips.push(ip);
  }
  if (node.addresses.length > ips.length) notes.push(`Node ${node.name}: only the first address of each family is put on the lab node (${ips.join(', ')})`);
  return ips;
}

/**
 * The lab for a cluster. Every Node is a lab node (unless opts.node picks one, or there is at
 * most one: then every pod runs on that single node, as before labs had several). Pods get a
 * namespace on their node when they have addresses, are not host-network and have not finished
 * (Succeeded/Failed pods have no sandbox, and their IP may belong to another pod); host-network
 * pods are played by their node. Notes say what was left out or moved and why.
 */
export function labSpecFromCluster(view: ClusterView, opts: LabSpecOptions = {}): { spec: LabSpec; notes: string[] } {
  const notes: string[] = [];
  const extra = opts.extraPorts ?? NO_EXTRA;
  const served = (key: string) => opts.servedPorts?.get(key) ?? NO_PORTS;
  const all = [...view.nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
  let played = all;
  if (opts.node !== undefined) {
    const n = view.nodes.get(opts.node);
    if (!n) throw new Error(`no Node "${opts.node}" in the manifests (have: ${all.map((x) => x.name).join(', ') || 'none'})`);
    played = [n];
  }
  const multi = played.length > 1;
  if (played.length === 0) notes.push('no Node object: the lab node has no address, so probes from or to "node" are not possible');
  const ipsOf = new Map(played.map((n) => [n.name, nodeAddresses(n, notes)] as const));
  const nodeIpOwner = new Map<string, string>();
  for (const [name, ips] of ipsOf) for (const ip of ips) nodeIpOwner.set(ip, name);
  const first = played[0];
  // Single-node labs run every pod on their node; multi-node labs run a pod on its spec.nodeName.
  const homeOf = (p: Pod): Node | undefined => (multi ? played.find((n) => n.name === p.nodeName) : first);

  const pods: LabSpecPod[] = [];
  const hostPods: LabSpecHostPod[] = [];
  const owner = new Map<string, string>();
  const sorted = [...view.pods.values()].sort((a, b) => podKey(a).localeCompare(podKey(b)));
  const live = (p: Pod) => !podIsFinished(p);
  // Live pods claim their addresses first, so a finished pod never takes a live pod's IP.
  for (const p of [...sorted.filter(live), ...sorted.filter((q) => !live(q))]) {
    const key = podKey(p);
    if (p.hostNetwork) {
      const home = homeOf(p);
      if (multi && !home) {
        notes.push(`pod ${key} uses the host network of ${p.nodeName || 'no node'}, which is no Node of the manifests: left out`);
        continue;
      }
      hostPods.push({ namespace: p.namespace, name: p.name, ...(home ? { node: home.name } : {}), ports: mergePorts(portsOf(p.ports), served(key)) });
      notes.push(multi
        ? `pod ${key} uses the host network: node ${home!.name} plays it (its ports are served there)`
        : `pod ${key} uses the host network: it is the lab node (its ports are served there)`);
      continue;
    }
    if (!live(p)) {
      notes.push(`pod ${key} is ${p.phase}: no namespace (a finished pod has no network)`);
      continue;
    }
    if (p.ips.length === 0) {
      notes.push(`pod ${key} has no IP (status.podIPs): no namespace`);
      continue;
    }
    const clash = p.ips.find((ip) => owner.has(ip));
    if (clash) {
      notes.push(`pod ${key}: address ${clash} already belongs to ${owner.get(clash)}: no namespace`);
      continue;
    }
    if (p.ips.some((ip) => nodeIpOwner.has(ip))) {
      notes.push(`pod ${key}: its address is the node's: no namespace`);
      continue;
    }
    for (const ip of p.ips) owner.set(ip, key);
    let home = homeOf(p);
    if (!multi && first && p.nodeName && p.nodeName !== first.name) notes.push(`pod ${key} is scheduled on ${p.nodeName}; the lab runs every pod on ${first.name}`);
    if (multi && !home) {
      home = first!;
      notes.push(`pod ${key} is scheduled on ${p.nodeName || 'no node'}, which is no Node of the manifests: the lab runs it on ${home.name}, whose agent does not judge it`);
    }
    pods.push({ namespace: p.namespace, name: p.name, ips: [...p.ips], ports: mergePorts(portsOf(p.ports), extra, served(key)), ...(multi ? { node: home!.name } : {}) });
  }
  const externals = (opts.externals ?? []).map((e) => ({ name: e.name, ips: e.ips.map((ip) => canonicalIP(ip) ?? ip) }));
  for (const e of externals) {
    for (const ip of e.ips) {
      if (!parseIP(ip)) throw new Error(`outside host ${e.name}: "${ip}" is not an IP address`);
      if (owner.has(ip)) throw new Error(`outside host ${e.name}: address ${ip} belongs to pod ${owner.get(ip)}`);
      if (nodeIpOwner.has(ip)) throw new Error(`outside host ${e.name}: address ${ip} is the node's${multi ? ` (${nodeIpOwner.get(ip)})` : ''}`);
      owner.set(ip, `ext:${e.name}`);
    }
  }
  // A node serves every port any pod serves (so "to: node" probes get an answer) and the ports
  // of the host-network pods it plays.
  const podPorts = mergePorts(extra, ...pods.map((p) => p.ports));
  const nodeSpec = (n: Node | undefined): LabSpecNode => ({
    ...(n ? { name: n.name } : {}),
    ips: n ? ipsOf.get(n.name)! : [],
    podCIDRs: multi ? [...(n!.podCIDRs ?? [])] : [],
    ports: mergePorts(podPorts, ...hostPods.filter((h) => !multi || h.node === n!.name).map((h) => h.ports)),
  });
  const nodes = multi ? played.map(nodeSpec) : [nodeSpec(first)];
  const spec: LabSpec = {
    node: { ...(nodes[0]!.name !== undefined ? { name: nodes[0]!.name } : {}), ips: nodes[0]!.ips },
    pods, externals, nodePorts: nodes[0]!.ports, nodes, hostPods,
  };
  return { spec, notes };
}

// ---------------------------------------------------------------------------------------------
// Building

function samePorts(a: ServePorts, b: ServePorts): boolean {
  return JSON.stringify(mergePorts(a)) === JSON.stringify(mergePorts(b));
}

function specNodes(spec: LabSpec): readonly LabSpecNode[] {
  if (spec.nodes && spec.nodes.length > 0) return spec.nodes;
  return [{ ...(spec.node.name !== undefined ? { name: spec.node.name } : {}), ips: spec.node.ips, podCIDRs: [], ports: spec.nodePorts }];
}

/**
 * The part of a spec that `labUp` rebuilds a lab for when it changes (the nodes, their
 * addresses and pod CIDRs): a runner reusing labs across cases can match cases to labs by it.
 */
export function labTopologyKey(spec: LabSpec): string {
  return topologyKey(specNodes(spec));
}

function topologyKey(nodes: readonly { name?: string; ips: readonly string[]; podCIDRs: readonly string[] }[]): string {
  return JSON.stringify(nodes.map((n) => [n.name ?? null, n.ips, n.podCIDRs]));
}

export interface LabUpOptions {
  readonly name: string;
  /** The folder the agent should follow; defaults to <state dir>/manifests. */
  readonly manifestsDir?: string;
}

/**
 * Creates the lab, or brings an existing one in line with `spec`: pods that are gone, moved to
 * another node or changed address are removed, new ones added, and every endpoint's served ports
 * updated. The nodes are rebuilt (with everything) only when the nodes, their addresses or pod
 * CIDRs change.
 */
export async function labUp(spec: LabSpec, opts: LabUpOptions): Promise<LabState> {
  const problem = labNameProblem(opts.name);
  if (problem) throw new Error(problem);
  const wanted = specNodes(spec);
  const multi = wanted.length > 1;
  if (multi) {
    const unnamed = wanted.findIndex((n) => !n.name);
    if (unnamed >= 0) throw new Error(`lab node ${unnamed} has no name: every node of a multi-node lab needs one`);
  }
  let state = readLabState(opts.name);
  const existing = new Set(await listNetns());
  const broken = (s: LabState) => labNodes(s).some((n) => !existing.has(n.netns)) || (s.underlayNetns !== undefined && !existing.has(s.underlayNetns));
  if (state && (broken(state) || topologyKey(labNodes(state)) !== topologyKey(wanted))) {
    await labDown(opts.name);
    state = undefined;
  } else if (!state && [...existing].some((n) => n.startsWith(labNetnsPrefix(opts.name)))) {
    // Leftovers of a crashed run without a record: start clean.
    await labDown(opts.name);
  }
  const dir = labStateDir(opts.name);
  if (!state) {
    mkdirSync(dir, { recursive: true });
    const manifestsDir = opts.manifestsDir ?? join(dir, 'manifests');
    mkdirSync(manifestsDir, { recursive: true });
    const nodes: LabNodeRecord[] = wanted.map((n, i) => ({
      ...(n.name !== undefined ? { name: n.name } : {}),
      netns: multi ? nodeNetnsName(opts.name, n.name) : nodeNetnsName(opts.name),
      ips: [...n.ips], podCIDRs: [...n.podCIDRs],
      ...(multi ? { underlay: underlayAddresses(i) } : {}),
      label: multi ? `node:${n.name!}` : 'node',
      ports: NO_PORTS,
    }));
    const first = nodes[0]!;
    state = {
      version: 1, name: opts.name, dir, nodeNetns: first.netns,
      node: { ...(first.name !== undefined ? { name: first.name } : {}), ips: [...first.ips] },
      nodes, ...(multi ? { underlayNetns: underlayNetnsName(opts.name) } : {}), hostPods: [],
      manifestsDir, pods: [], externals: [], endpoints: {}, nodePorts: NO_PORTS, nextSocket: 0,
    };
    writeLabState(state);
    try {
      await Promise.all(nodes.map((n) => buildNode(n.netns, n.ips)));
      if (state.underlayNetns) await buildUnderlay(state.underlayNetns, nodes);
    } catch (e) {
      await labDown(opts.name).catch(() => {});
      throw e;
    }
  } else if (opts.manifestsDir) {
    state.manifestsDir = opts.manifestsDir;
  }
  try {
    await reconcile(state, spec);
  } finally {
    writeLabState(state);
  }
  return state;
}

/** Whether the endpoint recorded for a namespace still runs there. */
async function endpointAlive(state: LabState, netns: string): Promise<LabEndpointRecord | undefined> {
  const rec = state.endpoints[netns];
  if (rec?.pid && (await netnsPids(netns)).includes(rec.pid)) return rec;
  delete state.endpoints[netns];
  return undefined;
}

async function reconcile(state: LabState, spec: LabSpec): Promise<void> {
  const lab = state.name;
  const nodes = (state.nodes = labNodes(state));
  const byName = new Map(nodes.filter((n) => n.name !== undefined).map((n) => [n.name!, n] as const));
  const byNetns = new Map(nodes.map((n) => [n.netns, n] as const));
  const homeOf = (node: string | undefined) => (node !== undefined ? byName.get(node) : undefined) ?? nodes[0]!;
  const homeOfRec = (r: { nodeNetns?: string }) => byNetns.get(r.nodeNetns ?? state.nodeNetns) ?? nodes[0]!;
  const want = new Map(spec.pods.map((p) => [podKey(p), p] as const));
  const toStart: EndpointWanted[] = [];
  const toServe: { rec: LabEndpointRecord; ports: ServePorts }[] = [];

  // Pods: remove what is gone, moved or changed address, keep the rest (maybe with new ports).
  const keep: LabPodRecord[] = [];
  for (const p of state.pods) {
    const w = want.get(p.key);
    const home = homeOfRec(p);
    if (w && JSON.stringify(w.ips) === JSON.stringify(p.ips) && homeOf(w.node) === home) {
      keep.push(p);
      const ep = await endpointAlive(state, p.netns);
      if (!ep) {
        // Its endpoint died (or was killed): start a new one, so `lab up` also repairs a lab.
        p.ports = w.ports;
        toStart.push({ netns: p.netns, label: p.key, ports: w.ports });
      } else if (!samePorts(w.ports, p.ports)) {
        p.ports = w.ports;
        toServe.push({ rec: ep, ports: w.ports });
      }
    } else {
      await removeLeaf(home.netns, p.hostIf, p.netns);
      await routeLeafElsewhere(nodes, home, p.ips, 'del');
      delete state.endpoints[p.netns];
    }
  }
  state.pods = [...keep];
  const have = new Set(keep.map((p) => p.key));
  const added: { rec: LabPodRecord; home: LabNodeRecord }[] = [];
  for (const p of spec.pods) {
    const key = podKey(p);
    if (have.has(key)) continue;
    const home = homeOf(p.node);
    added.push({ home, rec: { key, namespace: p.namespace, name: p.name, netns: podNetnsName(lab, p.namespace, p.name), nodeNetns: home.netns, hostIf: hostIfName('pod', key), ips: [...p.ips], ports: p.ports } });
  }
  // Namespaces are independent of each other: build them a few at a time.
  await inBatches(added, 4, async ({ rec, home }) => {
    await buildLeaf(home.netns, home.ips, rec.netns, rec.hostIf, rec.ips);
    await routeLeafElsewhere(nodes, home, rec.ips, 'replace');
    state.pods.push(rec);
    toStart.push({ netns: rec.netns, label: rec.key, ports: rec.ports });
  });

  // Host-network pods: their node plays them.
  state.hostPods = (spec.hostPods ?? []).map((h) => ({ key: podKey(h), namespace: h.namespace, name: h.name, nodeNetns: homeOf(h.node).netns, ports: h.ports }));

  // Outside hosts, wired to the first node.
  const wantExt = new Map(spec.externals.map((e) => [e.name, e] as const));
  const keepExt: LabExternalRecord[] = [];
  for (const e of state.externals) {
    const w = wantExt.get(e.name);
    if (w && JSON.stringify(w.ips) === JSON.stringify(e.ips)) keepExt.push(e);
    else {
      const home = homeOfRec(e);
      await removeLeaf(home.netns, e.hostIf, e.netns);
      await routeLeafElsewhere(nodes, home, e.ips, 'del');
      delete state.endpoints[e.netns];
    }
  }
  state.externals = [...keepExt];
  const extPorts = spec.nodePorts;
  for (const e of spec.externals) {
    if (keepExt.some((k) => k.name === e.name)) continue;
    const home = nodes[0]!;
    const rec: LabExternalRecord = { name: e.name, netns: externalNetnsName(lab, e.name), nodeNetns: home.netns, hostIf: hostIfName('ext', e.name), ips: [...e.ips] };
    await buildLeaf(home.netns, home.ips, rec.netns, rec.hostIf, rec.ips);
    await routeLeafElsewhere(nodes, home, rec.ips, 'replace');
    state.externals.push(rec);
    toStart.push({ netns: rec.netns, label: `ext:${e.name}`, ports: extPorts });
  }
  for (const e of keepExt) {
    const rec = await endpointAlive(state, e.netns);
    if (rec) toServe.push({ rec, ports: extPorts });
    else toStart.push({ netns: e.netns, label: `ext:${e.name}`, ports: extPorts });
  }

  // Each node's endpoint: every port a pod serves, and its host-network pods' ports.
  const wanted = specNodes(spec);
  for (const [i, n] of nodes.entries()) {
    const ports = wanted[i]?.ports ?? spec.nodePorts;
    const rec = await endpointAlive(state, n.netns);
    if (!rec) toStart.push({ netns: n.netns, label: n.label, ports });
    else if (!samePorts(n.ports, ports)) toServe.push({ rec, ports });
    n.ports = ports;
  }
  state.nodePorts = nodes[0]!.ports;

  writeLabState(state);
  await startEndpoints(state, toStart);
  await reserveEndpoints(toServe);
}

async function inBatches<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

export interface LabDownResult {
  readonly namespaces: string[];
  readonly pids: number[];
  readonly stateRemoved: boolean;
}

/**
 * Removes a lab: stops every process running in one of its namespaces (endpoints, agents; found
 * with `ip netns pids`, so this works from the names alone after a crash), deletes every
 * namespace carrying its prefix (the veths and routes go with them) and its state folder.
 */
export async function labDown(name: string): Promise<LabDownResult> {
  const problem = labNameProblem(name);
  if (problem) throw new Error(problem);
  const prefix = labNetnsPrefix(name);
  const namespaces = (await listNetns()).filter((n) => n.startsWith(prefix));
  // Processes first (in every namespace at once), then the namespaces: pods and outside hosts,
  // then the nodes, then the underlay, so no veth is left dangling in a half-deleted lab.
  const pids = (await Promise.all(namespaces.map((n) => netnsPids(n)))).flat();
  await killPids([...new Set(pids)]);
  const node = nodeNetnsName(name);
  const isNode = (n: string) => n === node || n.startsWith(`${node}.`);
  const underlay = underlayNetnsName(name);
  for (const n of namespaces.filter((x) => !isNode(x) && x !== underlay)) await deleteNetns(n);
  for (const n of namespaces.filter(isNode)) await deleteNetns(n);
  if (namespaces.includes(underlay)) await deleteNetns(underlay);
  const dir = labStateDir(name);
  let stateRemoved = false;
  // Only a folder that was there counts as removed: a typo'd --name must not read as a lab gone.
  if (existsSync(dir)) {
    try {
      rmSync(dir, { recursive: true, force: true });
      stateRemoved = true;
    } catch { /* reported by the caller through stateRemoved */ }
  }
  return { namespaces, pids: [...new Set(pids)], stateRemoved };
}

/** Names of labs that have namespaces on this machine (from the namespace names). */
export async function listLabs(): Promise<string[]> {
  const names = new Set<string>();
  for (const n of await listNetns()) {
    if (!n.startsWith('plab.')) continue;
    const lab = n.slice(5).split('.')[0];
    if (lab) names.add(lab);
  }
  return [...names].sort();
}
