// The shared conformance cases (/work/shared/conformance/cases/*.yaml, format in its README):
// loading and checking the files, turning a case into cluster state (through the same decoder
// the kube and file sources use, so a case is judged exactly like a real cluster), applying its
// steps, and expanding its expectations into single probes. Test code: used by the evaluator and
// compiled engine tests, the CLI tests and the lab's conformance run; the product never loads it.

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYAML, stringify as stringifyYAML } from 'yaml';
import type { Family, ObjectError, Protocol } from '../../src/cluster/model.ts';
import { PROTOCOLS, formatObjectError } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { canonicalIP, parseIP } from '../../src/net/address.ts';

/** Every pod of a case runs on this one node. */
export const CASE_NODE_NAME = 'node-1';

export interface CaseNamespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface CaseContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

export interface CasePod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ip: string;
  readonly ipv6?: string;
  readonly containerPorts: readonly CaseContainerPort[];
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
  /** "node", "ns/pod" or "ext:<name>". */
  readonly from: string;
  readonly to: string;
  /** connect: a new connection from -> to; reply: the replies of a connection from opened to to. */
  readonly kind: 'connect' | 'reply';
  readonly expect: boolean;
  readonly note?: string;
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

export interface PolicyRef {
  readonly namespace: string;
  readonly name: string;
}

export interface CaseStep {
  readonly delete: readonly PolicyRef[];
  /** Raw NetworkPolicy objects, decoded on apply like any manifest. */
  readonly apply: readonly unknown[];
  readonly relabelNamespaces: readonly CaseNamespace[];
  readonly relabelPods: readonly { readonly namespace: string; readonly name: string; readonly labels: Readonly<Record<string, string>> }[];
  readonly probes: readonly ProbeGroup[];
}

export interface ConformanceCase {
  readonly name: string;
  /** Absolute path of the case file. */
  readonly file: string;
  readonly namespaces: readonly CaseNamespace[];
  readonly pods: readonly CasePod[];
  readonly nodeIP: string;
  readonly nodeIPv6?: string;
  readonly externals: readonly CaseExternal[];
  readonly steps: readonly CaseStep[];
}

/** One expanded probe: a new connection (or the replies of one) with its expected verdict. */
export interface CaseProbe {
  readonly from: string;
  readonly to: string;
  readonly src: string;
  readonly dst: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly family: Family;
  readonly expect: boolean;
  readonly kind: 'connect' | 'reply';
  /** Where it came from: a matrix cell or a listed pair. */
  readonly origin: 'matrix' | 'pair';
}

/** A case file that does not follow the format: names the file and the field. */
export class CaseFormatError extends Error {}

// ---------------------------------------------------------------------------------------------
// Loading

/** The default cases folder: $PALISADE_CONFORMANCE_DIR, else ../shared/conformance/cases next to the repo. */
export function defaultCasesDir(): string {
  const env = process.env.PALISADE_CONFORMANCE_DIR;
  if (env) return resolve(env);
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return resolve(repoRoot, '..', 'shared', 'conformance', 'cases');
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Reader {
  constructor(readonly file: string) {}
  fail(path: string, msg: string): never {
    throw new CaseFormatError(`${this.file}: ${path}: ${msg}`);
  }
  obj(v: unknown, path: string): Obj {
    if (!isObj(v)) this.fail(path, 'must be a mapping');
    return v;
  }
  list(v: unknown, path: string, optional = true): unknown[] {
    if (v === undefined || v === null) {
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
  ip(v: unknown, path: string, family?: Family): string {
    const s = this.str(v, path);
    const p = parseIP(s);
    if (!p) this.fail(path, `invalid IP address ${JSON.stringify(s)}`);
    if (family && p.family !== family) this.fail(path, `must be an ${family} address, got ${s}`);
    return canonicalIP(s)!;
  }
  labels(v: unknown, path: string): Record<string, string> {
    if (v === undefined || v === null) return {};
    const o = this.obj(v, path);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) {
      if (typeof val !== 'string') this.fail(`${path}.${k}`, 'label values must be strings');
      out[k] = val;
    }
    return out;
  }
  protocol(v: unknown, path: string): Protocol {
    if (v === undefined || v === null) return 'TCP';
    if (typeof v !== 'string' || !(PROTOCOLS as readonly string[]).includes(v)) this.fail(path, 'must be TCP, UDP or SCTP');
    return v as Protocol;
  }
  port(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) this.fail(path, 'must be a port number 1..65535');
    return v;
  }
}

function readEndpoint(r: Reader, v: unknown, path: string): string {
  const s = r.str(v, path);
  if (s === 'node' || s.startsWith('ext:') || s.includes('/') || parseIP(s)) return s;
  r.fail(path, `must be node, ns/pod, ext:<name> or an IP address, got ${JSON.stringify(s)}`);
}

function readGroup(r: Reader, raw: unknown, path: string, podNames: ReadonlySet<string>): ProbeGroup {
  const g = r.obj(raw, path);
  const port = r.port(g.port, `${path}.port`);
  const protocol = r.protocol(g.protocol, `${path}.protocol`);
  const family = g.family === undefined || g.family === null ? 'IPv4' : g.family;
  if (family !== 'IPv4' && family !== 'IPv6') r.fail(`${path}.family`, 'must be IPv4 or IPv6');
  let order: string[] = [];
  const cells: MatrixCell[] = [];
  let matrixText: string | undefined;
  if (g.expect !== undefined && g.expect !== null) {
    const ex = r.obj(g.expect, `${path}.expect`);
    order = r.list(ex.order, `${path}.expect.order`, false).map((x, i) => r.str(x, `${path}.expect.order[${i}]`));
    for (const [i, p] of order.entries()) if (!podNames.has(p)) r.fail(`${path}.expect.order[${i}]`, `unknown pod ${p}`);
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
    const kind = p.kind === undefined || p.kind === null ? 'connect' : p.kind;
    if (kind !== 'connect' && kind !== 'reply') r.fail(`${pp}.kind`, 'must be connect or reply');
    if (p.expect !== 'allow' && p.expect !== 'deny') r.fail(`${pp}.expect`, 'must be allow or deny');
    const pair: ProbePair = {
      from: readEndpoint(r, p.from, `${pp}.from`),
      to: readEndpoint(r, p.to, `${pp}.to`),
      kind,
      expect: p.expect === 'allow',
      ...(typeof p.note === 'string' ? { note: p.note } : {}),
    };
    return pair;
  });
  return {
    port, protocol, family, order, cells, pairs,
    ...(matrixText !== undefined ? { matrixText } : {}),
    ...(typeof g.note === 'string' ? { note: g.note } : {}),
  };
}

/** Parses one case file's text. Throws CaseFormatError naming the file and field. */
export function parseCase(text: string, file: string): ConformanceCase {
  const r = new Reader(file);
  let doc: unknown;
  try {
    doc = parseYAML(text);
  } catch (e) {
    throw new CaseFormatError(`${file}: bad YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const c = r.obj(doc, '(root)');
  const name = r.str(c.name, 'name');
  const namespaces: CaseNamespace[] = r.list(c.namespaces, 'namespaces', false).map((x, i) => {
    const n = r.obj(x, `namespaces[${i}]`);
    return { name: r.str(n.name, `namespaces[${i}].name`), labels: r.labels(n.labels, `namespaces[${i}].labels`) };
  });
  const pods: CasePod[] = r.list(c.pods, 'pods', false).map((x, i) => {
    const path = `pods[${i}]`;
    const p = r.obj(x, path);
    const containerPorts: CaseContainerPort[] = r.list(p.containerPorts, `${path}.containerPorts`).map((y, j) => {
      const cp = r.obj(y, `${path}.containerPorts[${j}]`);
      const port = r.port(cp.containerPort, `${path}.containerPorts[${j}].containerPort`);
      const protocol = r.protocol(cp.protocol, `${path}.containerPorts[${j}].protocol`);
      return typeof cp.name === 'string' && cp.name ? { name: cp.name, containerPort: port, protocol } : { containerPort: port, protocol };
    });
    const pod: CasePod = {
      namespace: r.str(p.namespace, `${path}.namespace`),
      name: r.str(p.name, `${path}.name`),
      labels: r.labels(p.labels, `${path}.labels`),
      ip: r.ip(p.ip, `${path}.ip`, 'IPv4'),
      ...(p.ipv6 !== undefined && p.ipv6 !== null ? { ipv6: r.ip(p.ipv6, `${path}.ipv6`, 'IPv6') } : {}),
      containerPorts,
    };
    return pod;
  });
  const podNames = new Set(pods.map((p) => `${p.namespace}/${p.name}`));
  const externals: CaseExternal[] = r.list(c.externals, 'externals').map((x, i) => {
    const e = r.obj(x, `externals[${i}]`);
    const ext: CaseExternal = {
      name: r.str(e.name, `externals[${i}].name`),
      ...(e.ip !== undefined && e.ip !== null ? { ip: r.ip(e.ip, `externals[${i}].ip`, 'IPv4') } : {}),
      ...(e.ipv6 !== undefined && e.ipv6 !== null ? { ipv6: r.ip(e.ipv6, `externals[${i}].ipv6`, 'IPv6') } : {}),
    };
    return ext;
  });
  const steps: CaseStep[] = r.list(c.steps, 'steps', false).map((x, i) => {
    const path = `steps[${i}]`;
    const s = r.obj(x, path);
    return {
      delete: r.list(s.delete, `${path}.delete`).map((d, j) => {
        const o = r.obj(d, `${path}.delete[${j}]`);
        return { namespace: r.str(o.namespace, `${path}.delete[${j}].namespace`), name: r.str(o.name, `${path}.delete[${j}].name`) };
      }),
      apply: r.list(s.apply, `${path}.apply`),
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
      probes: r.list(s.probes, `${path}.probes`).map((g, j) => readGroup(r, g, `${path}.probes[${j}]`, podNames)),
    };
  });
  return {
    name,
    file,
    namespaces,
    pods,
    nodeIP: r.ip(c.nodeIP, 'nodeIP', 'IPv4'),
    ...(c.nodeIPv6 !== undefined && c.nodeIPv6 !== null ? { nodeIPv6: r.ip(c.nodeIPv6, 'nodeIPv6', 'IPv6') } : {}),
    externals,
    steps,
  };
}

/** Every *.yaml / *.yml case of the folder, sorted by file name. */
export function loadCases(dir: string = defaultCasesDir()): ConformanceCase[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
  return files.map((f) => {
    const file = join(dir, f);
    return parseCase(readFileSync(file, 'utf8'), file);
  });
}

// ---------------------------------------------------------------------------------------------
// Cases as Kubernetes objects

export function namespaceObject(n: CaseNamespace): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.name, labels: { ...n.labels } } };
}

export function podObject(p: CasePod, labels: Readonly<Record<string, string>> = p.labels): Obj {
  const ips = [p.ip, ...(p.ipv6 ? [p.ipv6] : [])];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: p.namespace, name: p.name, labels: { ...labels } },
    spec: {
      nodeName: CASE_NODE_NAME,
      containers: [{
        name: 'server',
        image: 'registry.k8s.io/e2e-test-images/agnhost:2.47',
        ports: p.containerPorts.map((cp) => (cp.name ? { name: cp.name, containerPort: cp.containerPort, protocol: cp.protocol } : { containerPort: cp.containerPort, protocol: cp.protocol })),
      }],
    },
    status: { phase: 'Running', podIP: p.ip, podIPs: ips.map((ip) => ({ ip })) },
  };
}

export function nodeObject(c: ConformanceCase): Obj {
  const addresses = [{ type: 'InternalIP', address: c.nodeIP }];
  if (c.nodeIPv6) addresses.push({ type: 'InternalIP', address: c.nodeIPv6 });
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: CASE_NODE_NAME }, status: { addresses } };
}

function decodeInto(state: ClusterState, raw: unknown, source: string, errors: ObjectError[]): void {
  const d = decodeObject(raw, source);
  if (d.kind === 'invalid') errors.push(...d.errors);
  applyDecoded(state, d);
}

/** The case's cluster before any step: namespaces, pods (Running on node-1) and the node. */
export function buildClusterForCase(c: ConformanceCase): ClusterState {
  const state = new ClusterState();
  const errors: ObjectError[] = [];
  state.batch(() => {
    for (const n of c.namespaces) decodeInto(state, namespaceObject(n), `${c.file}:namespaces`, errors);
    for (const p of c.pods) decodeInto(state, podObject(p), `${c.file}:pods`, errors);
    decodeInto(state, nodeObject(c), `${c.file}:nodeIP`, errors);
  });
  if (errors.length) throw new CaseFormatError(errors.map(formatObjectError).join('; '));
  return state;
}

/**
 * Applies one step as one batch: deletes, then applies (decoded like any manifest; invalid
 * policies are rejected and returned), then namespace and pod relabels (the FULL new label set).
 */
export function applyStep(state: ClusterState, step: CaseStep, source = 'step'): ObjectError[] {
  const errors: ObjectError[] = [];
  state.batch(() => {
    for (const d of step.delete) state.deletePolicy(`${d.namespace}/${d.name}`);
    step.apply.forEach((raw, i) => decodeInto(state, raw, `${source}.apply[${i}]`, errors));
    for (const n of step.relabelNamespaces) decodeInto(state, namespaceObject(n), `${source}.relabelNamespaces`, errors);
    for (const rp of step.relabelPods) {
      const key = `${rp.namespace}/${rp.name}`;
      const pod = state.pods.get(key);
      if (pod) state.upsertPod({ ...pod, labels: { ...rp.labels } });
      else errors.push({ object: `Pod ${key}`, field: 'relabelPods', message: 'no such pod', source });
    }
  });
  return errors;
}

/** Raw objects of the whole cluster after steps 0..stepIndex, in apply order. */
export function objectsForStep(c: ConformanceCase, stepIndex: number): Obj[] {
  if (stepIndex < 0 || stepIndex >= c.steps.length) throw new RangeError(`${c.file}: no step ${stepIndex}`);
  const nsLabels = new Map(c.namespaces.map((n) => [n.name, n.labels] as const));
  const podLabels = new Map(c.pods.map((p) => [`${p.namespace}/${p.name}`, p.labels] as const));
  const policies = new Map<string, unknown>();
  for (let i = 0; i <= stepIndex; i++) {
    const s = c.steps[i]!;
    for (const d of s.delete) policies.delete(`${d.namespace}/${d.name}`);
    for (const raw of s.apply) {
      const md = isObj(raw) && isObj(raw.metadata) ? raw.metadata : {};
      // Same key as the state uses; an object without one keeps its own slot so it still
      // shows up (and is reported) when the manifests are loaded.
      policies.set(typeof md.name === 'string' ? `${String(md.namespace)}/${md.name}` : `#unnamed-${i}-${policies.size}`, raw);
    }
    for (const n of s.relabelNamespaces) nsLabels.set(n.name, n.labels);
    for (const p of s.relabelPods) podLabels.set(`${p.namespace}/${p.name}`, p.labels);
  }
  const out: Obj[] = [];
  for (const n of c.namespaces) out.push(namespaceObject({ name: n.name, labels: nsLabels.get(n.name)! }));
  out.push(nodeObject(c));
  for (const p of c.pods) out.push(podObject(p, podLabels.get(`${p.namespace}/${p.name}`)!));
  for (const raw of policies.values()) out.push(raw as Obj);
  return out;
}

/**
 * The whole cluster after step `stepIndex` as multi-document YAML (Namespaces, Node, Pods,
 * NetworkPolicies). Every string is double-quoted so YAML 1.1 readers (kubectl) do not turn
 * namespace "y" into a boolean.
 */
export function manifestsForStep(c: ConformanceCase, stepIndex: number): string {
  return objectsForStep(c, stepIndex)
    .map((o) => stringifyYAML(o, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' }))
    .join('---\n');
}

// ---------------------------------------------------------------------------------------------
// Probes

/** The address of an endpoint ("node", "ns/pod", "ext:<name>" or a literal IP) in a family. */
export function endpointAddress(c: ConformanceCase, endpoint: string, family: Family): string {
  let ip: string | undefined;
  if (endpoint === 'node') ip = family === 'IPv4' ? c.nodeIP : c.nodeIPv6;
  else if (endpoint.startsWith('ext:')) {
    const ext = c.externals.find((e) => e.name === endpoint.slice(4));
    if (!ext) throw new CaseFormatError(`${c.file}: unknown external ${endpoint}`);
    ip = family === 'IPv4' ? ext.ip : ext.ipv6;
  } else if (endpoint.includes('/')) {
    const pod = c.pods.find((p) => `${p.namespace}/${p.name}` === endpoint);
    if (!pod) throw new CaseFormatError(`${c.file}: unknown pod ${endpoint}`);
    ip = family === 'IPv4' ? pod.ip : pod.ipv6;
  } else {
    const p = parseIP(endpoint);
    ip = p && p.family === family ? canonicalIP(endpoint) : undefined;
  }
  if (!ip) throw new CaseFormatError(`${c.file}: ${endpoint} has no ${family} address`);
  return ip;
}

/** Every probe of a group: matrix cells (new connections) then pairs, with addresses resolved. */
export function probesForGroup(c: ConformanceCase, group: ProbeGroup): CaseProbe[] {
  const out: CaseProbe[] = [];
  const base = { port: group.port, protocol: group.protocol, family: group.family };
  for (const cell of group.cells) {
    out.push({
      ...base, from: cell.from, to: cell.to,
      src: endpointAddress(c, cell.from, group.family), dst: endpointAddress(c, cell.to, group.family),
      expect: cell.allow, kind: 'connect', origin: 'matrix',
    });
  }
  for (const pair of group.pairs) {
    out.push({
      ...base, from: pair.from, to: pair.to,
      src: endpointAddress(c, pair.from, group.family), dst: endpointAddress(c, pair.to, group.family),
      expect: pair.expect, kind: pair.kind, origin: 'pair',
    });
  }
  return out;
}

/** "case-file step N probes[M] TCP/80 IPv4 x/a -> y/b (connect)": names a probe in test messages. */
export function probeLabel(c: ConformanceCase, stepIndex: number, groupIndex: number, p: CaseProbe): string {
  const file = c.file.split('/').pop();
  return `${file} step ${stepIndex} probes[${groupIndex}] ${p.protocol}/${p.port} ${p.family} ${p.from} -> ${p.to} (${p.kind}, ${p.origin})`;
}
