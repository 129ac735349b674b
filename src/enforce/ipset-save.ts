// Reading ipsets back: one `ipset save` of every set, and its member lines. The rule watchdog
// runs every second and several parts of the agent keep sets (judged pods, the source guard),
// so they share one listing per tick instead of spawning one each (each spawn is a few ms of
// CPU on the node, which the source guard's cost budget in issue 14 counts).

import { CommandError, runCommand, type CommandPrefix } from './command.ts';

/** `ipset save` of every set (text as the tool prints it). */
export async function saveAllSets(prefix?: CommandPrefix): Promise<string> {
  const r = await runCommand(['ipset', 'save'], { prefix });
  if (r.code !== 0) throw new CommandError('ipset save', r.code, r.stderr);
  return r.stdout;
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
