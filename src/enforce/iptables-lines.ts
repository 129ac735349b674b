// Reading iptables back: which lines of `iptables -S` / `iptables-save` output are Palisade's
// (its chains by name prefix, their rules, and the jumps into them from other chains). The rule
// watchdog, the source guard and the tests compare these with what was written.

export const CHAIN_PREFIX = 'PALISADE-';

/** Palisade's lines in `-S` output of one table: chain declarations, chain rules, jumps into them. */
export interface PalisadeLines {
  readonly chains: readonly string[];
  /** Rules of each Palisade chain, in order, as `-S` prints them. */
  readonly rules: ReadonlyMap<string, readonly string[]>;
  /** Rules of other chains that jump into a Palisade chain. */
  readonly jumps: readonly string[];
}

/** Extracts Palisade's lines from `iptables -S` / `iptables-save` output. */
export function palisadeLines(text: string): PalisadeLines {
  const chains: string[] = [];
  const rules = new Map<string, string[]>();
  const jumps: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    const n = /^(?:-N |:)(PALISADE-\S+)/.exec(line);
    if (n) {
      chains.push(n[1]!);
      continue;
    }
    const a = /^-A (\S+) /.exec(line);
    if (!a) continue;
    if (a[1]!.startsWith(CHAIN_PREFIX)) {
      const l = rules.get(a[1]!) ?? [];
      l.push(line);
      rules.set(a[1]!, l);
    } else if (/ -[jg] PALISADE-\S+/.test(line)) {
      jumps.push(line);
    }
  }
  return { chains, rules, jumps };
}
