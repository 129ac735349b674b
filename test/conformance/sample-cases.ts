// Tests that need one particular sample case (by file-name prefix) find it in the cases folder
// in use ($PALISADE_CONFORMANCE_DIR or the default), else in the shared sample folder; when it
// is in neither they skip instead of failing.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConformanceCase } from '../support/conformance-cases.ts';
import { loadCases } from '../support/conformance-cases.ts';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'conformance', 'cases');

let inUse: ConformanceCase[] | undefined;
let shared: ConformanceCase[] | undefined;

export function sampleCase(prefix: string): ConformanceCase | undefined {
  inUse ??= loadCases();
  const hit = inUse.find((c) => c.file.split('/').pop()!.startsWith(prefix));
  if (hit) return hit;
  if (!existsSync(SHARED)) return undefined;
  shared ??= loadCases(SHARED);
  return shared.find((c) => c.file.split('/').pop()!.startsWith(prefix));
}
