// The enforcement agent inside a lab: `palisade agent --source files` started in the node
// namespace (where a CNI node's agent would run), following the lab's manifests folder, and the
// handshake that tells when a change written to that folder is enforced: the agent's status file
// reports `sourceSyncStartedAt`, the start time of the newest pass over the folder whose result
// is enforced; once that is later than the moment our write finished, the write is in force.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabAgentRecord, LabState } from './lab-state.ts';
import { writeLabState } from './lab-state.ts';
import { netnsPids } from './netns.ts';

export type LabBackend = 'nfqueue' | 'tun';

/** The subset of the agent's status file the lab relies on (see src/agent/agent.ts AgentStatus). */
export interface LabAgentStatus {
  readonly pid: number;
  readonly ready: boolean;
  readonly stopped: boolean;
  readonly generation: number;
  readonly sourceSyncStartedAt?: number;
  readonly sourceErrors?: readonly string[];
  readonly lastError?: string;
}

/** bin/palisade.js of this checkout (from src/lab or dist/src/lab). */
export function palisadeBin(): string {
  for (const rel of ['../../bin/palisade.js', '../../../bin/palisade.js']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('cannot find bin/palisade.js next to the sources');
}

/** True when this build has the `agent` command. */
export function agentAvailable(): boolean {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return ['../cli/commands/agent.ts', '../cli/commands/agent.js'].some((rel) => existsSync(join(here, rel)));
}

export function readAgentStatus(file: string): LabAgentStatus | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LabAgentStatus;
  } catch {
    // Missing, or (never, thanks to write+rename) half written.
    return undefined;
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Whether process `pid` still exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface StartAgentOptions {
  readonly backend: LabBackend;
  /** More agent flags (e.g. --queue 3). */
  readonly extraArgs?: readonly string[];
  /** How long to wait for the agent to report ready. */
  readonly readyTimeoutMs?: number;
  /** The agent's verdict log file; default labVerdictLog(state); false: none. */
  readonly verdictLog?: string | false;
}

/** Where a lab's agent writes its verdict log unless told otherwise: the lab's state folder. */
export function labVerdictLog(state: LabState): string {
  return join(state.dir, 'verdicts.log');
}

/** Starts the agent in the lab's node namespace and waits until it reports ready. */
export async function startLabAgent(state: LabState, opts: StartAgentOptions): Promise<LabAgentRecord> {
  if (!state.node.name) throw new Error('the agent needs the node name: the manifests must hold the Node the lab plays');
  if (state.agent && processAlive(state.agent.pid)) throw new Error(`an agent already runs in lab ${state.name} (pid ${state.agent.pid}); stop it first`);
  const logs = join(state.dir, 'log');
  mkdirSync(logs, { recursive: true });
  const statusFile = join(state.dir, 'agent-status.json');
  const log = join(logs, 'agent.log');
  // The lab is where a new user first asks "why was this dropped": keep the answer by default.
  const verdictLog = opts.verdictLog === false ? undefined : resolve(opts.verdictLog ?? labVerdictLog(state));
  const argv = [
    process.execPath, palisadeBin(), 'agent',
    '--source', 'files', '--manifests', state.manifestsDir,
    '--node', state.node.name,
    '--backend', opts.backend,
    '--status-file', statusFile,
    ...(verdictLog ? ['--verdict-log', verdictLog] : []),
    ...(opts.extraArgs ?? []),
  ];
  const fd = openSync(log, 'a');
  let pid: number | undefined;
  try {
    const child = spawn('ip', ['netns', 'exec', state.nodeNetns, ...argv], { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new Error('could not start the agent');
  const rec: LabAgentRecord = { pid, backend: opts.backend, statusFile, log, argv, ...(verdictLog ? { verdictLog } : {}) };
  state.agent = rec;
  writeLabState(state);
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    const s = readAgentStatus(statusFile);
    if (s && s.pid === pid && s.ready) return rec;
    if (!processAlive(pid)) throw new Error(`the agent exited before it was ready; last lines of ${log}:\n${tail(log)}`);
    if (Date.now() > deadline) throw new Error(`the agent did not report ready within ${opts.readyTimeoutMs ?? 30_000} ms; last lines of ${log}:\n${tail(log)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops the lab's agent (SIGTERM: it removes its rules) and waits for it to exit. */
export async function stopLabAgent(state: LabState, timeoutMs = 10_000): Promise<void> {
  const a = state.agent;
  if (!a) return;
  // Only signal the recorded pid if it still runs in the lab's node namespace (pids get reused).
  if ((await netnsPids(state.nodeNetns)).includes(a.pid)) {
    process.kill(a.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (processAlive(a.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (processAlive(a.pid)) process.kill(a.pid, 'SIGKILL');
  }
  delete state.agent;
  writeLabState(state);
}

/**
 * Replaces the lab's manifests with `text` (one file, written next to the folder's files and
 * renamed in, so the agent never reads half of it). Returns the wall-clock ms after the write.
 */
export function writeLabManifests(state: LabState, text: string, file = 'cluster.yaml'): number {
  mkdirSync(state.manifestsDir, { recursive: true });
  const target = join(state.manifestsDir, file);
  // Not *.yaml, so a folder scan never picks the temporary file up.
  const tmp = `${target}.writing`;
  writeFileSync(tmp, text);
  renameSync(tmp, target);
  return Date.now();
}

/**
 * Waits until the agent enforces everything written to the manifests folder up to `writtenAt`
 * (see the top of this file). Resolves with how long it took; throws after timeoutMs, naming
 * the agent's last error.
 */
export async function waitForEnforced(state: LabState, writtenAt: number, timeoutMs = 5000): Promise<number> {
  const a = state.agent;
  if (!a) throw new Error(`lab ${state.name} has no agent`);
  const t0 = Date.now();
  for (;;) {
    const s = readAgentStatus(a.statusFile);
    if (s && s.ready && s.sourceSyncStartedAt !== undefined && s.sourceSyncStartedAt > writtenAt) return Date.now() - t0;
    if (!processAlive(a.pid)) throw new Error(`the agent (pid ${a.pid}) is not running; last lines of ${a.log}:\n${tail(a.log)}`);
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`the agent did not enforce the change written at ${new Date(writtenAt).toISOString()} within ${timeoutMs} ms` +
        ` (status: ${s ? `generation ${s.generation}, last pass ${s.sourceSyncStartedAt ? new Date(s.sourceSyncStartedAt).toISOString() : 'none'}${s.lastError ? `, error: ${s.lastError}` : ''}` : 'no status file'})`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
