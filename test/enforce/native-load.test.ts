// The native addon missing or unloadable (built for another Node, a broken build): the agent's
// error is one line naming the file and how to build it, not Node's multi-line loader message.

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADDON_BUILD_HINT, loadNative } from '../../src/enforce/native.ts';

const dir = mkdtempSync(join(tmpdir(), 'palisade-addon-'));
const broken = join(dir, 'broken.node');
writeFileSync(broken, 'not a shared object\n');

t.test('an addon that is missing or does not load: its path and how to build it, in one line', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['missing', join(dir, 'build', 'Release', 'palisade_native.node'), /^the native addon is not built \(.*palisade_native\.node is missing\): /],
    ['not a shared object', broken, /^the native addon .*broken\.node does not load \(.+\): /],
  ];
  for (const [name, file, re] of cases) {
    const e = (() => {
      try {
        loadNative(file);
        return undefined;
      } catch (x) {
        return x as Error;
      }
    })();
    t.ok(e, `${name}: refused`);
    t.match(e?.message, re, name);
    t.ok(e?.message.endsWith(ADDON_BUILD_HINT), `${name}: says how to build it`);
    t.notMatch(e?.message, /\n/, `${name}: one line`);
  }
});
