// Decoding of the Network Policy API's cluster-scoped policies: ClusterNetworkPolicy (v1alpha2, and
// v1beta1 with the same schema) and
// v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy onto the one ClusterPolicy model.
// Table-driven: one row per validation the CRDs do (the error must name object and field), one
// row per mapping, and the fail-closed peers the API asks for.

import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import type { Decoded } from '../../src/cluster/decode.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { formatObjectError } from '../../src/cluster/model.ts';

type O = Record<string, unknown>;
const ALL = { matchLabels: {}, matchExpressions: [] };
const sel = (labels: Record<string, string>) => ({ matchLabels: labels, matchExpressions: [] });

const cnp = (spec: O, name = 'deny-db'): O => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name },
  spec: { tier: 'Admin', priority: 10, subject: { namespaces: {} }, ...spec },
});
const anp = (spec: O, name = 'guard'): O => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name },
  spec: { priority: 10, subject: { namespaces: {} }, ...spec },
});
const banp = (spec: O, name = 'default'): O => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name },
  spec: { subject: { namespaces: {} }, ...spec },
});
const ing = (rule: O): O => ({ ingress: [{ action: 'Deny', from: [{ namespaces: {} }], ...rule }] });
const eg = (rule: O): O => ({ egress: [{ action: 'Deny', to: [{ namespaces: {} }], ...rule }] });
const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

function errorsOf(d: Decoded): { field: string; message: string; object: string }[] {
  return d.kind === 'invalid' ? d.errors.map((e) => ({ field: e.field, message: e.message, object: e.object })) : [];
}

// [name, raw object, field named by an error, message fragment]; the object is "Kind name".
const invalid: [string, O, string, RegExp][] = [
  // spec frame
  ['tier not Admin/Baseline', cnp({ tier: 'Platform' }), 'spec.tier', /unsupported value "Platform": supported values: "Admin", "Baseline"/],
  ['tier missing', cnp({ tier: undefined }), 'spec.tier', /required/],
  ['priority above 1000', cnp({ priority: 1001 }), 'spec.priority', /^must be between 0 and 1000, got 1001$/],
  ['priority below 0', cnp({ priority: -1 }), 'spec.priority', /between 0 and 1000, got -1/],
  ['priority not an integer', cnp({ priority: 1.5 }), 'spec.priority', /integer/],
  ['priority missing', cnp({ priority: undefined }), 'spec.priority', /required/],
  ['ANP priority above 1000', anp({ priority: 5000 }), 'spec.priority', /between 0 and 1000, got 5000/],
  ['BANP has no priority', banp({ priority: 3 }), 'spec.priority', /unknown field "priority"/],
  ['ANP has no tier', anp({ tier: 'Admin' }), 'spec.tier', /unknown field "tier"/],
  ['unknown spec field', cnp({ ingres: [] }), 'spec.ingres', /unknown field "ingres"/],
  ['unknown top-level field', { ...cnp({}), specs: {} }, 'specs', /unknown field/],
  ['spec missing', { apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'deny-db' } }, 'spec', /required/],
  ['bad object name', cnp({}, 'Deny_DB'), 'metadata.name', /invalid name/],
  // subject
  ['subject with both fields', cnp({ subject: { namespaces: {}, pods: { podSelector: {} } } }), 'spec.subject', /exactly one of namespaces, pods; got namespaces and pods/],
  ['subject with neither field', cnp({ subject: {} }), 'spec.subject', /exactly one of namespaces, pods; none is set/],
  ['subject missing', cnp({ subject: undefined }), 'spec.subject', /required/],
  ['subject unknown field', cnp({ subject: { namespaceSelector: {} } }), 'spec.subject.namespaceSelector', /unknown field/],
  ['subject pods without podSelector', cnp({ subject: { pods: { namespaceSelector: {} } } }), 'spec.subject.pods.podSelector', /required/],
  ['ANP pods without namespaceSelector (required in v1alpha1)', anp({ subject: { pods: { podSelector: {} } } }), 'spec.subject.pods.namespaceSelector', /required/],
  ['BANP peer pods without namespaceSelector', banp(eg({ to: [{ pods: { podSelector: {} } }] })), 'spec.egress[0].to[0].pods.namespaceSelector', /required/],
  // A subject selector that cannot be built has no safe meaning (stored by the API server, but
  // neither every pod nor none is what it says): an error, which says why it is not failed closed.
  ['subject bad selector', cnp({ subject: { namespaces: { matchLabels: { 'bad key': 'x' } } } }), 'spec.subject.namespaces.matchLabels[bad key]', /invalid label key.*a subject whose selector cannot be built selects no safe set of pods, so the policy is rejected/],
  ['subject unknown operator', anp({ subject: { pods: { namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['db'] }] } } } }),
    'spec.subject.pods.podSelector.matchExpressions[0].operator', /^invalid value "Equals": not a valid selector operator.*a subject whose selector cannot be built selects no safe set of pods, so the policy is rejected$/],
  ['subject In without values', banp({ subject: { namespaces: { matchExpressions: [{ key: 'team', operator: 'In' }] } } }), 'spec.subject.namespaces.matchExpressions[0].values', /must be specified.*selects no safe set of pods/],
  ['subject Exists with values', cnp({ subject: { pods: { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists', values: ['a'] }] }, podSelector: {} } } }),
    'spec.subject.pods.namespaceSelector.matchExpressions[0].values', /may not be specified.*selects no safe set of pods/],
  // rules
  ['26 ingress rules', cnp({ ingress: times(26, () => ({ action: 'Deny', from: [{ namespaces: {} }] })) }), 'spec.ingress', /at most 25 items, got 26/],
  ['26 egress rules', cnp({ egress: times(26, () => ({ action: 'Deny', to: [{ namespaces: {} }] })) }), 'spec.egress', /at most 25 items, got 26/],
  ['101 ANP rules', anp({ egress: times(101, () => ({ action: 'Deny', to: [{ namespaces: {} }] })) }), 'spec.egress', /at most 100 items, got 101/],
  ['rule name over 100 characters', cnp(ing({ name: 'r'.repeat(101) })), 'spec.ingress[0].name', /at most 100 characters, got 101/],
  // MaxLength counts characters (code points), not UTF-16 units: 101 emoji are 101 characters.
  ['rule name over 100 characters outside the BMP', anp(eg({ name: '\u{1F6A7}'.repeat(101) })), 'spec.egress[0].name', /at most 100 characters, got 101$/],
  ['action missing', cnp(ing({ action: undefined })), 'spec.ingress[0].action', /required/],
  ['action unknown', cnp(ing({ action: 'Allow' })), 'spec.ingress[0].action', /unsupported value "Allow": supported values: "Accept", "Deny", "Pass"; ClusterNetworkPolicy says "Accept" where v1alpha1 said "Allow"$/],
  ['ANP action Accept', anp(ing({ action: 'Accept' })), 'spec.ingress[0].action', /supported values: "Allow", "Deny", "Pass"; v1alpha1 says "Allow" where ClusterNetworkPolicy says "Accept"$/],
  ['action in lower case', cnp(ing({ action: 'deny' })), 'spec.ingress[0].action', /unsupported value "deny": supported values: "Accept", "Deny", "Pass"; values are case-sensitive: "Deny"$/],
  ['action no near word', cnp(ing({ action: 'Drop' })), 'spec.ingress[0].action', /unsupported value "Drop": supported values: "Accept", "Deny", "Pass"$/],
  ['BANP action Pass', banp(eg({ action: 'Pass' })), 'spec.egress[0].action', /unsupported value "Pass": supported values: "Allow", "Deny"$/],
  ['from missing', cnp(ing({ from: undefined })), 'spec.ingress[0].from', /required/],
  ['from empty', cnp(ing({ from: [] })), 'spec.ingress[0].from', /at least 1 item/],
  ['to empty', cnp(eg({ to: [] })), 'spec.egress[0].to', /at least 1 item/],
  ['to missing', anp(eg({ to: undefined })), 'spec.egress[0].to', /required/],
  ['26 peers', cnp(ing({ from: times(26, () => ({ namespaces: {} })) })), 'spec.ingress[0].from', /at most 25 items, got 26/],
  ['101 ANP peers', anp(ing({ from: times(101, () => ({ namespaces: {} })) })), 'spec.ingress[0].from', /at most 100 items, got 101/],
  ['ports field in v1alpha2', cnp(ing({ ports: [] })), 'spec.ingress[0].ports', /unknown field "ports"/],
  ['unknown rule field', cnp(eg({ froms: [] })), 'spec.egress[0].froms', /unknown field/],
  ['null rule', cnp({ ingress: [null] }), 'spec.ingress[0]', /must be an object/],
  // peers
  ['peer with two known fields', cnp(eg({ to: [{ namespaces: {}, networks: ['10.0.0.0/8'] }] })), 'spec.egress[0].to[0]', /exactly one of namespaces, pods, nodes, networks, domainNames; got namespaces and networks/],
  ['null peer', cnp(ing({ from: [null] })), 'spec.ingress[0].from[0]', /must be an object/],
  // What the CRD's schema itself rejects in a peer's selector stays an error (the selectors that
  // cannot be built but are stored fail closed: peerSelectorsUnbuilt below).
  ['peer selector operator missing', cnp(ing({ from: [{ namespaces: { matchExpressions: [{ key: 'a', values: ['b'] }] } }] })), 'spec.ingress[0].from[0].namespaces.matchExpressions[0].operator', /^required$/],
  ['peer selector operator not a string', cnp(ing({ from: [{ pods: { podSelector: { matchExpressions: [{ key: 'a', operator: 1 }] } } }] })), 'spec.ingress[0].from[0].pods.podSelector.matchExpressions[0].operator', /must be a string/],
  ['peer selector label value not a string', anp(eg({ to: [{ nodes: { matchLabels: { zone: 3 } } }] })), 'spec.egress[0].to[0].nodes.matchLabels[zone]', /must be a string/],
  ['peer pods unknown field', cnp(ing({ from: [{ pods: { podSelector: {}, podSelectors: {} } }] })), 'spec.ingress[0].from[0].pods.podSelectors', /unknown field/],
  ['bad CIDR', cnp(eg({ to: [{ networks: ['10.0.0.0/33'] }] })), 'spec.egress[0].to[0].networks[0]', /invalid CIDR "10.0.0.0\/33"/],
  ['address without prefix', cnp(eg({ to: [{ networks: ['10.1.2.3'] }] })), 'spec.egress[0].to[0].networks[0]', /invalid CIDR/],
  ['IPv4-mapped CIDR (its prefix counts 128 bits)', cnp(eg({ to: [{ networks: ['::ffff:0.0.0.0/0'] }] })), 'spec.egress[0].to[0].networks[0]', /invalid CIDR "::ffff:0.0.0.0\/0"/],
  ['CIDR over 43 characters', cnp(eg({ to: [{ networks: ['2001:0db8:0000:0000:0000:0000:0000:0000:0000/64'] }] })), 'spec.egress[0].to[0].networks[0]', /at most 43 characters/],
  ['26 networks', cnp(eg({ to: [{ networks: times(26, (i) => `10.${i}.0.0/16`) }] })), 'spec.egress[0].to[0].networks', /at most 25 items, got 26/],
  ['empty networks', cnp(eg({ to: [{ networks: [] }] })), 'spec.egress[0].to[0].networks', /at least 1 item/],
  ['duplicate network', cnp(eg({ to: [{ networks: ['10.0.0.0/8', '10.0.0.0/8'] }] })), 'spec.egress[0].to[0].networks[1]', /duplicate value/],
  ['ANP bad CIDR', anp(eg({ to: [{ networks: ['fd00::/129'] }] })), 'spec.egress[0].to[0].networks[0]', /invalid CIDR/],
  ['BANP bad CIDR', banp(eg({ to: [{ networks: ['nope'] }] })), 'spec.egress[0].to[0].networks[0]', /invalid CIDR/],
  ['26 domain names', cnp(eg({ action: 'Accept', to: [{ domainNames: times(26, (i) => `h${i}.example.com`) }] })), 'spec.egress[0].to[0].domainNames', /at most 25 items, got 26/],
  // A domainNames peer outside an Accept rule is still validated as the CRD validates it.
  ['domainNames in a Deny rule, bad name', cnp(eg({ action: 'Deny', to: [{ domainNames: ['localhost'] }] })), 'spec.egress[0].to[0].domainNames[0]', /invalid domain name "localhost"/],
  ['domain name without a dot', cnp(eg({ action: 'Accept', to: [{ domainNames: ['localhost'] }] })), 'spec.egress[0].to[0].domainNames[0]', /invalid domain name "localhost"/],
  ['wildcard not as prefix', cnp(eg({ action: 'Accept', to: [{ domainNames: ['www.*.example.com'] }] })), 'spec.egress[0].to[0].domainNames[0]', /invalid domain name/],
  ['partial wildcard', cnp(eg({ action: 'Accept', to: [{ domainNames: ['*example.com'] }] })), 'spec.egress[0].to[0].domainNames[0]', /invalid domain name/],
  ['a name in Unicode: its punycode form is named', cnp(eg({ action: 'Accept', to: [{ domainNames: ['*.bücher.example'] }] })), 'spec.egress[0].to[0].domainNames[0]', /invalid domain name "\*\.bücher\.example".*ASCII \(punycode\) form: "\*\.xn--bcher-kva\.example"/],
  ['domain label ending in a hyphen', cnp(eg({ action: 'Accept', to: [{ domainNames: ['a-.example.com'] }] })), 'spec.egress[0].to[0].domainNames[0]', /invalid domain name/],
  // protocols (v1alpha2)
  ['26 protocols', cnp(ing({ protocols: times(26, (i) => ({ tcp: { destinationPort: { number: i + 1 } } })) })), 'spec.ingress[0].protocols', /at most 25 items, got 26/],
  ['empty protocols', cnp(ing({ protocols: [] })), 'spec.ingress[0].protocols', /at least 1 item/],
  ['protocols entry with no field', cnp(ing({ protocols: [{}] })), 'spec.ingress[0].protocols[0]', /exactly one of tcp, udp, sctp, destinationNamedPort; none is set/],
  ['protocols entry with two fields', cnp(ing({ protocols: [{ tcp: { destinationPort: { number: 80 } }, udp: { destinationPort: { number: 53 } } }] })), 'spec.ingress[0].protocols[0]', /got tcp and udp/],
  // A field of a newer CRD in a port-list entry fails the rule closed (unmatchablePorts below),
  // but what the known fields beside it get wrong is still an error.
  ['protocols entry unknown field beside a bad port', cnp(ing({ protocols: [{ tcp: { destinationPort: { number: 0 } }, icmp: {} }] })), 'spec.ingress[0].protocols[0].tcp.destinationPort.number', /between 1 and 65535, got 0/],
  ['protocols entry unknown field beside two known ones', cnp(ing({ protocols: [{ tcp: { destinationPort: { number: 1 } }, udp: { destinationPort: { number: 1 } }, icmp: {} }] })), 'spec.ingress[0].protocols[0]', /got tcp and udp/],
  ['named port beside an unknown field, with networks', cnp(eg({ to: [{ networks: ['10.0.0.0/8'] }], protocols: [{ destinationNamedPort: 'web', extra: 1 }] })),
    'spec.egress[0].protocols[0].destinationNamedPort', /cannot be set with namedPorts/],
  ['ANP ports entry unknown field beside a missing port', anp(ing({ ports: [{ portNumber: { protocol: 'TCP', ipFamily: 'IPv4' } }] })), 'spec.ingress[0].ports[0].portNumber.port', /required/],
  ['tcp without destinationPort', cnp(ing({ protocols: [{ tcp: {} }] })), 'spec.ingress[0].protocols[0].tcp.destinationPort', /required/],
  ['destinationPort with number and range', cnp(ing({ protocols: [{ udp: { destinationPort: { number: 1, range: { start: 1, end: 2 } } } }] })), 'spec.ingress[0].protocols[0].udp.destinationPort', /exactly one of number, range; got number and range/],
  ['port 0', cnp(ing({ protocols: [{ tcp: { destinationPort: { number: 0 } } }] })), 'spec.ingress[0].protocols[0].tcp.destinationPort.number', /between 1 and 65535, got 0/],
  ['port 65536', cnp(eg({ protocols: [{ sctp: { destinationPort: { number: 65536 } } }] })), 'spec.egress[0].protocols[0].sctp.destinationPort.number', /between 1 and 65535, got 65536/],
  ['range start = end', cnp(ing({ protocols: [{ tcp: { destinationPort: { range: { start: 80, end: 80 } } } }] })), 'spec.ingress[0].protocols[0].tcp.destinationPort.range', /start port must be less than end port, got start 80 and end 80/],
  ['range start > end', cnp(ing({ protocols: [{ tcp: { destinationPort: { range: { start: 90, end: 80 } } } }] })), 'spec.ingress[0].protocols[0].tcp.destinationPort.range', /less than end port/],
  ['range end 65536', cnp(ing({ protocols: [{ tcp: { destinationPort: { range: { start: 1, end: 65536 } } } }] })), 'spec.ingress[0].protocols[0].tcp.destinationPort.range.end', /between 1 and 65535/],
  ['range without end', cnp(ing({ protocols: [{ tcp: { destinationPort: { range: { start: 1 } } } }] })), 'spec.ingress[0].protocols[0].tcp.destinationPort.range.end', /required/],
  // has(protocol.destinationNamedPort) holds for "" too: the CEL rule rejects it beside networks.
  ['empty named port with networks', cnp(eg({ to: [{ networks: ['10.0.0.0/8'] }], protocols: [{ destinationNamedPort: '' }] })),
    'spec.egress[0].protocols[0].destinationNamedPort', /cannot be set with namedPorts/],
  ['ANP empty namedPort with nodes', anp(eg({ to: [{ nodes: {} }], ports: [{ namedPort: '' }] })), 'spec.egress[0].ports[0].namedPort', /cannot be set with namedPorts/],
  ['named port with networks', cnp(eg({ to: [{ namespaces: {} }, { networks: ['10.0.0.0/8'] }], protocols: [{ destinationNamedPort: 'web' }] })),
    'spec.egress[0].protocols[0].destinationNamedPort', /networks\/nodes\/domainNames peer cannot be set with namedPorts/],
  ['named port with nodes', cnp(eg({ to: [{ nodes: {} }], protocols: [{ tcp: { destinationPort: { number: 1 } } }, { destinationNamedPort: 'web' }] })),
    'spec.egress[0].protocols[1].destinationNamedPort', /cannot be set with namedPorts/],
  ['named port with domainNames', cnp(eg({ action: 'Accept', to: [{ domainNames: ['example.com'] }], protocols: [{ destinationNamedPort: 'web' }] })),
    'spec.egress[0].protocols[0].destinationNamedPort', /cannot be set with namedPorts/],
  // ports (v1alpha1)
  ['ANP ports entry with no field', anp(ing({ ports: [{}] })), 'spec.ingress[0].ports[0]', /exactly one of portNumber, namedPort, portRange; none is set/],
  ['ANP ports entry with two fields', anp(ing({ ports: [{ namedPort: 'web', portNumber: { port: 80 } }] })), 'spec.ingress[0].ports[0]', /got portNumber and namedPort/],
  ['ANP port 0', anp(ing({ ports: [{ portNumber: { protocol: 'TCP', port: 0 } }] })), 'spec.ingress[0].ports[0].portNumber.port', /between 1 and 65535/],
  ['ANP port missing', anp(ing({ ports: [{ portNumber: { protocol: 'UDP' } }] })), 'spec.ingress[0].ports[0].portNumber.port', /required/],
  ['ANP protocol not a string', anp(ing({ ports: [{ portNumber: { protocol: 6, port: 80 } }] })), 'spec.ingress[0].ports[0].portNumber.protocol', /must be a string, got number 6/],
  ['ANP range port 70000', banp(eg({ ports: [{ portRange: { protocol: 'SCTP', start: 1, end: 70000 } }] })), 'spec.egress[0].ports[0].portRange.end', /between 1 and 65535/],
  ['ANP empty ports', anp(eg({ ports: [] })), 'spec.egress[0].ports', /at least 1 item/],
  ['ANP 101 ports', anp(eg({ ports: times(101, (i) => ({ portNumber: { port: i + 1 } })) })), 'spec.egress[0].ports', /at most 100 items, got 101/],
  ['ANP protocols field', anp(ing({ protocols: [] })), 'spec.ingress[0].protocols', /unknown field "protocols"/],
  ['ANP namedPort with networks', anp(eg({ to: [{ networks: ['10.0.0.0/8'] }], ports: [{ namedPort: 'web' }] })), 'spec.egress[0].ports[0].namedPort', /cannot be set with namedPorts/],
  ['BANP namedPort with nodes', banp(eg({ to: [{ nodes: {} }], ports: [{ namedPort: 'dns' }] })), 'spec.egress[0].ports[0].namedPort', /cannot be set with namedPorts/],
  ['BANP not named default', banp({}, 'baseline'), 'metadata.name', /must be "default".*got "baseline"/],
];

t.test('every CRD validation is an error naming the object and the field', async (t) => {
  for (const [name, raw, field, message] of invalid) {
    const d = decodeObject(raw);
    const errs = errorsOf(d);
    const hit = errs.find((e) => e.field === field && message.test(e.message));
    t.ok(hit, `${name}: ${field} ${message} in ${JSON.stringify(errs)}`);
    const kind = raw.kind as string;
    const objName = (raw.metadata as O).name as string;
    if (hit) t.equal(hit.object, `${kind} ${objName}`, `${name}: the error names the object`);
  }
});

// "DomainNames is only supported for Accept rules" is a sentence of the field's comment, not a
// CRD rule: no OpenAPI or CEL validation looks at the action, so the API server stores a Deny or
// Pass rule with a domainNames peer. Rejecting the policy would take every rule of it out of
// force; the peer is one this Palisade cannot match for that action, so it fails closed as the
// API asks of such peers ("For Deny and Pass rules, fail closed means: treat the rule as a
// 'Deny all' rule"): it decodes as {}, with a warning naming the field.
// [name, raw object, the decoded rule's peers, warning field, warning message]
const domainNamesOutsideAccept: [string, O, O[], string, RegExp][] = [
  ['CNP Deny rule', cnp(eg({ action: 'Deny', to: [{ domainNames: ['example.com'] }] })), [{}],
    'spec.egress[0].to[0].domainNames', /^DomainNames is only supported for Accept rules: this Deny rule fails closed and denies ALL egress traffic of the subject pods/],
  ['CNP Pass rule, beside a pods peer', cnp(eg({ action: 'Pass', to: [{ pods: { podSelector: {} } }, { domainNames: ['*.example.com'] }] })),
    [{ pods: { namespaceSelector: ALL, podSelector: ALL } }, {}], 'spec.egress[0].to[1].domainNames', /only supported for Accept rules: this Pass rule fails closed/],
  ['CNP Baseline Deny rule', cnp({ tier: 'Baseline', ...eg({ action: 'Deny', to: [{ domainNames: ['example.com'] }] }) }), [{}],
    'spec.egress[0].to[0].domainNames', /only supported for Accept rules/],
  ['ANP Deny rule', anp(eg({ action: 'Deny', to: [{ domainNames: ['example.com'] }] })), [{}],
    'spec.egress[0].to[0].domainNames', /^DomainNames is only supported for Allow rules: this Deny rule fails closed/],
  ['ANP Pass rule', anp(eg({ action: 'Pass', to: [{ domainNames: ['example.com'] }] })), [{}],
    'spec.egress[0].to[0].domainNames', /only supported for Allow rules: this Pass rule fails closed/],
];

t.test('a domainNames peer outside an Accept rule is stored by the API server: it fails closed, with a warning', async (t) => {
  for (const [name, raw, peers, field, message] of domainNamesOutsideAccept) {
    const d = decodeObject(raw);
    t.same(errorsOf(d), [], `${name}: valid, as the API server takes it`);
    if (d.kind !== 'ClusterNetworkPolicy' && d.kind !== 'AdminNetworkPolicy') {
      t.fail(`${name}: decoded as ${d.kind}`);
      continue;
    }
    t.strictSame(d.value.egress[0]!.peers, peers, `${name}: the peer fails closed`);
    const w = (d.warnings ?? []).find((x) => x.field === field && message.test(x.message));
    t.ok(w, `${name}: warning ${field} ${message} in ${JSON.stringify(d.warnings)}`);
  }
  // In an Accept rule nothing changes: the peer keeps its names, and there is no warning.
  const ok = decodeObject(cnp(eg({ action: 'Accept', to: [{ domainNames: ['example.com'] }] })));
  t.strictSame(ok.kind === 'ClusterNetworkPolicy' ? [ok.value.egress[0]!.peers, ok.warnings] : undefined, [[{ domainNames: ['example.com'] }], undefined]);
});

// v1alpha1 ports the API server stores but that name no traffic Palisade can match: its CRD gives
// `protocol` no enum ("Protocol is the network protocol (TCP, UDP, or SCTP) which traffic must
// match", type string, default TCP) and PortRange no CEL rule ("the Start value must be less
// than End" is only said). Rejecting the policy would take its other rules out of force; the rule
// fails closed instead, as the API asks of what an implementation cannot read ("For "Deny" and
// "Pass" rules, "fail closed" means: "treat the rule as a 'Deny all' rule""), with a warning.
// [name, raw object, direction, the rule's failsClosed fields, warning message]
const unmatchablePorts: [string, O, 'ingress' | 'egress', string[], RegExp][] = [
  ['lower-case protocol', anp(eg({ ports: [{ portNumber: { protocol: 'tcp', port: 80 } }] })), 'egress', ['ports[0].portNumber.protocol'],
    /^unsupported protocol "tcp" \(values are case-sensitive: "TCP"\): this Deny rule fails closed and denies ALL egress traffic of the subject pods/],
  ['ICMP in a range, beside a good entry', anp(ing({ action: 'Allow', ports: [{ portNumber: { protocol: 'UDP', port: 53 } }, { portRange: { protocol: 'ICMP', start: 1, end: 2 } }] })), 'ingress', ['ports[1].portRange.protocol'],
    /^unsupported protocol "ICMP" \(Palisade matches "TCP", "UDP" and "SCTP"\): this Allow rule fails closed and matches no traffic/],
  ['empty protocol', banp(eg({ ports: [{ portNumber: { protocol: '', port: 443 } }] })), 'egress', ['ports[0].portNumber.protocol'], /^unsupported protocol "": this Deny rule fails closed/],
  ['range start > end', anp(eg({ action: 'Pass', ports: [{ portRange: { start: 8080, end: 80 } }] })), 'egress', ['ports[0].portRange'],
    /^start 8080 is above end 80, an empty range: this Pass rule fails closed and denies ALL egress traffic/],
  ['two of them', banp(ing({ ports: [{ portRange: { protocol: 'UDP', start: 2, end: 1 } }, { portNumber: { protocol: 'udp', port: 1 } }] })), 'ingress', ['ports[0].portRange', 'ports[1].portNumber.protocol'], /fails closed/],
  // No MinLength on either named port: "" is stored (a present field satisfies MinProperties=1),
  // and names no container port (a port's name, when it has one, is an IANA_SVC_NAME).
  ['CNP empty destinationNamedPort', cnp(ing({ protocols: [{ tcp: { destinationPort: { number: 80 } } }, { destinationNamedPort: '' }] })), 'ingress', ['protocols[1].destinationNamedPort'],
    /^empty named port, which names no container port: this Deny rule fails closed and denies ALL ingress traffic of the subject pods/],
  ['ANP empty namedPort', anp(eg({ action: 'Allow', ports: [{ namedPort: '' }] })), 'egress', ['ports[0].namedPort'],
    /^empty named port, which names no container port: this Allow rule fails closed and matches no traffic/],
  // A field Palisade does not know in a port-list entry, at any depth: a newer CRD's port matcher
  // (the API server stores what its CRD knows), which Palisade cannot match. Read without it, the
  // entry would match other traffic than written; the rule fails closed instead.
  ['CNP protocols entry of an unknown matcher only', cnp(ing({ protocols: [{ icmp: { type: 8 } }] })), 'ingress', ['protocols[0].icmp'],
    /^unknown field "icmp" \(known fields: tcp, udp, sctp, destinationNamedPort\): a port field of a newer API version than this Palisade reads, or a typo: this Deny rule fails closed and denies ALL ingress traffic of the subject pods/],
  ['CNP unknown field beside tcp, in an Accept', cnp(eg({ action: 'Accept', protocols: [{ udp: { destinationPort: { number: 53 } } }, { tcp: { destinationPort: { number: 80 } }, ipFamily: 'IPv6' }] })), 'egress', ['protocols[1].ipFamily'],
    /^unknown field "ipFamily" .*: this Accept rule fails closed and matches no traffic/],
  ['CNP unknown field inside tcp, in a Pass', cnp(eg({ action: 'Pass', protocols: [{ tcp: { destinationPort: { number: 80 }, flags: ['SYN'] } }] })), 'egress', ['protocols[0].tcp.flags'],
    /^unknown field "flags" \(known fields: destinationPort\).*: this Pass rule fails closed and denies ALL egress traffic/],
  ['CNP unknown field in a range, two of them', cnp(ing({ protocols: [{ sctp: { destinationPort: { range: { start: 1, end: 9, step: 2, stride: 1 } } } }] })), 'ingress',
    ['protocols[0].sctp.destinationPort.range.step', 'protocols[0].sctp.destinationPort.range.stride'], /^unknown field "step" \(known fields: start, end\)/],
  ['CNP a newer alternative inside tcp', cnp(ing({ protocols: [{ tcp: { sourcePort: { number: 80 } } }] })), 'ingress', ['protocols[0].tcp.sourcePort'], /^unknown field "sourcePort" \(known fields: destinationPort\)/],
  ['CNP a newer alternative inside destinationPort', cnp(ing({ protocols: [{ udp: { destinationPort: { set: [53, 853] } } }] })), 'ingress', ['protocols[0].udp.destinationPort.set'], /^unknown field "set" \(known fields: number, range\)/],
  ['CNP unknown field beside destinationNamedPort', cnp(ing({ protocols: [{ destinationNamedPort: 'web', protocol: 'TCP' }] })), 'ingress', ['protocols[0].protocol'], /^unknown field "protocol"/],
  ['ANP ports entry of an unknown matcher only, in an Allow', anp(eg({ action: 'Allow', ports: [{ portSet: { ports: [1, 2] } }] })), 'egress', ['ports[0].portSet'],
    /^unknown field "portSet" \(known fields: portNumber, namedPort, portRange\).*: this Allow rule fails closed and matches no traffic/],
  ['ANP unknown field inside portNumber', anp(ing({ ports: [{ portNumber: { protocol: 'TCP', port: 80, ipFamily: 'IPv4' } }] })), 'ingress', ['ports[0].portNumber.ipFamily'],
    /^unknown field "ipFamily" \(known fields: protocol, port\).*: this Deny rule fails closed and denies ALL ingress/],
  ['BANP unknown field inside portRange', banp(eg({ ports: [{ portRange: { protocol: 'UDP', start: 1, end: 2, step: 1 } }] })), 'egress', ['ports[0].portRange.step'], /^unknown field "step" .*this Deny rule fails closed/],
];

t.test('ports the API server stores but Palisade cannot match: the rule fails closed, with a warning', async (t) => {
  for (const [name, raw, dir, fields, message] of unmatchablePorts) {
    const d = decodeObject(raw);
    t.same(errorsOf(d), [], `${name}: valid, as the API server takes it`);
    if (d.kind !== 'AdminNetworkPolicy' && d.kind !== 'BaselineAdminNetworkPolicy' && d.kind !== 'ClusterNetworkPolicy') {
      t.fail(`${name}: decoded as ${d.kind}`);
      continue;
    }
    const rule = d.value[dir][0]!;
    t.same(rule.failsClosed?.map((f) => f.field), fields, `${name}: the rule fails closed for ${fields.join(', ')}`);
    t.same((d.warnings ?? []).map((w) => w.field), fields.map((f) => `spec.${dir}[0].${f}`), `${name}: one warning per field`);
    t.match(d.warnings?.[0]?.message, message, `${name}: the warning says what and why`);
    t.ok(rule.failsClosed?.every((f, k) => d.warnings?.[k]?.message.startsWith(`${f.problem}: `)), `${name}: the rule keeps what is wrong (explain, lint)`);
  }
});

// A peer's label selector that cannot be built: the CRDs type metav1.LabelSelector's fields but
// do not run the label-selector validation the API server runs for its own kinds, so it stores
// an unknown operator, In or NotIn with no values, Exists with values, keys and values outside
// the label syntax. The API's rule for peers an implementation cannot understand is fail closed
// (an Accept rule matches nothing, a Deny or Pass rule denies all from its place); the peer
// decodes as {} and the rule names the field, with a warning. Rejecting the policy instead would
// take its other rules out of force.
// [name, raw object, direction, the decoded rule's peers, its failsClosed fields, first warning]
const peerSelectorsUnbuilt: [string, O, 'ingress' | 'egress', O[], string[], RegExp][] = [
  ['CNP Deny, pods peer with an unknown operator', cnp({ ingress: [{ action: 'Deny', from: [{ namespaces: {} }, { pods: { podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['db'] }] } } }] }] }), 'ingress',
    [{ namespaces: ALL }, {}], ['from[1].pods.podSelector.matchExpressions[0].operator'],
    /^invalid value "Equals": not a valid selector operator \(In, NotIn, Exists, DoesNotExist\), so this peer's selector cannot be built: this Deny rule fails closed and denies ALL ingress traffic of the subject pods/],
  ['CNP Accept, namespaces peer In without values', cnp(eg({ action: 'Accept', to: [{ namespaces: { matchExpressions: [{ key: 'team', operator: 'In', values: [] }] } }] })), 'egress',
    [{}], ['to[0].namespaces.matchExpressions[0].values'], /^must be specified when `operator` is 'In' or 'NotIn', so this peer's selector cannot be built: this Accept rule fails closed and matches no traffic/],
  ['CNP Pass, nodes peer Exists with values', cnp(eg({ action: 'Pass', to: [{ nodes: { matchExpressions: [{ key: 'zone', operator: 'Exists', values: ['a'] }] } }] })), 'egress',
    [{}], ['to[0].nodes.matchExpressions[0].values'], /may not be specified .*: this Pass rule fails closed and denies ALL egress traffic/],
  ['CNP Baseline Deny, NotIn without values', cnp({ tier: 'Baseline', ...ing({ from: [{ namespaces: { matchExpressions: [{ key: 'team', operator: 'NotIn' }] } }] }) }), 'ingress',
    [{}], ['from[0].namespaces.matchExpressions[0].values'], /must be specified .*this Deny rule fails closed/],
  ['ANP Deny, bad matchLabels key in a namespaceSelector', anp(eg({ to: [{ pods: { namespaceSelector: { matchLabels: { 'bad key': 'x' } }, podSelector: {} } }] })), 'egress',
    [{}], ['to[0].pods.namespaceSelector.matchLabels[bad key]'], /^invalid label key "bad key": .*cannot be built: this Deny rule fails closed and denies ALL egress/],
  ['ANP Allow, bad matchLabels value', anp(ing({ action: 'Allow', from: [{ namespaces: { matchLabels: { team: '-x' } } }] })), 'ingress',
    [{}], ['from[0].namespaces.matchLabels[team]'], /^invalid label value "-x": .*: this Allow rule fails closed and matches no traffic/],
  ['ANP Pass, bad expression key and value beside a good peer', anp(eg({ action: 'Pass', to: [{ networks: ['10.0.0.0/8'] }, { namespaces: { matchExpressions: [{ key: 'a b', operator: 'In', values: ['ok', 'not ok'] }] } }] })), 'egress',
    [{ networks: ['10.0.0.0/8'] }, {}], ['to[1].namespaces.matchExpressions[0].key', 'to[1].namespaces.matchExpressions[0].values[1]'], /^invalid label key "a b": .*this Pass rule fails closed/],
  ['BANP Deny, in lower case', banp(ing({ from: [{ pods: { namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'app', operator: 'in', values: ['db'] }] } } }] })), 'ingress',
    [{}], ['from[0].pods.podSelector.matchExpressions[0].operator'], /^invalid value "in": .*this Deny rule fails closed/],
  ['two peers of one rule', cnp(ing({ from: [{ namespaces: { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] } }, { namespaces: {} }, { pods: { podSelector: { matchLabels: { 'x/y/z': 'v' } } } }] })), 'ingress',
    [{}, { namespaces: ALL }, {}], ['from[0].namespaces.matchExpressions[0].operator', 'from[2].pods.podSelector.matchLabels[x/y/z]'], /^invalid value "Gt"/],
];

t.test('a peer selector that cannot be built is stored by the API server: the rule fails closed, with a warning', async (t) => {
  for (const [name, raw, dir, peers, fields, message] of peerSelectorsUnbuilt) {
    const d = decodeObject(raw);
    t.same(errorsOf(d), [], `${name}: valid, as the API server takes it`);
    if (d.kind !== 'AdminNetworkPolicy' && d.kind !== 'BaselineAdminNetworkPolicy' && d.kind !== 'ClusterNetworkPolicy') {
      t.fail(`${name}: decoded as ${d.kind}`);
      continue;
    }
    const rule = d.value[dir][0]!;
    t.strictSame(rule.peers, peers, `${name}: the peer that cannot be built is {}`);
    t.same(rule.failsClosed?.map((f) => f.field), fields, `${name}: the rule fails closed for ${fields.join(', ')}`);
    t.same((d.warnings ?? []).map((w) => w.field), fields.map((f) => `spec.${dir}[0].${f}`), `${name}: one warning per field, naming it`);
    t.equal(d.warnings?.[0]?.object, `${raw.kind as string} ${(raw.metadata as O).name as string}`, `${name}: the warning names the object`);
    t.match(d.warnings?.[0]?.message, message, `${name}: the warning says what and why`);
    t.ok(rule.failsClosed?.every((f, k) => d.warnings?.[k]?.message.startsWith(`${f.problem}: `)), `${name}: the rule keeps what is wrong (explain, lint)`);
  }
  // A NetworkPolicy's selectors are validated by the API server itself: still errors there.
  const np = decodeObject({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'np', namespace: 'x' },
    spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] } }] }] } });
  t.match(errorsOf(np), [{ field: 'spec.ingress[0].from[0].podSelector.matchExpressions[0].operator', message: /not a valid selector operator/ }], 'NetworkPolicy: an error');
});

t.test('the brief\'s example error, formatted', async (t) => {
  const d = decodeObject(cnp({ priority: 1001 }));
  t.same(d.kind === 'invalid' ? d.errors.map(formatObjectError) : [], ['ClusterNetworkPolicy deny-db: spec.priority: must be between 0 and 1000, got 1001']);
  t.equal(d.kind === 'invalid' ? d.key : '', 'deny-db');
  const a = decodeObject(anp({ priority: 1001 }));
  t.equal(a.kind === 'invalid' ? a.key : '', 'AdminNetworkPolicy:guard', 'v1alpha1 rejections are keyed like their valid versions (clusterPolicyId)');
});

// [name, raw object, the ClusterPolicy it must decode to (t.same: the whole value)]
const full: [string, O, O][] = [
  ['v1alpha2 Admin, namespaces subject, every peer type and protocol', cnp({
    subject: { namespaces: { matchLabels: { team: 'db' } } },
    ingress: [
      { name: 'from-backend', action: 'Accept', from: [{ namespaces: { matchLabels: { app: 'backend' } } }, { pods: { namespaceSelector: {}, podSelector: { matchLabels: { role: 'api' } } } }],
        protocols: [{ tcp: { destinationPort: { number: 5432 } } }, { udp: { destinationPort: { range: { start: 1000, end: 2000 } } } }, { sctp: { destinationPort: { number: 9 } } }, { destinationNamedPort: 'pg' }] },
      { action: 'Pass', from: [{ pods: { podSelector: {} } }] },
    ],
    egress: [
      { name: 'nets', action: 'Deny', to: [{ networks: ['10.1.2.3/8', '2001:DB8:0:0::/32', '0.0.0.0/0', '::/0'] }, { nodes: { matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }] } }] },
      { name: 'dns', action: 'Accept', to: [{ domainNames: ['example.com', '*.example.org', 'a_b.example.net.'] }] },
    ],
  }), {
    kind: 'ClusterNetworkPolicy', name: 'deny-db', tier: 'Admin', priority: 10,
    subject: { namespaces: sel({ team: 'db' }) },
    ingress: [
      { name: 'from-backend', action: 'Accept', peers: [{ namespaces: sel({ app: 'backend' }) }, { pods: { namespaceSelector: ALL, podSelector: sel({ role: 'api' }) } }],
        protocols: [{ protocol: 'TCP', port: 5432 }, { protocol: 'UDP', port: 1000, endPort: 2000 }, { protocol: 'SCTP', port: 9 }, { namedPort: 'pg' }] },
      { name: '', action: 'Pass', peers: [{ pods: { namespaceSelector: ALL, podSelector: ALL } }], protocols: [] },
    ],
    egress: [
      // Networks keep their prefix and are canonicalised as NetworkPolicy ipBlock CIDRs are.
      { name: 'nets', action: 'Deny', peers: [{ networks: ['10.0.0.0/8', '2001:db8::/32', '0.0.0.0/0', '::/0'] },
        { nodes: { matchLabels: {}, matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', values: [] }] } }], protocols: [] },
      { name: 'dns', action: 'Accept', peers: [{ domainNames: ['example.com', '*.example.org', 'a_b.example.net.'] }], protocols: [] },
    ],
  }],
  ['v1alpha2 Baseline, pods subject, priority 0 and 1000 bounds', cnp({ tier: 'Baseline', priority: 1000, subject: { pods: { namespaceSelector: { matchLabels: { a: 'b' } }, podSelector: {} } } }), {
    kind: 'ClusterNetworkPolicy', name: 'deny-db', tier: 'Baseline', priority: 1000,
    subject: { pods: { namespaceSelector: sel({ a: 'b' }), podSelector: ALL } }, ingress: [], egress: [],
  }],
  ['v1alpha2 priority 0', cnp({ priority: 0 }), {
    kind: 'ClusterNetworkPolicy', name: 'deny-db', tier: 'Admin', priority: 0, subject: { namespaces: ALL }, ingress: [], egress: [],
  }],
  ['v1alpha1 ANP: Admin tier, Allow -> Accept, ports', anp({
    priority: 3,
    subject: { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } } },
    ingress: [{ name: 'allow-web', action: 'Allow', from: [{ namespaces: {} }],
      ports: [{ portNumber: { protocol: 'UDP', port: 53 } }, { portNumber: { port: 80 } }, { namedPort: 'web' }, { portRange: { start: 8000, end: 8080 } }, { portRange: { protocol: 'SCTP', start: 1, end: 2 } }] }],
    egress: [
      { action: 'Pass', to: [{ nodes: {} }, { networks: ['fd00::1/64'] }] },
      { action: 'Allow', to: [{ domainNames: ['*.example.com'] }] },
      { action: 'Deny', to: [{ pods: { namespaceSelector: {}, podSelector: {} } }] },
    ],
  }), {
    kind: 'AdminNetworkPolicy', name: 'guard', tier: 'Admin', priority: 3,
    subject: { pods: { namespaceSelector: ALL, podSelector: sel({ app: 'db' }) } },
    ingress: [{ name: 'allow-web', action: 'Accept', peers: [{ namespaces: ALL }],
      // "If not specified, this field defaults to TCP."
      protocols: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 80 }, { namedPort: 'web' }, { protocol: 'TCP', port: 8000, endPort: 8080 }, { protocol: 'SCTP', port: 1, endPort: 2 }] }],
    egress: [
      { name: '', action: 'Pass', peers: [{ nodes: ALL }, { networks: ['fd00::/64'] }], protocols: [] },
      { name: '', action: 'Accept', peers: [{ domainNames: ['*.example.com'] }], protocols: [] },
      { name: '', action: 'Deny', peers: [{ pods: { namespaceSelector: ALL, podSelector: ALL } }], protocols: [] },
    ],
  }],
  ['v1alpha1 BANP: Baseline tier, priority 0, Allow/Deny', banp({
    ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }],
    egress: [{ name: 'ok', action: 'Allow', to: [{ networks: ['192.168.0.0/16'] }], ports: [{ portNumber: { protocol: 'TCP', port: 443 } }] }],
  }), {
    kind: 'BaselineAdminNetworkPolicy', name: 'default', tier: 'Baseline', priority: 0, subject: { namespaces: ALL },
    ingress: [{ name: '', action: 'Deny', peers: [{ namespaces: ALL }], protocols: [] }],
    egress: [{ name: 'ok', action: 'Accept', peers: [{ networks: ['192.168.0.0/16'] }], protocols: [{ protocol: 'TCP', port: 443 }] }],
  }],
  // v1alpha1's PortRange has no CEL rule (v1alpha2 added "self.start < self.end"): the API server
  // stores start == end, an inclusive range of one port.
  ['v1alpha1 portRange with start == end is the one port', anp(eg({ ports: [{ portRange: { start: 100, end: 100 } }, { portRange: { protocol: 'UDP', start: 65535, end: 65535 } }] })), {
    kind: 'AdminNetworkPolicy', name: 'guard', tier: 'Admin', priority: 10, subject: { namespaces: ALL }, ingress: [],
    egress: [{ name: '', action: 'Deny', peers: [{ namespaces: ALL }], protocols: [{ protocol: 'TCP', port: 100, endPort: 100 }, { protocol: 'UDP', port: 65535, endPort: 65535 }] }],
  }],
  ['BANP portRange with start == end', banp(ing({ ports: [{ portRange: { protocol: 'SCTP', start: 9, end: 9 } }] })), {
    kind: 'BaselineAdminNetworkPolicy', name: 'default', tier: 'Baseline', priority: 0, subject: { namespaces: ALL }, egress: [],
    ingress: [{ name: '', action: 'Deny', peers: [{ namespaces: ALL }], protocols: [{ protocol: 'SCTP', port: 9, endPort: 9 }] }],
  }],
  // Fail closed: "If an implementation sees no fields are set then it can infer that the
  // deployed CRD is of an incompatible version with an unknown field. In that case it should
  // fail closed." A peer with no known field is {}; an unknown field next to a known one is dropped.
  ['fail-closed peers: {}, an unknown field, an unknown field beside a known one', cnp({
    ingress: [{ action: 'Deny', from: [{}, { exampleFuturePeer: { matchLabels: { a: 'b' } } }, { namespaces: { matchLabels: { a: 'b' } }, exampleFuturePeer: {} }] }],
    egress: [{ action: 'Pass', to: [{ exampleFuturePeer: ['x'] }] }],
  }), {
    kind: 'ClusterNetworkPolicy', name: 'deny-db', tier: 'Admin', priority: 10, subject: { namespaces: ALL },
    ingress: [{ name: '', action: 'Deny', peers: [{}, {}, { namespaces: sel({ a: 'b' }) }], protocols: [] }],
    egress: [{ name: '', action: 'Pass', peers: [{}], protocols: [] }],
  }],
  // v1alpha2 ingress peers have no nodes/networks/domainNames: there they are unknown fields.
  ['ingress nodes/networks peers are unknown fields: the peer fails closed', cnp({
    ingress: [{ action: 'Accept', from: [{ nodes: {} }, { networks: ['10.0.0.0/8'] }, { domainNames: ['example.com'] }, { pods: { podSelector: {} }, networks: ['bogus'] }] }],
  }), {
    kind: 'ClusterNetworkPolicy', name: 'deny-db', tier: 'Admin', priority: 10, subject: { namespaces: ALL },
    ingress: [{ name: '', action: 'Accept', peers: [{}, {}, {}, { pods: { namespaceSelector: ALL, podSelector: ALL } }], protocols: [] }],
    egress: [],
  }],
  ['BANP egress domainNames is an unknown field (BaselineAdminNetworkPolicyEgressPeer has none)', banp({
    egress: [{ action: 'Deny', to: [{ domainNames: ['example.com'] }] }],
  }), {
    kind: 'BaselineAdminNetworkPolicy', name: 'default', tier: 'Baseline', priority: 0, subject: { namespaces: ALL },
    ingress: [], egress: [{ name: '', action: 'Deny', peers: [{}], protocols: [] }],
  }],
  ['a named port beside a fail-closed peer is fine (the CRD looks only at networks/nodes/domainNames)', cnp({
    egress: [{ action: 'Deny', to: [{}], protocols: [{ destinationNamedPort: 'web' }] }],
  }), {
    kind: 'ClusterNetworkPolicy', name: 'deny-db', tier: 'Admin', priority: 10, subject: { namespaces: ALL },
    ingress: [], egress: [{ name: '', action: 'Deny', peers: [{}], protocols: [{ namedPort: 'web' }] }],
  }],
  // "Name is an identifier for this rule, that may be no more than 100 characters in length"
  // (+kubebuilder:validation:MaxLength=100): the API server counts characters, so 100 emoji
  // (200 UTF-16 code units) make a valid name, and the policy must not be rejected for it.
  ['a rule name of 100 characters outside the BMP', cnp(ing({ name: '\u{1F6A7}'.repeat(100) })), {
    kind: 'ClusterNetworkPolicy', name: 'deny-db', tier: 'Admin', priority: 10, subject: { namespaces: ALL },
    ingress: [{ name: '\u{1F6A7}'.repeat(100), action: 'Deny', peers: [{ namespaces: ALL }], protocols: [] }], egress: [],
  }],
  ['25 of everything is the limit, not an error', cnp({
    egress: times(25, () => ({ name: 'r'.repeat(100), action: 'Accept', to: [...times(24, () => ({ namespaces: {} })), { networks: times(25, (i) => `10.${i}.0.0/16`) }],
      protocols: times(25, (i) => ({ tcp: { destinationPort: { number: i + 1 } } })) })),
  }), {}],
];

t.test('every mapping onto the model', async (t) => {
  for (const [name, raw, want] of full) {
    const d = decodeObject(raw);
    t.same(errorsOf(d), [], `${name}: valid`);
    t.equal(d.kind, raw.kind, `${name}: decoded as its kind`);
    if (d.kind === 'ignored' || d.kind === 'invalid') continue;
    if (Object.keys(want).length) t.strictSame(d.value, want, name);
  }
});

t.test('v1beta1 ClusterNetworkPolicy: the same schema as v1alpha2, every row alike', async (t) => {
  const beta = (raw: O): O => ({ ...raw, apiVersion: 'policy.networking.k8s.io/v1beta1' });
  let rows = 0;
  for (const [name, raw] of [...full.map(([n, r]) => [n, r] as const), ...invalid.map(([n, r]) => [n, r] as const)]) {
    if (raw.kind !== 'ClusterNetworkPolicy') continue;
    rows++;
    const a = decodeObject(raw), b = decodeObject(beta(raw));
    t.same(errorsOf(b), errorsOf(a), `${name}: the same errors`);
    if (a.kind === 'ClusterNetworkPolicy' && b.kind === 'ClusterNetworkPolicy') t.strictSame(b.value, a.value, `${name}: the same model`);
  }
  t.ok(rows >= 20, `${rows} rows`);
  // v1beta1's CRD asks for masked CIDRs; an object stored under v1alpha2 reaches the agent as
  // v1beta1 unchanged, so a CIDR with host bits is read as its network, not rejected.
  const d = decodeObject(beta(cnp(eg({ to: [{ networks: ['10.1.2.3/8', 'fd00::1/8'] }] }))));
  t.same(errorsOf(d), []);
  t.same(d.kind === 'ClusterNetworkPolicy' ? d.value.egress[0]!.peers : undefined, [{ networks: ['10.0.0.0/8', 'fd00::/8'] }]);
});

t.test('keys: a v1alpha1 policy may share a ClusterNetworkPolicy\'s name', async (t) => {
  const s = new ClusterState();
  applyDecoded(s, decodeObject(cnp({}, 'guard')));
  applyDecoded(s, decodeObject(anp({}, 'guard')));
  applyDecoded(s, decodeObject(banp({})));
  t.same([...s.clusterPolicies.keys()].sort(), ['AdminNetworkPolicy:guard', 'BaselineAdminNetworkPolicy:default', 'guard']);
  applyDecoded(s, decodeObject(anp({ priority: 2000 }, 'guard')));
  t.ok(s.rejected.has('AdminNetworkPolicy AdminNetworkPolicy:guard'), 'rejection keyed by the same id');
  t.equal(s.clusterPolicies.get('AdminNetworkPolicy:guard')?.priority, 10, 'last good version kept');
  applyDecoded(s, decodeObject(anp({}, 'guard')));
  t.notOk(s.rejected.has('AdminNetworkPolicy AdminNetworkPolicy:guard'), 'a valid version clears it');
});

t.test('Node keeps its labels (validated), and a label-less Node decodes as before', async (t) => {
  const node = (labels?: O) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', ...(labels ? { labels } : {}) }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] } });
  const d = decodeObject(node({ 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'n1' }));
  t.strictSame(d.kind === 'Node' ? d.value : undefined, { name: 'n1', labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'n1' }, addresses: ['10.0.0.1'] });
  const plain = decodeObject(node());
  t.strictSame(plain.kind === 'Node' ? plain.value : undefined, { name: 'n1', addresses: ['10.0.0.1'] });
  t.match(errorsOf(decodeObject(node({ 'bad key': 'x' }))), [{ object: 'Node n1', field: 'metadata.labels[bad key]', message: /invalid label key/ }]);
});

// Every object a shared conformance case applies must decode valid (they are what upstream's
// CRDs accept, plus the fail-closed peers of 913).
const CASES = join(import.meta.dirname, '../../../shared/conformance/cnp/cases');
t.test('every object of the shared ClusterNetworkPolicy conformance cases decodes valid', async (t) => {
  const files = readdirSync(CASES).filter((f) => f.endsWith('.yaml')).sort();
  t.ok(files.length >= 30, `${files.length} case files`);
  let cnps = 0;
  for (const f of files) {
    const c = parse(readFileSync(join(CASES, f), 'utf8')) as { steps?: { apply?: O[] }[] };
    for (const [i, step] of (c.steps ?? []).entries()) {
      for (const o of step.apply ?? []) {
        const d = decodeObject(o);
        t.same(errorsOf(d), [], `${f} step ${i + 1}: ${o.kind} ${(o.metadata as O).name}`);
        t.equal(d.kind, o.kind);
        if (d.kind === 'ClusterNetworkPolicy') cnps++;
      }
    }
  }
  t.ok(cnps > 50, `${cnps} ClusterNetworkPolicy objects decoded`);
});
