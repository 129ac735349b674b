// checkMirrors: silent when every copy matches its source, and a mismatch names the module,
// the constant and both values.
import t from 'tap';
import { checkMirrors, type Mirror } from '../../src/net/mirrored-constants.ts';

const cases: readonly { name: string; mirrors: readonly Mirror[]; error?: string }[] = [
  { name: 'no mirrors', mirrors: [] },
  { name: 'all match', mirrors: [[6, 6, 'IPPROTO_TCP'], [-5, -5, 'SIDE.NOT_JUDGED']] },
  { name: 'first differs', mirrors: [[7, 6, 'IPPROTO_TCP'], [1, 1, 'ACCEPT']], error: "x.ts: the hot path's IPPROTO_TCP is 7, its source says 6" },
  { name: 'a later one differs', mirrors: [[6, 6, 'IPPROTO_TCP'], [0, 1, 'ACCEPT']], error: "x.ts: the hot path's ACCEPT is 0, its source says 1" },
];
for (const c of cases) {
  t.test(c.name, async (t) => {
    if (c.error === undefined) t.doesNotThrow(() => checkMirrors('x.ts', c.mirrors));
    else t.throws(() => checkMirrors('x.ts', c.mirrors), { message: c.error });
  });
}
