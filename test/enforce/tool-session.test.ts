// The long-lived `nft -j -i` and `tc -j -batch -` the source guard lists its tables and filters
// through every watchdog tick (enforce/tool-session.ts), in a namespace of their own: answers
// are the kernel's state at each query (members or filters added by another process, a deleted
// table), several commands in one query answer a line each, a failed listing is '' and the
// session goes on, a stopped session starts again on the next query.

import t from 'tap';
import { NftSession, TcSession } from '../../src/enforce/tool-session.ts';
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

t.test('listings through one tc', async (t) => {
  const ns = `${NS}t`;
  await must(['ip', 'netns', 'add', ns]);
  const s = new TcSession(['ip', 'netns', 'exec', ns]);
  t.teardown(async () => {
    s.stop();
    await run(['ip', 'netns', 'del', ns]);
  });
  const tc = (argv: string[]) => must(['ip', 'netns', 'exec', ns, 'tc', ...argv]);
  await must(['ip', 'netns', 'exec', ns, 'ip', 'link', 'add', 'pts0', 'type', 'veth', 'peer', 'name', 'pts1']);
  t.equal(await s.query('filter show dev pts0 ingress'), '[]', 'no qdisc yet: an empty listing, not the sentinel');
  await tc(['qdisc', 'add', 'dev', 'pts0', 'clsact']);
  await tc(['filter', 'add', 'dev', 'pts0', 'ingress', 'pref', '1', 'protocol', 'ip', 'u32', 'match', 'ip', 'src', '10.9.8.7/32', 'classid', ':1']);
  t.match(await s.query('filter show dev pts0 ingress'), '"value":"a090807"', 'a filter another process added: nothing cached');
  t.equal(await s.query('filter show dev nosuch ingress'), '', 'a device that is not there: empty answer');
  const two = await s.query(['filter show dev pts0 ingress', 'filter show dev nosuch ingress', 'filter show dev pts1 ingress']);
  t.same(two!.split('\n').map((l) => l.slice(0, 13)), ['[{"protocol":', '[]'], 'one line per command that printed one');
  t.equal(s.answered, 4, 'four answers from the one child');
  s.stop();
  t.match(await s.query('filter show dev pts0 ingress'), '"pref":1', 'stopped: the next query starts a new child');
});
