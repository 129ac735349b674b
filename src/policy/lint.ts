// Policy lint: mistakes that are valid API objects but do not do what their author most likely
// meant. Pure: it reads a ClusterView and returns findings; the CLI does the I/O.
//
// Every check is conservative: a finding must be provable from the objects at hand (a selector
// that matches nothing today, a rule that is a subset of another rule applying to the same
// pods). Two checks read intent and say so in their reason: the "deny" check (a policy NAMED
// like a deny whose rules allow) and the typo check (a selector that matches nothing, one or two
// edits away from a label that exists), which is worded as a question.
//
// Severity: "error" only when a part of a policy provably matches nothing it could ever apply
// to today (a named port none of the destination pods defines); everything else is a warning,
// since the cluster may be about to change (pods still to be created, DNS elsewhere).

import type { ClusterView } from '../cluster/state.ts';
import type {
  IPBlock, LabelSelector, Labels, NetworkPolicy, Pod, PolicyPeer, PolicyPort, PolicyRule, Protocol,
} from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import { selectorIsEmpty, selectorMatches, formatSelector } from './selector.ts';
import { cidrContains, cidrWithin, formatCIDR, parseCIDR, parseIP, type ParsedCIDR } from '../net/address.ts';

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
} as const;
export type LintCode = (typeof LINT)[keyof typeof LINT];

export interface Finding {
  readonly code: LintCode;
  readonly severity: Severity;
  /** "Kind ns/name" (or "Namespace name"). */
  readonly object: string;
  /** JSON-path-like field inside the object, e.g. "spec.ingress[0].from[1].podSelector". */
  readonly field?: string;
  readonly reason: string;
  readonly fix: string;
}

export interface LintOptions {
  /** The cluster's pod CIDRs (e.g. from --cluster-cidr); pod IPs in the view are used either way. */
  readonly podCIDRs?: readonly string[];
  /** Where cluster DNS runs; default kube-system pods labelled k8s-app=kube-dns. */
  readonly dnsNamespace?: string;
  readonly dnsSelector?: Labels;
}

const MAX_LISTED = 4;

// ---------------------------------------------------------------------------------------------
// Pod and peer matching (the same rules the evaluator uses, restated for sets of pods).

function finished(p: Pod): boolean {
  return p.phase === 'Succeeded' || p.phase === 'Failed';
}
/** Pods a policy's podSelector can isolate: NetworkPolicy does not apply to host-network pods. */
function isTarget(p: Pod): boolean {
  return !p.hostNetwork && !finished(p);
}
/** Pods a peer selector can match: they need an IP, and host-network/finished pods match nothing. */
function isPeer(p: Pod): boolean {
  return !p.hostNetwork && !finished(p) && p.ips.length > 0;
}

function listPods(pods: readonly Pod[]): string {
  const names = pods.slice(0, MAX_LISTED).map((p) => podKey(p));
  return names.join(', ') + (pods.length > MAX_LISTED ? ` and ${pods.length - MAX_LISTED} more` : '');
}

function selectedPods(view: ClusterView, pol: NetworkPolicy): Pod[] {
  const out: Pod[] = [];
  for (const p of view.pods.values()) {
    if (p.namespace === pol.namespace && isTarget(p) && selectorMatches(pol.podSelector, p.labels)) out.push(p);
  }
  return out;
}

function nsLabels(view: ClusterView, ns: string): Labels {
  return view.namespaces.get(ns)?.labels ?? {};
}

interface ParsedBlock {
  readonly cidr: ParsedCIDR;
  readonly except: readonly ParsedCIDR[];
}

function parseBlock(b: IPBlock): ParsedBlock | undefined {
  const cidr = parseCIDR(b.cidr);
  if (!cidr) return undefined;
  const except: ParsedCIDR[] = [];
  for (const e of b.except) {
    const pe = parseCIDR(e);
    if (pe) except.push(pe);
  }
  return { cidr, except };
}

function blockContainsIP(b: ParsedBlock, ipText: string): boolean {
  const ip = parseIP(ipText);
  if (!ip || !cidrContains(b.cidr, ip)) return false;
  return !b.except.some((e) => cidrContains(e, ip));
}

/** Does one peer match a pod (as a source for ingress / destination for egress)? */
function peerMatchesPod(view: ClusterView, policyNs: string, peer: PolicyPeer, p: Pod): boolean {
  if (!isPeer(p)) return false;
  if (peer.ipBlock) {
    const b = parseBlock(peer.ipBlock);
    return !!b && p.ips.some((ip) => blockContainsIP(b, ip));
  }
  if (peer.namespaceSelector) {
    if (!view.namespaces.has(p.namespace)) return false;
    if (!selectorMatches(peer.namespaceSelector, nsLabels(view, p.namespace))) return false;
  } else if (p.namespace !== policyNs) {
    return false;
  }
  return !peer.podSelector || selectorMatches(peer.podSelector, p.labels);
}

function rulePeerPods(view: ClusterView, policyNs: string, rule: PolicyRule): Pod[] {
  const out: Pod[] = [];
  for (const p of view.pods.values()) {
    if (!isPeer(p)) continue;
    if (rule.peers.length === 0 || rule.peers.some((peer) => peerMatchesPod(view, policyNs, peer, p))) out.push(p);
  }
  return out;
}

/** Does a port entry admit protocol/port on a destination pod (named ports resolve on that pod)? */
function portAdmits(pp: PolicyPort, proto: Protocol, port: number, dst?: Pod): boolean {
  if (pp.protocol !== proto) return false;
  if (pp.port === undefined) return true;
  if (typeof pp.port === 'number') return port >= pp.port && port <= (pp.endPort ?? pp.port);
  if (!dst) return false;
  return dst.ports.some((cp) => cp.name === pp.port && cp.protocol === proto && cp.containerPort === port);
}

// ---------------------------------------------------------------------------------------------
// Edit distance (optimal string alignment: a transposition counts as one edit, the common typo).

export function editDistance(a: string, b: string, cap = 3): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  const rows = a.length + 1, cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}

/** How many edits we call a typo: none for 1-2 character strings (pod=a vs pod=b is not a typo). */
function tolerance(s: string): number {
  return s.length >= 8 ? 2 : s.length >= 3 ? 1 : 0;
}

interface LabelUniverse {
  readonly pairs: Map<string, Set<string>>; // key -> values present
}

function universe(labelSets: Iterable<Labels>): LabelUniverse {
  const pairs = new Map<string, Set<string>>();
  for (const ls of labelSets) {
    for (const [k, v] of Object.entries(ls)) {
      let s = pairs.get(k);
      if (!s) pairs.set(k, (s = new Set()));
      s.add(v);
    }
  }
  return { pairs };
}

interface TypoHit {
  readonly term: string;
  readonly suggestion: string;
  readonly distance: number;
  readonly path: string;
}

function nearestPair(u: LabelUniverse, k: string, v: string): { k: string; v: string; d: number } | undefined {
  let best: { k: string; v: string; d: number } | undefined;
  for (const [k2, values] of u.pairs) {
    const dk = editDistance(k, k2);
    if (dk > tolerance(k)) continue;
    for (const v2 of values) {
      const dv = editDistance(v, v2);
      if (dv > tolerance(v)) continue;
      const d = dk + dv;
      if (d >= 1 && d <= 2 && (!best || d < best.d)) best = { k: k2, v: v2, d };
    }
  }
  return best;
}

/** Terms of a selector that match no object on their own, with a near label that does exist. */
function typos(sel: LabelSelector, u: LabelUniverse, path: string): TypoHit[] {
  const out: TypoHit[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels)) {
    if (u.pairs.get(k)?.has(v)) continue;
    const n = nearestPair(u, k, v);
    if (n) out.push({ term: `${k}=${v}`, suggestion: `${n.k}=${n.v}`, distance: n.d, path: `${path}.matchLabels` });
  }
  sel.matchExpressions.forEach((r, i) => {
    if (r.operator === 'In') {
      if (r.values.some((v) => u.pairs.get(r.key)?.has(v))) return;
      for (const v of r.values) {
        const n = nearestPair(u, r.key, v);
        if (n) out.push({ term: `${r.key} in (${v})`, suggestion: `${n.k}=${n.v}`, distance: n.d, path: `${path}.matchExpressions[${i}]` });
      }
    } else if (r.operator === 'Exists') {
      if (u.pairs.has(r.key)) return;
      for (const k2 of u.pairs.keys()) {
        const d = editDistance(r.key, k2);
        if (d >= 1 && d <= tolerance(r.key)) {
          out.push({ term: `${r.key} (Exists)`, suggestion: k2, distance: d, path: `${path}.matchExpressions[${i}]` });
          break;
        }
      }
    }
    // NotIn / DoesNotExist: a typo there makes the selector match MORE, never nothing.
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The checks.

type Dir = 'ingress' | 'egress';
const DIRS: readonly Dir[] = ['ingress', 'egress'];
const PEERS_FIELD: Record<Dir, string> = { ingress: 'from', egress: 'to' };

function polObject(p: NetworkPolicy): string {
  return `NetworkPolicy ${p.namespace}/${p.name}`;
}

function sortedPolicies(view: ClusterView): NetworkPolicy[] {
  return [...view.policies.values()].sort((a, b) => (podKey(a) < podKey(b) ? -1 : podKey(a) > podKey(b) ? 1 : 0));
}

function checkDefaultDeny(view: ClusterView, out: Finding[]): void {
  for (const ns of [...view.namespaces.keys()].sort()) {
    const pods = [...view.pods.values()].filter((p) => p.namespace === ns && isTarget(p));
    if (pods.length === 0) continue;
    const missing: Dir[] = [];
    const open: string[] = [];
    for (const d of DIRS) {
      const pols = [...view.policies.values()].filter((p) => p.namespace === ns && p.policyTypes[d]);
      // "Default deny" = a policy with an empty podSelector for the direction: it isolates every
      // pod of the namespace, including pods created or relabelled later.
      if (pols.some((p) => selectorIsEmpty(p.podSelector))) continue;
      missing.push(d);
      const unisolated = pods.filter((pod) => !pols.some((p) => selectorMatches(p.podSelector, pod.labels)));
      if (unisolated.length) open.push(`${d}: ${listPods(unisolated)} accept${unisolated.length === 1 ? 's' : ''} all traffic`);
    }
    if (missing.length === 0) continue;
    const types = missing.map((d) => (d === 'ingress' ? 'Ingress' : 'Egress')).join(', ');
    out.push({
      code: LINT.NO_DEFAULT_DENY,
      severity: 'warning',
      object: `Namespace ${ns}`,
      reason:
        `namespace has ${pods.length} pod(s) but no default-deny for ${missing.join(' and ')}: ` +
        `a pod no policy selects is not isolated and allows everything` +
        (open.length ? ` (now ${open.join('; ')})` : ' (every pod is selected today, but new or relabelled pods will not be)'),
      fix:
        `apply {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: default-deny, namespace: ${ns}}, ` +
        `spec: {podSelector: {}, policyTypes: [${types}]}} and allow the wanted traffic with further policies` +
        (missing.includes('egress') ? '; an egress default-deny also needs a DNS allowance (UDP and TCP 53 to kube-dns)' : ''),
    });
  }
}

const DENY_NAME = /(^|[-_.])(deny|block|lockdown|isolate)([-_.]|$)/i;

function checkDenyAllows(pol: NetworkPolicy, out: Finding[]): void {
  if (!DENY_NAME.test(pol.name)) return;
  for (const d of DIRS) {
    if (!pol.policyTypes[d]) continue;
    pol[d].forEach((rule, i) => {
      const field = `spec.${d}[${i}]`;
      if (rule.peers.length === 0) {
        out.push({
          code: LINT.DENY_ALLOWS,
          severity: 'warning',
          object: polObject(pol),
          field,
          reason:
            `the name says deny, but this rule has no ${PEERS_FIELD[d]} and ${rule.ports.length ? 'allows every peer on its ports' : 'allows all ' + d + ' traffic'}: ` +
            `NetworkPolicy rules only ever allow ("${d}: [{}]" allows all, "${d}: []" allows nothing)`,
          fix: `to deny all ${d}, remove the rules: "${d}: []" (with policyTypes including ${d === 'ingress' ? 'Ingress' : 'Egress'}); if allowing is intended, rename the policy`,
        });
        return;
      }
      rule.peers.forEach((peer, j) => {
        if (peer.podSelector && !peer.namespaceSelector && !peer.ipBlock && selectorIsEmpty(peer.podSelector)) {
          out.push({
            code: LINT.DENY_ALLOWS,
            severity: 'warning',
            object: polObject(pol),
            field: `${field}.${PEERS_FIELD[d]}[${j}]`,
            reason:
              `the name says deny, but "${PEERS_FIELD[d]}: [{podSelector: {}}]" selects every pod in namespace ${pol.namespace}, ` +
              `so this rule ALLOWS all same-namespace ${d} traffic${rule.ports.length ? ' on its ports' : ''}; only other namespaces are denied`,
          fix:
              `for a real deny-all use "${d}: []" (no rules); if same-namespace traffic is meant to pass, rename the policy (e.g. allow-same-namespace)`,
          });
        }
      });
    });
  }
}

function checkIgnoredRules(pol: NetworkPolicy, out: Finding[]): void {
  for (const d of DIRS) {
    if (pol.policyTypes[d] || pol[d].length === 0) continue;
    const T = d === 'ingress' ? 'Ingress' : 'Egress';
    out.push({
      code: LINT.IGNORED_RULES,
      severity: 'warning',
      object: polObject(pol),
      field: `spec.${d}`,
      reason: `the policy has ${pol[d].length} ${d} rule(s) but policyTypes does not list ${T}, so they are never enforced and the pods are not ${d}-isolated by it`,
      fix: `add ${T} to spec.policyTypes, or delete spec.${d}`,
    });
  }
}

function checkSelectors(view: ClusterView, pol: NetworkPolicy, out: Finding[]): void {
  const obj = polObject(pol);
  const nsPods = [...view.pods.values()].filter((p) => p.namespace === pol.namespace && isTarget(p));
  if (!selectorIsEmpty(pol.podSelector) && selectedPods(view, pol).length === 0) {
    out.push({
      code: LINT.SELECTOR_MATCHES_NOTHING,
      severity: 'warning',
      object: obj,
      field: 'spec.podSelector',
      reason: `podSelector "${formatSelector(pol.podSelector)}" selects no pod in namespace ${pol.namespace}${nsPods.length ? '' : ' (the namespace has no pods)'}, so the policy has no effect today`,
      fix: `make spec.podSelector match the labels of the pods to protect (kubectl get pods -n ${pol.namespace} --show-labels)`,
    });
    pushTypos(obj, typos(pol.podSelector, universe(nsPods.map((p) => p.labels)), 'spec.podSelector'), 'pod', out);
  }
  for (const d of DIRS) {
    if (!pol.policyTypes[d]) continue;
    pol[d].forEach((rule, i) => {
      rule.peers.forEach((peer, j) => {
        if (peer.ipBlock) return;
        const base = `spec.${d}[${i}].${PEERS_FIELD[d]}[${j}]`;
        let scopeNs: string[] = [pol.namespace];
        if (peer.namespaceSelector) {
          scopeNs = [...view.namespaces.values()].filter((n) => selectorMatches(peer.namespaceSelector!, n.labels)).map((n) => n.name);
          if (scopeNs.length === 0) {
            out.push({
              code: LINT.SELECTOR_MATCHES_NOTHING,
              severity: 'warning',
              object: obj,
              field: `${base}.namespaceSelector`,
              reason: `namespaceSelector "${formatSelector(peer.namespaceSelector)}" matches no namespace, so this peer allows nothing`,
              fix: `label the intended namespace, or match its automatic label kubernetes.io/metadata.name=<name>`,
            });
            pushTypos(obj, typos(peer.namespaceSelector, universe([...view.namespaces.values()].map((n) => n.labels)), `${base}.namespaceSelector`), 'namespace', out);
            return;
          }
        }
        if (!peer.podSelector) {
          // namespaceSelector alone: it matched namespaces; empty ones are fine (pods come later).
          return;
        }
        const scopePods = [...view.pods.values()].filter((p) => scopeNs.includes(p.namespace) && isPeer(p));
        if (selectorIsEmpty(peer.podSelector)) return;
        if (scopePods.some((p) => selectorMatches(peer.podSelector!, p.labels))) return;
        const where = peer.namespaceSelector ? `namespaces ${scopeNs.join(', ')}` : `namespace ${pol.namespace}`;
        out.push({
          code: LINT.SELECTOR_MATCHES_NOTHING,
          severity: 'warning',
          object: obj,
          field: `${base}.podSelector`,
          reason:
            `podSelector "${formatSelector(peer.podSelector)}" matches no running pod with an IP in ${where}, so this peer allows nothing` +
            (peer.namespaceSelector ? '' : ' (a podSelector without namespaceSelector only looks in the policy\'s own namespace)'),
          fix: peer.namespaceSelector
            ? `match the labels the peer pods really carry, or widen the namespaceSelector`
            : `match the labels the peer pods really carry; for pods of another namespace add a namespaceSelector to this same peer`,
        });
        pushTypos(obj, typos(peer.podSelector, universe(scopePods.map((p) => p.labels)), `${base}.podSelector`), 'pod', out);
      });
    });
  }
}

function pushTypos(obj: string, hits: TypoHit[], what: string, out: Finding[]): void {
  for (const h of hits) {
    out.push({
      code: LINT.LABEL_TYPO,
      severity: 'warning',
      object: obj,
      field: h.path,
      reason: `"${h.term}" matches no ${what}, but ${what}s carry "${h.suggestion}" (${h.distance} edit${h.distance > 1 ? 's' : ''} away): a typo?`,
      fix: `did you mean ${h.suggestion}? change ${h.path} to use "${h.suggestion}"`,
    });
  }
}

function checkNamedPorts(view: ClusterView, pol: NetworkPolicy, out: Finding[]): void {
  for (const d of DIRS) {
    if (!pol.policyTypes[d]) continue;
    pol[d].forEach((rule, i) => {
      rule.ports.forEach((pp, j) => {
        if (typeof pp.port !== 'string') return;
        const name = pp.port;
        // Named ports resolve against the DESTINATION pod's containerPorts, in both directions:
        // for ingress that is the pod the policy selects, for egress the peer.
        const dsts = d === 'ingress' ? selectedPods(view, pol) : rulePeerPods(view, pol.namespace, rule);
        const field = `spec.${d}[${i}].ports[${j}].port`;
        if (dsts.length === 0) {
          if (d === 'egress' && rule.peers.length > 0 && rule.peers.every((p) => p.ipBlock)) {
            out.push({
              code: LINT.NAMED_PORT_UNDEFINED,
              severity: 'warning',
              object: polObject(pol),
              field,
              reason: `named port "${name}" can only resolve on a destination pod, and this rule's ipBlock peers contain no pod IP, so it matches no connection`,
              fix: `use the numeric port (e.g. port: 443) for destinations outside the cluster`,
            });
          }
          return;
        }
        if (dsts.some((p) => p.ports.some((cp) => cp.name === name && cp.protocol === pp.protocol))) return;
        const otherProto = dsts.find((p) => p.ports.some((cp) => cp.name === name));
        const cp = otherProto?.ports.find((c) => c.name === name);
        out.push({
          code: LINT.NAMED_PORT_UNDEFINED,
          severity: 'error',
          object: polObject(pol),
          field,
          reason:
            `named port "${name}"/${pp.protocol} is defined by none of the ${dsts.length} destination pod(s) (${listPods(dsts)}), so this port entry matches nothing` +
            (otherProto && cp ? `; ${podKey(otherProto)} defines "${name}" as ${cp.protocol} ${cp.containerPort}` : ''),
          fix:
            otherProto && cp
              ? `set protocol: ${cp.protocol} on this port entry (a named port must match the containerPort's protocol)`
              : `use a containerPorts[].name the destination pods define, or the numeric port`,
        });
      });
    });
  }
}

function checkIPBlocks(view: ClusterView, pol: NetworkPolicy, podCIDRs: readonly ParsedCIDR[], out: Finding[]): void {
  const pods = [...view.pods.values()].filter(isPeer);
  for (const d of DIRS) {
    if (!pol.policyTypes[d]) continue;
    pol[d].forEach((rule, i) => {
      rule.peers.forEach((peer, j) => {
        if (!peer.ipBlock) return;
        const b = parseBlock(peer.ipBlock);
        if (!b) return;
        const hit = pods.filter((p) => p.ips.some((ip) => blockContainsIP(b, ip)));
        // Pod CIDRs the block contains (an except for them fixes it) or lies inside (use selectors).
        const inside = podCIDRs.filter((pc) => pc.family === b.cidr.family && cidrWithin(pc, b.cidr) && !b.except.some((e) => cidrWithin(pc, e)));
        const around = podCIDRs.filter((pc) => pc.family === b.cidr.family && !cidrWithin(pc, b.cidr) && cidrWithin(b.cidr, pc));
        if (hit.length === 0 && inside.length === 0 && around.length === 0) return;
        const what: string[] = [];
        if (hit.length) what.push(`the IPs of pod(s) ${listPods(hit)}`);
        if (inside.length) what.push(`pod CIDR ${inside.map(formatCIDR).join(', ')}`);
        if (around.length && !hit.length) what.push(`addresses of pod CIDR ${around.map(formatCIDR).join(', ')}`);
        const broad = inside.length > 0 || b.cidr.prefix <= (b.cidr.family === 'IPv4' ? 8 : 32);
        out.push({
          code: LINT.IPBLOCK_COVERS_PODS,
          severity: 'warning',
          object: polObject(pol),
          field: `spec.${d}[${i}].${PEERS_FIELD[d]}[${j}].ipBlock`,
          reason:
            `ipBlock ${peer.ipBlock.cidr} contains ${what.join(' and ')}; ipBlock is meant for cluster-external IPs ` +
            `("these should be cluster-external IPs, since Pod IPs are ephemeral and unpredictable"), so which pods it allows changes as pods are rescheduled`,
          fix: broad
            ? `add the pod CIDR to except (e.g. except: [${inside.length ? inside.map(formatCIDR).join(', ') : '<pod CIDR>'}]) and allow pods with podSelector/namespaceSelector peers`
            : `select these pods with a podSelector/namespaceSelector peer instead of their IPs`,
        });
      });
    });
  }
}

function checkDNS(view: ClusterView, pols: readonly NetworkPolicy[], opts: LintOptions, out: Finding[]): void {
  const dnsNs = opts.dnsNamespace ?? 'kube-system';
  const dnsSel: LabelSelector = { matchLabels: opts.dnsSelector ?? { 'k8s-app': 'kube-dns' }, matchExpressions: [] };
  const dnsPods = [...view.pods.values()].filter((p) => p.namespace === dnsNs && isPeer(p) && selectorMatches(dnsSel, p.labels));
  const dnsDesc = `${dnsNs} pods ${formatSelector(dnsSel)}`;

  // Does a set of egress rules (from policies in `ns`) allow DNS over `proto`?
  const allowsDNS = (rules: readonly { ns: string; rule: PolicyRule }[], proto: Protocol): boolean => {
    if (dnsPods.length === 0) {
      // No DNS pods known: the least we can say is that no rule opens port 53 at all.
      return rules.some(({ rule }) => rule.ports.length === 0 || rule.ports.some((pp) => portAdmits(pp, proto, 53)));
    }
    return rules.some(({ ns, rule }) =>
      dnsPods.some(
        (dp) =>
          (rule.peers.length === 0 || rule.peers.some((peer) => peerMatchesPod(view, ns, peer, dp))) &&
          (rule.ports.length === 0 || rule.ports.some((pp) => portAdmits(pp, proto, 53, dp))),
      ),
    );
  };

  for (const pol of pols) {
    if (!pol.policyTypes.egress) continue;
    // The DNS pods themselves resolve names; they do not need a rule to reach themselves.
    const all = selectedPods(view, pol);
    const sel = all.filter((p) => !dnsPods.includes(p));
    if (all.length > 0 && sel.length === 0) continue;
    const missing = new Set<Protocol>();
    const affected: Pod[] = [];
    if (sel.length === 0) {
      // Judge the policy on its own rules so it is reported before any pod exists.
      const rules = pol.egress.map((rule) => ({ ns: pol.namespace, rule }));
      for (const proto of ['UDP', 'TCP'] as const) if (!allowsDNS(rules, proto)) missing.add(proto);
    } else {
      for (const pod of sel) {
        // Policies are additive: any egress rule of any policy selecting the pod may allow DNS.
        const rules = [...view.policies.values()]
          .filter((p) => p.namespace === pod.namespace && p.policyTypes.egress && selectorMatches(p.podSelector, pod.labels))
          .flatMap((p) => p.egress.map((rule) => ({ ns: p.namespace, rule })));
        let miss = false;
        for (const proto of ['UDP', 'TCP'] as const) {
          if (!allowsDNS(rules, proto)) {
            missing.add(proto);
            miss = true;
          }
        }
        if (miss) affected.push(pod);
      }
    }
    if (missing.size === 0) continue;
    const protos = [...missing].sort().reverse().join(' and ');
    out.push({
      code: LINT.EGRESS_WITHOUT_DNS,
      severity: 'warning',
      object: polObject(pol),
      field: 'spec.egress',
      reason:
        `the policy isolates egress${affected.length ? ` of ${listPods(affected)}` : ''} and no egress rule selecting ${affected.length === 1 ? 'that pod' : 'those pods'} allows ${protos} port 53` +
        (dnsPods.length ? ` to the DNS pods (${dnsDesc}: ${listPods(dnsPods)})` : ` (no ${dnsDesc} found; checked for any rule opening port 53)`) +
        `, so name lookups will fail`,
      fix:
        `add an egress rule: {to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ${dnsNs}}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ` +
        `ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]} (policy sees the DNS pod IPs after Service DNAT, not the ClusterIP)`,
    });
  }
}

// --- shadowing -------------------------------------------------------------------------------

function canonSelector(s: LabelSelector): string {
  const ml = Object.keys(s.matchLabels).sort().map((k) => [k, s.matchLabels[k]]);
  const me = s.matchExpressions
    .map((r) => [r.key, r.operator, [...r.values].sort()] as const)
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return JSON.stringify([ml, me]);
}

function canonBlock(b: IPBlock): string {
  return JSON.stringify([b.cidr, [...b.except].sort()]);
}

function samePeer(a: PolicyPeer, b: PolicyPeer): boolean {
  const k = (p: PolicyPeer) =>
    JSON.stringify([
      p.podSelector ? canonSelector(p.podSelector) : null,
      p.namespaceSelector ? canonSelector(p.namespaceSelector) : null,
      p.ipBlock ? canonBlock(p.ipBlock) : null,
    ]);
  return k(a) === k(b);
}

/** Is every connection peer r matches also matched by s? Only provable shapes return true. */
function peerCovered(r: PolicyPeer, s: PolicyPeer): boolean {
  if (samePeer(r, s)) return true;
  if (r.ipBlock || s.ipBlock) {
    if (!r.ipBlock || !s.ipBlock) return false;
    const rb = parseBlock(r.ipBlock), sb = parseBlock(s.ipBlock);
    if (!rb || !sb || !cidrWithin(rb.cidr, sb.cidr)) return false;
    // CIDRs either nest or are disjoint. A hole of s that swallows r's whole range leaves r
    // uncovered; a hole inside r's range must also be a hole of r.
    return sb.except.every((e) => {
      if (cidrWithin(rb.cidr, e)) return false;
      if (!cidrWithin(e, rb.cidr)) return true;
      return rb.except.some((re) => cidrWithin(e, re));
    });
  }
  const sPodAll = !s.podSelector || selectorIsEmpty(s.podSelector);
  if (s.namespaceSelector) {
    const sNsAll = selectorIsEmpty(s.namespaceSelector);
    if (r.namespaceSelector) {
      const nsOk = sNsAll || canonSelector(r.namespaceSelector) === canonSelector(s.namespaceSelector);
      const podOk = sPodAll || (!!r.podSelector && canonSelector(r.podSelector) === canonSelector(s.podSelector!));
      return nsOk && podOk;
    }
    // r: pods of the policy's own namespace. s covers them only when it selects every namespace.
    if (!sNsAll) return false;
    return sPodAll || (!!r.podSelector && canonSelector(r.podSelector) === canonSelector(s.podSelector!));
  }
  // s: podSelector alone = pods of the policy's own namespace.
  if (r.namespaceSelector) return false;
  return sPodAll || (!!r.podSelector && canonSelector(r.podSelector) === canonSelector(s.podSelector!));
}

function portCovered(r: PolicyPort, s: PolicyPort): boolean {
  if (r.protocol !== s.protocol) return false;
  if (s.port === undefined) return true;
  if (r.port === undefined) return false;
  if (typeof r.port === 'string' || typeof s.port === 'string') return r.port === s.port;
  return r.port >= s.port && (r.endPort ?? r.port) <= (s.endPort ?? s.port);
}

function ruleCovered(r: PolicyRule, s: PolicyRule): boolean {
  const peersOk = s.peers.length === 0 || (r.peers.length > 0 && r.peers.every((rp) => s.peers.some((sp) => peerCovered(rp, sp))));
  const portsOk = s.ports.length === 0 || (r.ports.length > 0 && r.ports.every((rp) => s.ports.some((sp) => portCovered(rp, sp))));
  return peersOk && portsOk;
}

function checkShadowed(pols: readonly NetworkPolicy[], out: Finding[]): void {
  for (const d of DIRS) {
    const entries: { pol: NetworkPolicy; i: number; rule: PolicyRule; order: number }[] = [];
    for (const pol of pols) {
      if (!pol.policyTypes[d]) continue;
      pol[d].forEach((rule, i) => entries.push({ pol, i, rule, order: entries.length }));
    }
    for (const r of entries) {
      for (const s of entries) {
        if (r === s || r.pol.namespace !== s.pol.namespace) continue;
        // s applies to every pod r applies to: same policy, identical podSelector, or s selects all.
        const sameTargets =
          r.pol === s.pol ||
          selectorIsEmpty(s.pol.podSelector) ||
          canonSelector(r.pol.podSelector) === canonSelector(s.pol.podSelector);
        if (!sameTargets || !ruleCovered(r.rule, s.rule)) continue;
        // Two identical rules cover each other: report only the later one as the duplicate.
        const mutual =
          (r.pol === s.pol || canonSelector(r.pol.podSelector) === canonSelector(s.pol.podSelector)) &&
          ruleCovered(s.rule, r.rule);
        if (mutual && r.order < s.order) continue;
        const by = `${s.pol === r.pol ? '' : `${s.pol.namespace}/${s.pol.name} `}spec.${d}[${s.i}]`;
        out.push({
          code: LINT.SHADOWED_RULE,
          severity: 'warning',
          object: polObject(r.pol),
          field: `spec.${d}[${r.i}]`,
          reason:
            `this rule allows nothing that ${by} does not already allow to the same pods ` +
            `(${mutual ? 'they are identical' : 'its peers and ports are a subset'}); rules are additive, so a narrower rule never restricts a broader one`,
          fix: mutual
            ? `delete the duplicate rule`
            : `delete this rule, or narrow ${by} if it was meant to be limited to what this rule allows`,
        });
        break;
      }
    }
  }
}

function allowsAll(rule: PolicyRule): boolean {
  return rule.peers.length === 0 && rule.ports.length === 0;
}

function checkOverriddenDeny(view: ClusterView, pols: readonly NetworkPolicy[], out: Finding[]): void {
  for (const pol of pols) {
    for (const d of DIRS) {
      if (!pol.policyTypes[d] || pol[d].length !== 0) continue;
      const pods = selectedPods(view, pol);
      if (pods.length === 0) continue;
      // Policies are additive: one rule allowing everything, in any policy selecting the pod,
      // makes an isolation-only policy for the same pod a no-op.
      const by = new Map<string, string>();
      const covered = pods.every((pod) =>
        pols.some((q) => {
          if (q === pol || q.namespace !== pod.namespace || !q.policyTypes[d] || !selectorMatches(q.podSelector, pod.labels)) return false;
          const i = q[d].findIndex(allowsAll);
          if (i === -1) return false;
          by.set(`${q.namespace}/${q.name} spec.${d}[${i}]`, '');
          return true;
        }),
      );
      if (!covered) continue;
      const others = [...by.keys()].join(', ');
      out.push({
        code: LINT.DENY_OVERRIDDEN,
        severity: 'warning',
        object: polObject(pol),
        field: `spec.${d}`,
        reason:
          `this policy only isolates (${d}: []), but every pod it selects (${listPods(pods)}) is also selected by ${others}, which allows all ${d}; ` +
          `policies are additive, so this deny has no effect`,
        fix: `delete or narrow the allow-all rule (${others}) if the deny is meant to hold; otherwise delete this policy`,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------

export function lint(view: ClusterView, opts: LintOptions = {}): Finding[] {
  const out: Finding[] = [];
  const pols = sortedPolicies(view);
  const podCIDRs = (opts.podCIDRs ?? []).map((c) => parseCIDR(c)).filter((c): c is ParsedCIDR => !!c);
  checkDefaultDeny(view, out);
  for (const pol of pols) {
    checkIgnoredRules(pol, out);
    checkDenyAllows(pol, out);
    checkSelectors(view, pol, out);
    checkNamedPorts(view, pol, out);
    checkIPBlocks(view, pol, podCIDRs, out);
  }
  checkDNS(view, pols, opts, out);
  checkShadowed(pols, out);
  checkOverriddenDeny(view, pols, out);
  return out.sort(
    (a, b) =>
      cmp(a.object, b.object) || cmp(a.field ?? '', b.field ?? '') || cmp(a.code, b.code) || cmp(a.reason, b.reason),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Text report: one block per finding. */
export function formatFindings(findings: readonly Finding[]): string {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${f.severity}: ${f.object}${f.field ? ` ${f.field}` : ''} [${f.code}]`);
    lines.push(`  why: ${f.reason}`);
    lines.push(`  fix: ${f.fix}`);
  }
  const e = findings.filter((f) => f.severity === 'error').length;
  lines.push(`${findings.length} finding(s): ${e} error(s), ${findings.length - e} warning(s)`);
  return lines.join('\n');
}
