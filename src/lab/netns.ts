// Thin wrappers over the `ip` tool for the lab: network namespaces, veth pairs, addresses,
// routes, and sysctls (written under /proc/sys from inside the namespace). Arguments go straight
// to execve; the one shell (setSysctls) only sees vetted keys and numbers. Every namespace the
// lab creates is named `plab.<lab>.<role>...`, so whatever a crashed run left behind can be found
// by name alone: lab names may not contain '.', so the prefix of lab "a" never matches lab "a-b".

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CommandError, runCommand, type CommandResult } from '../enforce/command.ts';

/** Every lab namespace name starts with this. */
export const LAB_NETNS_PREFIX = 'plab.';

const LAB_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$/;

/** Checks a lab name (it becomes part of namespace and folder names). */
export function labNameProblem(name: string): string | undefined {
  if (!LAB_NAME_RE.test(name)) return `lab name "${name}" must be 1-24 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`;
  return undefined;
}

/** The prefix every namespace of one lab carries. */
export function labNetnsPrefix(lab: string): string {
  return `${LAB_NETNS_PREFIX}${lab}.`;
}

/**
 * `plab.<lab>.node` for the node of a single-node lab; `plab.<lab>.node.<name>` for each node of
 * a lab that plays several.
 */
export function nodeNetnsName(lab: string, node?: string): string {
  if (node === undefined) return `${labNetnsPrefix(lab)}node`;
  const base = `${labNetnsPrefix(lab)}node.${node}`.replace(SAFE, '-');
  return base.length <= 200 ? base : `${labNetnsPrefix(lab)}node.${shortHash(node, 16)}`;
}

/** The namespace holding the bridge that joins the nodes of a multi-node lab (kind's docker network). */
export function underlayNetnsName(lab: string): string {
  return `${labNetnsPrefix(lab)}underlay`;
}

/** The node's end of its underlay veth, inside the node namespace (kind's eth0). */
export const UNDERLAY_IF = 'ul0';

/** The underlay end of a node's veth, a port of the bridge in the underlay namespace. */
export function underlayPortName(node: string): string {
  return `un${shortHash(node, 10)}`;
}

const SAFE = /[^A-Za-z0-9_.-]/g;

function shortHash(s: string, n = 8): string {
  return createHash('sha1').update(s).digest('hex').slice(0, n);
}

/** `plab.<lab>.pod.<ns>_<name>` ('_' appears in no Kubernetes name, so the pair is unambiguous). */
export function podNetnsName(lab: string, namespace: string, name: string): string {
  const base = `${labNetnsPrefix(lab)}pod.${namespace}_${name}`.replace(SAFE, '-');
  // Namespace names are file names under /run/netns; keep them well under NAME_MAX.
  return base.length <= 200 ? base : `${labNetnsPrefix(lab)}pod.${shortHash(`${namespace}/${name}`, 16)}`;
}

export function externalNetnsName(lab: string, name: string): string {
  const base = `${labNetnsPrefix(lab)}ext.${name}`.replace(SAFE, '-');
  return base.length <= 200 ? base : `${labNetnsPrefix(lab)}ext.${shortHash(name, 16)}`;
}

/**
 * Name of the node-side end of a pod's veth pair: IFNAMSIZ allows 15 characters, so a fixed
 * prefix and a hash of the pod key. It lives inside the lab's node namespace only, so two labs
 * never clash; the prefix lets an agent match every pod interface as `pv+`.
 */
export function hostIfName(kind: 'pod' | 'ext', key: string): string {
  return `${kind === 'pod' ? 'pv' : 'xv'}${shortHash(key, 10)}`;
}

export type RunResult = CommandResult;

/** Runs argv; resolves with the exit code (never throws for a non-zero exit; throws if the tool is missing). */
export function run(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return runCommand(argv, opts);
}

/** Like run but throws CommandError on a non-zero exit; the message shows the start of any stdin given. */
export async function mustRun(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new CommandError(argv.join(' ') + (opts.input ? ` <<< ${JSON.stringify(opts.input.slice(0, 300))}` : ''), r.code, r.stderr || r.stdout);
  return r;
}

/** Names of every network namespace (`ip netns list` prints "name" or "name (id: N)"). */
export async function listNetns(): Promise<string[]> {
  const r = await mustRun(['ip', 'netns', 'list']);
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter((s) => s !== '');
}

export async function addNetns(name: string): Promise<void> {
  await mustRun(['ip', 'netns', 'add', name]);
}

/** Deletes a namespace; a namespace that is already gone is fine. */
export async function deleteNetns(name: string): Promise<void> {
  const r = await run(['ip', 'netns', 'delete', name]);
  if (r.code !== 0 && !/No such file|not found|Invalid/i.test(r.stderr)) throw new CommandError(`ip netns delete ${name}`, r.code, r.stderr);
}

/**
 * Whether process `pid` still runs: it exists and is neither a zombie nor dead (/proc/PID/stat's
 * state). A killed process the lab started from a command that has exited is reparented to PID
 * 1, and that init may reap it seconds later (this VM's did); until then it is a zombie, which
 * holds no namespace, socket or memory but is still listed in /proc and still answers kill(pid,
 * 0), so both used to count it as running.
 */
export function processAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so the state follows the last ')'.
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state !== 'Z' && state !== 'X' && state !== 'x';
}

/** Pids of the processes whose network namespace is `name`. */
export async function netnsPids(name: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', name]);
  if (r.code !== 0) return [];
  return r.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
}

/**
 * Runs many `ip` commands inside one namespace as a single `ip -n NS -batch -` process, which
 * stops at the first failing line (so a half-built pod is reported, not silently used).
 */
export async function ipBatch(netns: string, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await mustRun(['ip', '-n', netns, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

const SYSCTL_KEY = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;

/**
 * Sets sysctls inside a namespace by writing /proc/sys/net/... from a shell running in it (the
 * net.* tree belongs to the writer's network namespace), so the lab needs no procps. Keys are
 * checked, values are numbers: nothing reaches the shell unvetted.
 */
export async function setSysctls(netns: string, values: Readonly<Record<string, number>>): Promise<void> {
  const writes = Object.entries(values).map(([k, v]) => {
    if (!SYSCTL_KEY.test(k) || !Number.isInteger(v)) throw new Error(`bad sysctl ${k}=${v}`);
    return `echo ${v} > /proc/sys/${k.replace(/\./g, '/')}`;
  });
  if (writes.length === 0) return;
  await mustRun(['ip', 'netns', 'exec', netns, 'sh', '-ec', writes.join('\n')]);
}

/** The argv prefix that runs a command inside a namespace. */
export function inNetns(netns: string): string[] {
  return ['ip', 'netns', 'exec', netns];
}
