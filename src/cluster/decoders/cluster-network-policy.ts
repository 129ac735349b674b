// policy.networking.k8s.io ClusterNetworkPolicy, v1beta1 and v1alpha2 (kubernetes-sigs/network-policy-api,
// apis/v1beta1 and apis/v1alpha2, clusternetworkpolicy_types.go): spec.tier Admin|Baseline,
// priority 0-1000, and per rule `protocols`, each entry exactly one of tcp / udp / sctp (with a
// destinationPort that is a number or a range) or destinationNamedPort. The frame is in
// cluster-policy.ts.
//
// The two versions have one schema: the same fields, limits and patterns. v1beta1 (the storage
// version from its release on) adds one rule, that a CIDR be masked ("cidr(self) ==
// cidr(self).masked()"). It is not enforced here: a CRD without a conversion webhook serves an
// object stored under v1alpha2 as v1beta1 with only its apiVersion changed, so an older guardrail
// written "10.0.0.1/8" reaches the agent as v1beta1, and rejecting it would take the whole policy
// out of force. Its host bits are cleared, as for every CIDR Palisade reads (net/address.ts).

import type { ClusterPolicyPort, Protocol } from '../model.ts';
import type { Decoded } from '../kinds.ts';
import { type Errs, type Obj } from './fields.ts';
import {
  EMPTY_NAMED_PORT, type FieldCheck, type Unmatchable, type Version, decodeClusterPolicy, has, portEntryKind, portEntryObject, portNumberAt, portRangeAt,
  unmatchable,
} from './cluster-policy.ts';

const PROTOCOL_KEYS: Readonly<Record<string, Protocol>> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

/** One protocols entry (unknown fields go to `check`, see FieldCheck). */
function decodeProtocolEntry(e: Errs, v: unknown, path: string, check: FieldCheck): ClusterPolicyPort | Unmatchable | undefined {
  const o = portEntryObject(e, v, path);
  if (!o) return undefined;
  const which = portEntryKind(e, o, ['tcp', 'udp', 'sctp', 'destinationNamedPort'], path, check);
  if (which === undefined) return undefined;
  if (which === 'destinationNamedPort') {
    const name = e.str(o.destinationNamedPort, `${path}.destinationNamedPort`);
    if (name === undefined) return undefined;
    // No MinLength: "" is stored, and names no port (see EMPTY_NAMED_PORT).
    return name === '' ? unmatchable(`${path}.destinationNamedPort`, EMPTY_NAMED_PORT) : { namedPort: name };
  }
  const protocol = PROTOCOL_KEYS[which]!;
  const pp = `${path}.${which}`;
  const po = e.obj(o[which], pp);
  if (!po) return undefined;
  check(po, ['destinationPort'], pp);
  // ClusterNetworkPolicyProtocolTCP/UDP/SCTP: MinProperties=1, so `tcp: {}` is rejected; a rule
  // for every port of every protocol leaves `protocols` out. Other fields only: a newer
  // version's, which `check` has (the rule fails closed).
  if (po.destinationPort === undefined || po.destinationPort === null) {
    if (Object.keys(po).some((k) => has(po, k))) return undefined;
    e.add(`${pp}.destinationPort`, 'required (a number or a range; leave protocols out to match every port)');
    return undefined;
  }
  const dp = `${pp}.destinationPort`;
  const d = e.obj(po.destinationPort, dp);
  if (!d) return undefined;
  const kind = portEntryKind(e, d, ['number', 'range'], dp, check);
  if (kind === 'number') {
    const port = portNumberAt(e, d.number, `${dp}.number`);
    return port === undefined ? undefined : { protocol, port };
  }
  if (kind === 'range') {
    const r = e.obj(d.range, `${dp}.range`);
    if (!r) return undefined;
    check(r, ['start', 'end'], `${dp}.range`);
    const range = portRangeAt(e, r, `${dp}.range`);
    return range ? { protocol, ...range } : undefined;
  }
  return undefined;
}

const SCHEMA: Version = {
  kind: 'ClusterNetworkPolicy',
  hasPriority: true,
  actions: { Accept: 'Accept', Deny: 'Deny', Pass: 'Pass' },
  maxRules: 25,
  maxPeers: 25,
  portsField: 'protocols',
  maxPorts: 25,
  peerFields: { ingress: ['namespaces', 'pods'], egress: ['namespaces', 'pods', 'nodes', 'networks', 'domainNames'] },
  domainPattern: /^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/,
  acceptWord: 'Accept',
  decodePort: decodeProtocolEntry,
  namedPortField: 'destinationNamedPort',
  namespaceSelectorRequired: false,
};

export function decodeClusterNetworkPolicy(raw: Obj, e: Errs): Decoded {
  return decodeClusterPolicy(raw, e, SCHEMA);
}
