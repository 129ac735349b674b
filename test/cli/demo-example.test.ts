// examples/demo/ is the demo's second act as manifests (README, "Examples"): the same objects as
// `palisade demo` applies, so `verify`/`explain`/`matrix` on the example answer for the cluster
// the demo shows.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { exampleObjects } from '../../src/cli/commands/demo.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

t.test('examples/demo/cluster.yaml holds the demo\'s second act, object for object', async (t) => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'examples', 'demo', 'cluster.yaml'), 'utf8')).map((d) => d.toJSON() as unknown);
  t.same(docs, exampleObjects());
});
