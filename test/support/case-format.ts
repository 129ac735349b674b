// The conformance case format: the NetworkPolicy cases (../shared/conformance/cases, format in
// its README) and their ClusterNetworkPolicy extension (../shared/conformance/cnp/README.md:
// several nodes with labels, pods with a node, hostNetwork and served ports, deletes of any
// kind, documentation fields on steps and pairs). This module reads a file into a checked
// ConformanceCase; every mistake is a CaseFormatError naming the file and the field, so a bad
// case fails at load instead of silently probing something else.

import { parse as parseYAML } from 'yaml';
import type { Family, Protocol } from '../../src/cluster/model.ts';
import { PROTOCOLS } from '../../src/cluster/model.ts';
import { KINDS, keyOfObject, kindEntry, type ObjectKind } from '../../src/cluster/kinds.ts';
import { canonicalIP, parseIP } from '../../src/net/address.ts';

/** The one node of a NetworkPolicy-format case (which gives only nodeIP / nodeIPv6). */
export const CASE_NODE_NAME = 'node-1';

export interface CaseNamespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface CaseNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ip: string;
  readonly ipv6?: string;
}

export interface CaseContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

export interface ServedPort {
  readonly protocol: Protocol;
  readonly port: number;
}

export interface CasePod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The node it runs on (CASE_NODE_NAME in the NetworkPolicy format). */
  readonly node: string;
  /** Uses its node's addresses: `ip` / `ipv6` are then the node's (checked, or filled in). */
  readonly hostNetwork: boolean;
  readonly ip: string;
  readonly ipv6?: string;
  readonly containerPorts: readonly CaseContainerPort[];
  /** What it listens on, declared or not (CNP format); undefined when the case does not say. */
  readonly serves?: readonly ServedPort[];
}

export interface CaseExternal {
  readonly name: string;
  readonly ip?: string;
  readonly ipv6?: string;
}

/** One cell of an expected matrix: a new connection from `from` to `to`. */
export interface MatrixCell {
  readonly from: string;
  readonly to: string;
  readonly allow: boolean;
}

export interface ProbePair {
  /** "node", "node:<name>", "ns/pod", "ext:<name>" or an IP address. */
  readonly from: string;
  readonly to: string;
  /** connect: a new connection from -> to; reply: the replies of a connection from opened to to. */
  readonly kind: 'connect' | 'reply';
  readonly expect: boolean;
  readonly note?: string;
  /** Upstream cases: the PokeServer call the pair translates. */
  readonly go?: string;
}

export interface ProbeGroup {
  readonly port: number;
  readonly protocol: Protocol;
  readonly family: Family;
  /** Pod order of the matrix (rows = from, columns = to); empty when the group has no matrix. */
  readonly order: readonly string[];
  readonly cells: readonly MatrixCell[];
  /** The matrix as written (rows of '.'/'X'), for comparing printed tables. */
  readonly matrixText?: string;
  readonly pairs: readonly ProbePair[];
  readonly note?: string;
}

/** An object a step removes: any registry kind, by the key the cluster state uses. */
export interface CaseDelete {
  readonly kind: ObjectKind;
  readonly namespace?: string;
  readonly name: string;
  /** The state key: "namespace/name", "name", or a cluster policy's id (kinds.ts keyOfObject). */
  readonly key: string;
}

export interface CaseStep {
  readonly delete: readonly CaseDelete[];
  /** Raw objects of any registry kind, decoded on apply like any manifest. */
  readonly apply: readonly unknown[];
  readonly relabelNamespaces: readonly CaseNamespace[];
  readonly relabelPods: readonly { readonly namespace: string; readonly name: string; readonly labels: Readonly<Record<string, string>> }[];
  readonly probes: readonly ProbeGroup[];
  /** Documentation (CNP format): the upstream subtest, its part, the mutation, a note. */
  readonly subtest?: string;
  readonly part?: number;
  readonly mutation?: string;
  readonly note?: string;
}

export interface ConformanceCase {
  readonly name: string;
  /** Absolute path of the case file. */
  readonly file: string;
  /** True when the file lists `nodes` (CNP format) instead of the single nodeIP. */
  readonly multiNode: boolean;
  /** Every node; the NetworkPolicy format's single one is CASE_NODE_NAME without labels. */
  readonly nodes: readonly CaseNode[];
  readonly namespaces: readonly CaseNamespace[];
  readonly pods: readonly CasePod[];
  /** NetworkPolicy format only: the single node's addresses (= nodes[0]). */
  readonly nodeIP?: string;
  readonly nodeIPv6?: string;
  readonly externals: readonly CaseExternal[];
  readonly steps: readonly CaseStep[];
}

/** A case file that does not follow the format: names the file and the field. */
export class CaseFormatError extends Error {}

type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const given = (v: unknown): boolean => v !== undefined && v !== null;

class Reader {
  constructor(readonly file: string) {}
  fail(path: string, msg: string): never {
    throw new CaseFormatError(`${this.file}: ${path}: ${msg}`);
  }
  obj(v: unknown, path: string): Obj {
    if (!isObj(v)) this.fail(path, 'must be a mapping');
    return v;
  }
  /** Rejects keys outside `known`: where a misspelt key would silently drop a mutation. */
  only(o: Obj, path: string, known: readonly string[]): void {
    for (const k of Object.keys(o)) if (!known.includes(k)) this.fail(`${path}.${k}`, `unknown field (known: ${known.join(', ')})`);
  }
  list(v: unknown, path: string, optional = true): unknown[] {
    if (!given(v)) {
      if (optional) return [];
      this.fail(path, 'required');
    }
    if (!Array.isArray(v)) this.fail(path, 'must be a list');
    return v;
  }
  str(v: unknown, path: string): string {
    if (typeof v !== 'string' || v === '') this.fail(path, 'must be a non-empty string');
    return v;
  }
  optStr(v: unknown, path: string): string | undefined {
    return given(v) ? this.str(v, path) : undefined;
  }
  bool(v: unknown, path: string): boolean {
    if (!given(v)) return false;
    if (typeof v !== 'boolean') this.fail(path, 'must be true or false');
    return v;
  }
  ip(v: unknown, path: string, family?: Family): string {
    const s = this.str(v, path);
    const p = parseIP(s);
    if (!p) this.fail(path, `invalid IP address ${JSON.stringify(s)}`);
    if (family && p.family !== family) this.fail(path, `must be an ${family} address, got ${s}`);
    return canonicalIP(s)!;
  }
  labels(v: unknown, path: string): Record<string, string> {
    if (!given(v)) return {};
    const o = this.obj(v, path);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) {
      if (typeof val !== 'string') this.fail(`${path}.${k}`, 'label values must be strings');
      out[k] = val;
    }
    return out;
  }
  protocol(v: unknown, path: string): Protocol {
    if (!given(v)) return 'TCP';
    if (typeof v !== 'string' || !(PROTOCOLS as readonly string[]).includes(v)) this.fail(path, 'must be TCP, UDP or SCTP');
    return v as Protocol;
  }
  port(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) this.fail(path, 'must be a port number 1..65535');
    return v;
  }
}

// ---------------------------------------------------------------------------------------------
// Endpoints

/** What a case needs to resolve endpoints (a whole case, or one being read). */
export interface EndpointContext {
  readonly file: string;
  readonly nodes: readonly CaseNode[];
  readonly pods: readonly CasePod[];
  readonly externals: readonly CaseExternal[];
}

/**
 * The address of an endpoint in a family, or why there is none: "node" (the case's only node),
 * "node:<name>", "ns/pod" (a hostNetwork pod has its node's addresses), "ext:<name>", or a
 * literal IP address of that family.
 */
export function resolveEndpoint(c: EndpointContext, endpoint: string, family: Family): { ip: string } | { error: string } {
  const pick = (o: { ip?: string; ipv6?: string }, what: string) => {
    const ip = family === 'IPv4' ? o.ip : o.ipv6;
    return ip ? { ip } : { error: `${what} has no ${family} address` };
  };
  if (endpoint === 'node') {
    if (c.nodes.length !== 1) return { error: `"node" is ambiguous with ${c.nodes.length} nodes; write node:<name>` };
    return pick(c.nodes[0]!, endpoint);
  }
  if (endpoint.startsWith('node:')) {
    const n = c.nodes.find((x) => x.name === endpoint.slice(5));
    return n ? pick(n, endpoint) : { error: `unknown node ${endpoint.slice(5)}` };
  }
  if (endpoint.startsWith('ext:')) {
    const e = c.externals.find((x) => x.name === endpoint.slice(4));
    return e ? pick(e, endpoint) : { error: `unknown external ${endpoint}` };
  }
  const lit = parseIP(endpoint);
  if (lit) return lit.family === family ? { ip: canonicalIP(endpoint)! } : { error: `${endpoint} is not an ${family} address` };
  if (endpoint.includes('/')) {
    const p = c.pods.find((x) => `${x.namespace}/${x.name}` === endpoint);
    return p ? pick(p, endpoint) : { error: `unknown pod ${endpoint}` };
  }
  return { error: `must be node, node:<name>, ns/pod, ext:<name> or an IP address, got ${JSON.stringify(endpoint)}` };
}

/** The address of an endpoint in a family; throws CaseFormatError naming the case when it has none. */
export function endpointAddress(c: EndpointContext, endpoint: string, family: Family): string {
  const r = resolveEndpoint(c, endpoint, family);
  if ('error' in r) throw new CaseFormatError(`${c.file}: ${r.error}`);
  return r.ip;
}

/** The node whose agent judges this end: a pod's node, a named node; undefined for outside hosts. */
export function endpointNode(c: EndpointContext, endpoint: string): string | undefined {
  if (endpoint === 'node') return c.nodes.length === 1 ? c.nodes[0]!.name : undefined;
  if (endpoint.startsWith('node:')) return endpoint.slice(5);
  if (endpoint.startsWith('ext:') || parseIP(endpoint)) return undefined;
  return c.pods.find((x) => `${x.namespace}/${x.name}` === endpoint)?.node;
}

// ---------------------------------------------------------------------------------------------
// Reading

const STEP_FIELDS = ['delete', 'apply', 'relabelNamespaces', 'relabelPods', 'probes', 'subtest', 'part', 'mutation', 'note'];
const DELETE_FIELDS = ['kind', 'namespace', 'name'];
const PAIR_FIELDS = ['from', 'to', 'kind', 'expect', 'note', 'go'];

function readGroup(r: Reader, raw: unknown, path: string, ctx: EndpointContext): ProbeGroup {
  const g = r.obj(raw, path);
  const port = r.port(g.port, `${path}.port`);
  const protocol = r.protocol(g.protocol, `${path}.protocol`);
  const family = given(g.family) ? g.family : 'IPv4';
  if (family !== 'IPv4' && family !== 'IPv6') r.fail(`${path}.family`, 'must be IPv4 or IPv6');
  // Every endpoint must have an address in the group's family, and a pod that says what it
  // serves must serve what it is probed on ("a probe is only ever aimed at a served port").
  const checkEndpoint = (ep: string, where: string, server: boolean): void => {
    const res = resolveEndpoint(ctx, ep, family);
    if ('error' in res) r.fail(where, res.error);
    if (!server) return;
    const pod = ctx.pods.find((x) => `${x.namespace}/${x.name}` === ep);
    if (pod?.serves && !pod.serves.some((s) => s.protocol === protocol && s.port === port)) {
      r.fail(where, `${ep} does not serve ${protocol}/${port} (serves: ${pod.serves.map((s) => `${s.protocol}/${s.port}`).join(', ')})`);
    }
  };
  let order: string[] = [];
  const cells: MatrixCell[] = [];
  let matrixText: string | undefined;
  if (given(g.expect)) {
    const ex = r.obj(g.expect, `${path}.expect`);
    order = r.list(ex.order, `${path}.expect.order`, false).map((x, i) => r.str(x, `${path}.expect.order[${i}]`));
    for (const [i, p] of order.entries()) {
      if (!ctx.pods.some((x) => `${x.namespace}/${x.name}` === p)) r.fail(`${path}.expect.order[${i}]`, `unknown pod ${p}`);
      checkEndpoint(p, `${path}.expect.order[${i}]`, true);
    }
    matrixText = r.str(ex.matrix, `${path}.expect.matrix`);
    const rows = matrixText.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (rows.length !== order.length) r.fail(`${path}.expect.matrix`, `has ${rows.length} rows, order lists ${order.length} pods`);
    rows.forEach((row, i) => {
      const marks = row.split(/\s+/);
      if (marks.length !== order.length) r.fail(`${path}.expect.matrix`, `row ${i + 1} has ${marks.length} cells, expected ${order.length}`);
      marks.forEach((m, j) => {
        if (m !== '.' && m !== 'X') r.fail(`${path}.expect.matrix`, `row ${i + 1} cell ${j + 1} is ${JSON.stringify(m)}, expected . or X`);
        cells.push({ from: order[i]!, to: order[j]!, allow: m === '.' });
      });
    });
  }
  const pairs: ProbePair[] = r.list(g.pairs, `${path}.pairs`).map((x, i) => {
    const pp = `${path}.pairs[${i}]`;
    const p = r.obj(x, pp);
    r.only(p, pp, PAIR_FIELDS);
    const kind = given(p.kind) ? p.kind : 'connect';
    if (kind !== 'connect' && kind !== 'reply') r.fail(`${pp}.kind`, 'must be connect or reply');
    if (p.expect !== 'allow' && p.expect !== 'deny') r.fail(`${pp}.expect`, 'must be allow or deny');
    const from = r.str(p.from, `${pp}.from`);
    const to = r.str(p.to, `${pp}.to`);
    checkEndpoint(from, `${pp}.from`, false);
    checkEndpoint(to, `${pp}.to`, true);
    const note = r.optStr(p.note, `${pp}.note`);
    const go = r.optStr(p.go, `${pp}.go`);
    return { from, to, kind, expect: p.expect === 'allow', ...(note ? { note } : {}), ...(go ? { go } : {}) };
  });
  const note = r.optStr(g.note, `${path}.note`);
  return {
    port, protocol, family, order, cells, pairs,
    ...(matrixText !== undefined ? { matrixText } : {}),
    ...(note ? { note } : {}),
  };
}

function readNodes(r: Reader, c: Obj): { nodes: CaseNode[]; multiNode: boolean } {
  if (given(c.nodes)) {
    if (given(c.nodeIP) || given(c.nodeIPv6)) r.fail('nodeIP', 'give either nodes or nodeIP/nodeIPv6, not both');
    const nodes = r.list(c.nodes, 'nodes', false).map((x, i): CaseNode => {
      const path = `nodes[${i}]`;
      const n = r.obj(x, path);
      r.only(n, path, ['name', 'labels', 'ip', 'ipv6']);
      const ipv6 = given(n.ipv6) ? r.ip(n.ipv6, `${path}.ipv6`, 'IPv6') : undefined;
      return { name: r.str(n.name, `${path}.name`), labels: r.labels(n.labels, `${path}.labels`), ip: r.ip(n.ip, `${path}.ip`, 'IPv4'), ...(ipv6 ? { ipv6 } : {}) };
    });
    if (nodes.length === 0) r.fail('nodes', 'must list at least one node');
    const seen = new Set<string>();
    nodes.forEach((n, i) => {
      if (seen.has(n.name)) r.fail(`nodes[${i}].name`, `duplicate node ${n.name}`);
      seen.add(n.name);
    });
    return { nodes, multiNode: true };
  }
  if (!given(c.nodeIP)) r.fail('nodeIP', 'required (or a nodes list)');
  const ipv6 = given(c.nodeIPv6) ? r.ip(c.nodeIPv6, 'nodeIPv6', 'IPv6') : undefined;
  return { nodes: [{ name: CASE_NODE_NAME, labels: {}, ip: r.ip(c.nodeIP, 'nodeIP', 'IPv4'), ...(ipv6 ? { ipv6 } : {}) }], multiNode: false };
}

function readPod(r: Reader, x: unknown, path: string, nodes: readonly CaseNode[]): CasePod {
  const p = r.obj(x, path);
  const containerPorts: CaseContainerPort[] = r.list(p.containerPorts, `${path}.containerPorts`).map((y, j) => {
    const cp = r.obj(y, `${path}.containerPorts[${j}]`);
    const port = r.port(cp.containerPort, `${path}.containerPorts[${j}].containerPort`);
    const protocol = r.protocol(cp.protocol, `${path}.containerPorts[${j}].protocol`);
    return typeof cp.name === 'string' && cp.name ? { name: cp.name, containerPort: port, protocol } : { containerPort: port, protocol };
  });
  let nodeName: string;
  if (given(p.node)) {
    nodeName = r.str(p.node, `${path}.node`);
    if (!nodes.some((n) => n.name === nodeName)) r.fail(`${path}.node`, `unknown node ${nodeName} (nodes: ${nodes.map((n) => n.name).join(', ')})`);
  } else if (nodes.length === 1) nodeName = nodes[0]!.name;
  else r.fail(`${path}.node`, `required with ${nodes.length} nodes`);
  const node = nodes.find((n) => n.name === nodeName)!;
  const hostNetwork = r.bool(p.hostNetwork, `${path}.hostNetwork`);
  let ip: string, ipv6: string | undefined;
  if (hostNetwork) {
    // The kubelet reports a host-network pod's podIPs as its node's addresses.
    ip = given(p.ip) ? r.ip(p.ip, `${path}.ip`, 'IPv4') : node.ip;
    if (ip !== node.ip) r.fail(`${path}.ip`, `a hostNetwork pod has its node's address ${node.ip}, got ${ip}`);
    ipv6 = given(p.ipv6) ? r.ip(p.ipv6, `${path}.ipv6`, 'IPv6') : node.ipv6;
    if (ipv6 !== node.ipv6) r.fail(`${path}.ipv6`, `a hostNetwork pod has its node's IPv6 address ${node.ipv6 ?? '(none)'}, got ${ipv6}`);
  } else {
    ip = r.ip(p.ip, `${path}.ip`, 'IPv4');
    ipv6 = given(p.ipv6) ? r.ip(p.ipv6, `${path}.ipv6`, 'IPv6') : undefined;
  }
  let serves: ServedPort[] | undefined;
  if (given(p.serves)) {
    serves = r.list(p.serves, `${path}.serves`).map((s, j) => {
      const m = typeof s === 'string' ? /^(TCP|UDP|SCTP)\/(\d+)$/.exec(s) : null;
      if (!m) r.fail(`${path}.serves[${j}]`, `must be PROTOCOL/port (TCP/80, UDP/53, SCTP/9003), got ${JSON.stringify(s)}`);
      return { protocol: m[1] as Protocol, port: r.port(Number(m[2]), `${path}.serves[${j}]`) };
    });
  }
  return {
    namespace: r.str(p.namespace, `${path}.namespace`),
    name: r.str(p.name, `${path}.name`),
    labels: r.labels(p.labels, `${path}.labels`),
    node: nodeName,
    hostNetwork,
    ip,
    ...(ipv6 ? { ipv6 } : {}),
    containerPorts,
    ...(serves ? { serves } : {}),
  };
}

function readDelete(r: Reader, d: unknown, path: string): CaseDelete {
  const o = r.obj(d, path);
  r.only(o, path, DELETE_FIELDS);
  // Without `kind` an entry names a NetworkPolicy (the NetworkPolicy format has no kind).
  const kindName = given(o.kind) ? r.str(o.kind, `${path}.kind`) : 'NetworkPolicy';
  const entry = kindEntry(kindName);
  if (!entry) r.fail(`${path}.kind`, `unknown kind ${kindName} (known: ${KINDS.map((k) => k.kind).join(', ')})`);
  const name = r.str(o.name, `${path}.name`);
  if (entry.namespaced) {
    const namespace = r.str(o.namespace, `${path}.namespace`);
    return { kind: entry.kind, namespace, name, key: keyOfObject(entry, { namespace, name }) };
  }
  if (given(o.namespace)) r.fail(`${path}.namespace`, `${entry.kind} is cluster-scoped: delete it by name only`);
  return { kind: entry.kind, name, key: keyOfObject(entry, { name }) };
}

function readApply(r: Reader, raw: unknown, path: string): unknown {
  // The object itself is the decoder's to judge (a case may apply one the API server refuses);
  // only a kind no decoder reads would make the step silently do nothing.
  const o = r.obj(raw, path);
  const kind = r.str(o.kind, `${path}.kind`);
  if (!kindEntry(kind)) r.fail(`${path}.kind`, `unknown kind ${kind} (known: ${KINDS.map((k) => k.kind).join(', ')})`);
  return raw;
}

/** Parses one case file's text. Throws CaseFormatError naming the file and field. */
export function parseCase(text: string, file: string): ConformanceCase {
  const r: Reader = new Reader(file);
  let doc: unknown;
  try {
    doc = parseYAML(text);
  } catch (e) {
    throw new CaseFormatError(`${file}: bad YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const c = r.obj(doc, '(root)');
  const name = r.str(c.name, 'name');
  const { nodes, multiNode } = readNodes(r, c);
  const namespaces: CaseNamespace[] = r.list(c.namespaces, 'namespaces', false).map((x, i) => {
    const n = r.obj(x, `namespaces[${i}]`);
    return { name: r.str(n.name, `namespaces[${i}].name`), labels: r.labels(n.labels, `namespaces[${i}].labels`) };
  });
  const pods: CasePod[] = r.list(c.pods, 'pods', false).map((x, i) => readPod(r, x, `pods[${i}]`, nodes));
  const podNames = new Set<string>();
  pods.forEach((p, i) => {
    const key = `${p.namespace}/${p.name}`;
    if (podNames.has(key)) r.fail(`pods[${i}].name`, `duplicate pod ${key}`);
    podNames.add(key);
  });
  const externals: CaseExternal[] = r.list(c.externals, 'externals').map((x, i) => {
    const e = r.obj(x, `externals[${i}]`);
    const ext: CaseExternal = {
      name: r.str(e.name, `externals[${i}].name`),
      ...(given(e.ip) ? { ip: r.ip(e.ip, `externals[${i}].ip`, 'IPv4') } : {}),
      ...(given(e.ipv6) ? { ipv6: r.ip(e.ipv6, `externals[${i}].ipv6`, 'IPv6') } : {}),
    };
    return ext;
  });
  const ctx: EndpointContext = { file, nodes, pods, externals };
  const steps: CaseStep[] = r.list(c.steps, 'steps', false).map((x, i) => {
    const path = `steps[${i}]`;
    const s = r.obj(x, path);
    r.only(s, path, STEP_FIELDS);
    let part: number | undefined;
    if (given(s.part)) {
      const v = s.part;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) r.fail(`${path}.part`, 'must be a whole number >= 1');
      part = v;
    }
    const doc = {
      ...(given(s.subtest) ? { subtest: r.str(s.subtest, `${path}.subtest`) } : {}),
      ...(part !== undefined ? { part } : {}),
      ...(given(s.mutation) ? { mutation: r.str(s.mutation, `${path}.mutation`) } : {}),
      ...(given(s.note) ? { note: r.str(s.note, `${path}.note`) } : {}),
    };
    return {
      delete: r.list(s.delete, `${path}.delete`).map((d, j) => readDelete(r, d, `${path}.delete[${j}]`)),
      apply: r.list(s.apply, `${path}.apply`).map((a, j) => readApply(r, a, `${path}.apply[${j}]`)),
      relabelNamespaces: r.list(s.relabelNamespaces, `${path}.relabelNamespaces`).map((d, j) => {
        const o = r.obj(d, `${path}.relabelNamespaces[${j}]`);
        return { name: r.str(o.name, `${path}.relabelNamespaces[${j}].name`), labels: r.labels(o.labels, `${path}.relabelNamespaces[${j}].labels`) };
      }),
      relabelPods: r.list(s.relabelPods, `${path}.relabelPods`).map((d, j) => {
        const q = `${path}.relabelPods[${j}]`;
        const o = r.obj(d, q);
        const ref = { namespace: r.str(o.namespace, `${q}.namespace`), name: r.str(o.name, `${q}.name`) };
        if (!podNames.has(`${ref.namespace}/${ref.name}`)) r.fail(q, `unknown pod ${ref.namespace}/${ref.name}`);
        return { ...ref, labels: r.labels(o.labels, `${q}.labels`) };
      }),
      probes: r.list(s.probes, `${path}.probes`).map((g, j) => readGroup(r, g, `${path}.probes[${j}]`, ctx)),
      ...doc,
    };
  });
  const single = multiNode ? {} : { nodeIP: nodes[0]!.ip, ...(nodes[0]!.ipv6 ? { nodeIPv6: nodes[0]!.ipv6 } : {}) };
  return { name, file, multiNode, nodes, namespaces, pods, ...single, externals, steps };
}
