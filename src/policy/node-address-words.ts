// Each node's addresses parsed, kept per node name while its address list stays the same. A Node
// change (a label, a heartbeat) re-derived the node class map (node-classes.ts) and the node
// address arrays (engine-addresses.ts) by parsing every node's addresses again: at 5,000
// dual-stack nodes 28 MB of garbage per Node change, most of it parsed IPv6 words. Now only the
// changed nodes' addresses are parsed.

import type { Node } from '../cluster/model.ts';
import { parseIP } from '../net/address.ts';

/** One parsed address of a node. */
export interface NodeAddress {
  readonly text: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly words: readonly number[];
}

const NONE: readonly NodeAddress[] = Object.freeze([]);

function parse(n: Node): readonly NodeAddress[] {
  const out: NodeAddress[] = [];
  for (const text of n.addresses) {
    const ip = parseIP(text);
    if (ip) out.push({ text, family: ip.family, words: ip.words });
  }
  return out.length ? out : NONE;
}

/** Same address list, in the same order. */
export function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class NodeAddressWords {
  private readonly byName = new Map<string, { node: Node; parsed: readonly NodeAddress[] }>();

  /** n's addresses parsed (those that parse), in its order. */
  of(n: Node): readonly NodeAddress[] {
    const e = this.byName.get(n.name);
    if (e && (e.node === n || sameAddresses(e.node.addresses, n.addresses))) {
      e.node = n;
      return e.parsed;
    }
    const parsed = parse(n);
    this.byName.set(n.name, { node: n, parsed });
    return parsed;
  }

  /** Forgets nodes no longer in `nodes` once they are most of what is kept (call after Node changes). */
  prune(nodes: ReadonlyMap<string, Node>): void {
    if (this.byName.size <= 2 * nodes.size + 64) return;
    for (const name of this.byName.keys()) if (!nodes.has(name)) this.byName.delete(name);
  }
}
