// A cluster with a domainNames policy, and the agent status files its node would write after some
// DNS answers, for the tests of `explain|verify|matrix --dns-status` and `palisade dns`. The
// status is made by the agent's own code: answer packets through the DnsLearner, the section by
// dnsStatusSection (what DnsWiring.status() writes), typed as the AgentStatus fields it fills,
// so the file's format cannot drift from the agent's.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentStatus } from '../../src/agent/agent-stats.ts';
import { DnsLearner } from '../../src/agent/dns-learner.ts';
import { dnsStatusSection } from '../../src/agent/dns-status.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { buildAnswer, type RR } from '../../support/dns-messages.ts';
import { ipv4, ipv6, udp } from '../../support/packets.ts';
import { tmpDir } from './run-cli.ts';

export const DNS_SERVER = '10.96.0.10', DNS_SERVER6 = 'fd00::53';
/** x/a (10.0.0.1, fd00::1) and x/c on node n1, x/b on node n2. */
export const A = '10.0.0.1', A6 = 'fd00::1';

export const DNS_CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {kubernetes.io/metadata.name: x}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {phase: Running, podIP: ${A}, podIPs: [{ip: ${A}}, {ip: "${A6}"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: a}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {phase: Running, podIP: 10.0.1.5, podIPs: [{ip: 10.0.1.5}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: allow-names}
spec:
  tier: Admin
  priority: 10
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {pod: a}}}}
  egress:
  - {name: api, action: Accept, to: [{domainNames: ["*.example.com"]}], protocols: [{tcp: {destinationPort: {number: 443}}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-rest}
spec:
  tier: Admin
  priority: 20
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {pod: a}}}}
  egress:
  - {name: all, action: Deny, to: [{networks: ["0.0.0.0/0", "::/0"]}]}
`;

/** A folder holding DNS_CLUSTER as cluster.yaml. */
export function dnsClusterDir(): string {
  const dir = tmpDir();
  writeFileSync(join(dir, 'cluster.yaml'), DNS_CLUSTER);
  return dir;
}

export interface Answer {
  /** The pod address the answer goes to. */
  readonly to: string;
  readonly q: string;
  readonly rr: RR[];
  /** When it arrives (ms). */
  readonly at: number;
}

/** The fields of the agent's status file that `--dns-status` reads. */
export type DnsAgentStatus = Pick<AgentStatus, 'node' | 'updatedAt'> & { readonly dns: NonNullable<AgentStatus['dns']> };

/** What the agent of `node` (default TTL bounds) writes at `at` after the answers, through its own learner and section writer. */
export function agentDnsStatus(answers: readonly Answer[], at: number, node = 'n1', queue: Record<string, unknown> = {}): DnsAgentStatus {
  let now = 0;
  const learner = new DnsLearner(new ClusterState(), () => true, {}, () => now);
  for (const a of answers) {
    now = a.at;
    const six = a.to.includes(':');
    const l4 = udp({ sport: 53, dport: 40000 }, buildAnswer(a.q, a.rr, { compress: true }));
    const pkt = six ? ipv6({ src: DNS_SERVER6, dst: a.to, nextHeader: 17, rawPayload: true }, l4) : ipv4({ src: DNS_SERVER, dst: a.to, proto: 17, rawPayload: true }, l4);
    learner.classify(pkt, 0, pkt.length, 0);
    learner.endBatch();
  }
  return { node, updatedAt: new Date(at).toISOString(), dns: dnsStatusSection(learner, queue, at) };
}

/** Writes agentDnsStatus(...) as a status file; returns its path. */
export function writeAgentDnsStatus(answers: readonly Answer[], at: number, node = 'n1'): string {
  const file = join(tmpDir(), 'agent-status.json');
  writeFileSync(file, JSON.stringify(agentDnsStatus(answers, at, node), null, 2) + '\n');
  return file;
}
