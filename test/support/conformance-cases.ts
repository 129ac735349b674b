// The shared conformance cases: the NetworkPolicy cases (../shared/conformance/cases) and the
// ClusterNetworkPolicy cases (../shared/conformance/cnp/cases), formats in their READMEs and
// read by case-format.ts. Here: loading the folders, turning a case into cluster state (through
// the same decoder the kube and file sources use, so a case is judged exactly like a real
// cluster), applying its steps, writing the cluster after a step as manifests, and expanding
// its expectations into single probes. Test code: used by the evaluator and compiled engine
// tests, the classifier and CLI tests and the lab's conformance run; the product never loads it.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyYAML } from 'yaml';
import type { Family, ObjectError, Protocol } from '../../src/cluster/model.ts';
import { formatObjectError } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { applyDecoded, decodeObject } from '../../src/cluster/decode.ts';
import { keyOfObject, kindEntry } from '../../src/cluster/kinds.ts';
import {
  CaseFormatError, endpointAddress, isObj, parseCase,
  type CaseNamespace, type CaseNode, type CasePod, type CaseStep, type ConformanceCase, type ProbeGroup,
} from './case-format.ts';

export * from './case-format.ts';

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

// ---------------------------------------------------------------------------------------------
// Loading

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The NetworkPolicy cases folder: $PALISADE_CONFORMANCE_DIR, else ../shared/conformance/cases next to the repo. */
export function defaultCasesDir(): string {
  const env = process.env.PALISADE_CONFORMANCE_DIR;
  if (env) return resolve(env);
  return resolve(REPO_ROOT, '..', 'shared', 'conformance', 'cases');
}

/**
 * The ClusterNetworkPolicy cases folder: $PALISADE_CNP_CONFORMANCE_DIR; else, when
 * $PALISADE_CONFORMANCE_DIR names another cases folder, the cnp/cases beside it if there is one
 * (the shared layout: conformance/cases and conformance/cnp/cases); else the shared one.
 */
export function defaultCnpCasesDir(): string {
  const env = process.env.PALISADE_CNP_CONFORMANCE_DIR;
  if (env) return resolve(env);
  const np = process.env.PALISADE_CONFORMANCE_DIR;
  if (np) {
    const beside = resolve(np, '..', 'cnp', 'cases');
    if (existsSync(beside)) return beside;
  }
  return resolve(REPO_ROOT, '..', 'shared', 'conformance', 'cnp', 'cases');
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

type Obj = Record<string, unknown>;

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
      nodeName: p.node,
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{
        name: 'server',
        image: 'registry.k8s.io/e2e-test-images/agnhost:2.47',
        ports: p.containerPorts.map((cp) => (cp.name ? { name: cp.name, containerPort: cp.containerPort, protocol: cp.protocol } : { containerPort: cp.containerPort, protocol: cp.protocol })),
      }],
    },
    // A hostNetwork pod's ips are its node's (the loader checked), as the kubelet reports them.
    status: { phase: 'Running', podIP: p.ip, podIPs: ips.map((ip) => ({ ip })) },
  };
}

export function nodeObject(n: CaseNode): Obj {
  const addresses = [{ type: 'InternalIP', address: n.ip }];
  if (n.ipv6) addresses.push({ type: 'InternalIP', address: n.ipv6 });
  const metadata = Object.keys(n.labels).length ? { name: n.name, labels: { ...n.labels } } : { name: n.name };
  return { apiVersion: 'v1', kind: 'Node', metadata, status: { addresses } };
}

function decodeInto(state: ClusterState, raw: unknown, source: string, errors: ObjectError[]): void {
  const d = decodeObject(raw, source);
  if (d.kind === 'invalid') errors.push(...d.errors);
  applyDecoded(state, d);
}

/** The case's cluster before any step: namespaces, pods (Running on their nodes) and the nodes. */
export function buildClusterForCase(c: ConformanceCase): ClusterState {
  const state = new ClusterState();
  const errors: ObjectError[] = [];
  state.batch(() => {
    for (const n of c.namespaces) decodeInto(state, namespaceObject(n), `${c.file}:namespaces`, errors);
    for (const p of c.pods) decodeInto(state, podObject(p), `${c.file}:pods`, errors);
    for (const n of c.nodes) decodeInto(state, nodeObject(n), `${c.file}:${c.multiNode ? 'nodes' : 'nodeIP'}`, errors);
  });
  if (errors.length) throw new CaseFormatError(errors.map(formatObjectError).join('; '));
  return state;
}

/**
 * Applies one step as one batch: deletes (any kind, by its state key), then applies (decoded
 * like any manifest; invalid objects are rejected and returned), then namespace and pod
 * relabels (the FULL new label set).
 */
export function applyStep(state: ClusterState, step: CaseStep, source = 'step'): ObjectError[] {
  const errors: ObjectError[] = [];
  state.batch(() => {
    for (const d of step.delete) state.delete(d.kind, d.key);
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

/** "Kind key" of a raw object, with the key the cluster state gives it; undefined without kind or name. */
function rawObjectId(raw: unknown): string | undefined {
  if (!isObj(raw) || typeof raw.kind !== 'string') return undefined;
  const entry = kindEntry(raw.kind);
  const md = isObj(raw.metadata) ? raw.metadata : {};
  if (!entry || typeof md.name !== 'string') return undefined;
  return `${entry.kind} ${keyOfObject(entry, { name: md.name, namespace: String(md.namespace) })}`;
}

/** Raw objects of the whole cluster after steps 0..stepIndex: namespaces, nodes, pods, then what the steps applied, in apply order. */
export function objectsForStep(c: ConformanceCase, stepIndex: number): Obj[] {
  if (stepIndex < 0 || stepIndex >= c.steps.length) throw new RangeError(`${c.file}: no step ${stepIndex}`);
  // Keyed like the state ("Kind key"), so a step's apply replaces and its delete removes exactly
  // what they do in applyStep; a Map keeps the first insertion's place on replace.
  const objects = new Map<string, Obj>();
  for (const n of c.namespaces) objects.set(`Namespace ${n.name}`, namespaceObject(n));
  for (const n of c.nodes) objects.set(`Node ${n.name}`, nodeObject(n));
  for (const p of c.pods) objects.set(`Pod ${p.namespace}/${p.name}`, podObject(p));
  for (let i = 0; i <= stepIndex; i++) {
    const s = c.steps[i]!;
    for (const d of s.delete) objects.delete(`${d.kind} ${d.key}`);
    s.apply.forEach((raw, j) => {
      // An object without a name keeps its own slot so it still shows up (and is reported) when
      // the manifests are loaded.
      objects.set(rawObjectId(raw) ?? `#unnamed-${i}-${j}`, raw as Obj);
    });
    for (const n of s.relabelNamespaces) objects.set(`Namespace ${n.name}`, namespaceObject(n));
    for (const p of s.relabelPods) {
      const id = `Pod ${p.namespace}/${p.name}`;
      const o = objects.get(id);
      if (!o) continue; // applyStep reports it
      const md = isObj(o.metadata) ? o.metadata : {};
      objects.set(id, { ...o, metadata: { ...md, labels: { ...p.labels } } });
    }
  }
  return [...objects.values()];
}

/**
 * The whole cluster after step `stepIndex` as multi-document YAML (Namespaces, Nodes, Pods,
 * policies). Every string is double-quoted so YAML 1.1 readers (kubectl) do not turn
 * namespace "y" into a boolean.
 */
export function manifestsForStep(c: ConformanceCase, stepIndex: number): string {
  return objectsForStep(c, stepIndex)
    .map((o) => stringifyYAML(o, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' }))
    .join('---\n');
}

// ---------------------------------------------------------------------------------------------
// Probes

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
