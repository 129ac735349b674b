// IPv6 twins of conformance cases: the same case on a dual-stack cluster, probed over IPv6 only.
// The ClusterNetworkPolicy cases follow one address scheme (../shared/conformance/cnp/README.md):
// pods 10.244.N.M and nodes 172.18.0.X, whose IPv6 addresses (case 907) are fd00:10:244:N::M and
// fc00:f853:ccd:e793::X. A twin gives every pod and node that second address, adds to every
// CIDR peer (ClusterNetworkPolicy `networks`, NetworkPolicy `ipBlock`) the IPv6 block covering
// the same pods and nodes, and turns every probe group into IPv6. Expectations stay as written:
// the API treats both families alike, so a case must give the same answers over IPv6.
//
// A case with IPv6 of its own (907) has no twin, nor one with an address or CIDR outside the
// scheme (the twin would have to guess its IPv6 counterpart).

import { canonicalIP } from '../../src/net/address.ts';
import type { CaseStep, ConformanceCase, ProbeGroup } from './case-format.ts';

type Obj = Record<string, unknown>;

/** The IPv6 counterpart of an IPv4 address of the scheme, or undefined. */
export function twinAddress(ip: string): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return undefined;
  const [, a, b, c, d] = m;
  if (a === '10' && b === '244') return canonicalIP(`fd00:10:244:${c}::${d}`);
  if (a === '172' && b === '18' && c === '0') return canonicalIP(`fc00:f853:ccd:e793::${d}`);
  return undefined;
}

/** The IPv6 counterpart of an IPv4 CIDR of the scheme (host, namespace /24, pod range /16, everything), or undefined. */
export function twinCIDR(cidr: string): string | undefined {
  const [addr, len] = cidr.split('/');
  if (!addr || len === undefined || addr.includes(':')) return undefined;
  if (cidr === '0.0.0.0/0') return '::/0';
  if (len === '32') {
    const v6 = twinAddress(addr);
    return v6 && `${v6}/128`;
  }
  const m = /^10\.244\.(\d+)\.0$/.exec(addr);
  if (len === '24' && m) return `fd00:10:244:${m[1]}::/64`;
  if (len === '16' && addr === '10.244.0.0') return 'fd00:10:244::/48';
  if (len === '16' && addr === '172.18.0.0') return 'fc00:f853:ccd:e793::/64';
  return undefined;
}

class NoTwin extends Error {}

function mustTwinCIDR(cidr: string): string {
  const t = twinCIDR(cidr);
  if (t === undefined) throw new NoTwin(`CIDR ${cidr} has no IPv6 counterpart in the address scheme`);
  return t;
}

const CLUSTER_KINDS = new Set(['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy']);

/** An applied object with its IPv4 CIDR peers given their IPv6 counterparts too. */
function twinObject(o: unknown): unknown {
  if (typeof o !== 'object' || o === null) return o;
  const obj = structuredClone(o) as Obj;
  const spec = obj.spec as Obj | undefined;
  if (!spec) return obj;
  if (CLUSTER_KINDS.has(String(obj.kind))) {
    for (const rule of (spec.egress as Obj[] | undefined) ?? []) {
      for (const peer of (rule.to as Obj[] | undefined) ?? []) {
        if (!Array.isArray(peer.networks)) continue;
        const nets = peer.networks as string[];
        for (const n of [...nets]) {
          if (n.includes(':')) continue;
          const t = mustTwinCIDR(n);
          if (!nets.includes(t)) nets.push(t);
        }
      }
    }
  } else if (obj.kind === 'NetworkPolicy') {
    for (const [dir, field] of [['ingress', 'from'], ['egress', 'to']] as const) {
      for (const rule of (spec[dir] as Obj[] | undefined) ?? []) {
        const peers = rule[field] as Obj[] | undefined;
        if (!peers) continue;
        for (const peer of [...peers]) {
          const b = peer.ipBlock as { cidr: string; except?: string[] } | undefined;
          if (!b || b.cidr.includes(':')) continue;
          peers.push({ ipBlock: { cidr: mustTwinCIDR(b.cidr), ...(b.except ? { except: b.except.map(mustTwinCIDR) } : {}) } });
        }
      }
    }
  }
  return obj;
}

function twinGroup(g: ProbeGroup): ProbeGroup {
  return { ...g, family: 'IPv6' };
}

/** The IPv6 twin of a case, or undefined when it has IPv6 already or leaves the address scheme. */
export function ipv6Twin(c: ConformanceCase): ConformanceCase | undefined {
  if (c.nodes.some((n) => n.ipv6) || c.pods.some((p) => p.ipv6)) return undefined;
  if (c.steps.some((s) => s.probes.some((g) => g.family === 'IPv6' || g.pairs.some((p) => p.kind === 'reply')))) return undefined;
  try {
    const nodes = c.nodes.map((n) => {
      const v6 = twinAddress(n.ip);
      if (!v6) throw new NoTwin(`node ${n.name} ${n.ip}`);
      return { ...n, ipv6: v6 };
    });
    const pods = c.pods.map((p) => {
      const v6 = twinAddress(p.ip);
      if (!v6) throw new NoTwin(`pod ${p.namespace}/${p.name} ${p.ip}`);
      return { ...p, ipv6: v6 };
    });
    if (c.externals.length) throw new NoTwin('outside hosts');
    const steps: CaseStep[] = c.steps.map((s) => ({ ...s, apply: s.apply.map(twinObject), probes: s.probes.map(twinGroup) }));
    return { ...c, name: `${c.name} (IPv6 twin)`, nodes, pods, steps };
  } catch (e) {
    if (e instanceof NoTwin) return undefined;
    throw e;
  }
}
