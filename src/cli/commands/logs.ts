// `palisade logs --file PATH | --lab [NAME] [--follow] [-o text|json]`: the agent's verdict log
// (one JSON line per denied new connection, see src/agent/verdict-log.ts), human-readable;
// --lab finds the file a lab's agent writes (src/lab/lab-agent.ts) from the lab's state. With --follow it
// keeps reading what the agent appends, like `tail -F`: it notices truncation and rotation
// (a new file at the same path) and starts over on the new content.

import { open, stat, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { formatHuman, parseLogLine, printable } from '../../agent/verdict-log.ts';
import { DEFAULT_LAB, defaultLabName, readLabState } from '../../lab/lab-state.ts';
import { labNameProblem } from '../../lab/netns.ts';
import { CliError, fileProblem, intFlag, parseArgs, textOrJson, type FlagSpec } from '../args.ts';
import { onStdoutClosed } from '../closed-stdout.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { file: 'string', lab: 'string', follow: 'bool', output: 'string', interval: 'string', 'verdicts-only': 'bool', help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade logs --file PATH [--follow] [-o text|json] [--verdicts-only] [--interval MS]
       palisade logs --lab [NAME] [--follow] [-o text|json] [--interval MS]

Prints the agent's verdict log (the file given to the agent's --verdict-log) one line per
denied connection: time, verdict (DENY, WOULD-DENY in audit mode, ALLOW when the agent logs
allowed connections, CUT for an established flow strict mode cut under new rules), protocol, source -> destination:port, which side denied and why.
Rate-limit summaries say how many lines the agent suppressed for a noisy source pod.

  --lab [NAME]     the log the agent of lab NAME keeps (palisade lab up writes one by default);
                   without NAME: $PALISADE_LAB if set, else ${DEFAULT_LAB}, as for the lab commands
  --follow, -f     keep printing lines as the agent appends them (Ctrl-C to stop)
  -o json          print the lines as they are (still validated)
  --interval MS    how often --follow checks the file (default 250)
  --verdicts-only  skip lines that are not verdict log lines (e.g. the agent's own log lines
                   when PATH is a capture of its stdout); by default they are printed after "? "`;

/** Longest line kept while waiting for its newline (a verdict line is a few hundred bytes). */
const MAX_LINE = 1 << 20;

export interface FollowOptions {
  readonly signal: AbortSignal;
  /** Keep reading after the end (tail -F); without it, return at the end of the file. */
  readonly follow: boolean;
  readonly intervalMs?: number;
  /** Told about truncation / rotation. */
  readonly onNote?: (note: string) => void;
}

/**
 * Reads the file line by line from its start, calling onLine for each complete line; with
 * follow, keeps polling for appended data until the signal aborts.
 */
export async function readLog(path: string, onLine: (line: string) => void, opts: FollowOptions): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CliError(`--file ${path}: ${fileProblem(e)}`);
  }
  const opened = await fh.stat();
  // A folder opens fine and fails only on the first read, as a raw EISDIR with a stack trace.
  if (opened.isDirectory()) {
    await fh.close();
    throw new CliError(`--file ${path}: is a folder, not a file`);
  }
  let ino = opened.ino;
  let offset = 0;
  let decoder = new StringDecoder('utf8');
  let partial = '';
  const buf = Buffer.allocUnsafe(64 * 1024);

  const drain = async (): Promise<void> => {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) return;
      offset += bytesRead;
      partial += decoder.write(buf.subarray(0, bytesRead));
      let nl: number;
      while ((nl = partial.indexOf('\n')) !== -1) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.trim() !== '') onLine(line);
      }
      if (partial.length > MAX_LINE) {
        onLine(partial);
        partial = '';
      }
    }
  };

  try {
    await drain();
    if (!opts.follow) {
      if (partial.trim() !== '') onLine(partial);
      return;
    }
    const interval = opts.intervalMs ?? 250;
    while (!opts.signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, interval);
        opts.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
      });
      if (opts.signal.aborted) break;
      let st;
      try {
        st = await stat(path);
      } catch {
        continue; // rotated away and not recreated yet
      }
      if (st.ino !== ino) {
        // Rotated: finish the old file, then start on the new one.
        await drain();
        await fh.close();
        fh = await open(path, 'r');
        ino = (await fh.stat()).ino;
        offset = 0;
        partial = '';
        decoder = new StringDecoder('utf8');
        opts.onNote?.(`${path} was replaced; reading the new file`);
      } else if (st.size < offset) {
        offset = 0;
        partial = '';
        decoder = new StringDecoder('utf8');
        opts.onNote?.(`${path} was truncated; reading from its start`);
      }
      await drain();
    }
  } finally {
    await fh.close().catch(() => {});
  }
}

/** The text to print for one line; undefined to print nothing. */
export function renderLine(line: string, json: boolean, verdictsOnly = false): string | undefined {
  const parsed = parseLogLine(line);
  if (!parsed) return verdictsOnly ? undefined : `? ${printable(line)}`;
  return json ? JSON.stringify(parsed) : formatHuman(parsed);
}

/** `--lab` with no name (last, or followed by a flag) means the default lab, as for `palisade lab`. */
function withLabName(argv: string[]): string[] {
  return argv.map((a, i) => (a === '--lab' && (i + 1 >= argv.length || argv[i + 1]!.startsWith('-')) ? `--lab=${defaultLabName().name}` : a));
}

/** The verdict log of lab `name`'s agent, or a one-line error saying why there is none. */
function labLogFile(name: string): string {
  const problem = labNameProblem(name);
  if (problem) throw new CliError(`--lab: ${problem}`);
  const state = readLabState(name);
  if (!state) throw new CliError(`--lab ${name}: no lab "${name}" here (palisade lab status lists the labs)`);
  if (!state.agent) throw new CliError(`--lab ${name}: the lab runs no agent (lab up --no-agent), so nothing is judged or logged`);
  if (!state.agent.verdictLog) throw new CliError(`--lab ${name}: the lab's agent keeps no verdict log (started with --verdict-log none, or by an older lab up); run palisade lab up again`);
  return state.agent.verdictLog;
}

export async function run(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { flags, positional } = parseArgs(
    withLabName(argv),
    FLAGS,
    { '-f': 'follow', '-o': 'output', '-h': 'help' },
  );
  if (flags.help) {
    out.write(HELP + '\n');
    return 0;
  }
  if (positional.length > 0) throw new CliError(`unexpected argument "${positional[0]}" (use --file PATH or --lab [NAME])`);
  if (flags.file !== undefined && flags.lab !== undefined) throw new CliError('give --file or --lab, not both');
  const file = flags.lab !== undefined ? labLogFile(flags.lab as string) : flags.file as string | undefined;
  if (!file) throw new CliError('--file PATH or --lab [NAME] is required (the agent\'s verdict log file, or the lab whose agent writes it)');
  const output = textOrJson(flags.output);
  const intervalMs = intFlag(flags.interval, 'interval', 10, 60000, 250);

  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // `logs --follow | grep -m1 ...`: the reader has what it wanted, so following ends.
  const offClosed = onStdoutClosed(stop);
  try {
    const verdictsOnly = flags['verdicts-only'] === true;
    await readLog(file, (l) => {
      const text = renderLine(l, output === 'json', verdictsOnly);
      if (text !== undefined) out.write(text + '\n');
    }, {
      signal: ac.signal,
      follow: flags.follow === true,
      intervalMs,
      onNote: (n) => process.stderr.write(`palisade logs: ${n}\n`),
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    offClosed();
  }
  return 0;
}
