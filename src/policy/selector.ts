// metav1.LabelSelector matching. "A label selector is a label query over a set of resources. The
// result of matchLabels and matchExpressions are ANDed. An empty label selector matches all
// objects. A null label selector matches no objects." (apimachinery LabelSelector docs)

import type { LabelSelector, Labels } from '../cluster/model.ts';

export function selectorMatches(sel: LabelSelector, labels: Labels): boolean {
  for (const k in sel.matchLabels) {
    if (labels[k] !== sel.matchLabels[k]) return false;
  }
  for (const req of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, req.key);
    switch (req.operator) {
      case 'In':
        if (!has || !req.values.includes(labels[req.key]!)) return false;
        break;
      case 'NotIn':
        // "NotIn: the label is absent or its value is not in the set" (labels.Requirement.Matches).
        if (has && req.values.includes(labels[req.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export function selectorIsEmpty(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels).length === 0 && sel.matchExpressions.length === 0;
}

/**
 * A canonical text of a selector: equal texts select the same objects (matchLabels in key
 * order, expressions in a fixed order with their values as sets). Different texts may still
 * select the same objects; callers use it only to prove sameness.
 */
export function selectorKey(s: LabelSelector): string {
  const ml = Object.keys(s.matchLabels).sort().map((k) => [k, s.matchLabels[k]]);
  const me = s.matchExpressions
    .map((r) => [r.key, r.operator, [...r.values].sort()] as const)
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return JSON.stringify([ml, me]);
}

/** kubectl-style text: "app=web,tier in (a,b),!debug"; "<all>" for an empty selector. */
export function formatSelector(sel: LabelSelector): string {
  const parts: string[] = [];
  for (const k of Object.keys(sel.matchLabels).sort()) parts.push(`${k}=${sel.matchLabels[k]}`);
  for (const r of sel.matchExpressions) {
    if (r.operator === 'Exists') parts.push(r.key);
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
    else parts.push(`${r.key} ${r.operator === 'In' ? 'in' : 'notin'} (${r.values.join(',')})`);
  }
  return parts.length ? parts.join(',') : '<all>';
}
