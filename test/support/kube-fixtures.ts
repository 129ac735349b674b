// Raw API objects and a harness (fake API server + kubeconfig + KubeSource + ClusterState) for
// the kube source tests.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterState } from '../../src/cluster/state.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import type { Protocol } from '../../src/cluster/model.ts';
import { decodeObject } from '../../src/cluster/decode.ts';
import { sameValue } from '../../src/sources/kube-apply.ts';
import { KubeSource, type KubeSourceOptions } from '../../src/sources/kube-source.ts';
import type { Log } from '../../src/sources/log.ts';
import { FakeApiServer, type FakeApiServerOptions, type RawObject } from '../../support/fake-apiserver.ts';

export function ns(name: string, labels: Record<string, string> = {}): RawObject {
  return { kind: 'Namespace', apiVersion: 'v1', metadata: { name, labels } };
}

export function node(name: string, ip: string): RawObject {
  return { kind: 'Node', apiVersion: 'v1', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } };
}

export function pod(namespace: string, name: string, labels: Record<string, string>, ip: string, nodeName = 'node-1'): RawObject {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { namespace, name, labels, annotations: { note: 'fixture' } },
    spec: {
      nodeName,
      containers: [{ name: 'main', image: 'registry.k8s.io/e2e-test-images/agnhost:2.47', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }],
    },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

export function policy(namespace: string, name: string, spec: Record<string, unknown>): RawObject {
  return { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace, name }, spec };
}

/** Polls until check() is truthy; fails with `what` after the deadline (the only time bound used). */
export async function waitFor(what: string, check: () => unknown, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

export function captureLogger(lines: LogLine[]): Log {
  return (level, msg, fields) => {
    lines.push({ level, msg, fields: fields ?? {} });
  };
}

export interface Harness {
  readonly server: FakeApiServer;
  readonly state: ClusterState;
  readonly source: KubeSource;
  readonly logs: LogLine[];
  readonly kubeconfig: string;
  /** Change batches delivered to state listeners. */
  readonly batches: number[];
  /** The compiled engine, fed incrementally with every batch the source delivers. */
  readonly engine: CompiledEngine;
  close(): Promise<void>;
}

/** The small cluster most tests start from: namespaces x and y, node-1, pods x/a, x/b, y/a. */
export function seed(server: FakeApiServer): void {
  server.apply(ns('x', { ns: 'x' }));
  server.apply(ns('y', { ns: 'y' }));
  server.apply(node('node-1', '10.0.0.1'));
  server.apply(pod('x', 'a', { pod: 'a' }, '10.244.1.1'));
  server.apply(pod('x', 'b', { pod: 'b' }, '10.244.1.2'));
  server.apply(pod('y', 'a', { pod: 'a' }, '10.244.2.1'));
}

export async function startHarness(
  opts: { server?: FakeApiServerOptions; source?: Partial<KubeSourceOptions>; seed?: (s: FakeApiServer) => void; sync?: boolean } = {},
): Promise<Harness> {
  const server = await FakeApiServer.start({ token: 'test-token', ...opts.server });
  (opts.seed ?? seed)(server);
  const dir = mkdtempSync(join(tmpdir(), 'palisade-kube-'));
  const kubeconfig = server.writeKubeconfig(join(dir, 'kubeconfig'));
  const logs: LogLine[] = [];
  const source = new KubeSource({
    kubeconfig,
    nodeName: 'node-1',
    backoffInitialMs: 100,
    backoffMaxMs: 1000,
    resyncMs: 0,
    log: captureLogger(logs),
    ...opts.source,
  });
  const state = new ClusterState();
  const batches: number[] = [];
  state.onChange((changes) => batches.push(changes.length));
  const engine = new CompiledEngine(state);
  state.onChange((changes) => engine.update(changes));
  if (opts.sync !== false) await source.start(state);
  return {
    server, state, source, logs, kubeconfig, batches, engine,
    async close() {
      await source.stop();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Whether src -> dst:port is allowed, per the evaluator on the ClusterState AND the compiled
 * engine that followed the source's batches incrementally; throws when they disagree.
 */
export function verdict(h: Harness, src: string, dst: string, port = 80, protocol: Protocol = 'TCP'): boolean {
  const conn = { src, dst, protocol, port };
  const oracle = evaluate(h.state, conn).allowed;
  const compiled = h.engine.decide(conn).allowed;
  if (oracle !== compiled) throw new Error(`engines disagree on ${src} -> ${dst}:${port}/${protocol}: evaluator ${oracle}, compiled ${compiled}`);
  return oracle;
}

/**
 * Differences between the ClusterState and what the server holds, decoded independently (empty
 * when the state mirrors the server exactly; invalid objects are expected in `rejected`).
 */
export function mirrorDiff(h: Harness): string[] {
  const diffs: string[] = [];
  const maps = { Namespace: h.state.namespaces, Pod: h.state.pods, Node: h.state.nodes, NetworkPolicy: h.state.policies } as const;
  for (const kind of ['Namespace', 'Pod', 'Node', 'NetworkPolicy'] as const) {
    const want = new Map<string, unknown>();
    for (const o of h.server.list(kind)) {
      const d = decodeObject(o);
      const key = o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
      if (d.kind === 'invalid') {
        if (!h.state.rejected.has(`${kind} ${key}`)) diffs.push(`${kind} ${key}: invalid on the server but not rejected`);
        continue;
      }
      if (d.kind === kind) want.set(key, d.value);
    }
    const have = maps[kind] as ReadonlyMap<string, unknown>;
    for (const [k, v] of want) {
      if (!have.has(k)) diffs.push(`${kind} ${k}: missing`);
      else if (!sameValue(have.get(k), v)) diffs.push(`${kind} ${k}: stale`);
    }
    for (const k of have.keys()) if (!want.has(k) && !h.state.rejected.has(`${kind} ${k}`)) diffs.push(`${kind} ${k}: gone on the server`);
  }
  return diffs;
}
