// Node: its labels (ClusterNetworkPolicy `nodes` peers select on them), addresses (InternalIP /
// ExternalIP) and pod CIDRs.

import type { Decoded } from '../kinds.ts';
import { canonicalIP, formatCIDR } from '../../net/address.ts';
import { type Errs, type Obj, cidrAt, invalid, keyOf, metaOf, rawName } from './fields.ts';

export function decodeNode(raw: Obj, e: Errs): Decoded {
  // Named before metaOf, whose label errors must name the Node too.
  e.object = `Node ${rawName(raw)}`;
  const meta = metaOf(e, raw, false, 'subdomain');
  const key = keyOf(meta, false);
  const status = e.obj(raw.status, 'status') ?? {};
  const addresses: string[] = [];
  e.list_(status.addresses, 'status.addresses').forEach((a, i) => {
    const ao = e.obj(a, `status.addresses[${i}]`);
    if (!ao) return;
    const type = e.str(ao.type, `status.addresses[${i}].type`);
    const address = e.str(ao.address, `status.addresses[${i}].address`);
    // Hostname / InternalDNS / ExternalDNS entries are names, not addresses traffic comes from.
    if (type !== 'InternalIP' && type !== 'ExternalIP') return;
    if (address === undefined) return;
    const c = canonicalIP(address);
    if (!c) {
      // The API server does not check these are IPs (kubelets and cloud providers write them), so
      // the Node is valid: rejecting it dropped its real addresses too, and a `nodes` peer (a Deny
      // included) stopped matching them. The entry can be no packet's address; it is passed over.
      e.warn(`status.addresses[${i}].address`, `${JSON.stringify(address)} is not an IP address: passed over (the Node's other addresses still count)`);
      return;
    }
    if (!addresses.includes(c)) addresses.push(c);
  });
  // spec.podCIDRs supersedes spec.podCIDR (which, when set, equals podCIDRs[0]); either one tells
  // the agent which addresses belong to pods of this node before each pod's own IP is known.
  const spec = e.obj(raw.spec, 'spec') ?? {};
  const podCIDRs: string[] = [];
  const addCIDR = (v: unknown, path: string): void => {
    const t = e.str(v, path);
    const c = t === undefined ? undefined : cidrAt(e, t, path);
    if (!c) return;
    const text = formatCIDR(c);
    if (!podCIDRs.includes(text)) podCIDRs.push(text);
  };
  if (spec.podCIDRs !== undefined && spec.podCIDRs !== null) e.list_(spec.podCIDRs, 'spec.podCIDRs').forEach((v, i) => addCIDR(v, `spec.podCIDRs[${i}]`));
  else addCIDR(spec.podCIDR, 'spec.podCIDR');
  if (e.list.length) return invalid('Node', key, e);
  // Labels only when there are some: a label-less Node decodes as before (model: absent = none).
  const labels = Object.keys(meta.labels).length ? { labels: meta.labels } : {};
  return { kind: 'Node', value: { name: meta.name!, ...labels, addresses, ...(podCIDRs.length ? { podCIDRs } : {}) } };
}

