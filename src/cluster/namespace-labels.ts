// The labels of a namespace, whether or not its Namespace object is known.
//
// This is a fact of the cluster model, not of NetworkPolicy: sources use it to make up the
// Namespace object of pods that arrive without one, and every namespaceSelector check (the
// evaluator, the compiler's identities, lint) uses it for the same pods, so that all of them
// agree on what such a selector sees.
//
// Source quoted: https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/
// ("Automatic labelling") "The Kubernetes control plane sets an immutable label
// kubernetes.io/metadata.name on all namespaces. The value of the label is the namespace name."

import type { Labels } from './model.ts';
import type { ClusterView } from './state.ts';

/** The label the control plane sets on every namespace; its value is the namespace name. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * Labels of a namespace whose Namespace object is unknown: the one label the control plane
 * always sets. Nothing else can be assumed, so a selector on any other label does not match.
 */
export function implicitNamespaceLabels(namespace: string): Labels {
  return { [NAMESPACE_NAME_LABEL]: namespace };
}

/** The labels of the Namespace object when known (`labels`), else the implicit ones. */
export function namespaceLabelsOr(namespace: string, labels: Labels | undefined): Labels {
  return labels ?? implicitNamespaceLabels(namespace);
}

/** The labels a namespaceSelector sees for `namespace` in this view. */
export function namespaceLabels(view: ClusterView, namespace: string): Labels {
  return namespaceLabelsOr(namespace, view.namespaces.get(namespace)?.labels);
}

/**
 * Every namespace that exists as far as this view can tell: those with a Namespace object (in
 * the view's order), then those only known because pods are in them (in pod order). A pod
 * cannot exist outside a namespace, so its namespace exists even before the object arrives.
 */
export function namespaceNames(view: ClusterView): string[] {
  const out = [...view.namespaces.keys()];
  const seen = new Set(out);
  for (const p of view.pods.values()) {
    if (seen.has(p.namespace)) continue;
    seen.add(p.namespace);
    out.push(p.namespace);
  }
  return out;
}
