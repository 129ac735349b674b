// `palisade diff --before PATH... --after PATH...` or `palisade diff --git REF[:PATH] [--after PATH...]`:
// the connections a policy change opens or closes (src/analysis/diff.ts), each with the rule
// responsible on each side; exit 1 when anything changed, so CI can gate a policy pull request.
// The after side may be the live cluster (--kubeconfig FILE [--context NAME], read once through
// cluster-input.ts like every analysis command): what the cluster runs now against a folder or
// a commit.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { diffConnectivity, type ConnectionChange, type ConnectivityDiff } from '../../analysis/diff.ts';
import type { EdgePart } from '../../analysis/connectivity.ts';
import { normaliseRanges, portSetText, type PortRange } from '../../analysis/ports.ts';
import { CliError, parseArgs, type FlagSpec } from '../args.ts';
import { sideText } from '../vocabulary.ts';
import { loadClusterInput } from '../cluster-input.ts';
import { familyFlag, loadClusterForCli, manifestPathsFlag, rejectPositional } from '../manifest-input.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { before: 'list', after: 'list', kubeconfig: 'string', context: 'string', git: 'string', family: 'string', output: 'string', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade diff --before PATH... --after PATH... [--family IPv4|IPv6] [-o text|json|md]
       palisade diff --git REF[:PATH] [--after PATH...] [...]
       palisade diff --before PATH...|--git REF[:PATH] [--after] --kubeconfig FILE [--context NAME] [...]

Compares the connectivity (see connlist) of two sets of manifests and lists every connection
newly allowed (+), newly denied (-) and with changed ports (~), each run of ports with the
decision of the source's egress and the destination's ingress: now, and for what closed, before.
  --git REF[:PATH]  before = PATH (default: the whole repository) as committed at REF, read with
                    git archive; after = the same PATH in the working tree, unless --after is given
  --kubeconfig FILE the after side is the live cluster, read once (list, no watch), with the
                    kubeconfig's current context or --context NAME; "--after --kubeconfig FILE"
                    says the same. Not with --after PATH...
Exit status: 0 no connection changed; 1 something changed, or some input objects (manifest
documents or cluster objects) were invalid (left out); 2 bad flags.`;

/** Runs with the same two decisions merged across protocols: "TCP all; UDP 53: egress ...; ingress ...". */
function whys(parts: readonly EdgePart[]): string[] {
  const by = new Map<string, { TCP: PortRange[]; UDP: PortRange[]; SCTP: PortRange[] }>();
  for (const p of parts) {
    const k = `egress ${sideText(p.egress)}; ingress ${sideText(p.ingress)}`;
    let set = by.get(k);
    if (!set) by.set(k, (set = { TCP: [], UDP: [], SCTP: [] }));
    set[p.protocol].push(...p.ranges);
  }
  return [...by].map(([k, x]) => `${portSetText({ TCP: normaliseRanges(x.TCP), UDP: normaliseRanges(x.UDP), SCTP: normaliseRanges(x.SCTP) })}: ${k}`);
}

/** " (new endpoint)" or " (endpoint gone)" when the change comes from an endpoint that came or went. */
function endpointNote(c: ConnectionChange): string {
  return c.endpoint === 'new' ? ' (new endpoint)' : c.endpoint === 'gone' ? ' (endpoint gone)' : '';
}

function changeLines(c: ConnectionChange): string[] {
  const mark = c.kind === 'added' ? '+' : c.kind === 'removed' ? '-' : '~';
  const note = endpointNote(c);
  const head = c.kind === 'changed'
    ? `${mark} ${c.from} => ${c.to} : ${portSetText(c.before)} -> ${portSetText(c.after)}`
    : `${mark} ${c.from} => ${c.to} : ${portSetText(c.kind === 'added' ? c.after : c.before)}${note}`;
  const out = [head];
  // A change between some members only (an ipBlock tells the replicas apart): which ones.
  if (c.pods) out.push(`    for pods ${c.pods.from.join(', ')} => ${c.pods.to.join(', ')} only`);
  for (const w of whys(c.openedBy)) out.push(`    opened ${w}`);
  for (const w of whys(c.closedBy)) out.push(`    closed ${w}`);
  for (const w of whys(c.closedWere)) out.push(`      was  ${w}`);
  return out;
}

export function diffText(d: ConnectivityDiff): string {
  if (d.changes.length === 0) return 'no connection changed\n';
  const n = (k: string) => d.changes.filter((c) => c.kind === k).length;
  const lines = d.changes.flatMap(changeLines);
  lines.push('', `${d.changes.length} connection(s) changed: ${n('added')} newly allowed, ${n('removed')} newly denied, ${n('changed')} with other ports`);
  return lines.join('\n') + '\n';
}

function diffMarkdown(d: ConnectivityDiff): string {
  // An empty table would read as a broken comment; the text's sentence says it.
  if (d.changes.length === 0) return diffText(d);
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\*/g, '\\*');
  const rows = ['| change | from | to | before | after | why |', '|---|---|---|---|---|---|'];
  for (const c of d.changes) {
    // The text's lines under the change (opened, closed, and what a closed run was), so a pull
    // request comment says as much as the terminal.
    const w = changeLines(c).slice(1).map((l) => l.trim().replace(/\s+/g, ' ')).join('<br>');
    rows.push(`| ${c.kind}${endpointNote(c)} | ${esc(c.from)} | ${esc(c.to)} | ${esc(portSetText(c.before))} | ${esc(portSetText(c.after))} | ${esc(w)} |`);
  }
  return rows.join('\n') + '\n';
}

/** Checks REF[:PATH] out of the repository around the working directory into a temp folder; returns the folder and PATH. */
function gitTree(spec: string): { dir: string; path: string; root: string; cleanup: () => void } {
  const colon = spec.indexOf(':');
  const ref = colon >= 0 ? spec.slice(0, colon) : spec;
  const sub = colon >= 0 ? spec.slice(colon + 1) : '';
  if (ref === '') throw new CliError(`--git ${spec}: no REF before ':'`);
  const git = (args: string[], opts: { cwd?: string } = {}) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let root: string;
  try {
    root = git(['rev-parse', '--show-toplevel']).trim();
  } catch {
    throw new CliError('--git: the current directory is not inside a git repository');
  }
  try {
    git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: root });
  } catch {
    throw new CliError(`--git ${spec}: no commit ${ref} in ${root}`);
  }
  // PATH is relative to the current directory, like the paths of --after.
  const path = sub === '' ? '.' : relative(root, resolve(sub)) || '.';
  // git refuses such a PATH with an error of its own; said here as a mistake in the flag.
  if (path === '..' || path.startsWith(`..${sep}`) || isAbsolute(path)) throw new CliError(`--git ${spec}: ${sub} is outside the repository ${root}`);
  const dir = mkdtempSync(join(tmpdir(), 'palisade-diff-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  // A PATH the commit lacks but the working tree has (a change adding the first policy folder)
  // is compared from nothing; one missing from both is a typo.
  if (git(['ls-tree', '--name-only', ref, '--', path], { cwd: root }).trim() === '' && path !== '.') {
    if (!existsSync(join(root, path))) {
      cleanup();
      throw new CliError(`--git ${spec}: ${path}: no such path at ${ref} nor in the working tree`);
    }
    process.stderr.write(`palisade diff: note: ${path} did not exist at ${ref}: the before side is empty\n`);
    // One empty file: a folder with none is warned about, naming this temporary folder.
    mkdirSync(join(dir, path), { recursive: true });
    writeFileSync(join(dir, path, 'empty.yaml'), '');
    return { dir: join(dir, path), path: join(root, path), root, cleanup };
  }
  try {
    const tar = execFileSync('git', ['archive', '--format=tar', ref, '--', path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (e) {
    cleanup();
    const msg = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim().split('\n')[0];
    throw new CliError(`--git ${spec}: cannot read ${path} at ${ref}: ${msg}`);
  }
  return { dir: join(dir, path), path: join(root, path), root, cleanup };
}

/** "--after --kubeconfig FILE" reads as "after = the cluster": that --after carries no paths, so it goes. */
function dropBareAfter(argv: string[]): string[] {
  return argv.filter((a, i) => !(a === '--after' && /^--(kubeconfig|context)(=|$)/.test(argv[i + 1] ?? '')));
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(
    dropBareAfter(argv),
    FLAGS,
    { '-o': 'output', '-h': 'help' },
  );
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  rejectPositional(positional, '--before and --after');
  const output = (flags.output as string | undefined) ?? 'text';
  if (!['text', 'json', 'md'].includes(output)) throw new CliError(`-o must be text, json or md, got "${output}"`);
  const family = familyFlag(flags.family) ?? 'IPv4';
  if (flags.git !== undefined && flags.before !== undefined) throw new CliError('give --before or --git, not both');
  if (flags.git === undefined && flags.before === undefined) throw new CliError('--before PATH... (or --git REF[:PATH]) is required');
  // Conflicting after inputs are refused before git or the cluster is touched.
  if (flags.after !== undefined && flags.kubeconfig !== undefined) throw new CliError('--after PATH... and --kubeconfig are two after inputs: give one');
  if (flags.context !== undefined && flags.kubeconfig === undefined) throw new CliError('--context needs --kubeconfig');
  if (flags.git === undefined && flags.after === undefined && flags.kubeconfig === undefined) {
    throw new CliError('--after PATH... (or --kubeconfig FILE for the live cluster) is required');
  }
  // A path that does not exist is named by its flag, before either side is read (or git run).
  if (flags.before !== undefined) manifestPathsFlag(flags.before, 'before');
  if (flags.after !== undefined) manifestPathsFlag(flags.after, 'after');
  let before: string[], after: string[] | undefined, cleanup = () => {};
  if (flags.git !== undefined) {
    const t = gitTree(flags.git as string);
    cleanup = t.cleanup;
    before = [t.dir];
    after = (flags.after as string[] | undefined) ?? (flags.kubeconfig === undefined ? [t.path] : undefined);
    // PATH deleted in the working tree (a change removing the policy folder) is compared with
    // nothing, as one that did not exist at REF is above.
    if (flags.after === undefined && flags.kubeconfig === undefined && !existsSync(t.path)) {
      const empty = mkdtempSync(join(tmpdir(), 'palisade-diff-after-'));
      writeFileSync(join(empty, 'empty.yaml'), '');
      cleanup = () => {
        t.cleanup();
        rmSync(empty, { recursive: true, force: true });
      };
      process.stderr.write(`palisade diff: note: ${relative(t.root, t.path) || '.'} is gone from the working tree: the after side is empty\n`);
      after = [empty];
    }
  } else {
    before = flags.before as string[];
    after = flags.after as string[] | undefined;
  }
  try {
    const b = loadClusterForCli('diff', before, { flag: 'before' });
    const a = await loadClusterInput('diff', { after, kubeconfig: flags.kubeconfig, context: flags.context }, { manifestsFlag: 'after' });
    const d = diffConnectivity(b.state, a.state, { family });
    process.stdout.write(output === 'json' ? JSON.stringify(d.changes, null, 2) + '\n' : output === 'md' ? diffMarkdown(d) : diffText(d));
    return d.changes.length > 0 || b.errorCount > 0 || a.errorCount > 0 ? 1 : 0;
  } finally {
    cleanup();
  }
}
