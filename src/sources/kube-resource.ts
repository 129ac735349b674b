// One informed kind of the kube source (kube-source.ts): its bookkeeping record (the version and
// path it lists and watches, the informer generation in use, the counters its status shows), the
// status the source reports of all of them, and the small facts the source reads off objects and
// errors.

import type { KubernetesObject, ListWatch } from '@kubernetes/client-node';
import { apiVersionOf, keyOfObject, resourcePath, type KindEntry, type ObjectKind } from '../cluster/kinds.ts';
import type { ClosableWatch } from './kube-client.ts';

export interface ResourceStatus {
  /** The apiVersion listed and watched (the last one tried while the kind is absent). */
  readonly apiVersion: string;
  /** The first full list of this resource has been applied. */
  readonly listed: boolean;
  readonly connected: boolean;
  /** An optional kind whose CRD is not installed (the API server answers 404): nothing to watch. */
  readonly absent: boolean;
  /** Objects of this kind currently known from the API (valid or rejected). */
  readonly objects: number;
  readonly lists: number;
  readonly restarts: number;
  readonly errors: number;
  readonly lastError?: string;
}

/** What a KubeSource says of itself (KubeSource.status(), and to its status listeners). */
export interface KubeSourceStatus {
  /** Every resource has been listed completely at least once and applied to the state. */
  readonly synced: boolean;
  /** Every resource's watch is up (false while any is in restart backoff). */
  readonly connected: boolean;
  /** Wall-clock ms of the last list or watch event received. */
  readonly lastEventAt?: number;
  /** Watch reconnections of all kinds (clean reconnects, restarts after errors). */
  readonly watchRestarts: number;
  readonly relists: number;
  readonly resyncs: number;
  /** Objects currently rejected by validation. */
  readonly rejected: number;
  readonly resources: Readonly<Record<ObjectKind, ResourceStatus>>;
}

export type StatusListener = (s: KubeSourceStatus) => void;

/** One informer generation of one resource. */
export interface Instance {
  readonly informer: ListWatch<KubernetesObject>;
  readonly watch: ClosableWatch;
  retired: boolean;
  connects: number;
  connectedAt: number;
  sawEvent: boolean;
}

/** One informed kind: its registry entry, the collection path it lists and watches, its counters. */
export interface Resource {
  readonly entry: KindEntry;
  readonly kind: ObjectKind;
  /** The version listed and watched (an index into entry.versions), its apiVersion and path (useVersion). */
  version: number;
  apiVersion: string;
  path: string;
  /** Versions that answered 404 since the last list that succeeded (an optional kind's). */
  unserved: number;
  /** The apiVersion of the last list that succeeded (said in a log line when it changes). */
  listedVersion?: string;
  current?: Instance;
  listed: boolean;
  connected: boolean;
  /** Optional kind, last answer 404: its CRD is not installed. */
  absent: boolean;
  /** Consecutive 404s of an absent kind (drives the re-check backoff). */
  absentChecks: number;
  /** Consecutive failures without a healthy connection in between (drives the backoff). */
  failures: number;
  restartTimer?: NodeJS.Timeout;
  /** key -> resourceVersion of the last version applied to (or rejected from) the state (KubeApplier.known). */
  readonly known: Map<string, string>;
  /** Successful lists. */
  lists: number;
  /** Lists after the first successful one (410 recoveries, resyncs). */
  relists: number;
  restarts: number;
  errors: number;
  lastError?: string;
}

/** A kind's record before its first list: its most preferred version, nothing counted yet. */
export function newResource(entry: KindEntry, known: Map<string, string>): Resource {
  return {
    entry, kind: entry.kind, version: 0, apiVersion: apiVersionOf(entry), path: resourcePath(entry), unserved: 0,
    listed: false, connected: false, absent: false, absentChecks: 0, failures: 0, known, lists: 0, relists: 0, restarts: 0, errors: 0,
  };
}

/** Lists and watches version `i` of the kind (an index into entry.versions) from the next informer on. */
export function useVersion(r: Resource, i: number): void {
  r.version = i;
  r.apiVersion = apiVersionOf(r.entry, r.entry.versions[i]);
  r.path = resourcePath(r.entry, r.entry.versions[i]);
}

export function resourceStatus(r: Resource): ResourceStatus {
  return {
    apiVersion: r.apiVersion, listed: r.listed, connected: r.connected, absent: r.absent, objects: r.known.size, lists: r.lists, restarts: r.restarts, errors: r.errors,
    ...(r.lastError !== undefined ? { lastError: r.lastError } : {}),
  };
}

/** The object's state key (keyOfObject: a v1alpha1 cluster policy's key carries its kind). */
export function objectKey(entry: KindEntry, raw: KubernetesObject): string | undefined {
  const name = raw?.metadata?.name;
  if (typeof name !== 'string' || name === '') return undefined;
  return keyOfObject(entry, { name, namespace: raw.metadata?.namespace ?? '' });
}

/** HTTP status of a failed list (ApiError) or watch (client-node sets statusCode). */
export function statusCodeOf(err: unknown): number | undefined {
  const c = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof c === 'number' ? c : undefined;
}
