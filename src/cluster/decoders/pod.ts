// Pod: labels, node, hostNetwork, phase, IPs (at most one per family) and container ports.

import type { ContainerPort, Pod } from '../model.ts';
import type { Decoded } from '../kinds.ts';
import { formatIP, parseIP } from '../../net/address.ts';
import { dnsSubdomainProblems, portNameProblems } from '../names.ts';
import { type Errs, type Obj, decodeProtocol, describe, invalid, isObj, keyOf, metaOf, rawKey, validPortNumber } from './fields.ts';

export function decodePod(raw: Obj, e: Errs): Decoded {
  // Named before metaOf, whose label errors must name the Pod too.
  e.object = `Pod ${rawKey(raw, true)}`;
  const meta = metaOf(e, raw, true, 'subdomain');
  const key = keyOf(meta, true);
  const spec = e.obj(raw.spec, 'spec') ?? {};
  const status = e.obj(raw.status, 'status') ?? {};
  const nodeName = e.str(spec.nodeName, 'spec.nodeName') || undefined;
  // A Node's name, held to the same rule as the Node's metadata.name (the API server's pod validation).
  if (nodeName) for (const p of dnsSubdomainProblems(nodeName)) e.add('spec.nodeName', `invalid node name ${JSON.stringify(nodeName)}: not an RFC 1123 subdomain, as the API server requires: ${p}`);
  const hn = spec.hostNetwork;
  if (hn !== undefined && hn !== null && typeof hn !== 'boolean') e.add('spec.hostNetwork', `must be a boolean, got ${describe(hn)}`);
  const hostNetwork = hn === true;
  const phase = e.str(status.phase, 'status.phase') || undefined;

  // status.podIPs is the list (dual-stack); podIP is its first entry and the only field older
  // API servers fill. "at most one per family" (model.ts): the API server guarantees it, we
  // keep the first of a family if a hand-written manifest repeats one.
  // Field paths are built only for an error (`x ? v : e.check(v, path)` below: the check finds
  // the same value valid, or reports it): the kube source decodes every pod of the cluster.
  const ipTexts: string[] = [];
  const ipIndexes: number[] = []; // -1: status.podIP; i: status.podIPs[i].ip
  const podIPs = Array.isArray(status.podIPs) ? status.podIPs : e.list_(status.podIPs, 'status.podIPs');
  for (let i = 0; i < podIPs.length; i++) {
    const x = podIPs[i];
    const o = isObj(x) ? x : e.obj(x, `status.podIPs[${i}]`);
    const t = o === undefined ? undefined : typeof o.ip === 'string' ? o.ip : e.str(o.ip, `status.podIPs[${i}].ip`);
    if (t !== undefined) {
      ipTexts.push(t);
      ipIndexes.push(i);
    }
  }
  const podIP = typeof status.podIP === 'string' ? status.podIP : e.str(status.podIP, 'status.podIP');
  if (podIP) {
    ipTexts.unshift(podIP);
    ipIndexes.unshift(-1);
  }
  const ips: string[] = [];
  let v4 = false;
  let v6 = false;
  for (let k = 0; k < ipTexts.length; k++) {
    const text = ipTexts[k]!;
    const p = parseIP(text);
    if (!p) {
      e.add(ipIndexes[k] === -1 ? 'status.podIP' : `status.podIPs[${ipIndexes[k]}].ip`, `invalid IP address ${JSON.stringify(text)}`);
      continue;
    }
    if (p.family === 'IPv4' ? v4 : v6) continue;
    const c = formatIP(p);
    if (ips.includes(c)) continue;
    if (p.family === 'IPv4') v4 = true;
    else v6 = true;
    ips.push(c);
  }

  const ports: ContainerPort[] = [];
  // Only spec.containers: named ports of init containers are not resolvable by policy (the
  // NetworkPolicyPort doc speaks of "a named port on a pod", which kubelet/CNI implementations
  // take from the regular containers).
  const containers = Array.isArray(spec.containers) ? spec.containers : e.list_(spec.containers, 'spec.containers');
  for (let ci = 0; ci < containers.length; ci++) {
    const c = containers[ci];
    const co = isObj(c) ? c : e.obj(c, `spec.containers[${ci}]`);
    if (!co) continue;
    const cports = Array.isArray(co.ports) ? co.ports : e.list_(co.ports, `spec.containers[${ci}].ports`);
    for (let pi = 0; pi < cports.length; pi++) {
      const p = cports[pi];
      const po = isObj(p) ? p : e.obj(p, portPath(ci, pi));
      if (!po) continue;
      const cp = po.containerPort;
      const n = typeof cp === 'number' && Number.isInteger(cp) ? cp : e.int(cp, `${portPath(ci, pi)}.containerPort`);
      if (n === undefined) {
        if (cp === undefined || cp === null) e.add(`${portPath(ci, pi)}.containerPort`, 'required');
        continue;
      }
      if (!(n >= 1 && n <= 65535) && !validPortNumber(e, n, `${portPath(ci, pi)}.containerPort`)) continue;
      const pr = po.protocol;
      const protocol = pr === 'TCP' || pr === 'UDP' || pr === 'SCTP' ? pr : decodeProtocol(e, pr, `${portPath(ci, pi)}.protocol`);
      if (!protocol) continue;
      const name = typeof po.name === 'string' ? po.name : e.str(po.name, `${portPath(ci, pi)}.name`);
      if (name) {
        const probs = portNameProblems(name);
        for (const prob of probs) e.add(`${portPath(ci, pi)}.name`, `invalid port name ${JSON.stringify(name)}: ${prob}`);
        if (probs.length) continue;
        ports.push({ name, containerPort: n, protocol });
      } else ports.push({ containerPort: n, protocol });
    }
  }
  if (e.list.length) return invalid('Pod', key, e);
  // Absent fields stay absent (no undefined-valued keys); literals rather than spreads of
  // optional parts, which cost more than the rest of the object at 150,000 pods.
  const namespace = meta.namespace!;
  const name = meta.name!;
  const labels = meta.labels;
  const pod: Pod = nodeName
    ? phase ? { namespace, name, labels, nodeName, hostNetwork, phase, ips, ports } : { namespace, name, labels, nodeName, hostNetwork, ips, ports }
    : phase ? { namespace, name, labels, hostNetwork, phase, ips, ports } : { namespace, name, labels, hostNetwork, ips, ports };
  return { kind: 'Pod', value: pod };
}


function portPath(ci: number, pi: number): string {
  return `spec.containers[${ci}].ports[${pi}]`;
}
