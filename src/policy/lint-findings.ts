// Lint's vocabulary: the finding codes, the Finding record, the options, and the few helpers
// every family of checks uses to name objects and pods in its text.

import type { Labels, NetworkPolicy, Pod, Protocol } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';

export type Severity = 'warning' | 'error';

export const LINT = {
  /** A namespace with pods and no empty-podSelector policy isolating a direction. */
  NO_DEFAULT_DENY: 'no-default-deny',
  /** A policy named like a deny whose rule allows every pod of its own namespace (or everything). */
  DENY_ALLOWS: 'deny-allows-traffic',
  /** A policy or peer selector that matches no pod / namespace. */
  SELECTOR_MATCHES_NOTHING: 'selector-matches-nothing',
  /** A selector term that matches nothing but is 1-2 edits from a label that exists. */
  LABEL_TYPO: 'label-typo',
  /** Egress isolation without a rule reaching DNS on UDP and TCP 53. */
  EGRESS_WITHOUT_DNS: 'egress-without-dns',
  /** An ipBlock that contains pod IPs or the pod CIDR. */
  IPBLOCK_COVERS_PODS: 'ipblock-covers-pods',
  /** A named port that no destination pod defines (with that protocol). */
  NAMED_PORT_UNDEFINED: 'named-port-undefined',
  /** A rule allowing nothing that another rule for the same pods does not already allow. */
  SHADOWED_RULE: 'shadowed-rule',
  /** Rules for a direction the policy's policyTypes leave out: the API keeps them, nothing enforces them. */
  IGNORED_RULES: 'ignored-rules',
  /** A deny (isolation-only) policy whose every pod another policy allows everything to. */
  DENY_OVERRIDDEN: 'deny-overridden',
  /** Two cluster policies of one tier and priority whose rules can match one connection (undefined order in the API). */
  CLUSTER_PRIORITY_TIE: 'cluster-priority-tie',
  /** A cluster policy rule every connection of which an earlier rule of the tier matches first. */
  CLUSTER_RULE_SHADOWED: 'cluster-rule-shadowed',
  /** A Pass that reaches the default allow: any Baseline Pass, or an Admin Pass with nothing below for its pods. */
  CLUSTER_PASS_TO_DEFAULT: 'cluster-pass-to-default',
  /** A domainNames peer: it matches only addresses learned from DNS answers at run time. */
  DOMAIN_NAMES_LEARNED: 'domain-names-learned',
  /** A cluster policy peer with no known field: the rule fails closed. */
  FAIL_CLOSED_PEER: 'fail-closed-peer',
  /** A field of a cluster policy rule the API server stores but no traffic matches (a v1alpha1 protocol "ICMP"): the rule fails closed. */
  FAIL_CLOSED_FIELD: 'fail-closed-field',
} as const;
export type LintCode = (typeof LINT)[keyof typeof LINT];

export interface Finding {
  readonly code: LintCode;
  readonly severity: Severity;
  /** "Kind ns/name" (or "Namespace name", or "ClusterNetworkPolicy name" for a cluster-scoped policy). */
  readonly object: string;
  /** JSON-path-like field inside the object, e.g. "spec.ingress[0].from[1].podSelector". */
  readonly field?: string;
  readonly reason: string;
  readonly fix: string;
  /** "file:line:col" of the field (or the object) when it was read from a manifest file (the CLI adds it). */
  readonly source?: string;
}

export interface LintOptions {
  /** The cluster's pod CIDRs (e.g. from --cluster-cidr); pod IPs in the view are used either way. */
  readonly podCIDRs?: readonly string[];
  /** Where cluster DNS runs; default kube-system pods labelled k8s-app=kube-dns. */
  readonly dnsNamespace?: string;
  readonly dnsSelector?: Labels;
}

const MAX_LISTED = 4;

/** Up to MAX_LISTED "namespace/name"s, then "and N more". */
export function listPods(pods: readonly Pod[]): string {
  const names = pods.slice(0, MAX_LISTED).map((p) => podKey(p));
  return names.join(', ') + (pods.length > MAX_LISTED ? ` and ${pods.length - MAX_LISTED} more` : '');
}

/**
 * The container port names of `pods` (of one protocol, when given), for a named-port fix: the
 * field a Pod declares them in, and the names to pick from.
 */
export function definedPortNames(pods: readonly Pod[], protocol?: Protocol): string {
  const names = [...new Set(pods.flatMap((p) => p.ports.filter((cp) => cp.name && (!protocol || cp.protocol === protocol)).map((cp) => cp.name!)))].sort();
  const listed = names.slice(0, MAX_LISTED).join(', ') + (names.length > MAX_LISTED ? ` and ${names.length - MAX_LISTED} more` : '');
  const what = names.length === 0 ? `they name no${protocol ? ` ${protocol}` : ''} port` : protocol ? `${protocol}: ${listed}` : listed;
  return `a port name the destination pods define in spec.containers[].ports[].name (${what})`;
}

export function polObject(p: NetworkPolicy): string {
  return `NetworkPolicy ${p.namespace}/${p.name}`;
}
