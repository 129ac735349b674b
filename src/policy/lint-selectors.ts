// Selectors that match nothing: a policy's podSelector selecting no pod, a peer's
// namespaceSelector matching no namespace or podSelector matching no pod (with typo hints).

import type { NetworkPolicy } from '../cluster/model.ts';
import { NAMESPACE_NAME_LABEL, namespaceLabels, namespaceNames } from '../cluster/namespace-labels.ts';
import type { ClusterView } from '../cluster/state.ts';
import { LINT, polObject, type Finding } from './lint-findings.ts';
import { selectedPods } from './lint-match.ts';
import { pushTypos, typos, universe } from './lint-typos.ts';
import { formatSelector, selectorIsEmpty, selectorMatches } from './selector.ts';
import { DIRECTIONS, PEERS_FIELD, podIsSelectable, policyAppliesToPod, policyHasType } from './spec-facts.ts';

export function checkSelectors(view: ClusterView, pol: NetworkPolicy, out: Finding[]): void {
  const obj = polObject(pol);
  const nsPods = [...view.pods.values()].filter((p) => p.namespace === pol.namespace && policyAppliesToPod(p));
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
  for (const d of DIRECTIONS) {
    if (!policyHasType(pol, d)) continue;
    pol[d].forEach((rule, i) => {
      rule.peers.forEach((peer, j) => {
        if (peer.ipBlock) return;
        const base = `spec.${d}[${i}].${PEERS_FIELD[d]}[${j}]`;
        let scopeNs: string[] = [pol.namespace];
        if (peer.namespaceSelector) {
          // Namespaces known only from their pods count too, with their automatic label: the
          // evaluator lets such pods through this peer, so it does not "allow nothing".
          const names = namespaceNames(view);
          scopeNs = names.filter((n) => selectorMatches(peer.namespaceSelector!, namespaceLabels(view, n)));
          if (scopeNs.length === 0) {
            out.push({
              code: LINT.SELECTOR_MATCHES_NOTHING,
              severity: 'warning',
              object: obj,
              field: `${base}.namespaceSelector`,
              reason: `namespaceSelector "${formatSelector(peer.namespaceSelector)}" matches no namespace, so this peer allows nothing`,
              fix: `label the intended namespace, or match its automatic label ${NAMESPACE_NAME_LABEL}=<name>`,
            });
            pushTypos(obj, typos(peer.namespaceSelector, universe(names.map((n) => namespaceLabels(view, n))), `${base}.namespaceSelector`), 'namespace', out);
            return;
          }
        }
        if (!peer.podSelector) {
          // namespaceSelector alone: it matched namespaces; empty ones are fine (pods come later).
          return;
        }
        const scopePods = [...view.pods.values()].filter((p) => scopeNs.includes(p.namespace) && podIsSelectable(p));
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
