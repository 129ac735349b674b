// Palisade's iptables rules in the kernel: the rules of rule-plan.ts (the chains and their
// layout are described there) installed and replaced with one `iptables-restore --noflush`
// transaction per table and family, read back, checked, restored and removed.

import { CommandError, mustRun, runCommand, type CommandPrefix } from './command.ts';
import { iptablesModuleHint, withHint } from './kernel-modules.ts';
import { chooseBackend, type IptablesBackend } from './iptables-backend.ts';
import { CHAIN_PREFIX, palisadeLines, type PalisadeLines } from './iptables-lines.ts';
import { checkMark } from './rule-values.ts';
import { chainRules, chainsOf, hooks, podChains, podRules, ruleProblems, table, type Family, type PodMatch, type RulePlan } from './rule-plan.ts';
// Backend detection lives in iptables-backend.ts, the PALISADE-DNS rules in dns-rules.ts,
// reading rules back in iptables-lines.ts, the rules in rule-plan.ts; re-exported for callers
// that program rules.
export { chooseBackend, detectBackend, type IptablesBackend } from './iptables-backend.ts';
export { DEFAULT_DNS_DIVERT_MARK, dnsQueue, dnsTunName } from './dns-rules.ts';
export { CHAIN_PREFIX, palisadeLines, type PalisadeLines } from './iptables-lines.ts';
export { checkAddress, checkIface, checkMark } from './rule-values.ts';
export { CACHE_SETS, CHAINS, DEFAULT_ALLOW_MARK, DEFAULT_DIVERT_MARK, chainRules, chainsOf, hooks, podRules, ruleProblems, type Family, type PodMatch, type RuleMode, type RulePlan } from './rule-plan.ts';

interface Tools {
  readonly save: string;
  readonly cmd: string;
  readonly restore: string;
}

function tools(backend: IptablesBackend, family: Family): Tools {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  return { save: `${base}-${backend}`, cmd: `${base}-${backend}`, restore: `${base}-${backend}-restore` };
}

export interface IptablesOptions {
  readonly backend: IptablesBackend;
  readonly plan: RulePlan;
  /** Families to program; IPv6 is skipped (with a note) when ip6tables cannot work here. */
  readonly families?: readonly Family[];
  /** Command prefix, e.g. ['ip', 'netns', 'exec', NS] (tests); the agent runs inside the namespace. */
  readonly prefix?: CommandPrefix;
}

/** Lines of `-S` for a table: rules that jump into Palisade chains from elsewhere, and Palisade chains. */
async function listPalisade(t: Tools, tableName: string, prefix?: CommandPrefix): Promise<{ jumps: string[]; chains: string[] }> {
  const r = await mustRun([t.cmd, '-w', '5', '-t', tableName, '-S'], { prefix });
  const jumps: string[] = [];
  const chains: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^-N (\S+)$/.exec(line);
    if (m) {
      if (m[1]!.startsWith(CHAIN_PREFIX)) chains.push(m[1]!);
      continue;
    }
    const a = /^-A (\S+) .*-j (PALISADE-\S+)/.exec(line);
    if (a && !a[1]!.startsWith(CHAIN_PREFIX)) jumps.push(line);
  }
  return { jumps, chains };
}

export class Iptables {
  readonly backend: IptablesBackend;
  /** Fixed but for noIfaceSets, which the source guard's layout decides after the backend is probed (setNoIfaceSets). */
  plan: RulePlan;
  readonly prefix?: CommandPrefix;
  families: Family[];
  private lastPods = new Map<Family, string>();
  /** The pod selection last installed (what a restoration puts back). */
  private pods?: PodMatch;
  /** Palisade's lines per family as read back right after Palisade wrote them. */
  private baseline = new Map<Family, PalisadeLines>();

  constructor(opts: IptablesOptions) {
    this.backend = opts.backend;
    this.plan = opts.plan;
    this.prefix = opts.prefix;
    this.families = [...(opts.families ?? [4, 6])];
    checkMark(opts.plan.allowMark, 'allow mark');
    if (opts.plan.mode === 'tun') checkMark(opts.plan.divertMark ?? 0, 'divert mark');
  }

  /** Before the rules are installed: the sets the source guard wants its no-interface drop to read (RulePlan.noIfaceSets). */
  setNoIfaceSets(sets: RulePlan['noIfaceSets']): void {
    this.plan = { ...this.plan, noIfaceSets: sets };
  }

  /**
   * Drops IPv6 when ip6tables cannot work because IPv6 is off here (then there is no IPv6
   * traffic to judge) and returns a note. If IPv6 is on but ip6tables fails, throws: leaving a
   * family unenforced would open it.
   */
  async probeFamilies(): Promise<string | undefined> {
    if (!this.families.includes(6)) return undefined;
    const t = tools(this.backend, 6);
    const r = await runCommand([t.cmd, '-w', '5', '-t', table(this.plan.mode), '-S'], { prefix: this.prefix }).catch(() => undefined);
    if (r && r.code === 0) return undefined;
    const why = r ? r.stderr.trim() : 'not found';
    const v6 = await runCommand(['cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6'], { prefix: this.prefix }).catch(() => undefined);
    const ipv6On = v6 !== undefined && v6.code === 0 && v6.stdout.trim() === '0';
    if (ipv6On) throw new Error(`IPv6 is enabled here but ${t.cmd} does not work (${why}); refusing to leave IPv6 unenforced (pass --no-ipv6 to accept that)`);
    this.families = this.families.filter((f) => f !== 6);
    return `IPv6 is disabled here; enforcing IPv4 only (${t.cmd}: ${why})`;
  }

  /**
   * Installs or takes over Palisade's rules for this mode, one transaction per family: chains
   * are (re)declared, which flushes and refills them atomically, the hook jump is added only if
   * missing, and leftovers of another mode are removed. Running it again with the same plan is a
   * no-op for traffic: established flows keep matching throughout.
   */
  async install(pods: PodMatch): Promise<void> {
    for (const f of this.families) {
      const t = tools(this.backend, f);
      const want = table(this.plan.mode);
      for (const tbl of ['filter', 'mangle']) {
        const cur = await listPalisade(t, tbl, this.prefix);
        const lines: string[] = [];
        const ours = tbl === want ? chainsOf(this.plan) : [];
        const hookList = tbl === want ? hooks(this.plan.mode) : [];
        // Stale jumps (another mode, or a hook this plan does not use) go first.
        for (const j of cur.jumps) {
          const keep = hookList.some((h) => j.startsWith(`-A ${h.chain} `) && j.includes(`-j ${h.target}`));
          if (!keep) lines.push(j.replace(/^-A /, '-D '));
        }
        for (const c of ours) lines.push(`:${c} - [0:0]`);
        const stale = cur.chains.filter((c) => !ours.includes(c));
        for (const c of stale) lines.push(`:${c} - [0:0]`);
        if (tbl === want) {
          lines.push(...chainRules(this.plan, f));
          lines.push(...podRules(this.plan, pods, f));
          for (const h of hookList) {
            const has = cur.jumps.some((j) => j.startsWith(`-A ${h.chain} `) && j.includes(`-j ${h.target}`));
            if (!has) lines.push(`-I ${h.chain} 1 -j ${h.target}`);
          }
        }
        for (const c of stale) lines.push(`-X ${c}`);
        if (lines.length === 0) continue;
        await this.restore(f, tbl, lines);
      }
      this.lastPods.set(f, JSON.stringify(podRules(this.plan, pods, f)));
      await this.captureBaseline(f);
    }
    this.pods = pods;
  }

  /** Reads back the planned table of one family and remembers Palisade's lines as the reference. */
  private async captureBaseline(f: Family): Promise<void> {
    const text = (await mustRun([tools(this.backend, f).cmd, '-w', '5', '-t', table(this.plan.mode), '-S'], { prefix: this.prefix })).stdout;
    this.baseline.set(f, palisadeLines(text));
  }

  /**
   * Checks that Palisade's chains, their rules and the hook jumps are all still in place, in
   * every family (one `-S` of one table per family: cheap enough to run every second). Returns
   * the problems found, per family; empty when intact or before the first install.
   */
  async verify(): Promise<{ family: Family; problems: string[] }[]> {
    const pods = this.pods;
    if (!pods) return [];
    const out: { family: Family; problems: string[] }[] = [];
    for (const f of this.families) {
      const r = await runCommand([tools(this.backend, f).cmd, '-w', '5', '-t', table(this.plan.mode), '-S'], { prefix: this.prefix });
      // A table we cannot even list counts as broken: reinstalling reports the real error.
      const problems = r.code === 0
        ? ruleProblems(this.plan, pods, f, palisadeLines(r.stdout), this.baseline.get(f))
        : [`cannot list table ${table(this.plan.mode)}: ${r.stderr.trim().split('\n')[0] ?? ''}`];
      if (problems.length > 0) out.push({ family: f, problems });
    }
    return out;
  }

  /** Puts the last installed rules back (idempotent, same transaction as install()). */
  async reinstall(): Promise<void> {
    if (!this.pods) throw new Error('nothing installed yet');
    this.lastPods.clear();
    await this.install(this.pods);
  }

  /** Replaces PALISADE-PODS (one transaction per family) when the set changed. Returns true when it did. */
  async setPods(pods: PodMatch): Promise<boolean> {
    let changed = false;
    for (const f of this.families) {
      const rules = podRules(this.plan, pods, f);
      const key = JSON.stringify(rules);
      if (this.lastPods.get(f) === key) continue;
      const flush = podChains(this.plan).map((c) => `:${c} - [0:0]`);
      await this.restore(f, table(this.plan.mode), [...flush, ...rules]);
      this.lastPods.set(f, key);
      await this.captureBaseline(f);
      changed = true;
    }
    this.pods = pods;
    return changed;
  }

  /**
   * The source guard's no-interface families changed outside a generation (its watchdog found an
   * interface gone or back): the pod rules are written again for them. False when unchanged.
   */
  async setNoIfaceFamilies(families: readonly Family[]): Promise<boolean> {
    if (!this.pods || !this.plan.noIfaceSets) return false;
    const had = this.pods.noIfaceFamilies ?? [];
    if (had.length === families.length && families.every((f) => had.includes(f))) return false;
    return this.setPods({ ...this.pods, noIfaceFamilies: [...families] });
  }

  /** Removes every Palisade jump and chain (any mode) from filter and mangle, both families. Nothing else is touched. */
  async remove(): Promise<void> {
    await removeAll(this.backend, this.prefix, this.families);
    this.lastPods.clear();
    this.baseline.clear();
    this.pods = undefined;
  }

  private async restore(f: Family, tbl: string, lines: string[]): Promise<void> {
    await restoreTable(this.backend, f, tbl, lines, this.prefix);
  }
}

/**
 * One `iptables-restore --noflush` transaction on one table. When it fails because the kernel
 * lacks an extension, the error leads with the module to load and the modprobe command for the
 * node (kernel-modules.ts): the agent cannot load modules itself.
 */
export async function restoreTable(backend: IptablesBackend, family: Family, tbl: string, lines: readonly string[], prefix?: CommandPrefix): Promise<void> {
  const t = tools(backend, family);
  const input = `*${tbl}\n${lines.join('\n')}\nCOMMIT\n`;
  try {
    await mustRun([t.restore, '-w', '5', '--noflush'], { input, prefix });
  } catch (e) {
    throw e instanceof CommandError ? withHint(e, iptablesModuleHint(e.stderr, backend)) : e;
  }
}

/** Removes all PALISADE-* chains and the jumps into them, for the given families. */
export async function removeAll(backend: IptablesBackend, prefix?: CommandPrefix, families: readonly Family[] = [4, 6]): Promise<void> {
  for (const f of families) {
    const t = tools(backend, f);
    for (const tbl of ['filter', 'mangle']) {
      const cur = await listPalisade(t, tbl, prefix);
      if (cur.jumps.length === 0 && cur.chains.length === 0) continue;
      const lines = [
        ...cur.jumps.map((j) => j.replace(/^-A /, '-D ')),
        ...cur.chains.map((c) => `:${c} - [0:0]`),
        ...cur.chains.map((c) => `-X ${c}`),
      ];
      await restoreTable(backend, f, tbl, lines, prefix);
    }
  }
}

/**
 * The backend to program and why (chooseBackend), after removing Palisade chains a previous run
 * left on the other backend: they would keep sending packets to the queue from there.
 */
export async function settleBackend(prefer: IptablesBackend | 'auto', prefix?: CommandPrefix): Promise<{ backend: IptablesBackend; reason: string }> {
  const c = await chooseBackend(prefer, prefix);
  if (!c.stale) return c;
  try {
    await removeAll(c.stale, prefix);
    return { backend: c.backend, reason: `${c.reason}; removed Palisade chains left on the ${c.stale} backend` };
  } catch (e) {
    return { backend: c.backend, reason: `${c.reason}; could not remove Palisade chains left on the ${c.stale} backend: ${(e as Error).message}` };
  }
}

/** The jumps into Palisade chains from other chains, and the Palisade chains, of one table (`palisade cleanup` lists them). */
export function listPalisadeRules(backend: IptablesBackend, family: Family, tbl: string, prefix?: CommandPrefix): Promise<{ jumps: string[]; chains: string[] }> {
  return listPalisade(tools(backend, family), tbl, prefix);
}

/** `-S` of one table and family, for tests and diagnostics. */
export async function listRules(backend: IptablesBackend, family: Family, tbl: string, prefix?: CommandPrefix): Promise<string> {
  return (await mustRun([tools(backend, family).cmd, '-w', '5', '-t', tbl, '-S'], { prefix })).stdout;
}
