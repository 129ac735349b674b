// The enforcement agents inside a lab: `palisade agent --source files` started in each node
// namespace (where a CNI node's agent would run), following the lab's manifests folder, and the
// handshake that tells when a change written to that folder is enforced: the agent's status file
// reports `sourceSyncStartedAt`, the start time of the newest pass over the folder whose result
// is enforced; once that is later than the moment our write finished, the write is in force.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from '../agent/node-flags.ts';
import { safeFileName } from './endpoint-procs.ts';
import type { LabAgentRecord, LabState } from './lab-state.ts';
import { agentNetns, labAgents, labNodes, writeLabState } from './lab-state.ts';
import { mustRun, netnsPids, processAlive } from './netns.ts';

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
  /** The enforcer's counters (packets, accepts, drops, ...). */
  readonly counters?: Readonly<Record<string, number>>;
  /** When the file was written (ISO 8601): rewritten every second and on every new generation. */
  readonly updatedAt?: string;
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

/**
 * The command lines of `pid`'s child processes (from /proc/<pid>/task/<tid>/children), or '' when
 * it has none: what an agent that is slow to get ready is waiting on (an iptables-restore, an
 * ipset, a conntrack listing), for the timeout's message.
 */
export function childCommands(pid: number): string {
  const lines: string[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const child of children) {
        try {
          lines.push(`${child}: ${readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')}`);
        } catch {
          // Exited between the two reads.
        }
      }
    }
  } catch {
    // The agent itself exited; the caller says so.
  }
  return lines.join('; ');
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

/** Where a lab's agents write their verdict log unless told otherwise: the lab's state folder. */
export function labVerdictLog(state: LabState): string {
  return join(state.dir, 'verdicts.log');
}

/**
 * Starts one agent per lab node, in that node's namespace with `--node <its name>` (it judges
 * only the pods running there), all following the lab's manifests folder, and waits until every
 * one reports ready. They share one verdict log file (each appends whole lines, O_APPEND), so
 * `palisade logs --lab` shows every node's verdicts; a line's `direction` says which node wrote
 * it (egress: the source pod's node, ingress: the destination pod's). A single-node lab keeps its
 * file names (agent-status.json, log/agent.log); a multi-node lab's carry the node's name.
 * Returns the first node's agent (also `state.agent`); `state.agents` has them all.
 */
export async function startLabAgent(state: LabState, opts: StartAgentOptions): Promise<LabAgentRecord> {
  const nodes = labNodes(state);
  const unnamed = nodes.find((n) => !n.name);
  if (unnamed) throw new Error('the agent needs the node name: the manifests must hold the Node the lab plays');
  const running = labAgents(state).find((a) => processAlive(a.pid));
  if (running) throw new Error(`an agent already runs in lab ${state.name} (pid ${running.pid}); stop it first`);
  const logs = join(state.dir, 'log');
  mkdirSync(logs, { recursive: true });
  // The lab is where a new user first asks "why was this dropped": keep the answer by default.
  const verdictLog = opts.verdictLog === false ? undefined : resolve(opts.verdictLog ?? labVerdictLog(state));
  const multi = nodes.length > 1;
  const agents: LabAgentRecord[] = nodes.map((n) => {
    const suffix = multi ? `.${safeFileName(n.name!)}` : '';
    const statusFile = join(state.dir, `agent-status${suffix}.json`);
    const log = join(logs, `agent${suffix}.log`);
    const argv = [
      process.execPath, ...AGENT_NODE_FLAGS, palisadeBin(), 'agent',
      '--source', 'files', '--manifests', state.manifestsDir,
      '--node', n.name!,
      '--backend', opts.backend,
      '--status-file', statusFile,
      ...(verdictLog ? ['--verdict-log', verdictLog] : []),
      ...(opts.extraArgs ?? []),
    ];
    const fd = openSync(log, 'a');
    let pid: number | undefined;
    try {
      const child = spawn('ip', ['netns', 'exec', n.netns, ...argv], { detached: true, stdio: ['ignore', fd, fd] });
      child.unref();
      pid = child.pid;
    } finally {
      closeSync(fd);
    }
    if (pid === undefined) throw new Error(`could not start the agent of node ${n.name!}`);
    return { node: n.name!, netns: n.netns, pid, backend: opts.backend, statusFile, log, argv, ...(verdictLog ? { verdictLog } : {}) };
  });
  state.agents = agents;
  state.agent = agents[0];
  writeLabState(state);
  // Generous: a lab's agents start together (a dozen at once in the conformance labs, a few nodes
  // per lab), and on a busy two-core machine one missed 30 s in CI. A broken agent exits and is
  // reported at once; only a slow one uses the margin, and the error names what it was running.
  const timeoutMs = opts.readyTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  const who = (a: LabAgentRecord) => (multi ? `the agent of node ${a.node!}` : 'the agent');
  await Promise.all(agents.map(async (a) => {
    for (;;) {
      const s = readAgentStatus(a.statusFile);
      if (s && s.pid === a.pid && s.ready) return;
      if (!processAlive(a.pid)) throw new Error(`${who(a)} exited before it was ready; last lines of ${a.log}:\n${tail(a.log)}`);
      if (Date.now() > deadline) {
        const waiting = childCommands(a.pid);
        throw new Error(`${who(a)} did not report ready within ${timeoutMs} ms${waiting ? ` (its running commands: ${waiting})` : ''}; last lines of ${a.log}:\n${tail(a.log)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }));
  return agents[0]!;
}

/** Stops every agent of the lab (SIGTERM: each removes its rules) and waits for them to exit. */
export async function stopLabAgent(state: LabState, timeoutMs = 10_000): Promise<void> {
  await Promise.all(labAgents(state).map(async (a) => {
    // Only signal the recorded pid if it still runs in its node namespace (pids get reused).
    if ((await netnsPids(agentNetns(state, a))).includes(a.pid)) {
      process.kill(a.pid, 'SIGTERM');
      const deadline = Date.now() + timeoutMs;
      while (processAlive(a.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (processAlive(a.pid)) process.kill(a.pid, 'SIGKILL');
    }
  }));
  delete state.agent;
  delete state.agents;
  writeLabState(state);
}

/** Whether every node of the lab has a running agent started with this backend and verdict log. */
export function labAgentsRunningAs(state: LabState, backend: string, verdictLog: string | undefined): boolean {
  const agents = labAgents(state);
  if (agents.length !== labNodes(state).length) return false;
  return agents.every((a) => {
    const st = readAgentStatus(a.statusFile);
    return !!st && !st.stopped && processAlive(a.pid) && a.backend === backend && a.verdictLog === verdictLog;
  });
}

/**
 * Forgets every tracked connection on every node, so the next probes are new connections judged
 * by the policies in force (a probe reusing a 5-tuple an earlier step allowed would otherwise
 * ride on that connection's state).
 */
export async function flushLabConntrack(state: LabState): Promise<void> {
  await Promise.all(labNodes(state).map((n) => mustRun(['ip', 'netns', 'exec', n.netns, 'conntrack', '-F'])));
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

/** Sets every manifest file's mtime to now (see waitForEnforced). */
function touchManifests(state: LabState): void {
  const now = new Date();
  let names: string[] = [];
  try {
    names = readdirSync(state.manifestsDir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n.endsWith('.writing')) continue;
    try {
      utimesSync(join(state.manifestsDir, n), now, now);
    } catch {
      // Renamed or removed meanwhile: the agent sees that change anyway.
    }
  }
}

/**
 * Waits until every agent of the lab enforces everything written to the manifests folder up to
 * `writtenAt` (see the top of this file). Resolves with how long it took; throws after timeoutMs,
 * naming the late agent's last error.
 */
export async function waitForEnforced(state: LabState, writtenAt: number, timeoutMs = 5000): Promise<number> {
  const agents = labAgents(state);
  if (agents.length === 0) throw new Error(`lab ${state.name} has no agent`);
  const t0 = Date.now();
  const multi = agents.length > 1;
  let nudgedAt = t0;
  await Promise.all(agents.map(async (a) => {
    const who = multi ? `the agent of node ${a.node ?? '?'}` : 'the agent';
    for (;;) {
      const s = readAgentStatus(a.statusFile);
      if (s && s.ready && s.sourceSyncStartedAt !== undefined && s.sourceSyncStartedAt > writtenAt) return;
      if (!processAlive(a.pid)) throw new Error(`${who} (pid ${a.pid}) is not running; last lines of ${a.log}:\n${tail(a.log)}`);
      // A pass that started in the same millisecond as the rename, or just before our clock
      // read after it, may have read the new files; the agent then sees nothing left to do and
      // no later pass comes to prove it. Touching the files changes their mtime, which the
      // agent's rescan (every second) notices, so a pass that starts after the write follows.
      if (Date.now() - nudgedAt > 1500) {
        nudgedAt = Date.now();
        touchManifests(state);
      }
      if (Date.now() - t0 > timeoutMs) {
        throw new Error(`${who} did not enforce the change written at ${new Date(writtenAt).toISOString()} within ${timeoutMs} ms` +
          ` (status: ${s ? `generation ${s.generation}, last pass ${s.sourceSyncStartedAt ? new Date(s.sourceSyncStartedAt).toISOString() : 'none'}${s.lastError ? `, error: ${s.lastError}` : ''}` : 'no status file'})`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }));
  return Date.now() - t0;
}
