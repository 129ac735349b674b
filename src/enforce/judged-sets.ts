// Which new connections leave the kernel: only those some policy on this node has to judge.
//
// A new connection needs the agent when its source is a local pod whose egress some tier judges
// (a NetworkPolicy isolates it, or a cluster policy with egress rules selects it), or its
// destination a local pod whose ingress some tier judges, or either end is an address of the
// node's pod ranges that belongs to no known pod (judged as unknown: dropped or passed per the
// fail mode). Every other connection would be allowed by the default step of every tier
// (tiers.ts), so queueing it only costs time. The kernel learns the first two groups from three
// ipsets per family (hash:ip):
//
//   PALISADE-EGRESS4/6   local pod addresses whose egress is judged     (match: src)
//   PALISADE-INGRESS4/6  local pod addresses whose ingress is judged    (match: dst)
//   PALISADE-KNOWN4/6    every local pod address the engine knows       (ranges: ! src / ! dst)
//
// PALISADE-PODS matches them (iptables.ts podRules with `judgedSets`). The sets are derived from
// the engine's snapshot in one place (judgedAddresses): the engine already folded every tier
// into one word per pod side, so nothing here evaluates a selector. The agent updates them
// (adds and deletes only, the difference to what the kernel holds) before a generation counts as
// enforced, and a pod that starts being judged makes the following strict-mode sweep cover flows
// that never carried an allow mark (they were never queued), see agent.ts.

import { canonicalIP, parseIP } from '../net/address.ts';
import type { RuleSnapshot } from '../policy/engine-api.ts';
import type { Direction } from '../policy/spec-facts.ts';
import { mustRun, runCommand, type CommandPrefix } from './command.ts';
import { destroyExistingSets, hasSet, saveSets, setMembersOf } from './ipset-save.ts';
import { createSet } from './counted-sets.ts';

type Family = 4 | 6;
export type JudgedSetKind = 'egress' | 'ingress' | 'known';

export const JUDGED_SETS: { readonly [K in JudgedSetKind]: { readonly 4: string; readonly 6: string } } = {
  egress: { 4: 'PALISADE-EGRESS4', 6: 'PALISADE-EGRESS6' },
  ingress: { 4: 'PALISADE-INGRESS4', 6: 'PALISADE-INGRESS6' },
  known: { 4: 'PALISADE-KNOWN4', 6: 'PALISADE-KNOWN6' },
};
const KINDS: readonly JudgedSetKind[] = ['egress', 'ingress', 'known'];

/** Canonical address text per set kind. */
export type JudgedAddresses = { readonly [K in JudgedSetKind]: ReadonlySet<string> };

/** What a snapshot can say about a pod side; judgesSide is optional in RuleSnapshot (test doubles). */
function judges(snap: RuleSnapshot, slot: number, dir: Direction): boolean {
  // A snapshot that cannot tell judges everything: queueing too much is slow, never open.
  return snap.judgesSide ? snap.judgesSide(slot, dir) : true;
}

/**
 * The sets' contents for a snapshot and the addresses of this node's pods (hostNetwork pods
 * excluded). An address the snapshot does not place on a local pod (an address claimed by
 * another pod, a pod the engine does not select) is queued both ways, as every address was
 * before these sets existed.
 */
export function judgedAddresses(snap: RuleSnapshot, localPodIPs: Iterable<string>): JudgedAddresses {
  const egress = new Set<string>(), ingress = new Set<string>(), known = new Set<string>();
  for (const text of localPodIPs) {
    const ip = parseIP(text);
    if (!ip) continue;
    const w = ip.words;
    const slot = ip.family === 'IPv4' ? snap.podSlot4(w[0]!) : snap.podSlot6(w[0]!, w[1]!, w[2]!, w[3]!);
    const c = canonicalIP(text)!;
    if (slot < 0 || !snap.isLocal(slot)) {
      egress.add(c);
      ingress.add(c);
      continue;
    }
    known.add(c);
    if (judges(snap, slot, 'egress')) egress.add(c);
    if (judges(snap, slot, 'ingress')) ingress.add(c);
  }
  return { egress, ingress, known };
}

const familyOf = (ip: string): Family => (ip.includes(':') ? 6 : 4);

/** Lines `add NAME ADDR` of `ipset save` -> canonical addresses. */
export function parseSetSave(text: string, name: string): Set<string> {
  return new Set(setMembersOf(text, name).map((m) => canonicalIP(m.key) ?? m.key));
}

/** The judged sets of these families. */
export function judgedSetNames(families: readonly Family[]): string[] {
  return families.flatMap((f) => KINDS.map((k) => JUDGED_SETS[k][f]));
}

/** Destroys the judged sets that exist, with or without a JudgedSets open (a killed agent's: `palisade cleanup`); the rules naming them go first. */
export async function destroyJudgedSets(families: readonly Family[], prefix?: CommandPrefix): Promise<void> {
  await destroyExistingSets(judgedSetNames(families), runCommand, prefix);
}

export interface JudgedSetsOptions {
  readonly families: readonly Family[];
  /** Prefix for the ipset tool (tests: ['ip', 'netns', 'exec', NS]). */
  readonly prefix?: CommandPrefix;
}

export class JudgedSets {
  /** What the kernel holds, per set name (as last written or read). */
  private readonly held = new Map<string, Set<string>>();
  /** What it should hold (the last update). */
  private wanted?: JudgedAddresses;
  /** Entries added and deleted so far (status, tests). */
  added = 0;
  deleted = 0;

  private constructor(private readonly opts: JudgedSetsOptions) {}

  /**
   * Creates the sets, or takes over the ones a previous run left (with --keep-rules its rules
   * still use them): their contents are read, not flushed, so until the first update the node
   * queues what the previous run queued.
   */
  static async open(opts: JudgedSetsOptions): Promise<JudgedSets> {
    const s = new JudgedSets(opts);
    await s.create();
    const saved = (await mustRun(['ipset', 'save'], { prefix: opts.prefix })).stdout;
    for (const name of s.names()) s.held.set(name, parseSetSave(saved, name));
    return s;
  }

  private names(): string[] {
    return judgedSetNames(this.opts.families);
  }

  /** Creates the missing sets, all in one `ipset restore` (the agent starts with the node loaded). */
  private async create(): Promise<void> {
    const lines = this.opts.families.flatMap((f) => KINDS.map((k) => `create ${JUDGED_SETS[k][f]} hash:ip family ${f === 4 ? 'inet' : 'inet6'}`));
    try {
      await mustRun(['ipset', 'restore', '-exist'], { input: lines.join('\n') + '\n', prefix: this.opts.prefix });
    } catch (e) {
      // The one-line error with the module to load (kernel-modules.ts).
      await createSet(JUDGED_SETS.known[this.opts.families[0] ?? 4], 'hash:ip', ['family', this.opts.families[0] === 6 ? 'inet6' : 'inet'], this.opts.prefix);
      throw e;
    }
  }

  /**
   * Makes the kernel's sets equal to `want` with one `ipset restore` (adds before deletes, so a
   * pod moving between sets is never in neither). Returns the addresses that became judged in
   * some direction (their established, never-queued flows need a strict-mode look).
   */
  async update(want: JudgedAddresses): Promise<string[]> {
    this.wanted = want;
    const adds: string[] = [], dels: string[] = [];
    const newlyJudged = new Set<string>();
    for (const f of this.opts.families) {
      for (const k of KINDS) {
        const name = JUDGED_SETS[k][f];
        const held = this.held.get(name)!;
        for (const a of want[k]) {
          if (familyOf(a) !== f || held.has(a)) continue;
          adds.push(`add ${name} ${a}`);
          if (k !== 'known') newlyJudged.add(a);
        }
        for (const a of held) if (!want[k].has(a)) dels.push(`del ${name} ${a}`);
      }
    }
    if (adds.length + dels.length === 0) return [];
    await mustRun(['ipset', 'restore', '-exist'], { input: [...adds, ...dels, ''].join('\n'), prefix: this.opts.prefix });
    for (const f of this.opts.families) {
      for (const k of KINDS) {
        const name = JUDGED_SETS[k][f];
        this.held.set(name, new Set([...want[k]].filter((a) => familyOf(a) === f)));
      }
    }
    this.added += adds.length;
    this.deleted += dels.length;
    return [...newlyJudged];
  }

  /**
   * The rule watchdog's check: reads every set back and names the ones that differ from the last
   * update (someone flushed or edited them: connections of judged pods would pass unjudged).
   */
  async problems(listing?: string): Promise<string[]> {
    if (!this.wanted) return [];
    const out: string[] = [];
    // One `ipset save` of these sets (the agent's watchdog passes the listing it shares): the
    // check runs every second.
    let saved = listing;
    if (saved === undefined) {
      try {
        saved = await saveSets(this.opts.families.flatMap((f) => KINDS.map((k) => JUDGED_SETS[k][f])), this.opts.prefix);
      } catch (e) {
        return [`cannot list ipsets: ${(e as Error).message}`];
      }
    }
    for (const f of this.opts.families) {
      for (const k of KINDS) {
        const name = JUDGED_SETS[k][f];
        const want = [...this.wanted[k]].filter((a) => familyOf(a) === f);
        if (!hasSet(saved, name)) {
          out.push(`set ${name} missing`);
          this.held.set(name, new Set());
          continue;
        }
        const have = parseSetSave(saved, name);
        this.held.set(name, have);
        if (have.size !== want.length || want.some((a) => !have.has(a))) out.push(`set ${name} altered (${have.size} entries, expected ${want.length})`);
      }
    }
    return out;
  }

  /** Puts the contents of the last update back (after problems() found a difference). */
  async restore(): Promise<void> {
    if (!this.wanted) return;
    await this.create();
    await this.update(this.wanted);
  }

  /** Removes the sets (after the rules that use them are gone). */
  async destroy(): Promise<void> {
    await destroyJudgedSets(this.opts.families, this.opts.prefix);
    this.held.clear();
  }
}
