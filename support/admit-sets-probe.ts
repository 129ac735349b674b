// Child process driving src/enforce/admit-sets.ts from tests (support/admit-sets-driver.ts), run
// inside a network namespace of the test's (the sets' netlink socket is this process's):
//   ip netns exec NS node --import tsx support/admit-sets-probe.ts '<AdmitSetsOptions JSON>'
// Reads one JSON command a line on stdin, answers one JSON line on stdout:
//   {op:'install', entries, current, returns}  -> {result, atCheck, tests}   atCheck: entries per set when
//                                        current() was called; tests: `probe` members tested right after
//   {op:'empty', probe}                -> {tests}    each [set, member] tested with `ipset test` right
//                                        after empty() returned, before any await (synchronous)
//   {op:'test', probe}                 -> {tests}
//   {op:'read'}                        -> {counted}  readNow(); the counts handed to onCounted since the last read
//   {op:'stats'}                       -> {stats}
//   {op:'close'}                       -> {sets}     names of the sets left afterwards; then exits
// Errors answer {error}.

import { execFileSync, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { AdmitSets, type AdmitEntry, type ReturnEntry } from '../src/enforce/admit-sets.ts';

interface Command {
  readonly op: string;
  readonly entries?: AdmitEntry[];
  readonly returns?: ReturnEntry[];
  readonly current?: boolean;
  readonly probe?: [string, string][];
}

const counted: { egress: number; ingress: number; context: unknown; src: number[]; dst: number[]; proto: number; port: number; n: number }[] = [];
const sets = await AdmitSets.open({
  ...JSON.parse(process.argv[2] ?? '{}'),
  onCounted: (d, t, n) => counted.push({ egress: d.egress, ingress: d.ingress, context: d.context, src: [...t.src], dst: [...t.dst], proto: t.proto, port: t.port, n }),
});

const test = (probe: readonly [string, string][] = []) => probe.map(([set, member]) => spawnSync('ipset', ['test', set, member]).status === 0);
const entriesPerSet = () => Object.fromEntries([...execFileSync('ipset', ['list', '-t'], { encoding: 'utf8' }).matchAll(/^Name: (\S+)[\s\S]*?^Number of entries: (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));

async function handle(c: Command): Promise<unknown> {
  switch (c.op) {
    case 'install': {
      let atCheck: Record<string, number> = {};
      const result = await sets.install(c.entries ?? [], () => {
        atCheck = entriesPerSet();
        return c.current ?? true;
      }, c.returns ?? []);
      return { result, atCheck, tests: test(c.probe) };
    }
    case 'empty':
      sets.empty();
      return { tests: test(c.probe) };
    case 'test':
      return { tests: test(c.probe) };
    case 'read':
      await sets.readNow();
      return { counted: counted.splice(0) };
    case 'stats':
      return { stats: sets.stats };
    case 'close':
      await sets.close();
      return { sets: execFileSync('ipset', ['list', '-n'], { encoding: 'utf8' }).split('\n').filter((l) => l) };
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

console.log(JSON.stringify({ ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  const c = JSON.parse(line) as Command;
  console.log(JSON.stringify(await handle(c).catch((e: Error) => ({ error: e.message }))));
  if (c.op === 'close') process.exit(0);
}
