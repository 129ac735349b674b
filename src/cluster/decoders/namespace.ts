// Namespace: its name, labels (plus the name label the API server adds) and Palisade's own
// annotations.

import type { Decoded } from '../kinds.ts';
import { implicitNamespaceLabels } from '../namespace-labels.ts';
import { type Errs, type Obj, invalid, keyOf, metaOf, rawName } from './fields.ts';

export function decodeNamespace(raw: Obj, e: Errs): Decoded {
  // Named before metaOf, whose label errors must name the Namespace too.
  e.object = `Namespace ${rawName(raw)}`;
  const meta = metaOf(e, raw, false, 'label');
  if (e.list.length) return invalid('Namespace', keyOf(meta, false), e);
  // The API server sets kubernetes.io/metadata.name=<name> on every namespace and does not let
  // it be changed, so selectors on it work even when a manifest does not spell it out.
  const labels = { ...meta.labels, ...implicitNamespaceLabels(meta.name!) };
  // Only Palisade's own annotations (palisade.io/audit) matter here; their values are checked
  // where they are used (agent/audit.ts), so a bad value never makes the Namespace invalid.
  const annotations: Record<string, string> = {};
  const rawAnn = (raw.metadata as Obj | undefined)?.annotations;
  if (rawAnn && typeof rawAnn === 'object' && !Array.isArray(rawAnn)) {
    for (const [k, v] of Object.entries(rawAnn as Obj)) {
      if (k.startsWith('palisade.io/') && typeof v === 'string') annotations[k] = v;
    }
  }
  const value = Object.keys(annotations).length ? { name: meta.name!, labels, annotations } : { name: meta.name!, labels };
  return { kind: 'Namespace', value };
}
