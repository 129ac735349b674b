// The ClusterNetworkPolicy conformance cases (the shared cnp/cases and our cnp-extra-cases) with
// real packets through a multi-node lab: the NetworkPolicy runner (conformance-lab.ts) with the
// CNP case set and its lab shape. Every Node of a case is a node namespace with its own agent;
// host-network pods (centaur-*) are played by their node; each pod serves exactly what the case
// says it listens on (`serves`: declared container ports and undeclared listeners alike), so a
// probe to an undeclared port reaches a real listener, and one to a port nobody serves is
// refused (a failure) instead of passing as a deny. Cluster-scoped objects (the cluster
// policies, the Nodes) go into the manifests folder with the rest; the agents follow it.

import type { Protocol } from '../../src/cluster/model.ts';
import type { ServePorts } from '../../src/lab/endpoint-wire.ts';
import type { LabBackend } from '../../src/lab/lab-agent.ts';
import type { LabSpecOptions } from '../../src/lab/topology.ts';
import { probesForGroup, type ConformanceCase } from '../support/conformance-cases.ts';
import { cnpCases, cnpIPv6Twins } from '../conformance/case-set.ts';
export { cnpIPv6Twins };
import { conformanceLab, probedPorts, type ConformanceLabOptions } from './conformance-lab.ts';

/**
 * Per pod ("ns/name"): the ports of its `serves` list. A pod of a case that gives no `serves`
 * (the format makes it optional) serves every port the case probes, as in the NetworkPolicy run.
 */
export function cnpSpecOptions(c: ConformanceCase): LabSpecOptions {
  const servedPorts = new Map<string, ServePorts>();
  const fallback = probedPorts(c);
  for (const p of c.pods) {
    if (!p.serves) {
      servedPorts.set(`${p.namespace}/${p.name}`, fallback);
      continue;
    }
    const of = (proto: Protocol) => p.serves!.filter((s) => s.protocol === proto).map((s) => s.port);
    servedPorts.set(`${p.namespace}/${p.name}`, { tcp: of('TCP'), udp: of('UDP'), sctp: of('SCTP') });
  }
  const externals = c.externals.map((e) => ({ name: e.name, ips: [e.ip, e.ipv6].filter((x): x is string => !!x) }));
  return { servedPorts, externals };
}

/** Runs `cases` (default: the ClusterNetworkPolicy cases) in multi-node labs on `backend`. */
export function conformanceLabCnp(backend: LabBackend, prefix: string, subset?: ConformanceLabOptions['subset'], cases: () => ConformanceCase[] = cnpCases): void {
  conformanceLab(backend, prefix, { cases, specOptions: cnpSpecOptions, ...(subset ? { subset } : {}) });
}

/**
 * Whether a case expects some pod's new connection to its own node (a host-network pod there,
 * or `node:<its node>`) to be denied. Only the NFQUEUE backend enforces that (PALISADE-NODE in
 * INPUT/OUTPUT); the TUN backend's policy routing sits after the `local` rule, so pod -> own
 * node packets are delivered locally without reaching the judge (enforce/tun-routing.ts).
 */
export function deniesOwnNodeTraffic(c: ConformanceCase): boolean {
  const podsByKey = new Map<string, ConformanceCase['pods'][number]>(c.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const nodeOf = (endpoint: string): string | undefined => {
    if (endpoint.startsWith('node:')) return endpoint.slice(5);
    return podsByKey.get(endpoint)?.node;
  };
  return c.steps.some((s) => s.probes.some((g) => probesForGroup(c, g).some((p) => {
    if (p.expect) return false;
    const from = podsByKey.get(p.from);
    const toPod = podsByKey.get(p.to);
    const toIsNode = p.to.startsWith('node:') || toPod?.hostNetwork === true;
    return !!from && !from.hostNetwork && toIsNode && nodeOf(p.to) === from.node;
  })));
}
