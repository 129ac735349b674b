// Random operation sequences on ONE compiled engine, for test/policy/incremental-ops.test.ts.
//
// support/differential.ts starts a fresh random cluster every dozen batches; here a single engine
// lives through hundreds of small operations (mostly one object at a time, as a watch delivers
// them, sometimes a few in one batch), with converge() steps of random size between them, so the
// incremental paths pile up on each other: identities extended then dropped, chains left half
// converged across the next update, tables shared then split, rule ids retired, the arena
// compacted, node classes regrown. Every few operations a sample of connections is judged by
// the engine's JavaScript snapshot, by a WebAssembly copy of it (each copy taking over the
// memory of the one before, as the agent's do), by the plain evaluator on the same state and by
// a freshly compiled engine; the full Decision is compared (verdict, each side's reason,
// isolating policies and the deciding rule with its tier and action, pod names), and a
// published snapshot must keep its answers after later updates.
//
// A run is recorded as concrete steps (the objects upserted or deleted, the converge sizes, the
// checks), so a mismatch is replayed and shrunk (minimise): steps and operations are dropped
// while the same connection still disagrees, leaving a short list to read or turn into a test.

import type { ClusterPolicy, ClusterPolicyRule, Namespace, NetworkPolicy, Node, Pod } from '../src/cluster/model.ts';
import { clusterPolicyId, podKey } from '../src/cluster/model.ts';
import { KIND, keyOfObject, type ObjectKind } from '../src/cluster/kinds.ts';
import { ClusterState } from '../src/cluster/state.ts';
import { CompiledEngine, decideOn } from '../src/policy/compiler.ts';
import type { Connection } from '../src/policy/decision.ts';
import { evaluate } from '../src/policy/evaluator.ts';
import type { RuleSnapshot } from '../src/policy/engine-api.ts';
import type { EngineStats } from '../src/policy/engine-stats.ts';
import { wasmCopyOf, type WasmSnapshot } from '../src/policy/wasm-snapshot.ts';
import { parseIP } from '../src/net/address.ts';
import { canonical, stopAtDenialDiffers } from './differential.ts';
import { randomClusterPolicy, randomNodeLabels, relearnDomainNames } from './random-cluster-policies.ts';
import {
  Rng, draws, formatIP, probeAddresses, randomCluster, randomLabels, randomPod, randomPolicy, randomPorts, randomProbe, randomSelector,
} from './random-cluster.ts';

/** One object stored or removed, as a source delivers it. */
export type Op =
  | { readonly t: 'upsert'; readonly kind: ObjectKind; readonly value: unknown; readonly what: string }
  | { readonly t: 'delete'; readonly kind: ObjectKind; readonly key: string; readonly what: string };

export type Step =
  | { readonly t: 'batch'; readonly ops: readonly Op[] }
  /** converge(max) once, or until no work is left (`all`). */
  | { readonly t: 'converge'; readonly max: number; readonly all: boolean }
  /** A check point: the run made a WebAssembly copy of the snapshot here (replays make it too). */
  | { readonly t: 'check' };

export interface OpsOptions {
  readonly seed: number;
  /** Operations (objects changed) to apply after the first compile. */
  readonly ops: number;
  /** Connections judged at each check point. */
  readonly tuples: number;
  readonly localNode?: string;
  readonly maxMismatches?: number;
  /** The oracle (default: the plain evaluator); tests pass a broken one to prove a run can fail. */
  readonly oracle?: typeof evaluate;
  /** The engine's CompileOptions.chainAbove (default: the engine's, every tier table a chain first). */
  readonly chainAbove?: number;
  /** Pods of the first compile (default: the random cluster's 4-18; at most 200). */
  readonly pods?: number;
  /**
   * More pods at the first compile, on addresses of their own (10.3.x.y, fd00::3:x): a few
   * hundred put the slot records and address maps over several pages (word-pages.ts).
   */
  readonly extraPods?: number;
}

/** Who disagreed with the engine's snapshot; 'throws': the engine threw (`got` is the message). */
export type Against = 'evaluator' | 'wasm-copy' | 'fresh-compile' | 'old-snapshot' | 'stop-at-denial' | 'throws';

export interface OpsMismatch {
  readonly seed: number;
  readonly against: Against;
  readonly conn: Connection;
  readonly expected: string;
  readonly got: string;
  /** Steps up to the mismatch, and the shrunk list (still failing on `conn`), both replayable. */
  readonly steps: readonly Step[];
  readonly minimal: readonly Step[];
}

export interface OpsResult {
  readonly ops: number;
  readonly checks: number;
  readonly tuples: number;
  readonly converges: number;
  readonly wasmCopies: number;
  /** Times the engine started over from its mirror (its rule ids counted down: update()'s rebuild). */
  readonly restarts: number;
  readonly stats: EngineStats;
  readonly mismatches: OpsMismatch[];
}

const NAMESPACES = ['ns0', 'ns1', 'ns2', 'ns3', 'ns7', 'orphan'];
const NODE_NAMES = ['node-1', 'node-2', 'node-3'];
const NODE_ADDRESSES = ['192.168.0.1', '192.168.0.2', '192.168.0.3', 'fd01::1', 'fd01::2', '10.1.0.1', '10.1.1.1'];
const OUTSIDE = ['10.1.0.200', '10.1.99.1', '8.8.8.8', '192.168.0.3', '10.2.0.1', 'fd00::ff:1', '2001:db8::1', 'fd01::2'];
const CLUSTER_KINDS = ['ClusterNetworkPolicy', 'ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'] as const;

function up(kind: ObjectKind, value: unknown, what: string): Op {
  return { t: 'upsert', kind, value, what };
}
function del(kind: ObjectKind, key: string, what: string): Op {
  return { t: 'delete', kind, key, what };
}

function addressesOf(state: ClusterState): string[] {
  const a = probeAddresses(state, OUTSIDE);
  return [...a.v4, ...a.v6];
}

/** New addresses for a pod: its own of either family or both, none, another pod's, a node's. */
function newIPs(r: Rng, state: ClusterState, p: Pod, i: number): string[] {
  const own4 = `10.1.${8 + (i >> 8)}.${(i & 255) || 1}`;
  const own6 = formatIP(parseIP(`fd00::8:${i.toString(16)}`)!);
  const taken = [...state.pods.values()].flatMap((q) => (q === p ? [] : q.ips));
  switch (r.int(8)) {
    case 0: return [];
    case 1: return [own6];
    case 2: return [own4, own6];
    case 3: case 4: return taken.length ? [r.pick(taken)] : [own4];
    case 5: return [r.pick(NODE_ADDRESSES)];
    default: return [own4];
  }
}

function podOp(r: Rng, state: ClusterState, serial: number): Op {
  const pods = [...state.pods.values()];
  const nodes = [...state.nodes.values()];
  // Adds more likely while the cluster is small, so pod churn neither empties nor floods it.
  const k = !pods.length || r.chance(pods.length < 12 ? 0.2 : 0.05) ? 0 : r.range(1, 8);
  if (k === 0) {
    const ns = r.pick(NAMESPACES);
    const taken = pods.flatMap((p) => p.ips);
    const drawn = randomPod(r, ns, `n${serial}`, 100 + (serial % 150), nodes.length ? nodes : [{ name: 'node-1', addresses: [] }], taken);
    // Often a replacement pod: another's address, under a key before or after the holder's.
    const p = taken.length && !drawn.hostNetwork && r.chance(0.2) ? { ...drawn, name: r.pick(['a', 'z']) + drawn.name, ips: [r.pick(taken)] } : drawn;
    return up('Pod', p, `add pod ${podKey(p)} ips [${p.ips}]${p.hostNetwork ? ' hostNetwork' : ''} phase ${p.phase}`);
  }
  // Pods sharing an address with another (a replacement and its stale object) half the time:
  // which of them owns it turns on phases and keys, easy to leave stale in an update.
  const shared = pods.filter((p) => p.ips.some((ip) => pods.some((q) => q !== p && q.ips.includes(ip))));
  const p = shared.length && r.chance(0.5) ? r.pick(shared) : r.pick(pods);
  const key = podKey(p);
  switch (k) {
    case 1: return del('Pod', key, `delete pod ${key}`);
    case 2: case 3: {
      const labels = randomLabels(r);
      return up('Pod', { ...p, labels }, `relabel pod ${key} {${Object.entries(labels).map(([a, b]) => `${a}=${b}`)}}`);
    }
    case 4: {
      const ips = newIPs(r, state, p, serial);
      return up('Pod', { ...p, ips }, `pod ${key} ips [${p.ips}] -> [${ips}]`);
    }
    case 5: {
      // spec.hostNetwork cannot change on a real pod, but a pod deleted and created again under the
      // same name in one batch can: the engine sees one upsert.
      const node = state.nodes.get(p.nodeName ?? '');
      const ips = !p.hostNetwork ? [...(node?.addresses ?? [])] : newIPs(r, state, p, serial);
      return up('Pod', { ...p, hostNetwork: !p.hostNetwork, ips }, `pod ${key} hostNetwork ${!p.hostNetwork} ips [${ips}]`);
    }
    case 6: {
      const ports = randomPorts(r);
      return up('Pod', { ...p, ports }, `pod ${key} ports ${ports.map((q) => `${q.name ?? ''}:${q.containerPort}/${q.protocol}`)}`);
    }
    case 7: {
      // A pod sharing an address mostly flips between the two phases that keep it live: the
      // claim's winner may change while its addresses do not.
      const phase = shared.includes(p) && r.chance(0.7) ? (p.phase === 'Running' ? 'Pending' : 'Running') : r.pick(['Running', 'Pending', 'Succeeded', 'Failed']);
      return up('Pod', { ...p, phase }, `pod ${key} phase ${phase}`);
    }
    default: {
      const nodeName = r.pick([...NODE_NAMES, 'node-9']);
      return up('Pod', { ...p, nodeName }, `pod ${key} to ${nodeName}`);
    }
  }
}

function namespaceOp(r: Rng, state: ClusterState): Op {
  const name = r.pick(NAMESPACES);
  if (state.namespaces.has(name) && r.chance(0.3)) return del('Namespace', name, `delete namespace ${name}`);
  const labels = { ...randomLabels(r, 2), 'kubernetes.io/metadata.name': name };
  const ns: Namespace = { name, labels };
  return up('Namespace', ns, `${state.namespaces.has(name) ? 'relabel' : 'add'} namespace ${name} {${Object.entries(labels).map(([a, b]) => `${a}=${b}`)}}`);
}

function nodeOp(r: Rng, state: ClusterState): Op {
  const name = r.pick(NODE_NAMES);
  const old = state.nodes.get(name);
  if (old && r.chance(0.2)) return del('Node', name, `delete node ${name}`);
  if (old && r.chance(0.4)) return up('Node', { ...old, labels: randomNodeLabels(r) }, `relabel node ${name}`);
  const addresses = [...new Set(r.some(NODE_ADDRESSES, 3))];
  const n: Node = { name, labels: old?.labels ?? randomNodeLabels(r), addresses };
  return up('Node', n, `${old ? 'readdress' : 'add'} node ${name} [${addresses}]`);
}

function policyOp(r: Rng, state: ClusterState): Op {
  const policies = [...state.policies.values()];
  const addresses = addressesOf(state);
  // Adds (and replacements, when the name is taken) twice as likely as the rest: the cluster keeps some.
  const k = policies.length ? Math.max(0, r.int(7) - 1) : 0;
  if (k === 0) {
    const p = randomPolicy(r, r.pick(NAMESPACES), `q${r.int(6)}`, addresses);
    return up('NetworkPolicy', p, `upsert policy ${podKey(p)}`);
  }
  const old = r.pick(policies);
  const key = podKey(old);
  switch (k) {
    case 1: return del('NetworkPolicy', key, `delete policy ${key}`);
    case 2: return up('NetworkPolicy', { ...old, podSelector: randomSelector(r, 0.35) }, `policy ${key}: new podSelector`);
    case 3: {
      // One rule dropped, or one rule of a fresh draw added: most of the policy stays.
      const fresh = randomPolicy(r, old.namespace, old.name, addresses);
      const dir = r.pick(['ingress', 'egress'] as const);
      const rules = [...old[dir]];
      if (rules.length && r.chance(0.5)) rules.splice(r.int(rules.length), 1);
      else if (fresh[dir].length) rules.splice(r.int(rules.length + 1), 0, fresh[dir][0]!);
      return up('NetworkPolicy', { ...old, [dir]: rules } as NetworkPolicy, `policy ${key}: ${dir} now ${rules.length} rules`);
    }
    case 4: {
      const t = r.int(3);
      const policyTypes = { ingress: t !== 1, egress: t !== 0 };
      return up('NetworkPolicy', { ...old, policyTypes }, `policy ${key}: policyTypes ${JSON.stringify(policyTypes)}`);
    }
    default: return up('NetworkPolicy', randomPolicy(r, old.namespace, old.name, addresses), `replace policy ${key}`);
  }
}

function withAction(rule: ClusterPolicyRule, action: ClusterPolicyRule['action']): ClusterPolicyRule {
  // domainNames peers are for Accept rules only (the decoder rejects the rest): {} then.
  return { ...rule, action, peers: action === 'Accept' ? rule.peers : rule.peers.map((q) => (q.domainNames ? {} : q)) };
}

function clusterPolicyOp(r: Rng, state: ClusterState): Op {
  const cps = [...state.clusterPolicies.values()];
  const d = draws(addressesOf(state));
  const k = cps.length ? Math.max(0, r.int(9) - 1) : 0;
  if (k === 0) {
    const kind = r.pick(CLUSTER_KINDS);
    const p = randomClusterPolicy(r, kind === 'BaselineAdminNetworkPolicy' ? 'default' : `cnp${r.int(5)}`, d, kind);
    return up(p.kind, p, `upsert ${clusterPolicyId(p)} (${p.tier}, priority ${p.priority})`);
  }
  const old = r.pick(cps);
  const id = clusterPolicyId(old);
  const banp = old.kind === 'BaselineAdminNetworkPolicy';
  switch (k) {
    case 1: return del(old.kind, id, `delete ${id}`);
    case 2: {
      if (banp) return up(old.kind, relearnDomainNames(r, old, d), `relearn ${id}`);
      const priority = r.pick([0, 10, 10, 50, 1000, old.priority + 1]);
      return up(old.kind, { ...old, priority }, `${id}: priority ${old.priority} -> ${priority}`);
    }
    case 3: {
      const dir = r.pick(['ingress', 'egress'] as const);
      if (!old[dir].length) return up(old.kind, relearnDomainNames(r, old, d), `relearn ${id}`);
      const i = r.int(old[dir].length);
      const action = r.pick(banp ? (['Accept', 'Deny'] as const) : (['Accept', 'Deny', 'Pass'] as const));
      const rules = old[dir].map((x, j) => (j === i ? withAction(x, action) : x));
      return up(old.kind, { ...old, [dir]: rules } as ClusterPolicy, `${id}: ${dir}[${i}] ${old[dir][i]!.action} -> ${action}`);
    }
    case 4: {
      const fresh = randomClusterPolicy(r, old.name, d, old.kind);
      return up(old.kind, { ...old, subject: fresh.subject }, `${id}: new subject`);
    }
    case 5: {
      if (old.kind !== 'ClusterNetworkPolicy') return up(old.kind, relearnDomainNames(r, old, d), `relearn ${id}`);
      // Rules of a Baseline policy have Pass too here; a ClusterNetworkPolicy may move tiers.
      const tier = old.tier === 'Admin' ? 'Baseline' : 'Admin';
      return up(old.kind, { ...old, tier }, `${id}: tier ${old.tier} -> ${tier}`);
    }
    case 6: {
      const dir = r.pick(['ingress', 'egress'] as const);
      const fresh = randomClusterPolicy(r, old.name, d, old.kind);
      const rules = [...old[dir]];
      if (rules.length > 1 && r.chance(0.4)) rules.splice(r.int(rules.length), 1);
      else if (fresh[dir].length) rules.splice(r.int(rules.length + 1), 0, fresh[dir][0]!);
      return up(old.kind, { ...old, [dir]: rules } as ClusterPolicy, `${id}: ${dir} now ${rules.length} rules`);
    }
    default: {
      const fresh = randomClusterPolicy(r, old.name, d, old.kind);
      return up(old.kind, banp ? fresh : { ...fresh, priority: r.chance(0.5) ? old.priority : fresh.priority }, `replace ${id}`);
    }
  }
}

function randomOp(r: Rng, state: ClusterState, serial: number): Op {
  const k = r.int(20);
  if (k < 6) return podOp(r, state, serial);
  if (k < 8) return namespaceOp(r, state);
  if (k < 10) return nodeOp(r, state);
  if (k < 14) return policyOp(r, state);
  return clusterPolicyOp(r, state);
}

/** Addresses an operation touches (the object's before and after): probes favour them. */
function touched(state: ClusterState, op: Op): string[] {
  if (op.kind === 'Pod') {
    const key = op.t === 'upsert' ? podKey(op.value as Pod) : op.key;
    return [...(state.pods.get(key)?.ips ?? []), ...(op.t === 'upsert' ? (op.value as Pod).ips : [])];
  }
  if (op.kind === 'Node') {
    const name = op.t === 'upsert' ? (op.value as Node).name : op.key;
    return [...(state.nodes.get(name)?.addresses ?? []), ...(op.t === 'upsert' ? (op.value as Node).addresses : [])];
  }
  return [];
}

/** A random probe, or (often, when there are some) one with an end on a touched address. */
function probe(r: Rng, addrs: ReturnType<typeof probeAddresses>, hot: readonly string[]): Connection {
  const conn = randomProbe(r, addrs);
  if (!hot.length || !r.chance(0.4)) return conn;
  const h = r.pick(hot);
  const pool = h.includes(':') ? addrs.v6 : addrs.v4;
  const other = r.chance(0.1) || !pool.length ? h : r.pick(pool);
  return r.chance(0.5) ? { ...conn, src: h, dst: other } : { ...conn, src: other, dst: h };
}

/** The operation undoing `op` on the state as it is before `op`: the old object back, or a delete. */
function inverse(state: ClusterState, op: Op): Op {
  const key = op.t === 'delete' ? op.key : keyOfObject(KIND[op.kind], op.value as { name: string; namespace?: string });
  const old = state.get(op.kind, key);
  return old ? up(op.kind, old, `${op.kind} ${key} back`) : del(op.kind, key, `${op.kind} ${key} gone again`);
}

function apply(state: ClusterState, op: Op): void {
  if (op.t === 'upsert') state.upsert(op.kind, op.value as never);
  else state.delete(op.kind, op.key);
}

/** The first compile's objects (a random cluster, then its changes are operations). */
function extraPod(r: Rng, i: number, nodes: readonly Node[]): Pod {
  const own4 = `10.3.${i >> 8}.${i & 255}`;
  const ips = r.chance(0.3) ? [own4, formatIP(parseIP(`fd00::3:${i.toString(16)}`)!)] : [own4];
  return { namespace: r.pick(NAMESPACES), name: `x${i}`, labels: randomLabels(r), nodeName: r.pick(nodes).name, hostNetwork: false, phase: 'Running', ips, ports: randomPorts(r) };
}

function initialStep(r: Rng, pods?: number, extraPods = 0): Step {
  const c = randomCluster(r, { clusterPolicies: r.range(0, 4), ...(pods === undefined ? {} : { pods: Math.min(pods, 200) }) });
  for (let i = 0; i < extraPods; i++) c.pods.push(extraPod(r, i + 1, c.nodes));
  const ops: Op[] = [
    ...c.namespaces.map((n) => up('Namespace', n, `namespace ${n.name}`)),
    ...c.nodes.map((n) => up('Node', n, `node ${n.name} [${n.addresses}]`)),
    ...c.pods.map((p) => up('Pod', p, `pod ${podKey(p)} ips [${p.ips}]${p.hostNetwork ? ' hostNetwork' : ''}`)),
    ...c.policies.map((p) => up('NetworkPolicy', p, `policy ${podKey(p)}`)),
    ...c.clusterPolicies.map((p) => up(p.kind, p, `${clusterPolicyId(p)} (${p.tier}, priority ${p.priority})`)),
  ];
  return { t: 'batch', ops };
}

/** A run being replayed: the state, the engine following it, and the WebAssembly copy chain. */
class Replay {
  readonly state = new ClusterState();
  engine!: CompiledEngine;
  copy?: WasmSnapshot;
  converges = 0;
  wasmCopies = 0;

  constructor(private readonly localNode: string | undefined, private readonly chainAbove?: number) {}

  /** The evaluator's options (and a fresh compile's: it has no chains). */
  get opts(): { localNode?: string } {
    return this.localNode === undefined ? {} : { localNode: this.localNode };
  }

  step(s: Step, first: boolean): void {
    if (s.t === 'batch') {
      if (first) {
        this.state.batch(() => s.ops.forEach((o) => apply(this.state, o)));
        this.engine = new CompiledEngine(this.state, this.chainAbove === undefined ? this.opts : { ...this.opts, chainAbove: this.chainAbove });
        this.state.onChange((changes) => this.engine.update(changes));
      } else this.state.batch(() => s.ops.forEach((o) => apply(this.state, o)));
    } else if (s.t === 'converge') {
      do {
        this.engine.converge(s.max);
        this.converges++;
      } while (s.all && this.engine.pendingWork > 0);
    } else this.wasm();
  }

  wasm(): WasmSnapshot {
    const snap = this.engine.snapshot();
    if (this.copy?.source !== snap) {
      this.copy = wasmCopyOf(snap, this.copy);
      this.wasmCopies++;
    }
    if (!this.copy) throw new Error('engine-ops: no WebAssembly copy of the engine\'s snapshot');
    return this.copy;
  }

  /** Where the engine disagrees on `conn`, as [against, expected, got], or undefined. */
  disagreement(conn: Connection, oracle: typeof evaluate, fresh: () => CompiledEngine): [Against, string, string] | undefined {
    const got = canonical(this.engine.decide(conn));
    const want = canonical(oracle(this.state, conn, this.opts));
    if (want !== got) return ['evaluator', want, got];
    const stopped = stopAtDenialDiffers(this.engine.snapshot(), conn);
    if (stopped !== undefined) return ['stop-at-denial', got, stopped];
    const w = canonical(decideOn(this.wasm(), conn));
    if (w !== got) return ['wasm-copy', got, w];
    const wStopped = stopAtDenialDiffers(this.wasm(), conn);
    if (wStopped !== undefined) return ['wasm-copy', got, wStopped];
    const f = canonical(fresh().decide(conn));
    if (f !== got) return ['fresh-compile', f, got];
    return undefined;
  }
}

/** Does replaying `steps` then judging `conn` fail the same way (for 'throws': with the same message)? */
function replayDisagrees(steps: readonly Step[], localNode: string | undefined, chainAbove: number | undefined, conn: Connection, against: Against, oracle: typeof evaluate, message: string): boolean {
  if (!steps.length || steps[0]!.t !== 'batch') return false;
  const rp = new Replay(localNode, chainAbove);
  try {
    steps.forEach((s, i) => rp.step(s, i === 0));
    return rp.disagreement(conn, oracle, () => new CompiledEngine(rp.state, rp.opts))?.[0] === against;
  } catch (e) {
    return against === 'throws' && String(e) === message;
  }
}

/**
 * Drops steps, then single operations, while the replay still disagrees on `conn` the same way
 * (greedy, until nothing more can go). Old-snapshot mismatches are not shrunk (their check
 * spans two points of the run).
 */
export function minimise(steps: readonly Step[], localNode: string | undefined, chainAbove: number | undefined, conn: Connection, against: Against, oracle: typeof evaluate = evaluate, message = ''): Step[] {
  let cur = [...steps];
  if (against === 'old-snapshot' || !replayDisagrees(cur, localNode, chainAbove, conn, against, oracle, message)) return cur;
  for (let changed = true; changed;) {
    changed = false;
    for (let i = cur.length - 1; i >= 1; i--) {
      const next = [...cur.slice(0, i), ...cur.slice(i + 1)];
      if (replayDisagrees(next, localNode, chainAbove, conn, against, oracle, message)) { cur = next; changed = true; }
    }
    for (let i = 0; i < cur.length; i++) {
      const s = cur[i]!;
      if (s.t !== 'batch') continue;
      for (let j = s.ops.length - 1; j >= 0; j--) {
        const ops = (cur[i] as { ops: readonly Op[] }).ops;
        if (j >= ops.length) continue;
        const next = [...cur];
        next[i] = { t: 'batch', ops: [...ops.slice(0, j), ...ops.slice(j + 1)] };
        if (replayDisagrees(next, localNode, chainAbove, conn, against, oracle, message)) { cur = next; changed = true; }
      }
    }
  }
  return cur;
}

export function runOps(o: OpsOptions): OpsResult {
  const r = new Rng(o.seed);
  const oracle = o.oracle ?? evaluate;
  const maxMismatches = o.maxMismatches ?? 1;
  const steps: Step[] = [initialStep(r, o.pods, o.extraPods)];
  const rp = new Replay(o.localNode, o.chainAbove);
  rp.step(steps[0]!, true);
  const mismatches: OpsMismatch[] = [];
  let ops = 0, checks = 0, tuples = 0, serial = 0;
  // The snapshot of the last check point, its WebAssembly copy (retired by the next copy: its
  // JavaScript snapshot answers for it then) and what they answered: the same, forever.
  let kept: { snap: RuleSnapshot; copy: RuleSnapshot | undefined; answers: [Connection, string][] } | undefined;
  let nextCheck = 1, restarts = 0, ruleIds = 0;
  let hot = new Set<string>();
  const fail = (against: Against, conn: Connection, expected: string, got: string) => {
    const upto = [...steps];
    mismatches.push({ seed: o.seed, against, conn, expected, got, steps: upto, minimal: minimise(upto, o.localNode, o.chainAbove, conn, against, oracle, got) });
  };
  let pending: Step | undefined;
  let lastConn: Connection = { src: OUTSIDE[0]!, dst: OUTSIDE[1]!, protocol: 'TCP', port: 80 };
  while (ops < o.ops && mismatches.length < maxMismatches) {
    try {
      lastConn = stepAndCheck() ?? lastConn;
    } catch (e) {
      // An update, a converge step or a judgement threw: a defect too (the agent would stop
      // enforcing the change); shrunk like a mismatch, on the last connection judged.
      if (pending && !steps.includes(pending)) steps.push(pending);
      fail('throws', lastConn, '', String(e));
      break;
    }
  }
  return { ops, checks, tuples, converges: rp.converges, wasmCopies: rp.wasmCopies, restarts, stats: rp.engine.stats(), mismatches };

  /** One step, and a check point when one is due; the last connection judged. */
  function stepAndCheck(): Connection | undefined {
    const roll = r.int(10);
    let step: Step;
    if (roll < 2) step = { t: 'converge', max: r.range(1, 4), all: r.chance(0.4) };
    else {
      // One operation; a few; or one undone in the same batch (the engine must end where it
      // started) or followed by a second change of the same object (a delete and a re-create).
      const shape = roll < 7 ? 'one' : roll < 8 ? 'few' : r.pick(['undo', 'again']);
      const n = shape === 'few' ? r.range(2, 4) : 1;
      const batch: Op[] = [];
      // Recorded before it is applied: an update that throws leaves it the last step.
      pending = { t: 'batch', ops: batch };
      const push = (op: Op) => {
        batch.push(op);
        for (const a of touched(rp.state, op)) hot.add(a);
        // Applied inside the batch so the next draw sees it; delivered as one change list.
        apply(rp.state, op);
      };
      rp.state.batch(() => {
        for (let i = 0; i < n; i++) {
          // Each op is drawn against the state as the ops before it in the batch left it.
          const op = randomOp(r, rp.state, serial++);
          const undo = inverse(rp.state, op);
          push(op);
          if (shape === 'undo') push(undo);
          if (shape === 'again') {
            const key = op.t === 'delete' ? op.key : keyOfObject(KIND[op.kind], op.value as { name: string; namespace?: string });
            const now = rp.state.get(op.kind, key);
            // Deleted and made again (changed or not), or changed twice.
            push(now ? del(op.kind, key, `delete ${op.kind} ${key}`) : undo);
            if (now && r.chance(0.5)) push(up(op.kind, now, `${op.kind} ${key} again`));
          }
        }
      });
      ops += batch.length;
      step = pending;
    }
    pending = step;
    if (step.t !== 'batch') rp.step(step, false);
    steps.push(step);
    if (kept) {
      for (const [conn, was] of kept.answers) {
        const now = canonical(decideOn(kept.snap, conn));
        const copy = kept.copy ? canonical(decideOn(kept.copy, conn)) : was;
        if (now !== was || copy !== was) fail('old-snapshot', conn, was, now !== was ? now : `${copy} (its WebAssembly copy)`);
      }
    }
    if (ops < nextCheck && ops < o.ops) return undefined;
    nextCheck = ops + r.range(1, 4);
    steps.push({ t: 'check' });
    checks++;
    const addrs = probeAddresses(rp.state, OUTSIDE);
    const hotList = [...hot];
    hot = new Set();
    let fresh: CompiledEngine | undefined;
    const answers: [Connection, string][] = [];
    for (let i = 0; i < o.tuples && mismatches.length < maxMismatches; i++) {
      const conn = probe(r, addrs, hotList);
      tuples++;
      const d = rp.disagreement(conn, oracle, () => (fresh ??= new CompiledEngine(rp.state, rp.opts)));
      if (d) fail(d[0], conn, d[1], d[2]);
      else if (answers.length < 4) answers.push([conn, canonical(rp.engine.decide(conn))]);
    }
    kept = { snap: rp.engine.snapshot(), copy: rp.copy?.source === rp.engine.snapshot() ? rp.copy : undefined, answers };
    const ids = rp.engine.stats().ruleIds;
    if (ids < ruleIds) restarts++;
    ruleIds = ids;
    return answers[answers.length - 1]?.[0];
  }
}

function stepText(s: Step): string[] {
  if (s.t === 'converge') return [`converge(${s.max})${s.all ? ' until done' : ''}`];
  if (s.t === 'check') return ['(WebAssembly copy)'];
  return s.ops.length === 1 ? [s.ops[0]!.what] : [`batch: ${s.ops.map((o) => o.what).join('; ')}`];
}

export function describeOpsMismatch(m: OpsMismatch, localNode?: string): string {
  const c = m.conn;
  return [
    m.against === 'throws'
      ? `seed ${m.seed}${localNode ? ` (localNode ${localNode})` : ''}: the engine threw after ${m.steps.length} steps (last connection ${c.protocol} ${c.src} -> ${c.dst}:${c.port})`
      : `seed ${m.seed}${localNode ? ` (localNode ${localNode})` : ''}: ${m.against} disagrees on ${c.protocol} ${c.src} -> ${c.dst}:${c.port} after ${m.steps.length} steps`,
    `  expected ${m.expected}`,
    `  got      ${m.got}`,
    `  minimal steps (${m.minimal.length}; the first is the initial compile):`,
    ...m.minimal.flatMap((s, i) => (i === 0 && s.t === 'batch' ? [`    compile: ${s.ops.map((o) => o.what).join('; ')}`] : stepText(s).map((x) => `    ${x}`))),
    `  objects of the minimal run: ${JSON.stringify(m.minimal.flatMap((s) => (s.t === 'batch' ? s.ops.map((o) => (o.t === 'upsert' ? o.value : { delete: o.key })) : [])))}`,
  ].join('\n');
}

