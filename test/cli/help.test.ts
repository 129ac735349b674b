// How a new user finds their way: `palisade help`, `palisade help CMD`, `palisade CMD --help`.

import t from 'tap';
import { runCli } from './run-cli.ts';

// The commands that only read their input (demo, lab, agent and bench are left out: they are
// not run by the CLI tests).
const COMMANDS = ['verify', 'explain', 'matrix', 'connlist', 'diff', 'lint', 'report', 'dns', 'logs'];

t.test('`palisade help CMD` prints what `palisade CMD --help` prints', async (t) => {
  for (const cmd of COMMANDS) {
    const own = runCli([cmd, '--help']);
    t.equal(own.code, 0, `${cmd} --help: exit 0`);
    t.match(own.stdout, new RegExp(`^usage: palisade ${cmd} `), `${cmd} --help: its usage`);
    const viaHelp = runCli(['help', cmd]);
    t.equal(viaHelp.code, 0, `help ${cmd}: exit 0`);
    t.equal(viaHelp.stdout, own.stdout, `help ${cmd}: the command's own help`);
    t.equal(viaHelp.stderr, '', `help ${cmd}: nothing on stderr`);
  }
});

t.test('help for a command that does not exist is a usage error', async (t) => {
  for (const name of ['nope', 'constructor']) {
    const r = runCli(['help', name]);
    t.equal(r.code, 2, `help ${name}: exit 2`);
    t.match(r.stderr, new RegExp(`^palisade: unknown command "${name}"`), `help ${name}: says so`);
    t.equal(r.stdout, '', `help ${name}: nothing on stdout`);
  }
});
