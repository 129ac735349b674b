import pino from 'pino';
import type { Log } from '../sources/log.ts';

// Structured logs: one JSON object per line on stderr, written synchronously so the last words
// before a crash or SIGKILL-adjacent exit are not lost in a buffer. Levels are names ("info"),
// not pino's numbers, so `palisade logs` and people grepping can read them.
const logger = pino(
  {
    base: { component: 'agent' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  pino.destination({ fd: 2, sync: true }),
);
export const defaultLog: Log = (level, msg, fields) => {
  logger[level](fields ?? {}, msg);
};
