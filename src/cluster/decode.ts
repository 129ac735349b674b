// Raw Kubernetes objects (JSON as the API returns it, or YAML from a manifests folder) -> the
// validated model types, with the API server's defaulting and validation applied. The API
// server would refuse what we refuse here (pkg/apis/networking/validation ValidateNetworkPolicy,
// plus metav1 label-selector validation), so a manifests folder is judged exactly as a cluster
// would judge it after `kubectl apply`. NetworkPolicy fields are decoded strictly: an unknown
// field (say `form:` for `from:`) is an error, as with `kubectl apply --validate=strict`, because
// silently dropping it can turn a narrow rule into an allow-all one.
//
// decodeObject never throws: every problem of an object is collected and reported with the
// object ("NetworkPolicy x/foo"), the field path and a message.

import type {
  ContainerPort, IPBlock, LabelSelector, LabelSelectorRequirement, Namespace, NetworkPolicy,
  Node, ObjectError, Pod, PolicyPeer, PolicyPort, PolicyRule, Protocol, SelectorOperator,
} from './model.ts';
import { PROTOCOLS, podKey } from './model.ts';
import type { ClusterState, ObjectKind } from './state.ts';
import { canonicalIP, cidrWithin, formatCIDR, parseCIDR, parseIP, type ParsedCIDR } from '../net/address.ts';
import { implicitNamespaceLabels } from './namespace-labels.ts';
import { dnsLabelProblems, dnsSubdomainProblems, labelKeyProblems, labelValueProblems, portNameProblems } from './names.ts';

export type Decoded =
  | { kind: 'Namespace'; value: Namespace }
  | { kind: 'Pod'; value: Pod }
  | { kind: 'Node'; value: Node }
  | { kind: 'NetworkPolicy'; value: NetworkPolicy }
  | { kind: 'ignored'; note: string }
  | { kind: 'invalid'; objectKind: string; key: string; errors: ObjectError[] };

const EXPECTED_API_VERSION: Record<ObjectKind, string> = {
  Namespace: 'v1',
  Pod: 'v1',
  Node: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
};

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Collects the errors of one object. */
class Errs {
  readonly list: ObjectError[] = [];
  constructor(public object: string, readonly source?: string) {}
  add(field: string, message: string): void {
    this.list.push(this.source === undefined ? { object: this.object, field, message } : { object: this.object, field, message, source: this.source });
  }
  /** Fields of a strictly decoded struct: anything not in `known` is an error. */
  strict(o: Obj, known: readonly string[], path: string): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) this.add(path ? `${path}.${k}` : k, `unknown field "${k}" (known fields: ${known.join(', ')})`);
    }
  }
  obj(v: unknown, path: string): Obj | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) {
      this.add(path, `must be an object, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  list_(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.add(path, `must be a list, got ${describe(v)}`);
      return [];
    }
    return v;
  }
  str(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      this.add(path, `must be a string, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  int(v: unknown, path: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.add(path, `must be an integer, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
}

function labelsOf(e: Errs, v: unknown, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  const o = e.obj(v, path);
  if (!o) return out;
  for (const [k, val] of Object.entries(o)) {
    for (const p of labelKeyProblems(k)) e.add(`${path}[${k}]`, `invalid label key ${JSON.stringify(k)}: ${p}`);
    if (typeof val !== 'string') {
      e.add(`${path}[${k}]`, `label value must be a string, got ${describe(val)}`);
      continue;
    }
    for (const p of labelValueProblems(val)) e.add(`${path}[${k}]`, `invalid label value ${JSON.stringify(val)}: ${p}`);
    out[k] = val;
  }
  return out;
}

interface Meta {
  name?: string;
  namespace?: string;
  labels: Record<string, string>;
}

function metaOf(e: Errs, raw: Obj, namespaced: boolean): Meta {
  const m = e.obj(raw.metadata, 'metadata');
  if (!m) {
    e.add('metadata', 'required');
    return { labels: {} };
  }
  const name = e.str(m.name, 'metadata.name');
  if (name === undefined || name === '') e.add('metadata.name', 'required');
  const namespace = namespaced ? e.str(m.namespace, 'metadata.namespace') : undefined;
  if (namespaced) {
    if (namespace === undefined || namespace === '') e.add('metadata.namespace', 'required (a manifest must name its namespace; there is no current namespace to default to)');
    else for (const p of dnsLabelProblems(namespace)) e.add('metadata.namespace', `invalid namespace ${JSON.stringify(namespace)}: ${p}`);
  }
  const labels = labelsOf(e, m.labels, 'metadata.labels');
  return { name: name || undefined, namespace: namespace || undefined, labels };
}

function keyOf(meta: Meta, namespaced: boolean): string {
  const name = meta.name ?? '<no name>';
  return namespaced ? `${meta.namespace ?? '<no namespace>'}/${name}` : name;
}

function invalid(kind: string, key: string, e: Errs): Decoded {
  return { kind: 'invalid', objectKind: kind, key, errors: e.list };
}

// ---------------------------------------------------------------------------------------------
// Namespace, Pod, Node

function decodeNamespace(raw: Obj, e: Errs): Decoded {
  const meta = metaOf(e, raw, false);
  e.object = `Namespace ${keyOf(meta, false)}`;
  if (meta.name) for (const p of dnsLabelProblems(meta.name)) e.add('metadata.name', `invalid namespace name ${JSON.stringify(meta.name)}: ${p}`);
  if (e.list.length) return invalid('Namespace', keyOf(meta, false), e);
  // The API server sets kubernetes.io/metadata.name=<name> on every namespace and does not let
  // it be changed, so selectors on it work even when a manifest does not spell it out.
  const labels = { ...meta.labels, ...implicitNamespaceLabels(meta.name!) };
  // Only Palisade's own annotations (palisade.io/audit) matter here; their values are checked
  // where they are used (agent/audit.ts), so a bad value never makes the Namespace invalid.
  const annotations: Record<string, string> = {};
  const rawAnn = (raw.metadata as Obj | undefined)?.annotations;
  if (rawAnn && typeof rawAnn === 'object' && !Array.isArray(rawAnn)) {
    for (const [k, v] of Object.entries(rawAnn as Obj)) {
      if (k.startsWith('palisade.io/') && typeof v === 'string') annotations[k] = v;
    }
  }
  const value = Object.keys(annotations).length ? { name: meta.name!, labels, annotations } : { name: meta.name!, labels };
  return { kind: 'Namespace', value };
}

function decodeProtocol(e: Errs, v: unknown, path: string): Protocol | undefined {
  if (v === undefined || v === null) return 'TCP';
  const s = e.str(v, path);
  if (s === undefined) return undefined;
  if (!(PROTOCOLS as readonly string[]).includes(s)) {
    e.add(path, `unsupported value ${JSON.stringify(s)}: supported values: "TCP", "UDP", "SCTP"`);
    return undefined;
  }
  return s as Protocol;
}

function validPortNumber(e: Errs, n: number, path: string): boolean {
  if (n < 1 || n > 65535) {
    e.add(path, `invalid value ${n}: must be between 1 and 65535, inclusive`);
    return false;
  }
  return true;
}

function decodePod(raw: Obj, e: Errs): Decoded {
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

function decodeNode(raw: Obj, e: Errs): Decoded {
  const meta = metaOf(e, raw, false);
  const key = keyOf(meta, false);
  e.object = `Node ${key}`;
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
      e.add(`status.addresses[${i}].address`, `invalid IP address ${JSON.stringify(address)}`);
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
  return { kind: 'Node', value: { name: meta.name!, addresses, ...(podCIDRs.length ? { podCIDRs } : {}) } };
}

// ---------------------------------------------------------------------------------------------
// NetworkPolicy

const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

function decodeSelector(e: Errs, v: unknown, path: string): LabelSelector | undefined {
  const o = e.obj(v, path);
  if (!o) return undefined;
  e.strict(o, ['matchLabels', 'matchExpressions'], path);
  const matchLabels = labelsOf(e, o.matchLabels, `${path}.matchLabels`);
  const matchExpressions: LabelSelectorRequirement[] = [];
  e.list_(o.matchExpressions, `${path}.matchExpressions`).forEach((r, i) => {
    const rp = `${path}.matchExpressions[${i}]`;
    const ro = e.obj(r, rp);
    if (!ro) {
      if (r === null || r === undefined) e.add(rp, 'must be an object, got null');
      return;
    }
    e.strict(ro, ['key', 'operator', 'values'], rp);
    const key = e.str(ro.key, `${rp}.key`);
    if (key === undefined) {
      if (ro.key === undefined || ro.key === null) e.add(`${rp}.key`, 'required');
    } else for (const p of labelKeyProblems(key)) e.add(`${rp}.key`, `invalid label key ${JSON.stringify(key)}: ${p}`);
    const op = e.str(ro.operator, `${rp}.operator`);
    const values: string[] = [];
    e.list_(ro.values, `${rp}.values`).forEach((x, j) => {
      const s = e.str(x, `${rp}.values[${j}]`);
      if (s === undefined) {
        if (x === null || x === undefined) e.add(`${rp}.values[${j}]`, 'must be a string, got null');
        return;
      }
      for (const p of labelValueProblems(s)) e.add(`${rp}.values[${j}]`, `invalid label value ${JSON.stringify(s)}: ${p}`);
      values.push(s);
    });
    if (op === undefined) {
      if (ro.operator === undefined || ro.operator === null) e.add(`${rp}.operator`, 'required');
      return;
    }
    if (!(OPERATORS as readonly string[]).includes(op)) {
      e.add(`${rp}.operator`, `invalid value ${JSON.stringify(op)}: not a valid selector operator (In, NotIn, Exists, DoesNotExist)`);
      return;
    }
    if ((op === 'In' || op === 'NotIn') && values.length === 0) {
      e.add(`${rp}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
    }
    if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) {
      e.add(`${rp}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    }
    if (key !== undefined) matchExpressions.push({ key, operator: op as SelectorOperator, values });
  });
  return { matchLabels, matchExpressions };
}

const CIDR_HINT = 'must be an IPv4 or IPv6 address and a prefix length';

/** A CIDR as the API server takes it (no surrounding blanks), or undefined with an error at `path`. */
function cidrAt(e: Errs, text: string, path: string, hint = CIDR_HINT): ParsedCIDR | undefined {
  const c = parseCIDR(text.trim() === text ? text : '');
  if (!c) e.add(path, `invalid CIDR ${JSON.stringify(text)}: ${hint}`);
  return c;
}

function decodeIPBlock(e: Errs, o: Obj, path: string): IPBlock | undefined {
  e.strict(o, ['cidr', 'except'], path);
  const cidrText = e.str(o.cidr, `${path}.cidr`);
  const exceptRaw = e.list_(o.except, `${path}.except`);
  if (cidrText === undefined || cidrText === '') {
    if (o.cidr === undefined || o.cidr === null || cidrText === '') e.add(`${path}.cidr`, 'required');
    return undefined;
  }
  const cidr = cidrAt(e, cidrText, `${path}.cidr`, `${CIDR_HINT}, such as "10.0.0.0/8" or "2001:db8::/32"`);
  if (!cidr) return undefined;
  const except: string[] = [];
  exceptRaw.forEach((x, i) => {
    const xp = `${path}.except[${i}]`;
    const t = e.str(x, xp);
    if (t === undefined) {
      if (x === null || x === undefined) e.add(xp, 'must be a string, got null');
      return;
    }
    const ex = cidrAt(e, t, xp);
    if (!ex) return;
    // "except ... Except values will be rejected if they are outside the cidr range" (API
    // reference); the validator demands a strict subset (longer prefix, same family).
    if (ex.family !== cidr.family) {
      e.add(xp, `invalid value ${JSON.stringify(t)}: must be a strict subset of \`cidr\` ${cidrText} (different IP family)`);
      return;
    }
    if (!cidrWithin(ex, cidr) || ex.prefix <= cidr.prefix) {
      e.add(xp, `invalid value ${JSON.stringify(t)}: must be a strict subset of \`cidr\` ${cidrText}`);
      return;
    }
    except.push(formatCIDR(ex));
  });
  return { cidr: formatCIDR(cidr), except };
}

function decodePeer(e: Errs, v: unknown, path: string): PolicyPeer | undefined {
  const o = e.obj(v, path);
  if (!o) {
    if (v === null || v === undefined) e.add(path, 'must specify a peer (podSelector, namespaceSelector or ipBlock), got null');
    return undefined;
  }
  e.strict(o, ['podSelector', 'namespaceSelector', 'ipBlock'], path);
  const has = (k: string) => o[k] !== undefined && o[k] !== null;
  const n = (has('podSelector') ? 1 : 0) + (has('namespaceSelector') ? 1 : 0) + (has('ipBlock') ? 1 : 0);
  const before = e.list.length;
  const podSelector = has('podSelector') ? decodeSelector(e, o.podSelector, `${path}.podSelector`) : undefined;
  const namespaceSelector = has('namespaceSelector') ? decodeSelector(e, o.namespaceSelector, `${path}.namespaceSelector`) : undefined;
  const ipBlockObj = has('ipBlock') ? e.obj(o.ipBlock, `${path}.ipBlock`) : undefined;
  const ipBlock = ipBlockObj ? decodeIPBlock(e, ipBlockObj, `${path}.ipBlock`) : undefined;
  if (n === 0) e.add(path, 'must specify a peer (podSelector, namespaceSelector or ipBlock); an empty peer {} is rejected by the API server');
  else if (n > 1 && has('ipBlock')) e.add(path, 'may not specify both ipBlock and another peer (podSelector/namespaceSelector)');
  if (e.list.length !== before) return undefined;
  return {
    ...(podSelector ? { podSelector } : {}),
    ...(namespaceSelector ? { namespaceSelector } : {}),
    ...(ipBlock ? { ipBlock } : {}),
  };
}

function decodePort(e: Errs, v: unknown, path: string): PolicyPort | undefined {
  const o = e.obj(v, path);
  if (!o) {
    if (v === null || v === undefined) e.add(path, 'must be an object, got null');
    return undefined;
  }
  e.strict(o, ['protocol', 'port', 'endPort'], path);
  const before = e.list.length;
  const protocol = decodeProtocol(e, o.protocol, `${path}.protocol`);
  const endPort = e.int(o.endPort, `${path}.endPort`);
  let port: number | string | undefined;
  const pv = o.port;
  if (pv === undefined || pv === null) {
    if (endPort !== undefined) e.add(`${path}.endPort`, 'may not be specified when `port` is not specified');
  } else if (typeof pv === 'number') {
    if (!Number.isInteger(pv)) e.add(`${path}.port`, `must be an integer or a port name, got ${describe(pv)}`);
    else if (validPortNumber(e, pv, `${path}.port`)) port = pv;
    if (endPort !== undefined && Number.isInteger(pv)) {
      if (endPort < pv) e.add(`${path}.endPort`, `invalid value ${endPort}: must be greater than or equal to \`port\` (${pv})`);
      validPortNumber(e, endPort, `${path}.endPort`);
    }
  } else if (typeof pv === 'string') {
    // An int-or-string given as a string is a port NAME, even "80": the API server checks it as
    // an IANA_SVC_NAME, which must contain a letter.
    const probs = portNameProblems(pv);
    for (const p of probs) e.add(`${path}.port`, `invalid port name ${JSON.stringify(pv)}: ${p}`);
    if (endPort !== undefined) e.add(`${path}.endPort`, 'may not be specified when `port` is non-numeric (a named port)');
    port = pv;
  } else {
    e.add(`${path}.port`, `must be a port number or a port name, got ${describe(pv)}`);
  }
  if (e.list.length !== before || !protocol) return undefined;
  return {
    protocol,
    ...(port !== undefined ? { port } : {}),
    ...(endPort !== undefined ? { endPort } : {}),
  };
}

function decodeRules(e: Errs, v: unknown, path: string, peerField: 'from' | 'to'): PolicyRule[] {
  const rules: PolicyRule[] = [];
  e.list_(v, path).forEach((r, i) => {
    const rp = `${path}[${i}]`;
    // A null list item decodes as an empty rule {} in Go (pointer-free struct): allow-all.
    // We refuse it instead: it is almost certainly a YAML slip, and allow-all is the unsafe reading.
    const ro = e.obj(r, rp);
    if (!ro) {
      if (r === null || r === undefined) e.add(rp, 'must be an object (write {} for a rule that matches everything), got null');
      return;
    }
    e.strict(ro, [peerField, 'ports'], rp);
    const peers: PolicyPeer[] = [];
    e.list_(ro[peerField], `${rp}.${peerField}`).forEach((p, j) => {
      const peer = decodePeer(e, p, `${rp}.${peerField}[${j}]`);
      if (peer) peers.push(peer);
    });
    const ports: PolicyPort[] = [];
    e.list_(ro.ports, `${rp}.ports`).forEach((p, j) => {
      const port = decodePort(e, p, `${rp}.ports[${j}]`);
      if (port) ports.push(port);
    });
    rules.push({ peers, ports });
  });
  return rules;
}

function decodeNetworkPolicy(raw: Obj, e: Errs): Decoded {
  const meta = metaOf(e, raw, true);
  const key = keyOf(meta, true);
  e.object = `NetworkPolicy ${key}`;
  if (meta.name) for (const p of dnsSubdomainProblems(meta.name)) e.add('metadata.name', `invalid name ${JSON.stringify(meta.name)}: ${p}`);
  e.strict(raw, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
  const spec = e.obj(raw.spec, 'spec') ?? {};
  e.strict(spec, ['podSelector', 'policyTypes', 'ingress', 'egress'], 'spec');
  // "This field is optional. If it is not specified, it defaults to an empty selector." (podSelector)
  const podSelector = decodeSelector(e, spec.podSelector, 'spec.podSelector') ?? { matchLabels: {}, matchExpressions: [] };
  const ingress = decodeRules(e, spec.ingress, 'spec.ingress', 'from');
  const egress = decodeRules(e, spec.egress, 'spec.egress', 'to');

  const typesRaw = e.list_(spec.policyTypes, 'spec.policyTypes');
  let hasIngress = false;
  let hasEgress = false;
  if (typesRaw.length > 2) e.add('spec.policyTypes', 'may not specify more than two policyTypes');
  else {
    typesRaw.forEach((t, i) => {
      const s = e.str(t, `spec.policyTypes[${i}]`);
      if (s === 'Ingress') hasIngress = true;
      else if (s === 'Egress') hasEgress = true;
      else if (s !== undefined || t === null) e.add(`spec.policyTypes[${i}]`, `unsupported value ${JSON.stringify(t)}: supported values: "Ingress", "Egress"`);
    });
  }
  if (typesRaw.length === 0) {
    // Defaulting (SetDefaults_NetworkPolicy): with no policyTypes, "Ingress" always, plus
    // "Egress" when the egress list is non-empty: the defaulter tests len(spec.egress) != 0, so
    // a present-but-empty `egress: []` does NOT make the policy an egress policy.
    hasIngress = true;
    hasEgress = egress.length > 0;
  }
  if (e.list.length) return invalid('NetworkPolicy', key, e);
  return {
    kind: 'NetworkPolicy',
    value: {
      namespace: meta.namespace!,
      name: meta.name!,
      podSelector,
      policyTypes: { ingress: hasIngress, egress: hasEgress },
      ingress,
      egress,
    },
  };
}

// ---------------------------------------------------------------------------------------------

const DECODERS: Record<ObjectKind, (raw: Obj, e: Errs) => Decoded> = {
  Namespace: decodeNamespace,
  Pod: decodePod,
  Node: decodeNode,
  NetworkPolicy: decodeNetworkPolicy,
};

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
 * Decodes an object whose kind is known from elsewhere (items of a typed List or a watch
 * stream, which the API server sends without kind/apiVersion).
 */
export function decodeAs(kind: string, raw: unknown, source?: string): Decoded {
  const decoder = (DECODERS as Record<string, ((raw: Obj, e: Errs) => Decoded) | undefined>)[kind];
  if (!decoder) {
    const md = isObj(raw) && isObj(raw.metadata) ? raw.metadata : {};
    const name = typeof md.name === 'string' ? md.name : '<no name>';
    const full = typeof md.namespace === 'string' && md.namespace ? `${md.namespace}/${name}` : name;
    return { kind: 'ignored', note: `ignored ${kind} ${full} (only Namespace, Pod, Node, NetworkPolicy are read)` };
  }
  const e = new Errs(kind, source);
  if (!isObj(raw)) {
    e.add('(root)', `must be an object, got ${describe(raw)}`);
    return invalid(kind, '', e);
  }
  const apiVersion = raw.apiVersion;
  const want = EXPECTED_API_VERSION[kind as ObjectKind];
  let versionError: string | undefined;
  if (apiVersion !== undefined && apiVersion !== want) {
    versionError = `unsupported apiVersion ${describe(apiVersion)} for ${kind}: expected "${want}"`;
  }
  try {
    const d = decoder(raw, e);
    if (versionError) {
      e.add('apiVersion', versionError);
      if (d.kind === 'invalid') return d;
      const key = d.kind === 'Pod' || d.kind === 'NetworkPolicy' ? podKey(d.value) : d.kind === 'Namespace' || d.kind === 'Node' ? d.value.name : '';
      return invalid(kind, key, e);
    }
    return d;
  } catch (err) {
    // A decoder bug must not take the agent down; report it against the object.
    e.add('(root)', `internal decoding error: ${(err as Error).message}`);
    return invalid(kind, '', e);
  }
}

/** Puts a decoded object into the state: upsert, reject (invalid), or nothing (ignored). */
export function applyDecoded(state: ClusterState, d: Decoded): void {
  switch (d.kind) {
    case 'Namespace': state.upsertNamespace(d.value); break;
    case 'Pod': state.upsertPod(d.value); break;
    case 'Node': state.upsertNode(d.value); break;
    case 'NetworkPolicy': state.upsertPolicy(d.value); break;
    case 'invalid':
      if (isObjectKind(d.objectKind)) state.reject(d.objectKind, d.key, d.errors);
      break;
    case 'ignored': break;
  }
}

export function isObjectKind(k: string): k is ObjectKind {
  return k === 'Namespace' || k === 'Pod' || k === 'Node' || k === 'NetworkPolicy';
}

/** Removes an object by kind and key ("ns/name" for Pods and NetworkPolicies, "name" otherwise), e.g. on a watch DELETED event. */
export function deleteByKind(state: ClusterState, kind: ObjectKind, key: string): void {
  switch (kind) {
    case 'Namespace': state.deleteNamespace(key); break;
    case 'Pod': state.deletePod(key); break;
    case 'Node': state.deleteNode(key); break;
    case 'NetworkPolicy': state.deletePolicy(key); break;
  }
}

/** Key of a raw object ("ns/name" or "name") without decoding it; for DELETED events. */
export function rawObjectKey(raw: unknown): string | undefined {
  if (!isObj(raw) || !isObj(raw.metadata)) return undefined;
  const { name, namespace } = raw.metadata;
  if (typeof name !== 'string') return undefined;
  return typeof namespace === 'string' && namespace ? `${namespace}/${name}` : name;
}
