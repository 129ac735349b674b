// Raw Kubernetes objects (JSON as the API returns it, or YAML from a manifests folder) -> the
// validated model types, with the API server's defaulting and validation applied. The API
// server would refuse what we refuse here (pkg/apis/networking/validation ValidateNetworkPolicy,
// plus metav1 label-selector validation), so a manifests folder is judged exactly as a cluster
// would judge it after `kubectl apply`. Each kind's decoder lives in ./decoders/ and is found
// through the kinds registry (kinds.ts); this module checks kind and apiVersion and dispatches.
//
// decodeObject never throws: every problem of an object is collected and reported with the
// object ("NetworkPolicy x/foo"), the field path and a message.

import type { ClusterState } from './state.ts';
import { KINDS, OTHER_KINDS_OF_POLICY_GROUPS, apiVersionsOf, isObjectKind, keyOfDecoded, kindEntry, type Decoded, type ObjectKind } from './kinds.ts';
import { Errs, describe, invalid, isObj } from './decoders/fields.ts';

export type { Decoded, ObjectKind } from './kinds.ts';
export { isObjectKind } from './kinds.ts';

/**
 * Decodes one raw object. `source` (e.g. "policies.yaml:2") is copied into every error. Objects
 * of other kinds come back as 'ignored' with a note. Never throws.
 */
export function decodeObject(raw: unknown, source?: string): Decoded {
  if (!isObj(raw)) {
    const e = new Errs('object', source);
    e.add('(root)', `must be a Kubernetes object (a mapping with kind and metadata), got ${describe(raw)}`);
    return invalid('unknown', '', e);
  }
  const kind = raw.kind;
  if (typeof kind !== 'string' || kind === '') {
    const md = isObj(raw.metadata) ? raw.metadata : {};
    const e = new Errs(`object ${typeof md.name === 'string' ? md.name : '<no name>'}`, source);
    e.add('kind', kind === undefined || kind === null ? 'required' : `must be a string, got ${describe(kind)}`);
    return invalid('unknown', '', e);
  }
  return decodeAs(kind, raw, source);
}

/**
 * Why a kind not read is a slip for one that is, or undefined for a kind to pass over: a read
 * kind written in other case, or a kind its policy group does not have (a misspelt
 * NetworkPolicy). Left out with a note, the policy would silently not be in force.
 */
function kindSlip(kind: string, apiVersion: unknown): string | undefined {
  const cased = KINDS.find((k) => k.kind.toLowerCase() === kind.toLowerCase());
  if (cased) return `unknown kind ${JSON.stringify(kind)}: kinds are case-sensitive; ${cased.kind}?`;
  const group = typeof apiVersion === 'string' && apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : undefined;
  const others = group === undefined || !Object.hasOwn(OTHER_KINDS_OF_POLICY_GROUPS, group) ? undefined : OTHER_KINDS_OF_POLICY_GROUPS[group]!;
  if (others === undefined) return undefined;
  const kinds = [...KINDS.filter((k) => k.group === group).map((k) => k.kind), ...others].sort();
  // A typed list of the group's kinds (IngressList) is one of its kinds too.
  if (kinds.includes(kind.replace(/List$/, ''))) return undefined;
  return `no kind ${JSON.stringify(kind)} in ${group} (its kinds: ${kinds.join(', ')}); the API server would refuse it`;
}

/**
 * Decodes an object whose kind is known from elsewhere (items of a typed List or a watch
 * stream, which the API server sends without kind/apiVersion).
 */
export function decodeAs(kind: string, raw: unknown, source?: string): Decoded {
  const entry = kindEntry(kind);
  if (!entry) {
    const md = isObj(raw) && isObj(raw.metadata) ? raw.metadata : {};
    const name = typeof md.name === 'string' ? md.name : '<no name>';
    const full = typeof md.namespace === 'string' && md.namespace ? `${md.namespace}/${name}` : name;
    const slip = kindSlip(kind, isObj(raw) ? raw.apiVersion : undefined);
    if (slip !== undefined) {
      const e = new Errs(`${kind} ${full}`, source);
      e.add('kind', slip);
      return invalid(kind, '', e);
    }
    return { kind: 'ignored', note: `ignored ${kind} ${full} (only ${KINDS.map((k) => k.kind).join(', ')} are read)` };
  }
  const e = new Errs(kind, source);
  if (!isObj(raw)) {
    e.add('(root)', `must be an object, got ${describe(raw)}`);
    return invalid(kind, '', e);
  }
  const apiVersion = raw.apiVersion;
  const accepted = apiVersionsOf(entry);
  let versionError: string | undefined;
  if (apiVersion !== undefined && !accepted.includes(apiVersion as string)) {
    const want = accepted.length === 1 ? `"${accepted[0]}"` : `one of ${accepted.map((v) => `"${v}"`).join(', ')}`;
    versionError = `unsupported apiVersion ${describe(apiVersion)} for ${kind}: expected ${want}`;
  }
  try {
    const d = entry.decode(raw, e);
    if (versionError) {
      e.add('apiVersion', versionError);
      if (d.kind === 'invalid') return d;
      return invalid(kind, d.kind === 'ignored' ? '' : keyOfDecoded(d), e);
    }
    return d.kind !== 'invalid' && d.kind !== 'ignored' && e.warnings.length > 0 ? { ...d, warnings: e.warnings } : d;
  } catch (err) {
    // A decoder bug must not take the agent down; report it against the object.
    e.add('(root)', `internal decoding error: ${(err as Error).message}`);
    return invalid(kind, '', e);
  }
}

/** Puts a decoded object into the state: upsert, reject (invalid), or nothing (ignored). */
export function applyDecoded(state: ClusterState, d: Decoded): void {
  if (d.kind === 'ignored') return;
  if (d.kind === 'invalid') {
    if (isObjectKind(d.objectKind)) state.reject(d.objectKind, d.key, d.errors);
    return;
  }
  state.upsertDecoded(d);
}

/** Removes an object by kind and key ("ns/name" for namespaced kinds, "name" otherwise), e.g. on a watch DELETED event. */
export function deleteByKind(state: ClusterState, kind: ObjectKind, key: string): void {
  state.delete(kind, key);
}

/** Key of a raw object ("ns/name" or "name") without decoding it; for DELETED events. */
export function rawObjectKey(raw: unknown): string | undefined {
  if (!isObj(raw) || !isObj(raw.metadata)) return undefined;
  const { name, namespace } = raw.metadata;
  if (typeof name !== 'string') return undefined;
  return typeof namespace === 'string' && namespace ? `${namespace}/${name}` : name;
}
