// A named port (a container port's name, a policy's `port: http`) held to the rule the API
// server holds it to (apimachinery's IsValidPortName): each problem a name has is said, and none
// it does not have. Table-driven: each name against the exact set of problems.

import t from 'tap';
import { portNameProblems } from '../../src/cluster/names.ts';

const LONG = 'must be no more than 15 characters';
const CHARSET = 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)';
const LETTER = 'must contain at least one letter (a-z)';
const DOUBLE = 'must not contain consecutive hyphens';
const EDGE = 'must not begin or end with a hyphen';

const CASES: [string, string[]][] = [
  ['http', []],
  ['web-1', []],
  ['a'.repeat(15), []],
  ['a'.repeat(16), [LONG]],
  ['', [CHARSET, LETTER]],
  ['80', [LETTER]],
  ['Web', [CHARSET]],
  ['my_port', [CHARSET]],
  ['a--b', [DOUBLE]],
  ['-web', [EDGE]],
  ['-', [LETTER, EDGE]],
  ['1234567890123456', [LONG, LETTER]],
];

t.test('each problem of a port name, and only those', async (t) => {
  for (const [name, want] of CASES) t.same([...portNameProblems(name)].sort(), [...want].sort(), JSON.stringify(name));
});
