// The one logger shape of the agent and the sources: a level, a one-line message, and optional
// structured fields. The agent passes its pino logger through it; sources default to JSON
// lines on stderr.

export type LogLevel = 'info' | 'warn' | 'error';

export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** JSON lines on stderr (level, time, component, msg, then the fields), for callers that bring no logger. */
export function stderrLog(component: string): Log {
  return (level, msg, fields) => {
    process.stderr.write(JSON.stringify({ level, time: new Date().toISOString(), component, msg, ...fields }) + '\n');
  };
}
