// A kind-like single node made of network namespaces on this machine.
//
//   plab.<lab>.node               the node: forwarding on, its addresses (Node status.addresses)
//                                 on lo, one veth per pod, a /32 and /128 route per pod
//   plab.<lab>.pod.<ns>_<name>    one per pod with IPs: eth0 holds the pod's IPv4 /32 and IPv6
//                                 /128; default routes via 169.254.1.1 and fe80::1, which the node
//                                 end of the veth holds (the shape of kind's ptp CNI and Calico)
//   plab.<lab>.ext.<name>         optional outside hosts, wired like pods
//
// Pod <-> pod traffic is routed by the node namespace (FORWARD), pod <-> node traffic is local to
// it (INPUT/OUTPUT), exactly the hooks a CNI node has, so an agent running in the node namespace
// sees what it would see on a kind node. Nothing is connected to the root namespace: no veth
// leaves the lab, there is no default route in the node and no NAT, so lab traffic cannot leave.
//
// Every namespace runs one endpoint process (endpoint.ts) that serves the pod's container ports
// and sends probes from it.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pod, Protocol } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import { podIsFinished } from '../cluster/pod-phase.ts';
import type { ClusterView } from '../cluster/state.ts';
import { canonicalIP, parseIP } from '../net/address.ts';
import { EndpointClient } from './endpoint-client.ts';
import type { ServePorts } from './endpoint-wire.ts';
import type { LabEndpointRecord, LabExternalRecord, LabPodRecord, LabState } from './lab-state.ts';
import { labStateDir, readLabState, writeLabState } from './lab-state.ts';
import {
  addNetns, deleteNetns, externalNetnsName, hostIfName, ipBatch, labNameProblem, labNetnsPrefix, listNetns, mustRun,
  netnsPids, nodeNetnsName, podNetnsName, run, setSysctls,
} from './netns.ts';

/** The node-side gateway every pod routes through (link-local: never routed anywhere). */
export const GATEWAY_V4 = '169.254.1.1';
export const GATEWAY_V6 = 'fe80::1';

export interface LabSpecPod {
  readonly namespace: string;
  readonly name: string;
  readonly ips: readonly string[];
  readonly ports: ServePorts;
}

export interface LabSpecExternal {
  readonly name: string;
  readonly ips: readonly string[];
}

/** What a lab should hold. */
export interface LabSpec {
  readonly node: { readonly name?: string; readonly ips: readonly string[] };
  readonly pods: readonly LabSpecPod[];
  readonly externals: readonly LabSpecExternal[];
  /** Ports the node namespace serves (for probes whose destination is the node). */
  readonly nodePorts: ServePorts;
}

export interface LabSpecOptions {
  /** Which Node the lab plays, when the manifests hold several. */
  readonly node?: string;
  readonly externals?: readonly LabSpecExternal[];
  /** Served by every pod (and the node) on top of its container ports. */
  readonly extraPorts?: ServePorts;
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

export const NO_EXTRA: ServePorts = { tcp: [], udp: [], sctp: [] };

/**
 * The lab for a cluster: one namespace per pod that has addresses, is not host-network and has
 * not finished (Succeeded/Failed pods have no sandbox, and their IP may belong to another pod).
 * Every pod runs on the lab's single node; notes say what was left out and why.
 */
export function labSpecFromCluster(view: ClusterView, opts: LabSpecOptions = {}): { spec: LabSpec; notes: string[] } {
  const notes: string[] = [];
  const extra = opts.extraPorts ?? NO_EXTRA;
  const nodes = [...view.nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
  let node: (typeof nodes)[number] | undefined = nodes[0];
  if (opts.node !== undefined) {
    node = view.nodes.get(opts.node);
    if (!node) throw new Error(`no Node "${opts.node}" in the manifests (have: ${nodes.map((n) => n.name).join(', ') || 'none'})`);
  } else if (nodes.length > 1) {
    throw new Error(`the manifests hold ${nodes.length} Nodes (${nodes.map((n) => n.name).join(', ')}); say which one the lab plays with --node`);
  }
  if (!node) notes.push('no Node object: the lab node has no address, so probes from or to "node" are not possible');
  const nodeIps: string[] = [];
  for (const fam of ['IPv4', 'IPv6'] as const) {
    const ip = node?.addresses.find((a) => parseIP(a)?.family === fam);
    if (ip) nodeIps.push(ip);
  }
  if (node && node.addresses.length > nodeIps.length) notes.push(`Node ${node.name}: only the first address of each family is put on the lab node (${nodeIps.join(', ')})`);

  const pods: LabSpecPod[] = [];
  const owner = new Map<string, string>();
  let hostPorts: ServePorts = NO_EXTRA;
  const sorted = [...view.pods.values()].sort((a, b) => podKey(a).localeCompare(podKey(b)));
  const live = (p: Pod) => !podIsFinished(p);
  // Live pods claim their addresses first, so a finished pod never takes a live pod's IP.
  for (const p of [...sorted.filter(live), ...sorted.filter((q) => !live(q))]) {
    const key = podKey(p);
    if (p.hostNetwork) {
      hostPorts = mergePorts(hostPorts, portsOf(p.ports));
      notes.push(`pod ${key} uses the host network: it is the lab node (its ports are served there)`);
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
    if (node && nodeIps.some((ip) => p.ips.includes(ip))) {
      notes.push(`pod ${key}: its address is the node's: no namespace`);
      continue;
    }
    for (const ip of p.ips) owner.set(ip, key);
    if (node && p.nodeName && p.nodeName !== node.name) notes.push(`pod ${key} is scheduled on ${p.nodeName}; the lab runs every pod on ${node.name}`);
    pods.push({ namespace: p.namespace, name: p.name, ips: [...p.ips], ports: mergePorts(portsOf(p.ports), extra) });
  }
  const externals = (opts.externals ?? []).map((e) => ({ name: e.name, ips: e.ips.map((ip) => canonicalIP(ip) ?? ip) }));
  for (const e of externals) {
    for (const ip of e.ips) {
      if (!parseIP(ip)) throw new Error(`outside host ${e.name}: "${ip}" is not an IP address`);
      if (owner.has(ip)) throw new Error(`outside host ${e.name}: address ${ip} belongs to pod ${owner.get(ip)}`);
      if (nodeIps.includes(ip)) throw new Error(`outside host ${e.name}: address ${ip} is the node's`);
      owner.set(ip, `ext:${e.name}`);
    }
  }
  const nodePorts = mergePorts(hostPorts, extra, ...pods.map((p) => p.ports));
  return { spec: { node: { ...(node ? { name: node.name } : {}), ips: nodeIps }, pods, externals, nodePorts }, notes };
}

// ---------------------------------------------------------------------------------------------
// Building

const v4 = (ips: readonly string[]) => ips.find((ip) => parseIP(ip)?.family === 'IPv4');
const v6 = (ips: readonly string[]) => ips.find((ip) => parseIP(ip)?.family === 'IPv6');

/**
 * No rate limit on ICMP errors: a probe to a closed UDP port is 'refused' only if its port
 * unreachable comes back, and the default limit (about one a second per peer after a burst)
 * would turn many such probes at once into timeouts, which read as policy drops.
 */
const ICMP_UNLIMITED = { 'net.ipv4.icmp_ratelimit': 0, 'net.ipv6.icmp.ratelimit': 0 } as const;

/** Node namespace: forwarding on (both families), no reverse-path filtering, no DAD waits, its addresses on lo. */
async function buildNode(netns: string, ips: readonly string[]): Promise<void> {
  await addNetns(netns);
  await setSysctls(netns, {
    'net.ipv4.ip_forward': 1,
    'net.ipv6.conf.all.forwarding': 1,
    // Strict rp_filter would drop pod packets whose source is routed through a different device
    // (e.g. a TUN judge writing them back); the kernel uses max(all, dev), so all=0 lets a
    // device set its own.
    'net.ipv4.conf.all.rp_filter': 0,
    'net.ipv4.conf.default.rp_filter': 0,
    // Devices created later copy `default`: no duplicate address detection delay on veths.
    'net.ipv6.conf.all.accept_dad': 0,
    'net.ipv6.conf.default.accept_dad': 0,
    ...ICMP_UNLIMITED,
  });
  // No dummy interface in this kernel, and none needed: an address on lo is a local address of
  // the namespace like any other.
  await ipBatch(netns, ['link set lo up', ...ips.map((ip) => `addr add ${ip}/${parseIP(ip)!.family === 'IPv4' ? 32 : 128} dev lo`)]);
}

/** One pod (or outside host) namespace wired to the node like kind's ptp CNI wires a pod. */
async function buildLeaf(nodeNetns: string, nodeIps: readonly string[], netns: string, hostIf: string, ips: readonly string[]): Promise<void> {
  try {
    await wireLeaf(nodeNetns, nodeIps, netns, hostIf, ips);
  } catch (e) {
    // Never leave a half-built pod behind: the next `lab up` would trip over its name.
    await run(['ip', '-n', nodeNetns, 'link', 'del', hostIf]).catch(() => {});
    await deleteNetns(netns).catch(() => {});
    throw e;
  }
}

async function wireLeaf(nodeNetns: string, nodeIps: readonly string[], netns: string, hostIf: string, ips: readonly string[]): Promise<void> {
  await addNetns(netns);
  await setSysctls(netns, { 'net.ipv6.conf.all.accept_dad': 0, 'net.ipv6.conf.default.accept_dad': 0, ...ICMP_UNLIMITED });
  await mustRun(['ip', '-n', nodeNetns, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  const a4 = v4(ips);
  const a6 = v6(ips);
  await ipBatch(netns, [
    'link set lo up',
    'link set eth0 up',
    ...(a4 ? [`addr add ${a4}/32 dev eth0`, `route add ${GATEWAY_V4}/32 dev eth0 scope link`, `route add 0.0.0.0/0 via ${GATEWAY_V4} dev eth0`] : []),
    ...(a6 ? [`addr add ${a6}/128 dev eth0 nodad`, `route add ::/0 via ${GATEWAY_V6} dev eth0`] : []),
  ]);
  const n4 = v4(nodeIps);
  const n6 = v6(nodeIps);
  await ipBatch(nodeNetns, [
    `link set ${hostIf} up`,
    // The same gateway address on every pod veth: ARP for it is answered on whichever veth asks.
    `addr add ${GATEWAY_V4}/32 dev ${hostIf} scope link`,
    `addr add ${GATEWAY_V6}/64 dev ${hostIf} nodad`,
    // `src` makes the node's own connections to pods come from the node's address.
    ...(a4 ? [`route add ${a4}/32 dev ${hostIf}${n4 ? ` src ${n4}` : ''}`] : []),
    ...(a6 ? [`route add ${a6}/128 dev ${hostIf}${n6 ? ` src ${n6}` : ''}`] : []),
  ]);
}

/** argv that runs endpoint.ts (through tsx) or the compiled endpoint.js. */
function endpointArgv(): string[] {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(new URL('./endpoint.ts', here))];
  return [process.execPath, fileURLToPath(new URL('./endpoint.js', here))];
}

function safeFileName(label: string): string {
  return label.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** Starts the endpoint process of a namespace, detached so it outlives `palisade lab up`. */
function spawnEndpoint(state: LabState, netns: string, label: string): LabEndpointRecord {
  const ctl = join(state.dir, 'ctl');
  const logs = join(state.dir, 'log');
  mkdirSync(ctl, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const socket = join(ctl, `${state.nextSocket++}.sock`);
  const log = join(logs, `endpoint-${safeFileName(label)}.log`);
  const fd = openSync(log, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', netns, ...endpointArgv(), '--socket', socket, '--label', label], {
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.unref();
    // `ip netns exec` execs the command in place, so this pid is the endpoint's.
    const rec: LabEndpointRecord = { label, netns, socket, log, ...(child.pid !== undefined ? { pid: child.pid } : {}) };
    state.endpoints[netns] = rec;
    return rec;
  } finally {
    closeSync(fd);
  }
}

async function startEndpoints(state: LabState, wanted: { netns: string; label: string; ports: ServePorts }[]): Promise<void> {
  const recs = wanted.map((w) => ({ w, rec: spawnEndpoint(state, w.netns, w.label) }));
  writeLabState(state);
  await Promise.all(recs.map(async ({ w, rec }) => {
    const c = await EndpointClient.open(rec.socket, rec.label).catch((e: Error) => {
      throw new Error(`${e.message}; see ${rec.log}`);
    });
    try {
      await c.serve(w.ports);
    } finally {
      c.close();
    }
  }));
}

async function killPids(pids: readonly number[], graceMs = 3000): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch { /* already gone */ }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch { /* already gone */ }
  }
}

/**
 * Stops every process inside a pod namespace and deletes it. The node end of the veth is deleted
 * first and explicitly: that takes both ends at once, whereas a deleted namespace's devices go
 * away asynchronously and could still hold the name when the pod is rebuilt.
 */
async function removeLeaf(nodeNetns: string, hostIf: string, netns: string): Promise<void> {
  await killPids(await netnsPids(netns));
  await run(['ip', '-n', nodeNetns, 'link', 'del', hostIf]);
  await deleteNetns(netns);
}

function samePorts(a: ServePorts, b: ServePorts): boolean {
  return JSON.stringify(mergePorts(a)) === JSON.stringify(mergePorts(b));
}

export interface LabUpOptions {
  readonly name: string;
  /** The folder the agent should follow; defaults to <state dir>/manifests. */
  readonly manifestsDir?: string;
}

/**
 * Creates the lab, or brings an existing one in line with `spec`: pods that are gone or changed
 * address are removed, new ones added, and every endpoint's served ports updated. The node is
 * rebuilt (with everything) only when its addresses change.
 */
export async function labUp(spec: LabSpec, opts: LabUpOptions): Promise<LabState> {
  const problem = labNameProblem(opts.name);
  if (problem) throw new Error(problem);
  let state = readLabState(opts.name);
  const nodeNetns = nodeNetnsName(opts.name);
  const existing = new Set(await listNetns());
  if (state && (!existing.has(nodeNetns) || JSON.stringify(state.node.ips) !== JSON.stringify(spec.node.ips))) {
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
    state = {
      version: 1, name: opts.name, dir, nodeNetns,
      node: { ...(spec.node.name ? { name: spec.node.name } : {}), ips: [...spec.node.ips] },
      manifestsDir, pods: [], externals: [], endpoints: {}, nodePorts: { tcp: [], udp: [], sctp: [] }, nextSocket: 0,
    };
    writeLabState(state);
    try {
      await buildNode(nodeNetns, spec.node.ips);
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

async function reconcile(state: LabState, spec: LabSpec): Promise<void> {
  const lab = state.name;
  const want = new Map(spec.pods.map((p) => [podKey(p), p] as const));
  const toStart: { netns: string; label: string; ports: ServePorts }[] = [];
  const toServe: { rec: LabEndpointRecord; ports: ServePorts }[] = [];

  // Pods: remove what is gone or changed address, keep the rest (maybe with new ports).
  const keep: LabPodRecord[] = [];
  for (const p of state.pods) {
    const w = want.get(p.key);
    if (w && JSON.stringify(w.ips) === JSON.stringify(p.ips)) {
      keep.push(p);
      const ep = state.endpoints[p.netns];
      if (!ep?.pid || !(await netnsPids(p.netns)).includes(ep.pid)) {
        // Its endpoint died (or was killed): start a new one, so `lab up` also repairs a lab.
        delete state.endpoints[p.netns];
        p.ports = w.ports;
        toStart.push({ netns: p.netns, label: p.key, ports: w.ports });
      } else if (!samePorts(w.ports, p.ports)) {
        p.ports = w.ports;
        const rec = state.endpoints[p.netns];
        if (rec) toServe.push({ rec, ports: w.ports });
      }
    } else {
      await removeLeaf(state.nodeNetns, p.hostIf, p.netns);
      delete state.endpoints[p.netns];
    }
  }
  state.pods = [...keep];
  const have = new Set(keep.map((p) => p.key));
  const added: LabPodRecord[] = [];
  for (const p of spec.pods) {
    const key = podKey(p);
    if (have.has(key)) continue;
    const rec: LabPodRecord = { key, namespace: p.namespace, name: p.name, netns: podNetnsName(lab, p.namespace, p.name), hostIf: hostIfName('pod', key), ips: [...p.ips], ports: p.ports };
    added.push(rec);
  }
  // Namespaces are independent of each other: build them a few at a time.
  await inBatches(added, 4, async (rec) => {
    await buildLeaf(state.nodeNetns, state.node.ips, rec.netns, rec.hostIf, rec.ips);
    state.pods.push(rec);
    toStart.push({ netns: rec.netns, label: rec.key, ports: rec.ports });
  });

  // Outside hosts.
  const wantExt = new Map(spec.externals.map((e) => [e.name, e] as const));
  const keepExt: LabExternalRecord[] = [];
  for (const e of state.externals) {
    const w = wantExt.get(e.name);
    if (w && JSON.stringify(w.ips) === JSON.stringify(e.ips)) keepExt.push(e);
    else {
      await removeLeaf(state.nodeNetns, e.hostIf, e.netns);
      delete state.endpoints[e.netns];
    }
  }
  state.externals = [...keepExt];
  const extPorts = spec.nodePorts;
  for (const e of spec.externals) {
    if (keepExt.some((k) => k.name === e.name)) continue;
    const rec: LabExternalRecord = { name: e.name, netns: externalNetnsName(lab, e.name), hostIf: hostIfName('ext', e.name), ips: [...e.ips] };
    await buildLeaf(state.nodeNetns, state.node.ips, rec.netns, rec.hostIf, rec.ips);
    state.externals.push(rec);
    toStart.push({ netns: rec.netns, label: `ext:${e.name}`, ports: extPorts });
  }
  for (const e of keepExt) {
    const rec = state.endpoints[e.netns];
    if (rec?.pid && (await netnsPids(e.netns)).includes(rec.pid)) toServe.push({ rec, ports: extPorts });
    else {
      delete state.endpoints[e.netns];
      toStart.push({ netns: e.netns, label: `ext:${e.name}`, ports: extPorts });
    }
  }

  // The node's endpoint serves every port any pod serves, so "to: node" probes get an answer.
  let nodeRec: LabEndpointRecord | undefined = state.endpoints[state.nodeNetns];
  if (nodeRec && (!nodeRec.pid || !(await netnsPids(state.nodeNetns)).includes(nodeRec.pid))) {
    delete state.endpoints[state.nodeNetns];
    nodeRec = undefined;
  }
  if (!nodeRec) toStart.push({ netns: state.nodeNetns, label: 'node', ports: spec.nodePorts });
  else if (!samePorts(state.nodePorts, spec.nodePorts)) toServe.push({ rec: nodeRec, ports: spec.nodePorts });
  state.nodePorts = spec.nodePorts;

  writeLabState(state);
  await startEndpoints(state, toStart);
  await Promise.all(toServe.map(async ({ rec, ports }) => {
    const c = await EndpointClient.open(rec.socket, rec.label, 5000);
    try {
      await c.serve(ports);
    } finally {
      c.close();
    }
  }));
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
 * Removes a lab: stops every process running in one of its namespaces (endpoints, agent; found
 * with `ip netns pids`, so this works from the names alone after a crash), deletes every
 * namespace carrying its prefix (the veths and routes go with them) and its state folder.
 */
export async function labDown(name: string): Promise<LabDownResult> {
  const problem = labNameProblem(name);
  if (problem) throw new Error(problem);
  const prefix = labNetnsPrefix(name);
  const namespaces = (await listNetns()).filter((n) => n.startsWith(prefix));
  // Processes first (in every namespace at once), then the namespaces; the node last so pod
  // veths are not left dangling for a moment in a half-deleted lab.
  const pids = (await Promise.all(namespaces.map((n) => netnsPids(n)))).flat();
  await killPids([...new Set(pids)]);
  const node = nodeNetnsName(name);
  for (const n of namespaces.filter((x) => x !== node)) await deleteNetns(n);
  if (namespaces.includes(node)) await deleteNetns(node);
  const dir = labStateDir(name);
  let stateRemoved = false;
  try {
    rmSync(dir, { recursive: true, force: true });
    stateRemoved = true;
  } catch { /* reported by the caller through stateRemoved */ }
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
