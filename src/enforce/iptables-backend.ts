// Which iptables backend (iptables-nft or iptables-legacy) Palisade programs.
//
// Rules must go where the node's other rules are (kubelet, kube-proxy, the CNI): both backends
// hook netfilter separately, and a node whose kube-proxy writes legacy rules while Palisade writes
// nft ones works by accident of hook order, if at all. Inside the agent's container `iptables -V`
// only says which backend the image's Debian alternative points at (nft), not what the node uses,
// so the node's tables are read instead, the way kubernetes-sigs/iptables-wrappers does it:
//
//   1. the backend holding the kubelet's marker chains (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY,
//      in mangle: the kubelet creates them on the backend it uses, since Kubernetes 1.17);
//   2. else the one holding any other KUBE-* chain (kube-proxy);
//   3. else the one holding more rules (IPv4 + IPv6, every table);
//   4. else (both empty, or equal) nft, the default of every current distribution.
//
// Palisade's own PALISADE-* chains and rules are not counted: rules a previous agent left behind
// (--keep-rules) must not decide the backend. They are reported instead (`stale`), so the agent
// can remove them from the backend it does not use; otherwise they would keep queueing packets.

import { CommandError, runCommand, type CommandPrefix } from './command.ts';

export type IptablesBackend = 'nft' | 'legacy';

/** What one backend holds, read from `iptables-<backend>-save` and `ip6tables-<backend>-save`. */
export interface BackendCount {
  readonly backend: IptablesBackend;
  /** The kubelet's marker chains (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY). */
  readonly kubeletChains: readonly string[];
  /** Number of other KUBE-* chains (kube-proxy and the like). */
  readonly kubeChains: number;
  /** Rules (`-A` lines) outside Palisade's chains, all tables, both families. */
  readonly rules: number;
  /** Palisade chains found (a previous run's, or another agent's). */
  readonly palisadeChains: number;
  /** Save commands that failed (missing tool, kernel without the backend): their tables count as empty. */
  readonly failed: readonly string[];
}

export interface BackendChoice {
  readonly backend: IptablesBackend;
  /** One sentence: why this backend (for the agent's log). */
  readonly reason: string;
  /** The other backend, when it holds Palisade chains that should be removed. */
  readonly stale?: IptablesBackend;
  readonly counts?: readonly BackendCount[];
}

const KUBELET_CHAINS = ['KUBE-IPTABLES-HINT', 'KUBE-KUBELET-CANARY'];

/** Counts what `*-save` output (IPv4 and IPv6, concatenated) holds. */
export function countSave(backend: IptablesBackend, text: string, failed: readonly string[] = []): BackendCount {
  const kubelet = new Set<string>();
  let kube = 0;
  let rules = 0;
  let palisade = 0;
  for (const line of text.split('\n')) {
    const chain = /^:(\S+) /.exec(line);
    if (chain) {
      const name = chain[1]!;
      if (KUBELET_CHAINS.includes(name)) kubelet.add(name);
      else if (name.startsWith('KUBE-')) kube++;
      else if (name.startsWith('PALISADE-')) palisade++;
      continue;
    }
    const rule = /^-A (\S+)/.exec(line);
    // Palisade's own chains, and the hook jumps into them, are not the node's rules.
    if (rule && !rule[1]!.startsWith('PALISADE-') && !/ -[jg] PALISADE-/.test(line)) rules++;
  }
  return { backend, kubeletChains: [...kubelet].sort(), kubeChains: kube, rules, palisadeChains: palisade, failed };
}

function describe(c: BackendCount): string {
  const parts = [`${c.rules} rules`];
  if (c.kubeletChains.length > 0) parts.push(`kubelet chains ${c.kubeletChains.join(', ')}`);
  if (c.kubeChains > 0) parts.push(`${c.kubeChains} other KUBE-* chains`);
  if (c.failed.length > 0) parts.push(`unreadable: ${c.failed.join(', ')}`);
  return `${c.backend}: ${parts.join(', ')}`;
}

/** The backend the node uses, from what each one holds (see the top of this file). */
export function pickBackend(legacy: BackendCount, nft: BackendCount): { backend: IptablesBackend; reason: string } {
  const seen = `(${describe(legacy)}; ${describe(nft)})`;
  const tiers: [string, (c: BackendCount) => number][] = [
    ['the kubelet\'s marker chains', (c) => c.kubeletChains.length],
    ['KUBE-* chains', (c) => c.kubeChains],
  ];
  for (const [what, score] of tiers) {
    const l = score(legacy) > 0, n = score(nft) > 0;
    if (l && !n) return { backend: 'legacy', reason: `only the legacy tables hold ${what} ${seen}` };
    if (n && !l) return { backend: 'nft', reason: `only the nft tables hold ${what} ${seen}` };
  }
  if (legacy.rules > nft.rules) return { backend: 'legacy', reason: `the legacy tables hold more rules ${seen}` };
  if (nft.rules > legacy.rules) return { backend: 'nft', reason: `the nft tables hold more rules ${seen}` };
  return { backend: 'nft', reason: `neither backend holds more of the node's rules, nft is the default ${seen}` };
}

/** Reads one backend's tables, IPv4 and IPv6. */
export async function countBackend(backend: IptablesBackend, prefix?: CommandPrefix): Promise<BackendCount> {
  let text = '';
  const failed: string[] = [];
  for (const base of ['iptables', 'ip6tables']) {
    const cmd = `${base}-${backend}-save`;
    const r = await runCommand([cmd], { prefix, timeoutMs: 15_000 }).catch(() => undefined);
    if (r && r.code === 0) text += r.stdout;
    else failed.push(cmd);
  }
  return countSave(backend, text, failed);
}

const listCmd = (b: IptablesBackend): string[] => [`iptables-${b}`, '-w', '5', '-t', 'filter', '-S', 'FORWARD'];

/** Why a tool failed: not there at all, or what it said (its first line). */
export interface ToolFailure {
  readonly tool: string;
  readonly missing: boolean;
  readonly said: string;
}

/** The failure behind what runCommand or mustRun threw for `tool`. */
export function toolFailure(tool: string, e: unknown): ToolFailure {
  if (!(e instanceof CommandError)) return { tool, missing: false, said: String((e as Error)?.message ?? e) };
  const said = e.stderr.trim().split('\n')[0] ?? '';
  // No exit code: it could not be started (spawn's ENOENT); `ip netns exec` says it in words.
  const missing = (e.exitCode === null && /ENOENT/.test(said)) || /^exec of .* failed: No such file or directory/.test(said);
  return { tool, missing, said };
}

/**
 * Why neither backend can be used, from each one's failure, saying what to do: install iptables
 * when no tool is there, run as root when one was refused for want of privilege, else each
 * tool's own words. A guess covering both ("is iptables installed, and are we root?") left the
 * user to find out which.
 */
export function unusableIptablesText(failures: readonly ToolFailure[]): string {
  // nft first, as the sentence names them, whichever was tried first.
  const order = (f: ToolFailure) => (f.tool.includes('nft') ? 0 : 1);
  const sorted = [...failures].sort((a, b) => order(a) - order(b));
  if (sorted.every((f) => f.missing)) return 'iptables is not installed here (neither iptables-nft nor iptables-legacy is on PATH): install it (apt-get install -y iptables)';
  const denied = sorted.find((f) => /permission denied|must be root|operation not permitted/i.test(f.said));
  if (denied) return `iptables needs root here: run it as root (or with CAP_NET_ADMIN) (${denied.tool}: ${denied.said})`;
  const each = sorted.map((f) => `${f.tool}: ${f.missing ? 'not on PATH' : f.said || 'failed, saying nothing'}`);
  return `neither iptables-nft nor iptables-legacy can list the filter table here: ${each.join('; ')}`;
}

/** Why backend `b` cannot list the filter table here, or undefined when it can. */
async function listFailure(b: IptablesBackend, prefix?: CommandPrefix): Promise<ToolFailure | undefined> {
  const argv = listCmd(b);
  try {
    const r = await runCommand(argv, { prefix });
    if (r.code === 0) return undefined;
    return { tool: argv[0]!, missing: false, said: (r.stderr || r.stdout).trim().split('\n')[0] || `exit ${r.code}` };
  } catch (e) {
    return toolFailure(argv[0]!, e);
  }
}

/**
 * The backend to program and why: `prefer` when given (it must work here), else the node's (see
 * the top of this file), provided it can list the filter table here; else the other one if that
 * can. Reads the tables before anything lists them (listing a legacy table instantiates it).
 */
export async function chooseBackend(prefer: IptablesBackend | 'auto', prefix?: CommandPrefix): Promise<BackendChoice> {
  if (prefer !== 'auto') {
    const failed = await listFailure(prefer, prefix);
    if (failed) throw new Error(`iptables backend ${prefer} does not work here (${listCmd(prefer).join(' ')}: ${failed.missing ? 'not on PATH' : failed.said})`);
    return { backend: prefer, reason: `--iptables ${prefer} given` };
  }
  const legacy = await countBackend('legacy', prefix);
  const nft = await countBackend('nft', prefix);
  const picked = pickBackend(legacy, nft);
  let backend = picked.backend;
  let reason = picked.reason;
  const failed = await listFailure(backend, prefix);
  if (failed) {
    const other: IptablesBackend = backend === 'nft' ? 'legacy' : 'nft';
    const otherFailed = await listFailure(other, prefix);
    if (otherFailed) throw new Error(unusableIptablesText([failed, otherFailed]));
    reason = `${backend} was the choice but ${listCmd(backend)[0]} does not work here: ${reason}`;
    backend = other;
  }
  const otherCount = backend === 'nft' ? legacy : nft;
  return { backend, reason, stale: otherCount.palisadeChains > 0 ? otherCount.backend : undefined, counts: [legacy, nft] };
}

/** chooseBackend without the reason. */
export async function detectBackend(prefer: IptablesBackend | 'auto', prefix?: CommandPrefix): Promise<IptablesBackend> {
  return (await chooseBackend(prefer, prefix)).backend;
}
