// Seeded random clusters, probes and mutations for the differential tests of the compiled engine
// against the plain evaluator. Everything is drawn from one PRNG so a seed reproduces a run.
//
// The generator aims at the corners where a compiled engine can go wrong: selectors with every
// operator and empty selectors, podSelector/namespaceSelector alone and together, ipBlocks of both
// families with nested excepts around pod addresses, named ports that resolve differently per
// pod (and per protocol, and to several numbers), endPort ranges, SCTP/UDP/TCP, [{}] vs [],
// host-network pods sharing node addresses, finished pods and replacement pods sharing an IP,
// pods without IPs, dual-stack pods, two nodes, a missing Namespace object.

import { randomClusterPolicy, randomNodeLabels, relearnDomainNames, type ClusterPolicyDraws } from './random-cluster-policies.ts';
import type {
  ClusterPolicy, ClusterPolicyKind, ContainerPort, IPBlock, LabelSelector, LabelSelectorRequirement, Labels, Namespace, NetworkPolicy, Node, Pod,
  PolicyPeer, PolicyPort, PolicyRule, Protocol, SelectorOperator,
} from '../src/cluster/model.ts';
import { clusterPolicyId, podKey } from '../src/cluster/model.ts';
import { ClusterState } from '../src/cluster/state.ts';
import type { Connection } from '../src/policy/decision.ts';
import { formatCIDR, formatIP, maskWords, parseIP } from '../src/net/address.ts';

/** mulberry32: small, fast, good enough for test data; same seed, same sequence. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  some<T>(a: readonly T[], max: number): T[] {
    const n = this.int(max + 1);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(this.pick(a));
    return out;
  }
  word(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
}

const LABEL_KEYS = ['app', 'tier', 'env', 'team'];
const LABEL_VALUES = ['a', 'b', 'c'];
const PORT_NAMES = ['http', 'dns', 'metrics', 'x-sctp'];
const PORT_NUMBERS = [53, 80, 81, 443, 5000, 8080, 9090];
const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export interface RandomCluster {
  readonly namespaces: Namespace[];
  readonly nodes: Node[];
  readonly pods: Pod[];
  readonly policies: NetworkPolicy[];
  /** Admin and Baseline tier policies (see random-cluster-policies.ts). */
  readonly clusterPolicies: ClusterPolicy[];
  /** Addresses of no pod and no node, both families. */
  readonly outside: string[];
}

export function randomLabels(r: Rng, max = 3): Record<string, string> {
  const l: Record<string, string> = {};
  for (const k of r.some(LABEL_KEYS, max)) l[k] = r.pick(LABEL_VALUES);
  return l;
}

export function randomSelector(r: Rng, emptyChance = 0.25): LabelSelector {
  if (r.chance(emptyChance)) return { matchLabels: {}, matchExpressions: [] };
  const matchLabels = r.chance(0.6) ? randomLabels(r, 2) : {};
  const matchExpressions: LabelSelectorRequirement[] = [];
  const n = r.chance(0.5) ? r.range(1, 2) : 0;
  for (let i = 0; i < n; i++) {
    const operator = r.pick(OPERATORS);
    const values = operator === 'In' || operator === 'NotIn' ? [...new Set(r.some(LABEL_VALUES, 2).concat(r.pick(LABEL_VALUES)))] : [];
    matchExpressions.push({ key: r.pick(LABEL_KEYS), operator, values });
  }
  return { matchLabels, matchExpressions };
}

function v4(a: number, b: number, c: number, d: number): string {
  return `${a}.${b}.${c}.${d}`;
}

export function randomPorts(r: Rng): ContainerPort[] {
  const out: ContainerPort[] = [];
  const n = r.int(4);
  for (let i = 0; i < n; i++) {
    const p: ContainerPort = r.chance(0.7)
      ? { name: r.pick(PORT_NAMES), containerPort: r.pick(PORT_NUMBERS), protocol: r.pick(PROTOCOLS) }
      : { containerPort: r.pick(PORT_NUMBERS), protocol: r.pick(PROTOCOLS) };
    out.push(p);
  }
  return out;
}

/** A prefix around `ip` (a pod, node or outside address) of a random length, as canonical CIDR text. */
function prefixAround(r: Rng, ip: string, longerThan = -1): string {
  const p = parseIP(ip)!;
  const v4lens = [0, 8, 16, 20, 23, 24, 25, 28, 30, 31, 32];
  const v6lens = [0, 16, 32, 48, 64, 96, 112, 120, 124, 127, 128];
  const lens = (p.family === 'IPv4' ? v4lens : v6lens).filter((l) => l > longerThan);
  const prefix = lens.length ? r.pick(lens) : p.family === 'IPv4' ? 32 : 128;
  return formatCIDR({ family: p.family, words: maskWords(p.words, prefix), prefix });
}

function randomIPBlock(r: Rng, addresses: readonly string[]): IPBlock {
  const base = r.pick(addresses);
  const cidr = prefixAround(r, base);
  const len = Number(cidr.split('/')[1]);
  const except: string[] = [];
  const inside = addresses.filter((a) => {
    const c = parseIP(a)!;
    const b = parseIP(base)!;
    return c.family === b.family && maskWords(c.words, len).join() === maskWords(b.words, len).join();
  });
  const n = r.chance(0.5) ? r.range(1, 3) : 0;
  for (let i = 0; i < n; i++) {
    const e = prefixAround(r, r.pick(inside), len);
    // Nested excepts are legal ("except ... should not be included", each inside cidr).
    except.push(e);
  }
  return { cidr, except };
}

function randomPeer(r: Rng, addresses: readonly string[]): PolicyPeer {
  switch (r.int(4)) {
    case 0: return { podSelector: randomSelector(r) };
    case 1: return { namespaceSelector: randomSelector(r) };
    case 2: return { podSelector: randomSelector(r), namespaceSelector: randomSelector(r) };
    default: return { ipBlock: randomIPBlock(r, addresses) };
  }
}

function randomPolicyPort(r: Rng): PolicyPort {
  const protocol = r.pick(PROTOCOLS);
  switch (r.int(5)) {
    case 0: return { protocol };
    case 1: return { protocol, port: r.pick(PORT_NAMES) };
    case 2: {
      const port = r.pick(PORT_NUMBERS);
      return { protocol, port, endPort: port + r.pick([0, 1, 2, 100, 3000]) };
    }
    default: return { protocol, port: r.pick(PORT_NUMBERS) };
  }
}

function randomRule(r: Rng, addresses: readonly string[]): PolicyRule {
  // [{}] (one rule, no peers, no ports) is the allow-all rule: keep it common.
  const peers = r.chance(0.25) ? [] : Array.from({ length: r.range(1, 3) }, () => randomPeer(r, addresses));
  const ports = r.chance(0.35) ? [] : Array.from({ length: r.range(1, 3) }, () => randomPolicyPort(r));
  return { peers, ports };
}

export function randomPolicy(r: Rng, namespace: string, name: string, addresses: readonly string[]): NetworkPolicy {
  const ingress = r.chance(0.2) ? [] : Array.from({ length: r.range(1, 3) }, () => randomRule(r, addresses));
  const egress = r.chance(0.3) ? [] : Array.from({ length: r.range(1, 3) }, () => randomRule(r, addresses));
  const t = r.int(10);
  const policyTypes = t < 3 ? { ingress: true, egress: false } : t < 5 ? { ingress: false, egress: true } : { ingress: true, egress: true };
  return { namespace, name, podSelector: randomSelector(r, 0.35), policyTypes, ingress, egress };
}

export function randomPod(r: Rng, ns: string, name: string, index: number, nodes: readonly Node[], taken: readonly string[]): Pod {
  const node = r.pick(nodes);
  const kind = r.int(20);
  let ips: string[];
  let hostNetwork = false;
  let phase = 'Running';
  const nsIndex = Number(ns.replace(/\D/g, '')) || 0;
  const own4 = v4(10, 1, nsIndex, index + 1);
  const own6 = formatIP(parseIP(`fd00::${nsIndex.toString(16)}:${(index + 1).toString(16)}`)!);
  if (kind === 0) {
    hostNetwork = true;
    ips = [...node.addresses];
  } else if (kind === 1) {
    ips = [];
    phase = 'Pending';
  } else if (kind === 2) {
    phase = r.pick(['Succeeded', 'Failed']);
    ips = taken.length && r.chance(0.5) ? [r.pick(taken)] : [own4];
  } else if (kind === 3 && taken.length) {
    // A replacement claiming a live pod's IP: Running wins, then the smaller key.
    phase = r.pick(['Running', 'Pending']);
    ips = [r.pick(taken)];
  } else {
    ips = r.chance(0.35) ? [own4, own6] : r.chance(0.1) ? [own6] : [own4];
    phase = r.chance(0.1) ? 'Pending' : 'Running';
  }
  return { namespace: ns, name, labels: randomLabels(r), nodeName: node.name, hostNetwork, phase, ips, ports: randomPorts(r) };
}

/** The draws randomCluster gives randomClusterPolicy (selectors, CIDRs and addresses around `addresses`). */
export function draws(addresses: readonly string[], failClosedFields = false): ClusterPolicyDraws {
  const d: ClusterPolicyDraws = { selector: (r) => randomSelector(r), cidr: (r) => prefixAround(r, r.pick(addresses)), address: (r) => formatIP(parseIP(r.pick(addresses))!) };
  return failClosedFields ? { ...d, failClosedFields } : d;
}

const CLUSTER_KINDS: readonly ClusterPolicyKind[] = ['ClusterNetworkPolicy', 'ClusterNetworkPolicy', 'ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'];

function randomClusterPolicyOf(r: Rng, i: number, addresses: readonly string[], failClosedFields = false): ClusterPolicy {
  const kind = r.pick(CLUSTER_KINDS);
  return randomClusterPolicy(r, kind === 'BaselineAdminNetworkPolicy' ? 'default' : `cnp${i}`, draws(addresses, failClosedFields), kind);
}

/** failClosedFields: cluster policy rules may fail closed on a field too (ClusterPolicyDraws.failClosedFields). */
export function randomCluster(
  r: Rng, size: { namespaces?: number; pods?: number; policies?: number; clusterPolicies?: number; failClosedFields?: boolean } = {},
): RandomCluster {
  const nsCount = size.namespaces ?? r.range(1, 4);
  const namespaces: Namespace[] = [];
  for (let i = 0; i < nsCount; i++) {
    const name = `ns${i}`;
    const labels = { ...randomLabels(r, 2), 'kubernetes.io/metadata.name': name };
    namespaces.push({ name, labels });
  }
  const nodes: Node[] = [{ name: 'node-1', labels: randomNodeLabels(r), addresses: ['192.168.0.1', 'fd01::1'] }];
  if (r.chance(0.6)) nodes.push({ name: 'node-2', labels: randomNodeLabels(r), addresses: ['192.168.0.2'] });
  // Pods may live in a namespace with no Namespace object (its labels default to the name label).
  const podNamespaces = [...namespaces.map((n) => n.name), 'orphan'];
  const pods: Pod[] = [];
  const podCount = size.pods ?? r.range(4, 18);
  for (let i = 0; i < podCount; i++) {
    const ns = r.chance(0.05) ? 'orphan' : r.pick(podNamespaces.slice(0, -1).length ? podNamespaces.slice(0, -1) : podNamespaces);
    const taken = pods.flatMap((p) => p.ips);
    pods.push(randomPod(r, ns, `p${i}`, i, nodes, taken));
  }
  const outside = ['10.1.0.200', '10.1.99.1', '8.8.8.8', '192.168.0.3', '10.2.0.1', 'fd00::ff:1', '2001:db8::1', 'fd01::2'];
  const addresses = [...new Set([...pods.flatMap((p) => p.ips), ...nodes.flatMap((n) => n.addresses), ...outside])];
  const policies: NetworkPolicy[] = [];
  const polCount = size.policies ?? r.range(1, 8);
  for (let i = 0; i < polCount; i++) {
    policies.push(randomPolicy(r, r.pick(podNamespaces), `pol${i}`, addresses));
  }
  // Half the clusters have no cluster policy: NetworkPolicy alone must stay exactly as it was.
  const clusterPolicies: ClusterPolicy[] = [];
  const cpCount = size.clusterPolicies ?? (r.chance(0.5) ? 0 : r.range(1, 5));
  for (let i = 0; i < cpCount; i++) clusterPolicies.push(randomClusterPolicyOf(r, i, addresses, size.failClosedFields));
  return { namespaces, nodes, pods, policies, clusterPolicies, outside };
}

export function stateOf(c: RandomCluster): ClusterState {
  const s = new ClusterState();
  s.batch(() => {
    for (const n of c.namespaces) s.upsertNamespace(n);
    for (const n of c.nodes) s.upsertNode(n);
    for (const p of c.pods) s.upsertPod(p);
    for (const p of c.policies) s.upsertPolicy(p);
    for (const p of c.clusterPolicies) s.upsert(p.kind, p);
  });
  return s;
}

/**
 * Copies of about half the pods (same namespace, labels, ports; new addresses in 10.3.0.0/16 and
 * fd03::/64; a third of them on another node), 1 to maxCopies each, named `<pod>-r<k>`: a
 * Deployment's replicas, which the connectivity model groups and an ipBlock can tell apart.
 */
export function withReplicas(r: Rng, state: ClusterState, maxCopies = 2): void {
  const pods = [...state.pods.values()];
  const nodes = [...state.nodes.keys()];
  let n = 0;
  state.batch(() => {
    for (const p of pods) {
      if (!r.chance(0.5)) continue;
      const copies = maxCopies > 1 ? r.range(1, maxCopies) : 1;
      for (let k = 0; k < copies; k++) {
        n++;
        const ips = p.ips.length === 0 ? [] : [`10.3.${n >> 8}.${n & 255}`, `fd03::${n.toString(16)}`];
        // Replicas spread over nodes: the node endpoint and the node exemption are judged per
        // member's own node.
        const nodeName = r.chance(0.33) ? r.pick(nodes) : p.nodeName;
        state.upsertPod({ ...p, name: `${p.name}-r${k}`, ips, ...(nodeName !== undefined ? { nodeName } : {}) });
      }
    }
  });
}

export interface ProbeAddresses {
  readonly v4: string[];
  readonly v6: string[];
  /** Addresses of live (selectable) pods: most probes use them so rules, not exemptions, decide. */
  readonly pods4: string[];
  readonly pods6: string[];
}

/** Every address worth probing in the current state, by family. */
export function probeAddresses(state: ClusterState, extra: readonly string[]): ProbeAddresses {
  const all = new Set<string>(extra);
  const pods = new Set<string>();
  for (const p of state.pods.values()) {
    for (const ip of p.ips) {
      all.add(ip);
      if (!p.hostNetwork && p.phase !== 'Succeeded' && p.phase !== 'Failed') pods.add(ip);
    }
  }
  for (const n of state.nodes.values()) for (const ip of n.addresses) all.add(ip);
  const v4: string[] = [], v6: string[] = [], pods4: string[] = [], pods6: string[] = [];
  for (const a of all) (parseIP(a)!.family === 'IPv4' ? v4 : v6).push(a);
  for (const a of pods) (parseIP(a)!.family === 'IPv4' ? pods4 : pods6).push(a);
  return { v4, v6, pods4, pods6 };
}

// Ports on and next to every number and range end the generator uses (endPort = port + delta).
const PROBE_PORTS = [...new Set([0, 1, 65535, ...PORT_NUMBERS.flatMap((p) => [p - 1, p, p + 1, p + 2, p + 3, p + 100, p + 101, p + 3000, p + 3001])])];

export function randomProbe(r: Rng, addrs: ProbeAddresses): Connection {
  const six = addrs.v6.length > 0 && r.chance(0.3);
  const pool = six ? addrs.v6 : addrs.v4;
  const pods = six ? addrs.pods6 : addrs.pods4;
  const end = () => (pods.length && r.chance(0.7) ? r.pick(pods) : r.pick(pool));
  const src = end();
  // Self probes are rare by chance; make them show up.
  const dst = r.chance(0.03) ? src : end();
  const port = randomProbePort(r);
  return { src, dst, protocol: r.pick(PROTOCOLS), port };
}

/** A port worth probing: mostly on or next to a number or range end the generator uses, sometimes any. */
export function randomProbePort(r: Rng): number {
  return r.chance(0.9) ? r.pick(PROBE_PORTS) : r.int(65536);
}

/** One random change through the ClusterState API (the way sources deliver changes). */
export function randomMutation(r: Rng, state: ClusterState, extra: readonly string[], opts: { failClosedFields?: boolean } = {}): string {
  const pods = [...state.pods.values()];
  const nsNames = [...state.namespaces.keys()];
  const nodes = [...state.nodes.values()];
  const pa = probeAddresses(state, extra);
  const addresses = [...pa.v4, ...pa.v6];
  const k = r.int(14);
  if (k >= 12) {
    const cps = [...state.clusterPolicies.values()];
    // DNS answers learned or records expired: the learner re-stores the policy with new addresses.
    const named = cps.filter((p) => p.egress.some((q) => q.peers.some((x) => x.domainNames)));
    if (named.length && r.chance(0.3)) {
      const p = r.pick(named);
      state.upsert(p.kind, relearnDomainNames(r, p, draws(addresses)));
      return `relearn domainNames addresses of ${clusterPolicyId(p)}`;
    }
    if (cps.length && r.chance(0.3)) {
      const p = r.pick(cps);
      state.delete(p.kind, clusterPolicyId(p));
      return `delete cluster policy ${clusterPolicyId(p)}`;
    }
    const p = cps.length && r.chance(0.4)
      ? (() => {
        const old = r.pick(cps);
        // Drawn as old's kind: a BaselineAdminNetworkPolicy takes no Pass, no domainNames, no priority.
        const fresh = randomClusterPolicy(r, old.name, draws(addresses, opts.failClosedFields), old.kind);
        // The same rules (copies) under a new priority and/or subject: the engine keeps the
        // policy's rule ids and tables (ClusterPolicyIndex.set) and must still reorder.
        if (r.chance(0.35)) {
          const subject = r.chance(0.5) ? fresh.subject : old.subject;
          const priority = old.kind === 'BaselineAdminNetworkPolicy' ? old.priority : fresh.priority;
          return { ...old, priority, subject, ingress: structuredClone(old.ingress), egress: structuredClone(old.egress) };
        }
        return fresh;
      })()
      : randomClusterPolicyOf(r, r.int(6), addresses, opts.failClosedFields);
    state.upsert(p.kind, p);
    return `upsert cluster policy ${clusterPolicyId(p)} (${p.tier}, priority ${p.priority})`;
  }
  if (k === 0 && pods.length) {
    const p = r.pick(pods);
    state.upsertPod({ ...p, labels: randomLabels(r) });
    return `relabel pod ${podKey(p)}`;
  }
  if (k === 1) {
    const ns = r.pick([...nsNames, 'ns7']);
    const i = 100 + r.int(100);
    const taken = pods.flatMap((p) => p.ips);
    const p = randomPod(r, ns, `n${i}`, i, nodes.length ? nodes : [{ name: 'node-1', addresses: [] }], taken);
    state.upsertPod(p);
    return `add pod ${podKey(p)}`;
  }
  if (k === 2 && pods.length) {
    const p = r.pick(pods);
    state.deletePod(podKey(p));
    return `delete pod ${podKey(p)}`;
  }
  if (k === 3 && pods.length) {
    const p = r.pick(pods);
    const phase = r.pick(['Running', 'Pending', 'Succeeded', 'Failed']);
    const ports = r.chance(0.5) ? randomPorts(r) : p.ports;
    const nodeName = r.chance(0.3) && nodes.length ? r.pick(nodes).name : p.nodeName;
    state.upsertPod({ ...p, phase, ports, nodeName });
    return `pod ${podKey(p)} phase ${phase}`;
  }
  if (k === 4 && nsNames.length) {
    const n = r.pick(nsNames);
    state.upsertNamespace({ name: n, labels: { ...randomLabels(r, 2), 'kubernetes.io/metadata.name': n } });
    return `relabel namespace ${n}`;
  }
  if (k === 5 && r.chance(0.5)) {
    const n = r.pick([...nsNames, 'ns7', 'orphan']);
    if (state.namespaces.has(n) && r.chance(0.5)) {
      state.deleteNamespace(n);
      return `delete namespace ${n}`;
    }
    state.upsertNamespace({ name: n, labels: { ...randomLabels(r, 2), 'kubernetes.io/metadata.name': n } });
    return `upsert namespace ${n}`;
  }
  if (k === 6) {
    const name = r.pick(['node-1', 'node-2', 'node-3']);
    if (state.nodes.has(name) && r.chance(0.3)) {
      state.deleteNode(name);
      return `delete node ${name}`;
    }
    const addrs = r.some(['192.168.0.1', '192.168.0.2', '192.168.0.3', 'fd01::1', 'fd01::2', '10.1.0.1'], 3);
    state.upsertNode({ name, labels: randomNodeLabels(r), addresses: [...new Set(addrs)] });
    return `upsert node ${name}`;
  }
  const policies = [...state.policies.values()];
  if (k <= 8 || policies.length === 0) {
    const ns = r.pick([...nsNames, 'orphan']);
    const p = randomPolicy(r, ns, `q${r.int(6)}`, addresses);
    state.upsertPolicy(p);
    return `upsert policy ${podKey(p)}`;
  }
  if (k === 9) {
    const p = r.pick(policies);
    state.deletePolicy(podKey(p));
    return `delete policy ${podKey(p)}`;
  }
  const p = r.pick(policies);
  state.upsertPolicy(randomPolicy(r, p.namespace, p.name, addresses));
  return `replace policy ${podKey(p)}`;
}

export function labelsText(l: Labels): string {
  return Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',');
}

export { formatIP };
