// A generated cluster of many pods named as Deployment replicas are ("payments/ledger-
// 5c8d7f9b6d-x2x9q"), for the tests of what the text outputs do with tables too wide for a
// terminal. Pod i is in namespace i % 5, of that namespace's deployment (i / 5) % 3. Two policies
// deny something each: payments' ledger pods take ingress from their own namespace only (a
// NetworkPolicy), and a Baseline cluster policy denies all ingress to the first namespace.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from './run-cli.ts';

const LONG_NS = ['analytics-pipeline', 'inventory', 'notifications', 'payments', 'shipping'];
const SHORT_NS = ['an', 'in', 'no', 'pa', 'sh'];
const DEPLOYS = [['event-collector', 'session-rollup', 'export-scheduler'], ['stock-api', 'reservation-worker', 'warehouse-sync'], ['email-sender', 'push-gateway', 'template-renderer'], ['ledger', 'checkout-api', 'refund-worker'], ['label-printer', 'carrier-webhooks', 'tracking-api']];

export interface ManyPods {
  readonly dir: string;
  /** Every pod's namespace/name, sorted as matrix sorts them. */
  readonly keys: string[];
  /** What matrix prints for a new TCP connection from one pod to another: '.', or the denying tier (with --why) or 'X'. */
  verdict(from: string, to: string, why: boolean): string;
}

/** A replica-set hash and a pod suffix as Kubernetes makes them up, the same for the same i. */
function replicaName(deploy: string, i: number): string {
  const h = ((i + 1) * 2654435761) >>> 0;
  return `${deploy}-${h.toString(16).padStart(8, '7')}d-${((h >>> 7) % 36 ** 5).toString(36).padStart(5, 'x')}`;
}

/** `count` pods; `short` gives two-letter namespaces and pods named p0, p1, ... (a small table). */
export function manyPodsDir(count: number, short = false): ManyPods {
  const nss = short ? SHORT_NS : LONG_NS;
  const docs: string[] = ['apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.2}]}\n'];
  for (const ns of nss) docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, labels: {kubernetes.io/metadata.name: ${ns}}}\n`);
  const ledgers = new Set<string>();
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = i % nss.length;
    const deploy = DEPLOYS[n]![Math.floor(i / nss.length) % 3]!;
    const name = short ? `p${i}` : replicaName(deploy, i);
    const ip = `10.244.${n}.${Math.floor(i / nss.length) + 10}`;
    docs.push(`apiVersion: v1\nkind: Pod\nmetadata: {namespace: ${nss[n]}, name: ${name}, labels: {app: ${deploy}}}\nspec: {nodeName: n1, containers: [{name: c}]}\nstatus: {phase: Running, podIP: ${ip}, podIPs: [{ip: ${ip}}]}\n`);
    keys.push(`${nss[n]}/${name}`);
    if (deploy === 'ledger') ledgers.add(`${nss[n]}/${name}`);
  }
  docs.push(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ledger-from-payments, namespace: ${nss[3]}}
spec:
  podSelector: {matchLabels: {app: ledger}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {}}]}]
`);
  docs.push(`apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: closed-${nss[0]}}
spec:
  tier: Baseline
  priority: 0
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: ${nss[0]}}}}
  ingress: [{name: none, action: Deny, from: [{namespaces: {}}]}]
`);
  const dir = tmpDir('palisade-many-pods-');
  writeFileSync(join(dir, 'cluster.yaml'), docs.join('---\n'));
  const ns = (key: string) => key.split('/')[0]!;
  return {
    dir,
    keys: [...keys].sort(),
    verdict(from, to, why) {
      // A pod reaching itself is never judged (evaluator.ts): allowed whatever the policies say.
      if (from === to) return '.';
      if (ns(to) === nss[0]) return why ? 'B' : 'X';
      if (ledgers.has(to) && ns(from) !== nss[3]) return why ? 'N' : 'X';
      return '.';
    },
  };
}
