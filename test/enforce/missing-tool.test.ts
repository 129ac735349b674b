// A system tool the agent runs that is not installed: the error says which tool and which
// package holds it, not Node's "spawn ipset ENOENT". PATH is an empty folder for this process
// (the command thread's worker takes it when it starts, at the first command), so no tool runs.

import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, mustRun, runCommand } from '../../src/enforce/command.ts';

process.env.PATH = mkdtempSync(join(tmpdir(), 'palisade-empty-path-'));

t.test('a missing tool is named with its package', async (t) => {
  const cases: [readonly string[], RegExp][] = [
    [['ipset', 'create', '-exist', 'PALISADE-CACHE4', 'hash:ip,port,ip'], /^ipset is not installed here \(not on PATH\): install it \(apt-get install -y ipset\); needed for: ipset create -exist PALISADE-CACHE4 hash:ip,port,ip$/],
    [['conntrack', '-L'], /^conntrack is not installed here \(not on PATH\): install it \(apt-get install -y conntrack\); needed for: conntrack -L$/],
    [['iptables-legacy-save'], /^iptables-legacy-save is not installed here \(not on PATH\): install it \(apt-get install -y iptables\)/],
    [['ip6tables-nft-restore', '-w', '5'], /^ip6tables-nft-restore is not installed here \(not on PATH\): install it \(apt-get install -y iptables\)/],
    [['nft', '-j', 'list', 'tables'], /^nft is not installed here \(not on PATH\): install it \(apt-get install -y nftables\)/],
    [['tc', 'filter', 'show'], /^tc is not installed here \(not on PATH\): install it \(apt-get install -y iproute2\)/],
    [['ip', 'link', 'show'], /^ip is not installed here \(not on PATH\): install it \(apt-get install -y iproute2\)/],
    // A tool of no known package: named alone.
    [['palisade-no-such-tool', 'x'], /^palisade-no-such-tool is not installed here \(not on PATH\); needed for: palisade-no-such-tool x$/],
  ];
  for (const [argv, re] of cases) {
    for (const [name, run] of [['runCommand', runCommand], ['mustRun', mustRun]] as const) {
      const e = await run(argv).then(() => undefined, (x: unknown) => x);
      t.ok(e instanceof CommandError, `${argv[0]} (${name}): a CommandError`);
      t.match((e as Error).message, re, `${argv[0]} (${name})`);
      t.equal((e as CommandError).exitCode, null, `${argv[0]} (${name}): no exit code: it never ran`);
    }
  }
});
