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
  /** Node-side end of the pod's veth pair. */
  readonly hostIf: string;
  /** Canonical addresses, at most one per family. */
  readonly ips: readonly string[];
  ports: ServePorts;
}

export interface LabExternalRecord {
  readonly name: string;
  readonly netns: string;
  readonly hostIf: string;
  readonly ips: readonly string[];
}

export interface LabAgentRecord {
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
  readonly nodeNetns: string;
  readonly node: { readonly name?: string; readonly ips: readonly string[] };
  /** The folder the agent follows (`--manifests` of lab up, or the lab's own manifests/ folder). */
  manifestsDir: string;
  pods: LabPodRecord[];
  externals: LabExternalRecord[];
  /** Keyed by namespace name. */
  endpoints: Record<string, LabEndpointRecord>;
  nodePorts: ServePorts;
  agent?: LabAgentRecord;
  /** Next control socket number. */
  nextSocket: number;
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
