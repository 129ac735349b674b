// Reading ipsets back: one `ipset save` of every set, and its member lines. The rule watchdog
// runs every second and several parts of the agent keep sets (judged pods, the source guard),
// so they share one listing per tick instead of spawning one each (each spawn is a few ms of
// CPU on the node, which the source guard's cost budget in issue 14 counts).

import { CommandError, runCommand, type CommandPrefix, type CommandResult } from './command.ts';

/** `ipset save` of every set (text as the tool prints it). */
export async function saveAllSets(prefix?: CommandPrefix): Promise<string> {
  const r = await runCommand(['ipset', 'save'], { prefix });
  if (r.code !== 0) throw new CommandError('ipset save', r.code, r.stderr);
  return r.stdout;
}

/**
 * `ipset save` of the named sets only, in one process (`ipset restore` runs `save NAME` lines):
 * the same text as the full listing for those sets, without the ones the caller does not read
 * (the verdict cache's sets hold up to 65536 counting entries each; printing them costs the tool
 * about 0.5 s of CPU, every second). When one of them is missing the tool stops there, so the
 * full listing is read instead: hasSet() then answers from it.
 */
export async function saveSets(names: readonly string[], prefix?: CommandPrefix): Promise<string> {
  const r = await runCommand(['ipset', 'restore'], { prefix, input: names.map((n) => `save ${n}\n`).join('') });
  return r.code === 0 ? r.stdout : saveAllSets(prefix);
}

/** Does the listing hold set `name`? */
export function hasSet(saved: string, name: string): boolean {
  return saved.startsWith(`create ${name} `) || saved.includes(`\ncreate ${name} `);
}

/** One member line of a listing: the entry as printed, and its packet counter (0 without `counters`). */
export interface SetMember {
  readonly key: string;
  readonly packets: number;
}

/** The members of set `name` in a listing (`add NAME KEY [timeout N] [packets N bytes N]`). */
export function setMembersOf(saved: string, name: string): SetMember[] {
  const out: SetMember[] = [];
  const head = `add ${name} `;
  for (const line of saved.split('\n')) {
    if (!line.startsWith(head)) continue;
    const f = line.slice(head.length).trim().split(' ');
    const i = f.indexOf('packets');
    out.push({ key: f[0]!, packets: i >= 0 ? Number(f[i + 1]) || 0 : 0 });
  }
  return out;
}

/** The names of the sets that exist (`ipset list -n`); none when the tool or the kernel module is not there. */
export async function existingSets(prefix?: CommandPrefix): Promise<string[]> {
  const r = await runCommand(['ipset', 'list', '-n'], { prefix }).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.split('\n').map((l) => l.trim()).filter(Boolean) : [];
}

/**
 * Destroys those of `names` that exist, in the order given, in one `ipset restore` (which stops
 * at its first failure, so a set missing, as after a killed agent or a half-done start, must not
 * be named). `run`: mustRun throws on a failure (a set some rule still names), runCommand does not.
 */
export async function destroyExistingSets(names: readonly string[], run: typeof runCommand, prefix?: CommandPrefix): Promise<CommandResult> {
  const there = new Set(await existingSets(prefix));
  const doomed = names.filter((n) => there.has(n));
  if (doomed.length === 0) return { code: 0, stdout: '', stderr: '' };
  return run(['ipset', 'restore'], { prefix, input: doomed.map((n) => `destroy ${n}\n`).join('') });
}
