// The lab's "is my write enforced?" handshake (waitForEnforced) when the agent's pass raced the
// write: the pass started a moment before our clock read after the rename, read the new files,
// and left the agent nothing to do, so no later pass would come on its own. Seen once in CI under
// load ("did not enforce the change ... within 15000 ms", last pass 1 ms before the write). The
// stand-in agent here behaves like FilesSource's rescan: a pass only when a file's mtime or size
// changes.

import t from 'tap';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForEnforced, writeLabManifests } from '../../src/lab/lab-agent.ts';
import type { LabState } from '../../src/lab/lab-state.ts';

t.test('a write whose pass started just before the write is still proven by a later pass', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-handshake-'));
  const manifestsDir = join(dir, 'manifests');
  const statusFile = join(dir, 'status.json');
  const state = { name: 'handshake', manifestsDir, agent: { pid: process.pid, backend: 'nfqueue', statusFile, log: join(dir, 'log'), argv: [] } } as unknown as LabState;
  const status = (startedAt: number) => writeFileSync(statusFile, JSON.stringify({ pid: process.pid, ready: true, stopped: false, generation: 1, sourceSyncStartedAt: startedAt }));

  const writtenAt = writeLabManifests(state, 'kind: List\n');
  // The racing pass: it saw the new file but started before `writtenAt`.
  status(writtenAt - 1);
  const file = join(manifestsDir, 'cluster.yaml');
  const signature = () => { const s = statSync(file); return `${s.size}:${s.mtimeMs}`; };
  let seen = signature();
  let passes = 0;
  const rescan = setInterval(() => {
    const now = signature();
    if (now === seen) return;
    seen = now;
    passes++;
    status(Date.now());
  }, 200);
  t.teardown(() => clearInterval(rescan));

  const ms = await waitForEnforced(state, writtenAt, 6000);
  t.ok(passes >= 1, `a pass after the write came (${passes}, after ${ms} ms)`);
});
