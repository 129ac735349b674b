// What the kube source lets client-node's informer (ListWatch) keep of an object. ListWatch
// caches every object it is given for as long as it runs, and reads only metadata.name,
// metadata.namespace and metadata.resourceVersion of them (its cache keys, and "same version:
// no update event"); the kube source never reads that cache (it decodes each object once, into
// the ClusterState). Handing it the full raw objects kept a second copy of the whole cluster
// as JSON trees alive (at the scale benchmark's 150,000 pods, hundreds of MB that every full
// garbage collection marked). So list items and watch event objects reach ListWatch as
// SlimObjects: the three fields, plus the raw object until the event callback takes it.

import type { KubernetesObject } from '@kubernetes/client-node';

export class SlimObject implements KubernetesObject {
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  readonly resourceVersion: string | undefined;
  /** The full object, until takeRaw(); undefined for list items (the list delivers those itself). */
  private raw: KubernetesObject | undefined;

  constructor(raw: KubernetesObject, carry: boolean) {
    const m = raw.metadata;
    this.name = m?.name;
    this.namespace = m?.namespace;
    this.resourceVersion = m?.resourceVersion;
    this.raw = carry ? raw : undefined;
  }

  /** Its own metadata: one object per cached item instead of two (166,200 at the scale benchmark's size). */
  get metadata(): { readonly name?: string; readonly namespace?: string; readonly resourceVersion?: string } {
    return this;
  }

  /** The full object carried by a watch event's SlimObject (once; the cache keeps only the slim part). */
  takeRaw(): KubernetesObject | undefined {
    const r = this.raw;
    this.raw = undefined;
    return r;
  }
}

/** A watch event's object as ListWatch gets it (ClosableWatch's slim hook). */
export function slimEventObject(raw: KubernetesObject): KubernetesObject {
  return new SlimObject(raw, true);
}
