// The kube source's queue between the informers and the ClusterState. Informer events and list
// items are queued per object (last write wins), then applied as one ClusterState.batch():
// a burst (a Deployment scaling up, a relist) costs one recompile. Updates that do not change
// the decoded model (pod status heartbeats, annotations) do not reach the state at all, and an
// invalid object is rejected with its errors (logged once per version) while its last good
// version stays in force: a broken update must not silently open traffic. A valid object the
// decoder warned about (enforced, but not quite as written) is logged once per version too.
//
// A change is decoded when it is queued (prepare), not when the batch is applied: the raw JSON
// of a list page or watch event then dies young, instead of 166,000 raw objects of an initial
// list outliving several collections until the first sync applies them (the garbage collector
// was the largest single cost of the scale benchmark's list). An object whose version is the
// one already applied is not decoded (a resync re-delivers every object); it keeps its raw form
// in case the version applied changes before the batch (decoding is pure, so when it happens
// changes nothing).

import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterState } from '../cluster/state.ts';
import { applyDecoded, decodeAs, deleteByKind, type Decoded } from '../cluster/decode.ts';
import { KINDS, objectId, type KindEntry, type ObjectKind } from '../cluster/kinds.ts';
import { formatObjectError } from '../cluster/model.ts';
import type { Log } from './log.ts';
import { objectKey } from './kube-resource.ts';

/** A change: raw undefined means deleted. */
export interface Pending {
  readonly kind: ObjectKind;
  readonly key: string;
  readonly raw?: KubernetesObject;
}

/** A change as queued (KubeApplier.prepare): an upsert carries its version and, mostly, its decoded form. */
export interface Prepared {
  readonly kind: ObjectKind;
  readonly key: string;
  /** Upserts only: metadata.resourceVersion ('' when absent). */
  readonly rv?: string;
  /** Upserts only, unless its version was the one applied when prepared. */
  readonly decoded?: Decoded;
  /** Upserts not decoded yet. */
  readonly raw?: KubernetesObject;
}

export class KubeApplier {
  /** Per kind: key -> resourceVersion of the last version applied to (or rejected from) the state. */
  readonly known: Readonly<Record<ObjectKind, Map<string, string>>>;
  private pending = new Map<string, Prepared>();
  /** When the oldest change waiting in `pending` was received. */
  private pendingSince = 0;
  /** Bumped whenever the set of rejected objects (or their errors) changes. */
  private rejectVersion = 0;

  constructor(private readonly log: Log) {
    this.known = Object.fromEntries(KINDS.map((k) => [k.kind, new Map<string, string>()])) as Record<ObjectKind, Map<string, string>>;
  }

  get size(): number {
    return this.pending.size;
  }

  enqueue(p: Pending): void {
    this.enqueuePrepared(this.prepare(p));
  }

  /**
   * Decodes an upsert unless its version is the one applied (then the raw object is kept and the
   * apply skips it). Prepared changes may be held (a list's pages until the list is complete)
   * and queued later with enqueuePrepared.
   */
  prepare(p: Pending): Prepared {
    if (!p.raw) return p;
    const rv = String(p.raw.metadata?.resourceVersion ?? '');
    if (rv !== '' && this.known[p.kind].get(p.key) === rv) return { kind: p.kind, key: p.key, rv, raw: p.raw };
    return { kind: p.kind, key: p.key, rv, decoded: decodeAs(p.kind, p.raw, 'kube-apiserver') };
  }

  /**
   * One element of a list, prepared; or undefined, with a warning naming the resource, the
   * element's index and its name (when it has one), when it is no object a key can be read from or
   * reading it throws. One such element must not fail the list: the failure would come back on
   * every retry, and the whole resource would never sync.
   */
  prepareListItem(entry: KindEntry, resource: string, item: unknown, index: number): Prepared | undefined {
    const isObject = typeof item === 'object' && item !== null && !Array.isArray(item);
    const name: unknown = isObject ? (item as KubernetesObject).metadata?.name : undefined;
    let problem = isObject ? undefined : 'not an object';
    if (problem === undefined) {
      try {
        const key = objectKey(entry, item as KubernetesObject);
        if (key !== undefined) return this.prepare({ kind: entry.kind, key, raw: item as KubernetesObject });
        problem = 'no metadata.name';
      } catch (e) {
        problem = `cannot be read: ${String(e)}`;
      }
    }
    this.log('warn', 'list item skipped', { resource, index, ...(typeof name === 'string' && name !== '' ? { name } : {}), problem });
    return undefined;
  }

  enqueuePrepared(p: Prepared): void {
    const id = objectId(p.kind, p.key);
    if (this.pending.size === 0) this.pendingSince = Date.now();
    // Last write wins per object; deleting and re-adding keeps the newest state only.
    this.pending.delete(id);
    this.pending.set(id, p);
  }

  /** Keys of the queued upserts of one kind (a list must reconcile them too). */
  queuedUpserts(kind: ObjectKind): string[] {
    const out: string[] = [];
    for (const p of this.pending.values()) if (p.kind === kind && p.rv !== undefined) out.push(p.key);
    return out;
  }

  /**
   * Applies everything queued as one batch (one recompile downstream). startedAt is when the
   * batch's oldest change was received; changed says whether the state or the set of rejected
   * objects changed.
   */
  applyAll(state: ClusterState): { startedAt: number; changed: boolean } {
    const ops = [...this.pending.values()];
    const startedAt = this.pendingSince || Date.now();
    this.pending = new Map();
    const gen = state.generation;
    const rejects = this.rejectVersion;
    state.batch(() => {
      for (const op of ops) this.apply(state, op);
    });
    return { startedAt, changed: state.generation !== gen || rejects !== this.rejectVersion };
  }

  private apply(state: ClusterState, op: Prepared): void {
    const known = this.known[op.kind];
    if (op.rv === undefined) {
      if (!known.has(op.key)) return;
      known.delete(op.key);
      if (state.rejected.size && state.rejected.has(objectId(op.kind, op.key))) this.rejectVersion++;
      deleteByKind(state, op.kind, op.key);
      return;
    }
    const rv = op.rv;
    // Lists and resyncs re-deliver objects we already have; same version, nothing to do.
    if (rv !== '' && known.get(op.key) === rv) return;
    known.set(op.key, rv);
    const d = op.decoded ?? decodeAs(op.kind, op.raw, 'kube-apiserver');
    if (d.kind === 'ignored') return;
    const id = objectId(op.kind, op.key);
    if (d.kind === 'invalid') {
      state.reject(op.kind, op.key, d.errors);
      this.rejectVersion++;
      // Logged once per object version: a version is decoded only once (see `known`).
      this.log('warn', 'object rejected; the previous valid version (if any) stays in force', {
        object: id, resourceVersion: rv, errors: d.errors.map(formatObjectError), keptPrevious: state.get(op.kind, op.key) !== undefined,
      });
      return;
    }
    // In force, but not quite as written (a rule failing closed on a field no traffic matches, a
    // CIDR with host bits): said once per version, as a rejection is.
    if (d.warnings?.length) {
      this.log('warn', 'object in force with warnings', { object: id, resourceVersion: rv, warnings: d.warnings.map(formatObjectError) });
    }
    const rejectedBefore = state.rejected.size > 0 && state.rejected.has(id);
    if (!rejectedBefore && sameValue(state.get(op.kind, op.key), d.value)) return;
    applyDecoded(state, d);
    if (rejectedBefore) this.rejectVersion++;
    if (rejectedBefore) this.log('info', 'object valid again', { object: id, resourceVersion: rv });
  }
}

/** Structural equality of decoded model values (plain objects, arrays, primitives). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (!sameValue(ao[k], bo[k])) return false;
  return true;
}
