// `palisade lab up | probe | down | status`: pods as network namespaces on this machine (see
// src/lab/topology.ts), real probes between them (src/lab/probe.ts), and the enforcement agents
// running in the lab's node namespaces.

import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseYAML } from 'yaml';
import type { ObjectError } from '../../cluster/model.ts';
import { parseIP } from '../../net/address.ts';
import { manifestFiles } from '../../sources/manifests.ts';
import { agentAvailable, labAgentsRunningAs, labVerdictLog, readAgentStatus, startLabAgent, stopLabAgent, type LabBackend } from '../../lab/lab-agent.ts';
import { DEFAULT_LAB, defaultLabName, labAgents, labNodes, labStateDir, readLabState, type LabState } from '../../lab/lab-state.ts';
import { labNameProblem, processAlive } from '../../lab/netns.ts';
import { CommandError } from '../../enforce/command.ts';
import { checkLabPrereqs, missingReport } from '../../lab/prereqs.ts';
import { LabProbeError, meetsExpectation, policyAllowed, resolveLabEndpoint, runLabProbes, type LabProbe, type LabProbeResult } from '../../lab/probe.ts';
import { labDown, labSpecFromCluster, labUp, listLabs } from '../../lab/topology.ts';
import { CliError, closestWord, intFlag, parseArgs, textOrJson, type FlagSpec } from '../args.ts';
import { familyName, loadClusterForCli } from '../manifest-input.ts';
import { collectProbe, type Probe } from '../probes.ts';
import { alignedLines } from '../text-table.ts';
import { expectText, probeVerdictText } from '../vocabulary.ts';

export { DEFAULT_LAB };

/** lab probe's --timeout and --concurrency when not given (the help says them). */
export const PROBE_DEFAULTS = { timeoutMs: 1000, concurrency: 16 } as const;

/** The flags of each subcommand; --help names every one on its usage line (test/cli/help-flags.test.ts). */
export const FLAGS = {
  up: { manifests: 'list', name: 'string', node: 'string', 'no-agent': 'bool', backend: 'string', external: 'list', 'verdict-log': 'string', help: 'bool' },
  probe: { probes: 'string', name: 'string', output: 'string', timeout: 'string', concurrency: 'string', help: 'bool' },
  down: { name: 'string', all: 'bool', help: 'bool' },
  status: { name: 'string', help: 'bool' },
} as const satisfies Record<string, FlagSpec>;

const HELP = `usage: palisade lab up --manifests PATH... [--name LAB] [--node NAME] [--no-agent] [--backend nfqueue|tun]
                     [--external NAME=IP[,IP]...] [--verdict-log FILE|none]
       palisade lab probe --probes FILE [--name LAB] [-o text|json] [--timeout MS] [--concurrency N]
       palisade lab down [--name LAB | --all]
       palisade lab status [--name LAB]

A kind-like cluster made of network namespaces on this machine (needs root): one namespace per
Node, one per pod (its IPs from status.podIPs, served on its containerPorts: HTTP for TCP, an
answer for UDP, INIT-ACK for SCTP), routed through its node; several nodes are joined by a
bridge in a namespace of their own, each node with its own agent. Host-network pods are played
by their node. Nothing is connected to the host's network. The lab's state lives in
/run/palisade-lab/LAB (without --name, LAB is $PALISADE_LAB if set, else ${DEFAULT_LAB}).

up      builds (or updates) the lab from the manifests and starts \`palisade agent --source files\`
        in the node namespace, following the manifests folder (a single folder given to
        --manifests is followed in place; files are copied into the lab's own folder).
        Manifests with several Nodes make a multi-node lab (pods on their spec.nodeName, one
        agent per node with --node <its name>); --node NAME plays that Node alone, running
        every pod on it. --no-agent: no enforcement; --backend: the agents' backend (default nfqueue).
        The agents keep a verdict log (a line per denied connection, naming the policies)
        in /run/palisade-lab/LAB/verdicts.log (one file for every node's agent), or
        --verdict-log FILE (none: no log); read it
        with \`palisade logs --lab [LAB] [--follow]\`.
        --external NAME=IP[,IPv6]: an outside host (its own namespace, routed through the
        node like a pod, not a pod to policy); probe it as "ext:NAME".
probe   runs real probes: FILE is a YAML/JSON list of {from, to, port, protocol?, family?,
        expect?} with from/to "ns/pod" (a host-network pod: its node), "node" (single-node
        labs), "node:NAME", "ext:NAME" or an IP of the lab. Verdicts:
          allowed  the server's answer came back before --timeout (default ${PROBE_DEFAULTS.timeoutMs} ms)
          DENIED   nothing came back: the packets were dropped (what a policy deny does)
          refused  a TCP RST, ICMP port unreachable or SCTP ABORT came back: the policy let
                   the connection through but nothing serves the port (a pod serves only its
                   containerPorts; the node and outside hosts serve every pod's ports).
                   It meets expect: allow, never expect: deny.
          error    the probe failed in a way that is no policy verdict (a reset after the
                   handshake, no route, an answer from another pod); DETAIL says what.
                   It meets no expect.
        -o json: a row per probe with verdict (allow, deny, refused, error) and allowed, as
        verify -o json has it: true for allow and refused (policy let it through), false for
        deny, null for error (no verdict). Exit status 1 when some expect is not met.
        --concurrency N   probes under way at once (default ${PROBE_DEFAULTS.concurrency}, 1-256)
down    stops the lab's processes and deletes its namespaces and state (also what a crashed run
        left behind: namespaces are found by name). --all: every lab on this machine.
status  with --name: that lab's pods, agent and generation, and any manifest error the agent
        did not apply. Without: every lab on this machine, which one is the default, and the
        default lab's pods, agent and generation.`;

function labName(v: unknown): string {
  const name = (v as string | undefined) ?? defaultLabName().name;
  const p = labNameProblem(name);
  if (p) throw new CliError(`${v === undefined ? 'PALISADE_LAB' : '--name'}: ${p}`);
  return name;
}

function mustState(name: string): LabState {
  const s = readLabState(name);
  if (!s) throw new CliError(`no lab "${name}" here (run: palisade lab up --manifests PATH --name ${name})`);
  return s;
}

function table(rows: string[][]): string {
  return alignedLines(rows).join('\n');
}

function portsText(p: { tcp: readonly number[]; udp: readonly number[]; sctp: readonly number[] }): string {
  const parts: string[] = [];
  if (p.tcp.length) parts.push(`TCP ${p.tcp.join(',')}`);
  if (p.udp.length) parts.push(`UDP ${p.udp.join(',')}`);
  if (p.sctp.length) parts.push(`SCTP ${p.sctp.join(',')}`);
  return parts.join('  ') || '-';
}

export function describeLab(s: LabState): string {
  const nodes = labNodes(s);
  const multi = nodes.length > 1;
  const lines = multi
    ? [`lab "${s.name}": ${nodes.length} nodes joined by the bridge in ${s.underlayNetns ?? '?'}`]
    : [`lab "${s.name}": node namespace ${s.nodeNetns} (${s.node.name ?? 'no Node object'}: ${s.node.ips.join(', ') || 'no address'})`];
  if (multi) {
    for (const n of nodes) lines.push(`  node ${n.name ?? '?'}: namespace ${n.netns}, ${n.ips.join(', ') || 'no address'}${n.podCIDRs.length ? `, pod CIDRs ${n.podCIDRs.join(', ')}` : ''}; serves ${portsText(n.ports)}`);
  }
  const nodeOf = (netns: string | undefined) => nodes.find((n) => n.netns === (netns ?? s.nodeNetns));
  const withNode = (row: string[], netns: string | undefined) => (multi ? [row[0]!, nodeOf(netns)?.name ?? '?', ...row.slice(1)] : row);
  const rows = [withNode(['POD', 'NETNS', 'IPS', 'SERVES'], undefined)];
  if (multi) rows[0]![1] = 'NODE';
  for (const p of [...s.pods].sort((a, b) => a.key.localeCompare(b.key))) rows.push(withNode([p.key, p.netns, p.ips.join(', '), portsText(p.ports)], p.nodeNetns));
  for (const h of s.hostPods ?? []) rows.push(withNode([h.key, '(host network)', nodeOf(h.nodeNetns)?.ips.join(', ') ?? '', portsText(h.ports)], h.nodeNetns));
  for (const e of s.externals) rows.push(withNode([`ext:${e.name}`, e.netns, e.ips.join(', '), '(outside host)'], e.nodeNetns));
  lines.push(table(rows).split('\n').map((l) => '  ' + l).join('\n'));
  if (!multi) lines.push(`  node serves: ${portsText(s.nodePorts)}`);
  const agents = labAgents(s);
  for (const a of agents) {
    const st = readAgentStatus(a.statusFile);
    // The status file outlives the agent: say so when its process is gone.
    const state = !processAlive(a.pid) ? `exited (see its log)${st ? `, last generation ${st.generation}` : ''}`
      : st ? (st.ready ? `ready, generation ${st.generation}` : 'not ready') : 'no status yet';
    lines.push(multi
      ? `agent of node ${a.node ?? '?'}: pid ${a.pid}, backend ${a.backend}, ${state}; log ${a.log}`
      : `agent: pid ${a.pid}, backend ${a.backend}, ${state}; follows ${s.manifestsDir}; log ${a.log}`);
  }
  // A document the agent refused after an edit of the folder (a typo'd field) is otherwise only
  // in its log, while the agent reads "ready"; every agent follows the same folder, so once.
  const refused = agents.map((a) => ({ a, errs: processAlive(a.pid) ? readAgentStatus(a.statusFile)?.sourceErrors ?? [] : [] })).find((x) => x.errs.length > 0);
  if (refused) {
    const more = refused.errs.length > 1 ? `; and ${refused.errs.length - 1} more, in the agent's log ${refused.a.log}` : '';
    lines.push(`manifests: ${refused.errs.length} error(s), not applied by the agent (a changed object keeps its last good version; the rest is enforced): ${refused.errs[0]}${more}`);
  }
  if (agents.length > 0) {
    if (multi) lines.push(`agents: one per node, all following ${s.manifestsDir}`);
    const vl = agents[0]!.verdictLog;
    lines.push(`verdict log: ${vl ? `${vl} (palisade logs --lab ${s.name})${multi ? `, shared by the ${agents.length} agents` : ''}` : 'none (lab up --verdict-log none)'}`);
  } else lines.push(`agent: not running (manifests folder: ${s.manifestsDir})`);
  return lines.join('\n');
}

/**
 * The folder the agent follows: a single folder as given, else the lab's own folder, filled by
 * `copy` (after the lab exists: rebuilding a lab clears its state folder).
 */
function agentFolder(lab: string, paths: string[]): { dir: string; copy?: () => string } {
  if (paths.length === 1) {
    try {
      if (statSync(paths[0]!).isDirectory()) return { dir: resolve(paths[0]!) };
    } catch { /* reported by the manifest loader */ }
  }
  const dir = join(labStateDir(lab), 'manifests');
  const copy = () => {
    mkdirSync(dir, { recursive: true });
    // The folder is the lab's own: drop copies of an earlier `lab up` so only these files count.
    for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
    const errs: ObjectError[] = [];
    let i = 0;
    for (const p of paths) for (const f of manifestFiles(p, errs)) copyFileSync(f, join(dir, `${String(i++).padStart(3, '0')}-${basename(f)}`));
    return `copied the manifests into ${dir}: the agent follows that folder (edit it, not the originals)`;
  };
  return { dir, copy };
}

/** --verdict-log FILE|none: an absolute path in an existing folder, false for none, undefined for the default. */
function verdictLogOption(v: string | undefined, withAgent: boolean): string | false | undefined {
  if (v === undefined) return undefined;
  if (!withAgent) throw new CliError('--verdict-log needs the agent (drop --no-agent)');
  if (v === 'none') return false;
  const file = resolve(v);
  let folder;
  try {
    folder = statSync(dirname(file));
  } catch {
    throw new CliError(`--verdict-log ${v}: folder ${dirname(file)} does not exist`);
  }
  if (!folder.isDirectory()) throw new CliError(`--verdict-log ${v}: ${dirname(file)} is not a folder`);
  return file;
}

/** --external NAME=IP[,IP]: at most one address per family. */
function externalFlag(v: string): { name: string; ips: string[] } {
  const m = /^([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?)=(.+)$/.exec(v);
  if (!m) throw new CliError(`--external must be NAME=IP[,IP] with NAME of a-z, 0-9 and '-', got "${v}"`);
  const ips = m[3]!.split(',').map((x) => x.trim());
  const fams = ips.map((ip) => {
    const f = parseIP(ip)?.family;
    if (!f) throw new CliError(`--external ${m[1]}: "${ip}" is not an IP address`);
    return f;
  });
  if (new Set(fams).size !== fams.length) throw new CliError(`--external ${m[1]}: at most one address per family`);
  return { name: m[1]!, ips };
}

async function up(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS.up, { '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positional.length) throw new CliError(`unexpected argument "${positional[0]}"`);
  const name = labName(flags.name);
  const backend = ((flags.backend as string | undefined) ?? 'nfqueue') as LabBackend;
  if (backend !== 'nfqueue' && backend !== 'tun') throw new CliError(`--backend must be nfqueue or tun, got "${String(backend)}"`);
  const withAgent = flags['no-agent'] !== true;
  if (withAgent && !agentAvailable()) throw new CliError('this build has no `palisade agent` command; use --no-agent');
  const verdictLogFlag = verdictLogOption(flags['verdict-log'] as string | undefined, withAgent);

  // The command line and the manifests first: their mistakes need no root to be found, and
  // must not hide behind "run it as root". The machine is asked before anything is built.
  const { state: cluster, errorCount } = loadClusterForCli('lab up', flags.manifests);
  let spec;
  let notes: string[];
  try {
    const externals = ((flags.external as string[] | undefined) ?? []).map(externalFlag);
    ({ spec, notes } = labSpecFromCluster(cluster, { node: flags.node as string | undefined, externals }));
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (withAgent && !spec.node.name) throw new CliError('the manifests hold no Node: the agent needs the node it enforces for (add a Node object, or use --no-agent)');
  const missing = missingReport(await checkLabPrereqs({ agent: withAgent, backend }));
  if (missing) throw new CliError(missing, 3);
  for (const n of notes) process.stderr.write(`palisade lab up: note: ${n}\n`);
  const folder = agentFolder(name, flags.manifests as string[]);
  const state = await labUp(spec, { name, manifestsDir: folder.dir });
  if (folder.copy) process.stderr.write(`palisade lab up: note: ${folder.copy()}\n`);
  if (withAgent) {
    const verdictLog = verdictLogFlag === false ? undefined : verdictLogFlag ?? labVerdictLog(state);
    if (labAgentsRunningAs(state, backend, verdictLog)) {
      // Already running as asked: it follows the folder, nothing to do.
    } else {
      if (labAgents(state).length) await stopLabAgent(state);
      try {
        await startLabAgent(state, { backend, verdictLog: verdictLog ?? false });
      } catch (e) {
        process.stdout.write(describeLab(state) + '\n');
        throw new CliError(`the lab is up but the agent failed: ${(e as Error).message}`, 1);
      }
    }
  } else if (labAgents(state).length) {
    await stopLabAgent(state);
  }
  process.stdout.write(describeLab(readLabState(name)!) + '\n');
  return errorCount > 0 ? 1 : 0;
}

/** Reads a probe file with helper endpoints "node" and "ext:NAME" on top of verify's format. */
export function readLabProbes(file: string, state: LabState): Probe[] {
  let doc: unknown;
  try {
    doc = parseYAML(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `bad YAML/JSON: ${(e as Error).message.split('\n')[0]}`}`);
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'probes' in doc) doc = (doc as { probes: unknown }).probes;
  if (!Array.isArray(doc) || doc.length === 0) throw new CliError(`${file}: must be a non-empty list of probes ({from, to, port, protocol?, family?, expect?})`);
  // Every probe is checked before giving up, so one run shows every mistake in the file.
  const errs: string[] = [];
  const probes = doc.map((raw, i) => {
    const where = `${file}: probe[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return collectProbe(raw, where, errs);
    const o = { ...(raw as Record<string, unknown>) };
    // verify's probe format knows ns/pod and IPs; the lab also knows its node and outside
    // hosts. Stand their address in for the check, then put the name back.
    const literal = [o.from, o.to].map((x) => (typeof x === 'string' ? parseIP(x)?.family : undefined)).find((f) => f);
    const family = familyName(o.family) ?? literal ?? 'IPv4';
    const named: Record<string, string> = {};
    let bad = false;
    for (const k of ['from', 'to'] as const) {
      const v = o[k];
      if (typeof v === 'string' && (v === 'node' || v.startsWith('node:') || v.startsWith('ext:'))) {
        try {
          o[k] = resolveLabEndpoint(state, v, family).ip;
        } catch (e) {
          errs.push(`${where}.${k}: ${(e as Error).message}`);
          bad = true;
          o[k] = family === 'IPv6' ? '::1' : '127.0.0.1'; // a stand-in so the other fields are still checked
        }
        named[k] = v;
      }
    }
    const p = collectProbe(o, where, errs);
    if (!p || bad) return undefined;
    // Pods and addresses are looked up here too, so a name the lab lacks is reported with its
    // probe and field, with the rest of the file's problems, before anything is run.
    for (const k of ['from', 'to'] as const) {
      if (named[k] !== undefined) continue;
      try {
        resolveLabEndpoint(state, p[k], p.family);
      } catch (e) {
        if (!(e instanceof LabProbeError)) throw e;
        errs.push(`${where}.${k}: ${e.message}`);
        bad = true;
      }
    }
    return bad ? undefined : { ...p, from: named.from ?? p.from, to: named.to ?? p.to };
  });
  if (errs.length > 0) throw new CliError(errs.join('\n'));
  return probes as Probe[];
}

/** A probe's row, as `-o json` prints it and the table reads it: the result, and its expect met or not. */
export interface ProbeRow extends LabProbeResult {
  /**
   * verify -o json's field, with its meaning: did policy let the connection through? A refused
   * probe did (nobody serves the port): true. An error is no policy verdict: null.
   */
  readonly allowed: boolean | null;
  readonly expect?: 'allow' | 'deny';
  readonly met?: boolean;
}

/** The rows of `lab probe` for its results, each with the expect of its probe (expects[i] for results[i]). */
export function probeRows(results: readonly LabProbeResult[], expects: readonly ('allow' | 'deny' | undefined)[]): ProbeRow[] {
  return results.map((r, i) => {
    const expect = expects[i];
    // allowed and expect are about policy: a refused connection was let through, nobody listened.
    const allowed = r.verdict === 'error' ? null : policyAllowed(r.verdict);
    return { ...r, allowed, ...(expect ? { expect, met: meetsExpectation(r.verdict, expect) } : {}) };
  });
}

async function probe(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS.probe, { '-o': 'output', '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positional.length) throw new CliError(`unexpected argument "${positional[0]}"`);
  // text, as every command calls its human format (table: the name it had, still taken).
  const output = textOrJson(flags.output === 'table' ? 'text' : flags.output);
  if (!flags.probes) throw new CliError('--probes FILE is required');
  const timeoutMs = intFlag(flags.timeout, 'timeout', 50, 30_000, PROBE_DEFAULTS.timeoutMs);
  const concurrency = intFlag(flags.concurrency, 'concurrency', 1, 256, PROBE_DEFAULTS.concurrency);
  const state = mustState(labName(flags.name));
  const probes = readLabProbes(flags.probes as string, state);
  const labProbes: LabProbe[] = probes.map((p) => ({ from: p.from, to: p.to, port: p.port, protocol: p.protocol, family: p.family }));
  let results: LabProbeResult[];
  try {
    results = await runLabProbes(state, labProbes, { timeoutMs, concurrency });
  } catch (e) {
    if (e instanceof LabProbeError) throw new CliError(`${flags.probes as string}: ${e.message}`);
    throw e;
  }
  const out = probeRows(results, probes.map((p) => p.expect));
  const missed = out.filter((r) => r.met === false).length;
  if (output === 'json') process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  else {
    const rows = [['#', 'FROM', 'TO', 'PORT', 'FAMILY', 'VERDICT', 'DETAIL', 'EXPECT']];
    out.forEach((r, i) => {
      rows.push([
        String(i), r.from === r.src ? r.src : `${r.from} (${r.src})`, r.to === r.dst ? r.dst : `${r.to} (${r.dst})`,
        `${r.protocol}/${r.port}`, r.family, probeVerdictText(r.verdict),
        `${r.detail} ${r.ms}ms${r.message ? ` (${r.message})` : ''}`,
        r.expect ? expectText(r.expect, r.met === true) : '',
      ]);
    });
    process.stdout.write(table(rows) + '\n');
  }
  if (missed) process.stderr.write(`palisade lab probe: ${missed} probe(s) did not meet their expect\n`);
  return missed ? 1 : 0;
}

async function down(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS.down, { '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positional.length) throw new CliError(`unexpected argument "${positional[0]}"`);
  if (flags.all && flags.name) throw new CliError('give --name or --all, not both');
  const names = flags.all ? await listLabs() : [labName(flags.name)];
  for (const n of names) {
    const s = readLabState(n);
    // Let the agent remove its rules first (they go with the namespace anyway).
    if (s && labAgents(s).length) await stopLabAgent(s).catch(() => {});
    let r;
    try {
      r = await labDown(n);
    } catch (e) {
      // The machine refused (mostly: no root), which is no bug in Palisade: one line, what to do.
      if (!(e instanceof CommandError)) throw e;
      const denied = /permission denied|operation not permitted/i.test(e.message);
      throw new CliError(`lab "${n}": ${e.message}${denied ? ': run it as root (sudo palisade lab down)' : ''}`, denied ? 3 : 1);
    }
    if (!s && r.pids.length === 0 && r.namespaces.length === 0 && !r.stateRemoved) {
      process.stdout.write(`lab "${n}": nothing to take down (no namespace, process or state of that name; palisade lab status lists the labs)\n`);
    } else process.stdout.write(`lab "${n}": stopped ${r.pids.length} process(es), deleted ${r.namespaces.length} namespace(s)${r.stateRemoved ? ', removed its state' : ''}\n`);
  }
  if (names.length === 0) process.stdout.write('no labs on this machine\n');
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS.status, { '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (positional.length) throw new CliError(`unexpected argument "${positional[0]}"`);
  if (flags.name === undefined) {
    process.stdout.write(await overview());
    return 0;
  }
  process.stdout.write(describeLab(mustState(labName(flags.name))) + '\n');
  return 0;
}

/** `lab status` without --name: every lab, which is the default, and the default lab in full. */
async function overview(): Promise<string> {
  const labs = await listLabs();
  const d = defaultLabName();
  const dname = labName(undefined);
  const crashed = (l: string) => ` (no state: leftovers of a crashed run; palisade lab down --name ${l})`;
  const lines = labs.length ? ['labs on this machine:'] : [];
  lines.push(...labs.map((l) => `  ${l}${l === dname ? ` (default, from ${d.from}: commands without --name use it)` : ''}${readLabState(l) ? '' : crashed(l)}`));
  if (labs.length === 0) lines.push('no labs on this machine');
  const dflt = readLabState(dname);
  if (dflt) lines.push('', describeLab(dflt));
  else if (labs.length > 0) lines.push('', `no lab "${dname}" (the default, from ${d.from}): give --name LAB to the lab commands (or set PALISADE_LAB); palisade lab status --name LAB shows one`);
  return lines.join('\n') + '\n';
}

export const subcommands = ['up', 'probe', 'down', 'status'] as const;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'up': return up(rest);
    case 'probe': return probe(rest);
    case 'down': return down(rest);
    case 'status': return status(rest);
    case undefined:
      // No subcommand is a usage error: stderr, as for `palisade` alone, so stdout stays empty.
      process.stderr.write(HELP + '\n');
      return 2;
    case '-h': case '--help': case 'help':
      process.stdout.write(HELP + '\n');
      return 0;
    default: {
      const near = closestWord(sub, subcommands);
      throw new CliError(`unknown subcommand "${sub}" (${near ? `did you mean ${near}?` : subcommands.join(', ')})`);
    }
  }
}
