// What a lab created, recorded in its state folder (/run/palisade-lab/<name>/state.json) so
// `lab probe` and `lab down` (other processes, possibly after a crash) can find it. The record
// is a convenience: `lab down` also finds namespaces by their name prefix when it is missing.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ServePorts } from './endpoint-wire.ts';

/** Root of every lab's state folder; PALISADE_LAB_STATE_DIR overrides it. /run is a tmpfs, so a reboot (which also drops the namespaces) clears it too. */
export function labStateRoot(): string {
  return resolve(process.env.PALISADE_LAB_STATE_DIR ?? '/run/palisade-lab');
}

/** The lab every `palisade lab ...` and `palisade logs --lab` command means when not told... */
export const DEFAULT_LAB = 'palisade';

/** ...unless PALISADE_LAB names another (one shell working with one lab, or a test's own). */
export function defaultLabName(): { name: string; from: string } {
  const env = process.env.PALISADE_LAB;
  return env ? { name: env, from: 'PALISADE_LAB' } : { name: DEFAULT_LAB, from: 'the built-in default' };
}

export function labStateDir(lab: string): string {
  return join(labStateRoot(), lab);
}

export interface LabEndpointRecord {
  /** "ns/pod", "node" or "ext:<name>". */
  readonly label: string;
  readonly netns: string;
  /** Control socket of the endpoint process. */
  readonly socket: string;
  readonly log: string;
  pid?: number;
}

export interface LabPodRecord {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly netns: string;
  /** The namespace of the node the pod runs on (absent in records of older labs: `nodeNetns`). */
  readonly nodeNetns?: string;
  /** Node-side end of the pod's veth pair. */
  readonly hostIf: string;
  /** Canonical addresses, at most one per family. */
  readonly ips: readonly string[];
  ports: ServePorts;
}

export interface LabExternalRecord {
  readonly name: string;
  readonly netns: string;
  /** The node namespace it is wired to (absent: `nodeNetns`). */
  readonly nodeNetns?: string;
  readonly hostIf: string;
  readonly ips: readonly string[];
}

/** One node of the lab: its namespace, addresses and what its endpoint serves. */
export interface LabNodeRecord {
  /** The Node's name; absent only in a single-node lab built from manifests without a Node. */
  readonly name?: string;
  readonly netns: string;
  /** At most one address per family, on the namespace's lo. */
  readonly ips: readonly string[];
  /** spec.podCIDRs: the other nodes route them to this one over the underlay (multi-node labs). */
  readonly podCIDRs: readonly string[];
  /** Its underlay link addresses, the other nodes' next hop to it (multi-node labs). */
  readonly underlay?: { readonly v4: string; readonly v6: string };
  /** The label its endpoint answers with: "node" in a single-node lab, else "node:<name>". */
  readonly label: string;
  ports: ServePorts;
}

/** A host-network pod: no namespace of its own; its node's namespace and endpoint play it. */
export interface LabHostPodRecord {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** The node namespace it runs in. */
  readonly nodeNetns: string;
  readonly ports: ServePorts;
}

export interface LabAgentRecord {
  /** The node it enforces for (`--node`) and the namespace it runs in (absent in older records: the lab's node). */
  readonly node?: string;
  readonly netns?: string;
  readonly pid: number;
  readonly backend: string;
  readonly statusFile: string;
  readonly log: string;
  readonly argv: readonly string[];
  /** The agent's --verdict-log file (absent: started without one). */
  readonly verdictLog?: string;
}

export interface LabState {
  readonly version: 1;
  readonly name: string;
  readonly dir: string;
  /** The first node's namespace (a single-node lab's only node); `nodes` has them all. */
  readonly nodeNetns: string;
  /** The first node (a single-node lab's only node). */
  readonly node: { readonly name?: string; readonly ips: readonly string[] };
  /** Every node, first = `nodeNetns`/`node` (absent in records of older labs: that node alone). */
  nodes?: LabNodeRecord[];
  /** The namespace of the bridge joining the nodes (multi-node labs only). */
  underlayNetns?: string;
  hostPods?: LabHostPodRecord[];
  /** The folder the agent follows (`--manifests` of lab up, or the lab's own manifests/ folder). */
  manifestsDir: string;
  pods: LabPodRecord[];
  externals: LabExternalRecord[];
  /** Keyed by namespace name. */
  endpoints: Record<string, LabEndpointRecord>;
  /** What the first node's endpoint serves (`nodes[i].ports` for every node). */
  nodePorts: ServePorts;
  /** The first node's agent (a single-node lab's agent); `agents` has one per node. */
  agent?: LabAgentRecord;
  agents?: LabAgentRecord[];
  /** Next control socket number. */
  nextSocket: number;
}

/** Every node of a lab, also of a lab recorded before labs had several. */
export function labNodes(s: LabState): LabNodeRecord[] {
  if (s.nodes && s.nodes.length > 0) return s.nodes;
  return [{ ...(s.node.name !== undefined ? { name: s.node.name } : {}), netns: s.nodeNetns, ips: s.node.ips, podCIDRs: [], label: 'node', ports: s.nodePorts }];
}

/** Every agent of a lab (one per node). */
export function labAgents(s: LabState): LabAgentRecord[] {
  if (s.agents) return s.agents;
  return s.agent ? [s.agent] : [];
}

/** The namespace an agent runs in. */
export function agentNetns(s: LabState, a: LabAgentRecord): string {
  return a.netns ?? s.nodeNetns;
}

export function stateFile(dir: string): string {
  return join(dir, 'state.json');
}

export function readLabState(lab: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile(labStateDir(lab)), 'utf8');
  } catch {
    return undefined;
  }
  const s = JSON.parse(text) as LabState;
  if (s.version !== 1) throw new Error(`${stateFile(labStateDir(lab))}: unknown state version ${String(s.version)}`);
  return s;
}

/** Written to a temporary file and renamed, so a reader never sees half a record. */
export function writeLabState(s: LabState): void {
  mkdirSync(s.dir, { recursive: true });
  const tmp = stateFile(s.dir) + '.tmp';
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  renameSync(tmp, stateFile(s.dir));
}
