// `palisade version` (also `palisade --version`): the version package.json declares, which is
// what the image is tagged with and what a bug report needs, and the Node release running it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../enforce/native.ts';
import { parseArgs, type FlagSpec } from '../args.ts';
import { rejectPositional } from '../manifest-input.ts';

/** The flags the command takes; its --help names every one (test/cli/help-flags.test.ts). */
export const FLAGS = { help: 'bool' } as const satisfies FlagSpec;

const HELP = `usage: palisade version

Prints Palisade's version (from its package.json) and the Node.js version running it.
\`palisade --version\` is the same.`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS, { '-h': 'help' });
  if (flags.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  rejectPositional(positional);
  // The package root is found by walking up from this module: a checkout runs it from
  // src/cli/commands, the image from /app/dist/src/cli/commands, with package.json at the top
  // of both (the Dockerfile copies it for this and for the addon's path).
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  process.stdout.write(`palisade ${String(pkg.version)} (Node ${process.version})\n`);
  return 0;
}
