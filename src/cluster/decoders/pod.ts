// Pod: labels, node, hostNetwork, phase, IPs (at most one per family) and container ports.

import type { ContainerPort, Pod } from '../model.ts';
import type { Decoded } from '../kinds.ts';
import { canonicalIP, parseIP } from '../../net/address.ts';
import { portNameProblems } from '../names.ts';
import { type Errs, type Obj, decodeProtocol, describe, invalid, keyOf, metaOf, validPortNumber } from './fields.ts';

export function decodePod(raw: Obj, e: Errs): Decoded {
  const meta = metaOf(e, raw, true);
  const key = keyOf(meta, true);
  e.object = `Pod ${key}`;
  const spec = e.obj(raw.spec, 'spec') ?? {};
  const status = e.obj(raw.status, 'status') ?? {};
  const nodeName = e.str(spec.nodeName, 'spec.nodeName') || undefined;
  const hn = spec.hostNetwork;
  if (hn !== undefined && hn !== null && typeof hn !== 'boolean') e.add('spec.hostNetwork', `must be a boolean, got ${describe(hn)}`);
  const hostNetwork = hn === true;
  const phase = e.str(status.phase, 'status.phase') || undefined;

  // status.podIPs is the list (dual-stack); podIP is its first entry and the only field older
  // API servers fill. "at most one per family" (model.ts): the API server guarantees it, we
  // keep the first of a family if a hand-written manifest repeats one.
  const ipTexts: { text: string; path: string }[] = [];
  const podIPs = e.list_(status.podIPs, 'status.podIPs');
  podIPs.forEach((x, i) => {
    const o = e.obj(x, `status.podIPs[${i}]`);
    const t = o ? e.str(o.ip, `status.podIPs[${i}].ip`) : undefined;
    if (t !== undefined) ipTexts.push({ text: t, path: `status.podIPs[${i}].ip` });
  });
  const podIP = e.str(status.podIP, 'status.podIP');
  if (podIP) ipTexts.unshift({ text: podIP, path: 'status.podIP' });
  const ips: string[] = [];
  const families = new Set<string>();
  for (const { text, path } of ipTexts) {
    const p = parseIP(text);
    if (!p) {
      e.add(path, `invalid IP address ${JSON.stringify(text)}`);
      continue;
    }
    const c = canonicalIP(text)!;
    if (ips.includes(c) || families.has(p.family)) continue;
    families.add(p.family);
    ips.push(c);
  }

  const ports: ContainerPort[] = [];
  // Only spec.containers: named ports of init containers are not resolvable by policy (the
  // NetworkPolicyPort doc speaks of "a named port on a pod", which kubelet/CNI implementations
  // take from the regular containers).
  const containers = e.list_(spec.containers, 'spec.containers');
  containers.forEach((c, ci) => {
    const co = e.obj(c, `spec.containers[${ci}]`);
    if (!co) return;
    e.list_(co.ports, `spec.containers[${ci}].ports`).forEach((p, pi) => {
      const path = `spec.containers[${ci}].ports[${pi}]`;
      const po = e.obj(p, path);
      if (!po) return;
      const n = e.int(po.containerPort, `${path}.containerPort`);
      if (n === undefined) {
        if (po.containerPort === undefined || po.containerPort === null) e.add(`${path}.containerPort`, 'required');
        return;
      }
      if (!validPortNumber(e, n, `${path}.containerPort`)) return;
      const protocol = decodeProtocol(e, po.protocol, `${path}.protocol`);
      if (!protocol) return;
      const name = e.str(po.name, `${path}.name`);
      if (name) {
        const probs = portNameProblems(name);
        for (const pr of probs) e.add(`${path}.name`, `invalid port name ${JSON.stringify(name)}: ${pr}`);
        if (probs.length) return;
        ports.push({ name, containerPort: n, protocol });
      } else ports.push({ containerPort: n, protocol });
    });
  });
  if (e.list.length) return invalid('Pod', key, e);
  const pod: Pod = {
    namespace: meta.namespace!,
    name: meta.name!,
    labels: meta.labels,
    ...(nodeName ? { nodeName } : {}),
    hostNetwork,
    ...(phase ? { phase } : {}),
    ips,
    ports,
  };
  return { kind: 'Pod', value: pod };
}

