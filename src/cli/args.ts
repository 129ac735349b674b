// A small flag parser: --flag value, --flag=value, repeated flags, booleans. Unknown flags and
// missing values are errors naming the flag, never ignored.

import { editDistance } from '../policy/lint-typos.ts';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}

export interface FlagSpec {
  /** 'string' takes a value; 'list' takes one or more values (repeatable, and greedy until the next --flag); 'bool' takes none. */
  readonly [name: string]: 'string' | 'list' | 'bool';
}

export interface ParsedArgs {
  readonly flags: Record<string, string | string[] | boolean | undefined>;
  readonly positional: string[];
}

/**
 * The one word of `known` a typo away from `word` (`verfy` -> verify, `--manifest` ->
 * manifests), or undefined when none is, or two are equally close (a guess would mislead).
 */
export function closestWord(word: string, known: Iterable<string>): string | undefined {
  const tolerance = word.length >= 6 ? 2 : word.length >= 3 ? 1 : 0;
  const near = [...known].map((k) => ({ k, d: editDistance(word, k, tolerance) })).filter((x) => x.d <= tolerance);
  const best = Math.min(...near.map((x) => x.d));
  const at = near.filter((x) => x.d === best);
  return at.length === 1 ? at[0]!.k : undefined;
}

/** For an unknown flag one typo from a known one (`--manifest`), which was meant; else nothing. */
function flagHint(name: string, spec: FlagSpec): string {
  const near = closestWord(name, Object.keys(spec));
  return near === undefined ? '' : ` (did you mean --${near}?)`;
}

export function parseArgs(argv: string[], spec: FlagSpec, aliases: Record<string, string> = {}): ParsedArgs {
  const flags: Record<string, string | string[] | boolean | undefined> = {};
  const positional: string[] = [];
  /** How each bool flag was written, for the error when it is given again the other way. */
  const boolWritten: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    let inline: string | undefined;
    const eq = a.indexOf('=');
    if (eq !== -1) {
      inline = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    // Own keys only: "--constructor" or "--__proto__" must not find Object.prototype's members.
    const name = (Object.hasOwn(aliases, a) ? aliases[a] : undefined) ?? a.replace(/^--?/, '');
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!kind) throw new CliError(`unknown flag ${a}${flagHint(name, spec)}`);
    if (kind === 'bool') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new CliError(`flag ${a} takes no value (or =true/=false)`);
      const on = inline !== 'false';
      // Last-wins would hide one of the two (an image's entrypoint and a DaemonSet's args).
      if (flags[name] !== undefined && flags[name] !== on) throw new CliError(`flag ${argv[i]} contradicts ${boolWritten[name]} given before it`);
      boolWritten[name] = argv[i]!;
      flags[name] = on;
      continue;
    }
    const values: string[] = [];
    if (inline !== undefined) values.push(inline);
    else {
      // A list stops at the next flag, long or short (`--manifests a b -o json`); a lone value
      // may start with one dash (a negative number, reported by intFlag as out of range), but
      // not be one of the command's short flags: `--from -o json` lacks its value.
      const isFlag = (next: string) => next.startsWith('--') || Object.hasOwn(aliases, next.split('=')[0]!) || (values.length > 0 && /^-[A-Za-z]/.test(next));
      while (i + 1 < argv.length && !isFlag(argv[i + 1]!)) {
        values.push(argv[++i]!);
        if (kind === 'string') break;
      }
    }
    if (values.length === 0) throw new CliError(`flag ${a} needs a value`);
    if (kind === 'string') {
      if (flags[name] !== undefined) throw new CliError(`flag ${a} given twice`);
      flags[name] = values[0]!;
    } else {
      const prev = (flags[name] as string[] | undefined) ?? [];
      flags[name] = [...prev, ...values];
    }
  }
  return { flags, positional };
}

/**
 * A setting with an on and an off flag (--strict / --no-strict): true or false as given, where
 * `--NAME=false` is off like `--no-NAME` (parseArgs takes =true/=false on every bool), undefined
 * when neither is given, an error when the two contradict each other.
 */
export function onOffFlag(flags: Record<string, unknown>, name: string): boolean | undefined {
  const on = flags[name] as boolean | undefined;
  const off = flags[`no-${name}`] as boolean | undefined;
  const fromOff = off === undefined ? undefined : !off;
  if (on !== undefined && fromOff !== undefined && on !== fromOff) throw new CliError(`--${name} and --no-${name} contradict each other`);
  return on ?? fromOff;
}

/**
 * What went wrong reading or writing a file a flag names, in a user's words (Node's say
 * "EISDIR: illegal operation on a directory, read"). `missing` is said for ENOENT: "no such
 * file", or "no such directory" when the file is to be written.
 */
export function fileProblem(e: unknown, missing = 'no such file'): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return missing;
  if (code === 'EISDIR') return 'is a folder, not a file';
  if (code === 'EACCES') return 'permission denied';
  return (e as Error).message;
}

/** The value of `-o` for commands that print text or JSON (text when absent). */
export function textOrJson(value: unknown): 'text' | 'json' {
  const output = (value as string | undefined) ?? 'text';
  if (output !== 'json' && output !== 'text') throw new CliError(`-o must be text or json, got "${String(output)}"`);
  return output;
}

/** An integer flag within [min, max], or an error naming the flag and the range. */
export function intFlag(value: unknown, name: string, min: number, max: number, dflt?: number): number {
  if (value === undefined) {
    if (dflt === undefined) throw new CliError(`--${name} is required`);
    return dflt;
  }
  const s = String(value);
  if (!/^-?\d+$/.test(s)) throw new CliError(`--${name} must be a whole number, got "${s}"`);
  const n = Number(s);
  // The text as written: a number too long for a double would print as 1e+23.
  if (n < min || n > max) throw new CliError(`--${name} must be between ${min} and ${max}, got ${s}`);
  return n;
}
