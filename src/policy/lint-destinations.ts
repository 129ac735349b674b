// Checks on where rules lead: named ports no destination pod defines, ipBlocks that contain pod
// IPs or the pod CIDR, and egress isolation that leaves no way to cluster DNS.

import type { LabelSelector, NetworkPolicy, Pod, PolicyRule, Protocol } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import { NAMESPACE_NAME_LABEL } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import { cidrWithin, formatCIDR, type ParsedCIDR } from '../net/address.ts';
import { LINT, definedPortNames, listPods, polObject, type Finding, type LintOptions } from './lint-findings.ts';
import { PodAddressIndex, peerMatchesPod, portAdmits, rulePeerPods, selectedPods } from './lint-match.ts';
import { formatSelector, selectorMatches } from './selector.ts';
import {
  DIRECTIONS, PEERS_FIELD, definesNamedPort, parseIPBlock, podIsSelectable, policyHasType, policyIsolatesPod,
} from './spec-facts.ts';

export function checkNamedPorts(view: ClusterView, pol: NetworkPolicy, out: Finding[]): void {
  for (const d of DIRECTIONS) {
    if (!policyHasType(pol, d)) continue;
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
        if (dsts.some((p) => definesNamedPort(p.ports, name, pp.protocol))) return;
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
              : `use ${definedPortNames(dsts, pp.protocol)}, or the numeric port`,
        });
      });
    });
  }
}

/** The selectable pods of a view, indexed by address for checkIPBlocks (build it once per lint run). */
export function ipBlockPodIndex(view: ClusterView): PodAddressIndex {
  return new PodAddressIndex([...view.pods.values()].filter(podIsSelectable));
}

export function checkIPBlocks(view: ClusterView, pol: NetworkPolicy, podCIDRs: readonly ParsedCIDR[], out: Finding[], index: PodAddressIndex): void {
  for (const d of DIRECTIONS) {
    if (!policyHasType(pol, d)) continue;
    pol[d].forEach((rule, i) => {
      rule.peers.forEach((peer, j) => {
        if (!peer.ipBlock) return;
        const b = parseIPBlock(peer.ipBlock);
        if (!b) return;
        const hit = index.podsIn(b);
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

export function checkDNS(view: ClusterView, pols: readonly NetworkPolicy[], opts: LintOptions, out: Finding[]): void {
  const dnsNs = opts.dnsNamespace ?? 'kube-system';
  const dnsSel: LabelSelector = { matchLabels: opts.dnsSelector ?? { 'k8s-app': 'kube-dns' }, matchExpressions: [] };
  const dnsPods = [...view.pods.values()].filter((p) => p.namespace === dnsNs && podIsSelectable(p) && selectorMatches(dnsSel, p.labels));
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
    if (!policyHasType(pol, 'egress')) continue;
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
          .filter((p) => policyIsolatesPod(p, pod, 'egress'))
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
        `add an egress rule: {to: [{namespaceSelector: {matchLabels: {${NAMESPACE_NAME_LABEL}: ${dnsNs}}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ` +
        `ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]} (policy sees the DNS pod IPs after Service DNAT, not the ClusterIP)`,
    });
  }
}
