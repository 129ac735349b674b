// The plumbing of a lab (see the top of topology.ts for the shape): node namespaces, the
// underlay bridge that joins them, pod (and outside host) namespaces wired to their node, and the
// routes that carry traffic between nodes. Only namespaces the lab creates are touched.

import { cidrContains, parseCIDR, parseIP } from '../net/address.ts';
import type { LabNodeRecord } from './lab-state.ts';
import {
  addNetns, deleteNetns, ipBatch, mustRun, netnsPids, processAlive, run, setSysctls, UNDERLAY_IF, underlayPortName,
} from './netns.ts';

/** The node-side gateway every pod routes through (link-local: never routed anywhere). */
export const GATEWAY_V4 = '169.254.1.1';
export const GATEWAY_V6 = 'fe80::1';

/**
 * Underlay link addresses of node i (0-based): the next hop the other nodes route its addresses
 * through. Link-local, so they never clash with an address of the manifests and cannot be
 * routed out of the underlay.
 */
export function underlayAddresses(i: number): { v4: string; v6: string } {
  if (i < 0 || i > 250) throw new Error(`a lab plays at most 251 nodes (node index ${i})`);
  return { v4: `169.254.100.${i + 1}`, v6: `fe80::100:${(i + 1).toString(16)}` };
}

export const v4 = (ips: readonly string[]) => ips.find((ip) => parseIP(ip)?.family === 'IPv4');
export const v6 = (ips: readonly string[]) => ips.find((ip) => parseIP(ip)?.family === 'IPv6');

/**
 * No rate limit on ICMP errors: a probe to a closed UDP port is 'refused' only if its port
 * unreachable comes back, and the default limit (about one a second per peer after a burst)
 * would turn many such probes at once into timeouts, which read as policy drops.
 */
const ICMP_UNLIMITED = { 'net.ipv4.icmp_ratelimit': 0, 'net.ipv6.icmp.ratelimit': 0 } as const;

/** Node namespace: forwarding on (both families), no reverse-path filtering, no DAD waits, its addresses on lo. */
export async function buildNode(netns: string, ips: readonly string[]): Promise<void> {
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

/**
 * The underlay of a multi-node lab: a bridge in its own namespace (kind's docker network) and
 * one veth per node, its node end `ul0` holding the node's underlay link addresses. Each node
 * then routes the other nodes' addresses and pod CIDRs via their link addresses, with its own
 * address as the source, so node-to-node and node-to-remote-pod traffic carries node IPs.
 */
export async function buildUnderlay(netns: string, nodes: readonly LabNodeRecord[]): Promise<void> {
  await addNetns(netns);
  await setSysctls(netns, { 'net.ipv6.conf.all.accept_dad': 0, 'net.ipv6.conf.default.accept_dad': 0 });
  // No multicast snooping: neighbour solicitations are flooded to every node, as on a switch
  // nobody configured, so no MLD timing decides whether a node is found.
  await ipBatch(netns, ['link set lo up', 'link add br0 type bridge mcast_snooping 0', 'link set br0 up']);
  for (const n of nodes) {
    if (!n.underlay) throw new Error(`node ${n.name ?? '?'} has no underlay address`);
    const port = underlayPortName(n.name ?? n.netns);
    await mustRun(['ip', '-n', netns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', UNDERLAY_IF, 'netns', n.netns]);
    await ipBatch(netns, [`link set ${port} master br0`, `link set ${port} up`]);
    await ipBatch(n.netns, [
      `addr add ${n.underlay.v4}/24 dev ${UNDERLAY_IF}`,
      `addr add ${n.underlay.v6}/64 dev ${UNDERLAY_IF} nodad`,
      `link set ${UNDERLAY_IF} up`,
    ]);
  }
  for (const here of nodes) {
    const lines: string[] = [];
    for (const there of nodes) {
      if (there === here) continue;
      for (const dst of [...there.ips, ...there.podCIDRs]) lines.push(remoteRoute('replace', here, there, dst));
    }
    await ipBatch(here.netns, lines);
  }
}

/** `route <verb> DST via <there's link address> dev ul0 src <here's address>` for one destination (address or CIDR). */
function remoteRoute(verb: 'replace' | 'del', here: LabNodeRecord, there: LabNodeRecord, dst: string): string {
  const isV4 = (dst.includes('/') ? parseCIDR(dst) : parseIP(dst))?.family === 'IPv4';
  const route = dst.includes('/') ? dst : `${dst}/${isV4 ? 32 : 128}`;
  if (verb === 'del') return `route del ${route}`;
  const src = isV4 ? v4(here.ips) : v6(here.ips);
  return `route replace ${route} via ${isV4 ? there.underlay!.v4 : there.underlay!.v6} dev ${UNDERLAY_IF}${src ? ` src ${src}` : ''}`;
}

/** Whether `ip` lies in one of the node's pod CIDRs (then its CIDR route already carries it). */
function inPodCIDRs(node: LabNodeRecord, ip: string): boolean {
  const a = parseIP(ip);
  return !!a && node.podCIDRs.some((c) => {
    const p = parseCIDR(c);
    return !!p && p.family === a.family && cidrContains(p, a);
  });
}

/**
 * Routes on every other node to a leaf (pod or outside host) on `home`: a /32 or /128 via
 * `home` for each address its pod CIDRs do not cover. No-op in a single-node lab.
 */
export async function routeLeafElsewhere(nodes: readonly LabNodeRecord[], home: LabNodeRecord, ips: readonly string[], verb: 'replace' | 'del'): Promise<void> {
  if (nodes.length < 2) return;
  const own = ips.filter((ip) => !inPodCIDRs(home, ip));
  if (own.length === 0) return;
  await Promise.all(nodes.filter((n) => n !== home).map(async (n) => {
    const lines = own.map((ip) => remoteRoute(verb, n, home, ip));
    if (verb === 'replace') await ipBatch(n.netns, lines);
    // A route already gone (a node rebuilt, a half-built pod) is fine when removing.
    else for (const l of lines) await run(['ip', '-n', n.netns, ...l.split(' ')]);
  }));
}

/** One pod (or outside host) namespace wired to its node like kind's ptp CNI wires a pod. */
export async function buildLeaf(nodeNetns: string, nodeIps: readonly string[], netns: string, hostIf: string, ips: readonly string[]): Promise<void> {
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
  await setSysctls(netns, {
    // A pod is an end host. A new namespace takes its IPv4 forwarding from the host's (kernel
    // ip-sysctl docs, devconf_inherit_init_net, default 0: "for IPv4 we inherit all current
    // settings from init_net"), and a host running Docker or a Kubernetes node forwards.
    'net.ipv4.ip_forward': 0,
    'net.ipv6.conf.all.forwarding': 0,
    'net.ipv6.conf.all.accept_dad': 0,
    'net.ipv6.conf.default.accept_dad': 0,
    ...ICMP_UNLIMITED,
  });
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

/** How long killPids waits for SIGKILLed processes to be gone. */
const KILL_WAIT_MS = 2000;

/**
 * Stops processes: SIGTERM, up to `graceMs` for them to exit, then SIGKILL for the rest and up to
 * KILL_WAIT_MS more until they have stopped (processAlive: a zombie waiting for its parent to
 * reap it has). SIGKILL only queues the death, so returning right after it could leave a process
 * still exiting.
 */
export async function killPids(pids: readonly number[], graceMs = 3000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch { /* already gone */ }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(processAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const left = pids.filter(processAlive);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch { /* already gone */ }
  }
  const killDeadline = Date.now() + KILL_WAIT_MS;
  while (left.some(processAlive) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Stops every process inside a pod namespace and deletes it. The node end of the veth is deleted
 * first and explicitly: that takes both ends at once, whereas a deleted namespace's devices go
 * away asynchronously and could still hold the name when the pod is rebuilt.
 */
export async function removeLeaf(nodeNetns: string, hostIf: string, netns: string): Promise<void> {
  await killPids(await netnsPids(netns));
  await run(['ip', '-n', nodeNetns, 'link', 'del', hostIf]);
  await deleteNetns(netns);
}
