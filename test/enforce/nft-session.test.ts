// The long-lived `nft -j -i` the source guard lists its table through every watchdog tick
// (enforce/nft-session.ts), in a namespace of its own: answers are the kernel's state at each
// query (members added by another process, a deleted table), several commands in one query
// answer a line each, a failed listing is '' and the
// session goes on, a stopped session starts again on the next query.

import t from 'tap';
import { NftSession } from '../../src/enforce/nft-session.ts';
import { must, run } from '../../support/netns.ts';

const NS = `pnses${process.pid % 100000}`;
const inNs = (argv: string[]) => ['ip', 'netns', 'exec', NS, ...argv];
const TABLE = 'table inet pns {\n set s { type ipv4_addr; counter; }\n chain c { type filter hook prerouting priority raw; policy accept; }\n}';

t.test('listings through one nft', async (t) => {
  await must(['ip', 'netns', 'add', NS]);
  const s = new NftSession(['ip', 'netns', 'exec', NS]);
  t.teardown(async () => {
    s.stop();
    await run(['ip', 'netns', 'del', NS]);
  });
  await must(inNs(['nft', '-f', '-']), TABLE + '\n');
  const a = await s.query('list table inet pns');
  t.match(a, /"name": "s"/, 'the table\'s listing');
  t.match(a, /"chain": \{[^}]*"name": "c"/, 'with its chain');
  await must(inNs(['nft', 'add', 'element', 'inet', 'pns', 's', '{ 10.1.2.3 }']));
  t.match(await s.query('list table inet pns'), '10.1.2.3', 'a member another process added: nothing cached');
  await must(inNs(['nft', 'delete', 'table', 'inet', 'pns']));
  t.equal(await s.query('list table inet pns'), '', 'a table that is gone: empty answer');
  await must(inNs(['nft', '-f', '-']), TABLE + '\n');
  t.match(await s.query('list table inet pns'), /"name": "s"/, 'the same session answers again after an error');
  const two = await s.query(['list table inet pns', 'list table inet pns-missing', 'list table inet pns']);
  t.equal(two!.split('\n').length, 2, 'several commands: one line per command that printed one (the missing table printed none)');
  t.equal(s.answered, 5, 'five answers from the one child');
  s.stop();
  t.match(await s.query('list table inet pns'), /"name": "s"/, 'stopped: the next query starts a new child');
});
