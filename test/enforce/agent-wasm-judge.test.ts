// The agent's WebAssembly judge (src/agent/wasm-copy.ts, src/policy/wasm-snapshot.ts): real agent,
// real NFQUEUE, real connections. After start and after each update the agent copies the
// snapshot in force into the judge module and the copy judges; the status file says so, and the
// answers are the rules' (IPv4 and IPv6), before and after a policy edit. With --no-wasm-judge
// the JavaScript snapshot judges throughout, with the same answers. The verdict cache and kernel
// admission are off, so every new connection is judged in userspace.

import t, { type Test } from 'tap';
import { join } from 'node:path';
import { Topology, clusterYaml, serverPolicy, startAgent, waitFor, statusReaders, upWithServers } from '../../support/netns.ts';

const NODE = 'n1';
const QUEUE = 48;
const topo = new Topology('twasm');
t.teardown(() => topo.down());
/** The topology, brought up once for both runs. */
let ready: Promise<string> | undefined;

interface WasmStatus { generation: number; sourceSyncStartedAt?: number; sourceErrors: string[]; counters: Record<string, number>; wasmJudge?: { enabled: boolean; judging: boolean; copies: number; lastBytes: number } }

async function answers(t: Test): Promise<void> {
  for (const family of [4, 6] as const) {
    t.ok(await topo.tcp('a', 'b', 8080, family), `IPv${family}: a (client) -> b:8080 allowed`);
    t.notOk(await topo.tcp('c', 'b', 8080, family), `IPv${family}: c (not a client) -> b:8080 denied`);
    t.ok(await topo.tcp('a', 'c', 8080, family), `IPv${family}: a -> c:8080 allowed (c not isolated)`);
  }
}

for (const wasm of [true, false]) {
  t.test(wasm ? 'the WebAssembly copy judges after start and after an edit' : '--no-wasm-judge: the JavaScript snapshot judges', async (t) => {
    const dir = await (ready ??= upWithServers(topo));
    topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080, 9090]));
    topo.writeFile('manifests/b.yaml', serverPolicy([8080]));
    const statusFile = join(topo.dir, 'status.json');
    const { proc } = await startAgent(topo, ['--node', NODE, '--source', 'files', '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE),
      '--rescan-ms', '300', '--no-verdict-cache', ...(wasm ? [] : ['--no-wasm-judge'])], statusFile);
    t.teardown(() => { proc.kill('SIGTERM'); });
    const { status: anyStatus, freshStatus } = statusReaders(topo, statusFile);
    const status = () => anyStatus() as unknown as WasmStatus;
    const fresh = async () => (await freshStatus()) as unknown as WasmStatus;

    if (wasm) {
      const w = await waitFor('the copy judges', async () => { const s = await fresh(); return s.wasmJudge?.judging ? s.wasmJudge : undefined; });
      t.ok(w.enabled && w.copies >= 1 && w.lastBytes > 0, `copy made (${w.copies}, ${w.lastBytes} bytes)`);
    } else {
      await new Promise((r) => setTimeout(r, 500));
      const s = await fresh();
      t.same(s.wasmJudge && { enabled: s.wasmJudge.enabled, judging: s.wasmJudge.judging, copies: s.wasmJudge.copies }, { enabled: false, judging: false, copies: 0 }, 'no copy made');
    }
    const before = (await fresh()).counters;
    await answers(t);
    const after = (await fresh()).counters;
    t.ok(after.accepts! > before.accepts! && after.drops! > before.drops!, 'the agent judged both ways');

    // An edit: b now takes 9090 from clients instead of 8080.
    const gen = status().generation;
    const copies = status().wasmJudge?.copies ?? 0;
    const writtenAt = Date.now();
    topo.writeFile('manifests/b.yaml', serverPolicy([9090]));
    await waitFor('the edit is enforced', () => (status().sourceSyncStartedAt ?? 0) >= writtenAt && status().generation > gen);
    if (wasm) {
      const w = await waitFor('a new copy judges', async () => { const s = await fresh(); return s.wasmJudge?.judging && s.wasmJudge.copies > copies ? s.wasmJudge : undefined; });
      t.ok(w.copies > copies, `a copy of the new generation was made (${w.copies} in all)`);
    }
    for (const family of [4, 6] as const) {
      t.notOk(await topo.tcp('a', 'b', 8080, family), `IPv${family}: after the edit a -> b:8080 denied`);
      t.ok(await topo.tcp('a', 'b', 9090, family), `IPv${family}: after the edit a -> b:9090 allowed`);
      t.notOk(await topo.tcp('c', 'b', 9090, family), `IPv${family}: after the edit c -> b:9090 denied`);
    }
    t.equal((await fresh()).counters.errors, 0, 'no enforcer errors');
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    topo.writeFile('manifests/b.yaml', serverPolicy([8080]));
  });
}
