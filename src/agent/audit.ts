// Audit mode: policies are computed and denials logged as "would deny", but the traffic passes.
// Two switches: a global one (agent flag --audit) and a per-namespace annotation
// `palisade.io/audit: "true"` on the Namespace object, for rolling policies out one namespace
// at a time.
//
// Which namespace decides: a connection is denied by a SIDE. The egress side belongs to the
// source pod (its namespace's policies isolated it), the ingress side to the destination pod.
// A denial is only waved through when EVERY denying side is in audit: if x is in audit and y
// enforces, x/a -> y/b denied by y/b's ingress stays denied, because y asked for enforcement.
//
// This runs off the hot path: only for NEW connections the classifier already denied.

import { sideDenies, type RuleSnapshot } from '../policy/engine-api.ts';

export const AUDIT_ANNOTATION = 'palisade.io/audit';

export interface AuditConfig {
  /** Every denial is audit-only (agent flag). */
  readonly global: boolean;
  /** Namespaces annotated palisade.io/audit: "true". */
  readonly namespaces: ReadonlySet<string>;
}

export const ENFORCE_ALL: AuditConfig = { global: false, namespaces: new Set() };

/**
 * Reads the annotation value. Only "true" / "false" (any case) are accepted; anything else is
 * an error the agent reports against the Namespace and treats as "false": a typo must never
 * silently stop enforcement.
 */
export function parseAuditAnnotation(value: string | undefined): { audit: boolean; error?: string } {
  if (value === undefined) return { audit: false };
  const v = value.trim().toLowerCase();
  if (v === 'true') return { audit: true };
  if (v === 'false' || v === '') return { audit: false };
  return {
    audit: false,
    error: `metadata.annotations["${AUDIT_ANNOTATION}"]: must be "true" or "false", got ${JSON.stringify(value)}; enforcing`,
  };
}

export interface AnnotatedNamespace {
  readonly name: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Builds the config from the namespaces the agent knows; errors name the Namespace and field. */
export function auditConfig(
  global: boolean,
  namespaces: Iterable<AnnotatedNamespace>,
): { config: AuditConfig; errors: { object: string; field: string; message: string }[] } {
  const set = new Set<string>();
  const errors: { object: string; field: string; message: string }[] = [];
  for (const ns of namespaces) {
    const r = parseAuditAnnotation(ns.annotations?.[AUDIT_ANNOTATION]);
    if (r.audit) set.add(ns.name);
    if (r.error) {
      errors.push({ object: `Namespace ${ns.name}`, field: `metadata.annotations["${AUDIT_ANNOTATION}"]`, message: r.error });
    }
  }
  return { config: { global, namespaces: set }, errors };
}

function namespaceOf(pod: string | undefined): string | undefined {
  if (!pod) return undefined;
  const i = pod.indexOf('/');
  return i > 0 ? pod.slice(0, i) : undefined;
}

/**
 * For a connection the policy denied: should it pass anyway (audit)? `egressDenied` /
 * `ingressDenied` say which sides denied; srcPod / dstPod are "ns/name" of the owners.
 * Returns false when nothing was denied (nothing to audit).
 */
export function auditAllows(
  cfg: AuditConfig,
  denied: { readonly egress: boolean; readonly ingress: boolean },
  srcPod: string | undefined,
  dstPod: string | undefined,
): boolean {
  if (!denied.egress && !denied.ingress) return false;
  if (cfg.global) return true;
  if (denied.egress) {
    const ns = namespaceOf(srcPod);
    if (!ns || !cfg.namespaces.has(ns)) return false;
  }
  if (denied.ingress) {
    const ns = namespaceOf(dstPod);
    if (!ns || !cfg.namespaces.has(ns)) return false;
  }
  return true;
}

/** The same, straight from the classifier's side codes and slots of the snapshot that judged. */
export function auditAllowsCodes(
  cfg: AuditConfig,
  snap: RuleSnapshot,
  egressCode: number,
  ingressCode: number,
  srcSlot: number,
  dstSlot: number,
): boolean {
  const egress = sideDenies(egressCode);
  const ingress = sideDenies(ingressCode);
  if (!egress && !ingress) return false;
  if (cfg.global) return true;
  if (cfg.namespaces.size === 0) return false;
  return auditAllows(
    cfg,
    { egress, ingress },
    srcSlot >= 0 ? snap.podName(srcSlot) : undefined,
    dstSlot >= 0 ? snap.podName(dstSlot) : undefined,
  );
}
