// networking.k8s.io/v1 NetworkPolicy, decoded strictly: an unknown field (say `form:` for
// `from:`) is an error, as with `kubectl apply --validate=strict`, because silently dropping it
// can turn a narrow rule into an allow-all one. Validation follows the API server's
// ValidateNetworkPolicy; defaulting follows SetDefaults_NetworkPolicy.

import type { IPBlock, PolicyPeer, PolicyPort, PolicyRule } from '../model.ts';
import type { Decoded } from '../kinds.ts';
import { cidrWithin, formatCIDR } from '../../net/address.ts';
import { portNameProblems } from '../names.ts';
import { CIDR_HINT, type Errs, type Obj, cidrAt, decodeProtocol, describe, invalid, keyOf, metaOf, rawKey, validPortNumber } from './fields.ts';
import { decodeSelector } from './selector.ts';

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
    // YAML's `port: "80"` is the usual slip: a number in quotes.
    const hint = /^[0-9]+$/.test(pv) ? `; a port number is written without quotes (port: ${pv})` : '';
    for (const p of probs) e.add(`${path}.port`, `invalid port name ${JSON.stringify(pv)}: ${p}${hint}`);
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

export function decodeNetworkPolicy(raw: Obj, e: Errs): Decoded {
  // Named before metaOf, whose label errors must name the policy too.
  e.object = `NetworkPolicy ${rawKey(raw, true)}`;
  const meta = metaOf(e, raw, true, 'subdomain');
  const key = keyOf(meta, true);
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

