// The parts of the Network Policy API's cluster-scoped policies (policy.networking.k8s.io) that
// ClusterNetworkPolicy (v1beta1, v1alpha2) and the v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy
// share: the object and spec frame, subject, rules, peers. What differs between the versions (the
// shape of ports, the names and limits) comes in a Version description from
// cluster-network-policy.ts and cluster-policy-v1alpha1.ts.
//
// Decoding is strict (an unknown field is an error, as for NetworkPolicy) and rejects what the
// CRDs' OpenAPI and CEL validation reject, EXCEPT inside a peer. There the API says: "If an
// implementation sees no fields are set then it can infer that the deployed CRD is of an
// incompatible version with an unknown field. In that case it should fail closed." So a peer with
// no field this Palisade knows decodes as {} (the engines fail closed on it), and an unknown field
// next to a known one is ignored: the API server would have pruned it. A peer's selector that
// cannot be built (selector.ts: the CRD stores `operator: Bogus`) is a peer this Palisade cannot
// understand either: the rule fails closed on it (rule.failsClosed names the field). The same
// in a port-list entry: a field this Palisade does not know (a newer CRD's port matcher) fails
// the rule closed. A subject selector that cannot be built has no safe meaning (neither every
// pod nor none is what was written): that is an error, and an agent keeps the last good version.

import type {
  ClusterAction, ClusterPolicy, ClusterPolicyKind, ClusterPolicyPeer, ClusterPolicyPort, ClusterPolicyRule, ClusterPolicySubject,
  ClusterTier, NamespacedPod, UnmatchableField,
} from '../model.ts';
import { clusterPolicyId } from '../model.ts';
import type { Decoded } from '../kinds.ts';
import { domainToASCII } from 'node:url';
import { formatCIDR } from '../../net/address.ts';
import { type Errs, type Obj, type SyntaxProblem, cidrAt, describe, invalid, metaOf, rawName } from './fields.ts';
import { decodeSelector } from './selector.ts';

/**
 * For a name written in Unicode (the pattern takes ASCII letters only, as DNS carries names): the
 * ASCII form to write instead (IDNA's punycode, "xn--" labels), when that form is valid.
 */
function punycodeHint(text: string, pattern: RegExp): string {
  if (/^[\x00-\x7f]*$/.test(text)) return '';
  const wild = text.startsWith('*.');
  const ascii = domainToASCII(wild ? text.slice(2) : text);
  const suggestion = ascii && (wild ? `*.${ascii}` : ascii);
  return suggestion && pattern.test(suggestion) ? `; a name in Unicode is written in its ASCII (punycode) form: ${JSON.stringify(suggestion)}` : '; a name in Unicode is written in its ASCII (punycode, "xn--") form';
}

export type Direction = 'ingress' | 'egress';

/** What one API version of one kind looks like; the frame below does the rest. */
export interface Version {
  readonly kind: ClusterPolicyKind;
  /** v1alpha2 reads spec.tier; the v1alpha1 kinds have a fixed tier. */
  readonly tier?: ClusterTier;
  /** BaselineAdminNetworkPolicy has no priority field (it is a singleton). */
  readonly hasPriority: boolean;
  /** Action as written -> model action (v1alpha1 "Allow" is the model's Accept). */
  readonly actions: Readonly<Record<string, ClusterAction>>;
  /** MaxItems of spec.ingress / spec.egress, and of from / to. */
  readonly maxRules: number;
  readonly maxPeers: number;
  /** Name of the rule's port list ("protocols" in v1alpha2, "ports" in v1alpha1) and its MaxItems. */
  readonly portsField: string;
  readonly maxPorts: number;
  /** Known peer fields per direction (anything else is an unknown field: see the header). */
  readonly peerFields: Readonly<Record<Direction, readonly string[]>>;
  /** The CRD's pattern for domain names (v1alpha1 and v1alpha2 differ by a typo upstream). */
  readonly domainPattern: RegExp;
  /** How the version names the Accept action in messages ("Accept" / "Allow"). */
  readonly acceptWord: string;
  /**
   * One entry of the port list -> model port, or Unmatchable (stored by the API server but naming
   * no traffic Palisade can match), or undefined after adding errors or when only fields this
   * Palisade does not know are set. Each struct's fields go through `check` (see FieldCheck).
   */
  decodePort(e: Errs, v: unknown, path: string, check: FieldCheck): ClusterPolicyPort | Unmatchable | undefined;
  /** Path suffix of a named port inside one port-list entry (for the named-port/networks rule). */
  readonly namedPortField: string;
  /** NamespacedPod.namespaceSelector is required (v1alpha1) rather than optional (v1alpha2). */
  readonly namespaceSelectorRequired: boolean;
}

/**
 * In place of Errs.strict inside a port-list entry: a field Palisade does not know there, at any
 * depth, is a newer CRD's port matcher (or a typo) and fails the rule closed, not the object
 * (decodeRules). An entry of such fields only is no error either (portEntryKind).
 */
export type FieldCheck = (o: Obj, known: readonly string[], path: string) => void;

/**
 * Which of the alternatives of a port-list entry (or of a destinationPort) is set (exactly one:
 * MinProperties=1, MaxProperties=1), or undefined after an error, or when only fields Palisade
 * does not know are set (`check` has recorded them).
 */
export function portEntryKind(e: Errs, o: Obj, fields: readonly string[], path: string, check: FieldCheck): string | undefined {
  check(o, fields, path);
  if (!fields.some((f) => has(o, f)) && Object.keys(o).some((k) => has(o, k))) return undefined;
  return exactlyOne(e, o, fields, path);
}

/** A port entry the API server stores but no traffic can be matched by: its field path and what is wrong. */
export interface Unmatchable {
  readonly unmatchable: { readonly path: string; readonly problem: string };
}

export function unmatchable(path: string, problem: string): Unmatchable {
  return { unmatchable: { path, problem } };
}

/**
 * Neither version's named port has a MinLength, and a present field satisfies the entry's
 * MinProperties, so the API server stores "". A container port's name, when it has one, is an
 * IANA_SVC_NAME: "" names none (and Go code reading the entry sees no field set at all).
 */
export const EMPTY_NAMED_PORT = 'empty named port, which names no container port';

/**
 * What failing closed does to a rule, for the warnings: "For "Accept" rules, "fail closed" means:
 * "treat the rule as matching no traffic". For "Deny" and "Pass" rules, "fail closed" means:
 * "treat the rule as a 'Deny all' rule"." (cluster-facts.ts applies it).
 */
function failClosedText(action: ClusterAction, written: string, dir: Direction): string {
  return action === 'Accept'
    ? `this ${written} rule fails closed and matches no traffic (its other entries do not count either)`
    : `this ${written} rule fails closed and denies ALL ${dir} traffic of the subject pods (from its place in the rule order on)`;
}

/** "Kind name", the object part of every error. */
function objectName(kind: ClusterPolicyKind, name: string): string {
  return `${kind} ${name}`;
}

/** The CRD limits are MaxItems on lists; one message shape for all of them. */
export function checkMaxItems(e: Errs, list: readonly unknown[], max: number, path: string): void {
  if (list.length > max) e.add(path, `must have at most ${max} items, got ${list.length}`);
}

/**
 * A string's MaxLength as the CRDs check it. OpenAPI's maxLength counts characters (the API
 * server counts Unicode code points, utf8.RuneCount), not UTF-16 code units: a rule "Name ...
 * may be no more than 100 characters in length", so 100 emoji (200 code units) are a valid name.
 */
function checkMaxLength(e: Errs, text: string, max: number, path: string): boolean {
  const n = [...text].length;
  if (n <= max) return true;
  e.add(path, `must be at most ${max} characters, got ${n}`);
  return false;
}

export function has(o: Obj, k: string): boolean {
  return o[k] !== undefined && o[k] !== null;
}

/** A port number as the CRDs take it (int32, Minimum=1, Maximum=65535); undefined after an error. */
export function portNumberAt(e: Errs, v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) {
    e.add(path, 'required');
    return undefined;
  }
  const n = e.int(v, path);
  if (n === undefined) return undefined;
  if (n < 1 || n > 65535) {
    e.add(path, `must be between 1 and 65535, got ${n}`);
    return undefined;
  }
  return n;
}

/** A v1alpha2 {start, end} range (CRD: "self.start < self.end"); both ends must be valid port numbers. */
export function portRangeAt(e: Errs, o: Obj, path: string): { port: number; endPort: number } | undefined {
  const start = portNumberAt(e, o.start, `${path}.start`);
  const end = portNumberAt(e, o.end, `${path}.end`);
  if (start === undefined || end === undefined) return undefined;
  if (start >= end) {
    e.add(path, `start port must be less than end port, got start ${start} and end ${end}`);
    return undefined;
  }
  return { port: start, endPort: end };
}

/** Exactly one of `fields` set (MinProperties=1, MaxProperties=1); returns it, or undefined after an error. */
export function exactlyOne(e: Errs, o: Obj, fields: readonly string[], path: string): string | undefined {
  const set = fields.filter((f) => has(o, f));
  if (set.length === 1) return set[0];
  if (set.length === 0) e.add(path, `must set exactly one of ${fields.join(', ')}; none is set`);
  else e.add(path, `must set exactly one of ${fields.join(', ')}; got ${set.join(' and ')}`);
  return undefined;
}

/** A required list with MinItems=1 and a MaxItems. */
function requiredList(e: Errs, v: unknown, min: number, max: number, path: string, what: string): unknown[] {
  if (v === undefined || v === null) {
    e.add(path, `required (${what})`);
    return [];
  }
  const list = e.list_(v, path);
  if (Array.isArray(v) && list.length < min) e.add(path, `must have at least ${min} item${min === 1 ? '' : 's'} (${what})`);
  checkMaxItems(e, list, max, path);
  return list;
}

/** NamespacedPod: "select pods via namespace AND pod selectors". */
function decodeNamespacedPod(e: Errs, v: unknown, path: string, ver: Version, syntax: SyntaxProblem): NamespacedPod | undefined {
  const o = e.obj(v, path);
  if (!o) return undefined;
  e.strict(o, ['namespaceSelector', 'podSelector'], path);
  // podSelector is required in both versions; an empty one selects every pod. namespaceSelector
  // is +optional in v1alpha2, where an absent one is Go's zero LabelSelector, "if empty, it
  // selects all Namespaces"; the v1alpha1 CRD requires it.
  if (!has(o, 'podSelector')) e.add(`${path}.podSelector`, 'required (write {} to select every pod)');
  if (ver.namespaceSelectorRequired && !has(o, 'namespaceSelector')) e.add(`${path}.namespaceSelector`, 'required (write {} to select every namespace)');
  const podSelector = decodeSelector(e, o.podSelector, `${path}.podSelector`, syntax);
  const namespaceSelector = decodeSelector(e, o.namespaceSelector, `${path}.namespaceSelector`, syntax) ?? { matchLabels: {}, matchExpressions: [] };
  return podSelector ? { namespaceSelector, podSelector } : undefined;
}

function decodeSubject(e: Errs, v: unknown, path: string, ver: Version): ClusterPolicySubject {
  const o = e.obj(v, path);
  if (!o) {
    if (v === undefined || v === null) e.add(path, 'required (namespaces or pods)');
    return {};
  }
  e.strict(o, ['namespaces', 'pods'], path);
  // Stored by the API server (see the header), but neither failing open nor closed is what the
  // subject says: the object is rejected, and the error says why it is not failed closed (the
  // sources say that its last good version stays in force).
  const syntax: SyntaxProblem = (f, m) => e.add(f, `${m}; the API server stores this, but a subject whose selector cannot be built selects no safe set of pods, so the policy is rejected`);
  const which = exactlyOne(e, o, ['namespaces', 'pods'], path);
  if (which === 'namespaces') {
    const namespaces = decodeSelector(e, o.namespaces, `${path}.namespaces`, syntax);
    return namespaces ? { namespaces } : {};
  }
  if (which === 'pods') {
    const pods = decodeNamespacedPod(e, o.pods, `${path}.pods`, ver, syntax);
    return pods ? { pods } : {};
  }
  return {};
}

/** A list with listType=set: the API server rejects a value written twice. */
function stringSet(e: Errs, v: unknown, path: string, max: number): { text: string; path: string }[] {
  const list = requiredList(e, v, 1, max, path, 'omit the field instead of leaving it empty');
  const out: { text: string; path: string }[] = [];
  const seen = new Set<string>();
  list.forEach((x, i) => {
    const p = `${path}[${i}]`;
    const s = e.str(x, p);
    if (s === undefined) {
      if (x === null) e.add(p, 'must be a string, got null');
      return;
    }
    if (seen.has(s)) {
      e.add(p, `duplicate value ${JSON.stringify(s)}`);
      return;
    }
    seen.add(s);
    out.push({ text: s, path: p });
  });
  return out;
}

/**
 * What an unsupported action was probably meant to be: the same word in another case, or the other
 * API generation's name for Accept (v1alpha1 wrote "Allow"; a policy moved between them keeps it).
 */
function actionHint(text: string, ver: Version): string {
  const cased = Object.keys(ver.actions).find((a) => a.toLowerCase() === text.toLowerCase());
  if (cased) return `; values are case-sensitive: "${cased}"`;
  if (text === 'Allow' && Object.hasOwn(ver.actions, 'Accept')) return '; ClusterNetworkPolicy says "Accept" where v1alpha1 said "Allow"';
  if (text === 'Accept' && Object.hasOwn(ver.actions, 'Allow')) return '; v1alpha1 says "Allow" where ClusterNetworkPolicy says "Accept"';
  return '';
}

/**
 * One from/to entry. Only the fields this version knows for the direction count; with none of
 * them set the peer is {} (fail closed, see the header); several set is what the CRD rejects.
 * `closed` takes the problems of a selector that cannot be built: the rule fails closed on
 * them, and the peer is {} too.
 */
function decodePeer(
  e: Errs, v: unknown, path: string, ver: Version, dir: Direction, action: ClusterAction | undefined, closed: SyntaxProblem,
): ClusterPolicyPeer | undefined {
  const o = e.obj(v, path);
  if (!o) {
    if (v === undefined || v === null) e.add(path, `must be an object with one of ${ver.peerFields[dir].join(', ')}, got null`);
    return undefined;
  }
  const known = ver.peerFields[dir];
  const set = known.filter((f) => has(o, f));
  if (set.length === 0) return {};
  if (set.length > 1) {
    e.add(path, `must set exactly one of ${known.join(', ')}; got ${set.join(' and ')}`);
    return undefined;
  }
  const f = set[0]!;
  const fp = `${path}.${f}`;
  let unbuilt = 0;
  const syntax: SyntaxProblem = (field, message) => {
    unbuilt++;
    closed(field, message);
  };
  switch (f) {
    case 'namespaces':
    case 'nodes': {
      const s = decodeSelector(e, o[f], fp, syntax);
      if (s && unbuilt) return {};
      return s ? (f === 'nodes' ? { nodes: s } : { namespaces: s }) : undefined;
    }
    case 'pods': {
      const pods = decodeNamespacedPod(e, o.pods, fp, ver, syntax);
      if (pods && unbuilt) return {};
      return pods ? { pods } : undefined;
    }
    case 'networks': {
      const networks: string[] = [];
      for (const { text, path: p } of stringSet(e, o.networks, fp, 25)) {
        // CIDR: MaxLength=43 and a CIDR (isCIDR / net.ParseCIDR); kept with its prefix, in
        // canonical text, as NetworkPolicy's ipBlock.cidr is.
        if (!checkMaxLength(e, text, 43, p)) continue;
        const c = cidrAt(e, text, p, 'must be an IPv4 or IPv6 CIDR, such as "10.0.0.0/8" or "fd00::/8"');
        if (c) networks.push(formatCIDR(c));
      }
      return { networks };
    }
    case 'domainNames': {
      const domainNames: string[] = [];
      for (const { text, path: p } of stringSet(e, o.domainNames, fp, 25)) {
        if (!ver.domainPattern.test(text)) {
          e.add(p, `invalid domain name ${JSON.stringify(text)}: must be a DNS name such as "example.com", optionally starting with "*." and ending with "."${punycodeHint(text, ver.domainPattern)}`);
          continue;
        }
        domainNames.push(text);
      }
      // "DomainNames is only supported for Accept rules" (v1alpha1: "for ALLOW rules") is said in
      // the field's comment, but no CRD validation checks it: the API server stores such a rule.
      // Rejecting the object would drop its other rules too (fail open), so the peer, which this
      // action cannot use, fails closed like a peer of an unknown field: {} (Deny all).
      if (action !== undefined && action !== 'Accept') {
        e.warn(fp, `DomainNames is only supported for ${ver.acceptWord} rules: ${failClosedText(action, action, dir)}; use an ${ver.acceptWord} rule with a lower-precedence Deny to allow only these names`);
        return {};
      }
      return { domainNames };
    }
  }
  return undefined;
}

function decodeRules(e: Errs, v: unknown, path: string, ver: Version, dir: Direction): ClusterPolicyRule[] {
  const peerField = dir === 'ingress' ? 'from' : 'to';
  const list = e.list_(v, path);
  checkMaxItems(e, list, ver.maxRules, path);
  const rules: ClusterPolicyRule[] = [];
  list.forEach((r, i) => {
    const rp = `${path}[${i}]`;
    const ro = e.obj(r, rp);
    if (!ro) {
      if (r === null || r === undefined) e.add(rp, 'must be an object, got null');
      return;
    }
    e.strict(ro, ['name', 'action', peerField, ver.portsField], rp);
    const before = e.list.length;
    const name = e.str(ro.name, `${rp}.name`) ?? '';
    checkMaxLength(e, name, 100, `${rp}.name`);
    const actionText = e.str(ro.action, `${rp}.action`);
    let action: ClusterAction | undefined;
    if (actionText === undefined) {
      if (ro.action === undefined || ro.action === null) e.add(`${rp}.action`, `required (${Object.keys(ver.actions).join(', ')})`);
    } else if (Object.hasOwn(ver.actions, actionText)) {
      action = ver.actions[actionText];
    } else {
      e.add(`${rp}.action`, `unsupported value ${JSON.stringify(actionText)}: supported values: ${Object.keys(ver.actions).map((a) => `"${a}"`).join(', ')}${actionHint(actionText, ver)}`);
    }
    // Fields the API server stores but this Palisade cannot match (see the header): the rule
    // fails closed on them, with a warning naming each. Valid to the API server, so rejecting
    // the object would drop its other rules too.
    const failsClosed: UnmatchableField[] = [];
    const failClosed = (path: string, problem: string): void => {
      if (action === undefined) return;
      e.warn(path, `${problem}: ${failClosedText(action, actionText!, dir)}`);
      failsClosed.push({ field: path.slice(rp.length + 1), problem });
    };
    const peersRaw = requiredList(e, ro[peerField], 1, ver.maxPeers, `${rp}.${peerField}`, 'a rule needs at least one peer');
    const peers: ClusterPolicyPeer[] = [];
    // The CEL rule on egress rules looks at which peer fields are present, as written.
    let addressPeer = false;
    peersRaw.forEach((p, j) => {
      const peer = decodePeer(e, p, `${rp}.${peerField}[${j}]`, ver, dir, action, (f, m) => failClosed(f, `${m}, so this peer's selector cannot be built`));
      if (peer) peers.push(peer);
      if (dir === 'egress' && p && typeof p === 'object' && ['networks', 'nodes', 'domainNames'].some((f) => ver.peerFields.egress.includes(f) && has(p as Obj, f))) addressPeer = true;
    });
    const protocols: ClusterPolicyPort[] = [];
    if (ro[ver.portsField] !== undefined && ro[ver.portsField] !== null) {
      const pp = `${rp}.${ver.portsField}`;
      const portsRaw = requiredList(e, ro[ver.portsField], 1, ver.maxPorts, pp, 'omit the field to match every protocol and port');
      portsRaw.forEach((p, j) => {
        const unknown: { path: string; problem: string }[] = [];
        const port = ver.decodePort(e, p, `${pp}[${j}]`, (o, known, path) => {
          for (const k of Object.keys(o)) {
            if (has(o, k) && !known.includes(k)) unknown.push({ path: `${path}.${k}`, problem: `unknown field "${k}" (known fields: ${known.join(', ')}): a port field of a newer API version than this Palisade reads, or a typo` });
          }
        });
        if (!port && unknown.length === 0) return;
        // The CEL rule asks has(...NamedPort), which "" passes too.
        const named = has(p as Obj, ver.namedPortField);
        if (named && addressPeer) {
          e.add(`${pp}[${j}].${ver.namedPortField}`, `networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames`);
          return;
        }
        // Read without the field, the entry could match other traffic than written.
        for (const u of unknown) failClosed(u.path, u.problem);
        if (!port || unknown.length) return;
        if ('unmatchable' in port) {
          failClosed(port.unmatchable.path, port.unmatchable.problem);
          return;
        }
        protocols.push(port);
      });
    }
    if (e.list.length !== before || action === undefined) return;
    rules.push(failsClosed.length ? { name, action, peers, protocols, failsClosed } : { name, action, peers, protocols });
  });
  return rules;
}

/** The whole object: metadata, spec frame, tier, priority, subject and both rule lists. */
export function decodeClusterPolicy(raw: Obj, e: Errs, ver: Version): Decoded {
  e.object = objectName(ver.kind, rawName(raw));
  const meta = metaOf(e, raw, false, 'subdomain');
  const key = clusterPolicyId({ kind: ver.kind, name: meta.name ?? '<no name>' });
  e.strict(raw, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
  const spec = e.obj(raw.spec, 'spec');
  if (!spec) {
    if (raw.spec === undefined || raw.spec === null) e.add('spec', 'required');
    return invalid(ver.kind, key, e);
  }
  e.strict(spec, [...(ver.tier ? [] : ['tier']), ...(ver.hasPriority ? ['priority'] : []), 'subject', 'ingress', 'egress'], 'spec');
  let tier: ClusterTier | undefined = ver.tier;
  if (!tier) {
    const t = e.str(spec.tier, 'spec.tier');
    if (t === 'Admin' || t === 'Baseline') tier = t;
    else if (t === undefined && (spec.tier === undefined || spec.tier === null)) e.add('spec.tier', 'required ("Admin" or "Baseline")');
    else if (t !== undefined) e.add('spec.tier', `unsupported value ${JSON.stringify(t)}: supported values: "Admin", "Baseline"`);
  }
  let priority = 0;
  if (ver.hasPriority) {
    const p = e.int(spec.priority, 'spec.priority');
    if (spec.priority === undefined || spec.priority === null) e.add('spec.priority', 'required (0 to 1000, lower first)');
    else if (p !== undefined && (p < 0 || p > 1000)) e.add('spec.priority', `must be between 0 and 1000, got ${p}`);
    else if (p !== undefined) priority = p;
  }
  const subject = decodeSubject(e, spec.subject, 'spec.subject', ver);
  const ingress = decodeRules(e, spec.ingress, 'spec.ingress', ver, 'ingress');
  const egress = decodeRules(e, spec.egress, 'spec.egress', ver, 'egress');
  if (e.list.length || !tier) return invalid(ver.kind, key, e);
  const value: ClusterPolicy = { kind: ver.kind, name: meta.name!, tier, priority, subject, ingress, egress };
  return { kind: ver.kind, value } as Decoded;
}

/** For the version files: a port-list entry that is not an object. */
export function portEntryObject(e: Errs, v: unknown, path: string): Obj | undefined {
  const o = e.obj(v, path);
  if (!o && (v === null || v === undefined)) e.add(path, `must be an object, got ${describe(v)}`);
  return o;
}
