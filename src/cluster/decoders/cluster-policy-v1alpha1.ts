// policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy (actions Allow/Deny/Pass, priority
// 0-1000) and BaselineAdminNetworkPolicy (the singleton named "default", actions Allow/Deny, no
// priority), the predecessors of ClusterNetworkPolicy, decoded onto the same model: an ANP is an
// Admin-tier policy, the BANP a Baseline-tier one with priority 0, and "Allow" is Accept.
// Types: kubernetes-sigs/network-policy-api apis/v1alpha1/{adminnetworkpolicy,
// baselineadminnetworkpolicy,shared}_types.go. The frame is in cluster-policy.ts.

import type { ClusterPolicyPort } from '../model.ts';
import { clusterPolicyId } from '../model.ts';
import type { Decoded } from '../kinds.ts';
import { type Errs, type Obj, decodeProtocol } from './fields.ts';
import { type Version, decodeClusterPolicy, exactlyOne, portEntryObject, portNumberAt, portRangeAt } from './cluster-policy.ts';

/** One ports entry: exactly one of portNumber {protocol, port}, namedPort, portRange {protocol, start, end}. */
function decodePortEntry(e: Errs, v: unknown, path: string): ClusterPolicyPort | undefined {
  const o = portEntryObject(e, v, path);
  if (!o) return undefined;
  const fields = ['portNumber', 'namedPort', 'portRange'];
  e.strict(o, fields, path);
  const which = exactlyOne(e, o, fields, path);
  if (which === 'namedPort') {
    const name = e.str(o.namedPort, `${path}.namedPort`);
    if (name === '') e.add(`${path}.namedPort`, 'must not be empty');
    return name ? { namedPort: name } : undefined;
  }
  if (which === 'portNumber') {
    const pp = `${path}.portNumber`;
    const p = e.obj(o.portNumber, pp);
    if (!p) return undefined;
    e.strict(p, ['protocol', 'port'], pp);
    // "If not specified, this field defaults to TCP."
    const protocol = decodeProtocol(e, p.protocol, `${pp}.protocol`);
    const port = portNumberAt(e, p.port, `${pp}.port`);
    return protocol && port !== undefined ? { protocol, port } : undefined;
  }
  if (which === 'portRange') {
    const pp = `${path}.portRange`;
    const p = e.obj(o.portRange, pp);
    if (!p) return undefined;
    e.strict(p, ['protocol', 'start', 'end'], pp);
    const protocol = decodeProtocol(e, p.protocol, `${pp}.protocol`);
    // "the Start value must be less than End", says the comment, but the CRD has no rule for it
    // and the API server stores start == end: read as that one port (rejecting the policy would
    // take its other rules out of force).
    const range = portRangeAt(e, p, pp, true);
    return protocol && range ? { protocol, ...range } : undefined;
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
