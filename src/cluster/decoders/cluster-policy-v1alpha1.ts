// policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy (actions Allow/Deny/Pass, priority
// 0-1000) and BaselineAdminNetworkPolicy (the singleton named "default", actions Allow/Deny, no
// priority), the predecessors of ClusterNetworkPolicy, decoded onto the same model: an ANP is an
// Admin-tier policy, the BANP a Baseline-tier one with priority 0, and "Allow" is Accept.
// Types: kubernetes-sigs/network-policy-api apis/v1alpha1/{adminnetworkpolicy,
// baselineadminnetworkpolicy,shared}_types.go. The frame is in cluster-policy.ts.

import type { ClusterPolicyPort, Protocol } from '../model.ts';
import { PROTOCOLS, clusterPolicyId } from '../model.ts';
import type { Decoded } from '../kinds.ts';
import { type Errs, type Obj } from './fields.ts';
import {
  EMPTY_NAMED_PORT, type FieldCheck, type Unmatchable, type Version, decodeClusterPolicy, portEntryKind, portEntryObject, portNumberAt, unmatchable,
} from './cluster-policy.ts';

/**
 * A port's protocol. "If not specified, this field defaults to TCP" (CRD default). The CRD types it
 * as a plain string, with no enum: "tcp" or "ICMP" are stored, and name no traffic Palisade
 * matches (a string: the problem; undefined after an error).
 */
function portProtocol(e: Errs, v: unknown, path: string): Protocol | { problem: string } | undefined {
  if (v === undefined || v === null) return 'TCP';
  const s = e.str(v, path);
  if (s === undefined) return undefined;
  if ((PROTOCOLS as readonly string[]).includes(s)) return s as Protocol;
  const cased = PROTOCOLS.find((p) => p === s.toUpperCase());
  const hint = s === '' ? '' : cased ? ` (values are case-sensitive: "${cased}")` : ' (Palisade matches "TCP", "UDP" and "SCTP")';
  return { problem: `unsupported protocol ${JSON.stringify(s)}${hint}` };
}

/**
 * One ports entry: exactly one of portNumber {protocol, port}, namedPort, portRange {protocol,
 * start, end} (unknown fields go to `check`, see FieldCheck).
 */
function decodePortEntry(e: Errs, v: unknown, path: string, check: FieldCheck): ClusterPolicyPort | Unmatchable | undefined {
  const o = portEntryObject(e, v, path);
  if (!o) return undefined;
  const which = portEntryKind(e, o, ['portNumber', 'namedPort', 'portRange'], path, check);
  if (which === 'namedPort') {
    const name = e.str(o.namedPort, `${path}.namedPort`);
    if (name === undefined) return undefined;
    return name === '' ? unmatchable(`${path}.namedPort`, EMPTY_NAMED_PORT) : { namedPort: name };
  }
  if (which === 'portNumber') {
    const pp = `${path}.portNumber`;
    const p = e.obj(o.portNumber, pp);
    if (!p) return undefined;
    check(p, ['protocol', 'port'], pp);
    const protocol = portProtocol(e, p.protocol, `${pp}.protocol`);
    const port = portNumberAt(e, p.port, `${pp}.port`);
    if (protocol === undefined || port === undefined) return undefined;
    return typeof protocol === 'string' ? { protocol, port } : unmatchable(`${pp}.protocol`, protocol.problem);
  }
  if (which === 'portRange') {
    const pp = `${path}.portRange`;
    const p = e.obj(o.portRange, pp);
    if (!p) return undefined;
    check(p, ['protocol', 'start', 'end'], pp);
    const protocol = portProtocol(e, p.protocol, `${pp}.protocol`);
    const start = portNumberAt(e, p.start, `${pp}.start`);
    const end = portNumberAt(e, p.end, `${pp}.end`);
    if (protocol === undefined || start === undefined || end === undefined) return undefined;
    if (typeof protocol !== 'string') return unmatchable(`${pp}.protocol`, protocol.problem);
    // "the Start value must be less than End", says the comment, but unlike v1alpha2's the CRD
    // has no rule for it and the API server stores any order. start == end is the inclusive range
    // of that one port; start above end is no port at all.
    if (start > end) return unmatchable(pp, `start ${start} is above end ${end}, an empty range`);
    return { protocol, port: start, endPort: end };
  }
  return undefined;
}

// The v1alpha1 CRDs allow 100 rules, peers and ports (v1alpha2 cut them to 25); networks and
// domainNames are 25 in both.
const COMMON = {
  hasPriority: true,
  maxRules: 100,
  maxPeers: 100,
  portsField: 'ports',
  maxPorts: 100,
  // Upstream's pattern has "a-zA-z" (sic) where v1alpha2 has "a-zA-Z": the v1alpha1 CRD also
  // takes the ASCII characters between "Z" and "a".
  domainPattern: /^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/,
  acceptWord: 'Allow',
  decodePort: decodePortEntry,
  namedPortField: 'namedPort',
  namespaceSelectorRequired: true,
} as const;

const ANP: Version = {
  ...COMMON,
  kind: 'AdminNetworkPolicy',
  tier: 'Admin',
  actions: { Allow: 'Accept', Deny: 'Deny', Pass: 'Pass' },
  peerFields: { ingress: ['namespaces', 'pods'], egress: ['namespaces', 'pods', 'nodes', 'networks', 'domainNames'] },
};

const BANP: Version = {
  ...COMMON,
  kind: 'BaselineAdminNetworkPolicy',
  tier: 'Baseline',
  hasPriority: false,
  actions: { Allow: 'Accept', Deny: 'Deny' },
  // BaselineAdminNetworkPolicyEgressPeer has no domainNames.
  peerFields: { ingress: ['namespaces', 'pods'], egress: ['namespaces', 'pods', 'nodes', 'networks'] },
};

export function decodeAdminNetworkPolicy(raw: Obj, e: Errs): Decoded {
  return decodeClusterPolicy(raw, e, ANP);
}

export function decodeBaselineAdminNetworkPolicy(raw: Obj, e: Errs): Decoded {
  const d = decodeClusterPolicy(raw, e, BANP);
  // CRD: self.metadata.name == 'default' ("Only one baseline admin network policy with
  // metadata.name="default" can be created in the cluster").
  const name = (raw.metadata as Obj | undefined)?.name;
  if (typeof name !== 'string' || name === '' || name === 'default') return d;
  e.add('metadata.name', `must be "default": only one BaselineAdminNetworkPolicy, named "default", can be created in the cluster; got ${JSON.stringify(name)}`);
  return { kind: 'invalid', objectKind: 'BaselineAdminNetworkPolicy', key: clusterPolicyId({ kind: 'BaselineAdminNetworkPolicy', name }), errors: e.list };
}
