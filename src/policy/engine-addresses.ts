// Addresses in the compiled engine: which pod slot owns each pod address (the snapshot's address
// maps, edited per batch), and each node's addresses (for the node exemption).

import type { Node, Pod } from '../cluster/model.ts';
import { parseIP } from '../net/address.ts';
import { AddressMap4, AddressMap6 } from './address-map.ts';
import { NodeAddressWords } from './node-address-words.ts';
import { addressClaimWins } from './spec-facts.ts';

/** What PodAddresses needs of a pod record. */
export interface AddressHolder {
  readonly key: string;
  readonly slot: number;
  readonly pod: Pod;
  /** The addresses registered for this pod (PodAddresses writes it). */
  ips: readonly string[];
}

/** Pods claiming one address, with the address parsed once. */
interface Owners<R> {
  readonly family: 'IPv4' | 'IPv6';
  readonly words: readonly number[];
  readonly recs: R[];
}

export interface PodAddressMaps {
  readonly pods4: AddressMap4;
  readonly pods6: AddressMap6;
}

export class PodAddresses<R extends AddressHolder> {
  private readonly owners = new Map<string, Owners<R>>();
  /** Addresses whose owner may have changed in the current batch. */
  private readonly dirty = new Set<string>();
  private maps: PodAddressMaps | undefined;

  startBatch(): void {
    this.dirty.clear();
  }

  /** Claims r.pod's addresses for r. */
  register(r: R): void {
    r.ips = r.pod.ips;
    // Before the first maps (a full compile) update() builds them from every owner.
    const track = this.maps !== undefined;
    for (const ip of r.ips) {
      if (track) this.dirty.add(ip);
      let o = this.owners.get(ip);
      if (!o) {
        const parsed = parseIP(ip);
        // The decoder only lets canonical addresses through; anything else cannot be looked up.
        if (!parsed) continue;
        o = { family: parsed.family, words: parsed.words, recs: [] };
        this.owners.set(ip, o);
      }
      o.recs.push(r);
    }
  }

  unregister(r: R): void {
    for (const ip of r.ips) {
      this.dirty.add(ip);
      const o = this.owners.get(ip);
      if (!o) continue;
      const i = o.recs.indexOf(r);
      if (i >= 0) o.recs.splice(i, 1);
      if (o.recs.length === 0) this.owners.delete(ip);
    }
    r.ips = [];
  }

  /**
   * Address -> slot. When several pods claim one IP (a stale object and its replacement), the
   * winner is the one addressClaimWins picks (shared with the evaluator).
   */
  private ownerOf(o: Owners<R>): R {
    let best = o.recs[0]!;
    for (let i = 1; i < o.recs.length; i++) {
      const r = o.recs[i]!;
      if (addressClaimWins(r.pod, r.key, best.pod, best.key)) best = r;
    }
    return best;
  }

  /** The address maps with the addresses touched by this batch edited in, or rebuilt when many were. */
  update(): PodAddressMaps {
    const dirty = this.dirty;
    // An edit copies the arrays anyway; past a quarter of all addresses a rebuild is as cheap.
    if (this.maps === undefined || dirty.size * 4 > this.owners.size) {
      const p4: [number, number][] = [], p6: [readonly number[], number][] = [];
      for (const o of this.owners.values()) {
        const slot = this.ownerOf(o).slot;
        if (o.family === 'IPv4') p4.push([o.words[0]!, slot]);
        else p6.push([o.words, slot]);
      }
      return (this.maps = { pods4: new AddressMap4(p4), pods6: new AddressMap6(p6) });
    }
    if (dirty.size === 0) return this.maps;
    const e4: [number, number][] = [], e6: [readonly number[], number][] = [];
    for (const ip of dirty) {
      const o = this.owners.get(ip);
      const parsed = o ?? parseIP(ip);
      if (!parsed) continue;
      const slot = o ? this.ownerOf(o).slot : -1;
      if (parsed.family === 'IPv4') e4.push([parsed.words[0]!, slot]);
      else e6.push([parsed.words, slot]);
    }
    return (this.maps = {
      pods4: e4.length ? this.maps.pods4.with(e4) : this.maps.pods4,
      pods6: e6.length ? this.maps.pods6.with(e6) : this.maps.pods6,
    });
  }
}

/** Node addresses by node index, as the snapshot holds them (see SnapshotParts). */
export interface NodeAddressArrays {
  readonly addr4: Int32Array;
  readonly addr4Start: Int32Array;
  readonly addr6: Int32Array;
  readonly addr6Start: Int32Array;
}

export class NodeAddresses {
  private readonly index = new Map<string, number>();
  private built: NodeAddressArrays = { addr4: new Int32Array(0), addr4Start: new Int32Array(1), addr6: new Int32Array(0), addr6Start: new Int32Array(1) };
  /** Indexes or Node objects changed since `built`; the arrays are built when next read. */
  private stale = false;
  /** How many times the arrays were built (a test counts them). */
  builds = 0;

  /** `words`: the engine's parsed node addresses (shared with the node classes). */
  constructor(private readonly nodes: ReadonlyMap<string, Node>, private readonly words = new NodeAddressWords()) {}

  /**
   * The arrays for the snapshot. Built on demand, once per publish at most: a full compile sees
   * every node name first through its pods, and building at each new name parsed every node's
   * addresses once per node (5,000 nodes: 25 M parses, most of a full compile's CPU time).
   */
  get arrays(): NodeAddressArrays {
    if (this.stale) {
      this.built = this.build();
      this.stale = false;
    }
    return this.built;
  }

  /** The index of a node by name (a slot record's S_NODE). */
  indexOf(name: string): number {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.index.size;
      this.index.set(name, i);
      // A pod may name a node we have not seen yet: it gets an index with no addresses.
      this.stale = true;
    }
    return i;
  }

  /** After Node objects changed. */
  rebuild(): void {
    for (const name of this.nodes.keys()) if (!this.index.has(name)) this.index.set(name, this.index.size);
    this.words.prune(this.nodes);
    this.stale = true;
  }

  private build(): NodeAddressArrays {
    this.builds++;
    const n = this.index.size;
    const a4: number[] = [], a6: number[] = [];
    const s4 = new Int32Array(n + 1), s6 = new Int32Array(n + 1);
    const byIdx: (Node | undefined)[] = new Array(n);
    for (const [name, i] of this.index) byIdx[i] = this.nodes.get(name);
    for (let i = 0; i < n; i++) {
      s4[i] = a4.length;
      s6[i] = a6.length;
      const node = byIdx[i];
      if (!node) continue;
      for (const ip of this.words.of(node)) {
        if (ip.family === 'IPv4') a4.push(ip.words[0]!);
        else for (const w of ip.words) a6.push(w);
      }
    }
    s4[n] = a4.length;
    s6[n] = a6.length;
    // Int32Array stores the words as int32 bit patterns, which is what the hot path compares.
    return { addr4: Int32Array.from(a4), addr4Start: s4, addr6: Int32Array.from(a6), addr6Start: s6 };
  }
}
