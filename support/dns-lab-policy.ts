// The ClusterNetworkPolicy the DNS lab tests and the DNS benchmark put on pod a: an Admin policy
// that lets a reach its DNS server on port 53, accepts egress to the given domain names, and
// (for the tests) denies every other address, so that only a learned name opens anything.

export interface DomainNamesPolicy {
  /** metadata.name */
  readonly name: string;
  /** The DNS rule's peer, as a YAML flow mapping (e.g. `{networks: [10.0.0.2/32]}`). */
  readonly dnsTo: string;
  /** Protocols of the DNS rule (default UDP and TCP). */
  readonly dnsProtocols?: readonly ('udp' | 'tcp')[];
  /** Names of the `names` rule; none: no such rule. */
  readonly names?: readonly string[];
  /** A last rule denying every other IPv4 and IPv6 address. */
  readonly denyRest?: boolean;
}

export function domainNamesPolicy(o: DomainNamesPolicy): string {
  const protocols = (o.dnsProtocols ?? ['udp', 'tcp']).map((p) => `{${p}: {destinationPort: {number: 53}}}`).join(', ');
  const lines = [
    'apiVersion: policy.networking.k8s.io/v1alpha2',
    'kind: ClusterNetworkPolicy',
    `metadata: {name: ${o.name}}`,
    'spec:',
    '  tier: Admin',
    '  priority: 10',
    '  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: a}}}}',
    '  egress:',
    '  - name: dns',
    '    action: Accept',
    `    to: [${o.dnsTo}]`,
    `    protocols: [${protocols}]`,
  ];
  if (o.names && o.names.length > 0) lines.push('  - name: names', '    action: Accept', `    to: [{domainNames: [${o.names.map((n) => JSON.stringify(n)).join(', ')}]}]`);
  if (o.denyRest) lines.push('  - name: rest', '    action: Deny', '    to: [{networks: [0.0.0.0/0, "::/0"]}]');
  return lines.join('\n') + '\n';
}
